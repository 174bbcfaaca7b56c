"""Full text: extraction with date guards (pure), the feed middleware, one real crawl."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from pipeline.extract import SelectorSpec, extract_article
from pipeline.items import RawReport
from scrapers.fulltext import FULLTEXT_META, FullTextMiddleware
from scrapers.items import FetchOutcome
from scrapers.spiders.feeds import FeedSpider
from tests.feedserver import FeedServer, Reply
from tests.harvesting import harvest, item, rows, rss

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "pages"
NOW = datetime(2026, 10, 28, 12, 0, tzinfo=UTC)
HTML = {"Content-Type": "text/html; charset=utf-8"}


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


# --- extraction ----------------------------------------------------------------------------------


def test_main_text_title_date_and_language():
    result = extract_article(fixture("article_selectors.html"), "https://m.example/a", now=NOW)
    assert result.title and "Tamale" in result.title
    assert "communal land" in result.text and "Subscribe" not in result.text
    assert result.raw_date.startswith("2026-10-12")
    assert result.language == "en"


def test_configured_selectors_win_over_trafilatura():
    selectors = {"title": SelectorSpec("title", "h1.headline"),
                 "date": SelectorSpec("date", "xpath://time/@datetime"),
                 "body": SelectorSpec("body", "div.story p")}
    result = extract_article(fixture("article_selectors.html"), "https://m.example/a", now=NOW,
                             selectors=selectors)
    assert result.date_from == "selector" and result.raw_date == "2026-10-12T09:30:00+00:00"
    assert result.content_html.count("<p>") == 2
    assert not result.warnings


def test_a_date_only_in_a_script_is_not_a_publication_date():
    result = extract_article(fixture("date_only_in_script.html"), "https://m.example/a", now=NOW)
    assert result.text and "Mombasa" in result.text
    assert result.raw_date is None


def test_expiry_fields_are_not_publication_dates():
    result = extract_article(fixture("expiry_meta.html"), "https://m.example/a", now=NOW)
    assert result.raw_date is None or not result.raw_date.startswith("2026-10-25")


def test_json_ld_date_published_is_kept():
    result = extract_article(fixture("jsonld_date.html"), "https://m.example/a", now=NOW)
    assert result.raw_date.startswith("2026-10-07")


def test_future_dates_are_refused():
    result = extract_article(fixture("future_date.html"), "https://m.example/a", now=NOW)
    assert result.raw_date is None or result.raw_date < "2026-10-29"


@pytest.mark.parametrize("html", ["", "   ", "<html></html>", "\x00\x00", "<p>short</p>"])
def test_empty_or_broken_pages_give_no_text_not_an_exception(html):
    result = extract_article(html, "https://m.example/a", now=NOW)
    assert not result.has_text or len(result.text) < 20


# --- the middleware ------------------------------------------------------------------------------


def middleware(tmp_path: Path, fulltext: bool = True) -> tuple[FullTextMiddleware, FeedSpider]:
    from roundups.harvest import crawler_settings

    reg = tmp_path / "s.toml"
    reg.write_text(f"""
[[source]]
id = "member"
name = "A member"
homepage = "https://member.example/"
feeds = ["https://member.example/feed/"]
allow_local = true
fulltext = {"true" if fulltext else "false"}
""", encoding="utf-8")
    settings = crawler_settings(f"sqlite:///{tmp_path / 'r.db'}", reg,
                                overrides={"TWISTED_REACTOR_ENABLED": False})
    crawler = get_crawler(FeedSpider, settings.copy_to_dict())
    spider = FeedSpider.from_crawler(crawler)
    crawler.spider = spider
    return FullTextMiddleware(crawler), spider


def feed_output(n: int = 2, link: str = "https://member.example/alerts/{n}/") -> list:
    reports = [RawReport("member", link.format(n=i), guid=f"g{i}", title=f"Feed title {i}",
                         summary_html="<p>Only a summary.</p>", raw_date="Mon, 05 Oct 2026 10:00:00 +0000",
                         feed_url="https://member.example/feed/", fetched_via="feed")
               for i in range(n)]
    outcome = FetchOutcome("member", "https://member.example/feed/", "ok", etag='"v1"', entries=n)
    return [*reports, outcome]


def test_reports_and_the_feed_outcome_are_held_until_every_page_is_read(tmp_path):
    mw, _ = middleware(tmp_path)
    out = list(mw.process_spider_output(None, feed_output(2)))
    assert all(isinstance(o, Request) for o in out) and len(out) == 2
    assert [o.url for o in out] == ["https://member.example/alerts/0/", "https://member.example/alerts/1/"]
    page = fixture("article_selectors.html").encode()
    first = mw.parse_page(HtmlResponse(out[0].url, body=page, request=out[0], headers=HTML))
    assert [type(o) for o in first] == [RawReport]  # the outcome waits for the second page
    assert first[0].fetched_via == "fulltext"
    assert first[0].title == "Feed title 0"  # the feed's title is kept
    assert "communal land" in first[0].content_html
    assert first[0].summary_html == "<p>Only a summary.</p>"
    second = mw.parse_page(HtmlResponse(out[1].url, body=page, request=out[1], headers=HTML))
    assert [type(o) for o in second] == [RawReport, FetchOutcome]
    assert second[1].etag == '"v1"' and not second[1].warnings


def test_a_failed_or_empty_page_keeps_the_feed_summary_with_a_warning(tmp_path):
    mw, _ = middleware(tmp_path)
    out = list(mw.process_spider_output(None, feed_output(1)))
    empty = HtmlResponse(out[0].url, body=b"<html><body></body></html>", request=out[0], headers=HTML)
    report, outcome = mw.parse_page(empty)
    assert report.fetched_via == "feed" and report.content_html is None
    assert any("summary kept" in w for w in outcome.warnings)


def test_sources_without_fulltext_pass_straight_through(tmp_path):
    mw, _ = middleware(tmp_path, fulltext=False)
    items = feed_output(2)
    assert list(mw.process_spider_output(None, items)) == items


def test_links_off_the_source_hosts_keep_their_summary(tmp_path):
    mw, _ = middleware(tmp_path)
    out = list(mw.process_spider_output(None, feed_output(1, "https://elsewhere.example/{n}")))
    assert [type(o) for o in out] == [RawReport, FetchOutcome]
    assert any("outside the source's hosts" in w for w in out[1].warnings)


def test_callback_output_is_not_held_again(tmp_path):
    mw, _ = middleware(tmp_path)
    out = list(mw.process_spider_output(None, feed_output(1)))
    response = HtmlResponse(out[0].url, body=b"<html></html>", request=out[0], headers=HTML)
    assert FULLTEXT_META in response.meta
    passthrough = [RawReport("member", "x", feed_url="https://member.example/feed/")]
    assert list(mw.process_spider_output(response, passthrough)) == passthrough


# --- one real crawl ------------------------------------------------------------------------------


def test_harvest_with_fulltext_stores_the_article_text_and_keeps_summaries_on_failure(tmp_path):
    server = FeedServer()
    try:
        entries = [item(1, link=server.url("/a/1/")), item(2, link=server.url("/a/2/"))]
        server.route("/feed.xml", Reply(body=rss(entries), headers={
            "Content-Type": "application/rss+xml", "ETag": '"v1"'}))
        server.route("/a/1/", Reply(body=fixture("article_selectors.html").encode(), headers=HTML))
        server.route("/a/2/", Reply(404, b"gone"))
        reg = tmp_path / "s.toml"
        reg.write_text(f"""
[[source]]
id = "member"
name = "A member"
homepage = "{server.url('/')}"
country = "GH"
region = "africa"
languages = ["en"]
feeds = ["{server.url('/feed.xml')}"]
allow_local = true
fulltext = true
""", encoding="utf-8")
        db = f"sqlite:///{tmp_path / 'r.db'}"
        run = harvest(db, reg)
        assert run.code == 0, run.stdout + run.stderr
        assert "2 new" in run.line("member")
        assert "summary kept" in run.stdout
        stored = rows(db, "SELECT guid, fetched_via, text FROM article ORDER BY guid")
        assert [(r.guid.rsplit("/", 1)[-1], r.fetched_via) for r in stored] == [
            ("member-alert-1", "fulltext"), ("member-alert-2", "feed")]
        assert "communal land" in stored[0].text
        assert rows(db, "SELECT etag FROM fetch_state WHERE url = :u",
                    u=server.url("/feed.xml")) == [('"v1"',)]
        hits = len(server.hits("/a/1/"))
        again = harvest(db, reg)
        assert again.code == 0
        assert len(server.hits("/a/1/")) == hits  # stored with its full text: not fetched again
        assert rows(db, "SELECT fetched_via FROM article WHERE guid LIKE '%member-alert-1'") == [
            ("fulltext",)]
    finally:
        server.close()


def test_the_warm_up_leaves_no_lazy_set_up_for_the_first_article_page():
    # Workers are forked after the warm-up; whatever the first real page still sets up lazily is
    # paid again by each worker inside the run. A fresh interpreter, so nothing else warmed it.
    import subprocess
    import sys

    probe = """
import sys, time
from datetime import UTC, datetime
from roundups.harvest import _warm_page_reading
_warm_page_reading()
import tld.utils
loaded = dict(tld.utils.tld_names)
from pipeline.extract import extract_article
page = ('<html lang="en"><head><title>Editor held | Member</title>'
        '<link rel="canonical" href="http://10.0.0.7/news/held/"></head><body><article>'
        '<h1>Editor held</h1><p>' + 'An editor was held overnight by the police. ' * 30
        + '</p></article></body></html>')
extract_article(page, "http://127.0.0.1:8123/news/held/", now=datetime.now(UTC))
print(sorted(loaded) == sorted(tld.utils.tld_names) and bool(loaded))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip().splitlines()[-1] == "True", out.stdout + out.stderr
