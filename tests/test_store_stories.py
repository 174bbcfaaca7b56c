"""store.stories: articles that report the same thing share one story."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from store.articles import upsert_articles
from store.curation import curations_for, set_curation
from store.models import ArticleRow, Curation, StoryRow
from store.stories import (
    MIN_TEXT_FOR_HASH,
    assign_stories,
    assign_story,
    merge_stories,
    refresh_story,
)

NOW = datetime(2024, 1, 16, tzinfo=UTC)
SHARED_URL = "https://ifex.example.org/joint-statement"
LONG_TEXT = "The undersigned organisations condemn the arrest of the journalist. " * 5


def _stories(session) -> list[StoryRow]:
    return session.scalars(select(StoryRow).order_by(StoryRow.id)).all()


def _story_of(session) -> dict[tuple[str, str | None], int | None]:
    return {
        (a.source_id, a.guid): a.story_id
        for a in session.scalars(select(ArticleRow).order_by(ArticleRow.id))
    }


def test_same_canonical_url_across_sources_is_one_story(store_session, store_make_article) -> None:
    upsert_articles(
        store_session, [store_make_article(source_id="a", guid="1", url=SHARED_URL)], NOW
    )
    store_session.commit()
    upsert_articles(
        store_session,
        [store_make_article(source_id="b", guid="x", url=SHARED_URL, text="other words " * 20)],
        NOW,
    )
    store_session.commit()
    (story,) = _stories(store_session)
    assert story.source_count == 2 and story.article_count == 2
    assert set(_story_of(store_session).values()) == {story.id}


def test_same_url_within_one_batch_across_sources(store_session, store_make_article) -> None:
    batch = [
        store_make_article(source_id="a", guid="1", url=SHARED_URL, text="one " * 40),
        store_make_article(source_id="b", guid="2", url=SHARED_URL, text="two " * 40),
    ]
    upsert_articles(store_session, batch, NOW)
    store_session.commit()
    (story,) = _stories(store_session)
    assert story.source_count == 2


def test_same_url_same_source_different_guid_stays_apart(store_session, store_make_article) -> None:
    # Some feeds link every entry to the same page; that must not fold a source into one story.
    batch = [
        store_make_article(source_id="a", guid="1", url=SHARED_URL, text="one " * 40),
        store_make_article(source_id="a", guid="2", url=SHARED_URL, text="two " * 40),
    ]
    upsert_articles(store_session, batch, NOW)
    assert len(_stories(store_session)) == 2


def test_same_content_hash_across_sources_is_one_story(store_session, store_make_article) -> None:
    upsert_articles(
        store_session, [store_make_article(source_id="a", guid="1", text=LONG_TEXT)], NOW
    )
    store_session.commit()
    upsert_articles(
        store_session,
        [store_make_article(source_id="b", guid="2", url="https://b.example/x", text=LONG_TEXT)],
        NOW,
    )
    store_session.commit()
    (story,) = _stories(store_session)
    assert story.source_count == 2


def test_short_texts_with_equal_hashes_are_not_merged(store_session, store_make_article) -> None:
    short = "Read more…"
    assert len(short) < MIN_TEXT_FOR_HASH
    upsert_articles(
        store_session,
        [
            store_make_article(source_id="a", guid="1", text=short),
            store_make_article(source_id="b", guid="2", text=short),
        ],
        NOW,
    )
    assert len(_stories(store_session)) == 2


def test_different_reports_are_different_stories(store_session, store_make_article) -> None:
    upsert_articles(
        store_session,
        [
            store_make_article(source_id="a", guid="1", text="first report " * 20),
            store_make_article(source_id="b", guid="2", text="second report " * 20),
        ],
        NOW,
    )
    store_session.commit()
    stories = _stories(store_session)
    assert len(stories) == 2
    assert all(s.source_count == 1 for s in stories)


def test_story_fields_are_derived_from_articles(store_session, store_make_article) -> None:
    early = datetime(2024, 1, 10, tzinfo=UTC)
    batch = [
        store_make_article(
            source_id="a",
            guid="1",
            url=SHARED_URL,
            published=early + timedelta(days=2),
            region="africa",
            countries=["NG"],
            topics=["arrests"],
            text="a " * 50,
        ),
        store_make_article(
            source_id="b",
            guid="2",
            url=SHARED_URL,
            published=early,
            region="mena",
            countries=["EG", "NG"],
            topics=["censorship", "arrests"],
            text="b " * 50,
        ),
        store_make_article(
            source_id="c",
            guid="3",
            url=SHARED_URL,
            published=early + timedelta(days=1),
            region="africa",
            countries=["NG"],
            topics=["arrests"],
            text="c " * 50,
        ),
    ]
    upsert_articles(store_session, batch, NOW)
    store_session.commit()
    (story,) = _stories(store_session)
    b_row = store_session.scalars(select(ArticleRow).where(ArticleRow.source_id == "b")).one()
    assert story.representative_article_id == b_row.id  # the earliest report
    assert story.published == early
    assert story.region == "africa"  # two articles to one
    assert story.countries == ["NG", "EG"]
    assert story.topics == ["arrests", "censorship"]
    assert (story.source_count, story.article_count, story.kind) == (3, 3, "report")


def test_assign_story_and_refresh_story(store_session, store_make_article) -> None:
    upsert_articles(
        store_session, [store_make_article(source_id="a", guid="1", url=SHARED_URL)], NOW
    )
    store_session.commit()
    row = store_session.scalars(select(ArticleRow)).one()
    assert assign_story(store_session, row) == row.story_id
    assert assign_story(store_session, row.id) == row.story_id
    assert assign_stories(store_session, [row.id]) == {}  # already assigned

    # detach the article from its story, then assign again: it rejoins by URL
    other = store_make_article(source_id="b", guid="2", url=SHARED_URL, text="b " * 50)
    upsert_articles(store_session, [other], NOW)
    b_row = store_session.scalars(select(ArticleRow).where(ArticleRow.source_id == "b")).one()
    b_row.story_id = None
    store_session.flush()
    story = store_session.get(StoryRow, row.story_id)
    refresh_story(store_session, story)
    assert story.source_count == 1
    assert assign_story(store_session, b_row) == row.story_id
    store_session.refresh(story)
    assert story.source_count == 2


def test_merge_stories_moves_articles_and_curation(store_session, store_make_article) -> None:
    upsert_articles(
        store_session,
        [
            store_make_article(source_id="a", guid="1", text="first report " * 20),
            store_make_article(source_id="b", guid="2", text="second report " * 20),
        ],
        NOW,
    )
    keep, drop = (s.id for s in _stories(store_session))
    set_curation(store_session, keep, "africa/2024-01", decision="include", note="keep note")
    set_curation(
        store_session, drop, "africa/2024-01", decision="pin", headline="Edited", note="drop note"
    )
    set_curation(store_session, drop, "africa/2024-02", decision="exclude")
    store_session.commit()

    merge_stories(store_session, keep, drop, now=NOW)
    store_session.commit()
    store_session.expire_all()

    (story,) = _stories(store_session)
    assert story.id == keep and story.source_count == 2 and story.article_count == 2
    assert set(_story_of(store_session).values()) == {keep}
    jan = curations_for(store_session, "africa/2024-01")
    assert list(jan) == [keep]
    assert jan[keep].decision == "include"  # the kept story's decision stands
    assert jan[keep].headline == "Edited"  # gaps are filled from the dropped one
    assert jan[keep].note == "keep note\n\ndrop note"
    assert list(curations_for(store_session, "africa/2024-02")) == [keep]
    assert store_session.scalar(select(func.count()).select_from(Curation)) == 2


def test_merge_stories_refuses_nonsense(store_session, store_make_article) -> None:
    upsert_articles(store_session, [store_make_article(guid="1")], NOW)
    (story,) = _stories(store_session)
    with pytest.raises(ValueError):
        merge_stories(store_session, story.id, story.id)
    with pytest.raises(LookupError):
        merge_stories(store_session, story.id, story.id + 100)


def test_curation_decision_is_checked(store_session, store_make_article) -> None:
    upsert_articles(store_session, [store_make_article(guid="1")], NOW)
    (story,) = _stories(store_session)
    with pytest.raises(ValueError):
        set_curation(store_session, story.id, "africa/2024-01", decision="maybe")
    first = set_curation(store_session, story.id, "africa/2024-01", decision="include")
    again = set_curation(store_session, story.id, "africa/2024-01", decision="exclude")
    assert first.id == again.id and again.decision == "exclude"


def test_roundup_key() -> None:
    from store.curation import roundup_key

    assert roundup_key("africa", "2024-01") == "africa/2024-01"
    with pytest.raises(ValueError):
        roundup_key("antarctica", "2024-01")
    with pytest.raises(ValueError):
        roundup_key("africa", "2024-13")
