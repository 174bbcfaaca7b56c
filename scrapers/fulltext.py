"""Full text for feed entries that carry only a summary (``fulltext = true`` in the registry).

A spider middleware, so the feed spider stays about feeds: it holds back the reports of a
``fulltext`` source's feed, fetches each entry's article page (on the source's own hosts only),
and lets the reports through with the page's main text (``fetched_via = "fulltext"``, or
``"pdf"`` when the link is a PDF). When a page cannot be fetched or has no readable text, the feed's
own summary is kept (``fetched_via = "feed"``) and the feed's outcome carries a warning.

The feed's :class:`~scrapers.items.FetchOutcome` — which commits the feed's articles and its ETag
and Last-Modified in one transaction — is held until the last of its article fetches has ended,
so stored validators never run ahead of stored articles: if the run is killed before, the next
run fetches the feed in full again.

Pages are read in the worker pool's processes during a crawl (see
:mod:`scrapers.workers`); a worker that dies on a page keeps that entry's summary, with a
warning, like any other page that cannot be read.

Entries the store already has with full text are not fetched again and not re-yielded (the
summary must not overwrite the text stored earlier).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.http import Response
from twisted.python.failure import Failure

from pipeline.items import RawReport
from scrapers.articles import (
    PageReading,
    known_articles,
    read_article,
    read_in_pool,
    read_snapshot,
    worth_a_worker,
)
from scrapers.items import FetchOutcome
from scrapers.middlewares import ALLOW_LOCAL_META, DOMAINS_META
from scrapers.rules import on_domains, rules_for, source_domains
from scrapers.spiders.base import SOURCE_META, URL_META, describe_failure
from scrapers.workers import PoolUser

logger = logging.getLogger("roundup.fulltext")

FULLTEXT_META = "roundup_fulltext"  # {"feed": feed URL, "report": RawReport}
CHECK_TYPE_META = "roundup_check_type"


@dataclass
class _Held:
    outcome: FetchOutcome | None = None
    reports: list[RawReport] = field(default_factory=list)
    pending: int = 0


class FullTextMiddleware(PoolUser):
    """Spider middleware (see the module docstring). Enabled in ``SPIDER_MIDDLEWARES``."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.held: dict[str, _Held] = {}
        self.Session: Any = None
        # Only a crawl with full-text sources reads pages.
        self.use_worker_pool(crawler, lambda spider: any(
            s.fulltext for s in getattr(spider, "sources", {}).values()))
        crawler.signals.connect(self._close_store, signal=signals.spider_closed)

    def _close_store(self, *_: Any, **__: Any) -> None:
        from store.db import close_sessions

        close_sessions(self.Session)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FullTextMiddleware:
        return cls(crawler)

    # Both flavours, so the middleware works whatever the callbacks are.
    def process_spider_output(self, response: Response | None, result: Iterable[Any]) -> Iterable[Any]:
        for item in result:
            yield from self._handle(item, response)

    async def process_spider_output_async(self, response: Response | None,
                                          result: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for item in result:
            for out in self._handle(item, response):
                yield out

    # --- holding a feed back ------------------------------------------------------------------

    def _source(self, source_id: str) -> Any:
        return getattr(self.crawler.spider, "sources", {}).get(source_id)

    def _handle(self, item: Any, response: Response | None) -> list[Any]:
        if response is not None and FULLTEXT_META in response.meta:
            return [item]  # output of our own article callbacks
        if isinstance(item, RawReport) and item.fetched_via == "feed" and item.feed_url:
            source = self._source(item.source_id)
            if source is not None and source.fulltext:
                self.held.setdefault(item.feed_url, _Held()).reports.append(item)
                return []
            return [item]
        if isinstance(item, FetchOutcome) and item.url in self.held:
            return self._release_or_fetch(item)
        return [item]

    def _release_or_fetch(self, outcome: FetchOutcome) -> list[Any]:
        held = self.held[outcome.url]
        held.outcome = outcome
        source = self._source(outcome.source_id)
        domains = source_domains(source)
        to_fetch: list[RawReport] = []
        keep: list[RawReport] = []
        offsite = 0
        links = [r.url for r in held.reports if r.url]
        known = known_articles(self._sessions(), source.id, _absolute(held.reports)) if links else {}
        for report in held.reports:
            url = _absolute_one(report)
            if url is None:
                keep.append(report)
            elif known.get(url) in ("fulltext", "pdf"):
                continue  # stored with its full text already; the summary must not replace it
            elif not on_domains(url, domains):
                offsite += 1
                keep.append(report)
            else:
                to_fetch.append(report)
        if offsite:
            outcome.warnings.append(f"{offsite} entr{'y' if offsite == 1 else 'ies'} link outside "
                                    f"the source's hosts: full text not fetched, summary kept")
        out: list[Any] = list(keep)
        held.reports = []
        held.pending = len(to_fetch)
        if not to_fetch:
            del self.held[outcome.url]
            return [*out, outcome]
        for report in to_fetch:
            out.append(self._request(source, report, domains))
        return out

    def _request(self, source: Any, report: RawReport, domains: list[str]) -> scrapy.Request:
        url = _absolute_one(report)
        assert url is not None  # reports without a usable link are never fetched
        meta = {
            SOURCE_META: source.id,
            URL_META: url,
            ALLOW_LOCAL_META: source.allow_local,
            DOMAINS_META: tuple(domains),
            CHECK_TYPE_META: True,
            FULLTEXT_META: {"feed": report.feed_url, "report": report},
        }
        return scrapy.Request(url, callback=self.parse_page, errback=self.page_failed, meta=meta,
                              dont_filter=True)

    def _sessions(self) -> Any:
        if self.Session is None:
            from store.db import open_db

            settings = self.crawler.settings
            # `roundup harvest` migrated the database before the crawl.
            _, self.Session = open_db(settings.get("ROUNDUP_DB"),
                                      migrate=not settings.getbool("ROUNDUP_SOURCES_RECORDED"))
        return self.Session

    def _done(self, feed_url: str, report: RawReport, warning: str | None) -> list[Any]:
        held = self.held.get(feed_url)
        out: list[Any] = [report]
        if held is None:  # cannot happen; never lose the report
            return out
        held.pending -= 1
        if warning and held.outcome is not None:
            held.outcome.warnings.append(warning)
        if held.pending <= 0 and held.outcome is not None:
            del self.held[feed_url]
            out.append(held.outcome)
        return out

    # --- article callbacks --------------------------------------------------------------------

    def parse_page(self, response: Response) -> Any:
        """The entry's report with the page's text (or its summary): a list when read
        in-process, a coroutine when the page goes to the worker pool."""
        info = response.meta[FULLTEXT_META]
        report: RawReport = info["report"]
        source = self._source(report.source_id)
        selectors = rules_for(source).page_selectors if source is not None else None
        now = datetime.now(UTC)
        if self.pool is not None and worth_a_worker(response):
            return self._parse_page_in_pool(response, now, selectors)
        return self._enriched(response, read_article(response, now=now, selectors=selectors))

    async def _parse_page_in_pool(self, response: Response, now: datetime,
                                  selectors: Any) -> list[Any]:
        assert self.pool is not None
        # This module's name, looked up now: a test replaces it with a reader that crashes.
        reading = await read_in_pool(self.pool, response, now, selectors, read_snapshot)
        return self._enriched(response, reading)

    def _enriched(self, response: Response, reading: PageReading) -> list[Any]:
        info = response.meta[FULLTEXT_META]
        report: RawReport = info["report"]
        if reading.skipped or reading.error or not reading.has_text:
            why = reading.skipped or reading.error or f"{response.url}: no article text found"
            return self._done(info["feed"], report, f"full text not used, summary kept: {why}")
        enriched = replace(
            report,
            title=report.title or reading.title,
            content_html=reading.content_html,
            raw_date=report.raw_date or (None if report.parsed_date else reading.raw_date),
            language_hint=report.language_hint or reading.language,
            fetched_via="pdf" if reading.kind == "pdf" else "fulltext",
        )
        return self._done(info["feed"], enriched, None)

    def page_failed(self, failure: Failure) -> list[Any]:
        request = failure.request  # type: ignore[attr-defined]
        info = request.meta[FULLTEXT_META]
        reason, _, _ = describe_failure(failure)
        return self._done(info["feed"], info["report"],
                          f"full text not fetched, summary kept: {request.url}: {reason}")


def _absolute_one(report: RawReport) -> str | None:
    from pipeline.errors import BadURL
    from pipeline.urls import canonical_url

    if not report.url:
        return None
    try:
        return canonical_url(report.url, report.base_url or report.feed_url)
    except BadURL:
        return None


def _absolute(reports: list[RawReport]) -> list[str]:
    return [u for u in (_absolute_one(r) for r in reports) if u]
