"""Read-side queries: what round-ups, the ``stories`` command and ``sources status`` need.

Every function runs a fixed number of queries whatever the number of stories or sources (no
N+1): stories, then all their articles in one go.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, String, func, select
from sqlalchemy.orm import Session, aliased

from store._sql import chunked, dialect_name
from store.models import ArticleRow, FetchState, SourceRow, StoryRow
from store.types import ensure_utc, utcnow


class ArticleRef(NamedTuple):
    """One member's report of a story, as listed under it."""

    source_id: str
    source_name: str
    url: str
    title: str
    published: datetime
    language: str | None
    id: int = 0
    match_reason: str | None = None  # why it joined the story (store.stories)
    kind: str | None = None


@dataclass
class StoryView:
    """A story as round-ups present it; ``headline`` and ``summary`` are the representative's."""

    id: int
    headline: str
    summary: str
    countries: list[str]
    topics: list[str]
    published: datetime | None
    region: str | None
    kind: str
    source_count: int
    articles: list[ArticleRef] = field(default_factory=list)
    # Joint statements: [{"name", "source_id"}] (source_id None for non-members).
    signatories: list[dict[str, Any]] = field(default_factory=list)
    representative_id: int | None = None


_Rep = aliased(ArticleRow, name="rep")


def _story_select() -> Any:
    return select(
        StoryRow.id,
        StoryRow.countries,
        StoryRow.topics,
        StoryRow.published,
        StoryRow.region,
        StoryRow.kind,
        StoryRow.source_count,
        StoryRow.signatories,
        StoryRow.representative_article_id,
        _Rep.title,
        _Rep.summary,
    ).outerjoin(_Rep, _Rep.id == StoryRow.representative_article_id)


def _views(session: Session, story_rows: Sequence[Any]) -> list[StoryView]:
    views = {
        row.id: StoryView(
            id=row.id,
            headline=row.title or "",
            summary=row.summary or "",
            countries=list(row.countries or []),
            topics=list(row.topics or []),
            published=row.published,
            region=row.region,
            kind=row.kind,
            source_count=row.source_count,
            signatories=list(row.signatories or []),
            representative_id=row.representative_article_id,
        )
        for row in story_rows
    }
    for part in chunked(list(views)):
        stmt = (
            select(
                ArticleRow.story_id,
                ArticleRow.source_id,
                SourceRow.name,
                ArticleRow.url,
                ArticleRow.title,
                ArticleRow.published,
                ArticleRow.language,
                ArticleRow.id,
                ArticleRow.match_reason,
                ArticleRow.kind,
            )
            .join(SourceRow, SourceRow.id == ArticleRow.source_id)
            .where(ArticleRow.story_id.in_(part))
            .order_by(ArticleRow.published, ArticleRow.id)
        )
        for row in session.execute(stmt):
            views[row.story_id].articles.append(
                ArticleRef(
                    row.source_id,
                    row.name,
                    row.url,
                    row.title,
                    row.published,
                    row.language,
                    row.id,
                    row.match_reason,
                    row.kind,
                )
            )
    return list(views.values())


def stories_in(
    session: Session, *, region: str | None, start: datetime, end: datetime
) -> list[StoryView]:
    """Stories with at least one article published in ``[start, end)``, earliest first.

    ``region`` narrows to stories of that region; None returns every story, with or without one.
    Each story lists all its articles (also those outside the window), oldest first.
    """
    start = ensure_utc(start, "start")
    end = ensure_utc(end, "end")
    # Uncorrelated IN: the published index finds the window's articles, then their stories by
    # primary key. A correlated EXISTS probed every story of the region (1.3 s at 1M articles).
    in_window = StoryRow.id.in_(
        select(ArticleRow.story_id).where(
            ArticleRow.published >= start,
            ArticleRow.published < end,
        )
    )
    stmt = _story_select().where(in_window).order_by(StoryRow.published, StoryRow.id)
    if region is not None:
        stmt = stmt.where(StoryRow.region == region)
    return _views(session, session.execute(stmt).all())


def story_detail(session: Session, story_id: int) -> StoryView | None:
    """One story with all its articles, or None."""
    rows = session.execute(_story_select().where(StoryRow.id == story_id)).all()
    views = _views(session, rows)
    return views[0] if views else None


@dataclass
class FeedHealth:
    url: str
    last_status: int | None
    last_success: datetime | None
    last_attempt: datetime | None
    last_error: str | None
    consecutive_failures: int
    next_attempt: datetime | None
    gone: bool
    entries_seen: int


@dataclass
class SourceHealth:
    """How one member's harvest is going, for ``roundup sources status``."""

    source_id: str
    name: str
    enabled: bool
    feeds: list[FeedHealth]
    last_success: datetime | None  # latest success over the source's URLs
    last_attempt: datetime | None
    last_error: str | None  # the error of the most recently failed URL that still fails
    consecutive_failures: int  # worst over the source's URLs
    gone: int  # URLs marked gone (410)
    article_count: int
    last_article_seen: datetime | None  # when the newest article was first harvested
    last_published: datetime | None
    articles_per_month: dict[str, int]  # "YYYY-MM" (by publication date) → articles


def _month(column: Any, dialect: str) -> ColumnElement[str]:
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM")
    # SQLite stores UTC as "YYYY-MM-DD HH:MM:SS...".
    return func.substr(func.cast(column, String), 1, 7)


def _month_start(moment: datetime, back: int) -> datetime:
    """Midnight UTC on the first day of the month ``back`` months before ``moment``'s month."""
    index = moment.year * 12 + moment.month - 1 - back
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def source_health(
    session: Session, *, now: datetime | None = None, months: int = 12
) -> list[SourceHealth]:
    """One row per source (ordered by id) with its fetch health and article counts.

    ``articles_per_month`` covers the ``months`` months up to ``now``.
    """
    now = ensure_utc(now, "now") if now is not None else utcnow()
    sources = session.execute(
        select(SourceRow.id, SourceRow.name, SourceRow.enabled).order_by(SourceRow.id)
    ).all()
    feeds: dict[str, list[FeedHealth]] = {}
    from store.fetchstate import CRAWL_MARK

    for state in session.scalars(
        select(FetchState).where(~FetchState.url.endswith(CRAWL_MARK)).order_by(FetchState.url)
    ):
        feeds.setdefault(state.source_id, []).append(
            FeedHealth(
                url=state.url,
                last_status=state.last_status,
                last_success=state.last_success,
                last_attempt=state.last_attempt,
                last_error=state.last_error,
                consecutive_failures=state.consecutive_failures,
                next_attempt=state.next_attempt,
                gone=state.gone,
                entries_seen=state.entries_seen,
            )
        )
    totals = {
        row.source_id: row
        for row in session.execute(
            select(
                ArticleRow.source_id,
                func.count().label("n"),
                func.max(ArticleRow.first_seen).label("last_seen"),
                func.max(ArticleRow.published).label("last_published"),
            ).group_by(ArticleRow.source_id)
        )
    }
    month = _month(ArticleRow.published, dialect_name(session)).label("month")
    cutoff = _month_start(now, back=max(months, 1) - 1)
    per_month: dict[str, dict[str, int]] = {}
    for source_id, label, count in session.execute(
        select(ArticleRow.source_id, month, func.count())
        .where(ArticleRow.published >= cutoff)
        .group_by(ArticleRow.source_id, month)
        .order_by(ArticleRow.source_id, month)
    ):
        per_month.setdefault(source_id, {})[label] = count

    result = []
    for sid, name, enabled in sources:
        states = feeds.get(sid, [])
        failing = [f for f in states if f.consecutive_failures > 0 or f.gone]
        latest_failure = max(
            failing,
            key=lambda f: f.last_attempt or datetime.min.replace(tzinfo=now.tzinfo),
            default=None,
        )
        total = totals.get(sid)
        result.append(
            SourceHealth(
                source_id=sid,
                name=name,
                enabled=enabled,
                feeds=states,
                last_success=max((f.last_success for f in states if f.last_success), default=None),
                last_attempt=max((f.last_attempt for f in states if f.last_attempt), default=None),
                last_error=latest_failure.last_error if latest_failure else None,
                consecutive_failures=max((f.consecutive_failures for f in states), default=0),
                gone=sum(f.gone for f in states),
                article_count=total.n if total else 0,
                last_article_seen=total.last_seen if total else None,
                last_published=total.last_published if total else None,
                articles_per_month=per_month.get(sid, {}),
            )
        )
    return result
