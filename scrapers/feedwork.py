"""The CPU-bound half of reading a feed, with no Scrapy objects: parse the body (feedparser),
turn its entries into reports and, unless the source's entries wait for their full text, into
normalised, tagged articles.

:func:`prepare_feed` is what the feed spider runs on every fetched body, in a worker process
(``scrapers.workers``) for large bodies, in-process for small ones; its input and output are
plain picklable dataclasses. :func:`warm` loads the language model and the tagging data; the
harvest calls it before the crawl opens, so the workers forked then share them.
"""

from __future__ import annotations

import calendar
import re
import xml.sax
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import feedparser

from pipeline.items import RawReport
from scrapers.items import FetchOutcome
from store.registry_types import Source

# Markup that says "this is a web page", seen where a feed should be (login walls, anti-bot pages,
# a CMS's 404 page served with 200).
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*(<!doctype\s+html|<html\b)", re.IGNORECASE | re.DOTALL)
_FEED_ROOT = re.compile(rb"<(rss|feed|rdf:RDF|RDF)\b", re.IGNORECASE)
_ENTRY_CLOSE = re.compile(rb"</(item|entry)\s*>", re.IGNORECASE)


def looks_like_html(body: bytes) -> bool:
    head = body[:2048].lstrip(b"\xef\xbb\xbf")
    return bool(_HTML_START.match(head)) and not _FEED_ROOT.search(body[:4096])


# feedparser's FeedParserDict.get runs its __getitem__ (aliases such as "guid" → "id", special
# keys such as "category"): a dozen Python-level steps per look-up, a dozen look-ups per entry.
# For the keys read here, none of them an alias nor special, it answers what dict.get answers,
# which is a C call. "updated"/"updated_parsed" are special (they fall back to "published"):
# those go through the entry's own get.
_get = dict.get


def entry_date(entry: Any) -> tuple[str | None, datetime | None]:
    for key in ("published", "updated", "created", "dc_date"):
        get = type(entry).get if key == "updated" else _get
        raw = get(entry, key)
        if raw:
            parsed = get(entry, f"{key}_parsed")
            when = datetime.fromtimestamp(calendar.timegm(parsed), UTC) if parsed else None
            return str(raw), when
    return None, None


def entry_to_report(entry: Any, source: Source, feed_url: str, base_url: str, lang: str | None) -> RawReport:
    get = _get  # see above
    content = get(entry, "content") or []
    content_html = "\n".join([value for c in content if (value := get(c, "value"))]) or None
    raw_date, parsed_date = entry_date(entry)
    title_detail = get(entry, "title_detail") or {}
    link = get(entry, "link")
    linked = any(get(alt, "href") == link for alt in get(entry, "links") or ())
    if link and not linked and not link.lower().startswith(("http://", "https://")):
        # No <link>: feedparser copied a permalink GUID into it. An opaque GUID ("item-42") is
        # not a link; only an absolute URL is taken.
        link = None
    return RawReport(
        source_id=source.id,
        url=link,
        guid=get(entry, "id") or None,
        title=get(entry, "title"),
        summary_html=get(entry, "summary"),
        content_html=content_html,
        raw_date=raw_date,
        parsed_date=parsed_date,
        language_hint=get(title_detail, "language") or lang,
        base_url=get(title_detail, "base") or base_url,
        feed_url=feed_url,
        authors=[name for a in get(entry, "authors", ()) if (name := get(a, "name"))],
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


#: How entries' markup (titles, summaries, content) is read. Nothing keeps it: it only goes
#: through ``pipeline.text.html_to_text``, which is written for hostile input (raw-text elements
#: and ``svg``/``math`` dropped with their content, attributes never read, linear time), and the
#: entries' links are resolved by ``pipeline.urls``. feedparser's HTML sanitizer and its rewriting
#: of relative URIs inside that markup (both re-serialise every fragment: ~45% of its time) are
#: therefore off for a well-formed feed, whose markup reaches ``html_to_text`` as published: the
#: text is then what a browser shows ("&bogus;" stays as written, fallback content of
#: ``iframe``/``object``/``template`` is dropped as in an article page), see docs/crawling.md.
_WELL_FORMED = {"sanitize_html": False, "resolve_relative_uris": False}
#: A malformed feed is read by feedparser's loose (sgmllib) parser, which re-serialises the
#: markup it passes through ("AT&T" becomes "AT&T;") and relies on its sanitizer to undo that:
#: such a feed is read again with feedparser's defaults, as it always was.
_MALFORMED = {"sanitize_html": True}


def _read_loosely(parsed: Any) -> bool:
    """Whether feedparser fell back to its loose parser: the body is not well-formed XML (its
    XML parser raised), or no encoding could be found for it."""
    return isinstance(parsed.get("bozo_exception"), xml.sax.SAXException) or not parsed.get("encoding")


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
    try:
        parsed = feedparser.parse(body, response_headers=headers, **_WELL_FORMED)
        if _read_loosely(parsed):
            parsed = feedparser.parse(body, response_headers=headers, **_MALFORMED)
    except Exception as exc:  # noqa: BLE001 - feedparser itself fails on some hostile bodies
        # feedparser 6.0 raises on, e.g., a lone surrogate's character reference in a malformed
        # feed (UnicodeEncodeError) or a <width> element in unescaped description markup
        # (TypeError): the feed is unreadable, a per-source failure like any other bad body.
        outcome.status = "failed"
        outcome.error = f"not a feed: {url} (feedparser failed: {type(exc).__name__}: {exc})"
        return [], outcome
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


@dataclass
class FeedJob:
    """One fetched feed body and what is needed to read it."""

    body: bytes
    url: str  # the URL that answered (after redirects)
    headers: dict[str, str]  # lower-cased response headers
    source: Source
    feed_url: str  # the feed URL as configured (the fetch-state key)
    max_entries: int
    now: datetime  # first-seen time for entries whose date cannot be trusted
    #: False for ``fulltext`` sources: the reports go on to have their article pages fetched
    #: (scrapers/fulltext.py) and are normalised by the item pipeline afterwards.
    normalise: bool = True
    #: Also compute each article's near-duplicate payload for the store
    #: (:func:`attach_prepared_keys`): set when the job runs in a worker process, whose CPU the
    #: store's process then saves.
    prepare_keys: bool = False
    #: The source's learnt boilerplate (segment keys) as the store last had it
    #: (``store.stories.boilerplate_hints``): what :func:`attach_prepared_keys` assumes.
    boilerplate: frozenset[str] = frozenset()


@dataclass
class FeedResult:
    outcome: FetchOutcome  # carries the normalised, tagged articles (``outcome.articles``)
    reports: list[RawReport] = field(default_factory=list)  # when ``job.normalise`` is False


def prepare_feed(job: FeedJob) -> FeedResult:
    """Parse ``job.body``; normalise and tag its entries (see the module docstring).

    An entry the pipeline refuses (no usable link) is counted in ``outcome.skipped`` with the
    reason; a date it could not trust in ``outcome.date_flagged``.
    """
    from pipeline.errors import PipelineError
    from pipeline.normalise import normalise_many
    from pipeline.tagging import tag_article

    reports, outcome = parse_feed_body(
        job.body, url=job.url, headers=job.headers, source=job.source, feed_url=job.feed_url,
        max_entries=job.max_entries,
    )
    if not job.normalise:
        return FeedResult(outcome, reports)
    # One call for the feed's entries: the language model reads them all in one pass.
    for article in normalise_many(reports, job.source, now=job.now):
        if isinstance(article, PipelineError):
            outcome.skipped.append(f"{job.feed_url}: {article}")
            continue
        if article.date_flag:
            outcome.date_flagged += 1
        tag_article(article, job.source)
        outcome.articles.append(article)
    if job.prepare_keys:
        attach_prepared_keys(outcome.articles, job.boilerplate)
    return FeedResult(outcome)


def attach_prepared_keys(articles: list[Any], boilerplate: Collection[str] = ()) -> None:
    """Attach to each article what the store's near-duplicate level would compute for it
    regardless of the store's state (``store.similarity.prepare_keys``): its boilerplate
    segments, its text as cleaned of generic footers and that text's signatures. An attribute,
    not a field: never stored, never compared, absent from the article's JSON; the store uses it
    only for the very text it was made from, and only when exactly the segments assumed to be
    its source's learnt boilerplate (``boilerplate``, the store's hint) are (docs/dedup.md)."""
    from store.articles import PREPARED_ATTR
    from store.similarity import prepare_keys

    if not articles:
        return
    prepared = prepare_keys([(a.text, a.title, a.language) for a in articles], boilerplate)
    for article, keys in zip(articles, prepared, strict=True):
        setattr(article, PREPARED_ATTR, keys)


def warm() -> None:
    """Load the language model and the tagging data now (a worker's first job should not)."""
    from pipeline.language import detect_language
    from pipeline.tagging import warm_up

    detect_language("Journalists were arrested in the capital on Monday, their union said.")
    warm_up()
