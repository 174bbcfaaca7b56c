"""Round-up composition: a region and a period in, a draft out.

A draft lists the stories that have at least one member report published in the period and whose
region is the requested one, grouped by country (a story about several countries of the region goes
to the regional section), ranked inside each group by weight: distinct member sources first, then
the most recent report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from roundups.errors import UsageError

REGIONS: dict[str, str] = {
    "africa": "Africa",
    "americas": "the Americas",
    "asia-pacific": "Asia-Pacific",
    "europe-central-asia": "Europe and Central Asia",
    "mena": "the Middle East and North Africa",
}

REGIONAL = "regional"


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime  # exclusive
    label: str  # "2024-01"

    @classmethod
    def month(cls, text: str) -> Period:
        match = re.fullmatch(r"(\d{4})-(\d{2})", text or "")
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise UsageError(f"--month must look like YYYY-MM, got {text!r}")
        year, month = int(match.group(1)), int(match.group(2))
        start = datetime(year, month, 1, tzinfo=UTC)
        end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
        return cls(start, end, text)

    @property
    def title(self) -> str:
        return f"{self.start:%B %Y}"


def check_region(region: str) -> str:
    if region not in REGIONS:
        raise UsageError(f"unknown region {region!r}; choose one of {', '.join(REGIONS)}")
    return region


@dataclass
class DraftSource:
    source: str  # registry id
    name: str
    url: str
    title: str
    published: datetime | None


@dataclass
class DraftStory:
    id: int
    headline: str
    summary: str
    countries: list[str]
    topics: list[str]
    published: datetime | None
    kind: str
    region: str | None
    sources: list[DraftSource]

    @property
    def weight(self) -> tuple[int, float]:
        newest = max((s.published for s in self.sources if s.published), default=None)
        return (len({s.source for s in self.sources}), newest.timestamp() if newest else 0.0)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "headline": self.headline,
            "summary": self.summary,
            "countries": self.countries,
            "topics": self.topics,
            "published": self.published.isoformat() if self.published else None,
            "sources": [{"source": s.source, "name": s.name, "url": s.url, "title": s.title}
                        for s in self.sources],
            "kind": self.kind,
        }


@dataclass
class Section:
    key: str  # ISO country code or "regional"
    title: str
    stories: list[DraftStory] = field(default_factory=list)


@dataclass
class Draft:
    region: str
    period: Period
    sections: list[Section]

    @property
    def title(self) -> str:
        return (f"{self.period.title} in {REGIONS[self.region]}: "
                "a free expression round-up based on member reports")

    @property
    def stories(self) -> list[DraftStory]:
        return [story for section in self.sections for story in section.stories]

    def as_json(self) -> dict[str, Any]:
        return {"region": self.region, "month": self.period.label,
                "stories": [s.as_json() for s in self.stories]}


def country_name(code: str) -> str:
    try:
        from pipeline.geo import country_name as name_of
    except ImportError:
        return code
    try:
        return name_of(code) or code
    except Exception:  # noqa: BLE001 - a name is cosmetic; the code is always right
        return code


def to_draft_story(view: Any) -> DraftStory:
    sources = [
        DraftSource(a.source_id, a.source_name or a.source_id, a.url, a.title, a.published)
        for a in view.articles
    ]
    return DraftStory(
        id=view.id,
        headline=view.headline,
        summary=view.summary,
        countries=list(view.countries or []),
        topics=list(view.topics or []),
        published=view.published,
        kind=view.kind or "report",
        region=view.region,
        sources=sources,
    )


def compose(session: Any, region: str, period: Period) -> Draft:
    from store.queries import stories_in

    check_region(region)
    stories = [to_draft_story(v) for v in stories_in(session, region=region, start=period.start,
                                                      end=period.end)]
    return arrange(region, period, stories)


def arrange(region: str, period: Period, stories: list[DraftStory]) -> Draft:
    by_key: dict[str, Section] = {}
    for story in stories:
        countries = story.countries
        key = countries[0] if len(countries) == 1 else REGIONAL
        if key not in by_key:
            title = "Regional" if key == REGIONAL else country_name(key)
            by_key[key] = Section(key, title)
        by_key[key].stories.append(story)
    for section in by_key.values():
        section.stories.sort(key=lambda s: (s.weight[0], s.weight[1], -s.id), reverse=True)
    countries = sorted(
        (s for k, s in by_key.items() if k != REGIONAL),
        key=lambda s: (-sum(st.weight[0] for st in s.stories), s.title),
    )
    sections = ([by_key[REGIONAL]] if REGIONAL in by_key else []) + countries
    return Draft(region, period, sections)
