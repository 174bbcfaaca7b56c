"""Article pages: what a fetched page is, what it says, and which articles the store already has.

Shared by the listing and sitemap spiders (every article they find is a page to fetch) and by the
full-text middleware (a feed entry that carries only a summary). :func:`read_article` is the one
place a downloaded page becomes report fields: HTML through ``pipeline.extract``, PDF through
``pipeline.pdf``; anything else is skipped with a reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any

from scrapy.http import Response, TextResponse

from pipeline.extract import SelectorSpec, extract_article
from pipeline.pdf import PdfError, extract_pdf, looks_like_pdf
from scrapers.workers import WorkerCrashed, WorkerPool

#: Content types an article fetch accepts; the download stops at the headers for anything else.
HTML_TYPES = ("text/html", "application/xhtml+xml")
PDF_TYPES = ("application/pdf", "application/x-pdf")
FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml",
              "application/xml", "text/xml", "application/feed+json")
# Unlabelled bodies are sniffed: servers send PDFs as application/octet-stream and HTML as
# text/plain often enough.
SNIFF_TYPES = ("", "application/octet-stream", "binary/octet-stream", "text/plain")
_HTML_SNIFF = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(?:<!doctype\s+html|<html\b|<head\b|<body\b)", re.I | re.S
)
_FEED_SNIFF = re.compile(rb"<(rss|feed|rdf:RDF)\b", re.I)


def content_type(headers: Any) -> str:
    raw = headers.get(b"Content-Type") or b""
    return raw.decode("latin-1").split(";")[0].strip().lower()


def acceptable_type(ctype: str) -> bool:
    """Whether a fetch with this Content-Type is worth downloading (decided at the headers)."""
    return ctype in HTML_TYPES or ctype in PDF_TYPES or ctype in SNIFF_TYPES or ctype in FEED_TYPES


def classify(ctype: str, body: bytes) -> str:
    """``"html"``, ``"pdf"``, ``"feed"`` or ``"other"``."""
    if ctype in PDF_TYPES or (ctype in SNIFF_TYPES and looks_like_pdf(body)):
        return "pdf"
    if ctype in HTML_TYPES or (ctype in SNIFF_TYPES and _HTML_SNIFF.match(body[:2048])):
        return "html"
    if ctype in FEED_TYPES or _FEED_SNIFF.search(body[:4096]):
        return "feed"
    return "other"


@dataclass
class PageReading:
    """What :func:`read_article` found. ``error``/``skipped`` say why there is no article."""

    kind: str  # html | pdf | feed | other
    title: str | None = None
    content_html: str | None = None
    raw_date: str | None = None
    date_from: str | None = None  # "selector" | "htmldate" | "pdf" | None
    language: str | None = None
    has_text: bool = False
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # a per-item failure (encrypted PDF...)
    skipped: str | None = None  # not an article (a feed, an image...)


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{escape(p.strip())}</p>" for p in re.split(r"\n\s*\n", text) if p.strip())


def read_article(response: Response, *, now: datetime,
                 selectors: dict[str, SelectorSpec] | None = None) -> PageReading:
    ctype = content_type(response.headers)
    if "download_stopped" in response.flags:
        return PageReading("other", skipped=f"{response.url}: content type {ctype or 'unknown'!r} "
                           "is not HTML or PDF; not downloaded")
    kind = classify(ctype, response.body)
    if kind == "pdf":
        try:
            pdf = extract_pdf(response.body)
        except PdfError as exc:
            return PageReading("pdf", error=f"{response.url}: {exc}")
        text = pdf.text
        if pdf.title and " ".join(text.split()).startswith(" ".join(pdf.title.split())):
            text = text.split("\n", 1)[-1] if "\n" in text else text  # the title page heading
        return PageReading("pdf", title=pdf.title, content_html=_paragraphs(text),
                           raw_date=pdf.raw_date, date_from="pdf" if pdf.raw_date else None,
                           language=pdf.language, has_text=True)
    if kind == "feed":
        return PageReading("feed", skipped=f"{response.url}: a feed, not an article page "
                           "(list it under `feeds`)")
    if kind == "other":
        return PageReading("other", skipped=f"{response.url}: content type {ctype or 'unknown'!r} "
                           "is not HTML or PDF")
    try:
        text = response.text
    except (AttributeError, UnicodeDecodeError):
        text = response.body.decode("utf-8", errors="replace")
    header = response.headers.get(b"Content-Language")
    extracted = extract_article(
        text, response.url, now=now, selectors=selectors,
        language_header=header.decode("latin-1") if header else None,
    )
    return PageReading("html", title=extracted.title, content_html=extracted.content_html,
                       raw_date=extracted.raw_date, date_from=extracted.date_from,
                       language=extracted.language,
                       has_text=extracted.has_text, warnings=list(extracted.warnings))


# --- Reading in a worker process (scrapers.workers) -----------------------------------------


@dataclass(frozen=True)
class PageSnapshot:
    """What :func:`read_article` needs of a response, as plain picklable data."""

    cls: type[Response]
    url: str
    status: int
    headers: dict[bytes, list[bytes]]
    body: bytes
    flags: tuple[str, ...]
    encoding: str | None  # only when set explicitly on the response

    @classmethod
    def of(cls, response: Response) -> PageSnapshot:
        return cls(type(response), response.url, response.status, dict(response.headers),
                   response.body, tuple(response.flags), getattr(response, "_encoding", None))

    def response(self) -> Response:
        kwargs: dict[str, Any] = {"status": self.status, "headers": self.headers,
                                  "body": self.body, "flags": list(self.flags)}
        if self.encoding and issubclass(self.cls, TextResponse):
            kwargs["encoding"] = self.encoding
        return self.cls(self.url, **kwargs)


def read_snapshot(page: PageSnapshot, now: datetime,
                  selectors: dict[str, SelectorSpec] | None) -> PageReading:
    """:func:`read_article` on a page sent to a worker process."""
    return read_article(page.response(), now=now, selectors=selectors)


async def read_in_pool(pool: WorkerPool, response: Response, now: datetime,
                       selectors: dict[str, SelectorSpec] | None,
                       read: Callable[..., PageReading] = read_snapshot) -> PageReading:
    """``read`` (:func:`read_snapshot`) on ``response`` in a worker; a worker that dies on the page
    makes it a per-item error reading, not an exception."""
    try:
        return await pool.run(read, PageSnapshot.of(response), now, selectors)
    except WorkerCrashed as exc:
        return PageReading("other", error=f"{response.url}: {exc}")


def worth_a_worker(response: Response) -> bool:
    """Whether reading ``response`` is work enough to send to the pool (not a stopped download)."""
    return "download_stopped" not in response.flags


# --- What the store already has ----------------------------------------------------------------


def article_keys(url: str) -> str:
    """The store key (``article.guid_key``) of a page found without a GUID: its canonical URL."""
    from pipeline.urls import canonical_url
    from store.articles import article_key

    return article_key(None, canonical_url(url))


def known_articles(Session: Any, source_id: str, urls: Iterable[str]) -> dict[str, str]:
    """``{url: fetched_via}`` for the ``urls`` the store already holds for ``source_id``.

    ``Session`` is a session factory (``store.db.open_db(url)[1]``), opened once per crawl.

    An article is known by its key (the canonical URL, when found on a listing or in a sitemap)
    or by its stored URL (when it came from a feed with a GUID).
    """
    from sqlalchemy import or_, select

    from pipeline.errors import BadURL
    from store.models import ArticleRow

    by_key: dict[str, str] = {}
    for url in urls:
        try:
            by_key[article_keys(url)] = url
        except (BadURL, ValueError):
            continue
    if not by_key:
        return {}
    found: dict[str, str] = {}
    keys = list(by_key)
    with Session() as session:
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            rows = session.execute(
                select(ArticleRow.guid_key, ArticleRow.url, ArticleRow.fetched_via).where(
                    ArticleRow.source_id == source_id,
                    or_(ArticleRow.guid_key.in_(chunk), ArticleRow.url.in_(chunk)),
                )
            )
            for guid_key, url, via in rows:
                for key in (guid_key, url):
                    if key in by_key:
                        found[by_key[key]] = via
    return found
