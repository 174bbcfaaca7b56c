"""The DNS resolver Scrapy connects with: it refuses non-public answers at connection time.

:class:`scrapers.middlewares.SafeAddressMiddleware` checks a request's host before it is sent, but
the connection resolves the name again; a member's (or an attacker's) DNS server can answer with a
public address to the first lookup and ``127.0.0.1`` to the second (DNS rebinding). This resolver
is the one the connection uses, so the answer it checks is the address connected to. Hosts of
sources marked ``allow_local`` (the demo, the tests) are exempt, as in the middleware.
"""

from __future__ import annotations

from collections.abc import Sequence

from scrapy.resolver import CachingThreadedResolver
from twisted.internet.defer import Deferred
from twisted.internet.error import DNSLookupError

from scrapers.middlewares import LOCAL_HOSTS, is_public_ip

# Host → the refused address. Twisted reports a refused lookup as "no results for hostname
# lookup", so the feed's failure message looks the reason up here (scrapers.spiders.base).
REFUSED: dict[str, str] = {}


def checked_address(address: str, name: str) -> str:
    """``address`` if connecting to it is allowed for host ``name``; else a DNSLookupError."""
    if name.lower() in LOCAL_HOSTS or is_public_ip(address):
        return address
    REFUSED[name.lower()] = address
    raise DNSLookupError(
        f"{name} resolved to the non-public address {address} when connecting "
        "(DNS rebinding?); refused"
    )


class PublicAddressResolver(CachingThreadedResolver):
    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> Deferred[str]:
        d = super().getHostByName(name, timeout)
        d.addCallback(checked_address, name)
        return d
