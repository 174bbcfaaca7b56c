"""The schema: one declarative base, one class per table.

ORM classes are named ``...Row`` where a pipeline dataclass of the same idea exists
(``pipeline.items.Article`` → :class:`ArticleRow`, ``store.registry_types.Source`` →
:class:`SourceRow`), so the two are never confused in code that uses both.

Uniqueness lives here, in constraints, so that concurrent harvesters cannot race past a Python
check: one article per ``(source_id, guid_key)``, one fetch state per URL, one curation per
``(story_id, roundup)``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from store.types import UTCDateTime, UTCTimestamp, utcnow

#: Region ids (contract, see DESIGN.md).
REGIONS: tuple[str, ...] = ("africa", "americas", "asia-pacific", "europe-central-asia", "mena")

#: Curation decisions an editor can take for a story in one round-up.
DECISIONS: tuple[str, ...] = ("include", "exclude", "pin")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[str]: JSON()}


class SourceRow(Base):
    """A member organisation, as last synchronised from ``sources.toml``."""

    __tablename__ = "source"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    homepage: Mapped[str] = mapped_column(Text, default="", server_default="")
    feeds: Mapped[list[str]] = mapped_column(default=list)
    country: Mapped[str | None] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(32))
    languages: Mapped[list[str]] = mapped_column(default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    allow_local: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    timezone: Mapped[str | None] = mapped_column(String(64))
    crawl_delay: Mapped[float | None] = mapped_column(Float)
    max_entries: Mapped[int | None] = mapped_column(Integer)
    notes: Mapped[str | None] = mapped_column(Text)
    # Keys the registry adds beyond the ones above (listing-spider rules...), JSON-safe.
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[UTCTimestamp] = mapped_column(default=utcnow)
    updated_at: Mapped[UTCTimestamp] = mapped_column(default=utcnow)


class FetchState(Base):
    """What the harvester knows about one feed or listing URL: validators, health, backoff."""

    __tablename__ = "fetch_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_success: Mapped[UTCTimestamp | None]
    last_attempt: Mapped[UTCTimestamp | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt: Mapped[UTCTimestamp | None]
    # 410 Gone: not polled again until an operator re-enables the URL.
    gone: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Entries in the last successful (non-304) response.
    entries_seen: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    source: Mapped[SourceRow] = relationship()


class StoryRow(Base):
    """A cluster of articles reporting the same thing. Fields are derived by ``store.stories``."""

    __tablename__ = "story"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    representative_article_id: Mapped[int | None] = mapped_column(
        ForeignKey("article.id", ondelete="SET NULL", use_alter=True)
    )
    published: Mapped[UTCTimestamp | None] = mapped_column(index=True)
    region: Mapped[str | None] = mapped_column(String(32), index=True)
    countries: Mapped[list[str]] = mapped_column(default=list)
    topics: Mapped[list[str]] = mapped_column(default=list)
    source_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    article_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    kind: Mapped[str] = mapped_column(String(32), default="report", server_default="report")
    # Joint statements: [{"name": as written, "source_id": registry id or null}], see store.stories.
    signatories: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, default=list, server_default="[]"
    )
    created_at: Mapped[UTCTimestamp] = mapped_column(default=utcnow)
    updated_at: Mapped[UTCTimestamp] = mapped_column(default=utcnow)

    # post_update: story and article reference each other; the UPDATE breaks the insert cycle.
    representative: Mapped[ArticleRow | None] = relationship(
        foreign_keys=[representative_article_id], post_update=True
    )
    articles: Mapped[list[ArticleRow]] = relationship(
        back_populates="story", foreign_keys="ArticleRow.story_id", passive_deletes=True
    )


class ArticleRow(Base):
    """One report of one member, updated in place on every re-harvest."""

    __tablename__ = "article"
    __table_args__ = (
        UniqueConstraint("source_id", "guid_key"),
        # Equality lookups only; a hash index has no row-size limit for very long URLs.
        Index("ix_article_url", "url", postgresql_using="hash"),
        # A source's newest articles (the boilerplate learner's warm-up) without reading the rest.
        Index("ix_article_source_recent", "source_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    guid: Mapped[str | None] = mapped_column(Text)
    # The GUID when the member gave one, else the canonical URL (see store.articles.article_key).
    guid_key: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text, default="", server_default="")
    text: Mapped[str] = mapped_column(Text, default="", server_default="")
    summary: Mapped[str] = mapped_column(Text, default="", server_default="")
    published: Mapped[UTCTimestamp] = mapped_column(index=True)
    date_flag: Mapped[str | None] = mapped_column(String(64))
    raw_date: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    content_hash: Mapped[str] = mapped_column(String(128), index=True)
    region: Mapped[str | None] = mapped_column(String(32))
    topics: Mapped[list[str]] = mapped_column(default=list)
    feed_url: Mapped[str | None] = mapped_column(Text)
    fetched_via: Mapped[str] = mapped_column(String(16), default="feed", server_default="feed")
    first_seen: Mapped[UTCTimestamp]
    last_seen: Mapped[UTCTimestamp]
    updated_at: Mapped[UTCTimestamp]
    story_id: Mapped[int | None] = mapped_column(
        ForeignKey("story.id", ondelete="SET NULL"), index=True
    )
    # Set by store.stories when the article is grouped: why it joined its story ("minhash 0.62 ≥
    # 0.4 with article 7"), its own kind (report | alert | joint-statement | roundup), and the
    # registry source its text credits as the original publisher ("first published by MFWA").
    match_reason: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str | None] = mapped_column(String(32))
    credited_source_id: Mapped[str | None] = mapped_column(String(64))

    source: Mapped[SourceRow] = relationship()
    story: Mapped[StoryRow | None] = relationship(
        back_populates="articles", foreign_keys=[story_id]
    )
    countries: Mapped[list[ArticleCountry]] = relationship(
        back_populates="article",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ArticleCountry.is_primary.desc()",
    )


class ArticleCountry(Base):
    """A country an article is about; the primary one first in ``Article.countries``."""

    __tablename__ = "article_country"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("article.id", ondelete="CASCADE"), primary_key=True
    )
    country: Mapped[str] = mapped_column(String(2), primary_key=True, index=True)
    weight: Mapped[float] = mapped_column(Float, default=1.0, server_default="1")
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    article: Mapped[ArticleRow] = relationship(back_populates="countries")


class Curation(Base):
    """An editor's decision about one story in one round-up (``"africa/2024-01"``)."""

    __tablename__ = "curation"
    __table_args__ = (
        UniqueConstraint("story_id", "roundup"),
        CheckConstraint("decision IN ('include', 'exclude', 'pin')", name="decision"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("story.id", ondelete="CASCADE"))
    roundup: Mapped[str] = mapped_column(String(64), index=True)
    decision: Mapped[str] = mapped_column(String(16))
    headline: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[UTCTimestamp] = mapped_column(default=utcnow)
    updated_at: Mapped[UTCTimestamp] = mapped_column(default=utcnow)

    story: Mapped[StoryRow] = relationship()


class ArticleKeys(Base):
    """An article's MinHash band keys (``store.similarity.index_keys``), packed in one row.

    Candidate near-duplicates share a key. The keys are not looked up in SQL: each process keeps
    the keys of the date buckets it works in as sorted arrays (``store.stories._KeyCache``) and
    reads from this table only the rows written since it last looked (``seq`` greater than the
    last one it read, per bucket). One row per article instead of one per key (migration 0006):
    a feed harvest wrote ~62 index rows per article, which cost more than the rest of storing it.

    * ``bucket``: the article's date bucket (``store.stories.band_bucket``), which a new
      article's lookup window reaches: at most three buckets are read.
    * ``seq``: the write's number, one per transaction that writes keys, increasing in commit
      order (PostgreSQL writers take an advisory lock to number and commit in turn; SQLite has
      one writer). A row rewritten (the article's text changed) gets a new number, and a cached
      copy of an older number is then ignored.
    * ``hashes``: the keys' 63-bit hashes, little-endian int64; ``bands``: each key's band
      number, one byte each (band numbers are below 256), in the same order.
    """

    __tablename__ = "article_keys"
    __table_args__ = (
        Index("ix_article_keys_bucket_seq", "bucket", "seq"),
        Index("ix_article_keys_seq", "seq"),
    )

    article_id: Mapped[int] = mapped_column(
        ForeignKey("article.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    bucket: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(BigInteger)
    hashes: Mapped[bytes] = mapped_column(LargeBinary)
    bands: Mapped[bytes] = mapped_column(LargeBinary)


class SourceBoilerplate(Base):
    """A hint: the paragraphs the store last held for a source's boilerplate (its segment keys,
    ``store.similarity.BoilerplateLearner.boilerplate_keys``), written when they change.

    A harvest reads it before the crawl and tells the feed worker preparing the source's
    articles to drop those paragraphs (``store.similarity.prepare_keys``), so that the store can
    use the worker's keys for articles carrying the member's footer. Never a rule: the store's
    learner, rebuilt from the articles, checks it for every article; a stale or missing row
    costs the store the computation, never a different result.
    """

    __tablename__ = "source_boilerplate"

    source_id: Mapped[str] = mapped_column(
        ForeignKey("source.id", ondelete="CASCADE"), primary_key=True
    )
    keys: Mapped[list[str]] = mapped_column(default=list)  # sorted
    updated_at: Mapped[UTCTimestamp] = mapped_column(default=utcnow)


# Core handles on the tables, typed as Table (``Model.__table__`` is typed as a FromClause), for
# the bulk statements of the hot paths.
source_table = cast(Table, SourceRow.__table__)
fetch_state_table = cast(Table, FetchState.__table__)
story_table = cast(Table, StoryRow.__table__)
article_table = cast(Table, ArticleRow.__table__)
article_country_table = cast(Table, ArticleCountry.__table__)
curation_table = cast(Table, Curation.__table__)
article_keys_table = cast(Table, ArticleKeys.__table__)
source_boilerplate_table = cast(Table, SourceBoilerplate.__table__)
