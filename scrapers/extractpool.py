"""Article extraction in worker processes while the reactor keeps downloading.

Reading an article page (lxml, trafilatura, htmldate; pypdf for a PDF) is CPU work that would
otherwise stall Twisted's reactor, the one thread that also downloads, schedules and runs every
middleware. With ``ROUNDUP_EXTRACT_WORKERS`` > 0 (the default is the machine's core count), the
page spiders and the full-text middleware send each downloaded page to a worker process and await
the :class:`~scrapers.articles.PageReading` without blocking the reactor; with 0, pages are read
in-process as before. The reading is the same function either way
(:func:`scrapers.articles.read_article`); only where it runs differs.

One pool serves every crawl of the process (``roundup harvest`` runs three side by side): the
first crawl to open starts it, the last to close shuts it down (workers are told to stop and
joined).

Each worker is one process on one socket pair, read and written by the event loop itself (no
helper threads, which would fight the reactor for the GIL), and holds one page at a time. A
worker that dies mid-page (a segfault in a C parser, the OOM killer) therefore costs exactly that
page: :class:`ExtractionCrashed`, which the callers turn into a per-item failure (or, for a feed
entry, "summary kept"); a new worker takes its place and the rest of the listing is harvested.
An exception raised by the reading itself is re-raised in the crawl, as it would be in-process.

Workers are forked from a fork server (``ROUNDUP_EXTRACT_START_METHOD``, default
"forkserver"; "spawn" works too, importing the extraction libraries again in each worker), never
from the crawl itself: a worker forked from the crawl would inherit its open files and sockets —
the harvest's database lock among them, kept by the worker after a killed crawl. The fork server
imports the extraction libraries once, when the pool starts (when a crawl opens, before
downloads are in flight). When the crawl process dies, each worker sees its socket close and
exits. Workers ignore SIGINT, so an operator's Ctrl-C reaches only the crawl, which finishes its
pages and closes the pool.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from scrapy import signals
from scrapy.crawler import Crawler

logger = logging.getLogger("roundup.extractpool")

T = TypeVar("T")

#: Settings (see scrapers/settings.py).
WORKERS_SETTING = "ROUNDUP_EXTRACT_WORKERS"
START_METHOD_SETTING = "ROUNDUP_EXTRACT_START_METHOD"

_HEADER = 8  # bytes: length of the pickled message that follows
#: Never "fork": a worker forked from the crawl would inherit its open files — the harvest's lock
#: on the database among them, held by the worker as long as it lives.
SAFE_START_METHODS = ("forkserver", "spawn")
PRELOAD = ["scrapers.articles", "pipeline.pdf", "trafilatura"]


class ExtractionCrashed(RuntimeError):
    """The worker process died while reading this page."""


class WorkerError(RuntimeError):
    """The reading raised an exception that could not be sent back as itself."""


# --- the worker process ----------------------------------------------------------------------


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _frame(obj: Any) -> bytes:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return len(data).to_bytes(_HEADER, "big") + data


def _worker_main(sock: socket.socket) -> None:
    # Ctrl-C goes to the whole process group: the crawl handles it and closes the pool; a worker
    # must neither die mid-page nor run the crawl's (inherited) handler.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sock.setblocking(True)
    while True:
        header = _recv_exactly(sock, _HEADER)
        if header is None:
            return
        payload = _recv_exactly(sock, int.from_bytes(header, "big"))
        if payload is None:
            return
        message = pickle.loads(payload)
        if message is None:
            return  # asked to stop
        fn, args = message
        try:
            reply: tuple[bool, Any] = (True, fn(*args))
        except Exception as exc:  # noqa: BLE001 - sent back and re-raised in the crawl
            exc.add_note("in the extraction worker process:\n" + traceback.format_exc())
            reply = (False, exc)
        try:
            data = _frame(reply)
        except Exception as exc:  # noqa: BLE001 - an unpicklable result or exception
            data = _frame((False, WorkerError(f"{type(exc).__name__}: {exc}")))
        sock.sendall(data)


# --- the pool, in the crawl's event loop ----------------------------------------------------


@dataclass
class _Worker:
    process: Any
    sock: socket.socket


@dataclass
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any] = field(repr=False)


class ExtractionPool:
    """Worker processes fed by the event loop (see the module docstring)."""

    def __init__(self, workers: int, start_method: str | None = None) -> None:
        methods = [m for m in multiprocessing.get_all_start_methods() if m in SAFE_START_METHODS]
        if start_method not in methods:
            start_method = methods[0]
        self.workers = workers
        self.start_method = start_method
        self._context = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            # Imported once, in the fork server; each worker is forked from it ready to read.
            self._context.set_forkserver_preload(PRELOAD)
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._live: list[_Worker] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.crashes = 0
        self.closed = False
        # Start the workers now, while nothing else is in flight.
        for _ in range(workers):
            self._live.append(self._start_worker())
        self._tasks = [asyncio.ensure_future(self._serve(w)) for w in self._live]

    def _start_worker(self) -> _Worker:
        ours, theirs = socket.socketpair()
        process = self._context.Process(  # type: ignore[attr-defined]
            target=_worker_main, args=(theirs,), daemon=True,
            name="roundup-extract")
        process.start()
        theirs.close()
        ours.setblocking(False)
        return _Worker(process, ours)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker; raises what ``fn`` raises, or :class:`ExtractionCrashed`."""
        if self.closed:
            raise RuntimeError("the extraction pool is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(fn, args, future))
        return await future

    async def _serve(self, worker: _Worker) -> None:
        """Feed one worker, one job at a time; replace it if it dies."""
        loop = asyncio.get_running_loop()
        while True:
            job = await self._queue.get()
            if job is None:
                return
            if job.future.done():
                continue
            message = _frame((job.fn, job.args))
            try:
                await loop.sock_sendall(worker.sock, message)
            except OSError:
                # The worker died before this page reached it (while idle): not this page's
                # doing; send it to the worker that replaces it.
                worker = self._replace(worker)
                try:
                    await loop.sock_sendall(worker.sock, message)
                except OSError:
                    pass  # the read below fails too and the page gets ExtractionCrashed
            try:
                header = await _read_exactly(loop, worker.sock, _HEADER)
                reply = None
                if header is not None:
                    payload = await _read_exactly(loop, worker.sock, int.from_bytes(header, "big"))
                    reply = None if payload is None else pickle.loads(payload)
            except OSError:  # the worker's end of the socket is gone
                reply = None
            except asyncio.CancelledError:
                if not job.future.done():
                    job.future.cancel()
                raise
            if reply is None:
                if not job.future.done():
                    job.future.set_exception(ExtractionCrashed(
                        "the extraction worker process died while reading this page"))
                worker = self._replace(worker)
                continue
            ok, value = reply
            if job.future.done():
                continue
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)

    def _replace(self, dead: _Worker) -> _Worker:
        self.crashes += 1
        dead.sock.close()
        dead.process.join(timeout=5)
        logger.warning("an extraction worker process died (exit code %s); starting another",
                       dead.process.exitcode)
        fresh = self._start_worker()
        self._live = [fresh if w is dead else w for w in self._live]
        return fresh

    def close(self) -> None:
        """Stop the workers and wait for them (idempotent). Pages still queued fail."""
        if self.closed:
            return
        self.closed = True
        for task in self._tasks:
            task.cancel()
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if job is not None and not job.future.done():
                job.future.set_exception(RuntimeError("the extraction pool was closed"))
        for worker in self._live:
            try:
                worker.sock.setblocking(True)
                worker.sock.sendall(_frame(None))
            except OSError:
                pass
        for worker in self._live:
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=5)
            worker.sock.close()
        self._live = []


async def _read_exactly(loop: asyncio.AbstractEventLoop, sock: socket.socket, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = await loop.sock_recv(sock, min(n - got, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


# --- one pool per process, shared by its crawls --------------------------------------------------

_shared: ExtractionPool | None = None
_users: set[int] = set()  # ids of the spiders and middlewares holding the pool


def workers_setting(crawler: Crawler) -> int:
    return worker_count(crawler.settings.get(WORKERS_SETTING))


def worker_count(value: Any) -> int:
    """Workers for a ``ROUNDUP_EXTRACT_WORKERS`` value (empty: one per CPU core)."""
    if value is None or value == "":
        return os.cpu_count() or 1
    return max(0, int(value))


def acquire(crawler: Crawler, user: object) -> ExtractionPool | None:
    """The process's pool for ``user`` in ``crawler`` (started on first use), or None when
    disabled."""
    global _shared
    workers = workers_setting(crawler)
    if workers <= 0:
        return None
    if _shared is None or _shared.closed:
        _shared = ExtractionPool(workers, crawler.settings.get(START_METHOD_SETTING) or None)
    _users.add(id(user))
    return _shared


def release(user: object) -> None:
    """``user`` is done with the pool; the last to release it shuts it down."""
    global _shared
    _users.discard(id(user))
    if not _users and _shared is not None:
        pool, _shared = _shared, None
        pool.close()


class PoolUser:
    """Gives a spider or middleware ``self.pool``: set when its crawl opens, cleared (and the
    pool released) when it closes. Outside a running crawl — callbacks called by hand in tests —
    ``pool`` is None and pages are read in-process."""

    pool: ExtractionPool | None = None

    def use_extraction_pool(self, crawler: Crawler,
                            wanted: Callable[[Any], bool] | None = None) -> None:
        """Hold the pool while ``crawler`` runs (if ``wanted(spider)`` says so when it opens)."""
        self.pool = None
        if workers_setting(crawler) <= 0:
            return

        def opened(spider: Any = None, **__: Any) -> None:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return  # no asyncio reactor running this crawl: read in-process
            if self.pool is None and (wanted is None or wanted(spider)):
                self.pool = acquire(crawler, self)

        def closed(*_: Any, **__: Any) -> None:
            if self.pool is not None:
                self.pool = None
                release(self)

        # Keep references: the signal dispatcher holds receivers weakly.
        self._pool_receivers = (opened, closed)
        crawler.signals.connect(opened, signal=signals.spider_opened)
        crawler.signals.connect(closed, signal=signals.spider_closed)
