"""The feed spider: every enabled source's RSS 0.9x/1.0/2.0 and Atom feeds.

Scrapy does the HTTP (timeouts, size cap, retries, robots.txt, throttling); feedparser parses the
downloaded body. Conditional GET: the ETag and Last-Modified stored for a feed are sent back, and a
304 parses nothing. A feed in backoff after failures, or marked gone after a 410, is skipped and
reported as such.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import feedparser
from scrapy.crawler import Crawler
from scrapy.http import Response

from pipeline.items import RawReport
from scrapers.items import FetchOutcome
from scrapers.spiders.base import SOURCE_META, URL_META, RoundupSpider
from store.registry_types import Source

if TYPE_CHECKING:
    from scrapers.plan import HarvestPlan

# Markup that says "this is a web page", seen where a feed should be (login walls, anti-bot pages,
# a CMS's 404 page served with 200).
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*(<!doctype\s+html|<html\b)", re.IGNORECASE | re.DOTALL)
_FEED_ROOT = re.compile(rb"<(rss|feed|rdf:RDF|RDF)\b", re.IGNORECASE)
_ENTRY_CLOSE = re.compile(rb"</(item|entry)\s*>", re.IGNORECASE)


def looks_like_html(body: bytes) -> bool:
    head = body[:2048].lstrip(b"\xef\xbb\xbf")
    return bool(_HTML_START.match(head)) and not _FEED_ROOT.search(body[:4096])


def entry_date(entry: Any) -> tuple[str | None, datetime | None]:
    for key in ("published", "updated", "created", "dc_date"):
        raw = entry.get(key)
        if raw:
            parsed = entry.get(f"{key}_parsed")
            when = datetime.fromtimestamp(calendar.timegm(parsed), UTC) if parsed else None
            return str(raw), when
    return None, None


def entry_to_report(entry: Any, source: Source, feed_url: str, base_url: str, lang: str | None) -> RawReport:
    content = entry.get("content") or []
    content_html = "\n".join(c.get("value", "") for c in content if c.get("value")) or None
    raw_date, parsed_date = entry_date(entry)
    title_detail = entry.get("title_detail") or {}
    link = entry.get("link")
    linked = any(alt.get("href") == link for alt in entry.get("links") or ())
    if link and not linked and not link.lower().startswith(("http://", "https://")):
        # No <link>: feedparser copied a permalink GUID into it. An opaque GUID ("item-42") is
        # not a link; only an absolute URL is taken.
        link = None
    return RawReport(
        source_id=source.id,
        url=link,
        guid=entry.get("id") or None,
        title=entry.get("title"),
        summary_html=entry.get("summary"),
        content_html=content_html,
        raw_date=raw_date,
        parsed_date=parsed_date,
        language_hint=title_detail.get("language") or lang,
        base_url=title_detail.get("base") or base_url,
        feed_url=feed_url,
        authors=[a.get("name", "") for a in entry.get("authors", []) if a.get("name")],
        fetched_via="feed",
    )


def cap_entries(body: bytes, max_entries: int) -> tuple[bytes, int | None]:
    """Cut a feed with more than ``max_entries`` entries after the last one taken, and close it.

    feedparser builds every entry of a document; a member's 100,000-entry archive feed would cost
    minutes and gigabytes for the 500 entries a run takes. Returns the (maybe) shorter body and the
    number of entries the full body has (None when it was not cut).
    """
    ends = [m.end() for m in _ENTRY_CLOSE.finditer(body)]
    if len(ends) <= max_entries:
        return body, None
    root = _FEED_ROOT.search(body[:4096])
    if root is None:
        return body, None
    tag = root.group(1)
    closing = {b"rss": b"</channel></rss>", b"feed": b"</feed>"}.get(tag.lower(), b"</" + tag + b">")
    return body[: ends[max_entries - 1]] + closing, len(ends)


def parse_feed_body(
    body: bytes, *, url: str, headers: dict[str, str], source: Source, feed_url: str, max_entries: int
) -> tuple[list[RawReport], FetchOutcome]:
    """Parse one feed body. Pure: no Scrapy objects, so it is testable and benchmarkable alone."""
    outcome = FetchOutcome(source_id=source.id, url=feed_url, status="ok", http_status=200)
    if looks_like_html(body):
        outcome.status = "failed"
        outcome.error = f"not a feed: {url} answered with an HTML page"
        return [], outcome
    body, total = cap_entries(body, max_entries)
    # No content-location: feedparser would resolve GUIDs like "alert-42" into URLs against it.
    # Relative links are resolved by pipeline.urls against the entry's base (xml:base, else the
    # feed URL).
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=True)
    entries = list(parsed.entries)
    if not parsed.version and not entries:
        outcome.status = "failed"
        exc = parsed.get("bozo_exception")
        outcome.error = f"not a feed: {url} ({type(exc).__name__}: {exc})" if exc else f"not a feed: {url}"
        return [], outcome
    if parsed.bozo:
        exc = parsed.get("bozo_exception")
        outcome.warnings.append(f"malformed feed (feedparser bozo): {type(exc).__name__}: {exc}")
        closed = len(_ENTRY_CLOSE.findall(body))
        if closed < len(entries):
            # The body ends inside an entry (connection closed mid-feed): keep only the entries the
            # parser saw closed, and refetch the whole feed next run.
            lost = len(entries) - closed
            entries = entries[:closed]
            outcome.warnings.append(f"data loss: feed truncated, {lost} incomplete entries dropped")
            outcome.store_validators = False
    outcome.entries = total if total is not None else len(entries)
    if outcome.entries > max_entries:
        outcome.warnings.append(f"{outcome.entries} entries, only the first {max_entries} taken this run")
        entries = entries[:max_entries]
    lang = parsed.feed.get("language")
    reports = [entry_to_report(e, source, feed_url, url, lang) for e in entries]
    return reports, outcome


class FeedSpider(RoundupSpider):
    name = "feeds"
    plan: HarvestPlan

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> FeedSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        from scrapers.plan import HarvestPlan

        spider.plan = HarvestPlan.from_settings(crawler.settings, only=kwargs.get("only"))
        spider.sources = spider.plan.sources
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

    def parse_feed(self, response: Response) -> Iterator[Any]:
        source = self.sources[response.meta[SOURCE_META]]
        feed_url = response.meta[URL_META]
        if response.status == 304:
            yield FetchOutcome(source_id=source.id, url=feed_url, status="not-modified", http_status=304)
            return
        headers = {
            k.decode("latin-1").lower(): b",".join(v).decode("latin-1")
            for k, v in response.headers.items()
        }
        reports, outcome = parse_feed_body(
            response.body,
            url=response.url,
            headers=headers,
            source=source,
            feed_url=feed_url,
            max_entries=self.plan.max_entries(source),
        )
        outcome.etag = headers.get("etag")
        outcome.last_modified = headers.get("last-modified")
        yield from reports
        yield outcome
