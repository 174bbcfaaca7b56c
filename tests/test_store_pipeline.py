"""The store pipeline's batching while a crawl drains, and the write-ahead log checkpoint it
starts then: a batch waits for more fetches while fetches queue for the worker processes, and is
stored at once, however small, when none do; the checkpoint folds committed pages into the
database file while other connections stay open."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

from scrapy.utils.test import get_crawler

from roundups.harvest import crawler_settings
from scrapers import workers
from scrapers.items import FetchOutcome
from scrapers.pipelines import StorePipeline
from scrapers.spiders.feeds import FeedSpider
from store.db import checkpoint_wal, open_db, run_transaction
from store.sources import sync_sources
from tests.draftdata import SOURCES, article

NOW = datetime(2026, 10, 28, 12, 0, tzinfo=UTC)


def file_rows(path: Path, table: str) -> int:
    """Rows of ``table`` in the database file itself, write-ahead log ignored."""
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


def test_checkpoint_folds_committed_pages_into_the_file_while_connections_stay_open(tmp_path):
    path = tmp_path / "wal.db"
    engine, Session = open_db(f"sqlite:///{path}")
    reader = engine.connect()  # an open connection: closing the last one would checkpoint
    try:
        checkpoint_wal(Session)  # the schema
        assert file_rows(path, "source") == 0
        run_transaction(Session, lambda session: sync_sources(session, SOURCES, now=NOW))
        assert file_rows(path, "source") == 0  # committed, but only in the write-ahead log
        checkpoint_wal(Session)
        assert file_rows(path, "source") == len(SOURCES)
    finally:
        reader.close()
        engine.dispose()


def pause(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def outcome(slug: str) -> FetchOutcome:
    url = f"https://mfwa.example/{slug}/feed/"
    result = FetchOutcome(source_id="mfwa", url=url, status="ok", http_status=200, entries=1)
    item = article("mfwa", slug, title=f"Reporter {slug} detained", countries=["GH"],
                   summary=f"Police in Accra detained reporter {slug} on Monday.", day=9,
                   topics=["arrests"])
    item.feed_url = url
    result.articles = [item]
    return result


def test_a_batch_waits_while_fetches_queue_for_the_workers_and_is_stored_when_none_do(tmp_path):
    db = f"sqlite:///{tmp_path / 'drain.db'}"
    engine, Session = open_db(db)
    run_transaction(Session, lambda session: sync_sources(session, SOURCES, now=NOW))
    engine.dispose()
    settings = crawler_settings(db, tmp_path / "unused.toml",
                                overrides={"ROUNDUP_SOURCES_RECORDED": True, "ROUNDUP_WORKERS": 1,
                                           "TWISTED_REACTOR_ENABLED": False})
    crawler = get_crawler(FeedSpider, settings.copy_to_dict())
    store = StorePipeline(crawler)

    async def go() -> tuple[int, int, int]:
        pool = workers.acquire(crawler, store)
        assert pool is not None
        store.open_spider()
        try:
            # One worker holds DEPTH jobs; the two beyond wait in the pool's queue.
            busy = [asyncio.ensure_future(pool.run(pause, 0.3)) for _ in range(pool.DEPTH + 2)]
            await asyncio.sleep(0)
            assert workers.backlog() == 2
            store.process_item(outcome("first"))
            waiting = len(store.batch)  # fetches wait for the workers: the batch fills up
            assert store.checkpoint is None
            await asyncio.gather(*busy)
            assert workers.backlog() == 0
            store.process_item(outcome("second"))
            flushed = len(store.batch)  # none wait: stored now, with the writer idle
            assert store.checkpoint is not None  # started with the first batch of the drain
            await store.close_spider()
            return waiting, flushed, len(store.batch)
        finally:
            workers.release(store)

    waiting, flushed, left = asyncio.run(go())
    assert (waiting, flushed, left) == (1, 0, 0)
    # Both stored (in one transaction), and folded into the file when the store closed.
    assert file_rows(tmp_path / "drain.db", "article") == 2
