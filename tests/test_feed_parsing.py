"""Feed edge cases: one tiny self-describing fixture per behaviour in tests/fixtures/feeds/.

Each file carries its expectation in a comment: ``<!-- expect: key=value ... -->`` with
``status`` (ok | failed | any), ``entries``, ``title`` (the stored title of the only entry:
correct Unicode whatever the bytes; always last), ``urls`` and ``guids`` (``|``-separated, ``-`` for an
entry without a usable URL), ``warning`` and ``error`` (substrings), ``maxtitle`` (longest title
allowed: no entity expansion) and ``notext`` (a string that must appear nowhere: no file read).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.errors import SkipItem
from pipeline.normalise import normalise
from scrapers.spiders.feeds import parse_feed_body
from store.registry_types import Source

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
SOURCE = Source(id="member", name="Member", homepage="https://member.example/", country="GH",
                region="africa", languages=("en",))
NOW = datetime(2026, 11, 1, tzinfo=UTC)
FEED_URL = "https://member.example/feed/"


def expectation(path: Path) -> dict[str, str]:
    match = re.search(rb"<!-- expect: (.*?) -->", path.read_bytes())
    assert match, f"{path.name} has no expect comment"
    text = match.group(1).decode("utf-8")
    title = None
    if " title=" in text:  # a title may hold spaces: it is always the last key
        text, title = text.split(" title=", 1)
    found = dict(pair.split("=", 1) for pair in text.split())
    if title is not None:
        found["title"] = title
    return found


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.xml")), ids=lambda p: p.stem)
def test_feed_fixture(path: Path) -> None:
    expect = expectation(path)
    reports, outcome = parse_feed_body(path.read_bytes(), url=FEED_URL,
                                       headers={"content-type": "application/xml"},
                                       source=SOURCE, feed_url=FEED_URL, max_entries=500)
    if expect["status"] != "any":
        assert outcome.status == expect["status"], outcome.error
    if "entries" in expect:
        assert len(reports) == int(expect["entries"])
    if "error" in expect:
        assert expect["error"].replace("-", " ") in (outcome.error or "")
    if "warning" in expect:
        assert any(expect["warning"] in w for w in outcome.warnings), outcome.warnings
    articles = []
    for report in reports:
        try:
            articles.append(normalise(report, SOURCE, now=NOW))
        except SkipItem:
            articles.append(None)
    if "urls" in expect:
        assert [a.url if a else "-" for a in articles] == expect["urls"].split("|")
    if "guids" in expect:
        assert [r.guid for r in reports] == expect["guids"].split("|")
    if "title" in expect:
        assert [a.title for a in articles if a] == [expect["title"]]
    if "maxtitle" in expect:
        assert all(len(r.title or "") <= int(expect["maxtitle"]) for r in reports)
    if "notext" in expect:
        blob = " ".join(f"{r.title} {r.summary_html} {r.content_html}" for r in reports)
        assert expect["notext"] not in blob


def test_entries_beyond_the_per_run_cap_wait_for_the_next_run() -> None:
    items = "".join(f"<item><title>T{i}</title><link>https://member.example/{i}</link></item>"
                    for i in range(30))
    body = f'<rss version="2.0"><channel><title>M</title>{items}</channel></rss>'.encode()
    reports, outcome = parse_feed_body(body, url=FEED_URL, headers={}, source=SOURCE,
                                       feed_url=FEED_URL, max_entries=10)
    assert [r.title for r in reports] == [f"T{i}" for i in range(10)]
    assert outcome.entries == 30 and any("only the first 10" in w for w in outcome.warnings)
