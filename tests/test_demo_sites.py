"""The offline demo network in ``demo/``: the registry template, the sites, and what
demo/README.md promises about them. Everything is derived from the files, not hard-coded counts."""

from __future__ import annotations

import calendar
import re
from collections import Counter
from datetime import UTC, datetime
from functools import cache
from html import unescape
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import feedparser
import pytest

from store.registry import REGIONS, parse_registry
from store.registry_types import Source

DEMO = Path(__file__).resolve().parents[1] / "demo"
SITES = DEMO / "sites"
BASE = "http://127.0.0.1:8765"
BROKEN = "levant-watch"  # its feed URL serves an HTML bot-check page (see demo/README.md)


@cache
def registry() -> tuple[Source, ...]:
    text = (DEMO / "sources.toml.in").read_text(encoding="utf-8").replace("{base}", BASE)
    return tuple(parse_registry(text, origin="demo/sources.toml.in"))


def local_file(url: str) -> Path:
    """The file under demo/sites/ that a static server would answer ``url`` with."""
    assert url.startswith(BASE + "/"), url
    path = urlsplit(url).path
    target = SITES / path.lstrip("/")
    return target / "index.html" if path.endswith("/") else target


@cache
def parsed(feed_url: str) -> feedparser.FeedParserDict:
    # As the feed spider does: the feed URL is what relative links resolve against.
    return feedparser.parse(
        local_file(feed_url).read_bytes(),
        response_headers={"content-location": feed_url, "content-type": "application/xml"},
    )


def feeds() -> list[tuple[Source, str]]:
    return [(s, f) for s in registry() for f in s.feeds]


def working_feeds() -> list[tuple[Source, str]]:
    return [(s, f) for s, f in feeds() if s.id != BROKEN]


_ZONE = re.compile(r"(?:[+-]\d\d:?\d\d|Z|GMT|UT|UTC|[ECMP][SD]T)\s*$")


def published_utc(source: Source, entry: feedparser.FeedParserDict) -> datetime:
    raw = entry.get("published") or entry.get("updated")
    if source.timezone and not _ZONE.search(raw):  # naive: local time of the member
        naive = datetime.fromisoformat(raw)
        return naive.replace(tzinfo=ZoneInfo(source.timezone)).astimezone(UTC)
    struct = entry.get("published_parsed") or entry.get("updated_parsed")
    return datetime.fromtimestamp(calendar.timegm(struct), UTC)  # feedparser's structs are UTC


def plain(entry: feedparser.FeedParserDict) -> str:
    html = entry["content"][0]["value"] if entry.get("content") else entry.get("summary", "")
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


# --- registry template and files -------------------------------------------------------------


def test_template_renders_into_a_valid_registry():
    sources = registry()
    assert len(sources) >= 8
    assert all(s.allow_local for s in sources)
    assert {s.region for s in sources} >= set(REGIONS)


def test_every_url_in_the_template_is_a_demo_file():
    for source in registry():
        for url in (source.homepage, *source.feeds):
            assert local_file(url).is_file(), f"{source.id}: {url} -> {local_file(url)}"


def test_every_site_folder_is_in_the_registry():
    assert {p.name for p in SITES.iterdir() if p.is_dir()} == {s.id for s in registry()}


def test_site_files_need_no_substitution():
    for path in SITES.rglob("*"):
        if path.is_file():
            assert "{base}" not in path.read_text(encoding="utf-8"), path


def test_homepages_announce_their_feed():
    for source in registry():
        html = local_file(source.homepage).read_text(encoding="utf-8")
        hrefs = re.findall(r'<link rel="alternate"[^>]*href="([^"]+)"', html)
        assert [urljoin(source.homepage, h) for h in hrefs] == list(source.feeds), source.id


# --- feeds -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "url"), working_feeds(), ids=[s.id for s, _ in working_feeds()])
def test_feed_parses_cleanly(source, url):
    d = parsed(url)
    assert not d.bozo, d.get("bozo_exception")
    assert d.version
    assert 3 <= len(d.entries) <= 8
    for entry in d.entries:
        assert entry.get("title") and entry.get("link") and plain(entry)
        assert entry.get("published") or entry.get("updated")
        # Relative links resolve inside the member's own site.
        assert entry.link.startswith(source.homepage), entry.link


def test_broken_feed_is_not_a_feed():
    [url] = next(s for s in registry() if s.id == BROKEN).feeds
    d = parsed(url)
    assert d.bozo and not d.entries and not d.version
    assert "<html" in local_file(url).read_text(encoding="utf-8").lower()


def test_all_three_feed_formats_are_present():
    versions = {parsed(url).version for _, url in working_feeds()}
    assert {"rss20", "rss10", "atom10"} <= versions


def test_french_and_spanish_members():
    langs = {s.languages[0] for s in registry()}
    assert {"fr", "es"} <= langs
    feed_langs = {parsed(u).feed.get("language", "")[:2] for _, u in working_feeds()}
    assert {"fr", "es"} <= feed_langs


def test_dates_in_several_time_zones_and_one_naive():
    raws = [
        (s, e.get("published") or e.get("updated"))
        for s, u in working_feeds()
        for e in parsed(u).entries
    ]
    offsets = {m.group(0).replace(":", "") for _, r in raws if (m := _ZONE.search(r))}
    assert {"+0000", "+0100", "-0500", "+0530"} <= offsets
    naive = [s for s, r in raws if not _ZONE.search(r)]
    assert naive and all(s.timezone for s in naive)


def test_dates_are_mostly_october_2026_some_september():
    months = Counter(
        f"{published_utc(s, e):%Y-%m}" for s, u in working_feeds() for e in parsed(u).entries
    )
    assert set(months) == {"2026-09", "2026-10"}
    assert months["2026-10"] > 3 * months["2026-09"] > 0


def test_one_member_has_tracking_parameters_in_links():
    tracked = {s.id for s, u in working_feeds() for e in parsed(u).entries if "utm_" in e.link}
    assert len(tracked) == 1


def test_two_members_cross_post_the_same_statement():
    by_text: dict[str, list[tuple[str, str, str]]] = {}
    for source, url in working_feeds():
        for e in parsed(url).entries:
            by_text.setdefault(plain(e), []).append((source.id, e.link, e.title))
    shared = [posts for posts in by_text.values() if len(posts) > 1]
    assert len(shared) == 1
    [posts] = shared
    assert len({p[0] for p in posts}) == 2  # two members
    assert len({p[1] for p in posts}) == 2  # two URLs
    assert len({p[2] for p in posts}) == 2  # two titles


def test_each_site_has_three_to_eight_entries():
    for source in registry():
        if source.id != BROKEN and source.feeds:  # feedless members are read by other spiders
            n = sum(len(parsed(u).entries) for u in source.feeds)
            assert 3 <= n <= 8, source.id


# --- what demo/README.md promises ------------------------------------------------------------


def test_readme_richest_round_up_is_true():
    readme = (DEMO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^Richest round-up: (\S+) (\d{4}-\d{2})$", readme, re.MULTILINE)
    assert match, "demo/README.md must say 'Richest round-up: <region> <YYYY-MM>'"
    region, month = match.groups()
    entries: Counter[tuple[str | None, str]] = Counter()
    stories: dict[tuple[str | None, str], set[str]] = {}
    for source, url in working_feeds():
        for e in parsed(url).entries:
            key = (source.region, f"{published_utc(source, e):%Y-%m}")
            entries[key] += 1
            stories.setdefault(key, set()).add(plain(e))
    assert entries[(region, month)] >= 6
    assert len(stories[(region, month)]) >= 6  # the cross-posted statement counts once
    richest = max((k for k in entries if k[0] is not None), key=lambda k: len(stories[k]))
    assert richest == (region, month)


def test_readme_describes_every_site():
    readme = (DEMO / "README.md").read_text(encoding="utf-8")
    for source in registry():
        assert f"`{source.id}`" in readme, source.id
