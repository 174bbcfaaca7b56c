"""Round-up composition: a region and a period in, a draft out.

A draft lists the stories of the requested region that have at least one member report published
in the period (a month, several months, a week or any range of days). Each story gets a headline
and a one- or two-sentence summary drawn from its best article (see :func:`best_article`), and
every member that reported it, linked by name.

Sections, in order: **Regional** (stories about several countries of the region, or none in
particular), one section per **country** (countries with the heaviest coverage first), then
**Joint statements** (stories of kind ``joint-statement``, whatever their countries). Inside a
section: pinned stories, then stories an editor put in a position, then the rest by weight
(:mod:`roundups.ranking`), ties broken by story id: the same store and the same editor decisions
always give the same draft.

Editors' decisions (:mod:`store.curation`) are applied here: excluded stories leave the draft (they
are kept in :attr:`Draft.excluded` for the editors' page), edited headlines and summaries replace
the drawn ones, notes travel with the story.
"""

from __future__ import annotations

import html
import re
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from roundups import ranking
from roundups.coverage import Coverage, build_coverage, country_table, silent_members
from roundups.coverage import country_name as _country_name
from roundups.errors import UsageError

REGIONS: dict[str, str] = {
    "africa": "Africa",
    "americas": "the Americas",
    "asia-pacific": "Asia-Pacific",
    "europe-central-asia": "Europe and Central Asia",
    "mena": "the Middle East and North Africa",
}

REGIONAL = "regional"
JOINT = "joint-statements"
JOINT_KIND = "joint-statement"

#: The longest period a draft may cover (a two-month round-up fits; a year does not).
MAX_DAYS = 93

_MONTH_RE = re.compile(r"(\d{4})-(\d{2})")
_DAY_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_WEEK_RE = re.compile(r"(\d{4})-W(\d{2})")


def _month_start(text: str, what: str) -> datetime:
    match = _MONTH_RE.fullmatch(text or "")
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise UsageError(f"{what} must look like YYYY-MM, got {text!r}")
    return datetime(int(match.group(1)), int(match.group(2)), 1, tzinfo=UTC)


def _day(text: str, what: str) -> datetime:
    match = _DAY_RE.fullmatch(text or "")
    try:
        if not match:
            raise ValueError
        return datetime(int(match.group(1)), int(match.group(2)), int(match.group(3)), tzinfo=UTC)
    except ValueError:
        raise UsageError(f"{what} must be a date YYYY-MM-DD, got {text!r}") from None


def _next_month(start: datetime) -> datetime:
    return start + timedelta(days=monthrange(start.year, start.month)[1])


@dataclass(frozen=True)
class Period:
    """A span of time ``[start, end)`` in UTC, with the label that names it in keys and JSON.

    Labels: ``2024-01`` (a month), ``2024-01..2024-02`` (whole months), ``2024-W05`` (an ISO week),
    ``2024-01-08..2024-01-21`` (days, both included).
    """

    start: datetime
    end: datetime  # exclusive
    label: str
    kind: str = "month"  # month | months | week | days

    @classmethod
    def month(cls, text: str) -> Period:
        start = _month_start(text, "--month")
        return cls(start, _next_month(start), text, "month")

    @classmethod
    def months(cls, first: str, last: str) -> Period:
        start = _month_start(first, "--from")
        last_start = _month_start(last, "--to")
        if last_start < start:
            raise UsageError(f"--to {last} comes before --from {first}")
        if first == last:
            return cls.month(first)
        return cls._checked(start, _next_month(last_start), f"{first}..{last}", "months")

    @classmethod
    def days(cls, first: str, last: str) -> Period:
        start, last_day = _day(first, "--from"), _day(last, "--to")
        if last_day < start:
            raise UsageError(f"--to {last} comes before --from {first}")
        return cls._checked(start, last_day + timedelta(days=1), f"{first}..{last}", "days")

    @classmethod
    def week(cls, text: str) -> Period:
        match = _WEEK_RE.fullmatch(text or "")
        try:
            if not match:
                raise ValueError
            monday = date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
        except ValueError:
            raise UsageError(f"--week must be an ISO week YYYY-Www (e.g. 2026-W40), "
                             f"got {text!r}") from None
        start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
        return cls(start, start + timedelta(days=7), text, "week")

    @classmethod
    def between(cls, first: str, last: str) -> Period:
        """``--from``/``--to``: whole months (YYYY-MM) or days (YYYY-MM-DD)."""
        if _MONTH_RE.fullmatch(first or "") and _MONTH_RE.fullmatch(last or ""):
            return cls.months(first, last)
        return cls.days(first, last)

    @classmethod
    def parse(cls, label: str) -> Period:
        """The period a label names (the inverse of :attr:`label`)."""
        label = (label or "").strip()
        if _WEEK_RE.fullmatch(label):
            return cls.week(label)
        if ".." in label:
            first, _, last = label.partition("..")
            return cls.between(first, last)
        if _DAY_RE.fullmatch(label):
            return cls.days(label, label)
        return cls.month(label)

    @classmethod
    def _checked(cls, start: datetime, end: datetime, label: str, kind: str) -> Period:
        if (end - start).days > MAX_DAYS:
            raise UsageError(f"period {label} is longer than {MAX_DAYS} days")
        return cls(start, end, label, kind)

    @property
    def last_day(self) -> datetime:
        return self.end - timedelta(days=1)

    @property
    def title(self) -> str:
        first, last = self.start, self.last_day
        if self.kind == "month":
            return f"{first:%B %Y}"
        if self.kind == "months":
            if first.year == last.year:
                return f"{first:%B}–{last:%B %Y}"
            return f"{first:%B %Y}–{last:%B %Y}"
        if self.kind == "week":
            return f"The week of {first.day} {first:%B %Y}"
        if first == last:
            return f"{first.day} {first:%B %Y}"
        if (first.year, first.month) == (last.year, last.month):
            return f"{first.day}–{last.day} {last:%B %Y}"
        return f"{first.day} {first:%B %Y}–{last.day} {last:%B %Y}"

    def as_json(self) -> dict[str, str]:
        return {"label": self.label, "kind": self.kind, "start": self.start.date().isoformat(),
                "end": self.last_day.date().isoformat()}


def check_region(region: str) -> str:
    if region not in REGIONS:
        raise UsageError(f"unknown region {region!r}; choose one of {', '.join(REGIONS)}")
    return region


def plain(text: str | None) -> str:
    """Feed-derived text as plain text: markup removed (with nh3), whitespace folded.

    The pipeline already stores plain text; this is the second line of defence, so that a title
    such as ``<script>…</script>`` or ``<svg onload=…>`` never reaches a draft even as text.
    Renderers still escape everything they write.
    """
    text = text or ""
    if "<" in text:
        import nh3

        text = html.unescape(nh3.clean(text, tags=set()))
    return " ".join(text.split())


def safe_url(url: str | None) -> str | None:
    """``url`` if it is an absolute http(s) URL, with the characters that could break out of an
    attribute or a Markdown link percent-encoded; None otherwise (``javascript:``, ``data:``…)."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(ord(ch) < 0x20 or ch.isspace() for ch in url):
        return None
    return quote(url, safe="/:?#[]@!$&'*+,;=%-._~").replace("'", "%27").replace("(", "%28").replace(
        ")", "%29")



_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def short_summary(text: str, *, limit: int = 400) -> str:
    """One sentence, or two when the first is short, cut at ``limit`` characters on a word."""
    text = plain(text)
    if not text:
        return ""
    sentences = _SENTENCE_END.split(text)
    summary = sentences[0]
    if len(summary) < 120 and len(sentences) > 1:
        summary = f"{summary} {sentences[1]}"
    if len(summary) > limit:
        summary = summary[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return summary


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
    #: Filled by :func:`arrange`: score from roundups.ranking and the editors' decisions.
    score: float = 0.0
    section: str = ""
    decision: str | None = None  # include | exclude | pin | None (no decision yet)
    position: int | None = None
    note: str = ""
    edited: bool = False  # headline or summary written by an editor

    @property
    def pinned(self) -> bool:
        return self.decision == "pin"

    @property
    def member_count(self) -> int:
        return len({s.source for s in self.sources})

    @property
    def weight(self) -> tuple[int, float]:
        newest = max((s.published for s in self.sources if s.published), default=None)
        return (self.member_count, newest.timestamp() if newest else 0.0)

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
            "section": self.section,
            "weight": self.score,
            "pinned": self.pinned,
            "note": self.note or None,
        }


@dataclass
class Section:
    key: str  # ISO country code, "regional" or "joint-statements"
    title: str
    stories: list[DraftStory] = field(default_factory=list)


@dataclass
class Draft:
    region: str
    period: Period
    sections: list[Section]
    excluded: list[DraftStory] = field(default_factory=list)
    coverage: Coverage | None = None

    @property
    def title(self) -> str:
        what = ("a weekly free expression brief" if self.period.kind == "week"
                else "a free expression round-up")
        return f"{self.period.title} in {REGIONS[self.region]}: {what} based on member reports"

    @property
    def roundup(self) -> str:
        """The curation key of this draft, e.g. ``africa/2024-01``."""
        return f"{self.region}/{self.period.label}"

    @property
    def stories(self) -> list[DraftStory]:
        return [story for section in self.sections for story in section.stories]

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"region": self.region, "month": self.period.label,
                                "stories": [s.as_json() for s in self.stories]}
        data["title"] = self.title
        data["period"] = self.period.as_json()
        data["sections"] = [{"key": s.key, "title": s.title, "stories": [x.id for x in s.stories]}
                            for s in self.sections]
        data["excluded"] = [s.id for s in self.excluded]
        if self.coverage is not None:
            data["coverage"] = self.coverage.as_json()
        return data


def country_name(code: str) -> str:
    return _country_name(code)


def to_draft_story(view: Any) -> DraftStory:
    sources = [
        DraftSource(a.source_id, plain(a.source_name) or a.source_id, safe_url(a.url) or "",
                    plain(a.title), a.published)
        for a in view.articles
    ]
    return DraftStory(
        id=view.id,
        headline=plain(view.headline),
        summary=short_summary(view.summary),
        countries=list(view.countries or []),
        topics=list(view.topics or []),
        published=view.published,
        kind=view.kind or "report",
        region=view.region,
        sources=sources,
    )


@dataclass
class _Candidate:
    story_id: int
    article_id: int
    title: str
    summary: str
    language: str | None
    published: datetime | None


def best_article(candidates: list[_Candidate], period: Period) -> _Candidate | None:
    """The article a story's headline and summary are drawn from.

    Preference, in order: published in the period; in English (the round-ups' language); with a
    summary; with a title; the earliest (the first report usually carries the facts); lowest id.
    """
    def key(c: _Candidate) -> tuple[Any, ...]:
        in_period = c.published is not None and period.start <= c.published < period.end
        when = c.published.timestamp() if c.published else float("inf")
        return (not in_period, (c.language or "") != "en", not c.summary.strip(),
                not c.title.strip(), when, c.article_id)

    return min(candidates, key=key, default=None)


def _candidates(session: Any, story_ids: list[int]) -> dict[int, list[_Candidate]]:
    from sqlalchemy import select

    from store._sql import chunked
    from store.models import ArticleRow

    found: dict[int, list[_Candidate]] = {sid: [] for sid in story_ids}
    for part in chunked(story_ids):
        stmt = select(ArticleRow.story_id, ArticleRow.id, ArticleRow.title, ArticleRow.summary,
                      ArticleRow.language, ArticleRow.published).where(
            ArticleRow.story_id.in_(part))
        for row in session.execute(stmt):
            found[row.story_id].append(_Candidate(row.story_id, row.id, row.title or "",
                                                  row.summary or "", row.language, row.published))
    return found


def compose(session: Any, region: str, period: Period, *, coverage: bool = True) -> Draft:
    """The draft for ``region`` and ``period`` from the store, with the editors' decisions."""
    from store.curation import curations_for
    from store.queries import stories_in

    check_region(region)
    views = stories_in(session, region=region, start=period.start, end=period.end)
    stories = [to_draft_story(v) for v in views]
    candidates = _candidates(session, [s.id for s in stories])
    for story in stories:
        best = best_article(candidates.get(story.id, []), period)
        if best is not None:
            story.headline = plain(best.title) or story.headline
            story.summary = short_summary(best.summary) or story.summary
    decisions = curations_for(session, f"{region}/{period.label}")
    members = silent_members(session, region, period.start, period.end) if coverage else []
    draft = arrange(region, period, stories, decisions)
    if coverage:
        draft.coverage = build_coverage(region, stories, members)
    return draft


def apply_curation(story: DraftStory, curation: Any) -> None:
    """Put an editor's decision (a ``store.models.Curation`` or alike) on ``story``."""
    story.decision = curation.decision
    story.position = curation.position
    story.note = plain(curation.note) if curation.note else ""
    if curation.headline:
        story.headline, story.edited = plain(curation.headline), True
    if curation.summary:
        story.summary, story.edited = plain(curation.summary), True


def section_key(story: DraftStory, region: str) -> str:
    if story.kind == JOINT_KIND:
        return JOINT
    table = country_table()
    in_region = [c for c in dict.fromkeys(story.countries) if table.get(c, (region,))[0] == region]
    return in_region[0] if len(in_region) == 1 else REGIONAL


def order_key(story: DraftStory) -> tuple[Any, ...]:
    """Pinned first, then by editor position, then heaviest; story id breaks ties."""
    positioned = story.position is not None
    return (not story.pinned, not positioned, story.position if positioned else 0,
            -story.score, story.id)


def arrange(region: str, period: Period, stories: list[DraftStory],
            decisions: dict[int, Any] | None = None) -> Draft:
    """Weigh, curate, group and order ``stories`` into a draft. Pure: no database."""
    decisions = decisions or {}
    by_key: dict[str, Section] = {}
    excluded: list[DraftStory] = []
    for story in sorted(stories, key=lambda s: s.id):
        newest = max((s.published for s in story.sources
                      if s.published and period.start <= s.published < period.end),
                     default=story.published)
        story.score = ranking.weight(story.member_count, story.topics, newest,
                                     period.start, period.end)
        story.section = section_key(story, region)
        if story.id in decisions:
            apply_curation(story, decisions[story.id])
        if story.decision == "exclude":
            excluded.append(story)
            continue
        if story.section not in by_key:
            title = {REGIONAL: "Regional", JOINT: "Joint statements"}.get(
                story.section) or country_name(story.section)
            by_key[story.section] = Section(story.section, title)
        by_key[story.section].stories.append(story)
    for section in by_key.values():
        section.stories.sort(key=order_key)
    countries = sorted(
        (s for k, s in by_key.items() if k not in (REGIONAL, JOINT)),
        key=lambda s: (not any(st.pinned for st in s.stories),
                       -round(sum(st.score for st in s.stories), 6), s.title, s.key),
    )
    sections = ([by_key[REGIONAL]] if REGIONAL in by_key else []) + countries
    if JOINT in by_key:
        sections.append(by_key[JOINT])
    excluded.sort(key=order_key)
    return Draft(region, period, sections, excluded)
