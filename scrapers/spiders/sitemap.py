"""The sitemap spider: a second way to find a member's articles.

A source's ``[source.listing]`` ``sitemaps`` lists sitemap URLs: a ``<urlset>`` (plain or Google
News, whose ``news:title``, ``news:publication_date`` and ``news:language`` are used as hints), a
``<sitemapindex>`` (its child sitemaps on the source's own hosts are followed, newest first, up to
:data:`MAX_CHILD_SITEMAPS` and two levels deep), gzip-compressed or not. Entries are taken newest
``lastmod`` first, filtered by ``url_pattern``; article pages are fetched as the listing spider
fetches them (:class:`PageSpider`).

Parsing is safe: a document that declares entities is refused; lxml runs with entity resolution,
DTD loading and network access off, and decompression stops at ``DOWNLOAD_MAXSIZE``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from scrapy.http import Response
from scrapy.utils.gz import gunzip

from scrapers.items import FetchOutcome
from scrapers.rules import on_domains
from scrapers.spiders.base import SOURCE_META, URL_META
from scrapers.spiders.pages import PageSpider

MAX_CHILD_SITEMAPS = 20
MAX_DEPTH = 2
DEPTH_META = "roundup_sitemap_depth"
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.I)
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.I)


class SitemapError(ValueError):
    """The body is not a sitemap this spider will read."""


@dataclass
class SitemapEntry:
    loc: str
    lastmod: str | None = None
    title: str | None = None  # news:title
    published: str | None = None  # news:publication_date
    language: str | None = None  # news:language


@dataclass
class Sitemap:
    kind: str  # "urlset" | "index"
    entries: list[SitemapEntry] = field(default_factory=list)


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _text(element: etree._Element, name: str) -> str | None:
    for child in element.iter():
        if _local(child.tag) == name and child.text and child.text.strip():
            return child.text.strip()
    return None


def parse_sitemap(body: bytes) -> Sitemap:
    """Parse a sitemap or sitemap index. Pure; raises :class:`SitemapError`."""
    head = body[:4096]
    if _ENTITY_DECL.search(body) or _DOCTYPE.search(head):
        raise SitemapError("refused: the document declares a DOCTYPE or entities")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             dtd_validation=False, huge_tree=False, recover=True)
    try:
        root = etree.fromstring(body, parser=parser)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise SitemapError(f"not XML ({exc})") from exc
    if root is None:
        raise SitemapError("empty or not XML")
    kind = _local(root.tag)
    if kind not in ("urlset", "sitemapindex"):
        raise SitemapError(f"not a sitemap (root element <{kind}>)")
    sitemap = Sitemap("urlset" if kind == "urlset" else "index")
    item_tag = "url" if kind == "urlset" else "sitemap"
    for item in root:
        if _local(item.tag) != item_tag:
            continue
        loc = None
        for child in item:
            if _local(child.tag) == "loc" and child.text and child.text.strip():
                loc = child.text.strip()
        if not loc:
            continue
        entry = SitemapEntry(loc, lastmod=None)
        for child in item:
            name = _local(child.tag)
            if name == "lastmod" and child.text:
                entry.lastmod = child.text.strip()
            elif name == "news":
                entry.title = _text(child, "title")
                entry.published = _text(child, "publication_date")
                entry.language = _text(child, "language")
        sitemap.entries.append(entry)
    return sitemap


def newest_first(entries: list[SitemapEntry]) -> list[SitemapEntry]:
    # ISO 8601 strings of one site sort well enough; entries without a date go last, in order.
    return sorted(entries, key=lambda e: e.published or e.lastmod or "", reverse=True)


class SitemapSpider(PageSpider):
    name = "sitemaps"
    via = "sitemap"

    async def start(self) -> AsyncIterator[Any]:
        for source in self.sources.values():
            urls = list(self.rules_of(source).sitemaps)
            if not urls:
                continue
            ready, skipped = self.due(source, urls)
            for outcome in skipped:
                yield outcome
            for url in ready:
                yield self.page_request(source, url, callback=self.parse_sitemap,
                                        errback=self.page_failed, meta={DEPTH_META: 0})

    def parse_sitemap(self, response: Response) -> Iterator[Any]:
        source = self.sources[response.meta[SOURCE_META]]
        rules = self.rules_of(source)
        key = response.meta[URL_META]
        outcome = FetchOutcome(source.id, key, "ok", http_status=response.status,
                               store_validators=False)
        body = response.body
        if body[:2] == b"\x1f\x8b":  # a .xml.gz file served without Content-Encoding
            try:
                body = gunzip(body, max_size=self.settings.getint("DOWNLOAD_MAXSIZE"))
            except Exception as exc:  # noqa: BLE001 - gzip, size cap: any failure is this sitemap's
                outcome.status = "failed"
                outcome.error = f"{response.url}: cannot decompress the sitemap ({exc})"
                yield outcome
                return
        try:
            sitemap = parse_sitemap(body)
        except SitemapError as exc:
            outcome.status = "failed"
            outcome.error = f"{response.url}: {exc}"
            yield outcome
            return
        for entry in sitemap.entries:  # relative <loc> is out of spec, but seen: resolve it
            entry.loc = response.urljoin(entry.loc)
        outcome.entries = len(sitemap.entries)
        if not sitemap.entries:
            outcome.warnings.append(f"sitemap {response.url} lists no URLs")
        if sitemap.kind == "index":
            depth = response.meta.get(DEPTH_META, 0) + 1
            children = [e.loc for e in newest_first(sitemap.entries)
                        if on_domains(e.loc, rules.domains)]
            if depth > MAX_DEPTH:
                outcome.warnings.append(f"sitemap index {response.url} nested too deep; not followed")
                children = []
            for url in children[:MAX_CHILD_SITEMAPS]:
                yield self.page_request(source, url, callback=self.parse_sitemap,
                                        errback=self.page_failed, meta={DEPTH_META: depth})
            yield outcome
            return
        entries = newest_first(sitemap.entries)
        hints = {
            e.loc: {"title": e.title, "raw_date": e.published, "language": e.language}
            for e in entries
        }
        requests, warnings, _ = self.article_requests(source, [e.loc for e in entries], hints)
        outcome.warnings += warnings
        yield from requests
        yield outcome
