"""Items the spiders yield.

Reports are ``pipeline.items.RawReport`` (a plain dataclass, so ``pipeline`` stays Scrapy-free).
After the reports of one fetched feed, the spider yields a :class:`FetchOutcome` for it: the store
pipeline commits that feed's articles and its fetch state (ETag, Last-Modified) in one
transaction, so stored validators can never run ahead of stored articles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pipeline.items import RawReport

__all__ = ["FetchOutcome", "RawReport"]


@dataclass
class FetchOutcome:
    source_id: str
    url: str  # the feed or listing URL as configured (the fetch-state key)
    status: str  # "ok" | "not-modified" | "failed" | "skipped"
    http_status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    entries: int = 0  # entries found in the body
    error: str | None = None  # why it failed / was skipped (one line)
    warnings: list[str] = field(default_factory=list)  # e.g. feedparser bozo, entries capped
    retry_after: datetime | None = None
    store_validators: bool = True  # False when the body was incomplete: refetch in full next run
