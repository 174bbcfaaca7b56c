"""The protocol shared by spiders that find articles as web pages (listings, sitemaps).

A :class:`PageSpider` fetches each article page it is given and yields, per page, the article's
:class:`~pipeline.items.RawReport` (``feed_url`` = the page's URL) and then a
:class:`~scrapers.items.FetchOutcome` for that same URL: the store pipeline commits every article
with its own outcome, so a crawl killed half-way loses nothing it said it had stored. Listing and
sitemap pages carry no validators (no conditional GET): an interrupted run simply reads them again
and skips the articles it already has.

Limits it applies for every source:

* article fetches stay on the source's own hosts (:func:`scrapers.rules.source_domains`); the
  downloader middleware refuses a redirect that leaves them, before connecting;
* at most ``max_entries`` new articles per source per run (the rest wait for the next run);
* a download whose ``Content-Type`` is not HTML, PDF or a feed stops at the headers and is
  skipped with a reason;
* articles already in the store are not fetched again.

During a crawl, pages are read in the worker pool's processes
(:mod:`scrapers.workers`) while the reactor goes on downloading; a worker that dies on a page
makes that page a per-item failure.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest, StopDownload
from scrapy.http import Response
from scrapy.http.headers import Headers
from twisted.python.failure import Failure

from pipeline.items import RawReport
from scrapers.articles import (
    PageReading,
    acceptable_type,
    content_type,
    known_articles,
    read_article,
    read_in_pool,
    read_snapshot,
    worth_a_worker,
)
from scrapers.items import FetchOutcome
from scrapers.middlewares import DOMAINS_META
from scrapers.politeness import DeadlinePassed, add_crawl_delay_slots
from scrapers.rules import ListingRules, on_domains, rules_for
from scrapers.spiders.base import SOURCE_META, URL_META, RoundupSpider, describe_failure
from scrapers.workers import PoolUser
from store.registry_types import Source

ARTICLE_META = "roundup_article"  # {"via": ..., "hint": {...}} on article requests
CHECK_TYPE_META = "roundup_check_type"  # stop the download at the headers if the type is wrong
FULLTEXT_MIDDLEWARE = "scrapers.fulltext.FullTextMiddleware"


class PageSpider(PoolUser, RoundupSpider):
    """Base class; subclasses set ``name`` and implement ``start()`` and their page callbacks."""

    #: ``fetched_via`` of the articles this spider finds ("listing", "sitemap").
    via = "page"
    plan: Any  # scrapers.plan.HarvestPlan
    rules: dict[str, ListingRules]
    scheduled: defaultdict[str, set[str]]  # source id -> article URLs requested this run
    warned: set[tuple[str, str]]  # (source id, what): warn once per run, not per page
    Session: Any  # the store's session factory, opened on first use

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        super().update_settings(settings)
        add_crawl_delay_slots(settings)
        # The full-text middleware acts on a feed's entries only; in a page crawl it would pass
        # every item of every page through one more layer for nothing.
        middlewares = settings.getdict("SPIDER_MIDDLEWARES")
        if middlewares.get(FULLTEXT_MIDDLEWARE) is not None:
            settings.set("SPIDER_MIDDLEWARES", {**middlewares, FULLTEXT_MIDDLEWARE: None},
                         priority="spider")

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> PageSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        from scrapers.plan import HarvestPlan

        spider.plan = HarvestPlan.from_settings(crawler.settings, only=kwargs.get("only"))
        spider.sources = spider.plan.sources
        max_pages = crawler.settings.getint("ROUNDUP_LISTING_MAX_PAGES", 5)
        spider.rules = {sid: rules_for(s, max_pages) for sid, s in spider.sources.items()}
        spider.scheduled = defaultdict(set)
        spider.warned = set()
        spider.Session = None
        crawler.signals.connect(spider.headers_received, signal=signals.headers_received)
        # After the spider's own `closed` (connected first), which may still write.
        crawler.signals.connect(spider._close_store, signal=signals.spider_closed)
        spider.use_worker_pool(crawler)
        return spider

    def _close_store(self, *_: Any, **__: Any) -> None:
        from store.db import close_sessions

        close_sessions(self.Session)

    # --- helpers ------------------------------------------------------------------------------

    def session_factory(self) -> Any:
        if self.Session is None:
            _, self.Session = self.plan.open_store()
        return self.Session

    def rules_of(self, source: Source) -> ListingRules:
        return self.rules[source.id]

    def page_request(self, source: Source, url: str, **kwargs: Any) -> scrapy.Request:
        meta = kwargs.pop("meta", {})
        meta[DOMAINS_META] = self.rules_of(source).domains
        return self.request_for(source, url, meta=meta, **kwargs)

    def due(self, source: Source, urls: list[str]) -> tuple[list[str], list[FetchOutcome]]:
        """The ``urls`` not gone or backing off (fetch state), and ``skipped`` outcomes for others."""
        from store.fetchstate import is_due, states_for

        with self.session_factory()() as session:
            states = states_for(session, urls)
        now = datetime.now(UTC)
        ready, skipped = [], []
        for url in urls:
            state = states.get(url)
            if state is not None and state.gone:
                skipped.append(FetchOutcome(source.id, url, "skipped", error="gone (HTTP 410)"))
            elif state is not None and not self.plan.ignore_backoff and not is_due(state, now):
                skipped.append(FetchOutcome(
                    source.id, url, "skipped",
                    error=f"backing off after {state.consecutive_failures} failure(s) until "
                    f"{state.next_attempt:%Y-%m-%d %H:%M} UTC (last error: {state.last_error})"))
            else:
                ready.append(url)
        return ready, skipped

    def warn_once(self, source: Source, what: str, message: str) -> list[str]:
        if (source.id, what) in self.warned:
            return []
        self.warned.add((source.id, what))
        return [message]

    def article_requests(self, source: Source, urls: list[str],
                         hints: dict[str, dict[str, Any]] | None = None
                         ) -> tuple[list[scrapy.Request], list[str], int]:
        """Requests for the ``urls`` that are new to the store and this run, within the budget.

        Returns the requests, warnings (links off the source's hosts, budget reached) and how
        many of ``urls`` the store already has.
        """
        rules = self.rules_of(source)
        warnings: list[str] = []
        seen = self.scheduled[source.id]
        wanted: list[str] = []
        offsite = []
        for url in urls:
            if url in seen or url in wanted or not rules.wants(url):
                continue
            if not on_domains(url, rules.domains):
                offsite.append(url)
                continue
            wanted.append(url)
        if offsite:
            warnings.append(f"{len(offsite)} link(s) outside the source's hosts "
                            f"({', '.join(rules.domains)}) not followed, e.g. {offsite[0]}")
        known = known_articles(self.session_factory(), source.id, wanted) if wanted else {}
        fresh = [u for u in wanted if u not in known]
        budget = self.plan.max_entries(source) - len(seen)
        if len(fresh) > budget:
            warnings += self.warn_once(source, "budget", f"more than {self.plan.max_entries(source)} "
                                       "new articles: the rest wait for the next run")
            fresh = fresh[:max(budget, 0)]
        requests = []
        for url in fresh:
            seen.add(url)
            meta = {ARTICLE_META: {"via": self.via, "hint": (hints or {}).get(url, {})},
                    CHECK_TYPE_META: True}
            requests.append(self.page_request(source, url, callback=self.parse_article,
                                              errback=self.page_failed, meta=meta))
        if known:
            self.crawler.stats.inc_value(f"roundup/{source.id}/articles_known", len(known))
        return requests, warnings, len(known)

    # --- callbacks ----------------------------------------------------------------------------

    def headers_received(self, headers: Headers, request: scrapy.Request) -> None:
        if request.meta.get(CHECK_TYPE_META) and not acceptable_type(content_type(headers)):
            raise StopDownload(fail=False)

    def parse_article(self, response: Response) -> Any:
        """The page's report and outcome: a list when read in-process, or a coroutine (which
        Scrapy awaits) when the page goes to the worker pool (:mod:`scrapers.workers`).

        Deliberately not a generator: Scrapy parses the source of every generator callback, on
        every response, to warn about ``return`` values; that cost as much as the rest of the
        callback."""
        source = self.sources[response.meta[SOURCE_META]]
        selectors = self.rules_of(source).page_selectors
        now = datetime.now(UTC)
        if self.pool is not None and worth_a_worker(response):
            return self._parse_article_in_pool(response, source, now, selectors)
        return self.article_items(response, source,
                                  read_article(response, now=now, selectors=selectors))

    async def _parse_article_in_pool(self, response: Response, source: Source, now: datetime,
                                     selectors: Any) -> list[Any]:
        assert self.pool is not None
        # This module's name, looked up now: a test replaces it with a reader that crashes.
        reading = await read_in_pool(self.pool, response, now, selectors, read_snapshot)
        return self.article_items(response, source, reading)

    def article_items(self, response: Response, source: Source, reading: PageReading) -> list[Any]:
        """The report (when the page has text) and the page's outcome."""
        key = response.meta[URL_META]
        info = response.meta.get(ARTICLE_META) or {}
        hint = info.get("hint") or {}
        warnings = []
        for message in reading.warnings:
            what = message.split(" matched", 1)[0]
            warnings += self.warn_once(source, what, message + " (reported once per run)")
        if reading.skipped:
            return [FetchOutcome(source.id, key, "skipped", http_status=response.status,
                                 error=reading.skipped, warnings=warnings)]
        if reading.error:
            return [FetchOutcome(source.id, key, "failed", http_status=response.status,
                                 error=reading.error, warnings=warnings)]
        if not reading.has_text:
            return [FetchOutcome(source.id, key, "skipped", http_status=response.status,
                                 error=f"{response.url}: no article text found", warnings=warnings)]
        raw_date = reading.raw_date
        if hint.get("raw_date") and reading.date_from != "selector":
            raw_date = hint["raw_date"]
        report = RawReport(
            source_id=source.id,
            url=key,
            title=reading.title or hint.get("title"),
            content_html=reading.content_html,
            raw_date=raw_date,
            language_hint=reading.language or hint.get("language"),
            base_url=response.url,
            feed_url=key,
            fetched_via="pdf" if reading.kind == "pdf" else info.get("via", self.via),
        )
        return [report, FetchOutcome(source.id, key, "ok", http_status=response.status, entries=1,
                                     warnings=warnings, store_validators=False)]

    def page_failed(self, failure: Failure) -> Any:
        """Errback for listing, sitemap and article requests."""
        request = failure.request  # type: ignore[attr-defined]
        source_id = request.meta[SOURCE_META]
        key = request.meta[URL_META]
        exc = failure.value
        if isinstance(exc, IgnoreRequest) and _not_a_failure(exc):
            yield FetchOutcome(source_id, key, "skipped", error=f"{request.url}: {exc}")
            return
        reason, status, _ = describe_failure(failure)
        redirects = request.meta.get("redirect_urls")
        if redirects:
            reason += f" (chain: {' -> '.join([*redirects, request.url])})"
        yield FetchOutcome(source_id, key, "failed", http_status=status, error=reason)


def _not_a_failure(exc: IgnoreRequest) -> bool:
    """robots.txt and the per-source deadline are the operator's or the member's choice."""
    return isinstance(exc, DeadlinePassed) or "robots.txt" in str(exc)
