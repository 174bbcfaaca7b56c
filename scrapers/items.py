"""Items the spiders yield.

Reports are ``pipeline.items.RawReport`` (a plain dataclass, so ``pipeline`` stays Scrapy-free).
After the reports of one fetched feed, the spider yields a :class:`FetchOutcome` for it: the store
pipeline commits that feed's articles and its fetch state (ETag, Last-Modified) in one
transaction, so stored validators can never run ahead of stored articles. The feed spider
normalises and tags a feed's entries itself, in one piece (``scrapers/feedwork.py``), and hands
them over inside the outcome (``articles``) rather than one item each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pipeline.items import Article, RawReport

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
    # Articles already normalised and tagged with the fetch (the feed spider prepares a feed's
    # entries in one piece, in a worker process: scrapers/feedwork.py); stored with this outcome.
    articles: list[Article] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # entries the pipeline refused, and why
    date_flagged: int = 0  # articles whose date could not be trusted
