"""Item pipelines: the thin adapter from spiders into ``pipeline`` and ``store``.

One job per class, chained in settings.ITEM_PIPELINES with gapped priorities:

* 100 :class:`NormalisePipeline` — RawReport → Article (``pipeline.normalise``).
* 200 :class:`TagPipeline` — countries, region, topics (``pipeline.tagging``) when available.
* 300 :class:`StorePipeline` — buffers a feed's articles and, when the feed's FetchOutcome
  arrives, upserts them and records the fetch state in one transaction.

The feed spider normalises and tags a feed's entries itself, in a worker process
(``scrapers/feedwork.py``), and hands them over inside the FetchOutcome: the first two stages
see only the reports of listing pages, sitemaps and ``fulltext`` sources.

Outcomes are counted in the crawler's stats under ``roundup/<source>/<what>``; the run summary
(``roundups.summary``) is read from there.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from pipeline.items import Article, RawReport
from scrapers.items import FetchOutcome

logger = logging.getLogger("roundup.harvest")

# Fetches are stored in batches: one transaction, one round of story matching, one commit for up
# to this many articles or fetches (a listing yields one fetch per article page). Each batch has
# a fixed cost besides its articles (a key lookup per date bucket, the candidate statements, the
# commit): bench/harvest.py's first harvest took ~0.1 s less CPU in the store with 500 than
# with 200 (ten batches instead of twenty-five), and a batch of 500 is still written in a tenth
# of a second, so the database is not held for long.
BATCH_ARTICLES = 500
BATCH_FETCHES = 50
#: Batches handed to the writer thread and not yet committed, before a fetch waits for one.
MAX_PENDING_WRITES = 2


def stat_key(source_id: str, what: str) -> str:
    return f"roundup/{source_id}/{what}"


class _Base:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Any:
        return cls(crawler)

    def count(self, source_id: str, what: str, n: int = 1) -> None:
        self.stats.inc_value(stat_key(source_id, what), n)

    def note(self, source_id: str, what: str, message: str) -> None:
        key = stat_key(source_id, what)
        values = list(self.stats.get_value(key) or [])
        values.append(message)
        self.stats.set_value(key, values)

    def source(self, source_id: str) -> Any:
        spider = self.crawler.spider
        return getattr(spider, "sources", {}).get(source_id)


class NormalisePipeline(_Base):
    def process_item(self, item: Any) -> Any:
        if not isinstance(item, RawReport):
            return item
        from pipeline.errors import PipelineError, SkipItem
        from pipeline.normalise import normalise

        try:
            article = normalise(item, self.source(item.source_id), now=datetime.now(UTC))
        except SkipItem as exc:
            self.count(item.source_id, "skipped")
            self.note(item.source_id, "skipped_why", f"{item.feed_url}: {exc}")
            raise DropItem(f"{item.source_id}: entry skipped: {exc}") from exc
        except PipelineError as exc:
            self.count(item.source_id, "skipped")
            self.note(item.source_id, "skipped_why", f"{item.feed_url}: {exc}")
            raise DropItem(f"{item.source_id}: entry refused: {exc}") from exc
        if article.date_flag:
            self.count(item.source_id, "date_flagged")
        return article


class TagPipeline(_Base):
    """Countries, region and topics from the article's own text; the source's home is a prior."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        from pipeline.tagging import tag_article

        self.tag_article = tag_article

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, Article):
            return item
        self.tag_article(item, self.source(item.source_id))
        return item


class StorePipeline(_Base):
    """Buffers a fetch's articles until its FetchOutcome arrives, then stores them with the
    fetch state, in batches (see the module docstring).

    During a crawl the transactions run on one writer thread, in order, so that the reactor goes
    on downloading and feeding the worker processes while the store works (a batch with its
    near-duplicate matching takes a good part of a second; on the reactor's thread every worker
    would sit idle meanwhile). At most :data:`MAX_PENDING_WRITES` batches wait for the writer;
    the next fetch then waits for the oldest. The counting is done back on the reactor's thread.
    Outside a running event loop (``scrapy crawl`` with another reactor, a pipeline driven by
    hand) each transaction runs where it is called.
    """

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.pending: dict[str, list[Article]] = defaultdict(list)
        self.batch: list[tuple[FetchOutcome, list[Article]]] = []
        self.batch_articles = 0
        self.Session: Any = None
        self.writer: ThreadPoolExecutor | None = None
        self.writes: deque[asyncio.Future[Any]] = deque()
        self.prepared_before: dict[str, int] = {}
        self.checkpoint: Any = None  # threading.Thread of _start_checkpoint, once started

    def open_spider(self) -> None:
        from store.db import open_db, run_transaction
        from store.sources import sync_sources

        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="roundup-store")
        settings = self.crawler.settings
        if settings.getbool("ROUNDUP_SOURCES_RECORDED"):
            # `roundup harvest` migrated the database and recorded the registry before the crawl.
            _, self.Session = open_db(settings.get("ROUNDUP_DB"), migrate=False)
        else:
            # `scrapy crawl feeds` on its own: migrate and record the registry here.
            _, self.Session = open_db(settings.get("ROUNDUP_DB"))
            sources = list(getattr(self.crawler.spider, "sources", {}).values())
            run_transaction(self.Session, lambda session: sync_sources(session, sources),
                            where="recording the registry")
        self.prepared_before = self._prepared_counts()

    def _prepared_counts(self) -> dict[str, int]:
        from store.stories import prepared_key_counts

        with self.Session() as session:  # no statement: nothing is read
            return prepared_key_counts(session)

    async def close_spider(self) -> None:
        self.flush()
        while self.writes:
            await self._settle(self.writes.popleft())
        if self.writer is not None:
            self.writer.shutdown(wait=True)
            self.writer = None
        if self.checkpoint is not None:
            self.checkpoint.join()
        from store.db import close_sessions

        after = self._prepared_counts()
        used, recomputed = (after[k] - self.prepared_before.get(k, 0) for k in ("used", "recomputed"))
        if used or recomputed:
            logger.info("near-duplicate keys prepared by the feed workers: used for %d new "
                        "article(s), computed again by the store for %d (their source's learnt "
                        "boilerplate was not what the worker was told)", used, recomputed)
        close_sessions(self.Session)
        # Articles whose feed never reported an outcome (the crawl was stopped mid-feed) are not
        # written: their feed's validators were not stored either, so the next run fetches them.
        for feed_url, articles in self.pending.items():
            if articles:
                logger.warning("%s: %d article(s) not stored, the feed did not finish",
                               feed_url, len(articles))
        self.pending.clear()

    def process_item(self, item: Any) -> Any:
        if isinstance(item, Article):
            self.pending[item.feed_url or ""].append(item)
            return item
        if isinstance(item, FetchOutcome):
            self.finish_fetch(item)
            if len(self.writes) > MAX_PENDING_WRITES:
                return self._wait_for_writer(item)
        return item

    async def _wait_for_writer(self, item: Any) -> Any:
        while len(self.writes) > MAX_PENDING_WRITES:
            await self._settle(self.writes.popleft())
        return item

    @staticmethod
    async def _settle(future: asyncio.Future[Any]) -> None:
        # Failures were reported by the future's callback; waiting must not raise them again.
        await asyncio.wait([future])

    def write(self, source_ids: list[str], what: str, work: Any,
              done: Callable[[Any], None] | None = None) -> None:
        """One transaction, retried while the database is locked or briefly unreachable; when it
        still fails, nothing of it was written and each source's summary says so. ``done`` gets
        the transaction's result, on the reactor's thread."""
        from store.db import run_transaction
        from store.errors import StoreError

        def failed(exc: BaseException) -> None:
            for source_id in dict.fromkeys(source_ids):
                self.count(source_id, "failed")
                self.note(source_id, "failed_why", f"{what}: not stored, nothing written: {exc}")
            if isinstance(exc, StoreError):
                logger.error("%s not stored: %s", what, exc)
            else:
                logger.error("%s not stored: %s: %s", what, type(exc).__name__, exc,
                             exc_info=(type(exc), exc, exc.__traceback__))

        def run() -> Any:
            return run_transaction(self.Session, work, where=f"storing {what}")

        loop = _running_loop()
        if loop is None or self.writer is None:
            try:
                result = run()
            except StoreError as exc:
                failed(exc)
                return
            if done is not None:
                done(result)
            return

        def finished(future: asyncio.Future[Any]) -> None:
            exc = future.exception()
            if exc is not None:
                failed(exc)
            elif done is not None:
                done(future.result())
            self.flush_if_drained()

        future = asyncio.wrap_future(self.writer.submit(run), loop=loop)
        future.add_done_callback(finished)
        self.writes.append(future)

    def finish_fetch(self, outcome: FetchOutcome) -> None:
        from store.fetchstate import record_failure

        sid = outcome.source_id
        now = datetime.now(UTC)
        articles = self.pending.pop(outcome.url, []) + outcome.articles
        outcome.articles = []
        for why in outcome.skipped:
            self.count(sid, "skipped")
            self.note(sid, "skipped_why", why)
        if outcome.date_flagged:
            self.count(sid, "date_flagged", outcome.date_flagged)
        for warning in outcome.warnings:
            self.count(sid, "warnings")
            self.note(sid, "warnings_why", f"{outcome.url}: {warning}")
        if outcome.status in ("failed", "invalid"):
            self.count(sid, "failed")
            self.note(sid, "failed_why", f"{outcome.url}: {outcome.error}")
            if outcome.status == "failed":
                self.write([sid], outcome.url, lambda session: record_failure(
                    session, sid, outcome.url, error=outcome.error or "failed", now=now,
                    http_status=outcome.http_status, retry_after=outcome.retry_after,
                ))
            logger.warning("%s: %s failed: %s", sid, outcome.url, outcome.error)
            return
        if outcome.status == "skipped":
            self.count(sid, "feeds_skipped")
            self.note(sid, "skipped_feeds_why", f"{outcome.url}: {outcome.error}")
            logger.info("%s: %s skipped: %s", sid, outcome.url, outcome.error)
            return
        self.batch.append((outcome, articles))
        self.batch_articles += len(articles)
        if self.batch_articles >= BATCH_ARTICLES or len(self.batch) >= BATCH_FETCHES:
            self.flush()
        else:
            self.flush_if_drained()

    def flush_if_drained(self) -> None:
        """Store the batch now, however small, when the writer is idle and no fetch waits for a
        worker process: the fetches still to come are those the workers are reading (or the
        downloads in flight), so the batch would otherwise wait for them with the writer idle
        and be written alone once they are read, after the crawl's last page, when nothing else
        runs beside it. While fetches queue for the workers (the writer is then the busier
        side), without workers, or when the batch holds no article (only fetch states: 304s,
        failures), batches fill up as before: fewer, larger transactions."""
        from scrapers.workers import backlog

        if not self.batch_articles or any(not future.done() for future in self.writes):
            return  # a batch of fetch states alone (304s, failures) is quick to write at the end
        if backlog() == 0:
            self.flush()
            if self.checkpoint is None or not self.checkpoint.is_alive():
                self._start_checkpoint()

    def _start_checkpoint(self) -> None:
        """Fold the write-ahead log into the database file (``store.db.checkpoint_wal``) on a
        thread of its own, while the crawl drains (again after each write then, unless one is
        still running): it runs while the workers read the last feeds, and closing the store at
        the crawl's end (which checkpoints what is left) has only the last batch's pages to
        copy, not the whole run's."""
        import threading

        from store.db import checkpoint_wal

        def run() -> None:
            try:
                checkpoint_wal(self.Session)
            except Exception as exc:  # noqa: BLE001 - an optimisation; closing checkpoints anyway
                logger.debug("write-ahead log checkpoint failed: %s", exc)

        self.checkpoint = threading.Thread(target=run, name="roundup-checkpoint", daemon=True)
        self.checkpoint.start()

    def flush(self) -> None:
        """Store the batched fetches — their articles, then their fetch state — in one
        transaction. A feed's validators are never committed without its articles; a run killed
        before the flush stored neither, and the next run fetches those feeds again."""
        from store.articles import upsert_articles
        from store.fetchstate import Fetched, record_fetches

        batch, self.batch, self.batch_articles = self.batch, [], 0
        if not batch:
            return
        now = datetime.now(UTC)
        everything = [article for _, articles in batch for article in articles]
        fetches = [
            Fetched(
                outcome.source_id, outcome.url, status=outcome.http_status or 200,
                etag=outcome.etag if outcome.store_validators else None,
                last_modified=outcome.last_modified if outcome.store_validators else None,
                entries=outcome.entries,
            )
            for outcome, _ in batch
        ]

        def store(session: Any) -> list[str]:
            results = upsert_articles(session, everything, now) if everything else []
            record_fetches(session, fetches, now=now)
            return results

        what = batch[0][0].url if len(batch) == 1 else f"{len(batch)} fetches"
        self.write([o.source_id for o, _ in batch], what, store,
                   lambda results: self.stored(batch, results))

    def stored(self, batch: list[tuple[FetchOutcome, list[Article]]], results: list[str]) -> None:
        """Count and log what one stored batch did, per fetch."""
        position = 0
        for outcome, articles in batch:
            mine, position = results[position:position + len(articles)], position + len(articles)
            counts = {"new": 0, "updated": 0, "unchanged": 0}
            for result in mine:
                counts[result] = counts.get(result, 0) + 1
            sid = outcome.source_id
            for key, n in counts.items():
                self.count(sid, key, n)
            modified = outcome.status != "not-modified"
            self.count(sid, "feeds_ok" if modified else "feeds_not_modified")
            logger.info(
                "%s: %s %s: %d new, %d updated, %d unchanged",
                sid, outcome.url, "ok" if modified else "not modified",
                counts["new"], counts["updated"], counts["unchanged"],
            )


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
