"""The declarative listing spider: members without a feed, described in ``sources.toml``.

A source with ``[source.listing]`` ``start_urls`` is crawled like this (keys in
``docs/sources.md``):

1. fetch each start URL (a listing page: newest reports first);
2. take the article links with the ``links`` selector, resolve them against the page, keep those
   on the source's own hosts (and matching ``url_pattern``, when set);
3. fetch every link the store does not already have (see :class:`PageSpider`); the page's text,
   title and date come from the ``title`` / ``date`` / ``body`` selectors when set, else from
   trafilatura; a linked PDF becomes an article of its own;
4. follow the ``next_page`` link — unless this page already showed an article the store has (the
   rest is older and known), ``max_pages`` pages have been read, or the link leads back to a page
   already read in this run (pagination that loops back to page 1).

A selector that matches nothing is a warning in the run summary naming the selector and the page,
never silence.

A member whose listing needs code gets a short subclass that overrides the one hook,
:meth:`ListingSpider.article_links`, and sets ``name`` and ``source_ids``::

    class ExampleOrgSpider(ListingSpider):
        name = "listing-example-org"
        source_ids = ("example-org",)

        def article_links(self, response, source):
            # The site renders its list as JSON inside a data attribute.
            data = json.loads(response.css("#reports::attr(data-items)").get() or "[]")
            return [response.urljoin(item["path"]) for item in data]
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

from scrapy.http import Response, TextResponse

from pipeline.errors import BadURL
from pipeline.extract import select
from pipeline.urls import canonical_url
from scrapers.items import FetchOutcome
from scrapers.spiders.base import SOURCE_META, URL_META
from scrapers.spiders.pages import PageSpider
from store.registry_types import Source

PAGE_META = "roundup_listing"  # {"page": n, "seen": set of canonical page URLs, "start": url}


def link_values(response: TextResponse, matches: list[Any]) -> list[str]:
    """Absolute URLs from selector matches: attribute/text values, or an element's first href."""
    urls = []
    for match in matches:
        if isinstance(match.root, str):
            value = match.root
        else:
            value = match.attrib.get("href") or match.xpath(".//@href").get() or ""
        value = value.strip()
        if value and not value.startswith(("#", "javascript:", "mailto:", "data:")):
            urls.append(response.urljoin(value))
    return urls


class ListingSpider(PageSpider):
    name = "listing"
    via = "listing"
    started_listings: list[tuple[str, str]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.started_listings = []
    #: Restrict a subclass to these sources (empty: every source with listing ``start_urls``).
    source_ids: tuple[str, ...] = ()

    def listed_sources(self) -> Iterator[Source]:
        for source in self.sources.values():
            if self.source_ids and source.id not in self.source_ids:
                continue
            if not self.source_ids and type(self) is ListingSpider and _custom(source.id):
                continue
            if self.rules_of(source).start_urls:
                yield source

    async def start(self) -> AsyncIterator[Any]:
        for source in self.listed_sources():
            ready, skipped = self.due(source, list(self.rules_of(source).start_urls))
            for outcome in skipped:
                yield outcome
            for url in ready:
                trust = self._begin(source, url)
                meta = {PAGE_META: {"page": 1, "seen": {_canonical(url)}, "start": url,
                                    "trust_known": trust}}
                yield self.page_request(source, url, callback=self.parse_listing,
                                        errback=self.page_failed, meta=meta)

    def _begin(self, source: Source, url: str) -> bool:
        """Record the start of this listing's crawl; whether the last one ran to the end (only
        then may paging stop at the first known article)."""
        from store.fetchstate import begin_crawl

        with self.session_factory().begin() as session:
            finished = begin_crawl(session, source.id, url, datetime.now(UTC))
        self.started_listings.append((source.id, url))
        return finished

    def closed(self, reason: str) -> None:
        # Only a crawl that ran to its natural end counts as finished; a stopped, crashed or
        # killed run leaves the marker open, so the next run reads every page again.
        if reason != "finished" or not self.started_listings:
            return
        from store.fetchstate import finish_crawl

        with self.session_factory().begin() as session:
            for source_id, url in self.started_listings:
                finish_crawl(session, source_id, url, datetime.now(UTC))

    def article_links(self, response: TextResponse, source: Source) -> list[str]:
        """The hook: absolute article URLs on one listing page, newest first.

        The default applies the source's ``links`` selector. A subclass may override it; an empty
        list is reported as a warning.
        """
        spec = self.rules_of(source).selectors.get("links")
        if spec is None:
            return []
        return link_values(response, select(response.selector, spec))

    def parse_listing(self, response: Response) -> Iterator[Any]:
        source = self.sources[response.meta[SOURCE_META]]
        rules = self.rules_of(source)
        state = response.meta[PAGE_META]
        page_url = response.meta[URL_META]
        outcome = FetchOutcome(source.id, page_url, "ok", http_status=response.status,
                               store_validators=False)
        if not isinstance(response, TextResponse):
            outcome.status = "failed"
            outcome.error = f"{response.url}: not an HTML listing page"
            yield outcome
            return
        links = self.article_links(response, source)
        outcome.entries = len(links)
        if not links:
            spec = rules.selectors.get("links")
            what = f"selector {spec}" if spec else f"{type(self).__name__}.article_links"
            outcome.warnings.append(f"{what} matched nothing on {response.url}: "
                                    "the page layout may have changed")
        requests, warnings, known_here = self.article_requests(source, links)
        outcome.warnings += warnings
        yield from requests
        next_request = self._next_page(response, source, state, known_here, outcome)
        if next_request is not None:
            yield next_request
        yield outcome

    def _next_page(self, response: TextResponse, source: Source, state: dict[str, Any],
                   known_here: int, outcome: FetchOutcome) -> Any:
        rules = self.rules_of(source)
        spec = rules.selectors.get("next_page")
        if spec is None:
            return None
        if known_here and state.get("trust_known", True):
            return None  # the rest of the listing is already stored (the last crawl finished)
        if state["page"] >= rules.max_pages:
            self.logger.info("%s: stopped after %d listing pages (max_pages)", source.id,
                             state["page"])
            return None
        matches = select(response.selector, spec)
        urls = link_values(response, matches)
        if not urls:
            if state["page"] == 1:
                outcome.warnings.append(f"selector {spec} matched nothing on {response.url} "
                                        "(no next page found)")
            return None
        url = urls[0]
        key = _canonical(url)
        if key in state["seen"]:
            outcome.warnings.append(f"pagination loops: {spec} on {response.url} leads back to "
                                    f"{url}, already read in this run; stopped")
            return None
        state = {**state, "page": state["page"] + 1, "seen": state["seen"] | {key}}
        return self.page_request(source, url, callback=self.parse_listing,
                                 errback=self.page_failed, meta={PAGE_META: state})


def _canonical(url: str) -> str:
    try:
        return canonical_url(url)
    except BadURL:
        return url


def _custom(source_id: str) -> bool:
    """Whether a member-specific subclass claims ``source_id`` (then the generic spider skips it)."""
    return any(source_id in getattr(cls, "source_ids", ()) for cls in _subclasses(ListingSpider))


def _subclasses(cls: type) -> list[type]:
    found: list[type] = []
    children: list[type] = cls.__subclasses__()
    for child in children:
        found.append(child)
        found.extend(_subclasses(child))
    return found
