"""Store the bench, demo and dedup corpora through the store's batch API into a fresh database and
dump every table canonically, to diff what the store writes across two commits (an optimisation
of the store must leave every row, ids included, unchanged).

    python bench/store_dump.py OUT.txt                       # a fresh SQLite file
    python bench/store_dump.py OUT.txt --db postgresql://postgres@127.0.0.1:5432/test
    # in each checkout, then: cmp A.txt B.txt

What is stored, in a fixed order, each batch in one transaction (``store.db.run_transaction``)
as ``scrapers.pipelines.StorePipeline.flush`` stores it (``store.articles.upsert_articles`` then
``store.fetchstate.record_fetches``): the articles ``scrapers.feedwork.prepare_feed`` makes of
the 100 feeds × 50 entries of ``bench/harvest.py`` (with the worker-prepared keys, as the crawl
attaches them), ten feeds a batch (500 articles); the demo's feeds, three a batch; the documents
of ``bench/dedup.py``'s corpus in its shuffled order, the first 60 one a batch (as ``dedup.py``
stores them) and the rest in batches of 1 to 40; then a second harvest of the first 20 bench
feeds, every seventh article's summary changed (no prepared keys: the store computes them) and
the others unchanged. Each batch has its own fixed ``now``.

The dump lists every table's rows sorted, one per line, without the columns set from the clock
(``created_at``, ``updated_at``), ``article_keys.seq`` (numbered from the clock) as its rank
among the stored numbers; ``first_seen``/``last_seen`` and the fetch dates come from the
batches' fixed ``now`` and are kept. With ``--db``, the tables go to a new PostgreSQL schema,
dropped afterwards (as tests/conftest.py does). Run it from the checkout's root.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import random
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path.cwd()
sys.path.insert(0, str(ROOT))

from bench.dedup import SEED, load_corpus  # noqa: E402
from bench.harvest import demo_feed_jobs, feed_jobs, write_feeds  # noqa: E402
from pipeline.items import Article  # noqa: E402
from scrapers.feedwork import FeedJob, prepare_feed  # noqa: E402
from store.registry_types import Source  # noqa: E402

START = datetime(2026, 10, 29, 12, tzinfo=UTC)
DEMO_BASE = "http://127.0.0.1:8765"
#: Columns set from the clock (``utcnow`` defaults), not from a batch's ``now``.
VOLATILE = {"created_at", "updated_at"}

Batch = tuple[list[Article], list[Any]]  # articles, store.fetchstate.Fetched of their feeds


def feed_batch(jobs: list[tuple[bytes, Source, str]], now: datetime) -> Batch:
    from store.fetchstate import Fetched

    articles: list[Article] = []
    fetches = []
    for body, source, url in jobs:
        job = FeedJob(body=body, url=url, headers={}, source=source, feed_url=url,
                      max_entries=500, now=now, prepare_keys=True)
        outcome = prepare_feed(job).outcome
        articles += outcome.articles
        fetches.append(Fetched(source.id, url, status=200, etag=f'"{len(body)}"',
                               last_modified=None, entries=outcome.entries))
    return articles, fetches


def batches(tmp: Path) -> tuple[list[Source], list[Batch]]:
    out: list[Batch] = []
    now = START

    def tick() -> datetime:
        nonlocal now
        now += timedelta(minutes=1)
        return now

    # 1. the bench's first harvest, 500 articles a batch
    write_feeds(tmp, 100, 50)
    bench = feed_jobs(tmp, 100)
    for i in range(0, len(bench), 10):
        out.append(feed_batch(bench[i:i + 10], tick()))
    first_pass = [a for articles, _ in out[:2] for a in articles]

    # 2. the demo's feeds
    demo_sources, demo = demo_feed_jobs(tmp, DEMO_BASE)
    for i in range(0, len(demo), 3):
        out.append(feed_batch(demo[i:i + 3], tick()))

    # 3. bench/dedup.py's documents, in its shuffled order
    records = load_corpus()
    random.Random(SEED).shuffle(records)
    arts = [Article(source_id=r.source, guid=str(r.id), url=r.url, title=r.title, text=r.text,
                    summary=r.text[:200], published=r.published, date_flag=None, raw_date=None,
                    language=r.language,
                    content_hash=hashlib.sha256(r.text.encode()).hexdigest(),
                    countries=list(r.countries))
            for r in records]
    sizes = random.Random(SEED + 1)
    i = 0
    while i < len(arts):
        n = 1 if i < 60 else sizes.randint(1, 40)
        out.append((arts[i:i + n], []))
        i += n

    # 4. a second harvest of the first 20 bench feeds: mostly unchanged, some summaries changed
    again = [dataclasses.replace(a, summary=a.summary + " (updated)") if k % 7 == 0 else a
             for k, a in enumerate(first_pass)]
    for i in range(0, len(again), 500):
        out.append((again[i:i + 500], []))

    sources = [source for _, source, _ in bench] + list(demo_sources)
    return sources, out


def store_all(url: str, sources: list[Source], work: list[Batch]) -> list[str]:
    from store.articles import upsert_articles
    from store.db import open_db, run_transaction
    from store.fetchstate import record_fetches
    from store.sources import sync_sources

    engine, factory = open_db(url)
    try:
        run_transaction(factory, lambda s: sync_sources(s, sources, now=START))
        results: list[str] = []
        for n, (articles, fetches) in enumerate(work):
            now = START + timedelta(hours=1, minutes=n)

            def store(session: Any, articles: list[Article] = articles,
                      fetches: list[Any] = fetches, now: datetime = now) -> list[str]:
                done = upsert_articles(session, articles, now)
                record_fetches(session, fetches, now=now)
                return done

            results += run_transaction(factory, store)
        return [f"results {len(results)} " + " ".join(results)] + dump_tables(engine)
    finally:
        engine.dispose()


def dump_tables(engine: Any) -> list[str]:
    from sqlalchemy import select

    from store.models import Base

    lines: list[str] = []
    with engine.connect() as conn:
        for table in sorted(Base.metadata.sorted_tables, key=lambda t: t.name):
            columns = [c for c in table.columns if c.name not in VOLATILE]
            rows = [tuple(canon(v) for v in row)
                    for row in conn.execute(select(*columns))]
            if table.name == "article_keys":  # seq is numbered from the clock: keep its order
                at = [c.name for c in columns].index("seq")
                rank = {seq: n for n, seq in enumerate(sorted({row[at] for row in rows}))}
                rows = [(*row[:at], rank[row[at]], *row[at + 1:]) for row in rows]
            lines.append(f"table {table.name} ({', '.join(c.name for c in columns)}) "
                         f"{len(rows)} rows")
            lines += sorted(repr(row) for row in rows)
    return lines


def canon(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, float):
        return repr(value)
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="the dump file")
    parser.add_argument("--db", help="a PostgreSQL URL (a new schema is made and dropped)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="roundup-store-dump-") as tmp:
        sources, work = batches(Path(tmp))
        if args.db:
            lines = on_postgresql(args.db, sources, work)
        else:
            lines = store_all(f"sqlite:///{tmp}/store.db", sources, work)
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


def on_postgresql(url: str, sources: list[Source], work: list[Batch]) -> list[str]:
    import psycopg

    base = url.split("?", 1)[0]
    admin_url = base.replace("postgresql+psycopg://", "postgresql://")
    store_url = admin_url.replace("postgresql://", "postgresql+psycopg://", 1)
    schema = f"roundup_dump_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        return store_all(f"{store_url}?options=-csearch_path%3D{schema}", sources, work)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    sys.exit(main())
