"""Editors' decisions: applied to drafts, persisted per story and round-up, kept across re-harvests
and story merges, deterministic."""

from __future__ import annotations

import pytest
from draftdata import NOW, SOURCES, article, build
from sqlalchemy import func, select

from roundups.cli import main
from roundups.compose import Period, compose
from roundups.render import to_json
from store.articles import upsert_articles
from store.curation import (
    clear_curation,
    curations_for,
    roundup_key,
    set_curation,
    update_curation,
)
from store.models import Curation
from store.sources import sync_sources
from store.stories import merge_stories

JAN = Period.month("2024-01")
KEY = "africa/2024-01"


@pytest.fixture
def store(store_db):
    engine, factory = store_db
    with factory() as session:
        ids = build(session)
    return factory, ids


def _draft(factory, period: Period = JAN):
    with factory() as session:
        return compose(session, "africa", period)


def test_roundup_keys() -> None:
    assert roundup_key("africa", "2024-01") == KEY
    assert roundup_key("mena", "2026-W40") == "mena/2026-W40"
    assert roundup_key("americas", "2026-09..2026-10") == "americas/2026-09..2026-10"
    assert roundup_key("asia-pacific", "2026-09-03..2026-09-17").endswith("..2026-09-17")
    for bad in ("2024-13", "2024-W60", "2024-01..", "..2024-01", "2024-01..2024-02-03", "x"):
        with pytest.raises(ValueError):
            roundup_key("africa", bad)
    with pytest.raises(ValueError):
        roundup_key("antarctica", "2024-01")


def test_exclude_pin_edit_note_position(store) -> None:
    factory, ids = store
    with factory() as session:
        set_curation(session, ids["ng-shutdown"], KEY, decision="exclude")
        set_curation(session, ids["gh-detention"], KEY, decision="pin",
                     headline="Edited: two reporters held", summary="Edited summary.",
                     note="Check with MFWA")
        session.commit()
    draft = _draft(factory)
    assert ids["ng-shutdown"] not in {s.id for s in draft.stories}
    assert [s.id for s in draft.excluded] == [ids["ng-shutdown"]]
    ghana = next(s for s in draft.sections if s.key == "GH")
    pinned = ghana.stories[0]
    assert (pinned.id, pinned.headline, pinned.summary, pinned.note, pinned.edited) == (
        ids["gh-detention"], "Edited: two reporters held", "Edited summary.", "Check with MFWA",
        True)
    # A section with a pinned story leads the country sections.
    assert [s.key for s in draft.sections][:2] == ["regional", "GH"]
    # Positions reorder inside a section.
    with factory() as session:
        clear_curation(session, ids["gh-detention"], KEY)
        update_curation(session, ids["gh-detention"], KEY, position=1)
        update_curation(session, ids["gh-killing"], KEY, position=2)
        session.commit()
    ghana = next(s for s in _draft(factory).sections if s.key == "GH")
    assert [s.id for s in ghana.stories] == [ids["gh-detention"], ids["gh-killing"]]


def test_update_curation_keeps_other_fields(store) -> None:
    factory, ids = store
    sid = ids["gh-killing"]
    with factory() as session:
        update_curation(session, sid, KEY, note="first note")
        update_curation(session, sid, KEY, decision="pin")
        cur = update_curation(session, sid, KEY, headline="New headline")
        assert (cur.decision, cur.note, cur.headline) == ("pin", "first note", "New headline")
        cur = update_curation(session, sid, KEY, headline="")
        assert cur.headline is None and cur.note == "first note"
        with pytest.raises(TypeError):
            update_curation(session, sid, KEY, colour="red")
        assert clear_curation(session, sid, KEY) is True
        assert clear_curation(session, sid, KEY) is False
        session.commit()


def test_decisions_are_per_roundup(store) -> None:
    factory, ids = store
    with factory() as session:
        set_curation(session, ids["gh-killing"], KEY, decision="exclude")
        session.commit()
    two = _draft(factory, Period.between("2024-01", "2024-02"))
    assert ids["gh-killing"] in {s.id for s in two.stories}
    assert ids["gh-killing"] not in {s.id for s in _draft(factory).stories}


def test_curation_survives_reharvest(store) -> None:
    factory, ids = store
    with factory() as session:
        set_curation(session, ids["gh-killing"], KEY, decision="pin", headline="Kept headline")
        session.commit()
    with factory() as session:
        sync_sources(session, SOURCES, now=NOW)
        again = article("mfwa", "gh-killing", title="Radio journalist shot dead in Tamale (update)",
                        summary="Updated summary.", day=10, countries=["GH"], topics=["killing"])
        upsert_articles(session, [again], NOW)
        session.commit()
    draft = _draft(factory)
    story = next(s for s in draft.stories if s.id == ids["gh-killing"])
    assert story.pinned and story.headline == "Kept headline"
    assert story.summary == "Updated summary."


def test_curation_survives_story_merge(store) -> None:
    factory, ids = store
    with factory() as session:
        set_curation(session, ids["gh-killing"], KEY, decision="pin", note="from the dropped one")
        merge_stories(session, ids["gh-detention"], ids["gh-killing"])
        session.commit()
        assert set(curations_for(session, KEY)) == {ids["gh-detention"]}
    draft = _draft(factory)
    merged = next(s for s in draft.stories if s.id == ids["gh-detention"])
    assert merged.pinned and merged.note == "from the dropped one"
    assert ids["gh-killing"] not in {s.id for s in draft.stories}


def test_same_store_same_decisions_same_draft(store) -> None:
    factory, ids = store
    with factory() as session:
        set_curation(session, ids["regional"], KEY, decision="pin")
        set_curation(session, ids["hostile"], KEY, decision="exclude")
        update_curation(session, ids["gh-killing"], KEY, position=3)
        session.commit()
    first = to_json(_draft(factory))
    for _ in range(3):
        assert to_json(_draft(factory)) == first


def test_cli_curate(store, store_url, capsys) -> None:
    factory, ids = store
    sid = str(ids["gh-killing"])
    base = ["curate", "--db", store_url, "--region", "africa", "--month", "2024-01"]
    assert main([*base[:1], "set", *base[1:], "--story", sid, "--decision", "exclude",
                 "--note", "duplicate of a CPJ alert"]) == 0
    assert main([*base[:1], "list", *base[1:]]) == 0
    out = capsys.readouterr().out
    assert f"{sid}\texclude\tnote='duplicate of a CPJ alert'" in out
    assert ids["gh-killing"] not in {s.id for s in _draft(factory).stories}
    assert main([*base[:1], "clear", *base[1:], "--story", sid]) == 0
    assert ids["gh-killing"] in {s.id for s in _draft(factory).stories}
    assert main([*base[:1], "set", *base[1:], "--story", "999999", "--decision", "pin"]) == 2
    assert main([*base[:1], "set", *base[1:], "--story", sid]) == 2
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Curation)) == 0
