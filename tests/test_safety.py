"""Safety and politeness limits: addresses, hosts, byte caps after decompression, redirects,
robots.txt, deadlines, crawl delays. Unit tests on the middlewares, then real crawls."""

from __future__ import annotations

import asyncio
import gzip
import os
import socket
import subprocess
import sys
import zlib
from pathlib import Path

import brotli
import pytest
from pytest_httpserver import HTTPServer
from scrapy import Request
from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler
from werkzeug import Response as WResponse

from scrapers.middlewares import (
    ALLOW_LOCAL_META,
    DOMAINS_META,
    OffsiteRequest,
    SafeAddressMiddleware,
    UnsafeAddress,
)
from scrapers.politeness import DeadlinePassed, PolitenessMiddleware, crawl_delay_slots, slot_name
from scrapers.spiders.base import SOURCE_META
from store.registry_types import Source
from tests.feedserver import FeedServer, Reply
from tests.harvesting import FAST, ROOT, harvest, rows
from tests.test_listing import HTML, article_html, crawl_registry, listing_page

# --- addresses -----------------------------------------------------------------------------------

REFUSED = [
    "http://127.0.0.1/", "http://127.8.9.10:8080/x", "http://localhost/", "http://[::1]/",
    "http://10.1.2.3/", "http://172.16.0.1/", "http://192.168.1.1/", "http://169.254.169.254/latest/",
    "http://0.0.0.0/", "http://[::ffff:127.0.0.1]/", "http://[fe80::1]/", "http://100.64.0.1/",
    "http://224.0.0.1/", "http://240.0.0.1/", "http://2130706433/", "http://0177.0.0.1/",
    "ftp://198.51.100.7/", "file:///etc/passwd",
]


def run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize("url", REFUSED)
def test_non_public_addresses_are_refused(url):
    with pytest.raises(IgnoreRequest):
        run(SafeAddressMiddleware().process_request(Request(url)))


def test_the_refusal_names_the_redirect_chain():
    request = Request("http://127.0.0.1:9/secret",
                      meta={"redirect_urls": ["https://member.example/feed/"]})
    with pytest.raises(UnsafeAddress, match=r"redirected from https://member.example/feed/.*allow_local"):
        run(SafeAddressMiddleware().process_request(request))


def test_public_addresses_and_local_sources_pass():
    mw = SafeAddressMiddleware()
    assert run(mw.process_request(Request("http://8.8.8.8/"))) is None
    assert run(mw.process_request(Request("http://127.0.0.1:5/", meta={ALLOW_LOCAL_META: True}))) is None


def test_a_hosts_addresses_are_looked_up_once_per_crawl():
    """The system resolver is asked once per host and port (as Scrapy's DNS cache does for the
    connection); the answer, refusal included, holds for every later request to that host; a
    failed lookup is asked again; the least recently used host is dropped past the cache size."""
    from scrapers.middlewares import resolve

    asked: list[tuple[str, int]] = []

    async def counting(host: str, port: int) -> list[str]:
        asked.append((host, port))
        if host.endswith(".invalid"):  # the system resolver's answer, without asking a server
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return await resolve(host, port)  # localhost: /etc/hosts

    async def crawl(mw: SafeAddressMiddleware) -> None:
        for path in ("/a", "/b", "/c"):
            with pytest.raises(UnsafeAddress, match="non-public address"):
                await mw.process_request(Request(f"http://localhost:8080{path}"))
        assert await mw.process_request(Request("http://8.8.8.8/")) is None  # an address: no lookup
        with pytest.raises(IgnoreRequest, match="DNS lookup failed"):
            await mw.process_request(Request("http://no-such-host.invalid/"))
        with pytest.raises(IgnoreRequest, match="DNS lookup failed"):
            await mw.process_request(Request("http://no-such-host.invalid/again"))

    run(crawl(SafeAddressMiddleware(lookup=counting)))
    assert asked.count(("localhost", 8080)) == 1
    assert asked.count(("no-such-host.invalid", 80)) == 2

    asked.clear()
    small = SafeAddressMiddleware(cache_size=1, lookup=counting)

    async def two_hosts() -> None:
        for url in ("http://localhost/", "http://localhost:81/", "http://localhost/"):
            with pytest.raises(UnsafeAddress):
                await small.process_request(Request(url))

    run(two_hosts())
    assert asked == [("localhost", 80), ("localhost", 81), ("localhost", 80)]


def test_requests_leaving_the_source_hosts_are_refused_at_every_hop():
    mw = SafeAddressMiddleware()
    meta = {DOMAINS_META: ("member.example",), ALLOW_LOCAL_META: True}
    assert run(mw.process_request(Request("http://127.0.0.1/", meta={**meta, DOMAINS_META: (
        "127.0.0.1",)}))) is None
    with pytest.raises(OffsiteRequest, match="not one of the source's hosts"):
        run(mw.process_request(Request("http://tracker.example/r", meta={
            **meta, "redirect_urls": ["https://member.example/a"]})))


# --- byte caps after decompression (Scrapy's HttpCompressionMiddleware, DOWNLOAD_MAXSIZE) ---------

CAP = 100_000


def compression_mw() -> HttpCompressionMiddleware:
    crawler = get_crawler(settings_dict={"DOWNLOAD_MAXSIZE": CAP, "TWISTED_REACTOR_ENABLED": False})
    return HttpCompressionMiddleware.from_crawler(crawler)


BIG = b"<html><body>" + b"a" * (CAP * 10) + b"</body></html>"


@pytest.mark.parametrize(("encoding", "compress"), [
    ("gzip", gzip.compress), ("deflate", zlib.compress), ("br", brotli.compress),
])
def test_a_small_compressed_body_that_expands_past_the_cap_is_refused(encoding, compress):
    body = compress(BIG)
    assert len(body) < CAP // 10
    request = Request("https://member.example/a")
    response = HtmlResponse(request.url, body=body, request=request,
                            headers={"Content-Encoding": encoding, "Content-Type": "text/html"})
    with pytest.raises(IgnoreRequest, match="DOWNLOAD_MAXSIZE"):
        compression_mw().process_response(request, response)


def test_a_compressed_body_under_the_cap_is_decompressed():
    page = b"<html><body>fine</body></html>"
    request = Request("https://member.example/a")
    response = HtmlResponse(request.url, body=gzip.compress(page), request=request,
                            headers={"Content-Encoding": "gzip", "Content-Type": "text/html"})
    assert compression_mw().process_response(request, response).body == page


# --- politeness ----------------------------------------------------------------------------------


def test_politeness_settings():
    import scrapers.settings as s

    assert s.ROBOTSTXT_OBEY and s.AUTOTHROTTLE_ENABLED
    assert s.CONCURRENT_REQUESTS_PER_DOMAIN == 2
    assert s.ROUNDUP_CONTACT_URL in s.USER_AGENT and s.USER_AGENT.startswith("Roundup/")
    assert s.REDIRECT_MAX_TIMES <= 10 and 0 < s.DOWNLOAD_TIMEOUT <= 60
    assert s.ROUNDUP_SOURCE_DEADLINE > 0


def test_the_contact_url_comes_from_the_environment():
    code = "import scrapers.settings as s; print(s.USER_AGENT)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "ROUNDUP_CONTACT_URL": "https://ops.example/contact"},
                         check=True).stdout
    assert "+https://ops.example/contact" in out


def test_crawl_delay_gives_the_source_its_own_slot():
    sources = [Source("slow", "Slow", "https://slow.example/", crawl_delay=7.5),
               Source("fast", "Fast", "https://fast.example/")]
    assert crawl_delay_slots(sources) == {
        slot_name("slow"): {"delay": 7.5, "concurrency": 1, "randomize_delay": False}}
    crawler = get_crawler(settings_dict={"DOWNLOAD_SLOTS": crawl_delay_slots(sources),
                                         "TWISTED_REACTOR_ENABLED": False})
    mw = PolitenessMiddleware.from_crawler(crawler)
    slow = Request("https://slow.example/a", meta={SOURCE_META: "slow"})
    fast = Request("https://fast.example/a", meta={SOURCE_META: "fast"})
    mw.process_request(slow)
    mw.process_request(fast)
    assert slow.meta["download_slot"] == slot_name("slow")
    assert slow.meta["autothrottle_dont_adjust_delay"] is True  # AutoThrottle may not shorten it
    assert "download_slot" not in fast.meta


def test_the_per_source_deadline_refuses_later_requests():
    crawler = get_crawler(settings_dict={"ROUNDUP_SOURCE_DEADLINE": 0.01,
                                         "TWISTED_REACTOR_ENABLED": False})
    mw = PolitenessMiddleware.from_crawler(crawler)
    mw.process_request(Request("https://a.example/1", meta={SOURCE_META: "a"}))
    mw.started["a"] -= 1.0
    with pytest.raises(DeadlinePassed, match="deadline"):
        mw.process_request(Request("https://a.example/2", meta={SOURCE_META: "a"}))
    mw.process_request(Request("https://b.example/1", meta={SOURCE_META: "b"}))  # others go on


# --- real crawls ---------------------------------------------------------------------------------


def listing_registry(tmp_path: Path, server: FeedServer, path: str = "/news/") -> Path:
    return crawl_registry(tmp_path, f'start_urls = ["{server.url(path)}"]\n'
                                    'links = "article.post h2 a::attr(href)"\n')


def test_a_listing_page_ten_times_the_byte_cap_fails_with_a_clear_error(server, tmp_path):
    server.route("/news/", Reply(body=b"<html><body>" + b"x" * 1_000_000 + b"</body></html>",
                                 headers=HTML))
    db = f"sqlite:///{tmp_path / 'r.db'}"
    result = harvest(db, listing_registry(tmp_path, server), "-s", "DOWNLOAD_MAXSIZE=100000")
    assert result.code == 1
    assert "too large" in result.stdout, result.stdout
    assert rows(db, "SELECT count(*) FROM article") == [(0,)]


def test_a_gzip_bomb_article_is_a_per_item_error_and_the_rest_is_stored(server, tmp_path):
    server.route("/news/", Reply(body=listing_page(["/news/1/", "/news/bomb/"]).encode(), headers=HTML))
    server.route("/news/1/", Reply(body=article_html(1, 12), headers=HTML))
    bomb = gzip.compress(b"<html><body>" + b"A" * 20_000_000 + b"</body></html>")
    server.route("/news/bomb/", Reply(body=bomb, headers={**HTML, "Content-Encoding": "gzip"}))
    db = f"sqlite:///{tmp_path / 'r.db'}"
    result = harvest(db, listing_registry(tmp_path, server), "-s", "DOWNLOAD_MAXSIZE=1000000")
    line = result.line("member")
    assert "1 new" in line and "1 failed" in line, result.stdout
    assert "DOWNLOAD_MAXSIZE" in result.stdout and "/news/bomb/" in result.stdout


def test_too_many_redirects_stop_with_an_error_naming_the_chain(server, tmp_path):
    for n in range(8):
        server.route(f"/r{n}", Reply(302, headers={"Location": server.url(f"/r{n + 1}")}))
    server.route("/r8", Reply(body=listing_page([]).encode(), headers=HTML))
    result = harvest(f"sqlite:///{tmp_path / 'r.db'}", listing_registry(tmp_path, server, "/r0"),
                     "-s", "REDIRECT_MAX_TIMES=3")
    assert result.code == 1
    assert "redirect" in result.stdout.lower() and "/r0" in result.stdout
    assert not server.hits("/r5")


def test_robots_txt_disallowing_the_listing_is_obeyed(server, tmp_path):
    server.route("/robots.txt", Reply(body=b"User-agent: Roundup\nDisallow: /news/\n",
                                      headers={"Content-Type": "text/plain"}))
    server.route("/news/", Reply(body=listing_page(["/news/1/"]).encode(), headers=HTML))
    result = harvest(f"sqlite:///{tmp_path / 'r.db'}", listing_registry(tmp_path, server),
                     "-s", "ROBOTSTXT_OBEY=True")
    assert server.hits("/robots.txt")
    assert not server.hits("/news/") and not server.hits("/news/1/")
    assert "robots.txt" in result.stdout, result.stdout


def test_an_image_link_is_skipped_at_the_headers_with_a_reason(server, tmp_path):
    server.route("/news/", Reply(body=listing_page(["/news/1/", "/news/photo.jpg"]).encode(),
                                 headers=HTML))
    server.route("/news/1/", Reply(body=article_html(1, 12), headers=HTML))
    server.route("/news/photo.jpg", Reply(body=b"\xff\xd8\xff" + b"\x00" * 500_000,
                                          headers={"Content-Type": "image/jpeg"}))
    result = harvest(f"sqlite:///{tmp_path / 'r.db'}", listing_registry(tmp_path, server))
    assert result.code == 0, result.stdout + result.stderr
    assert "1 new" in result.line("member")
    assert "image/jpeg" in result.stdout and "is not HTML or PDF" in result.stdout


# A member's server on 127.0.0.2 stands for a public host: the harvest below runs with
# is_public_ip patched to accept that one address, so the first hop is allowed and only the
# redirect to 127.0.0.1 is tested.
PATCHED_HARVEST = (
    "import sys, scrapers.middlewares as m; real = m.is_public_ip; "
    "m.is_public_ip = lambda a: a == '127.0.0.2' or real(a); "
    "from roundups.cli import main; sys.exit(main())"
)


def test_a_redirect_to_loopback_from_a_source_without_allow_local_never_connects(server, tmp_path):
    server.route("/secret", Reply(body=b"internal admin page"))
    public = HTTPServer(host="127.0.0.2", port=0)
    public.start()
    try:
        target = server.url("/secret")
        public.expect_request("/feed.xml").respond_with_response(
            WResponse(status=302, headers={"Location": target}))
        public.expect_request("/news/").respond_with_response(
            WResponse(status=302, headers={"Location": target}))
        reg = tmp_path / "s.toml"
        reg.write_text(f"""
[[source]]
id = "member"
name = "A member"
homepage = "{public.url_for('/')}"
feeds = ["{public.url_for('/feed.xml')}"]
allow_local = false

[source.listing]
start_urls = ["{public.url_for('/news/')}"]
links = "a::attr(href)"
""", encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, "-c", PATCHED_HARVEST, "harvest", "--db",
             f"sqlite:///{tmp_path / 'r.db'}", "--sources", str(reg), *FAST],
            capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert len(public.log) == 2  # both first hops were made...
        assert server.hits("/secret") == []  # ...and no connection reached the redirect target
        assert "non-public address (127.0.0.1)" in proc.stdout
        assert "not one of the source's hosts" in proc.stdout  # the listing's redirect, too
    finally:
        public.clear()
        public.stop()


def test_a_listing_source_without_allow_local_cannot_reach_loopback_at_all(server, tmp_path):
    server.route("/news/", Reply(body=listing_page([]).encode(), headers=HTML))
    reg = tmp_path / "s.toml"
    reg.write_text(f"""
[[source]]
id = "member"
name = "A member"
homepage = "{server.url('/')}"

[source.listing]
start_urls = ["{server.url('/news/')}"]
links = "a::attr(href)"
""", encoding="utf-8")
    result = harvest(f"sqlite:///{tmp_path / 'r.db'}", reg)
    assert result.code == 1 and server.requests == []
    assert "non-public address" in result.stdout
