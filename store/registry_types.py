"""The in-memory form of one ``[[source]]`` table of ``sources.toml`` (see ``store.registry``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Source:
    id: str
    name: str
    homepage: str
    feeds: tuple[str, ...] = ()
    country: str | None = None  # home country, ISO 3166-1 alpha-2, upper case
    region: str | None = None  # home region id (africa, americas, asia-pacific, ...)
    languages: tuple[str, ...] = ()
    allow_local: bool = False  # may fetch loopback/private addresses (demo, tests only)
    timezone: str | None = None  # IANA zone for naive dates, e.g. "Africa/Accra"
    verified: bool = False  # URLs checked by a person against the live site
    enabled: bool = True
    crawl_delay: float | None = None  # seconds between requests to this source's hosts
    max_entries: int | None = None  # entries taken per feed per run (None: the global default)
    notes: str | None = None
    extra: dict[str, object] = field(default_factory=dict, compare=False, hash=False)
    # Reserved for the listing/sitemap spider's rules (a TOML table; only its type is checked today).
    listing: dict[str, object] | None = field(default=None, compare=False, hash=False)
    fulltext: bool = False  # fetch each entry's article page for the full text
