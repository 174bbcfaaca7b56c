"""The feed spider's use of the worker pool (scrapers/workers.py): large feed bodies are parsed,
normalised and tagged in a worker process, with the same result as in-process; a worker that
dies on a feed fails that feed alone; a killed harvest leaves no worker behind."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from scrapy.http import Request, XmlResponse

from scrapers import feedwork
from scrapers.items import FetchOutcome
from scrapers.spiders import feeds
from scrapers.spiders.base import SOURCE_META, URL_META
from scrapers.workers import WorkerPool
from tests.feedserver import Reply
from tests.harvesting import EVENTS, Source, harvest, item, rows, rss, write_registry

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}


def big_feed(first: int, count: int, footer: str = "") -> bytes:
    # Long descriptions: the body passes ROUNDUP_OFFLOAD_MIN_BYTES, so it goes to a worker.
    # ``footer``: a paragraph ending every entry (a member's "About us").
    items = []
    for n in range(first, first + count):
        name, city, what = EVENTS[n % len(EVENTS)]
        story = (f"<p>Reporter {name} was {what} in {city} on day {n}, the union said. "
                 f"Case file {n * 37}. </p>") * 6
        items.append(item(n, description=story + footer,
                          pubDate=f"Tue, {n % 28 + 1:02d} Dec 2025 08:30:00 +0100"))
    return rss(items)


def test_harvest_through_workers_stores_what_an_in_process_harvest_stores(server, tmp_path):
    body = big_feed(0, 40)
    assert len(body) > 16 * 1024
    server.route("/big.xml", Reply(body=body, headers=RSS))
    # A broken entry (no link, no GUID) is counted as skipped from inside the worker too.
    server.route("/small.xml", Reply(body=rss([item(90), {"title": "No link at all"}]), headers=RSS))
    reg = write_registry(tmp_path / "s.toml", [Source("big", [server.url("/big.xml")]),
                                              Source("small", [server.url("/small.xml")])])
    dbs = {}
    for workers in ("2", "0"):
        db = f"sqlite:///{tmp_path / f'w{workers}.db'}"
        result = harvest(db, reg, env={"ROUNDUP_WORKERS": workers})
        assert result.code == 0, result.stderr
        assert "40 new" in result.line("big")
        assert "1 new" in result.line("small") and "1 entr(y/ies) skipped" in result.line("small")
        used = "worker pool: 1 job(s) answered by 2 worker process(es), 0 crash(es)" in result.stderr
        assert used == (workers == "2"), result.stderr
        dbs[workers] = rows(db, "SELECT source_id, guid, url, title, text, summary, published, "
                                "language, region, topics, content_hash FROM article ORDER BY guid")
    assert len(dbs["2"]) == 41
    assert dbs["2"] == dbs["0"]


FOOTER = ("<p>The Union of Reporters has defended journalists across the region since 1994; "
          "support our legal aid fund.</p>")


def test_the_next_harvest_tells_the_workers_the_members_learnt_footer(server, tmp_path):
    """A member whose posts all end with the same paragraph: the store learns it as boilerplate
    and drops it, and writes it down as a hint (source_boilerplate); the next harvest tells the
    worker, which drops it too, so that the store can use the worker's keys. Same stories as
    without workers."""
    reg = write_registry(tmp_path / "s.toml", [Source("union", [server.url("/feed.xml")])])
    dbs = {}
    for workers in ("2", "0"):
        db = f"sqlite:///{tmp_path / f'w{workers}.db'}"
        for first in (0, 40):
            server.route("/feed.xml", Reply(body=big_feed(first, 40, FOOTER), headers=RSS))
            result = harvest(db, reg, env={"ROUNDUP_WORKERS": workers})
            assert result.code == 0, result.stderr
            assert "40 new" in result.line("union")
            if workers == "0":
                assert "near-duplicate keys prepared" not in result.stderr
            elif first == 0:
                # Nothing known yet: the footer is learnt at the third post, and from there on
                # the store computes the keys the worker prepared with it.
                assert ("used for 2 new article(s), computed again by the store for 38"
                        in result.stderr), result.stderr
            else:
                assert ("used for 40 new article(s), computed again by the store for 0"
                        in result.stderr), result.stderr
        [(keys,)] = rows(db, "SELECT keys FROM source_boilerplate WHERE source_id = 'union'")
        assert any(k.startswith("the union of reporters has defended") for k in json.loads(keys))
        dbs[workers] = rows(db, "SELECT a.guid, a.title, a.text, a.match_reason, a.kind, "
                                "s.article_count FROM article a JOIN story s ON s.id = a.story_id "
                                "ORDER BY a.guid")
    assert len(dbs["2"]) == 80
    assert dbs["2"] == dbs["0"]


def _children(pid: int) -> set[int]:
    """Every descendant of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the workers")
def test_workers_exit_when_the_harvest_is_killed(server, tmp_path):
    import subprocess
    import sys
    import time

    from tests.harvesting import FAST, ROOT

    feeds = []
    for n in range(40):
        server.route(f"/f{n}.xml", Reply(body=big_feed(n * 100, 60), headers=RSS))
        feeds.append(server.url(f"/f{n}.xml"))
    reg = write_registry(tmp_path / "s.toml", [Source(f"m{n}", [url]) for n, url in enumerate(feeds)])
    proc = subprocess.Popen(
        [sys.executable, "-m", "roundups.cli", "harvest", "--db", f"sqlite:///{tmp_path / 'k.db'}",
         "--sources", str(reg), *FAST],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "ROUNDUP_WORKERS": "2"},
    )
    try:
        deadline = time.monotonic() + 60
        workers: set[int] = set()
        while time.monotonic() < deadline and len(workers) < 2 and proc.poll() is None:
            workers = _children(proc.pid)
            time.sleep(0.05)
        assert len(workers) >= 2, "the harvest finished before its workers were seen"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.1)
        assert not [p for p in workers if _alive(p)], "worker processes outlived the harvest"
    finally:
        if proc.poll() is None:
            proc.kill()


def prepare_or_die(job: feedwork.FeedJob) -> feedwork.FeedResult:
    if b"KILL-THE-WORKER" in job.body:
        os.kill(os.getpid(), signal.SIGKILL)  # as a segfault in a C parser or the OOM killer would
    return feedwork.prepare_feed(job)


def test_a_feed_whose_worker_dies_fails_alone(tmp_path, monkeypatch):
    from scrapy.utils.test import get_crawler

    from roundups.harvest import crawler_settings

    monkeypatch.setattr(feeds, "prepare_feed", prepare_or_die)
    reg = write_registry(tmp_path / "s.toml", [Source("aa", ["http://127.0.0.1:9/feed1.xml"])])
    # No reactor: the callback is driven by hand.
    values = crawler_settings(f"sqlite:///{tmp_path / 'r.db'}", reg,
                              overrides={"TWISTED_REACTOR_ENABLED": False})
    crawler = get_crawler(feeds.FeedSpider, values.copy_to_dict())
    spider = feeds.FeedSpider.from_crawler(crawler)
    source = spider.sources["aa"]
    good = big_feed(0, 30)
    bad = good.replace(b"<channel>", b"<channel><!-- KILL-THE-WORKER -->")

    def response(body: bytes, n: int) -> XmlResponse:
        url = f"http://127.0.0.1:9/feed{n}.xml"
        request = Request(url, meta={SOURCE_META: source.id, URL_META: url})
        return XmlResponse(url, body=body, request=request, headers=RSS)

    async def collect(n: int, body: bytes) -> list[Any]:
        return [x async for x in spider.parse_feed(response(body, n))]

    async def go() -> list[list[Any]]:
        spider.pool = WorkerPool(1)
        try:
            return list(await asyncio.gather(collect(1, bad), collect(2, good)))
        finally:
            spider.pool.close()
            spider.pool = None

    [failed], [ok] = asyncio.run(go())
    assert isinstance(failed, FetchOutcome) and failed.status == "failed"
    assert "worker process died" in (failed.error or "") and failed.articles == []
    assert failed.etag is None and failed.url.endswith("/feed1.xml")
    assert ok.status == "ok" and len(ok.articles) == 30
    assert ok.articles[0].published == datetime(2025, 12, 1, 7, 30, tzinfo=UTC)
