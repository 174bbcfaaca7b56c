"""store.queries and store.sources: what round-ups and `roundup sources` read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from store.articles import upsert_articles
from store.fetchstate import record_failure, record_fetch
from store.models import SourceRow
from store.queries import source_health, stories_in, story_detail
from store.registry_types import Source
from store.sources import sync_sources

NOW = datetime(2024, 3, 5, tzinfo=UTC)
JAN = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC))
FEB = (datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC))

SOURCES = [
    Source(
        id="mfwa",
        name="Media Foundation for West Africa",
        homepage="https://mfwa.example/",
        feeds=("https://mfwa.example/feed/",),
        country="GH",
        region="africa",
        languages=("en", "fr"),
    ),
    Source(
        id="smex",
        name="SMEX",
        homepage="https://smex.example/",
        region="mena",
        languages=("ar", "en"),
    ),
]


@pytest.fixture
def harvested(store_session, store_make_article):
    sync_sources(store_session, SOURCES, now=NOW)
    joint = "https://ifex.example/joint"
    batch = [
        # one story, two sources, January and February articles
        store_make_article(
            source_id="mfwa",
            guid="m1",
            url=joint,
            region="africa",
            published=datetime(2024, 1, 31, 23, 0, tzinfo=UTC),
            text="m " * 50,
            title="Journalists detained in Accra",
        ),
        store_make_article(
            source_id="smex",
            guid="s1",
            url=joint,
            region="africa",
            published=datetime(2024, 2, 2, tzinfo=UTC),
            text="s " * 50,
            language="ar",
        ),
        # africa, February only
        store_make_article(
            source_id="mfwa",
            guid="m2",
            region="africa",
            published=datetime(2024, 2, 10, tzinfo=UTC),
            text="m2 " * 50,
        ),
        # mena, January
        store_make_article(
            source_id="smex",
            guid="s2",
            region="mena",
            countries=["LB"],
            published=datetime(2024, 1, 5, tzinfo=UTC),
            text="s2 " * 50,
        ),
        # no region, January
        store_make_article(
            source_id="smex",
            guid="s3",
            region=None,
            countries=[],
            published=datetime(2024, 1, 6, tzinfo=UTC),
            text="s3 " * 50,
        ),
        # exactly at the end of January: belongs to February
        store_make_article(
            source_id="mfwa",
            guid="m3",
            region="africa",
            published=datetime(2024, 2, 1, tzinfo=UTC),
            text="m3 " * 50,
        ),
    ]
    upsert_articles(store_session, batch, NOW)
    store_session.commit()
    return store_session


def _guids(views) -> list[list[str]]:
    return [[a.url.rsplit("/", 1)[-1] for a in v.articles] for v in views]


def test_stories_in_region_and_month(harvested) -> None:
    africa_jan = stories_in(harvested, region="africa", start=JAN[0], end=JAN[1])
    assert len(africa_jan) == 1
    (story,) = africa_jan
    assert story.headline == "Journalists detained in Accra"
    # kind is classify_kind's (store.signatories): a short single-incident text is an alert.
    assert story.source_count == 2 and story.region == "africa" and story.kind == "alert"
    assert story.published == datetime(2024, 1, 31, 23, 0, tzinfo=UTC)
    assert [(a.source_id, a.source_name, a.language) for a in story.articles] == [
        ("mfwa", "Media Foundation for West Africa", "en"),
        ("smex", "SMEX", "ar"),
    ]
    assert story.countries == ["GH"] and story.topics == ["journalists"]

    africa_feb = stories_in(harvested, region="africa", start=FEB[0], end=FEB[1])
    assert [len(s.articles) for s in africa_feb] == [2, 1, 1]
    assert [s.published for s in africa_feb] == sorted(s.published for s in africa_feb)

    mena_jan = stories_in(harvested, region="mena", start=JAN[0], end=JAN[1])
    assert [s.countries for s in mena_jan] == [["LB"]]
    assert stories_in(harvested, region="mena", start=FEB[0], end=FEB[1]) == []
    assert stories_in(harvested, region="americas", start=JAN[0], end=JAN[1]) == []

    everything_jan = stories_in(harvested, region=None, start=JAN[0], end=JAN[1])
    assert sorted((s.region or "") for s in everything_jan) == ["", "africa", "mena"]


def test_stories_in_refuses_naive_bounds(harvested) -> None:
    with pytest.raises(ValueError):
        stories_in(harvested, region=None, start=datetime(2024, 1, 1), end=JAN[1])


def test_story_detail(harvested) -> None:
    (story,) = stories_in(harvested, region="africa", start=JAN[0], end=JAN[1])
    detail = story_detail(harvested, story.id)
    assert detail == story
    assert story_detail(harvested, 999_999) is None


def test_source_health(harvested) -> None:
    record_fetch(
        harvested,
        "mfwa",
        "https://mfwa.example/feed/",
        status=200,
        etag='"e"',
        last_modified=None,
        now=NOW - timedelta(hours=1),
        entries=3,
    )
    record_failure(
        harvested, "smex", "https://smex.example/feed/", error="HTTP 503", http_status=503, now=NOW
    )
    record_failure(
        harvested, "smex", "https://smex.example/feed/", error="HTTP 502", http_status=502, now=NOW
    )
    harvested.commit()
    health = {h.source_id: h for h in source_health(harvested, now=NOW)}
    assert set(health) == {"mfwa", "smex"}
    mfwa, smex = health["mfwa"], health["smex"]
    assert mfwa.name == "Media Foundation for West Africa" and mfwa.enabled
    assert mfwa.last_success == NOW - timedelta(hours=1) and mfwa.last_error is None
    assert mfwa.article_count == 3
    assert mfwa.articles_per_month == {"2024-01": 1, "2024-02": 2}
    assert mfwa.last_article_seen == NOW
    assert mfwa.last_published == datetime(2024, 2, 10, tzinfo=UTC)
    assert [f.entries_seen for f in mfwa.feeds] == [3]
    assert smex.consecutive_failures == 2 and smex.last_error == "HTTP 502"
    assert smex.last_success is None and smex.gone == 0
    assert smex.articles_per_month == {"2024-01": 2, "2024-02": 1}


def test_sync_sources(store_session) -> None:
    result = sync_sources(store_session, SOURCES, now=NOW)
    assert result.added == ("mfwa", "smex") and result.changed == ()
    store_session.commit()
    row = store_session.get(SourceRow, "mfwa")
    assert row.feeds == ["https://mfwa.example/feed/"] and row.languages == ["en", "fr"]
    assert (row.country, row.region, row.enabled) == ("GH", "africa", True)

    renamed = Source(
        id="mfwa",
        name="MFWA",
        homepage="https://mfwa.example/",
        extra={"since": datetime(2020, 1, 1, tzinfo=UTC)},
    )
    result = sync_sources(store_session, [renamed], now=NOW, disable_missing=True)
    assert result == type(result)(added=(), changed=("mfwa",), disabled=("smex",))
    store_session.commit()
    store_session.expire_all()
    row = store_session.get(SourceRow, "mfwa")
    assert (
        row.name == "MFWA"
        and row.feeds == []
        and row.extra == {"since": "2020-01-01T00:00:00+00:00"}
    )
    assert store_session.get(SourceRow, "smex").enabled is False
    assert sync_sources(store_session, [renamed], now=NOW).changed == ()


def test_sync_sources_fills_in_a_placeholder(store_session, store_make_article) -> None:
    upsert_articles(store_session, [store_make_article(source_id="mfwa", guid="1")], NOW)
    sync_sources(store_session, SOURCES[:1], now=NOW)
    store_session.commit()
    store_session.expire_all()
    assert store_session.get(SourceRow, "mfwa").name == "Media Foundation for West Africa"
