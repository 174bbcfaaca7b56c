"""Downloader middlewares.

:class:`SafeAddressMiddleware` refuses, before any connection is made, every request — first hop,
redirect or robots.txt — whose host is or resolves to a loopback, private, link-local, multicast
or reserved address, unless the request belongs to a source marked ``allow_local = true`` (the
demo and the tests). A member's feed that redirects to ``http://127.0.0.1/…`` or
``http://169.254.169.254/`` cannot make the harvester probe the operator's own network.

A request that carries the source's hosts in ``meta[DOMAINS_META]`` (article pages found on a
listing or in a sitemap, full-text fetches) is also refused, at every hop, when its host is not
one of them: a redirect cannot take an article fetch to another site.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest

ALLOW_LOCAL_META = "roundup_allow_local"
# Host names of sources marked allow_local seen in this process: the connection-time resolver
# (scrapers.resolver) lets them resolve to loopback. Process-wide because the resolver is: Twisted
# installs one per reactor.
LOCAL_HOSTS: set[str] = set()
DOMAINS_META = "roundup_domains"


class UnsafeAddress(IgnoreRequest):
    """The request's host is not a public internet address."""


class OffsiteRequest(IgnoreRequest):
    """The request left the hosts of the source it was made for."""


def on_hosts(host: str, domains: list[str] | tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    host = host[4:] if host.startswith("www.") else host
    return any(host == d or host.endswith("." + d) for d in domains)


def is_public_ip(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        # Shared address space (100.64.0.0/10, carrier-grade NAT) and the other special ranges
        # that are neither "private" nor reachable from the internet.
        or not ip.is_global
    )


async def resolve(host: str, port: int) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class SafeAddressMiddleware:
    """Refuses requests to non-public addresses (see the module docstring).

    A host's addresses are looked up once per crawl and kept (at most ``cache_size`` hosts, the
    least recently used dropped), as Scrapy's own DNS cache keeps the connection's answer
    (``DNSCACHE_ENABLED``, ``DNSCACHE_SIZE``): a full-text crawl of one member's hundred article
    pages asks the system resolver once, not a hundred times. A failed lookup is not kept.
    The connection-time check (:mod:`scrapers.resolver`) still vets the address connected to."""

    def __init__(self, cache_size: int = 10_000,
                 lookup: Callable[[str, int], Awaitable[list[str]]] | None = None) -> None:
        # Hosts a local-allowed source fetched from: their robots.txt requests are allowed too.
        self._local_netlocs: set[str] = set()
        self._addresses: OrderedDict[tuple[str, int], list[str]] = OrderedDict()
        self._cache_size = cache_size
        self._lookup = lookup or resolve

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SafeAddressMiddleware:
        settings = crawler.settings
        size = settings.getint("DNSCACHE_SIZE", 10_000) if settings.getbool(
            "DNSCACHE_ENABLED", True) else 0
        return cls(cache_size=size)

    async def _resolve(self, host: str, port: int) -> list[str]:
        key = (host.lower(), port)
        found = self._addresses.get(key)
        if found is not None:
            self._addresses.move_to_end(key)
            return found
        found = await self._lookup(host, port)
        if self._cache_size > 0:
            self._addresses[key] = found
            while len(self._addresses) > self._cache_size:
                self._addresses.popitem(last=False)
        return found

    async def process_request(self, request: Request) -> Any:
        parts = urlsplit(request.url)
        host = (parts.hostname or "").strip("[]")
        if parts.scheme not in ("http", "https") or not host:
            raise UnsafeAddress(f"refused {request.url}: not an http(s) URL with a host")
        domains = request.meta.get(DOMAINS_META)
        if domains and not on_hosts(host, domains):
            chain = request.meta.get("redirect_urls") or []
            via = f" (redirected from {' -> '.join(chain)})" if chain else ""
            raise OffsiteRequest(
                f"refused {request.url}{via}: {host} is not one of the source's hosts "
                f"({', '.join(domains)})"
            )
        if request.meta.get(ALLOW_LOCAL_META):
            self._local_netlocs.add(parts.netloc)
            LOCAL_HOSTS.add(host.lower())
            return None
        if parts.netloc in self._local_netlocs and parts.path == "/robots.txt":
            return None
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = await self._resolve(host, port)
        except OSError as exc:
            raise IgnoreRequest(f"DNS lookup failed for {host}: {exc}") from exc
        for address in addresses:
            if not is_public_ip(address):
                chain = request.meta.get("redirect_urls") or []
                via = f" (redirected from {' -> '.join(chain)})" if chain else ""
                raise UnsafeAddress(
                    f"refused {request.url}{via}: {host} is a non-public address ({address}) "
                    "and the source is not marked allow_local"
                )
        return None
