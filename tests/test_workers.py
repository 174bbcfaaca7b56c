"""scrapers.workers: the process pool the feed spider hands large feed bodies to."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from scrapers.workers import MAX_AUTO_WORKERS, WorkerCrashed, WorkerPool, worker_count
from tests import workerjobs
from tests.feedserver import Reply
from tests.harvesting import EVENTS, Source, harvest, item, rows, rss, write_registry

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}


def run(pool: WorkerPool, fn, *args):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        try:
            return await pool.run(fn, *args)
        finally:
            pool.close()

    return asyncio.run(go())


def test_jobs_run_in_another_process() -> None:
    pool = WorkerPool(1)
    value, pid = run(pool, workerjobs.square, 7)
    assert value == 49 and pid != os.getpid()
    assert pool.jobs == 1 and pool.restarts == 0


def test_no_workers_runs_in_process() -> None:
    pool = WorkerPool(0)
    value, pid = run(pool, workerjobs.square, 5)
    assert value == 25 and pid == os.getpid()
    assert not pool.wanted(10**9)


def test_small_bodies_stay_in_process() -> None:
    pool = WorkerPool(2, min_bytes=1000)
    assert not pool.wanted(999) and pool.wanted(1000)


def test_an_exception_in_a_job_reaches_the_caller_and_the_pool_survives() -> None:
    pool = WorkerPool(1)

    async def go():  # type: ignore[no-untyped-def]
        try:
            with pytest.raises(ValueError, match="bad entry"):
                await pool.run(workerjobs.fail, "bad entry")
            return await pool.run(workerjobs.square, 3)
        finally:
            pool.close()

    assert asyncio.run(go())[0] == 9
    assert pool.restarts == 0


def test_a_worker_that_dies_once_is_replaced_and_the_job_retried(tmp_path: Path) -> None:
    pool = WorkerPool(1)
    assert run(pool, workerjobs.die_once, str(tmp_path / "marker")) == "done"
    assert pool.restarts == 1 and pool.jobs == 1


def test_a_job_that_kills_two_pools_fails_clearly_and_later_jobs_still_run() -> None:
    pool = WorkerPool(1)

    async def go():  # type: ignore[no-untyped-def]
        try:
            with pytest.raises(WorkerCrashed, match="died twice while running die"):
                await pool.run(workerjobs.die)
            return await pool.run(workerjobs.square, 4)
        finally:
            pool.close()

    assert asyncio.run(go())[0] == 16
    assert pool.restarts == 2


def test_worker_count() -> None:
    assert worker_count(0) == 0 and worker_count(3) == 3
    assert 1 <= worker_count(-1) <= MAX_AUTO_WORKERS


def big_feed(first: int, count: int) -> bytes:
    # Long descriptions: the body passes ROUNDUP_OFFLOAD_MIN_BYTES, so it goes to a worker.
    items = []
    for n in range(first, first + count):
        name, city, what = EVENTS[n % len(EVENTS)]
        story = (f"<p>Reporter {name} was {what} in {city} on day {n}, the union said. "
                 f"Case file {n * 37}. </p>") * 6
        items.append(item(n, description=story, pubDate=f"Tue, {n % 28 + 1:02d} Dec 2025 08:30:00 +0100"))
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
        used = "worker pool: 1 job(s) handled by 2 worker process(es)" in result.stderr
        assert used == (workers == "2"), result.stderr
        dbs[workers] = rows(db, "SELECT source_id, guid, url, title, text, summary, published, "
                                "language, region, topics, content_hash FROM article ORDER BY guid")
    assert len(dbs["2"]) == 41
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
    import signal
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
        while time.monotonic() < deadline and len(workers) < 3 and proc.poll() is None:
            workers = _children(proc.pid)  # fork server, its workers, the resource tracker
            time.sleep(0.05)
        assert len(workers) >= 3, "the harvest finished before its workers were seen"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.1)
        assert not [p for p in workers if _alive(p)], "worker processes outlived the harvest"
    finally:
        if proc.poll() is None:
            proc.kill()
