"""Scrapy settings for Roundup: politeness and safety limits first.

Every value here can be overridden per run (``roundup harvest`` passes the database URL and the
registry path) or with ``scrapy crawl feeds -s NAME=VALUE``.
"""

from __future__ import annotations

import os

BOT_NAME = "roundup"
SPIDER_MODULES = ["scrapers.spiders"]
NEWSPIDER_MODULE = "scrapers.spiders"

# --- Roundup's own settings -------------------------------------------------------------------
# SQLAlchemy URL of the store; the `roundup` command passes its --db here.
ROUNDUP_DB = os.environ.get("ROUNDUP_DB", "sqlite:///roundup.db")
# The member registry (see docs/sources.md).
ROUNDUP_SOURCES = os.environ.get("ROUNDUP_SOURCES", "sources.toml")
# Only these source ids (empty: all enabled sources).
ROUNDUP_ONLY: list[str] = []
# Entries taken from one feed in one run; the rest wait for the next run (a 100,000-entry feed
# must not stall the harvest). A source's `max_entries` overrides it.
ROUNDUP_MAX_ENTRIES_PER_FEED = 500
# Ignore backoff: fetch every feed now (an operator's manual run).
ROUNDUP_IGNORE_BACKOFF = False
# Listing pages read per start URL per run, unless a source's `listing.max_pages` says otherwise.
ROUNDUP_LISTING_MAX_PAGES = 5
# Seconds one source may take in a run (0: no limit); later requests wait for the next run.
ROUNDUP_SOURCE_DEADLINE = 600.0
# Distributed runs (`roundup harvest --distributed redis://…`) set these with scrapy-redis's
# scheduler settings; see docs/distributed.md.
ROUNDUP_DISTRIBUTED = False
# Set by `roundup harvest`, which migrates the database and records the registry before the crawl.
ROUNDUP_SOURCES_RECORDED = False
ROUNDUP_RUN_ID = ""
# Worker processes that read feed bodies (feedparser, normalisation, tagging) and article pages
# (trafilatura, pypdf) while the reactor keeps downloading and storing (scrapers/workers.py);
# 0 does everything in-process. Unset: one per CPU core; none on a single core. The environment
# variable ROUNDUP_WORKERS sets it too.
_WORKERS_ENV = os.environ.get("ROUNDUP_WORKERS", "").strip()
ROUNDUP_WORKERS: int | None = int(_WORKERS_ENV) if _WORKERS_ENV else None
# Added to the workers' niceness: they yield the core to the crawl process (downloads, storing)
# whenever it has work, and use every core when it has none. 0: same priority as the crawl.
ROUNDUP_WORKER_NICENESS = 10
# Seconds one feed body or page may take in a worker; past it the worker is killed and replaced,
# and that feed or page fails (0: no limit).
ROUNDUP_WORKER_TIMEOUT = 300.0
# Feed bodies smaller than this are read in-process: a round trip to a worker would cost more.
ROUNDUP_OFFLOAD_MIN_BYTES = 16 * 1024
# Contact URL sent in the User-Agent so a member's webmaster can reach the operator.
ROUNDUP_CONTACT_URL = os.environ.get("ROUNDUP_CONTACT_URL", "https://example.org/roundup-contact")

# --- Politeness --------------------------------------------------------------------------------
USER_AGENT = f"Roundup/0.1 (free-expression round-ups; +{ROUNDUP_CONTACT_URL})"
ROBOTSTXT_OBEY = True
# The token robots.txt groups are matched against (`User-agent: Roundup`).
ROBOTSTXT_USER_AGENT = "Roundup"
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 0.0
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.5
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
# Scrapy ≥ 2.19 starts, by default, an HTTP server on localhost that runs any Python code posted to
# it (with a token written to a job file in the user's profile). Like the telnet console: off.
REMOTE_CONTROL_ENABLED = False

# --- Safety limits -----------------------------------------------------------------------------
DOWNLOAD_TIMEOUT = 30
# Holds after decompression too: Scrapy's HttpCompressionMiddleware stops inflating a
# gzip/deflate/brotli body once it passes this size.
DOWNLOAD_MAXSIZE = 16 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
REDIRECT_MAX_TIMES = 5
RETRY_ENABLED = True
RETRY_TIMES = 2
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]

# Checks every address a connection is made to, not only the one the middleware looked up.
# (Scrapy 2.16 renamed DNS_RESOLVER, which it still reads with a deprecation warning.)
TWISTED_DNS_RESOLVER = "scrapers.resolver.PublicAddressResolver"

# Every middleware runs on every request, response or item, so those whose feature Roundup does not
# use are switched off (None): each costs the reactor's thread work per request for nothing.
DOWNLOADER_MIDDLEWARES = {
    # First in the chain, so every request — the first hop and each redirect — is checked.
    "scrapers.middlewares.SafeAddressMiddleware": 50,
    # Per-source crawl-delay slots and the per-source deadline (scrapers/politeness.py).
    "scrapers.politeness.PolitenessMiddleware": 60,
    # Scrapy's offsite filter reads a spider's `allowed_domains`, which no Roundup spider sets (and
    # every request is dont_filter): the source's hosts are enforced by SafeAddressMiddleware,
    # at every redirect too.
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
    # HTTP basic auth from a spider's `http_user`: none is ever set.
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,
}
# Byte and status counts per request in the crawl's stats ("downloader/…"): nothing reads them.
DOWNLOADER_STATS = False

SPIDER_MIDDLEWARES = {
    # Fetches the article page of feed entries from `fulltext = true` sources (scrapers/fulltext.py).
    "scrapers.fulltext.FullTextMiddleware": 600,
    # Request depth is not limited (DEPTH_LIMIT = 0) nor used: listing pages are bounded by
    # `max_pages`, sitemap nesting by scrapers.spiders.sitemap.MAX_DEPTH.
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    # A development aid that warns when a spider copies Scrapy's internal meta keys into new
    # requests; Roundup's spiders build each request's meta themselves.
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
}

EXTENSIONS = {
    "scrapers.extensions.CallbackErrors": 500,
}

ITEM_PIPELINES = {
    "scrapers.pipelines.NormalisePipeline": 100,
    "scrapers.pipelines.TagPipeline": 200,
    "scrapers.pipelines.StorePipeline": 300,
}

# One item of a callback's output at a time. The store pipeline relies on order — a fetch's
# articles reach it before that fetch's FetchOutcome — and the item pipelines are synchronous, so
# parallel item workers gain nothing; Scrapy's default (100) starts 100 asyncio tasks per
# callback, which costs more than extracting the page.
CONCURRENT_ITEMS = 1

LOG_LEVEL = "INFO"
FEED_EXPORT_ENCODING = "utf-8"
