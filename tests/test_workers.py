"""The extraction pool: pages read in worker processes, a dead worker costs one page, clean
shutdown, and in-process reading when the pool is disabled."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from scrapy import signals
from scrapy.http import HtmlResponse

from pipeline.items import RawReport
from scrapers import workers
from scrapers.articles import PageSnapshot, read_article, read_snapshot
from scrapers.items import FetchOutcome
from scrapers.spiders.listing import ListingSpider
from scrapers.workers import WorkerCrashed, WorkerPool
from tests.test_listing import make_spider, respond, split

NOW = datetime(2026, 10, 28, 12, 0, tzinfo=UTC)
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "pages"
HTML = {"Content-Type": "text/html; charset=utf-8"}


def square(n: int) -> int:
    return n * n


def big(n: int, payload: bytes) -> bytes:
    return payload[::-1] + b"y" * n


def fail(message: str) -> None:
    raise ValueError(message)


def die_on(marker: str, n: int) -> int:
    """Kills its own worker process (as a segfault or the OOM killer would) for ``marker``."""
    if marker == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    return n


def read_or_die(page: PageSnapshot, now: datetime, selectors: Any) -> Any:
    if b"CRASH-THE-WORKER" in page.body:
        os.kill(os.getpid(), signal.SIGKILL)
    return read_snapshot(page, now, selectors)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_results_and_exceptions_come_back_from_the_workers():
    async def go() -> tuple[list[int], Exception]:
        pool = WorkerPool(2)
        try:
            squares = await asyncio.gather(*(pool.run(square, n) for n in range(20)))
            with pytest.raises(ValueError, match="bad page") as caught:
                await pool.run(fail, "bad page")
            return squares, caught.value
        finally:
            pool.close()

    squares, _ = run(go())
    assert squares == [n * n for n in range(20)]


def test_a_dead_worker_costs_only_its_own_page():
    async def go() -> tuple[list[Any], WorkerPool]:
        pool = WorkerPool(2)
        try:
            jobs = [pool.run(die_on, "die" if n == 7 else "ok", n) for n in range(30)]
            results = await asyncio.gather(*jobs, return_exceptions=True)
            after = await pool.run(square, 4)  # the pool goes on with a new worker
            assert after == 16
            return results, pool
        finally:
            pool.close()

    results, pool = run(go())
    assert isinstance(results[7], WorkerCrashed)
    assert [r for n, r in enumerate(results) if n != 7] == [n for n in range(30) if n != 7]
    assert pool.crashes == 1


def test_close_stops_and_joins_every_worker():
    async def go() -> tuple[WorkerPool, list[Any]]:
        pool = WorkerPool(2)
        await asyncio.gather(*(pool.run(square, n) for n in range(4)))
        processes = [w.process for w in pool._live]
        pool.close()
        pool.close()  # idempotent
        return pool, processes

    pool, processes = run(go())
    assert pool.closed and processes
    assert all(not p.is_alive() and p.exitcode == 0 for p in processes)
    with pytest.raises(RuntimeError, match="closed"):
        run(pool.run(square, 2))


def test_a_page_read_in_a_worker_reads_as_in_process():
    body = (FIXTURES / "article_selectors.html").read_bytes()
    response = HtmlResponse("https://m.example/a", body=body, headers=HTML)

    async def go() -> Any:
        pool = WorkerPool(1)
        try:
            return await pool.run(read_snapshot, PageSnapshot.of(response), NOW, None)
        finally:
            pool.close()

    assert run(go()) == read_article(response, now=NOW)


LISTING = 'start_urls = ["https://member.example/news/"]\nlinks = "h2 a::attr(href)"'


def test_a_page_that_kills_its_worker_is_a_per_item_failure(tmp_path, monkeypatch):
    import scrapers.spiders.pages as pages

    monkeypatch.setattr(pages, "read_snapshot", read_or_die)
    spider = make_spider(tmp_path, ListingSpider, LISTING)
    requests, _, _ = split(spider.parse_listing(respond(
        _listing_request(spider),
        "".join(f'<h2><a href="/news/{n}">{n}</a></h2>' for n in range(4)))))
    article = (FIXTURES / "article_selectors.html").read_text(encoding="utf-8")
    bodies = [article, article.replace("<body>", "<body><!-- CRASH-THE-WORKER -->"), article, article]

    async def go() -> list[list[Any]]:
        spider.pool = WorkerPool(2)
        try:
            outputs = [spider.parse_article(respond(r, b)) for r, b in zip(requests, bodies, strict=True)]
            return list(await asyncio.gather(*outputs))
        finally:
            spider.pool.close()
            spider.pool = None

    results = run(go())
    crashed = results[1]
    assert len(crashed) == 1 and isinstance(crashed[0], FetchOutcome)
    assert crashed[0].status == "failed" and "worker process died" in crashed[0].error
    for n in (0, 2, 3):
        report, outcome = results[n]
        assert isinstance(report, RawReport) and "communal land" in report.content_html
        assert outcome.status == "ok"


def _listing_request(spider: ListingSpider) -> Any:
    from scrapers.spiders.listing import PAGE_META

    source = spider.sources["member"]
    url = "https://member.example/news/"
    return spider.page_request(source, url, callback=spider.parse_listing,
                               meta={PAGE_META: {"page": 1, "seen": {url}, "start": url}})


def test_the_pool_is_held_while_the_crawl_runs_and_shut_down_when_it_closes(tmp_path):
    spider = make_spider(tmp_path, ListingSpider, LISTING, ROUNDUP_WORKERS=1)
    assert spider.pool is None  # callbacks called by hand read in-process

    async def go() -> tuple[Any, Any]:
        spider.crawler.signals.send_catch_log(signals.spider_opened, spider=spider)
        pool = spider.pool
        assert pool is not None and not pool.closed
        assert await pool.run(square, 3) == 9
        processes = [w.process for w in pool._live]
        spider.crawler.signals.send_catch_log(signals.spider_closed, spider=spider,
                                              reason="finished")
        return pool, processes

    pool, processes = run(go())
    assert spider.pool is None and pool.closed and workers._shared is None
    # The crawl does not wait for the workers' exit; the pool's reaper thread does.
    assert pool.reaper is not None
    workers.wait_for_stopped_workers()
    assert not pool.reaper.is_alive()
    assert all(not p.is_alive() and p.exitcode == 0 for p in processes)


def test_no_pool_when_disabled(tmp_path):
    spider = make_spider(tmp_path, ListingSpider, LISTING, ROUNDUP_WORKERS=0)
    spider.crawler.signals.send_catch_log(signals.spider_opened, spider=spider)
    assert spider.pool is None
    article = (FIXTURES / "article_selectors.html").read_text(encoding="utf-8")
    requests, _, _ = split(spider.parse_listing(respond(
        _listing_request(spider), '<h2><a href="/news/1">1</a></h2>')))
    _, [report], [outcome] = split(spider.parse_article(respond(requests[0], article)))
    assert "communal land" in report.content_html and outcome.status == "ok"


def test_a_worker_that_died_while_idle_does_not_fail_the_next_page():
    async def go() -> tuple[int, int]:
        pool = WorkerPool(1)
        try:
            assert await pool.run(square, 2) == 4
            worker = pool._live[0]
            os.kill(worker.process.pid, signal.SIGKILL)
            worker.process.join(timeout=5)
            return await pool.run(square, 5), pool.crashes
        finally:
            pool.close()

    assert run(go()) == (25, 1)


def test_pages_and_answers_larger_than_the_socket_buffers():
    payload = bytes(range(256)) * 20_000  # 5 MB each way: partial writes, replies in pieces

    async def go() -> list[bytes]:
        pool = WorkerPool(2)
        try:
            return list(await asyncio.gather(*(pool.run(big, n, payload) for n in range(4))))
        finally:
            pool.close()

    for n, answer in enumerate(run(go())):
        assert answer == payload[::-1] + b"y" * n


def test_a_feed_entry_whose_page_kills_its_worker_keeps_the_summary(tmp_path, monkeypatch):
    import scrapers.fulltext as fulltext
    from tests.test_fulltext import feed_output, middleware

    monkeypatch.setattr(fulltext, "read_snapshot", read_or_die)
    mw, _ = middleware(tmp_path)
    out = list(mw.process_spider_output(None, feed_output(2)))
    page = (FIXTURES / "article_selectors.html").read_bytes()
    bodies = [page, page.replace(b"<body>", b"<body><!-- CRASH-THE-WORKER -->")]

    async def go() -> list[list[Any]]:
        mw.pool = WorkerPool(1)
        try:
            return list(await asyncio.gather(*(
                mw.parse_page(HtmlResponse(r.url, body=b, request=r, headers=HTML))
                for r, b in zip(out, bodies, strict=True))))
        finally:
            mw.pool.close()
            mw.pool = None

    [read], [kept, outcome] = run(go())
    assert read.fetched_via == "fulltext" and "communal land" in read.content_html
    assert kept.fetched_via == "feed" and kept.content_html is None
    assert kept.summary_html == "<p>Only a summary.</p>"
    assert any("summary kept" in w and "worker process died" in w for w in outcome.warnings)


def test_worker_count_setting(monkeypatch: pytest.MonkeyPatch):
    for cores, auto in ((None, 0), (1, 0), (2, 2), (8, 8)):
        monkeypatch.setattr(workers.os, "cpu_count", lambda cores=cores: cores)
        assert workers.worker_count(None) == auto and workers.worker_count("") == auto
        assert workers.worker_count(-1) == auto and workers.worker_count("-1") == auto
        assert workers.worker_count(0) == 0 and workers.worker_count("3") == 3


def own_niceness(_: int) -> int:
    return os.nice(0)


def test_workers_run_at_a_lower_priority_than_the_crawl():
    """The crawl process (downloads, storing) must not wait for a core behind its own workers."""
    async def go(niceness: int) -> list[int]:
        pool = WorkerPool(2, niceness=niceness)
        try:
            return await asyncio.gather(*(pool.run(own_niceness, n) for n in range(6)))
        finally:
            pool.close()

    mine = os.nice(0)
    assert run(go(workers.DEFAULT_NICENESS)) == [min(19, mine + workers.DEFAULT_NICENESS)] * 6
    assert run(go(0)) == [mine] * 6
    assert os.nice(0) == mine  # the crawl's own priority is untouched


def test_the_crawl_settings_give_the_pool_its_niceness():
    from scrapy.utils.test import get_crawler

    assert workers.worker_niceness(get_crawler()) == workers.DEFAULT_NICENESS
    crawler = get_crawler(settings_dict={workers.NICENESS_SETTING: "0"})
    assert workers.worker_niceness(crawler) == 0
    crawler = get_crawler(settings_dict={workers.NICENESS_SETTING: "-5"})
    assert workers.worker_niceness(crawler) == 0  # raising priority is not the pool's business


def sleep_for(seconds: float, n: int) -> int:
    time.sleep(seconds)
    return n


def test_a_job_past_the_timeout_fails_and_its_worker_is_replaced():
    async def go() -> tuple[Any, list[int], int]:
        pool = WorkerPool(1, job_timeout=0.5)
        try:
            stuck = pool.run(sleep_for, 3600, 0)  # a parser stuck in a loop
            behind = [pool.run(sleep_for, 0, n) for n in (1, 2)]  # queued behind it
            results = await asyncio.gather(stuck, *behind, return_exceptions=True)
            return results[0], list(results[1:]), pool.crashes
        finally:
            pool.close()

    started = time.monotonic()
    stuck, behind, crashes = run(go())
    assert isinstance(stuck, WorkerCrashed) and "longer than 0.5 s" in str(stuck)
    assert behind == [1, 2] and crashes == 1
    assert time.monotonic() - started < 30


def test_jobs_within_the_timeout_are_untouched():
    async def go() -> tuple[list[int], int]:
        pool = WorkerPool(1, job_timeout=2)
        try:
            return list(await asyncio.gather(*(pool.run(sleep_for, 0.3, n) for n in range(4)))), \
                pool.crashes
        finally:
            pool.close()

    # Four jobs of 0.3 s each in one worker: together longer than the timeout, each well within.
    assert run(go()) == ([0, 1, 2, 3], 0)


def test_a_job_that_cannot_be_sent_fails_alone_and_the_pool_goes_on():
    async def go() -> tuple[Any, list[int]]:
        pool = WorkerPool(1)
        try:
            # A lambda cannot be pickled to a worker process.
            bad = asyncio.ensure_future(pool.run(lambda: 1))
            good = [asyncio.ensure_future(pool.run(square, n)) for n in range(4)]
            failed = await asyncio.gather(bad, return_exceptions=True)
            return failed[0], list(await asyncio.wait_for(asyncio.gather(*good), 30))
        finally:
            pool.close()

    error, squares = run(go())
    assert isinstance(error, workers.WorkerError) and "could not be sent" in str(error)
    assert squares == [0, 1, 4, 9]
