"""A process pool for the CPU-bound half of a harvest, so the reactor keeps downloading and the
store keeps writing while feeds are parsed on the other cores.

Parsing a feed (feedparser), normalising its entries and tagging them is pure Python that holds
the GIL; the Scrapy reactor and the store run in the main process. A feed body of at least
``ROUNDUP_OFFLOAD_MIN_BYTES`` is handed to a worker process (``await pool.run(fn, job)`` from an
async callback); smaller bodies are handled in-process, where a round trip would cost more than
the work.

* ``ROUNDUP_WORKERS`` — worker processes; ``-1`` (the default) means one per core, at most
  :data:`MAX_AUTO_WORKERS`; ``0`` handles everything in the main process.
* Workers are forked from a fork server (never from the threaded main process) that has already
  imported the parser, the language model and the tagging data, so a worker starts in
  milliseconds and the model is loaded once per run.
* A worker that dies (killed, out of memory, a crash in a C extension) breaks the pool: it is
  replaced and the job is tried once more on the new pool; a job that kills a second pool fails
  with :class:`WorkerCrashed` (its source is reported as failed, the other sources go on).
* The pool is shut down when the spider closes; a worker whose harvest process was killed
  (SIGKILL, the OOM killer) exits by itself.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from scrapy import signals
from scrapy.crawler import Crawler

__all__ = ["MAX_AUTO_WORKERS", "WorkerCrashed", "WorkerPool", "worker_count"]

logger = logging.getLogger("roundup.workers")

T = TypeVar("T")

#: ``ROUNDUP_WORKERS = -1`` starts one worker per core, at most this many.
MAX_AUTO_WORKERS = 4
#: Modules the fork server imports (and warms) before it forks any worker.
PRELOAD = ["scrapers.feedwork"]


def _exit_with_parent() -> None:
    """Worker initializer: exit when the harvest process is gone. A harvest killed with SIGKILL
    (or by the OOM killer) cannot shut its pool down, and a worker waiting for its next job would
    otherwise wait for ever. The parent's sentinel becomes ready when the parent dies."""
    parent = multiprocessing.parent_process()
    if parent is None:  # pragma: no cover - always set in a worker
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="roundup-parent-watch", daemon=True).start()


class WorkerCrashed(RuntimeError):
    """A worker process died twice while handling the same job."""


def worker_count(setting: int) -> int:
    if setting < 0:
        return min(os.cpu_count() or 1, MAX_AUTO_WORKERS)
    return setting


class WorkerPool:
    """``await pool.run(fn, *args)``: ``fn(*args)`` in a worker process (or here when the pool
    has no workers). ``fn`` and its arguments must be picklable (module-level functions,
    dataclasses)."""

    def __init__(self, workers: int, min_bytes: int = 0) -> None:
        self.workers = workers
        self.min_bytes = min_bytes
        self._pool: ProcessPoolExecutor | None = None
        self.jobs = 0  # handled by a worker process
        self.restarts = 0  # pools replaced after a worker died

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WorkerPool:
        settings = crawler.settings
        pool = cls(worker_count(settings.getint("ROUNDUP_WORKERS", -1)),
                   settings.getint("ROUNDUP_OFFLOAD_MIN_BYTES", 16 * 1024))
        crawler.signals.connect(pool.close, signal=signals.spider_closed)
        return pool

    def wanted(self, size: int) -> bool:
        """Whether a job on a body of ``size`` bytes goes to a worker."""
        return self.workers > 0 and size >= self.min_bytes

    def _ensure(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(PRELOAD)
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context,
                                             initializer=_exit_with_parent)
        return self._pool

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        if self._pool is pool:
            self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self.workers <= 0:
            return fn(*args)
        for attempt in (1, 2):
            pool = self._ensure()
            try:
                result = await asyncio.wrap_future(pool.submit(fn, *args))
            except BrokenProcessPool as exc:
                self._discard(pool)
                self.restarts += 1
                if attempt == 2:
                    raise WorkerCrashed(
                        f"a worker process died twice while running {fn.__name__}"
                    ) from exc
                logger.warning("a worker process died; starting a new pool and trying again")
                continue
            self.jobs += 1
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        if self.jobs or self.restarts:
            logger.info("worker pool: %d job(s) handled by %d worker process(es), %d restart(s)",
                        self.jobs, self.workers, self.restarts)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
