"""The feed spider: every enabled source's RSS 0.9x/1.0/2.0 and Atom feeds.

Scrapy does the HTTP (timeouts, size cap, retries, robots.txt, throttling); feedparser parses the
downloaded body. Conditional GET: the ETag and Last-Modified stored for a feed are sent back, and a
304 parses nothing. A feed in backoff after failures, or marked gone after a 410, is skipped and
reported as such.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from scrapy.crawler import Crawler
from scrapy.http import Response

from scrapers.feedwork import FeedJob, parse_feed_body, prepare_feed
from scrapers.items import FetchOutcome
from scrapers.spiders.base import SOURCE_META, URL_META, RoundupSpider
from scrapers.workers import PoolUser, WorkerCrashed

if TYPE_CHECKING:
    from scrapers.plan import HarvestPlan

__all__ = ["FeedSpider", "parse_feed_body"]


class FeedSpider(PoolUser, RoundupSpider):
    name = "feeds"
    plan: HarvestPlan
    offload_min_bytes: int

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> FeedSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        from scrapers.plan import HarvestPlan

        spider.plan = HarvestPlan.from_settings(crawler.settings, only=kwargs.get("only"))
        spider.sources = spider.plan.sources
        spider.offload_min_bytes = crawler.settings.getint("ROUNDUP_OFFLOAD_MIN_BYTES", 16 * 1024)
        spider.use_worker_pool(crawler)
        return spider

    async def start(self) -> AsyncIterator[Any]:
        for outcome in self.plan.config_failures():
            yield outcome
        for source, url, state in self.plan.feeds_due():
            if isinstance(state, FetchOutcome):  # skipped: gone or backing off
                yield state
                continue
            headers = {}
            if state is not None:
                etag, last_modified = state
                if etag:
                    headers["If-None-Match"] = etag
                if last_modified:
                    headers["If-Modified-Since"] = last_modified
            yield self.request_for(
                source,
                url,
                headers=headers,
                callback=self.parse_feed,
                errback=self.fetch_failed,
                meta={"handle_httpstatus_list": [304]},
            )

    async def parse_feed(self, response: Response) -> AsyncIterator[Any]:
        source = self.sources[response.meta[SOURCE_META]]
        feed_url = response.meta[URL_META]
        if response.status == 304:
            yield FetchOutcome(source_id=source.id, url=feed_url, status="not-modified", http_status=304)
            return
        headers = {
            k.decode("latin-1").lower(): b",".join(v).decode("latin-1")
            for k, v in response.headers.items()
        }
        job = FeedJob(
            body=response.body,
            url=response.url,
            headers=headers,
            source=source,
            feed_url=feed_url,
            max_entries=self.plan.max_entries(source),
            now=datetime.now(UTC),
            normalise=not source.fulltext,
        )
        # Large bodies are parsed, normalised and tagged in a worker process while the reactor
        # goes on downloading and the store goes on writing (scrapers/workers.py).
        if self.pool is not None and len(job.body) >= self.offload_min_bytes:
            # The worker also computes what the store's near-duplicate level needs of each
            # article that does not depend on the store (scrapers.feedwork.attach_prepared_keys).
            job.prepare_keys = True
            job.boilerplate = self.plan.boilerplate.get(source.id, frozenset())
            try:
                result = await self.pool.run(prepare_feed, job)
            except WorkerCrashed as exc:
                # Nothing of this feed is stored, its validators neither: the next run reads it
                # again (with backoff), the other sources go on.
                yield FetchOutcome(source_id=source.id, url=feed_url, status="failed",
                                   http_status=response.status, error=f"{response.url}: {exc}")
                return
        else:
            result = prepare_feed(job)
        outcome = result.outcome
        outcome.etag = headers.get("etag")
        outcome.last_modified = headers.get("last-modified")
        for report in result.reports:
            yield report
        yield outcome
