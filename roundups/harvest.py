"""One harvest run: the Scrapy crawl over every due feed, then a per-source summary.

``run_harvest`` runs the crawl in this process (Twisted's reactor runs once per process, so call it
once; the tests and the demo run it in a subprocess or exactly once). The summary is read from the
crawler's stats, where the item pipelines count outcomes.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roundups.errors import ConfigError
from roundups.runtime import batch_gc

logger = logging.getLogger("roundup.harvest")


@dataclass
class SourceResult:
    source_id: str
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped_feeds: list[str] = field(default_factory=list)
    skipped_entries: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.counts.get("failed"))

    def line(self) -> str:
        c = self.counts
        parts = [f"{c.get('new', 0)} new", f"{c.get('updated', 0)} updated",
                 f"{c.get('unchanged', 0)} unchanged", f"{c.get('failed', 0)} failed"]
        extra = []
        if c.get("feeds_not_modified"):
            extra.append(f"{c['feeds_not_modified']} feed(s) not modified")
        if c.get("skipped"):
            extra.append(f"{c['skipped']} entr(y/ies) skipped")
        if c.get("feeds_skipped"):
            extra.append(f"{c['feeds_skipped']} feed(s) not polled")
        if c.get("warnings"):
            extra.append(f"{c['warnings']} warning(s)")
        if c.get("date_flagged"):
            extra.append(f"{c['date_flagged']} date(s) flagged")
        status = "FAILED" if self.failed else "ok"
        text = f"{self.source_id}: {status}: " + ", ".join(parts)
        if extra:
            text += " (" + "; ".join(extra) + ")"
        for why in self.failures:
            text += f"\n    failed: {why}"
        for why in self.warnings:
            text += f"\n    warning: {why}"
        for why in self.skipped_feeds:
            text += f"\n    not polled: {why}"
        for why in self.skipped_entries[:5]:
            text += f"\n    skipped: {why}"
        return text


@dataclass
class HarvestSummary:
    sources: dict[str, SourceResult]
    seconds: float
    invalid_config: bool = False

    @property
    def exit_code(self) -> int:
        if self.invalid_config:
            return 2
        return 1 if any(r.failed for r in self.sources.values()) else 0

    def total(self, what: str) -> int:
        return sum(r.counts.get(what, 0) for r in self.sources.values())

    def lines(self) -> list[str]:
        return [self.sources[k].line() for k in sorted(self.sources)]

    def headline(self) -> str:
        failed = sum(1 for r in self.sources.values() if r.failed)
        return (
            f"harvest: {len(self.sources)} source(s), {len(self.sources) - failed} ok, {failed} failed; "
            f"{self.total('new')} new, {self.total('updated')} updated, "
            f"{self.total('unchanged')} unchanged articles in {self.seconds:.1f} s"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "exit": self.exit_code,
            "seconds": round(self.seconds, 3),
            "totals": {k: self.total(k) for k in ("new", "updated", "unchanged", "failed", "skipped")},
            "sources": {
                sid: {"counts": r.counts, "failures": r.failures, "warnings": r.warnings,
                      "not_polled": r.skipped_feeds}
                for sid, r in sorted(self.sources.items())
            },
        }


def summary_from_stats(stats: dict[str, Any], source_ids: list[str], seconds: float,
                       invalid: bool) -> HarvestSummary:
    results = {sid: SourceResult(sid) for sid in source_ids}
    for key, value in stats.items():
        if not key.startswith("roundup/"):
            continue
        _, sid, what = key.split("/", 2)
        result = results.setdefault(sid, SourceResult(sid))
        if what == "failed_why":
            result.failures.extend(value)
        elif what == "warnings_why":
            result.warnings.extend(value)
        elif what == "skipped_feeds_why":
            result.skipped_feeds.extend(value)
        elif what == "skipped_why":
            result.skipped_entries.extend(value)
        elif isinstance(value, int):
            result.counts[what] = value
    return HarvestSummary(results, seconds, invalid)


def crawler_settings(db_url: str, sources_file: str | Path, *, only: list[str] | None = None,
                     ignore_backoff: bool = False, verbose: bool = False,
                     overrides: dict[str, Any] | None = None) -> Any:
    from scrapy.settings import Settings

    import scrapers.settings as project_settings

    settings = Settings()
    settings.setmodule(project_settings, priority="project")
    settings.set("ROUNDUP_DB", db_url, priority="cmdline")
    settings.set("ROUNDUP_SOURCES", str(sources_file), priority="cmdline")
    settings.set("ROUNDUP_ONLY", list(only or []), priority="cmdline")
    settings.set("ROUNDUP_IGNORE_BACKOFF", ignore_backoff, priority="cmdline")
    settings.set("LOG_LEVEL", "DEBUG" if verbose else "ERROR", priority="cmdline")
    for key, value in (overrides or {}).items():
        settings.set(key, value, priority="cmdline")
    # Per-source crawl delays become download slots for every spider, the feed spider included.
    from scrapers.politeness import add_crawl_delay_slots

    add_crawl_delay_slots(settings)
    return settings


def merge_stats(all_stats: list[dict[str, Any]]) -> dict[str, Any]:
    """Roundup's stats of several crawlers in one dict: counts add up, lists of reasons concatenate."""
    merged: dict[str, Any] = {}
    for stats in all_stats:
        for key, value in stats.items():
            if not key.startswith("roundup/"):
                continue  # Scrapy's own stats (times, memory...) do not add up
            if key not in merged:
                merged[key] = list(value) if isinstance(value, list) else value
            elif isinstance(value, list):
                merged[key] = list(merged[key]) + value
            elif isinstance(value, int | float) and not isinstance(value, bool):
                merged[key] = merged[key] + value
    return merged


def distributed_settings(redis_url: str, run_id: str) -> dict[str, Any]:
    """scrapy-redis: one request queue and one duplicate filter in Redis, shared by every worker
    started with the same run id, so each URL is fetched once whichever worker pops it.

    The keys are namespaced by run id and persist after a worker closes (a worker that finishes
    first must not flush the queue the others still read); they expire a day later.
    """
    prefix = f"roundup:{run_id}:%(spider)s"
    return {
        "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
        "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
        "SCHEDULER_QUEUE_CLASS": "scrapy_redis.queue.FifoQueue",
        "SCHEDULER_QUEUE_KEY": f"{prefix}:requests",
        "SCHEDULER_DUPEFILTER_KEY": f"{prefix}:dupefilter",
        "SCHEDULER_PERSIST": True,
        "REDIS_URL": redis_url,
        "ROUNDUP_DISTRIBUTED": True,
        "ROUNDUP_RUN_ID": run_id,
    }


def expire_run_keys(redis_url: str, run_id: str, seconds: int = 86400) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(match=f"roundup:{run_id}:*"):
            client.expire(key, seconds)
    finally:
        client.close()


def run_harvest(db_url: str, sources_file: str | Path, *, only: list[str] | None = None,
                ignore_backoff: bool = False, verbose: bool = False,
                overrides: dict[str, Any] | None = None, distributed: str | None = None,
                run_id: str | None = None) -> HarvestSummary:
    """Crawl every due feed, listing and sitemap of the registry into the store; return the
    per-source summary."""
    from scrapy.crawler import CrawlerProcess

    from scrapers.spiders.feeds import FeedSpider
    from scrapers.spiders.listing import ListingSpider
    from scrapers.spiders.sitemap import SitemapSpider
    from store.db import open_db, run_transaction
    from store.registry import load_registry_lenient
    from store.sources import sync_sources

    sources, errors = load_registry_lenient(sources_file)  # file-level problems raise here
    if only:
        unknown = sorted(set(only) - {s.id for s in sources})
        if unknown:
            raise ConfigError(f"{sources_file}: no source with id {', '.join(unknown)}")
    # Migrate and record the registry before the crawl starts: a schema problem or a database
    # that stays locked stops the run here with one clear error.
    engine, Session = open_db(db_url)
    try:
        run_transaction(Session, lambda session: sync_sources(session, [s for s in sources if s.enabled]),
                        where="recording the registry")
    finally:
        engine.dispose()
    if distributed:
        if not run_id:
            raise ConfigError("a distributed harvest needs a run id shared by its workers")
        overrides = {**distributed_settings(distributed, run_id), **(overrides or {})}
    settings = crawler_settings(db_url, sources_file, only=only, ignore_backoff=ignore_backoff,
                                verbose=verbose, overrides=overrides)
    settings.set("ROUNDUP_SOURCES_RECORDED", True, priority="cmdline")
    settings.set("LOG_INSTALL_ROOT_HANDLER", verbose, priority="cmdline")
    process = CrawlerProcess(settings)
    if not verbose:
        # Scrapy sets its loggers to DEBUG whatever LOG_LEVEL says (the level is applied by the
        # root handler it installs only with --verbose), so a record was built, then dropped, for
        # every request and every item ("Crawled", "Scraped from"). Built only when --verbose
        # asks for them now; INFO and above reach the handlers as before.
        logging.getLogger("scrapy").setLevel(logging.INFO)
    # Feeds first; members without feeds are found through their listing pages and sitemaps.
    # The three crawls share the reactor and run side by side.
    crawlers = [process.create_crawler(FeedSpider)]
    if any(s.listing for s in sources):
        crawlers += [process.create_crawler(ListingSpider), process.create_crawler(SitemapSpider)]
    _load_pipeline_modules()
    _import_crawl_components(settings)
    # What is loaded by now (modules, the language model, the tagging and place data: some
    # hundreds of thousands of objects) lives as long as the process. Frozen, the cyclic garbage
    # collector stops walking all of it at each full collection during the crawl (one such
    # collection cost as much as handling 100 pages); the worker processes freeze it likewise.
    # Young collections are made rarer too (roundups.runtime).
    with batch_gc():
        started = time.monotonic()
        for crawler in crawlers:
            process.crawl(crawler, only=list(only or []))
        process.start()
    seconds = time.monotonic() - started
    if distributed and run_id:
        expire_run_keys(distributed, run_id)
    ids = [s.id for s in sources if s.enabled and (not only or s.id in only)]
    stats = merge_stats([c.stats.get_stats() for c in crawlers if c.stats])
    return summary_from_stats(stats, ids, seconds, invalid=bool(errors))


def _load_pipeline_modules() -> None:
    """Import what the item pipelines import lazily, and load the language model and the tagging
    data, before the crawl starts: start-up work then does not sit inside the first responses'
    handling (nor the run's timing), and the worker processes forked when the crawl opens
    (scrapers/workers.py) share them instead of loading them again each."""
    from sqlalchemy.orm import configure_mappers

    import pipeline.normalise  # noqa: F401
    import pipeline.tagging  # noqa: F401
    import store.articles  # noqa: F401
    import store.fetchstate  # noqa: F401
    import store.sources  # noqa: F401
    import store.stories  # noqa: F401
    from scrapers.feedwork import warm
    from store.similarity import warm_up as warm_similarity

    warm()
    warm_similarity()
    # The ORM sets its mapped classes up on their first query (some 30 ms), a class-level
    # start-up cost like an import: done here, not in the crawl's first fetch-state lookup.
    configure_mappers()
    _warm_page_reading()


#: A small article page read once before the crawl (:func:`_warm_page_reading`).
_WARM_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Warm-up | Roundup</title>
<meta property="article:published_time" content="2020-01-02T09:00:00+00:00"></head>
<body><main><article><h1>Warm-up</h1>
<p>A journalist was detained on Monday after reporting on public contracts, colleagues said.</p>
<p>Press freedom groups called on the authorities to release the reporter and drop the charges.</p>
</article></main></body></html>"""


def _warm_page_reading() -> None:
    """Read one small page as an article page is read. trafilatura, htmldate, courlan and their
    helpers are imported on the first page and set up lazily (the TLD list...): here, once,
    rather than in each worker process forked at the crawl's start, where every worker paid it
    (~0.1 s) on its first page, inside the run."""
    from datetime import UTC, datetime

    from pipeline.extract import extract_article

    extract_article(_WARM_PAGE, "https://example.org/news/warm-up/", now=datetime.now(UTC))
    # The page above takes courlan's regex shortcut for its host name; a page whose URL does
    # not (a canonical link on another host, an IP address) makes courlan load the public suffix
    # list into a trie (~20 ms): load it here too.
    from courlan import extract_domain

    extract_domain("https://www.example.org/")


#: Settings naming the classes a crawl builds when it starts (engine, scheduler, middlewares,
#: extensions, download handlers...), as import paths or ``{path: order}`` dicts.
_COMPONENT_SETTINGS = (
    "DOWNLOADER_MIDDLEWARES", "SPIDER_MIDDLEWARES", "EXTENSIONS", "ITEM_PIPELINES",
    "DOWNLOAD_HANDLERS", "SCHEDULER", "SCHEDULER_PRIORITY_QUEUE", "SCHEDULER_MEMORY_QUEUE",
    "SCHEDULER_DISK_QUEUE", "DUPEFILTER_CLASS", "STATS_CLASS", "LOG_FORMATTER",
    "REQUEST_FINGERPRINTER_CLASS", "DNS_RESOLVER", "TWISTED_DNS_RESOLVER", "DOWNLOADER", "ITEM_PROCESSOR",
    "ROBOTSTXT_PARSER", "DOWNLOADER_CLIENTCONTEXTFACTORY", "DOWNLOADER_HTTPCLIENTFACTORY",
)


def _import_crawl_components(settings: Any) -> None:
    """Import (not build) the modules of the classes the crawl builds when it starts, as
    :func:`_load_pipeline_modules` does for the pipelines: Scrapy imports them when each crawler
    opens and download handlers on the first request, inside the run's timing and ahead of the
    first downloads. Building them (the engine, the middlewares) stays in the crawl."""
    import importlib

    paths: list[str] = []
    for name in _COMPONENT_SETTINGS:
        # settings[name]: unlike .get(), it does not warn about deprecated names.
        value = settings.getwithbase(name) if name + "_BASE" in settings else settings[name]
        if isinstance(value, str):
            paths.append(value)
        elif name == "DOWNLOAD_HANDLERS" and value is not None:  # {scheme: path}
            paths += [value[s] for s in ("http", "https") if isinstance(value.get(s), str)]
        elif value is not None and hasattr(value, "items"):  # {path: order}, None = disabled
            paths += [k for k, v in value.items() if isinstance(k, str) and v is not None]
    for path in paths:
        module = path.rpartition(".")[0]
        if not module or module in sys.modules:
            continue
        try:
            importlib.import_module(module)
        except ImportError:
            pass  # Scrapy reports it when it builds the component, as without this


def progress_handler(total_feeds: int, style: str = "auto") -> logging.Handler:
    """A terminal gets one rewritten status line; cron gets plain log lines; ``json`` gets one
    JSON object per line (time, level, message)."""
    if style == "auto" and sys.stderr.isatty():
        return _TTYProgress(total_feeds)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JSONFormatter() if style == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    return handler


class _JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        import json
        from datetime import UTC, datetime

        return json.dumps({
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }, ensure_ascii=False)


class _TTYProgress(logging.Handler):
    def __init__(self, total: int) -> None:
        super().__init__(logging.INFO)
        self.total = max(total, 1)
        self.done = 0

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            sys.stderr.write("\r\033[K" + message + "\n")
        self.done += 1
        source = message.split(":", 1)[0]
        # Feeds are counted up front; listing and article pages are found as the crawl goes.
        extra = self.done - self.total
        progress = (f"{self.done}/{self.total} feeds" if extra <= 0
                    else f"{self.total}/{self.total} feeds, {extra} page(s)")
        sys.stderr.write(f"\r\033[K[{progress}] {source}")
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()
        super().close()
