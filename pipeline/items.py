"""The two item types that cross the collect → normalise → store boundaries.

A spider yields a :class:`RawReport` (what the member published, as found); ``pipeline.normalise``
turns it into an :class:`Article` (what the store keeps). Both are plain dataclasses so that
``pipeline`` and ``store`` never import Scrapy (Scrapy accepts dataclass items as they are).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class RawReport:
    """One entry of a member's feed or one article page, before any cleaning."""

    source_id: str
    url: str | None  # the entry's link as found (may be relative, may carry tracking parameters)
    guid: str | None = None  # feed GUID / Atom id, as found
    title: str | None = None
    summary_html: str | None = None  # feed summary/description (HTML or text)
    content_html: str | None = None  # full content (Atom content, content:encoded, article page)
    raw_date: str | None = None  # the date string as published; kept for audit
    parsed_date: datetime | None = None  # a date the collector already parsed (aware), if any
    language_hint: str | None = None  # feed or page language (xml:lang, <language>, html lang)
    base_url: str | None = None  # what relative links resolve against (feed URL, xml:base)
    feed_url: str | None = None  # the feed or listing URL this came from
    authors: list[str] = field(default_factory=list)
    fetched_via: str = "feed"  # feed | listing | sitemap | fulltext | pdf


@dataclass
class Article:
    """One member's report, normalised: what the store keeps."""

    source_id: str
    guid: str | None  # the feed GUID when the member gave one, else None
    url: str  # canonical URL
    title: str
    text: str  # plain text, entities decoded, whitespace folded
    summary: str  # plain-text summary (first paragraph or the feed's summary)
    published: datetime  # aware, UTC
    date_flag: str | None  # None when the date is trusted; else why first-seen time was used
    raw_date: str | None
    language: str | None  # ISO 639-1, or None when undetectable
    content_hash: str  # hash of the normalised text, for exact cross-source deduplication
    countries: list[str] = field(default_factory=list)  # ISO alpha-2, most relevant first
    country_weights: dict[str, float] = field(default_factory=dict)
    region: str | None = None
    topics: list[str] = field(default_factory=list)
    feed_url: str | None = None
    fetched_via: str = "feed"
