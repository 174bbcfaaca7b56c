"""Sitemaps: safe parsing (pure), the spider's callbacks, and one real crawl."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from scrapy.http import XmlResponse

from scrapers.spiders.sitemap import DEPTH_META, SitemapError, SitemapSpider, parse_sitemap
from tests.feedserver import FeedServer, Reply
from tests.harvesting import harvest, rows
from tests.test_listing import HTML, article_html, crawl_registry, make_spider, respond, split

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
NEWS = 'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"'
XML = {"Content-Type": "application/xml"}


def urlset(*locs: str, news: bool = False) -> bytes:
    parts = []
    for i, loc in enumerate(locs):
        extra = ""
        if news:
            extra = (f"<news:news><news:publication><news:name>M</news:name><news:language>fr"
                     f"</news:language></news:publication><news:publication_date>2026-10-{10 + i}"
                     f"T08:00:00+00:00</news:publication_date><news:title>Title {i}</news:title>"
                     "</news:news>")
        parts.append(f"<url><loc>{loc}</loc><lastmod>2026-10-{10 + i}</lastmod>{extra}</url>")
    return f'<?xml version="1.0"?><urlset {NS} {NEWS}>{"".join(parts)}</urlset>'.encode()


def test_urlset_news_fields():
    sitemap = parse_sitemap(urlset("https://m.example/a", "https://m.example/b", news=True))
    assert sitemap.kind == "urlset"
    assert [e.loc for e in sitemap.entries] == ["https://m.example/a", "https://m.example/b"]
    first = sitemap.entries[0]
    assert (first.title, first.published, first.language) == (
        "Title 0", "2026-10-10T08:00:00+00:00", "fr")


def test_sitemap_index():
    body = (f'<sitemapindex {NS}><sitemap><loc>https://m.example/s1.xml</loc></sitemap>'
            f'<sitemap><loc> https://m.example/s2.xml </loc></sitemap></sitemapindex>').encode()
    sitemap = parse_sitemap(body)
    assert sitemap.kind == "index"
    assert [e.loc for e in sitemap.entries] == ["https://m.example/s1.xml", "https://m.example/s2.xml"]


@pytest.mark.parametrize("body", [
    # billion laughs
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
    b'<urlset><url><loc>&lol2;</loc></url></urlset>',
    # external entity: a local file
    b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<urlset><url><loc>&xxe;</loc></url></urlset>',
    # DOCTYPE with a SYSTEM id (would fetch a DTD)
    b'<?xml version="1.0"?><!DOCTYPE urlset SYSTEM "http://127.0.0.1:9/evil.dtd">'
    b'<urlset><url><loc>https://m.example/a</loc></url></urlset>',
], ids=["billion-laughs", "external-entity", "doctype-system"])
def test_entities_and_doctypes_are_refused(body):
    with pytest.raises(SitemapError, match="DOCTYPE or entities"):
        parse_sitemap(body)


@pytest.mark.parametrize("body", [b"", b"<html><body>Not found</body></html>", b"\x00\x01garbage"])
def test_not_a_sitemap(body):
    with pytest.raises(SitemapError):
        parse_sitemap(body)


SITEMAP_RULES = 'sitemaps = ["https://member.example/sitemap.xml"]\nurl_pattern = "/stories/"\n'


def sitemap_request(spider, url="https://member.example/sitemap.xml", depth=0):
    source = spider.sources["member"]
    return spider.page_request(source, url, callback=spider.parse_sitemap, meta={DEPTH_META: depth})


def test_index_yields_child_sitemaps_on_the_source_hosts(tmp_path):
    spider = make_spider(tmp_path, SitemapSpider, SITEMAP_RULES)
    body = (f'<sitemapindex {NS}><sitemap><loc>news.xml</loc></sitemap>'
            f'<sitemap><loc>https://evil.example/s.xml</loc></sitemap></sitemapindex>').encode()
    requests, _, [outcome] = split(spider.parse_sitemap(
        respond(sitemap_request(spider), body, cls=XmlResponse, headers=XML)))
    assert [r.url for r in requests] == ["https://member.example/news.xml"]  # relative loc resolved
    assert requests[0].meta[DEPTH_META] == 1
    assert outcome.status == "ok" and outcome.entries == 2


def test_urlset_yields_article_requests_with_hints_newest_first(tmp_path):
    spider = make_spider(tmp_path, SitemapSpider, SITEMAP_RULES)
    body = urlset("https://member.example/stories/a/", "https://member.example/about/",
                  "https://member.example/stories/c/", news=True)
    requests, _, [outcome] = split(spider.parse_sitemap(
        respond(sitemap_request(spider), body, cls=XmlResponse, headers=XML)))
    assert [r.url for r in requests] == ["https://member.example/stories/c/",
                                         "https://member.example/stories/a/"]
    hint = requests[0].meta["roundup_article"]["hint"]
    assert hint == {"title": "Title 2", "raw_date": "2026-10-12T08:00:00+00:00", "language": "fr"}
    # The article page yields a report that uses the news sitemap's date.
    page = article_html(1, 3).decode()
    _, [report], [page_outcome] = split(spider.parse_article(respond(requests[0], page)))
    assert report.fetched_via == "sitemap"
    assert report.raw_date == "2026-10-12T08:00:00+00:00"
    assert page_outcome.url == report.feed_url == "https://member.example/stories/c/"


def test_gzipped_sitemap_and_a_gzip_bomb(tmp_path):
    spider = make_spider(tmp_path, SitemapSpider, SITEMAP_RULES, DOWNLOAD_MAXSIZE=50_000)
    small = gzip.compress(urlset("https://member.example/stories/a/"))
    requests, _, [ok] = split(spider.parse_sitemap(respond(sitemap_request(spider), small,
                                                           cls=XmlResponse, headers=XML)))
    assert ok.status == "ok" and len(requests) == 1
    bomb = gzip.compress(b"<urlset>" + b" " * 10_000_000 + b"</urlset>")
    assert len(bomb) < 50_000
    _, _, [failed] = split(spider.parse_sitemap(respond(sitemap_request(spider), bomb,
                                                        cls=XmlResponse, headers=XML)))
    assert failed.status == "failed" and "decompress" in failed.error


def test_index_nested_too_deep_is_not_followed(tmp_path):
    spider = make_spider(tmp_path, SitemapSpider, SITEMAP_RULES)
    body = f'<sitemapindex {NS}><sitemap><loc>deeper.xml</loc></sitemap></sitemapindex>'.encode()
    requests, _, [outcome] = split(spider.parse_sitemap(
        respond(sitemap_request(spider, depth=2), body, cls=XmlResponse, headers=XML)))
    assert not requests and any("too deep" in w for w in outcome.warnings)


def test_harvest_through_a_sitemap_index(tmp_path):
    server = FeedServer()
    try:
        server.route("/sitemap.xml", Reply(body=(
            f'<sitemapindex {NS}><sitemap><loc>{server.url("/news.xml")}</loc></sitemap>'
            "</sitemapindex>").encode(), headers=XML))
        server.route("/news.xml", Reply(body=urlset(server.url("/stories/1/"),
                                                    server.url("/stories/2/"),
                                                    server.url("/contact/"), news=True),
                                        headers=XML))
        for n in (1, 2):
            server.route(f"/stories/{n}/", Reply(body=article_html(n, 20 + n), headers=HTML))
        reg = crawl_registry(tmp_path, f'sitemaps = ["{server.url("/sitemap.xml")}"]\n'
                                       'url_pattern = "/stories/"\n')
        db = f"sqlite:///{tmp_path / 'r.db'}"
        run = harvest(db, reg)
        assert run.code == 0, run.stdout + run.stderr
        assert "2 new" in run.line("member")
        stored = rows(db, "SELECT url, fetched_via, published FROM article ORDER BY url")
        assert [r.fetched_via for r in stored] == ["sitemap", "sitemap"]
        assert str(stored[0].published).startswith("2026-10-10")  # news:publication_date
        assert not server.hits("/contact/")
    finally:
        server.close()


def test_parse_is_bounded_for_a_huge_flat_sitemap():
    locs = [f"https://m.example/stories/{n}/" for n in range(50_000)]
    sitemap = parse_sitemap(urlset(*locs))
    assert len(sitemap.entries) == 50_000


def test_fixture_files_are_ours():
    assert Path(__file__).read_text(encoding="utf-8")  # no network, nothing fetched
