"""Distributed crawling: two `roundup harvest --distributed` workers share one crawl through the
local Redis (scrapy-redis scheduler and duplicate filter) and write into the local PostgreSQL.

Each of the 60 feeds must be fetched exactly once, whichever worker takes it, and each article
stored once; both workers must have done part of the work.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.feedserver import FeedServer, Reply
from tests.harvesting import FAST, ROOT, Source, item, rows, rss, write_registry

REDIS_URL = os.environ.get("ROUNDUP_TEST_REDIS", "redis://127.0.0.1:6379/0")
FEEDS = 60


@pytest.fixture
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.skip(f"Redis at {REDIS_URL} does not answer: {exc}")
    finally:
        client.close()
    return REDIS_URL


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_two_workers_share_one_crawl(store_url: str, redis_url: str, tmp_path: Path) -> None:
    server = FeedServer()
    try:
        sources = []
        for f in range(FEEDS):
            entries = [item(f * 3 + k, guid=f"feed{f}-entry{k}",
                            link=f"https://member{f}.example/alerts/{k}") for k in range(3)]
            # A little latency, as real servers have, so both workers get a share of the queue.
            server.route(f"/feed{f}.xml", Reply(body=rss(entries), stall=0.15,
                                                headers={"Content-Type": "application/rss+xml"}))
            sources.append(Source(f"member{f}", [server.url(f"/feed{f}.xml")]))
        registry = write_registry(tmp_path / "sources.toml", sources)
        run_id = f"test-{uuid.uuid4().hex[:10]}"
        command = [sys.executable, "-m", "roundups.cli", "harvest", "--db", store_url,
                   "--sources", str(registry), "--distributed", redis_url, "--run-id", run_id,
                   *FAST, "-s", "CONCURRENT_REQUESTS=2", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=2"]
        from store.db import open_db

        open_db(store_url)[0].dispose()  # migrate once, before the workers race to do it
        workers = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outputs = [w.communicate(timeout=300) for w in workers]
        for worker, (out, err) in zip(workers, outputs, strict=True):
            assert worker.returncode == 0, out + err
        hits = {f"/feed{f}.xml": len(server.hits(f"/feed{f}.xml")) for f in range(FEEDS)}
        assert set(hits.values()) == {1}, {p: n for p, n in hits.items() if n != 1}
        total, distinct = rows(store_url, "SELECT count(*), count(DISTINCT source_id || '|' || guid_key) "
                                          "FROM article")[0]
        assert total == distinct == FEEDS * 3
        stored = [sum(int(n) for n in re.findall(r"; (\d+) new", out)) for out, _ in outputs]
        assert sum(stored) == FEEDS * 3 and min(stored) > 0, stored
    finally:
        server.close()
