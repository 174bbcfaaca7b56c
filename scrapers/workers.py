"""CPU work of a crawl in worker processes while the reactor keeps downloading and storing.

Reading an article page (lxml, trafilatura, htmldate; pypdf for a PDF) and reading a feed body
(feedparser, then normalising and tagging its entries: :func:`scrapers.feedwork.prepare_feed`)
are CPU work that would otherwise stall Twisted's reactor, the one thread that also downloads,
schedules, runs every middleware and stores. With ``ROUNDUP_WORKERS`` > 0 (default: one per
core on a machine with two or more), the feed spider, the page spiders and the full-text middleware send
each downloaded body to a worker process and await the result without blocking the reactor; with
0, everything runs in-process as before. The work is the same function either way
(:func:`scrapers.articles.read_article`, :func:`scrapers.feedwork.prepare_feed`); only where it
runs differs. Feed bodies smaller than ``ROUNDUP_OFFLOAD_MIN_BYTES`` stay in-process: the round
trip would cost more than the parse.

One pool serves every crawl of the process (``roundup harvest`` runs three side by side): the
first crawl to open starts it, the last to close shuts it down (workers are told to stop; a
thread of the pool waits for them to exit, so that the crawl's end does not).

Each worker is one process on one socket pair, read and written by the event loop itself (no
helper threads, which would fight the reactor for the GIL). A few pages are sent ahead so that a
worker never idles between two; it reads them one at a time, in order, and answers in order, so
the page in progress is always known. A worker that dies mid-page (a segfault in a C parser, the
OOM killer) therefore costs exactly that page, :class:`WorkerCrashed`, which the callers
turn into a per-item failure (or, for a feed entry, "summary kept"); the pages queued behind it
go to a new worker that takes its place, and the rest of the listing is harvested.
An exception raised by the reading itself is re-raised in the crawl, as it would be in-process.

Workers run at a lower scheduling priority than the crawl (``ROUNDUP_WORKER_NICENESS``, default
10, added to the crawl's own niceness): the crawl process is the one that must never wait — it
downloads, hands out bodies and stores — so when it has work a worker yields the core, and when it
has none the workers use every core. A worker per core at equal priority took CPU from a busy
store (a feed harvest ran slower with two workers than with one); at lower priority the same two
workers leave the store its core and still fill both cores when reading pages is the work.

Workers are forked from the crawl (``os.fork``: nothing to import again, a worker is ready in
milliseconds) when the pool starts — when a crawl opens, before downloads are in flight — and the
first thing a worker does is close every file descriptor it inherited except its socket and the
standard streams: it must not keep the crawl's connections open, nor the harvest's lock on the
database after a killed crawl. It also freezes the inherited objects (``gc.freeze``), so that no
object of the crawl is ever collected, or its file closed, in the worker. When the crawl process
dies, each worker sees its socket close and exits. Workers ignore SIGINT, so an operator's Ctrl-C
reaches only the crawl, which finishes its pages and closes the pool. Where ``os.fork`` does not
exist, pages are read in-process.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import pickle
import signal
import socket
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from scrapy import signals
from scrapy.crawler import Crawler

logger = logging.getLogger("roundup.workers")

T = TypeVar("T")

#: Settings (see scrapers/settings.py).
WORKERS_SETTING = "ROUNDUP_WORKERS"
NICENESS_SETTING = "ROUNDUP_WORKER_NICENESS"
DEFAULT_NICENESS = 10

_HEADER = 8  # bytes: length of the pickled message that follows


class WorkerCrashed(RuntimeError):
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


def _worker_child(sock: socket.socket, niceness: int = 0) -> None:
    """Runs in the forked child; never returns (``os._exit``)."""
    code = 1
    try:
        if niceness > 0:
            try:
                os.nice(niceness)
            except OSError:  # not permitted here: run at the crawl's priority
                pass
        gc.freeze()  # nothing inherited from the crawl is collected here (or its fd closed)
        try:
            signal.set_wakeup_fd(-1)  # the crawl's event loop, not ours
        except ValueError:
            pass
        # Ctrl-C goes to the whole process group: the crawl handles it and closes the pool; a
        # worker must neither die mid-page nor run the crawl's (inherited) handler.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        keep = sock.fileno()
        os.closerange(3, keep)
        os.closerange(keep + 1, _max_fd())
        _worker_main(sock)
        code = 0
    finally:
        os._exit(code)


def _max_fd() -> int:
    try:
        return max(os.sysconf("SC_OPEN_MAX"), 256)
    except (AttributeError, OSError, ValueError):
        return 65536


def _worker_main(sock: socket.socket) -> None:
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
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any] = field(repr=False)


class _Child:
    """A forked worker process: its pid, and its exit code once reaped."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.exitcode: int | None = None

    def is_alive(self) -> bool:
        if self.exitcode is not None:
            return False
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            self.exitcode = -1
            return False
        if pid == 0:
            return True
        self.exitcode = os.waitstatus_to_exitcode(status)
        return False

    def join(self, timeout: float) -> None:
        # A worker told to stop exits within a millisecond or so: poll finely at first (the pool
        # is closed at the end of every crawl, whose time this is part of), then every 10 ms.
        deadline = time.monotonic() + timeout
        pause = 0.0005
        while self.is_alive() and time.monotonic() < deadline:
            time.sleep(pause)
            pause = min(pause * 2, 0.01)

    def kill(self) -> None:
        if self.is_alive():
            os.kill(self.pid, signal.SIGKILL)


@dataclass
class _Worker:
    process: _Child
    sock: socket.socket
    # Jobs sent, oldest first. The worker reads and answers them in order, so when it dies the
    # first of them is the page it was reading; the others had not been started.
    inflight: deque[_Job] = field(default_factory=deque)
    received: bytearray = field(default_factory=bytearray)
    unsent: bytearray = field(default_factory=bytearray)
    busy_since: float = 0.0  # when it started the first job of ``inflight`` (monotonic)
    timed_out: bool = False  # stopped by the watchdog


class WorkerPool:
    """Worker processes fed by the event loop (see the module docstring).

    No task per worker: the loop calls :meth:`_readable` / :meth:`_writable` when a worker's
    socket is ready, and jobs are written as soon as a worker has room for them.
    """

    #: Pages sent ahead to one worker, so that it never waits for the crawl between two pages.
    DEPTH = 3

    def __init__(self, workers: int, job_timeout: float | None = None,
                 niceness: int = 0) -> None:
        self.workers = workers
        #: Added to each worker's niceness (lower priority than the crawl); 0 keeps it equal.
        self.niceness = max(0, niceness)
        #: A job running longer is given up: its worker is killed and replaced, the job fails.
        self.job_timeout = job_timeout if job_timeout and job_timeout > 0 else None
        self._loop = asyncio.get_running_loop()
        self._queue: deque[_Job] = deque()
        self._live: list[_Worker] = []
        self.crashes = 0
        self.jobs = 0  # answered by a worker
        self.closed = False
        #: Waits for the workers after ``close(wait=False)``.
        self.reaper: threading.Thread | None = None
        # Start the workers now, while nothing else is in flight.
        for _ in range(workers):
            self._live.append(self._start_worker())
        if self.job_timeout is not None:
            self._loop.call_later(min(1.0, self.job_timeout / 4), self._watch)

    def _start_worker(self) -> _Worker:
        ours, theirs = socket.socketpair()
        sys.stdout.flush()  # or the child would write the parent's buffered output again
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker
            ours.close()
            _worker_child(theirs, self.niceness)
        theirs.close()
        ours.setblocking(False)
        worker = _Worker(_Child(pid), ours)
        self._loop.add_reader(ours.fileno(), self._readable, worker)
        return worker

    @property
    def backlog(self) -> int:
        """Jobs waiting for a worker: not yet sent to one."""
        return len(self._queue)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker; raises what ``fn`` raises, or :class:`WorkerCrashed`."""
        if self.closed:
            raise RuntimeError("the worker pool is closed")
        future: asyncio.Future[T] = self._loop.create_future()
        self._queue.append(_Job(fn, args, future))
        self._dispatch()
        result = await future
        self.jobs += 1
        return result

    # --- sending ---------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """Send queued jobs to the workers with room, least busy first."""
        while self._queue and not self.closed:
            worker = min(self._live, key=lambda w: len(w.inflight))
            if len(worker.inflight) >= self.DEPTH:
                return
            job = self._queue.popleft()
            if job.future.done():  # cancelled while queued
                continue
            try:
                data = _frame((job.fn, job.args))
            except Exception as exc:  # noqa: BLE001 - this job's failure, not the pool's
                # Never sent, so never in a worker's queue: its caller gets the error, and the
                # answers of the others stay matched to their jobs.
                job.future.set_exception(WorkerError(
                    f"the job could not be sent to a worker: {type(exc).__name__}: {exc}"))
                continue
            if not worker.inflight:
                worker.busy_since = time.monotonic()
            worker.inflight.append(job)
            self._send(worker, job, data)

    def _send(self, worker: _Worker, job: _Job, data: bytes) -> None:
        if worker.unsent:
            worker.unsent += data
            return
        try:
            sent = worker.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            # The worker was gone before this page reached it: not this page's doing.
            worker.inflight.remove(job)
            self._queue.appendleft(job)
            self._died(worker)
            return
        if sent < len(data):
            worker.unsent += data[sent:]
            self._loop.add_writer(worker.sock.fileno(), self._writable, worker)

    def _writable(self, worker: _Worker) -> None:
        try:
            sent = worker.sock.send(worker.unsent)
        except BlockingIOError:
            return
        except OSError:
            self._died(worker)
            return
        del worker.unsent[:sent]
        if not worker.unsent:
            self._loop.remove_writer(worker.sock.fileno())

    # --- receiving -------------------------------------------------------------------------

    def _readable(self, worker: _Worker) -> None:
        try:
            chunk = worker.sock.recv(1 << 18)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._died(worker)
            return
        worker.received += chunk
        self._answer(worker)
        self._dispatch()

    def _answer(self, worker: _Worker) -> None:
        """Resolve the jobs whose replies have arrived in full."""
        while len(worker.received) >= _HEADER:
            size = int.from_bytes(worker.received[:_HEADER], "big")
            if len(worker.received) < _HEADER + size:
                break
            ok, value = pickle.loads(worker.received[_HEADER:_HEADER + size])
            del worker.received[:_HEADER + size]
            job = worker.inflight.popleft()
            worker.busy_since = time.monotonic()  # the next job, if any, starts now
            if job.future.done():
                continue
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)

    def _died(self, dead: _Worker) -> None:
        """``dead`` stopped answering: fail the page it was reading, requeue the others."""
        if dead not in self._live:
            return
        self.crashes += 1
        # Replies it sent before dying may still wait in the socket (a failed write can be the
        # first sign of its death): read them, so that only the page it was reading is blamed.
        while True:
            try:
                chunk = dead.sock.recv(1 << 18)
            except OSError:
                break
            if not chunk:
                break
            dead.received += chunk
        self._answer(dead)
        self._forget(dead)
        if dead.inflight:
            culprit = dead.inflight.popleft()
            if not culprit.future.done():
                culprit.future.set_exception(WorkerCrashed(
                    f"took longer than {self.job_timeout:g} s: its worker process was stopped"
                    if dead.timed_out else
                    "the worker process died while reading this page or feed"))
        self._queue.extendleft(reversed(dead.inflight))
        dead.inflight.clear()
        dead.process.join(timeout=5)
        logger.warning("a worker process died (exit code %s); starting another",
                       dead.process.exitcode)
        if not self.closed:
            self._live = [self._start_worker() if w is dead else w for w in self._live]
            self._dispatch()

    def _watch(self) -> None:
        """Kill a worker whose current job has run longer than ``job_timeout`` (a pathological
        page or feed, a parser stuck in a loop): the loss shows as that job's failure in
        :meth:`_died`, and a new worker takes the jobs queued behind it."""
        if self.closed or self.job_timeout is None:
            return
        now = time.monotonic()
        for worker in self._live:
            if worker.inflight and not worker.timed_out and now - worker.busy_since > self.job_timeout:
                worker.timed_out = True
                logger.warning("a job ran longer than %g s; stopping its worker process",
                               self.job_timeout)
                worker.process.kill()
        self._loop.call_later(min(1.0, self.job_timeout / 4), self._watch)

    def _forget(self, worker: _Worker) -> None:
        fd = worker.sock.fileno()
        if fd >= 0:
            self._loop.remove_reader(fd)
            self._loop.remove_writer(fd)
        worker.sock.close()

    def close(self, wait: bool = True) -> None:
        """Stop the workers (idempotent). Pages not yet read fail. With ``wait`` (the default),
        return once every worker has exited; else the workers are told to stop and a thread
        waits for them (:attr:`reaper`): the crawl that closes the pool at its end does not
        wait for processes tearing down their memory (~10 ms), which is no work of its own."""
        if self.closed:
            return
        self.closed = True
        logger.info("worker pool: %d job(s) answered by %d worker process(es), %d crash(es)",
                    self.jobs, self.workers, self.crashes)
        pending = [job for w in self._live for job in w.inflight] + list(self._queue)
        self._queue.clear()
        for job in pending:
            if not job.future.done():
                job.future.set_exception(RuntimeError("the worker pool was closed"))
        for worker in self._live:
            try:
                self._loop.remove_reader(worker.sock.fileno())
                self._loop.remove_writer(worker.sock.fileno())
                worker.sock.setblocking(True)
                worker.sock.sendall(_frame(None))
            except OSError:
                pass
        stopping, self._live = self._live, []
        if wait:
            _reap(stopping)
        else:
            self.reaper = threading.Thread(target=_reap, args=(stopping,),
                                           name="roundup-worker-reaper", daemon=True)
            self.reaper.start()
            _reapers.append(self.reaper)


#: Reaper threads of pools closed without waiting (:func:`wait_for_stopped_workers`).
_reapers: list[threading.Thread] = []


def wait_for_stopped_workers(timeout: float = 20.0) -> None:
    """Wait until the workers of every pool closed without waiting have exited and been
    reaped: their CPU time then counts in ``resource.getrusage(RUSAGE_CHILDREN)``, which the
    benchmarks read."""
    while _reapers:
        _reapers.pop().join(timeout)


def _reap(stopping: list[_Worker]) -> None:
    """Wait for workers told to stop; kill one that has not exited after 10 s."""
    for worker in stopping:
        worker.process.join(timeout=10)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(timeout=5)
        worker.sock.close()


# --- one pool per process, shared by its crawls --------------------------------------------------

_shared: WorkerPool | None = None
_users: set[int] = set()  # ids of the spiders and middlewares holding the pool


def workers_setting(crawler: Crawler) -> int:
    return worker_count(crawler.settings.get(WORKERS_SETTING))


def worker_count(value: Any) -> int:
    """Workers for a ``ROUNDUP_WORKERS`` value. Empty or negative: one per CPU core (they run at
    a lower priority than the crawl, which keeps its share of a core), but none on a single
    core, where a worker could only take turns with the crawl and pages are read in-process."""
    if value is None or value == "" or int(value) < 0:
        cores = os.cpu_count() or 1
        return cores if cores >= 2 else 0
    return int(value)


def worker_niceness(crawler: Crawler) -> int:
    return max(0, crawler.settings.getint(NICENESS_SETTING, DEFAULT_NICENESS))


def acquire(crawler: Crawler, user: object) -> WorkerPool | None:
    """The process's pool for ``user`` in ``crawler`` (started on first use), or None when
    disabled."""
    global _shared
    workers = workers_setting(crawler)
    if workers <= 0 or not hasattr(os, "fork"):
        return None
    if _shared is None or _shared.closed:
        _shared = WorkerPool(workers, crawler.settings.getfloat("ROUNDUP_WORKER_TIMEOUT", 300.0),
                             niceness=worker_niceness(crawler))
    _users.add(id(user))
    return _shared


def backlog() -> int | None:
    """Jobs waiting for a worker of the process's pool (:attr:`WorkerPool.backlog`); None when
    no pool is running."""
    pool = _shared
    return None if pool is None or pool.closed else pool.backlog


def release(user: object) -> None:
    """``user`` is done with the pool; the last to release it shuts it down."""
    global _shared
    _users.discard(id(user))
    if not _users and _shared is not None:
        pool, _shared = _shared, None
        pool.close(wait=False)


class PoolUser:
    """Gives a spider or middleware ``self.pool``: set when its crawl opens, cleared (and the
    pool released) when it closes. Outside a running crawl — callbacks called by hand in tests —
    ``pool`` is None and pages are read in-process."""

    pool: WorkerPool | None = None

    def use_worker_pool(self, crawler: Crawler,
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
