"""Per-source politeness and time limits, on top of Scrapy's own (robots.txt, AutoThrottle,
``CONCURRENT_REQUESTS_PER_DOMAIN``).

* ``crawl_delay`` in the registry gives the source its own download slot (``DOWNLOAD_SLOTS``,
  one request at a time, that delay between requests), which AutoThrottle is told not to shorten.
  :func:`crawl_delay_slots` computes the setting; spiders add it in ``update_settings`` and
  ``roundup harvest`` adds it for every crawler.
* ``ROUNDUP_SOURCE_DEADLINE`` (seconds) bounds the time one source may take in a run: once it has
  passed, the source's further requests are refused (:class:`DeadlinePassed`) and what was not
  fetched waits for the next run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest

from store.registry_types import Source

SLOT_PREFIX = "roundup-source:"


class DeadlinePassed(IgnoreRequest):
    """The source has used up its time for this run."""


def slot_name(source_id: str) -> str:
    return SLOT_PREFIX + source_id


def crawl_delay_slots(sources: list[Source] | tuple[Source, ...]) -> dict[str, dict[str, Any]]:
    """``DOWNLOAD_SLOTS`` entries for the sources that set ``crawl_delay``."""
    return {
        slot_name(s.id): {"delay": s.crawl_delay, "concurrency": 1, "randomize_delay": False}
        for s in sources
        if s.crawl_delay is not None
    }


def add_crawl_delay_slots(settings: Any) -> None:
    """Merge the registry's crawl-delay slots into ``settings`` (before the crawler freezes them)."""
    from store.registry import RegistryError, load_registry_lenient

    path = settings.get("ROUNDUP_SOURCES")
    if not path or not Path(path).exists():
        return
    try:
        sources, _ = load_registry_lenient(path)
    except RegistryError:
        return  # the spider reports the registry error itself
    slots = dict(settings.getdict("DOWNLOAD_SLOTS"))
    slots.update(crawl_delay_slots(sources))
    if slots:
        settings.set("DOWNLOAD_SLOTS", slots, priority="spider")


class PolitenessMiddleware:
    """Downloader middleware: crawl-delay slots and the per-source deadline."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.deadline = crawler.settings.getfloat("ROUNDUP_SOURCE_DEADLINE", 0.0)
        self.slots = set(crawler.settings.getdict("DOWNLOAD_SLOTS"))
        self.started: dict[str, float] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PolitenessMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        from scrapers.spiders.base import SOURCE_META

        source_id = request.meta.get(SOURCE_META)
        if not source_id:
            return None  # robots.txt and other framework requests
        slot = slot_name(source_id)
        if slot in self.slots:
            request.meta["download_slot"] = slot
            request.meta["autothrottle_dont_adjust_delay"] = True
        if self.deadline > 0:
            now = time.monotonic()
            started = self.started.setdefault(source_id, now)
            if now - started > self.deadline:
                raise DeadlinePassed(
                    f"{source_id}: per-source deadline of {self.deadline:g} s passed; "
                    f"{request.url} left for the next run"
                )
        return None
