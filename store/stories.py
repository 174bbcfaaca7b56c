"""Grouping articles into stories, and keeping each story's derived fields up to date.

A new article joins the story of the first deduplication level that recognises it, cheapest first
(see DESIGN.md); when none does it starts a story of its own:

1. same (source, GUID/URL) → same article row: handled by ``store.articles`` before this module;
2. :class:`SameUrl` — the same canonical URL already stored by *another* source (within one source
   the same URL under two GUIDs is left alone: some feeds link every entry to one page);
3. :class:`SameText` — the same normalised-text hash, for texts long enough that equal hashes
   mean the same report rather than the same boilerplate.

Each level is a :class:`MatchLevel` with one query per batch (``prepare``), so a batch of 50 new
articles costs a handful of statements whatever the number of levels. A near-duplicate level
(MinHash bands in ``article_band``) is one more subclass appended to :data:`LEVELS`.

Two writers assigning the same new report at the same instant (distributed runs) can each found a
story; nothing is lost, and :func:`merge_stories` joins the two.

Story fields are *derived* from the articles by :func:`refresh_stories`: representative = the
earliest article, ``published`` = its date, region = the most common non-null article region,
countries and topics = the union (most frequent first), ``source_count`` = distinct sources.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from store._sql import chunked
from store.models import (
    ArticleRow,
    Curation,
    StoryRow,
    article_country_table,
    article_table,
    story_table,
)
from store.types import ensure_utc, utcnow

#: Below this many characters of text, equal content hashes are not trusted to mean the same
#: report (summary-only feeds, "Read more…" stubs, empty bodies all hash alike).
MIN_TEXT_FOR_HASH = 80

_a = article_table
_s = story_table
_ac = article_country_table


class Candidate(NamedTuple):
    """What the levels need to know about an article waiting for a story."""

    id: int
    source_id: str
    url: str
    content_hash: str
    text_len: int
    published: datetime


class MatchLevel:
    """One deduplication level.

    ``prepare`` loads, in as few queries as possible, what the database already knows about the
    batch; ``find`` returns the story a candidate belongs to, or None; ``add`` records an
    assignment so that later candidates of the same batch match it too. Story ids handed to
    ``add`` may be negative placeholders for stories not inserted yet.
    """

    name = "level"

    def prepare(self, session: Session, batch: Sequence[Candidate]) -> None:
        raise NotImplementedError

    def find(self, candidate: Candidate) -> int | None:
        raise NotImplementedError

    def add(self, candidate: Candidate, story_id: int) -> None:
        raise NotImplementedError


class SameUrl(MatchLevel):
    """Same canonical URL from another source."""

    name = "url"

    def __init__(self) -> None:
        self._by_url: dict[str, list[tuple[str, int]]] = {}

    def prepare(self, session: Session, batch: Sequence[Candidate]) -> None:
        urls = sorted({c.url for c in batch})
        for part in chunked(urls):
            stmt = (
                select(_a.c.url, _a.c.source_id, _a.c.story_id)
                .where(_a.c.url.in_(part), _a.c.story_id.is_not(None))
                .order_by(_a.c.story_id)
            )
            for url, source_id, story_id in session.execute(stmt):
                self._by_url.setdefault(url, []).append((source_id, story_id))

    def find(self, candidate: Candidate) -> int | None:
        for source_id, story_id in self._by_url.get(candidate.url, ()):
            if source_id != candidate.source_id:
                return story_id
        return None

    def add(self, candidate: Candidate, story_id: int) -> None:
        self._by_url.setdefault(candidate.url, []).append((candidate.source_id, story_id))


class SameText(MatchLevel):
    """Same normalised-text hash, for texts of at least :data:`MIN_TEXT_FOR_HASH` characters."""

    name = "content_hash"

    def __init__(self) -> None:
        self._by_hash: dict[str, int] = {}

    @staticmethod
    def _eligible(candidate: Candidate) -> bool:
        return bool(candidate.content_hash) and candidate.text_len >= MIN_TEXT_FOR_HASH

    def prepare(self, session: Session, batch: Sequence[Candidate]) -> None:
        hashes = sorted({c.content_hash for c in batch if self._eligible(c)})
        for part in chunked(hashes):
            stmt = (
                select(_a.c.content_hash, _a.c.story_id)
                .where(_a.c.content_hash.in_(part), _a.c.story_id.is_not(None))
                .order_by(_a.c.story_id)
            )
            for content_hash, story_id in session.execute(stmt):
                self._by_hash.setdefault(content_hash, story_id)

    def find(self, candidate: Candidate) -> int | None:
        return self._by_hash.get(candidate.content_hash) if self._eligible(candidate) else None

    def add(self, candidate: Candidate, story_id: int) -> None:
        if self._eligible(candidate):
            self._by_hash.setdefault(candidate.content_hash, story_id)


#: The levels tried after the per-source key, cheapest first. Append a near-duplicate level here.
LEVELS: list[Callable[[], MatchLevel]] = [SameUrl, SameText]


def assign_candidates(
    session: Session,
    candidates: Sequence[Candidate],
    *,
    now: datetime | None = None,
    levels: Sequence[Callable[[], MatchLevel]] | None = None,
) -> dict[int, int]:
    """Give each candidate article a story; return ``{article_id: story_id}``.

    Candidates are taken in date order so that, within one batch, the earliest report founds the
    story and the others join it. Stories are created in one multi-row insert and the touched
    stories are refreshed. Does not commit.
    """
    if not candidates:
        return {}
    now = ensure_utc(now, "now") if now is not None else utcnow()
    active = [make() for make in (levels if levels is not None else LEVELS)]
    for level in active:
        level.prepare(session, candidates)

    assigned: dict[int, int] = {}
    placeholder = 0
    for candidate in sorted(candidates, key=lambda c: (c.published, c.id)):
        story_id = next((s for lvl in active if (s := lvl.find(candidate)) is not None), None)
        if story_id is None:
            placeholder -= 1
            story_id = placeholder
        assigned[candidate.id] = story_id
        for level in active:
            level.add(candidate, story_id)

    placeholders = list(range(-1, placeholder - 1, -1))
    real: dict[int, int] = {}
    if placeholders:
        stmt = _s.insert().returning(_s.c.id, sort_by_parameter_order=True)
        new_ids = (
            session.execute(
                stmt,
                [
                    {
                        "countries": [],
                        "topics": [],
                        "kind": "report",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for _ in placeholders
                ],
            )
            .scalars()
            .all()
        )
        real = dict(zip(placeholders, new_ids, strict=True))
    final = {aid: real.get(sid, sid) for aid, sid in assigned.items()}

    session.execute(
        update(_a).where(_a.c.id == bindparam("b_id")).values(story_id=bindparam("b_story")),
        [{"b_id": aid, "b_story": sid} for aid, sid in final.items()],
    )
    refresh_stories(session, set(final.values()), now=now)
    return final


def assign_stories(
    session: Session, article_ids: Iterable[int], *, now: datetime | None = None
) -> dict[int, int]:
    """Assign stories to the given articles that have none yet; return ``{article_id: story}``
    for those assigned."""
    candidates: list[Candidate] = []
    for part in chunked(sorted(set(article_ids))):
        stmt = select(
            _a.c.id,
            _a.c.source_id,
            _a.c.url,
            _a.c.content_hash,
            _a.c.text,
            _a.c.published,
        ).where(_a.c.id.in_(part), _a.c.story_id.is_(None))
        for aid, source_id, url, content_hash, text, published in session.execute(stmt):
            candidates.append(
                Candidate(aid, source_id, url, content_hash, len(text.strip()), published)
            )
    return assign_candidates(session, candidates, now=now)


def assign_story(
    session: Session, article: ArticleRow | int, *, now: datetime | None = None
) -> int:
    """The story of one article, assigning one first if it has none. Does not commit."""
    article_id = article if isinstance(article, int) else article.id
    if not isinstance(article, int):
        session.flush()
    assigned = assign_stories(session, [article_id], now=now)
    if article_id in assigned:
        if not isinstance(article, int):
            session.refresh(article, ["story_id"])
        return assigned[article_id]
    story_id = session.execute(select(_a.c.story_id).where(_a.c.id == article_id)).scalar_one()
    if story_id is None:  # pragma: no cover - assign_stories just gave it one
        raise RuntimeError(f"article {article_id} has no story")
    return story_id


def _ranked(
    counter: Counter[str], first: dict[str, int], primary: Counter[str] | None = None
) -> list[str]:
    primary = primary or Counter()
    return sorted(counter, key=lambda k: (-primary[k], -counter[k], first[k]))


def refresh_stories(
    session: Session, story_ids: Iterable[int], *, now: datetime | None = None
) -> None:
    """Recompute the derived fields of the given stories from their articles. Does not commit."""
    ids = sorted({s for s in story_ids if s is not None})
    if not ids:
        return
    now = ensure_utc(now, "now") if now is not None else utcnow()
    articles: dict[int, list[Any]] = {sid: [] for sid in ids}
    countries_of: dict[int, list[tuple[str, bool]]] = {}
    for part in chunked(ids):
        stmt = (
            select(_a.c.id, _a.c.story_id, _a.c.source_id, _a.c.published, _a.c.region, _a.c.topics)
            .where(_a.c.story_id.in_(part))
            .order_by(_a.c.published, _a.c.id)
        )
        for row in session.execute(stmt):
            articles[row.story_id].append(row)
        stmt2 = (
            select(_ac.c.article_id, _ac.c.country, _ac.c.is_primary)
            .join(_a, _a.c.id == _ac.c.article_id)
            .where(_a.c.story_id.in_(part))
            .order_by(_ac.c.article_id, _ac.c.is_primary.desc(), _ac.c.weight.desc())
        )
        for article_id, country, is_primary in session.execute(stmt2):
            countries_of.setdefault(article_id, []).append((country, bool(is_primary)))

    params = []
    for sid in ids:
        rows = articles[sid]
        regions: Counter[str] = Counter()
        countries: Counter[str] = Counter()
        primary: Counter[str] = Counter()
        topics: Counter[str] = Counter()
        first: dict[str, int] = {}
        for i, row in enumerate(rows):
            if row.region:
                regions[row.region] += 1
                first.setdefault(row.region, i)
            for country, is_primary in countries_of.get(row.id, ()):
                countries[country] += 1
                primary[country] += is_primary
                first.setdefault(country, i)
            for topic in row.topics or ():
                topics[topic] += 1
                first.setdefault(topic, i)
        region_order = _ranked(regions, first)
        params.append(
            {
                "b_id": sid,
                "b_rep": rows[0].id if rows else None,
                "b_published": rows[0].published if rows else None,
                "b_region": region_order[0] if region_order else None,
                "b_countries": _ranked(countries, first, primary),
                "b_topics": _ranked(topics, first),
                "b_sources": len({row.source_id for row in rows}),
                "b_articles": len(rows),
                "b_now": now,
            }
        )
    story_update = (
        update(_s)
        .where(_s.c.id == bindparam("b_id"))
        .values(
            representative_article_id=bindparam("b_rep"),
            published=bindparam("b_published"),
            region=bindparam("b_region"),
            countries=bindparam("b_countries"),
            topics=bindparam("b_topics"),
            source_count=bindparam("b_sources"),
            article_count=bindparam("b_articles"),
            updated_at=bindparam("b_now"),
        )
    )
    session.execute(story_update, params)


def refresh_story(session: Session, story: StoryRow | int, *, now: datetime | None = None) -> None:
    """Recompute one story's derived fields. Does not commit."""
    story_id = story if isinstance(story, int) else story.id
    refresh_stories(session, [story_id], now=now)
    if not isinstance(story, int):
        session.refresh(story)


def merge_stories(
    session: Session, keep: StoryRow | int, drop: StoryRow | int, *, now: datetime | None = None
) -> None:
    """Move every article and curation of ``drop`` into ``keep``, then delete ``drop``.

    Where both stories have a curation for the same round-up, ``keep``'s decision stands and its
    empty headline/summary/note/position are filled from ``drop``'s; notes are never lost (both
    are kept, separated by a blank line). Does not commit.
    """
    keep_id = keep if isinstance(keep, int) else keep.id
    drop_id = drop if isinstance(drop, int) else drop.id
    if keep_id == drop_id:
        raise ValueError(f"cannot merge story {keep_id} into itself")
    found = set(session.execute(select(_s.c.id).where(_s.c.id.in_([keep_id, drop_id]))).scalars())
    missing = {keep_id, drop_id} - found
    if missing:
        raise LookupError(f"no story with id {', '.join(map(str, sorted(missing)))}")
    now = ensure_utc(now, "now") if now is not None else utcnow()

    session.flush()
    session.execute(update(_a).where(_a.c.story_id == drop_id).values(story_id=keep_id))
    curations = session.scalars(
        select(Curation).where(Curation.story_id.in_([keep_id, drop_id]))
    ).all()
    kept = {c.roundup: c for c in curations if c.story_id == keep_id}
    for cur in (c for c in curations if c.story_id == drop_id):
        target = kept.get(cur.roundup)
        if target is None:
            cur.story_id = keep_id
            cur.updated_at = now
            continue
        for field in ("headline", "summary", "position"):
            if getattr(target, field) is None:
                setattr(target, field, getattr(cur, field))
        if cur.note and cur.note != target.note:
            target.note = f"{target.note}\n\n{cur.note}" if target.note else cur.note
        target.updated_at = now
        session.delete(cur)
    session.flush()
    session.execute(delete(_s).where(_s.c.id == drop_id))
    refresh_stories(session, [keep_id], now=now)
    if not isinstance(drop, int):
        session.expunge(drop)
    if not isinstance(keep, int):
        session.expire(keep)
