"""Canonical URLs: one spelling per article, so the same report found twice is one row.

:func:`canonical_url` resolves a link against its base (feed URL, ``xml:base``), then:

- refuses anything but ``http``/``https`` (``javascript:``, ``data:``, ``mailto:``, ``file:``...)
  and URLs without a host, raising :class:`pipeline.errors.BadURL`;
- lower-cases scheme and host (IDN hosts become punycode), drops default ports (80/443),
  user names and passwords, and the fragment;
- drops tracking parameters (:data:`TRACKING_PARAMS` and any ``utm_*``), keeps the others sorted
  by name then value, so the order a CMS or newsletter tool chose does not matter;
- normalises percent-encoding and dot segments (w3lib's ``canonicalize_url``);
- refuses URLs longer than :data:`MAX_URL_CHARS`.

The path keeps its case and a trailing slash stays as written: servers differ on both.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

from pipeline.errors import BadURL

__all__ = ["MAX_URL_CHARS", "TRACKING_PARAMS", "canonical_url", "host_of"]

#: Query parameters that identify a campaign, a click or a visitor, never the page.
#: Compared case-insensitively; every ``utm_*`` parameter is dropped too.
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid",  # Facebook click
        "gclid", "gclsrc", "dclid", "gbraid", "wbraid",  # Google Ads
        "msclkid",  # Microsoft Ads
        "yclid",  # Yandex
        "twclid",  # X / Twitter
        "igshid", "igsh",  # Instagram share
        "mc_cid", "mc_eid",  # Mailchimp
        "_ga", "_gl",  # Google Analytics cross-domain
        "_hsenc", "_hsmi", "__hstc", "__hssc", "__hsfp", "hsctatracking",  # HubSpot
        "mkt_tok",  # Marketo
        "oly_anon_id", "oly_enc_id",  # Omeda
        "vero_id", "vero_conv",  # Vero
        "wickedid",  # Wicked Reports
        "ref_src", "ref_url",  # Twitter embeds
        "s_cid",  # Adobe
        "ocid",  # Microsoft News
        "at_medium", "at_campaign",  # AT Internet
    }
)  # fmt: skip
_TRACKING_PREFIXES = ("utm_",)
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Far above any real article URL (sitemaps allow 2,048 characters); longer input is junk or an
# attack, and refusing it keeps the cost of canonicalisation bounded.
MAX_URL_CHARS = 16_384
# WHATWG URL parsing drops ASCII tab and newline anywhere and C0 controls/space at the ends.
_TAB_NEWLINE = re.compile(r"[\t\n\r]")
_EDGE_JUNK = "".join(chr(c) for c in range(0x21)) + "\u00a0\u200b\ufeff"


# What canonicalize_url gives back unchanged: an http(s) URL whose host is a lower-case ASCII
# name (letters, digits, inner hyphens; the last label starts with a letter, so it is no IPv4
# address), whose path is unreserved characters with no dot segment, and nothing more (no port,
# no query, no "--" anywhere: IDNA reserves it in labels). Most feed links are like that once
# their tracking parameters are dropped: they are returned as they are, without w3lib parsing
# and quoting them again (a third of canonical_url's cost). Checked against canonicalize_url on
# generated URLs of this form.
_ALREADY_CANONICAL = re.compile(
    r"https?://(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?"
    r"(?:(?:/[A-Za-z0-9_~-][A-Za-z0-9_.~-]*)+/?|/)"
)


def _is_tracking(pair: str) -> bool:
    name = pair.split("=", 1)[0].strip().lower()
    return name in TRACKING_PARAMS or name.startswith(_TRACKING_PREFIXES)


def _clean(url: str) -> str:
    return _TAB_NEWLINE.sub("", url.strip(_EDGE_JUNK))


def _joins_to_itself(link: str) -> bool:
    """Whether ``urljoin(base, link)`` splits into the very parts ``link`` does, whatever the
    http(s) base: an http(s) URL with a host (nearly every feed link), which urljoin returns as is
    (another scheme than the base's) or re-assembles from its own parts. Re-assembling loses
    only empty delimiters ("?", "#", and a ";" that ends the last path segment, which urljoin
    reads as empty parameters): a path holding a ";" takes the long way. Skipping the join
    saves parsing the base and the link once more for each of a feed's entries."""
    try:
        parts = urlsplit(link)  # cached by urllib: canonical_url splits it again below
    except ValueError:
        return False  # urljoin raises too, and says so
    return parts.scheme in _DEFAULT_PORTS and bool(parts.netloc) and ";" not in parts.path


def canonical_url(url: str, base: str | None = None) -> str:
    """Return the canonical absolute form of ``url`` (see the module docstring).

    Raises :class:`~pipeline.errors.BadURL` for non-http(s) schemes, a missing host, a relative
    URL without a usable base, or a malformed port.
    """
    if url is None or not url.strip(_EDGE_JUNK):
        raise BadURL(url or "", "empty URL")
    if len(url) > MAX_URL_CHARS or (base is not None and len(base) > MAX_URL_CHARS):
        raise BadURL(url, f"longer than {MAX_URL_CHARS} characters")
    link = _clean(url)
    if base:
        base = _clean(base)
        if urlsplit(base).scheme.lower() in _DEFAULT_PORTS and not _joins_to_itself(link):
            try:
                link = urljoin(base, link)
            except ValueError as exc:
                raise BadURL(url, f"cannot resolve against base ({exc})") from exc
    try:
        parts = urlsplit(link)
        scheme = parts.scheme.lower()
        host = parts.hostname  # lower-cased by urllib, brackets of IPv6 removed
        port = parts.port
    except ValueError as exc:  # bad port, bad IPv6 literal
        raise BadURL(url, f"malformed URL ({exc})") from exc
    if not scheme:
        raise BadURL(url, "relative URL without a base")
    if scheme not in _DEFAULT_PORTS:
        raise BadURL(url, f"scheme {scheme!r} is not http(s)")
    if not host:
        raise BadURL(url, "no host")

    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    query = "&".join(
        pair for pair in parts.query.split("&") if pair and not _is_tracking(pair)
    )
    rebuilt = urlunsplit((scheme, netloc, parts.path or "/", query, ""))
    if _ALREADY_CANONICAL.fullmatch(rebuilt) and "--" not in rebuilt:
        return rebuilt
    try:
        return canonicalize_url(rebuilt, keep_fragments=False)
    except (ValueError, UnicodeError) as exc:  # e.g. a host that IDNA cannot encode
        raise BadURL(url, f"cannot canonicalise ({exc})") from exc


def host_of(url: str) -> str:
    """The lower-case host of an http(s) URL (no port, no user, IDN as punycode)."""
    host = urlsplit(canonical_url(url)).hostname
    if not host:  # canonical_url has already refused these; kept for type narrowing
        raise BadURL(url, "no host")
    return host
