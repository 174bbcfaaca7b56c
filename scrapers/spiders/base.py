"""What every Roundup spider shares: the registry, the store's fetch state, outcome reporting."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from scrapers.items import FetchOutcome
from scrapers.middlewares import ALLOW_LOCAL_META
from scrapers.resolver import REFUSED
from store.registry_types import Source

SOURCE_META = "roundup_source"
URL_META = "roundup_url"


def retry_after(response: Response | None, now: datetime) -> datetime | None:
    """The time a ``Retry-After`` header (seconds or an HTTP date) asks us to wait until."""
    if response is None:
        return None
    value = response.headers.get(b"Retry-After")
    if not value:
        return None
    text = value.decode("latin-1").strip()
    if text.isdigit():
        return now + timedelta(seconds=min(int(text), 7 * 86400))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def describe_failure(failure: Failure) -> tuple[str, int | None, Response | None]:
    """One line for the run summary, the HTTP status if there was one, and the response."""
    exc = failure.value
    response = getattr(exc, "response", None)
    if isinstance(exc, HttpError) and response is not None:
        reason = f"HTTP {response.status}"
        if response.status == 410:
            reason += " Gone: the member removed this feed"
        return reason, response.status, response
    name = type(exc).__name__
    detail = str(exc).strip() or name
    host = (urlsplit(failure.request.url).hostname or "").lower() if hasattr(failure, "request") else ""
    if ("Resolve" in name or "DNS" in name) and host in REFUSED:
        return (f"refused: {host} resolved to the non-public address {REFUSED[host]} when "
                "connecting (DNS rebinding?); the source is not marked allow_local"), None, None
    # Scrapy's and Twisted's exception names differ across versions (TimeoutError,
    # DownloadTimeoutError, TCPTimedOutError...): classify by what the name says.
    kinds = (
        (("Timeout", "TimedOut"), "timed out"),
        (("ConnectionRefused",), "connection refused"),
        (("DNSLookup", "DNS"), "DNS lookup failed"),
        (("DataLoss", "ResponseFailed", "ResponseNeverReceived", "ConnectionLost",
          "ConnectionDone", "PotentialDataLoss"), "connection lost mid-response"),
        (("Cancelled",), "response too large or cancelled"),
    )
    for needles, label in kinds:
        if any(n in name for n in needles):
            return f"{label} ({name}: {detail})", None, None
    if "maxsize" in detail.lower() or "max size" in detail.lower():
        return f"response too large ({name}: {detail})", None, None
    return f"{name}: {detail}", None, None


class RoundupSpider(scrapy.Spider):
    """Base class: resolves the registry and builds requests that carry their source."""

    sources: dict[str, Source]

    def request_for(self, source: Source, url: str, **kwargs: Any) -> scrapy.Request:
        meta = kwargs.pop("meta", {})
        meta.update({SOURCE_META: source.id, URL_META: url, ALLOW_LOCAL_META: source.allow_local})
        if source.crawl_delay is not None:
            meta["download_slot"] = f"{source.id}"
        # Locally each request is wanted even if another source lists the same URL; in a
        # distributed run the shared duplicate filter is what makes each URL fetched once.
        distributed = self.settings.getbool("ROUNDUP_DISTRIBUTED")
        return scrapy.Request(url, meta=meta, dont_filter=not distributed, **kwargs)

    def fetch_failed(self, failure: Failure) -> Iterator[FetchOutcome]:
        request = failure.request  # type: ignore[attr-defined]
        reason, status, response = describe_failure(failure)
        redirects = request.meta.get("redirect_urls")
        if redirects and "redirect" in reason.lower():
            reason += f" (chain: {' -> '.join([*redirects, request.url])})"
        yield FetchOutcome(
            source_id=request.meta[SOURCE_META],
            url=request.meta[URL_META],
            status="failed",
            http_status=status,
            error=reason,
            retry_after=retry_after(response, datetime.now(UTC)),
        )
