"""Main text, title, date and language of one article page.

:func:`extract_article` parses the page once (lxml), applies the source's own selectors when it
has any (``title``, ``date``, ``body`` in its ``[source.listing]`` table), and asks trafilatura for
the rest: main text without navigation, comments or boilerplate, the title, and the publication
date through htmldate.

Guards, in the spirit of htmldate's own, applied to the tree before any date is looked for:

* ``<script>`` and ``<noscript>`` / ``<template>`` content is removed (JSON-LD metadata,
  ``<script type="application/ld+json">``, is kept: it is data a CMS writes for machines, not code)
  — a date inside JavaScript is a cache-buster, a countdown or an analytics value, not a
  publication date (trafilatura #72);
* expiry fields are removed: ``<meta http-equiv="expires">``, any ``<meta>`` whose name or
  property mentions expiry, validity or "until", and elements whose class or id says "expir";
* no date later than ``now`` is accepted (htmldate ``max_date``); ``pipeline.dates`` flags any
  that still gets through, and dates before 1990.

Pure: no Scrapy, no network. Bad HTML is data: whatever text can be read is returned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from html import escape

import lxml.html
from lxml import etree
from parsel import Selector

__all__ = ["Extracted", "SelectorSpec", "extract_article", "select", "sanitise_tree"]

_EXPIRY = re.compile(r"expir|valid[-_ ]?until|valid[-_ ]?through|unavailable[-_ ]?after", re.I)
_LANG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)*$")
#: Dates htmldate returns, with the time when the page gave one.
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


@dataclass(frozen=True)
class SelectorSpec:
    """One configured selector: CSS (with ``::text`` / ``::attr(name)``) or ``xpath:…``."""

    key: str  # the registry key it came from ("title", "date", "body", "links"...)
    expression: str

    @property
    def kind(self) -> str:
        return "xpath" if self.expression.startswith("xpath:") else "css"

    @property
    def query(self) -> str:
        return self.expression[len("xpath:"):] if self.kind == "xpath" else self.expression

    def __str__(self) -> str:
        return f"{self.key} = {self.expression!r}"


def select(selector: Selector, spec: SelectorSpec) -> list[Selector]:
    """Apply ``spec`` to ``selector`` (a parsel Selector or SelectorList)."""
    if spec.kind == "xpath":
        return list(selector.xpath(spec.query))
    return list(selector.css(spec.query))


@dataclass
class Extracted:
    """What was read from one article page; any field may be missing."""

    title: str | None = None
    text: str | None = None  # plain text, paragraphs separated by blank lines
    content_html: str | None = None  # HTML for RawReport.content_html (selector body or paragraphs)
    raw_date: str | None = None  # as found (selector) or as htmldate wrote it (DATE_FORMAT)
    date_from: str | None = None  # "selector" | "htmldate" | None
    language: str | None = None  # from the page's markup (html lang, Content-Language, og:locale)
    warnings: list[str] = field(default_factory=list)  # e.g. a configured selector matched nothing

    @property
    def has_text(self) -> bool:
        return bool(self.text and self.text.strip())


def parse_html(text: str) -> etree._Element | None:
    """An lxml tree for ``text``; ``None`` when there is nothing to parse."""
    if not text or not text.strip():
        return None
    try:
        return lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError):
        try:  # e.g. an XML declaration with an encoding inside a str
            return lxml.html.document_fromstring(text.encode("utf-8"))
        except (etree.ParserError, ValueError):
            return None


def sanitise_tree(tree: etree._Element) -> None:
    """Remove what must never give a date: scripts (but not JSON-LD) and expiry fields."""
    doomed = []
    for element in tree.iter():  # one pass: this runs on every page of a crawl
        tag = element.tag
        if not isinstance(tag, str):
            continue
        if tag in ("script", "noscript", "template"):
            kind = (element.get("type") or "").strip().lower()
            if not (tag == "script" and kind == "application/ld+json"):
                doomed.append(element)
            continue
        if tag == "meta":
            names = " ".join(
                element.get(a) or "" for a in ("name", "property", "http-equiv", "itemprop")
            )
            if _EXPIRY.search(names):
                doomed.append(element)
            continue
        marks = (element.get("class") or "") + " " + (element.get("id") or "")
        if len(marks) > 1 and _EXPIRY.search(marks):
            doomed.append(element)
    for element in doomed:
        if element.getparent() is not None:
            element.drop_tree()  # keeps the tail text, which belongs to the parent


def page_language(tree: etree._Element, header: str | None = None) -> str | None:
    candidates = [tree.get("lang"), tree.get("{http://www.w3.org/XML/1998/namespace}lang")]
    for meta in tree.iter("meta"):
        key = (meta.get("http-equiv") or meta.get("property") or meta.get("name") or "").lower()
        if key in ("content-language", "og:locale", "language", "dc.language"):
            candidates.append(meta.get("content"))
    candidates.append(header)
    for value in candidates:
        value = (value or "").split(",")[0].strip()
        if value and _LANG.match(value):
            return value.replace("_", "-").split("-")[0].lower()
    return None


def _joined_text(matches: list[Selector]) -> str:
    parts = []
    for match in matches:
        root = match.root
        if isinstance(root, str):
            parts.append(root)
        else:
            parts.append(" ".join(t for t in match.xpath(".//text()").getall()))
    return " ".join(" ".join(parts).split())


def _paragraphs_html(text: str) -> str:
    paragraphs = [p.strip() for p in re.split(r"\n+", text) if p.strip()]
    return "".join(f"<p>{escape(p)}</p>" for p in paragraphs)


def extract_article(
    html: str,
    url: str,
    *,
    now: datetime,
    selectors: dict[str, SelectorSpec] | None = None,
    language_header: str | None = None,
    fast: bool = True,
) -> Extracted:
    """Read one article page. ``selectors`` may hold ``title``, ``date`` and ``body``.

    A configured selector that matches nothing adds a warning naming the selector and ``url``
    (the page was probably redesigned) and trafilatura's answer is used instead.
    """
    import trafilatura

    result = Extracted()
    tree = parse_html(html)
    if tree is None:
        result.warnings.append(f"{url}: empty page")
        return result
    sanitise_tree(tree)
    result.language = page_language(tree, language_header)

    chosen: dict[str, str] = {}
    if selectors:
        page = Selector(root=tree, type="html")
        for key in ("title", "date", "body"):
            spec = selectors.get(key)
            if spec is None:
                continue
            matches = select(page, spec)
            if not matches:
                result.warnings.append(f"selector {spec} matched nothing on {url}")
                continue
            if key == "body":
                chosen["body"] = "\n".join(
                    m.get() if not isinstance(m.root, str) else f"<p>{escape(m.root)}</p>"
                    for m in matches
                )
            else:
                value = _joined_text(matches[:1])
                if value:
                    chosen[key] = value
                else:
                    result.warnings.append(f"selector {spec} matched only empty text on {url}")

    document = trafilatura.bare_extraction(
        tree,
        url=url,
        fast=fast,
        with_metadata=True,
        include_comments=False,
        date_extraction_params={
            "extensive_search": True,
            "original_date": True,
            "outputformat": DATE_FORMAT,
            "max_date": now.strftime("%Y-%m-%d"),
        },
    )
    if document is not None and not isinstance(document, dict):
        result.title = (document.title or "").strip() or None
        text = (document.text or "").strip()
        first, _, rest = text.partition("\n")
        if result.title and first.strip() == result.title and rest.strip():
            text = rest.strip()  # trafilatura keeps the headline as the first line of the text
        if text:
            result.text = text
            result.content_html = _paragraphs_html(text)
        if document.date:
            result.raw_date = document.date
            result.date_from = "htmldate"

    if "title" in chosen:
        result.title = chosen["title"]
    if "date" in chosen:
        result.raw_date = chosen["date"]
        result.date_from = "selector"
    if "body" in chosen:
        body_text = _joined_text(Selector(text=chosen["body"], type="html").xpath("//body"))
        if body_text:
            result.content_html = chosen["body"]
            result.text = body_text
    return result
