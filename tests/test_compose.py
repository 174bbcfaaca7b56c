"""roundups.compose: periods, ranking, sections, best-article headline and summary, coverage."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest
from draftdata import build

from roundups import ranking
from roundups.cli import main
from roundups.compose import (
    JOINT,
    REGIONAL,
    DraftSource,
    DraftStory,
    Period,
    arrange,
    compose,
    short_summary,
)
from roundups.errors import UsageError

JAN = Period.month("2024-01")


@pytest.fixture
def store(store_db):
    engine, factory = store_db
    with factory() as session:
        ids = build(session)
    return factory, ids


# --- periods -----------------------------------------------------------------------------------


def test_month_period() -> None:
    assert (JAN.start, JAN.end) == (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC))
    dec = Period.month("2023-12")
    assert dec.end == datetime(2024, 1, 1, tzinfo=UTC) and dec.title == "December 2023"


def test_two_month_week_and_day_periods() -> None:
    two = Period.between("2026-09", "2026-10")
    assert (two.start, two.end, two.label) == (
        datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC), "2026-09..2026-10")
    assert two.title == "September–October 2026"
    assert Period.between("2025-12", "2026-01").title == "December 2025–January 2026"
    week = Period.week("2026-W40")
    assert (week.start, week.end) == (datetime(2026, 9, 28, tzinfo=UTC),
                                      datetime(2026, 10, 5, tzinfo=UTC))
    days = Period.between("2026-09-03", "2026-09-17")
    assert days.end == datetime(2026, 9, 18, tzinfo=UTC) and days.title == "3–17 September 2026"
    for period in (JAN, two, week, days):
        assert Period.parse(period.label) == period


@pytest.mark.parametrize("call", [
    lambda: Period.month("2024-13"),
    lambda: Period.month("Jan 2024"),
    lambda: Period.week("2026-W54"),
    lambda: Period.between("2026-10", "2026-09"),
    lambda: Period.between("2026-01", "2026-12"),  # longer than MAX_DAYS
    lambda: Period.between("2026-02-30", "2026-03-01"),
    lambda: Period.parse("yesterday"),
])
def test_bad_periods_are_usage_errors(call) -> None:
    with pytest.raises(UsageError):
        call()


# --- ranking -----------------------------------------------------------------------------------


def test_severity_table_order() -> None:
    order = ["killing", "physical-attack", "imprisonment-sentence", "arrest-detention",
             "legal-harassment-slapp", "online-harassment", "censorship-media-closure",
             "legislation", "protest", "something-else"]
    values = [ranking.topic_severity(t) for t in order]
    assert values == sorted(values, reverse=True) and values[-1] == 0
    assert ranking.severity(["legislation", "killings"]) == ranking.SEVERITY["killing"]
    assert ranking.topic_severity("Physical attack") == ranking.SEVERITY["physical-attack"]
    assert ranking.topic_severity("imprisonment") == ranking.SEVERITY["imprisonment-sentence"]
    assert set(ranking.ALIASES.values()) <= set(ranking.SEVERITY)


def test_severity_table_covers_the_taxonomy() -> None:
    import tomllib
    from pathlib import Path

    taxonomy = Path(__file__).resolve().parents[1] / "pipeline" / "data" / "topics" / "taxonomy.toml"
    if not taxonomy.exists():
        pytest.skip("no topic taxonomy in this tree")
    topics = set(tomllib.loads(taxonomy.read_text(encoding="utf-8")))
    assert set(ranking.SEVERITY) <= topics, set(ranking.SEVERITY) - topics


def _story(id_: int, *, sources: int = 1, topics: tuple[str, ...] = (), day: int = 10,
           countries: tuple[str, ...] = ("GH",), kind: str = "report") -> DraftStory:
    when = datetime(2024, 1, day, tzinfo=UTC)
    return DraftStory(
        id=id_, headline=f"Story {id_}", summary="", countries=list(countries),
        topics=list(topics), published=when, kind=kind, region="africa",
        sources=[DraftSource(f"m{n}", f"Member {n}", f"https://m{n}.example/{id_}", "t", when)
                 for n in range(sources)])


def test_weight_orders_sources_severity_recency() -> None:
    stories = [
        _story(1, sources=1, topics=("legislation",), day=5),
        _story(2, sources=3, topics=("legislation",), day=5),   # corroborated
        _story(3, sources=1, topics=("killing",), day=5),        # severe
        _story(4, sources=1, topics=("legislation",), day=28),   # recent
        _story(5, sources=6, topics=(), day=5),                  # widely reported
    ]
    draft = arrange("africa", JAN, stories)
    assert [s.id for s in draft.stories] == [5, 3, 2, 4, 1]


def test_arrange_is_deterministic_whatever_the_input_order() -> None:
    stories = [_story(i, sources=1 + i % 2, topics=("threats",), day=10,
                      countries=(("GH",), ("NG",), ("GH", "NG"))[i % 3]) for i in range(1, 30)]
    expected = arrange("africa", JAN, [_story(s.id, sources=s.member_count, topics=tuple(s.topics),
                                              countries=tuple(s.countries)) for s in stories])
    for seed in range(5):
        shuffled = stories[:]
        random.Random(seed).shuffle(shuffled)
        got = arrange("africa", JAN, shuffled)
        assert got.as_json() == expected.as_json()


def test_sections_regional_countries_joint() -> None:
    draft = arrange("africa", JAN, [
        _story(1, countries=("GH", "NG")),
        _story(2, countries=("GH",)),
        _story(3, countries=("GH", "FR")),  # France is not in Africa: a Ghana story
        _story(4, countries=()),
        _story(5, countries=("ZW",), kind="joint-statement"),
    ])
    assert [(s.key, [x.id for x in s.stories]) for s in draft.sections] == [
        (REGIONAL, [1, 4]), ("GH", [2, 3]), (JOINT, [5])]
    assert [s.title for s in draft.sections] == ["Regional", "Ghana", "Joint statements"]


def test_short_summary() -> None:
    assert short_summary("One. Two. Three.") == "One. Two."
    long_first = "A " + "very " * 30 + "long sentence. Second."
    assert short_summary(long_first) == long_first.split(" Second.")[0]
    cut = short_summary("word " * 200)
    assert len(cut) <= 401 and cut.endswith("…")
    assert short_summary("<b>Bold</b> claim.") == "Bold claim."


# --- compose from the store -------------------------------------------------------------------


def test_compose_region_month(store) -> None:
    factory, ids = store
    with factory() as session:
        draft = compose(session, "africa", JAN)
    assert [s.key for s in draft.sections] == [REGIONAL, "GH", "ZW", "NG", JOINT]
    found = {s.id for s in draft.stories}
    assert ids["lb-arrest"] not in found and ids["feb"] not in found
    ghana = draft.sections[1].stories
    # A killing by one member outweighs a detention reported by two.
    assert [s.id for s in ghana] == [ids["gh-killing"], ids["gh-detention"]]
    detention = ghana[1]
    # Headline and summary from the best article: in the period, English, earliest.
    assert detention.headline == "Two reporters detained in Accra"
    assert detention.summary == "Two reporters were detained overnight after covering a protest."
    assert [(s.source, s.name) for s in detention.sources] == [
        ("mfwa", "Media Foundation for West Africa"), ("cpj", "Committee to Protect Journalists")]
    killing = ghana[0]
    assert killing.summary == ("A radio journalist was shot dead outside his home in Tamale. "
                               "Police have opened an investigation.")
    (joint,) = draft.sections[-1].stories
    assert joint.kind == "joint-statement" and joint.member_count == 2
    assert draft.title == ("January 2024 in Africa: a free expression round-up based on member "
                           "reports")


def test_coverage(store) -> None:
    factory, ids = store
    with factory() as session:
        cov = compose(session, "africa", JAN).coverage
    assert cov is not None
    assert [(c.code, c.stories) for c in cov.countries] == [("GH", 3), ("NG", 2), ("ZW", 2)]
    assert cov.countries[0].sources == ["Committee to Protect Journalists",
                                        "Media Foundation for West Africa",
                                        "Reporters Without Borders"]
    assert [m.source for m in cov.silent_members] == ["jfj"]
    empty = {c.code for c in cov.countries_without_stories}
    assert {"KE", "SN", "ZA"} <= empty and not {"GH", "NG", "ZW", "LB", "FR"} & empty


def test_two_month_and_weekly_drafts(store) -> None:
    factory, ids = store
    with factory() as session:
        two = compose(session, "africa", Period.between("2024-01", "2024-02"))
        week = compose(session, "africa", Period.week("2024-W02"))  # 8-14 January
    assert ids["feb"] in {s.id for s in two.stories}
    assert {s.id for s in week.stories} == {ids["gh-killing"], ids["regional"]}
    assert week.title.startswith("The week of 8 January 2024 in Africa: a weekly")
    assert two.as_json()["month"] == "2024-01..2024-02"


def test_json_contract_shape(store) -> None:
    factory, _ = store
    with factory() as session:
        data = compose(session, "africa", JAN).as_json()
    assert {"region", "month", "stories"} <= set(data)
    assert data["region"] == "africa" and data["month"] == "2024-01"
    for story in data["stories"]:
        assert {"id", "headline", "summary", "countries", "topics", "published", "sources",
                "kind"} <= set(story)
        for src in story["sources"]:
            assert {"source", "url", "title"} <= set(src)
    sections = [sid for sec in data["sections"] for sid in sec["stories"]]
    assert [s["id"] for s in data["stories"]] == sections  # presentation order


def test_cli_draft_formats(store, store_url, tmp_path, capsysbinary) -> None:
    assert main(["draft", "--db", store_url, "--region", "africa", "--month", "2024-01",
                 "--format", "json"]) == 0
    data = json.loads(capsysbinary.readouterr().out)
    assert data["month"] == "2024-01" and len(data["stories"]) == 6
    for fmt in ("md", "html", "docx"):
        out = tmp_path / f"draft.{fmt}"
        assert main(["draft", "--db", store_url, "--region", "africa", "--from", "2024-01",
                     "--to", "2024-02", "--format", fmt, "--output", str(out)]) == 0
        assert out.stat().st_size > 100
    assert main(["draft", "--db", store_url, "--region", "africa", "--week", "2024-W02"]) == 0
    assert b"The week of 8 January 2024" in capsysbinary.readouterr().out
    assert main(["draft", "--db", store_url, "--region", "africa", "--week", "2024-W99"]) == 2
    assert main(["draft", "--db", store_url, "--region", "africa", "--month", "2024-01",
                 "--to", "2024-02"]) == 2
