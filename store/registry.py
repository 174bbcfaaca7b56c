"""Load and validate the member registry, ``sources.toml``.

The file holds one ``[[source]]`` table per member (the keys are documented in
``docs/sources.md``; ``id``, ``name``, ``homepage``, ``country``, ``region``, ``languages``,
``feeds`` and ``allow_local`` are a contract). Every problem is reported as a
:class:`RegistryError` whose message names the file, the source (its id, or its position when the
id itself is unusable) and the key at fault, e.g.::

    sources.toml: source 'mfwa' (#3): key 'country': 'GHA' is not an ISO 3166-1 alpha-2 code

Two ways to load:

* :func:`load_registry` is strict: any problem refuses the whole file. ``roundup sources check``
  and tests use it.
* :func:`load_registry_lenient` skips only the sources whose table is invalid and returns their
  errors beside the good sources, so one member's typo does not stop a cron run for the other
  hundred. Problems with the file as a whole (unreadable, not TOML, unknown top-level keys,
  duplicate ids) are still fatal: with a duplicate id there is no telling which table is meant.
"""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Iterable, Mapping
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import available_timezones

from store.errors import StoreError
from store.registry_types import Source

__all__ = [
    "LISTING_KEYS",
    "REGIONS",
    "SOURCE_KEYS",
    "RegistryError",
    "country_codes",
    "language_codes",
    "load_registry",
    "load_registry_lenient",
    "parse_registry",
]

#: Region ids (contract; see DESIGN.md, "Regions").
REGIONS: tuple[str, ...] = ("africa", "americas", "asia-pacific", "europe-central-asia", "mena")

CONTRACT_KEYS = frozenset(
    {"id", "name", "homepage", "country", "region", "languages", "feeds", "allow_local"}
)
PROJECT_KEYS = frozenset(
    {
        "timezone",
        "verified",
        "enabled",
        "crawl_delay",
        "max_entries",
        "notes",
        "listing",
        "fulltext",
    }
)
#: Every key a ``[[source]]`` table may hold.
SOURCE_KEYS = CONTRACT_KEYS | PROJECT_KEYS
REQUIRED_KEYS: tuple[str, ...] = ("id", "name", "homepage")
TOP_LEVEL_KEYS = frozenset({"source"})

# Lower-case letters and digits in hyphen-separated words: stable in URLs, file names and SQL.
_ID_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_ID_MAX = 64
_CRAWL_DELAY_MAX = 3600.0
#: Keys of a source's ``[source.listing]`` table (see docs/sources.md, "Listing pages and sitemaps").
LISTING_SELECTORS: tuple[str, ...] = ("links", "next_page", "title", "date", "body")
LISTING_KEYS = frozenset(
    {"start_urls", "sitemaps", "max_pages", "url_pattern", "domains", *LISTING_SELECTORS}
)
_MAX_PAGES = 100
_HOST_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_DATA = Path(__file__).resolve().parent / "data"


class RegistryError(StoreError, ValueError):
    """``sources.toml`` (or one of its sources) is invalid.

    A :class:`~store.errors.StoreError` (the store refuses the configuration) and a ``ValueError``.

    ``path``, ``source_id`` (``None`` when the id itself is missing or bad), ``index`` (1-based
    position of the ``[[source]]`` table) and ``key`` say where; ``str(error)`` says all of it.
    When a strict load finds several problems, the raised error lists them all in its message and
    keeps them one by one in ``errors``.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        source_id: str | None = None,
        index: int | None = None,
        key: str | None = None,
        errors: Iterable[RegistryError] = (),
    ) -> None:
        self.path = path
        self.source_id = source_id
        self.index = index
        self.key = key
        self.errors: tuple[RegistryError, ...] = tuple(errors)
        self.problem = message
        super().__init__(self._format(message))

    def _format(self, message: str) -> str:
        where = []
        if self.path is not None:
            where.append(self.path)
        if self.source_id is not None:
            where.append(f"source {self.source_id!r} (#{self.index})")
        elif self.index is not None:
            where.append(f"source #{self.index}")
        if self.key is not None:
            where.append(f"key {self.key!r}")
        return ": ".join([*where, message])


@cache
def _codes(filename: str) -> frozenset[str]:
    codes = set()
    for line in (_DATA / filename).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            codes.add(line.split()[0])
    return frozenset(codes)


def country_codes() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes accepted as ``country`` (``store/data/iso3166.txt``; has XK)."""
    return _codes("iso3166.txt")


def language_codes() -> frozenset[str]:
    """ISO 639-1 codes accepted in ``languages`` (``store/data/iso639-1.txt``)."""
    return _codes("iso639-1.txt")


@cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def load_registry(path: str | Path) -> list[Source]:
    """Read ``path`` and return its sources in file order; refuse the file on any problem."""
    text = _read(path)
    return parse_registry(text, origin=str(path))


def load_registry_lenient(path: str | Path) -> tuple[list[Source], list[RegistryError]]:
    """Read ``path``; return the valid sources and one error per problem in the others.

    A source with any problem is left out whole (never half-configured). Raises
    :class:`RegistryError` for problems with the file itself: unreadable, not TOML, unknown
    top-level keys, ``source`` not an array of tables, duplicate ids.
    """
    text = _read(path)
    return parse_registry_lenient(text, origin=str(path))


def parse_registry(text: str, *, origin: str = "<string>") -> list[Source]:
    """Strict load from TOML text (``origin`` names it in errors), e.g. a rendered template."""
    sources, errors = parse_registry_lenient(text, origin=origin)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        lines = "\n".join(f"  {e}" for e in errors)
        raise RegistryError(f"{len(errors)} problems:\n{lines}", path=origin, errors=errors)
    return sources


def parse_registry_lenient(
    text: str, *, origin: str = "<string>"
) -> tuple[list[Source], list[RegistryError]]:
    """Lenient load from TOML text; see :func:`load_registry_lenient`."""
    sources, errors = _parse_lenient(text, origin)
    # Copies of the remembered errors: a caller raises them (parse_registry), which gives an
    # exception its traceback and context; a remembered one would carry them into the next load.
    return list(sources), [copy.copy(error) for error in errors]


@lru_cache(maxsize=8)
def _parse_lenient(text: str, origin: str) -> tuple[tuple[Source, ...], tuple[RegistryError, ...]]:
    """:func:`parse_registry_lenient`, remembered for the last few texts: a harvest reads the
    registry before its crawl and the crawl's plan reads it again (~6 ms for 100 sources each
    time). The result depends on nothing but the text and its origin, and sources are frozen.
    A text that raises is not remembered."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"not valid TOML: {exc}", path=origin) from exc
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            raise RegistryError(
                "unknown top-level key (each member is a [[source]] table)", path=origin, key=key
            )
    tables = data.get("source", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise RegistryError("must be an array of tables ([[source]])", path=origin, key="source")

    _refuse_duplicate_ids(tables, origin)

    sources: list[Source] = []
    errors: list[RegistryError] = []
    for index, table in enumerate(tables, start=1):
        problems = _SourceChecker(table, index, origin).problems()
        if problems:
            errors.extend(problems)
        else:
            sources.append(_to_source(table))
    return tuple(sources), tuple(errors)


def _read(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(f"cannot read the registry: {exc}", path=str(path)) from exc


def _refuse_duplicate_ids(tables: list[dict[str, Any]], origin: str) -> None:
    first_seen: dict[str, int] = {}
    for index, table in enumerate(tables, start=1):
        source_id = table.get("id")
        if not isinstance(source_id, str):
            continue  # reported by the per-source checks
        if source_id in first_seen:
            raise RegistryError(
                f"duplicate id, already used by source #{first_seen[source_id]}",
                path=origin,
                source_id=source_id,
                index=index,
                key="id",
            )
        first_seen[source_id] = index


class _SourceChecker:
    """Collects every problem of one ``[[source]]`` table (so an operator fixes them in one go)."""

    def __init__(self, table: Mapping[str, Any], index: int, origin: str) -> None:
        self.table = table
        self.index = index
        self.origin = origin
        source_id = table.get("id")
        self.source_id = source_id if isinstance(source_id, str) and _valid_id(source_id) else None
        self.found: list[RegistryError] = []

    def fail(self, key: str | None, message: str) -> None:
        self.found.append(
            RegistryError(
                message, path=self.origin, source_id=self.source_id, index=self.index, key=key
            )
        )

    def problems(self) -> list[RegistryError]:
        t = self.table
        for key in t:
            if key not in SOURCE_KEYS:
                self.fail(key, f"unknown key; known keys: {', '.join(sorted(SOURCE_KEYS))}")
        for key in REQUIRED_KEYS:
            if key not in t:
                self.fail(key, "missing required key")

        if "id" in t:
            self.check_id(t["id"])
        if "name" in t and self.string("name", t["name"]) and not t["name"].strip():
            self.fail("name", "must not be empty")
        if "homepage" in t and self.string("homepage", t["homepage"]):
            self.url("homepage", t["homepage"])
        if "feeds" in t:
            self.check_feeds(t["feeds"])
        if "country" in t and self.string("country", t["country"]):
            self.check_country(t["country"])
        if "region" in t and self.string("region", t["region"]) and t["region"] not in REGIONS:
            self.fail("region", f"{t['region']!r} is not a region id; one of: {', '.join(REGIONS)}")
        if "languages" in t:
            self.check_languages(t["languages"])
        for key in ("allow_local", "verified", "enabled", "fulltext"):
            if key in t and not isinstance(t[key], bool):
                self.fail(key, f"must be true or false, not {_describe(t[key])}")
        if "timezone" in t and self.string("timezone", t["timezone"]):
            if t["timezone"] not in _timezones():
                self.fail("timezone", f"{t['timezone']!r} is not an IANA time zone")
        if "crawl_delay" in t:
            self.check_crawl_delay(t["crawl_delay"])
        if "max_entries" in t:
            value = t["max_entries"]
            if not isinstance(value, int) or isinstance(value, bool):
                self.fail("max_entries", f"must be an integer, not {_describe(value)}")
            elif value < 1:
                self.fail("max_entries", f"must be at least 1, not {value}")
        if "notes" in t:
            self.string("notes", t["notes"])
        if "listing" in t:
            if isinstance(t["listing"], dict):
                self.check_listing(t["listing"])
            else:
                self.fail("listing", f"must be a table, not {_describe(t['listing'])}")
        return self.found

    def string(self, key: str, value: object) -> bool:
        if isinstance(value, str):
            return True
        self.fail(key, f"must be a string, not {_describe(value)}")
        return False

    def check_id(self, value: object) -> None:
        if not self.string("id", value):
            return
        assert isinstance(value, str)
        if not _valid_id(value):
            self.fail(
                "id",
                f"{value!r} is not a slug (lower-case letters and digits joined by single "
                f"hyphens, at most {_ID_MAX} characters)",
            )

    def url(self, key: str, value: str) -> None:
        problem = _url_problem(value)
        if problem:
            self.fail(key, f"{value!r} {problem}")

    def check_feeds(self, value: object) -> None:
        if not isinstance(value, list):
            self.fail("feeds", f"must be an array of URL strings, not {_describe(value)}")
            return
        seen: set[str] = set()
        for i, feed in enumerate(value):
            key = f"feeds[{i}]"
            if not self.string(key, feed):
                continue
            self.url(key, feed)
            if feed in seen:
                self.fail(key, f"{feed!r} is listed twice")
            seen.add(feed)

    def check_country(self, value: str) -> None:
        if value in country_codes():
            return
        hint = ""
        if value.upper() in country_codes():
            hint = f" (codes are upper case: {value.upper()!r})"
        self.fail("country", f"{value!r} is not an ISO 3166-1 alpha-2 code{hint}")

    def check_languages(self, value: object) -> None:
        if not isinstance(value, list):
            self.fail("languages", f"must be an array of strings, not {_describe(value)}")
            return
        seen: set[str] = set()
        for i, lang in enumerate(value):
            key = f"languages[{i}]"
            if not self.string(key, lang):
                continue
            if lang not in language_codes():
                hint = ""
                if lang.lower() in language_codes():
                    hint = f" (codes are lower case: {lang.lower()!r})"
                self.fail(key, f"{lang!r} is not an ISO 639-1 code{hint}")
            elif lang in seen:
                self.fail(key, f"{lang!r} is listed twice")
            seen.add(lang)

    def check_listing(self, table: Mapping[str, Any]) -> None:
        for key in table:
            if key not in LISTING_KEYS:
                self.fail(f"listing.{key}",
                          f"unknown key; known keys: {', '.join(sorted(LISTING_KEYS))}")
        for key in ("start_urls", "sitemaps"):
            if key in table:
                self.url_list(f"listing.{key}", table[key])
        for key in LISTING_SELECTORS:
            if key in table and self.string(f"listing.{key}", table[key]):
                problem = _selector_problem(table[key])
                if problem:
                    self.fail(f"listing.{key}", f"{table[key]!r}: {problem}")
        if table.get("start_urls") and "links" not in table:
            self.fail("listing.links", "missing: start_urls needs a selector for article links")
        if "max_pages" in table:
            value = table["max_pages"]
            if not isinstance(value, int) or isinstance(value, bool):
                self.fail("listing.max_pages", f"must be an integer, not {_describe(value)}")
            elif not 1 <= value <= _MAX_PAGES:
                self.fail("listing.max_pages", f"must be between 1 and {_MAX_PAGES}, not {value}")
        if "url_pattern" in table and self.string("listing.url_pattern", table["url_pattern"]):
            try:
                re.compile(table["url_pattern"])
            except re.error as exc:
                self.fail("listing.url_pattern", f"{table['url_pattern']!r} is not a regular "
                          f"expression ({exc})")
        if "domains" in table:
            value = table["domains"]
            if not isinstance(value, list):
                self.fail("listing.domains", f"must be an array of host names, not {_describe(value)}")
            else:
                for i, host in enumerate(value):
                    key = f"listing.domains[{i}]"
                    if self.string(key, host) and not _HOST_RE.fullmatch(host):
                        self.fail(key, f"{host!r} is not a host name (no scheme, no path)")

    def url_list(self, key: str, value: object) -> None:
        if not isinstance(value, list):
            self.fail(key, f"must be an array of URL strings, not {_describe(value)}")
            return
        for i, url in enumerate(value):
            if self.string(f"{key}[{i}]", url):
                self.url(f"{key}[{i}]", url)

    def check_crawl_delay(self, value: object) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            self.fail("crawl_delay", f"must be a number of seconds, not {_describe(value)}")
        elif not 0 <= value <= _CRAWL_DELAY_MAX:
            self.fail("crawl_delay", f"must be between 0 and {_CRAWL_DELAY_MAX:g} seconds")


def _selector_problem(value: str) -> str | None:
    """Why ``value`` is not a usable CSS selector or ``xpath:`` expression, or ``None``."""
    if not value.strip():
        return "is empty"
    if value.startswith("xpath:"):
        from lxml import etree

        try:
            etree.XPath(value[len("xpath:"):])
        except etree.XPathSyntaxError as exc:
            return f"not a valid XPath ({exc})"
        return None
    try:
        from parsel.csstranslator import css2xpath
    except ImportError:  # checked again by the spider
        return None
    try:
        css2xpath(value)
    except Exception as exc:  # noqa: BLE001 - cssselect raises several error types
        return f"not a valid CSS selector ({exc}); prefix XPath with 'xpath:'"
    return None


def _valid_id(value: str) -> bool:
    return len(value) <= _ID_MAX and _ID_RE.fullmatch(value) is not None


def _url_problem(value: str) -> str | None:
    """Why ``value`` is not an absolute http(s) URL with a host, or ``None`` when it is."""
    if value != value.strip() or any(c.isspace() for c in value):
        return "contains white space"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return "is not an absolute http(s) URL"
    if not parts.hostname:
        return "has no host"
    if "{" in value or "}" in value:
        return "has an unfilled placeholder"
    return None


def _describe(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names |= {list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _to_source(t: Mapping[str, Any]) -> Source:
    crawl_delay = t.get("crawl_delay")
    return Source(
        id=t["id"],
        name=t["name"].strip(),
        homepage=t["homepage"],
        feeds=tuple(t.get("feeds", ())),
        country=t.get("country"),
        region=t.get("region"),
        languages=tuple(t.get("languages", ())),
        allow_local=t.get("allow_local", False),
        timezone=t.get("timezone"),
        verified=t.get("verified", False),
        enabled=t.get("enabled", True),
        crawl_delay=float(crawl_delay) if crawl_delay is not None else None,
        max_entries=t.get("max_entries"),
        notes=t.get("notes"),
        listing=dict(t["listing"]) if "listing" in t else None,
        fulltext=t.get("fulltext", False),
    )
