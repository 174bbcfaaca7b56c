"""store.articles: one row per (source, GUID or URL), updated in place, never duplicated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from store.articles import MAX_KEY_CHARS, article_key, country_rows, upsert_articles
from store.models import ArticleCountry, ArticleRow, SourceRow, StoryRow

NOW = datetime(2024, 1, 16, 6, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=6)


def _articles(session):
    return session.scalars(select(ArticleRow).order_by(ArticleRow.id)).all()


def test_new_then_unchanged(store_session, store_make_article) -> None:
    batch = [store_make_article(guid=f"g{i}") for i in range(3)]
    assert upsert_articles(store_session, batch, NOW) == ["new"] * 3
    store_session.commit()
    first = {a.id: a.updated_at for a in _articles(store_session)}

    assert upsert_articles(store_session, batch, LATER) == ["unchanged"] * 3
    store_session.commit()
    store_session.expire_all()
    rows = _articles(store_session)
    assert len(rows) == 3
    assert {a.id: a.updated_at for a in rows} == first  # nothing rewritten...
    assert all(a.last_seen == LATER and a.first_seen == NOW for a in rows)  # ...but seen again


def test_stored_fields(store_session, store_make_article) -> None:
    article = store_make_article(guid="g1", countries=["gh", "TG"], topics=["arrests"])
    upsert_articles(store_session, [article], NOW)
    store_session.commit()
    row = store_session.scalars(select(ArticleRow)).one()
    assert (row.source_id, row.guid, row.guid_key, row.url) == (
        "mfwa",
        "g1",
        "g1",
        article.url,
    )
    assert row.published == article.published and row.published.tzinfo is UTC
    assert (row.title, row.text, row.summary) == (article.title, article.text, article.summary)
    assert (row.language, row.region, row.topics) == ("en", "africa", ["arrests"])
    assert row.content_hash == article.content_hash
    assert (row.feed_url, row.fetched_via) == (article.feed_url, "feed")
    assert [(c.country, c.is_primary) for c in row.countries] == [("GH", True), ("TG", False)]
    # Written through the driver (store._sql.driver_executemany): the stored values answer
    # SQLAlchemy's own comparisons on each backend (a bool stored as 'True' would not).
    primary = select(ArticleCountry.country).where(ArticleCountry.is_primary.is_(True))
    assert store_session.scalars(primary).all() == ["GH"]
    weights = select(ArticleCountry.country).where(ArticleCountry.weight == 1.0)
    assert sorted(store_session.scalars(weights)) == ["GH", "TG"]
    assert row.story_id is not None
    assert (row.match_reason, row.kind) == ("first article of its story", "report")  # its title
    assert store_session.get(StoryRow, row.story_id).representative_article_id == row.id
    # a placeholder source row was created so the foreign key holds before sync_sources ran
    assert store_session.get(SourceRow, "mfwa").name == "mfwa"


def test_changed_title_text_or_date_updates_in_place(store_session, store_make_article) -> None:
    upsert_articles(store_session, [store_make_article(guid="g1")], NOW)
    store_session.commit()
    before = store_session.scalars(select(ArticleRow)).one()
    story_id, article_id = before.story_id, before.id

    edits = [
        {"title": "Journalist released"},
        {"text": "A completely new body " * 10},
        {"summary": "New summary"},
        {"published": datetime(2024, 1, 14, tzinfo=UTC)},
        {"countries": ["NG"]},
    ]
    for edit in edits:
        assert upsert_articles(store_session, [store_make_article(guid="g1", **edit)], LATER) == [
            "updated"
        ], edit
        store_session.commit()
    store_session.expire_all()
    row = store_session.scalars(select(ArticleRow)).one()
    assert (row.id, row.story_id) == (article_id, story_id)
    assert row.title == "Report g1"  # the last edit restored the default title
    assert row.updated_at == LATER
    assert [c.country for c in row.countries] == ["NG"]
    assert store_session.scalar(select(func.count()).select_from(StoryRow)) == 1
    story = store_session.get(StoryRow, story_id)
    assert story.countries == ["NG"]


def test_title_edit_keeps_the_story(store_session, store_make_article) -> None:
    upsert_articles(store_session, [store_make_article(guid="g1", title="Journalist arested")], NOW)
    store_session.commit()
    out = upsert_articles(
        store_session, [store_make_article(guid="g1", title="Journalist arrested")], LATER
    )
    store_session.commit()
    assert out == ["updated"]
    rows = _articles(store_session)
    assert len(rows) == 1 and rows[0].title == "Journalist arrested"
    assert store_session.scalar(select(func.count()).select_from(StoryRow)) == 1


def test_duplicate_guids_in_one_batch_collapse_last_wins(store_session, store_make_article) -> None:
    batch = [
        store_make_article(guid="dup", title="first"),
        store_make_article(guid="other"),
        store_make_article(guid="dup", title="second"),
    ]
    assert upsert_articles(store_session, batch, NOW) == ["duplicate", "new", "new"]
    store_session.commit()
    rows = _articles(store_session)
    assert sorted(r.title for r in rows) == ["Report other", "second"]


def test_without_guid_the_url_is_the_key(store_session, store_make_article) -> None:
    a = store_make_article(guid=None, url="https://mfwa.example.org/a")
    assert upsert_articles(store_session, [a], NOW) == ["new"]
    assert upsert_articles(store_session, [a], LATER) == ["unchanged"]
    store_session.commit()
    row = store_session.scalars(select(ArticleRow)).one()
    assert row.guid is None and row.guid_key == "https://mfwa.example.org/a"


def test_same_guid_in_two_sources_makes_two_articles(store_session, store_make_article) -> None:
    out = upsert_articles(
        store_session,
        [store_make_article(source_id="a", guid="1"), store_make_article(source_id="b", guid="1")],
        NOW,
    )
    assert out == ["new", "new"]


def test_untrusted_date_does_not_move_the_stored_date(store_session, store_make_article) -> None:
    undated = store_make_article(guid="g1", published=NOW, date_flag="missing", raw_date=None)
    upsert_articles(store_session, [undated], NOW)
    store_session.commit()
    # next run: the pipeline again substitutes its own first-seen time
    again = store_make_article(guid="g1", published=LATER, date_flag="missing", raw_date=None)
    assert upsert_articles(store_session, [again], LATER) == ["unchanged"]
    store_session.commit()
    assert store_session.scalars(select(ArticleRow.published)).one() == NOW


def test_country_rows() -> None:
    from pipeline.items import Article

    article = Article(
        source_id="s",
        guid=None,
        url="u",
        title="t",
        text="",
        summary="",
        published=NOW,
        date_flag=None,
        raw_date=None,
        language=None,
        content_hash="h",
        countries=["gh", "GH", "TG", "xxx"],
        country_weights={"GH": 0.9, "TG": 0.4, "NG": 0.5},
    )
    assert country_rows(article.countries, article.country_weights) == [
        ("GH", 0.9, True), ("TG", 0.4, False), ("NG", 0.5, False)
    ]


def test_article_key() -> None:
    assert article_key(" g1 ", "https://x") == "g1"
    assert article_key(None, "https://x") == "https://x"
    assert article_key("", "https://x") == "https://x"
    long_key = article_key("x" * (MAX_KEY_CHARS + 1), "u")
    assert long_key.startswith("sha256:") and len(long_key) < MAX_KEY_CHARS
    with pytest.raises(ValueError):
        article_key(None, "")


def test_very_long_guid_and_url(store_session, store_make_article) -> None:
    url = "https://mfwa.example.org/" + "a" * 5000
    article = store_make_article(guid="g" * 4000, url=url)
    assert upsert_articles(store_session, [article], NOW) == ["new"]
    assert upsert_articles(store_session, [article], LATER) == ["unchanged"]
    store_session.commit()
    row = store_session.scalars(select(ArticleRow)).one()
    assert row.guid == "g" * 4000 and row.url == url


def test_naive_dates_are_refused(store_session, store_make_article) -> None:
    with pytest.raises(ValueError, match="naive"):
        upsert_articles(store_session, [store_make_article(published=datetime(2024, 1, 1))], NOW)
    with pytest.raises(ValueError, match="naive"):
        upsert_articles(store_session, [store_make_article()], datetime(2024, 1, 1))


def test_empty_batch(store_session) -> None:
    assert upsert_articles(store_session, [], NOW) == []


def test_upsert_does_not_commit(store_db, store_make_article) -> None:
    _, factory = store_db
    with factory() as session:
        upsert_articles(session, [store_make_article(guid="g1")], NOW)
        session.rollback()
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(ArticleRow)) == 0
        assert session.scalar(select(func.count()).select_from(ArticleCountry)) == 0


def test_a_first_harvest_of_many_feeds_stores_one_article_and_story_each(
    store_db, store_make_article
) -> None:
    """20 feeds × 50 entries, one upsert and one commit per feed, as the harvester does.
    (The speed of this path is measured by bench/harvest.py, not asserted here.)"""
    _, factory = store_db
    feeds = [
        [
            store_make_article(source_id=f"src{f}", guid=f"{f}-{i}",
                               text=f"Report {f}-{i}: " + " ".join(f"w{f}x{i}y{k}" for k in range(40)))
            for i in range(50)
        ]
        for f in range(20)
    ]
    with factory() as session:
        for batch in feeds:
            assert upsert_articles(session, batch, NOW) == ["new"] * 50
            session.commit()
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(ArticleRow)) == 1000
        assert session.scalar(select(func.count()).select_from(StoryRow)) == 1000


def test_a_key_inserted_by_another_writer_meanwhile_is_updated(
    store_session, store_make_article, monkeypatch
) -> None:
    """The SELECT misses a row another process inserts just before our INSERT: ON CONFLICT
    skips it and the entry is handled as an existing article, not duplicated."""
    import store.articles as articles

    upsert_articles(store_session, [store_make_article(guid="g1")], NOW)
    real = articles._load_existing
    calls = []

    def stale_first(session, keys):
        calls.append(keys)
        return {} if len(calls) == 1 else real(session, keys)

    monkeypatch.setattr(articles, "_load_existing", stale_first)
    out = upsert_articles(store_session, [store_make_article(guid="g1", title="Edited")], LATER)
    assert out == ["updated"] and len(calls) == 2
    store_session.commit()
    (row,) = _articles(store_session)
    assert row.title == "Edited"


def test_a_new_row_is_inserted_with_every_column_the_entry_fills(store_make_article) -> None:
    """_insert_new binds the columns of _VALUE_COLUMNS by position: a column _prepare fills
    and that list lacks would be silently left out of a new row."""
    from store.articles import _VALUE_COLUMNS, _prepare

    assert list(_prepare(store_make_article()).values) == list(_VALUE_COLUMNS)
