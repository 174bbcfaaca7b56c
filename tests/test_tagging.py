"""The public API of pipeline.tagging, regions, and bad input."""

from __future__ import annotations

import time

import pytest

from pipeline import tagging
from pipeline.regions import REGION_IDS, region_table
from pipeline.tagging import TagResult, region_of, tag


def test_api_shape() -> None:
    r = tag("Nigeria: reporter detained", "LAGOS, Nigeria — Police arrested a journalist.",
            home_country="GH", language="en")
    assert isinstance(r, TagResult)
    assert r.countries[0] == r.primary == "NG"
    assert r.region == "africa"
    assert "arrest-detention" in r.topics
    assert set(r.weights) == set(r.countries)


def test_nothing_found() -> None:
    r = tag("Annual report published", "The network published its annual report.")
    assert r == TagResult([], {}, None, None, [])


@pytest.mark.parametrize(("code", "region"), [
    ("MX", "americas"), ("TR", "europe-central-asia"), ("IR", "mena"), ("PK", "asia-pacific"),
    ("AF", "asia-pacific"), ("SD", "mena"), ("SS", "africa"), ("EH", "mena"), ("XK", "europe-central-asia"),
    ("PS", "mena"), ("TW", "asia-pacific"), ("HK", "asia-pacific"), ("EG", "mena"), ("MR", "mena"),
    ("NG", "africa"), ("US", "americas"), ("RU", "europe-central-asia"), ("UA", "europe-central-asia"),
])
def test_region_of(code: str, region: str) -> None:
    assert region_of(code) == region
    assert region_of(code.lower()) == region


def test_region_table_is_well_formed() -> None:
    table = region_table()
    assert set(table.values()) == set(REGION_IDS)
    assert all(len(c) == 2 and c.isupper() for c in table)
    assert len(table) >= 200


def test_region_follows_primary() -> None:
    assert tag("Türkiye: journalist jailed", "").region == "europe-central-asia"
    assert tag("Iran: journalist jailed", "").region == "mena"
    assert tag("Mexico: journalist killed", "").region == "americas"
    assert tag("Afghanistan: radio closed", "").region == "asia-pacific"
    assert tag("Sudan: journalist killed", "").region == "mena"


# --- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("title", "text"), [
    ("", ""), (None, None), ("   ", "\n\n\t"), ("<p></p>", "&amp;&nbsp;&#0;&#x110000;&bogus;"),
    ("\x00\x01\x02", "\ud800 lone surrogate"), ("🙂" * 1000, "🙂 Nigeria 🙂"), (b"bytes in Ghana", 42),
])
def test_degenerate_input_never_raises(title, text) -> None:
    r = tag(title, text)
    assert isinstance(r, TagResult)


def test_html_remnants() -> None:
    r = tag("<b>Kenya</b>: reporters injured",
            "<p>Police in Nairobi fired tear gas at reporters &amp; protesters.</p><br/>"
            "<a href='https://example.org/uganda'>link</a> &quot;Press&quot;")
    assert r.primary == "KE"
    assert "UG" not in r.countries  # a URL inside a tag is not text


def test_entities_decoded() -> None:
    assert tag("", "A reporter in C&ocirc;te d&#39;Ivoire was summoned.").primary == "CI"


def test_mixed_scripts() -> None:
    r = tag("Journalists detained: Москва and القاهرة",
            "Reporters were detained in Москве; a colleague in القاهرة was also held. 記者が逮捕された。")
    assert set(r.countries) == {"RU", "EG"}


def test_no_spaces_megabyte_is_linear_and_bounded() -> None:
    tag("warm", "up")
    big, small = "ab" * 500_000, "ab" * 50_000  # 1 MB and 100 KB without a space

    def elapsed(text: str) -> float:
        start = time.perf_counter()
        tag("Nigeria" + text[:50], text + " Nigeria " + text)
        return time.perf_counter() - start

    t_small = min(elapsed(small) for _ in range(3))
    t_big = min(elapsed(big) for _ in range(3))
    # Linear would be 10x; the text is also capped, so it is less. Never quadratic.
    assert t_big < 20 * t_small + 0.5


def test_pathological_tokens() -> None:
    nasty = ("Jordan " + "x" * 200_000 + " Jordan") + (" <" * 50_000) + ("&" * 50_000)
    assert isinstance(tag(nasty, nasty), TagResult)


def test_long_words_after_stems() -> None:
    # A stem (росси~) followed by a very long word-continuation is not a match.
    assert tag("", "росси" + "я" * 1000).countries == []


def test_data_loaded_once() -> None:
    tagging.warm_up()
    from pipeline import geo, topics

    assert geo.load_gazetteer() is geo.load_gazetteer()
    assert topics.load_rules() is topics.load_rules()
