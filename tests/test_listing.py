"""The declarative listing spider: callbacks on hand-built responses, then one real crawl.

The helpers at the top (a spider bound to a registry and a fresh store, responses for its
requests) are shared by the other page-spider tests (sitemaps, full text, PDF, safety).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse, Response
from scrapy.utils.test import get_crawler

from pipeline.items import Article
from scrapers.items import FetchOutcome
from scrapers.spiders.listing import PAGE_META, ListingSpider
from tests.feedserver import Reply
from tests.harvesting import harvest, rows

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "pages"
HTML = {"Content-Type": "text/html; charset=utf-8"}

LISTING_SOURCE = """
[[source]]
id = "member"
name = "A member"
homepage = "https://member.example/"
country = "GH"
region = "africa"
languages = ["en"]
allow_local = true
{extra}

[source.listing]
{listing}
"""


def registry(tmp_path: Path, listing: str, extra: str = "") -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(LISTING_SOURCE.format(listing=listing, extra=extra), encoding="utf-8")
    return path


def make_spider(tmp_path: Path, cls: type, listing: str, extra: str = "", **settings: Any) -> Any:
    from roundups.harvest import crawler_settings

    db = f"sqlite:///{tmp_path / 'roundup.db'}"
    # No reactor: callbacks are called by hand.
    values = crawler_settings(db, registry(tmp_path, listing, extra),
                              overrides={"TWISTED_REACTOR_ENABLED": False, **settings})
    crawler = get_crawler(cls, values.copy_to_dict())
    spider = cls.from_crawler(crawler)
    crawler.spider = spider
    return spider


def respond(request: Request, body: bytes | str, *, cls: type = HtmlResponse, url: str | None = None,
            headers: dict[str, str] | None = None, status: int = 200) -> Response:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return cls(url or request.url, body=data, request=request, headers=headers or HTML,
               status=status)


def split(output: Any) -> tuple[list[Request], list[Any], list[FetchOutcome]]:
    items = list(output)
    requests = [i for i in items if isinstance(i, Request)]
    outcomes = [i for i in items if isinstance(i, FetchOutcome)]
    reports = [i for i in items if not isinstance(i, Request | FetchOutcome)]
    return requests, reports, outcomes


def store_article(spider: Any, url: str, source_id: str = "member") -> None:
    """Put an article in the spider's store, as an earlier run would have."""
    from store.articles import upsert_articles

    now = datetime(2026, 10, 20, tzinfo=UTC)
    article = Article(source_id=source_id, guid=None, url=url, title="Earlier report",
                      text="Text of an earlier report.", summary="Earlier.", published=now,
                      date_flag=None, raw_date=None, language="en", content_hash="h-" + url,
                      feed_url=url, fetched_via="listing")
    with spider.session_factory().begin() as session:
        upsert_articles(session, [article], now)


def listing_page(links: list[str], next_href: str | None = None, extra: str = "") -> str:
    posts = "".join(f'<article class="post"><h2><a href="{h}">Report {i}</a></h2></article>'
                    for i, h in enumerate(links))
    pager = f'<nav class="pager"><a class="next" href="{next_href}">Older</a></nav>' if next_href else ""
    return (f"<!DOCTYPE html><html><body><aside><a href='/about/'>About</a></aside>{posts}{pager}"
            f"{extra}</body></html>")


RULES = """
start_urls = ["https://member.example/news/"]
links = "article.post h2 a::attr(href)"
next_page = "nav.pager a.next::attr(href)"
max_pages = 3
"""


def first_page(spider: ListingSpider, url: str = "https://member.example/news/") -> Request:
    source = spider.sources["member"]
    return spider.page_request(source, url, callback=spider.parse_listing, meta={
        PAGE_META: {"page": 1, "seen": {url}, "start": url}})


@pytest.fixture
def spider(tmp_path: Path) -> ListingSpider:
    return make_spider(tmp_path, ListingSpider, RULES)


# --- callbacks -----------------------------------------------------------------------------------


def test_listing_page_yields_article_requests_next_page_and_an_outcome(spider):
    request = first_page(spider)
    body = listing_page(["/news/a/", "b/", "https://member.example/news/c/"], "/news/page/2/")
    requests, reports, outcomes = split(spider.parse_listing(respond(request, body)))
    urls = [r.url for r in requests]
    assert urls == ["https://member.example/news/a/", "https://member.example/news/b/",
                    "https://member.example/news/c/", "https://member.example/news/page/2/"]
    assert requests[-1].callback == spider.parse_listing
    assert all(r.callback == spider.parse_article for r in requests[:3])
    assert not reports
    [outcome] = outcomes
    assert outcome.status == "ok" and outcome.url == "https://member.example/news/"
    assert outcome.entries == 3 and not outcome.warnings
    assert outcome.store_validators is False  # listing pages never carry validators


def test_a_links_selector_that_matches_nothing_is_a_warning_naming_selector_and_url(spider):
    request = first_page(spider)
    body = "<html><body><div class='redesigned'><a href='/x/'>x</a></div></body></html>"
    requests, _, [outcome] = split(spider.parse_listing(respond(request, body)))
    assert not requests
    [warning] = [w for w in outcome.warnings if "links" in w]
    assert "article.post h2 a::attr(href)" in warning
    assert "https://member.example/news/" in warning
    assert "matched nothing" in warning


def test_pagination_that_loops_back_to_page_one_stops_with_a_warning(spider):
    source = spider.sources["member"]
    url2 = "https://member.example/news/page/2/"
    state = {"page": 2, "seen": {"https://member.example/news/", url2}, "start": ""}
    request = spider.page_request(source, url2, callback=spider.parse_listing,
                                  meta={PAGE_META: state})
    body = listing_page(["/news/d/"], "/news/")  # "older" leads back to page 1
    requests, _, [outcome] = split(spider.parse_listing(respond(request, body)))
    assert [r.url for r in requests] == ["https://member.example/news/d/"]
    assert any("pagination loops" in w and "https://member.example/news/" in w
               for w in outcome.warnings)


def test_paging_stops_after_max_pages(spider):
    source = spider.sources["member"]
    url3 = "https://member.example/news/page/3/"
    request = spider.page_request(source, url3, callback=spider.parse_listing,
                                  meta={PAGE_META: {"page": 3, "seen": {url3}, "start": ""}})
    requests, _, [outcome] = split(spider.parse_listing(respond(request, listing_page(
        ["/news/e/"], "/news/page/4/"))))
    assert [r.url for r in requests] == ["https://member.example/news/e/"]
    assert outcome.status == "ok"


def test_paging_stops_at_the_first_page_with_an_article_already_stored(spider):
    store_article(spider, "https://member.example/news/b/")
    request = first_page(spider)
    body = listing_page(["/news/a/", "/news/b/", "/news/c/"], "/news/page/2/")
    requests, _, [outcome] = split(spider.parse_listing(respond(request, body)))
    # a (new) and c are fetched; b is known, and so no page 2
    assert [r.url for r in requests] == ["https://member.example/news/a/",
                                         "https://member.example/news/c/"]


def test_links_off_the_source_hosts_are_not_followed(spider):
    request = first_page(spider)
    body = listing_page(["/news/a/", "https://elsewhere.example/x/", "https://cdn.member.example/r/"])
    requests, _, [outcome] = split(spider.parse_listing(respond(request, body)))
    assert [r.url for r in requests] == ["https://member.example/news/a/",
                                         "https://cdn.member.example/r/"]
    assert any("outside the source's hosts" in w and "elsewhere.example" in w
               for w in outcome.warnings)


def test_an_article_page_becomes_a_report_and_its_own_outcome(tmp_path):
    rules = RULES + 'title = "h1.headline"\ndate = "time::attr(datetime)"\nbody = "div.story"\n'
    spider = make_spider(tmp_path, ListingSpider, rules)
    [request], _, _ = split(spider.article_requests(spider.sources["member"],
                                                    ["https://member.example/news/a/"])[0])
    page = (FIXTURES / "article_selectors.html").read_text(encoding="utf-8")
    _, [report], [outcome] = split(spider.parse_article(respond(request, page)))
    assert report.title == "Reporter detained in Tamale after covering a land protest"
    assert report.raw_date == "2026-10-12T09:30:00+00:00"
    assert "detained" in report.content_html and "Subscribe" not in report.content_html
    assert report.fetched_via == "listing"
    assert report.feed_url == outcome.url == "https://member.example/news/a/"
    assert outcome.status == "ok" and outcome.entries == 1


def test_a_page_selector_that_matches_nothing_warns_once_and_falls_back_to_trafilatura(tmp_path):
    rules = RULES + 'title = "h1.no-such-class"\n'
    spider = make_spider(tmp_path, ListingSpider, rules)
    source = spider.sources["member"]
    reqs, _, _ = spider.article_requests(source, ["https://member.example/news/a/",
                                                  "https://member.example/news/b/"])
    page = (FIXTURES / "article_selectors.html").read_text(encoding="utf-8")
    _, [r1], [o1] = split(spider.parse_article(respond(reqs[0], page)))
    _, [r2], [o2] = split(spider.parse_article(respond(reqs[1], page)))
    assert r1.title  # trafilatura's title
    [warning] = o1.warnings
    assert "h1.no-such-class" in warning and "https://member.example/news/a/" in warning
    assert not o2.warnings  # once per source per run, not on every page


def test_non_html_non_pdf_content_is_skipped_with_a_reason(spider):
    [request], _, _ = spider.article_requests(spider.sources["member"],
                                              ["https://member.example/files/map.zip"])
    response = respond(request, b"PK\x03\x04zipdata", cls=Response,
                       headers={"Content-Type": "application/zip"})
    _, reports, [outcome] = split(spider.parse_article(response))
    assert not reports
    assert outcome.status == "skipped" and "application/zip" in outcome.error


def test_the_article_budget_per_run_is_max_entries(tmp_path):
    spider = make_spider(tmp_path, ListingSpider, RULES, extra="max_entries = 2")
    request = first_page(spider)
    body = listing_page([f"/news/{n}/" for n in range(5)])
    requests, _, [outcome] = split(spider.parse_listing(respond(request, body)))
    assert len(requests) == 2
    assert any("wait for the next run" in w for w in outcome.warnings)


# --- one real crawl ------------------------------------------------------------------------------


def crawl_registry(tmp_path: Path, listing: str, *, feeds: str = "[]", extra: str = "") -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(f"""
[[source]]
id = "member"
name = "A member"
homepage = "http://127.0.0.1/"
country = "GH"
region = "africa"
languages = ["en"]
feeds = {feeds}
allow_local = true
{extra}

[source.listing]
{listing}
""", encoding="utf-8")
    return path


def article_html(n: int, day: int) -> bytes:
    return (FIXTURES / "article_template.html").read_text(encoding="utf-8").format(
        n=n, day=f"{day:02d}").encode("utf-8")


def test_harvest_crawls_a_paginated_listing_and_a_second_run_fetches_nothing_new(server, tmp_path):
    server.route("/news/", Reply(body=listing_page(["/news/1/", "/news/2/"], "/news/p2/").encode(),
                                 headers=HTML))
    server.route("/news/p2/", Reply(body=listing_page(["/news/3/"], "/news/").encode(), headers=HTML))
    for n in (1, 2, 3):
        server.route(f"/news/{n}/", Reply(body=article_html(n, 10 + n), headers=HTML))
    reg = crawl_registry(tmp_path, f"""
start_urls = ["{server.url('/news/')}"]
links = "article.post h2 a::attr(href)"
next_page = "nav.pager a.next::attr(href)"
""")
    db = f"sqlite:///{tmp_path / 'r.db'}"
    first = harvest(db, reg)
    assert first.code == 0, first.stdout + first.stderr
    assert "3 new" in first.line("member")
    assert "pagination loops" in first.stdout  # page 2's "older" link leads back to page 1
    stored = rows(db, "SELECT url, fetched_via, feed_url, published FROM article ORDER BY url")
    assert [r.fetched_via for r in stored] == ["listing"] * 3
    assert all(r.feed_url == r.url for r in stored)
    assert str(stored[0].published).startswith("2026-10-11")
    hits = len(server.requests)
    second = harvest(db, reg)
    assert second.code == 0, second.stdout + second.stderr
    assert "0 new" in second.line("member")
    # Only page 1 again: its articles are known, so no article fetch and no page 2.
    assert [p for p, _ in server.requests[hits:]] == ["/news/"]
