"""`roundup retag`: stored articles get the tags the current data files give, and only the
articles whose tags change are written."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import select

from pipeline.tagging import tag
from store.articles import upsert_articles
from store.models import ArticleCountry, ArticleRow, StoryRow
from store.retag import retag_all
from tests.harvesting import ROOT


def test_retag_rewrites_stale_tags_and_then_changes_nothing(store_db, store_make_article) -> None:
    from datetime import UTC, datetime

    _, factory = store_db
    stale = store_make_article(
        guid="k1", title="Kenya: journalist detained in Nairobi",
        text="Police in Nairobi detained a Kenyan reporter overnight after a report on land sales.",
        countries=["GH"], region="africa", topics=[])
    already = store_make_article(
        guid="m1", title="Mexico: reporter shot dead in Culiacán",
        text="Gunmen killed a journalist in Sinaloa, Mexico, on Tuesday night.")
    fresh = tag(already.title, already.text)
    already.countries, already.country_weights = list(fresh.countries), dict(fresh.weights)
    already.region, already.topics = fresh.region, list(fresh.topics)
    with factory.begin() as session:
        upsert_articles(session, [stale, already], datetime(2024, 1, 20, tzinfo=UTC))
    with factory.begin() as session:
        changed, total = retag_all(session, tag)
    assert (changed, total) == (1, 2)
    with factory() as session:
        row = session.scalars(select(ArticleRow).where(ArticleRow.guid == "k1")).one()
        assert row.topics and "arrest-detention" in row.topics
        primary = session.scalars(select(ArticleCountry.country).where(
            ArticleCountry.article_id == row.id, ArticleCountry.is_primary)).one()
        assert primary == "KE"
        story = session.get(StoryRow, row.story_id)
        assert story is not None and story.countries[0] == "KE"  # the story follows its articles
    with factory.begin() as session:
        assert retag_all(session, tag) == (0, 2)


def test_roundup_retag_command(tmp_path) -> None:
    db = f"sqlite:///{tmp_path / 'r.db'}"
    out = subprocess.run([sys.executable, "-m", "roundups.cli", "retag", "--db", db], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "retag: 0 of 0 article(s) changed" in out.stdout
