"""pipeline.normalise: RawReport → Article, field by field."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from pipeline.errors import PipelineError, SkipItem
from pipeline.items import Article, RawReport
from pipeline.normalise import normalise
from pipeline.text import content_hash
from store.registry_types import Source

NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)
FEED = "https://www.mfwa.org/feed/"
SOURCE = Source(
    id="mfwa", name="Media Foundation for West Africa", homepage="https://www.mfwa.org/",
    feeds=(FEED,), country="GH", region="africa", languages=("en", "fr"),
    timezone="Africa/Accra",
)
BODY = (
    "<p>Police in Accra arrested the journalist on Monday after he published a report on "
    "corruption in the health ministry.</p><script>alert(1)</script>"
    "<p>He was released on bail the next day.</p>"
)


def raw(**overrides: object) -> RawReport:
    fields: dict[str, object] = {
        "source_id": "mfwa",
        "url": "/2024/05/journalist-arrested/?utm_source=rss&utm_medium=rss",
        "guid": "https://www.mfwa.org/?p=123",
        "title": "Journalist &amp; blogger arrested in Accra",
        "summary_html": "<p>Police in Accra arrested the journalist on Monday.</p>",
        "content_html": BODY,
        "raw_date": "Mon, 13 May 2024 10:00:00 +0000",
        "language_hint": "en-US",
        "base_url": FEED,
        "feed_url": FEED,
    }
    fields.update(overrides)
    return RawReport(**fields)  # type: ignore[arg-type]


def test_typical_entry() -> None:
    article = normalise(raw(), SOURCE, now=NOW)
    text = (
        "Police in Accra arrested the journalist on Monday after he published a report on "
        "corruption in the health ministry.\n\nHe was released on bail the next day."
    )
    assert article == Article(
        source_id="mfwa",
        guid="https://www.mfwa.org/?p=123",
        url="https://www.mfwa.org/2024/05/journalist-arrested/",
        title="Journalist & blogger arrested in Accra",
        text=text,
        summary="Police in Accra arrested the journalist on Monday.",
        published=datetime(2024, 5, 13, 10, tzinfo=UTC),
        date_flag=None,
        raw_date="Mon, 13 May 2024 10:00:00 +0000",
        language="en",
        content_hash=content_hash(text),
        countries=["GH"],
        country_weights={"GH": 1.0},
        region="africa",
        topics=[],
        feed_url=FEED,
        fetched_via="feed",
    )


@pytest.mark.parametrize(
    ("overrides", "url"),
    [
        pytest.param({"url": None}, "https://www.mfwa.org/?p=123", id="no-link-guid-url"),
        pytest.param({"url": "  "}, "https://www.mfwa.org/?p=123", id="blank-link-guid-url"),
        pytest.param({"url": "javascript:alert(1)"}, "https://www.mfwa.org/?p=123",
                     id="refused-link-guid-url"),
        pytest.param({"url": "story", "base_url": "https://www.mfwa.org/news/"},
                     "https://www.mfwa.org/news/story", id="xml-base"),
        pytest.param({"url": "story", "base_url": None}, "https://www.mfwa.org/feed/story",
                     id="feed-url-when-no-base"),
    ],
)
def test_url(overrides: dict[str, object], url: str) -> None:
    assert normalise(raw(**overrides), SOURCE, now=NOW).url == url


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        pytest.param({"url": None, "guid": None}, "no link or guid", id="neither"),
        pytest.param({"url": "", "guid": " "}, "no link or guid", id="both-blank"),
        pytest.param({"url": None, "guid": "tag:mfwa.org,2024:123"}, "no usable link",
                     id="opaque-guid-only"),
        pytest.param({"url": "mailto:x@y.org", "guid": None}, "no usable link", id="mailto-only"),
    ],
)
def test_skipped(overrides: dict[str, object], reason: str) -> None:
    with pytest.raises(SkipItem) as caught:
        normalise(raw(**overrides), SOURCE, now=NOW)
    assert caught.value.reason.startswith(reason)
    assert isinstance(caught.value, PipelineError)


@pytest.mark.parametrize(
    ("overrides", "title"),
    [
        pytest.param({"title": None}, "Police in Accra arrested the journalist on Monday after "
                     "he published a…", id="missing-from-text"),
        pytest.param({"title": "  "}, "Police in Accra arrested the journalist on Monday after "
                     "he published a…", id="blank-from-text"),
        pytest.param({"title": None, "content_html": None, "summary_html": "<p>Short.</p>"},
                     "Short.", id="from-summary"),
        pytest.param({"title": None, "content_html": None, "summary_html": None},
                     "https://www.mfwa.org/2024/05/journalist-arrested/", id="from-url"),
        pytest.param({"title": "<b>Alert</b>:\n  reporter <script>x</script>detained"},
                     "Alert: reporter detained", id="markup-and-newlines"),
        pytest.param({"title": "Ghanaâ€™s press"}, "Ghana’s press", id="mojibake"),
    ],
)
def test_title(overrides: dict[str, object], title: str) -> None:
    assert normalise(raw(**overrides), SOURCE, now=NOW).title == title


def test_text_falls_back_to_summary_and_summary_to_text() -> None:
    article = normalise(raw(content_html=None, summary_html=BODY), SOURCE, now=NOW)
    assert article.text.startswith("Police in Accra arrested the journalist on Monday after")
    assert article.summary.startswith("Police in Accra arrested the journalist on Monday after")


def test_summary_from_text_when_no_summary() -> None:
    article = normalise(raw(summary_html=None), SOURCE, now=NOW)
    assert article.summary == article.text.replace("\n\n", " ")


def test_wordpress_footer_and_read_more_removed() -> None:
    article = normalise(
        raw(
            content_html=BODY + "<p>The post Journalist arrested appeared first on MFWA.</p>",
            summary_html="<p>Police arrested the journalist [&#8230;]</p>"
            "<p>The post Journalist arrested appeared first on MFWA.</p>",
        ),
        SOURCE,
        now=NOW,
    )
    assert "appeared first" not in article.text
    assert article.summary == "Police arrested the journalist"
    assert article.content_hash == normalise(raw(), SOURCE, now=NOW).content_hash


def test_text_is_capped() -> None:
    article = normalise(raw(content_html="<p>" + "word " * 10_000 + "</p>"), SOURCE, now=NOW,
                        max_text_chars=1_000)
    assert 500 <= len(article.text) <= 1_000


def test_hash_ignores_title_and_markup() -> None:
    a = normalise(raw(), SOURCE, now=NOW)
    b = normalise(raw(title="Another headline", content_html=BODY.upper().replace("<P>", "<div>")),
                  SOURCE, now=NOW)
    assert a.content_hash == b.content_hash


def test_hash_of_title_when_no_text() -> None:
    article = normalise(raw(content_html=None, summary_html=None), SOURCE, now=NOW)
    assert article.content_hash == content_hash("Journalist & blogger arrested in Accra")


@pytest.mark.parametrize(
    ("raw_date", "published", "flag"),
    [
        pytest.param("2024-05-13 10:00", datetime(2024, 5, 13, 10, tzinfo=UTC), None,
                     id="naive-in-source-tz"),
        pytest.param("12 janvier 2024", datetime(2024, 1, 12, tzinfo=UTC), None, id="french"),
        pytest.param("2099-01-01", NOW, "future", id="future"),
        pytest.param(None, NOW, "missing", id="missing"),
    ],
)
def test_date(raw_date: str | None, published: datetime, flag: str | None) -> None:
    article = normalise(raw(raw_date=raw_date), SOURCE, now=NOW)
    assert (article.published, article.date_flag, article.raw_date) == (published, flag, raw_date)


def test_naive_date_uses_the_source_time_zone() -> None:
    source = Source(id="x", name="X", homepage="https://x.org/", timezone="Asia/Manila")
    article = normalise(raw(raw_date="2024-05-13 10:00"), source, now=NOW)
    assert article.published == datetime(2024, 5, 13, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("overrides", "language"),
    [
        pytest.param({}, "en", id="english"),
        pytest.param({"title": "Un journaliste arrêté à Dakar", "language_hint": "en",
                      "content_html": "<p>Le journaliste a été arrêté lundi par la police à "
                      "Dakar après la publication d'une enquête sur la corruption.</p>"},
                     "fr", id="text-beats-wrong-feed-language"),
        pytest.param({"title": "Alerte", "content_html": None, "summary_html": None,
                      "language_hint": None}, "fr", id="short-picks-among-source-languages"),
    ],
)
def test_language(overrides: dict[str, object], language: str) -> None:
    assert normalise(raw(**overrides), SOURCE, now=NOW).language == language


def test_no_source() -> None:
    article = normalise(raw(raw_date="2024-05-13 10:00"), None, now=NOW)
    assert (article.countries, article.country_weights, article.region) == ([], {}, None)
    assert article.published == datetime(2024, 5, 13, 10, tzinfo=UTC)


@dataclass
class FakeTags:
    countries: list[str] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)
    region: str | None = None
    topics: list[str] = field(default_factory=list)


def test_tagger_seam() -> None:
    seen: list[tuple[str, str, Source | None]] = []

    def tagger(title: str, text: str, source: Source | None) -> FakeTags:
        seen.append((title, text, source))
        return FakeTags(["SN", "GH"], {"SN": 0.7, "GH": 0.3}, "africa", ["arrest-detention"])

    article = normalise(raw(), SOURCE, now=NOW, tagger=tagger)
    assert seen == [(article.title, article.text, SOURCE)]
    assert article.countries == ["SN", "GH"]
    assert article.country_weights == {"SN": 0.7, "GH": 0.3}
    assert (article.region, article.topics) == ("africa", ["arrest-detention"])


def test_tagger_without_countries_keeps_home_country() -> None:
    article = normalise(raw(), SOURCE, now=NOW,
                        tagger=lambda title, text, source: FakeTags(topics=["threats"]))
    assert (article.countries, article.region, article.topics) == (["GH"], "africa", ["threats"])


def test_hostile_markup_never_reaches_the_article() -> None:
    article = normalise(
        raw(
            title='<img src=x onerror="alert(1)">Title<svg onload=alert(2)>',
            content_html='<p>Text<a href="javascript:alert(3)">link</a></p><style>x{}</style>',
            summary_html="<script>alert(4)</script>Summary",
        ),
        SOURCE,
        now=NOW,
    )
    for value in (article.title, article.text, article.summary):
        assert "<" not in value and "alert" not in value and "javascript" not in value
    assert (article.title, article.text, article.summary) == ("Title", "Textlink", "Summary")


def test_guid_kept_as_given_and_blank_guid_is_none() -> None:
    assert normalise(raw(guid="  abc-123 "), SOURCE, now=NOW).guid == "abc-123"
    assert normalise(raw(guid=""), SOURCE, now=NOW).guid is None


def test_read_more_is_dropped_as_the_regex_over_the_whole_text_would() -> None:
    import random

    from pipeline.normalise import _READ_MORE, _drop_read_more

    rng = random.Random(5)
    endings = ["", " Read more", " Read more »", "Continue reading →", " […]", " [...]", " [...] ",
               "Read more\n", " Read more" + " " * 70, "\u00a0" * 90, " " * 100, "\n\nContinue reading"]
    words = ["press", "freedom", " ", "\n", "\u00a0", "Read", "more", "[…]", "»", "Continue", "reading"]
    for _ in range(3000):
        body = "".join(rng.choice(words) for _ in range(rng.randrange(0, 60)))
        text = body + rng.choice(endings)
        assert _drop_read_more(text) == _READ_MORE.sub("", text), repr(text)


def test_normalise_many_is_normalise_of_each() -> None:
    from pipeline.errors import PipelineError
    from pipeline.normalise import normalise_many

    reports = [
        raw(),
        raw(url=None, guid=None),  # skipped: no link or guid
        raw(title="Le journaliste", summary_html="<p>Le journaliste a été arrêté lundi à Dakar par la police "
            "après la publication d'une enquête sur la corruption au ministère de la santé.</p>",
            language_hint=None),
        raw(summary_html="", title="", content_html=None),
        raw(url="javascript:alert(1)", guid="item-42"),  # skipped: no usable link
        raw(title="خبر", summary_html="<p>اعتقلت الشرطة الصحفي يوم الاثنين في القاهرة</p>",
            language_hint="ar"),
        raw(summary_html=BODY * 3),
    ]
    batch = normalise_many(reports, SOURCE, now=NOW)
    assert len(batch) == len(reports)
    for report, got in zip(reports, batch, strict=True):
        try:
            expected: object = normalise(report, SOURCE, now=NOW)
        except PipelineError as exc:
            assert isinstance(got, PipelineError) and str(got) == str(exc)
            continue
        assert got == expected
    assert normalise_many([], SOURCE, now=NOW) == []
