"""Re-tag stored articles (``roundup retag``) after the tagging data files change.

The tagger is passed in (``pipeline.tagging.tag`` in production), so the store does not depend on
how tags are made. Only articles whose countries, region or topics change are written, and only
their stories are refreshed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from store.articles import _write_countries, country_rows
from store.models import ArticleCountry, ArticleRow, SourceRow
from store.stories import refresh_stories

Tagger = Callable[..., Any]


def retag_all(session: Session, tagger: Tagger, *, batch: int = 500) -> tuple[int, int]:
    """Re-tag every article; return ``(changed, total)``. Does not commit."""
    homes = dict(session.execute(select(SourceRow.id, SourceRow.country)).all())
    changed_stories: set[int] = set()
    changed = total = 0
    last_id = 0
    while True:
        rows = session.execute(
            select(ArticleRow.id, ArticleRow.source_id, ArticleRow.title, ArticleRow.text,
                   ArticleRow.language, ArticleRow.region, ArticleRow.topics, ArticleRow.story_id)
            .where(ArticleRow.id > last_id).order_by(ArticleRow.id).limit(batch)
        ).all()
        if not rows:
            break
        last_id = rows[-1].id
        stored: dict[int, list[tuple[str, float, bool]]] = {r.id: [] for r in rows}
        for aid, country, weight, primary in session.execute(
            select(ArticleCountry.article_id, ArticleCountry.country, ArticleCountry.weight,
                   ArticleCountry.is_primary)
            .where(ArticleCountry.article_id.in_(list(stored)))
            .order_by(ArticleCountry.article_id, ArticleCountry.is_primary.desc(),
                      ArticleCountry.weight.desc())
        ):
            stored[aid].append((country, round(float(weight), 6), bool(primary)))
        new_countries: list[tuple[int, list[tuple[str, float, bool]]]] = []
        for row in rows:
            total += 1
            result = tagger(row.title or "", row.text or "", home_country=homes.get(row.source_id),
                            language=row.language)
            wanted = [(c, round(w, 6), p) for c, w, p in country_rows(result.countries, result.weights)]
            region = result.region if result.countries else row.region
            topics = list(result.topics)
            if wanted == stored[row.id] and region == row.region and topics == list(row.topics or []):
                continue
            changed += 1
            session.execute(update(ArticleRow).where(ArticleRow.id == row.id)
                            .values(region=region, topics=topics))
            new_countries.append((row.id, wanted))
            if row.story_id is not None:
                changed_stories.add(row.story_id)
        _write_countries(session, new_countries, replace=True)
    refresh_stories(session, changed_stories)
    return changed, total
