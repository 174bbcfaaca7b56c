"""The coverage report that comes with every draft.

Per country of the region: how many stories the members reported in the period and which members
reported them; the region's members (``source`` rows of that region) that published nothing in the
period; the countries of the region with no story. Stories an editor excluded still count: the
report describes what the members covered, not what the editor kept.

The country → region table is ``pipeline/data/regions.csv`` (owned by the tagging pipeline); this
module only reads it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

REGIONS_CSV = Path(__file__).resolve().parents[1] / "pipeline" / "data" / "regions.csv"


@cache
def country_table() -> dict[str, tuple[str, str]]:
    """ISO code → (region id, English name), from ``pipeline/data/regions.csv``."""
    table: dict[str, tuple[str, str]] = {}
    try:
        text = REGIONS_CSV.read_text(encoding="utf-8")
    except OSError:
        return table
    rows = (line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    for row in csv.DictReader(rows):
        code = (row.get("code") or "").strip().upper()
        if code:
            table[code] = ((row.get("region") or "").strip(), (row.get("name") or code).strip())
    return table


def region_countries(region: str) -> dict[str, str]:
    """The countries of ``region``: code → name, sorted by name."""
    items = [(code, name) for code, (reg, name) in country_table().items() if reg == region]
    return dict(sorted(items, key=lambda item: (item[1], item[0])))


def country_name(code: str) -> str:
    entry = country_table().get(code)
    return entry[1] if entry else code


@dataclass
class CountryCoverage:
    code: str
    name: str
    stories: int = 0
    sources: list[str] = field(default_factory=list)  # member names, sorted


@dataclass
class SilentMember:
    source: str  # registry id
    name: str
    country: str | None


@dataclass
class Coverage:
    countries: list[CountryCoverage]  # countries with at least one story, most stories first
    silent_members: list[SilentMember]
    countries_without_stories: list[CountryCoverage]

    def as_json(self) -> dict[str, Any]:
        return {
            "countries": [
                {"country": c.code, "name": c.name, "stories": c.stories, "sources": c.sources}
                for c in self.countries
            ],
            "silent_members": [
                {"source": m.source, "name": m.name, "country": m.country}
                for m in self.silent_members
            ],
            "countries_without_stories": [
                {"country": c.code, "name": c.name} for c in self.countries_without_stories
            ],
        }


def build_coverage(region: str, stories: list[Any], members: list[SilentMember]) -> Coverage:
    """Coverage of ``stories`` (DraftStory-like: countries, sources) over the region's countries.

    ``members`` are the region's members that published nothing in the period (see
    :func:`silent_members`).
    """
    known = region_countries(region)
    per: dict[str, CountryCoverage] = {
        code: CountryCoverage(code, name) for code, name in known.items()
    }
    names: dict[str, set[str]] = {code: set() for code in known}
    for story in stories:
        for code in dict.fromkeys(story.countries):
            if code not in per:
                continue
            per[code].stories += 1
            names[code].update(s.name for s in story.sources)
    for code, entry in per.items():
        entry.sources = sorted(names[code], key=str.casefold)
    covered = sorted((c for c in per.values() if c.stories),
                     key=lambda c: (-c.stories, c.name, c.code))
    empty = [c for c in per.values() if not c.stories]
    return Coverage(covered, members, empty)


def silent_members(session: Any, region: str, start: datetime, end: datetime) -> list[SilentMember]:
    """Enabled members of ``region`` with no article published in ``[start, end)``."""
    from sqlalchemy import select

    from store.models import ArticleRow, SourceRow

    members = session.execute(
        select(SourceRow.id, SourceRow.name, SourceRow.country)
        .where(SourceRow.region == region, SourceRow.enabled.is_(True))
        .order_by(SourceRow.name, SourceRow.id)
    ).all()
    if not members:
        return []
    active = set(
        session.scalars(
            select(ArticleRow.source_id)
            .where(ArticleRow.source_id.in_([m.id for m in members]),
                   ArticleRow.published >= start, ArticleRow.published < end)
            .distinct()
        )
    )
    return [SilentMember(m.id, m.name or m.id, m.country) for m in members if m.id not in active]
