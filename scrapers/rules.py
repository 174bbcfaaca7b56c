"""A source's crawl rules: its ``[source.listing]`` table, read once per run.

The keys are documented in ``docs/sources.md`` and type-checked by ``store.registry``
(:data:`LISTING_KEYS`); this module turns a valid table into a :class:`ListingRules` and works out
which hosts the source's articles may be fetched from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pipeline.extract import SelectorSpec
from scrapers.middlewares import on_hosts
from store.registry_types import Source

#: Selector keys: CSS (Scrapy's ``::text`` and ``::attr(name)`` work) or ``xpath:`` + an XPath.
SELECTOR_KEYS = ("links", "next_page", "title", "date", "body")
DEFAULT_MAX_PAGES = 5


@dataclass(frozen=True)
class ListingRules:
    start_urls: tuple[str, ...] = ()
    selectors: dict[str, SelectorSpec] = field(default_factory=dict)
    max_pages: int = DEFAULT_MAX_PAGES
    sitemaps: tuple[str, ...] = ()
    url_pattern: re.Pattern[str] | None = None
    domains: tuple[str, ...] = ()

    @property
    def page_selectors(self) -> dict[str, SelectorSpec]:
        """The selectors read on an article page (title, date, body)."""
        return {k: v for k, v in self.selectors.items() if k in ("title", "date", "body")}

    def wants(self, url: str) -> bool:
        return self.url_pattern is None or self.url_pattern.search(url) is not None


def rules_for(source: Source, default_max_pages: int = DEFAULT_MAX_PAGES) -> ListingRules:
    table = dict(source.listing or {})
    selectors = {
        key: SelectorSpec(key, str(table[key])) for key in SELECTOR_KEYS if table.get(key)
    }
    pattern = table.get("url_pattern")
    return ListingRules(
        start_urls=tuple(table.get("start_urls", ())),  # type: ignore[arg-type]
        selectors=selectors,
        max_pages=int(table.get("max_pages", default_max_pages)),  # type: ignore[call-overload]
        sitemaps=tuple(table.get("sitemaps", ())),  # type: ignore[arg-type]
        url_pattern=re.compile(str(pattern)) if pattern else None,
        domains=tuple(source_domains(source, table.get("domains", ()))),  # type: ignore[arg-type]
    )


def _bare(host: str) -> str:
    host = host.lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def source_domains(source: Source, extra: tuple[str, ...] | list[str] = ()) -> list[str]:
    """The hosts a source publishes on: homepage, feeds, listing pages, sitemaps, ``domains``."""
    urls = [source.homepage, *source.feeds]
    table = source.listing or {}
    for key in ("start_urls", "sitemaps"):
        values: Any = table.get(key) or ()
        urls.extend(str(u) for u in values)
    hosts = [urlsplit(u).hostname or "" for u in urls] + [str(d) for d in extra]
    seen: list[str] = []
    for host in hosts:
        bare = _bare(host)
        if bare and bare not in seen:
            seen.append(bare)
    return seen


def on_domains(url: str, domains: tuple[str, ...] | list[str]) -> bool:
    """Whether ``url``'s host is one of ``domains`` or a subdomain of one."""
    return on_hosts(urlsplit(url).hostname or "", domains)
