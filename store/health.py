"""Is a member silent for longer than usual? (``roundup sources status``)

A feed can break without an error: the CMS moves it, the category empties, the member posts only
to social media. The harvest then succeeds every hour and stores nothing. Each source's usual
rhythm is the median gap between its recent publications; a source is flagged *silent* when the
time since its newest article exceeds ``factor`` × that gap, and at least ``min_days`` days.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.models import ArticleRow
from store.types import ensure_utc, utcnow

RECENT = 30  # publications per source that define its rhythm


@dataclass(frozen=True)
class Rhythm:
    source_id: str
    articles: int
    usual_gap: timedelta | None  # median gap between recent publications
    silent_for: timedelta | None  # now - newest publication
    silent: bool

    def describe(self) -> str:
        if self.usual_gap is None:
            return "rhythm unknown (fewer than 3 articles)"
        gap = self.usual_gap.total_seconds() / 86400
        text = f"usually every {gap:.1f} d"
        if self.silent_for is not None:
            text += f", last {self.silent_for.total_seconds() / 86400:.1f} d ago"
        return text + (" — SILENT longer than usual" if self.silent else "")


def rhythms(session: Session, *, now: datetime | None = None, factor: float = 4.0,
            min_days: float = 7.0) -> dict[str, Rhythm]:
    now = ensure_utc(now, "now") if now is not None else utcnow()
    ranked = (
        select(ArticleRow.source_id, ArticleRow.published,
               func.row_number().over(partition_by=ArticleRow.source_id,
                                      order_by=ArticleRow.published.desc()).label("n"))
        .where(ArticleRow.date_flag.is_(None))
        .subquery()
    )
    dates: dict[str, list[datetime]] = {}
    for source_id, published in session.execute(
        select(ranked.c.source_id, ranked.c.published).where(ranked.c.n <= RECENT)
    ):
        if isinstance(published, str):  # raw SQLite text through a subquery
            published = datetime.fromisoformat(published)
        dates.setdefault(source_id, []).append(ensure_utc(
            published if published.tzinfo else published.replace(tzinfo=now.tzinfo), "published"))
    result = {}
    for source_id, moments in dates.items():
        moments.sort()
        gaps = [b - a for a, b in zip(moments, moments[1:], strict=False) if b > a]
        usual = None
        if len(gaps) >= 2:
            usual = timedelta(seconds=statistics.median(g.total_seconds() for g in gaps))
        silent_for = now - moments[-1]
        silent = bool(usual and silent_for > max(usual * factor, timedelta(days=min_days)))
        result[source_id] = Rhythm(source_id, len(moments), usual, silent_for, silent)
    return result
