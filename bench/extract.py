"""Full-text benchmark: 1,000 article pages found through a paginated listing, served on loopback.

    python bench/extract.py [--pages 1000] [--per-listing 50]

Prints, measured in this run:
  * trafilatura alone extracting the same 1,000 pages (the baseline: the same call, with the same
    options, that ``pipeline.extract`` makes);
  * the listing spider with full text: listing pages read, every article page fetched over HTTP,
    its type checked and its text, title and date extracted (selector guards, trafilatura) into
    RawReports — pages/s and the ratio of its time to the baseline (target ≤ 1.5). The item
    pipelines are replaced by a counter here: this figure is the crawl and extraction. Pages are
    read in the worker pool's processes (``ROUNDUP_WORKERS``, default one per core, at a lower
    priority than the crawl; scrapers/workers.py) while the reactor downloads — so this figure
    uses every core, where the baseline uses one;
  * the same crawl with the pool disabled (``ROUNDUP_WORKERS = 0``: one process, pages
    read in the reactor's thread), for an honest comparison with the one-core baseline;
  * for scale, the same crawl through the whole harvest (normalise, tag, store each article with
    its own fetch state in SQLite), with no target.

Each crawl runs in a child process (Twisted's reactor runs once per process); its figure is the
crawl's own time, measured inside the child; the child's whole wall time is printed beside it. The
one loopback host stands for a member's server, so the per-host politeness limits (2 concurrent
requests, AutoThrottle) are lifted for the bench, as in bench/harvest.py. That server
(roundups/localserver.py) keeps connections alive and sets TCP_NODELAY, as a production web
server does: without it, each response waited ~40 ms for a delayed ACK and the crawl measured
that latency rather than its own work.

The machine's other load shows in the wall times (not in the CPU figures): on a 2-core machine a
crawl competing with another CPU-bound process takes about half as long again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.childrun import CpuMeter, run_child  # noqa: E402

COUNTRIES = ["Ghana", "Nigeria", "Kenya", "Mexico", "Colombia", "Pakistan", "Philippines",
             "Serbia", "Egypt", "Brazil", "India", "Uganda", "Senegal", "Peru", "Nepal"]
ACTS = ["arrested", "assaulted", "summoned by police", "sued for defamation", "threatened online",
        "detained at the airport", "charged under the cybercrime law", "released on bail"]
OVERRIDES = {"CONCURRENT_REQUESTS_PER_DOMAIN": 16, "AUTOTHROTTLE_ENABLED": False,
             "ROBOTSTXT_OBEY": False, "ROUNDUP_SOURCE_DEADLINE": 0}
DATE_PARAMS = {"extensive_search": True, "original_date": True,
               "outputformat": "%Y-%m-%dT%H:%M:%S%z"}


def paragraph(page: int, n: int) -> str:
    country = COUNTRIES[(page + n) % len(COUNTRIES)]
    act = ACTS[(page * 7 + n) % len(ACTS)]
    return (f"Journalist number {page} of an independent outlet in {country} was {act} on "
            f"{n + 1} occasions this month after reporting on local officials and public "
            f"contracts. Colleagues said the case follows a pattern of pressure on the press in "
            f"{country}, and called on the authorities to drop all charges, to return seized "
            f"equipment and to guarantee that reporters can work safely. ")


def article(page: int) -> str:
    day = page % 28 + 1
    paras = "".join(f"<p>{escape(paragraph(page, n))}</p>\n" for n in range(5))
    links = "".join(f'<li><a href="../{(page + k) % 1000}/">Related alert {(page + k) % 1000}</a></li>'
                    for k in range(1, 9))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Alert {page}: journalist {escape(ACTS[page % len(ACTS)])} | Bench Member</title>
<meta property="article:published_time" content="2026-10-{day:02d}T09:00:00+00:00">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/style.css">
<script>window.dataLayer = window.dataLayer || []; var built = "2026-10-31T00:00:00Z";</script>
</head><body>
<header><a href="/">Bench Member</a><nav><ul><li><a href="/news/">News</a></li>
<li><a href="/about/">About</a></li><li><a href="/donate/">Donate</a></li></ul></nav></header>
<main><article>
<h1>Alert {page}: journalist {escape(ACTS[page % len(ACTS)])}</h1>
<p class="byline">By staff · <time datetime="2026-10-{day:02d}">{day} October 2026</time></p>
{paras}</article>
<aside><h3>Related</h3><ul>{links}</ul></aside></main>
<footer><p>Subscribe to our newsletter.</p><p>&copy; 2026 Bench Member. All rights reserved.</p>
</footer></body></html>
"""


def write_site(root: Path, pages: int, per_listing: int) -> int:
    news = root / "news"
    for page in range(pages):
        folder = news / str(page)
        folder.mkdir(parents=True)
        (folder / "index.html").write_text(article(page), encoding="utf-8")
    listings = (pages + per_listing - 1) // per_listing
    for n in range(listings):
        links = "".join(f'<article class="post"><h2><a href="/news/{p}/">Alert {p}</a></h2></article>'
                        for p in range(n * per_listing, min(pages, (n + 1) * per_listing)))
        nxt = f'<a class="next" href="/list/{n + 1}/">Older</a>' if n + 1 < listings else ""
        folder = root / "list" / str(n)
        folder.mkdir(parents=True)
        (folder / "index.html").write_text(
            f"<!DOCTYPE html><html><body><main>{links}</main><nav>{nxt}</nav></body></html>",
            encoding="utf-8")
    return listings


def write_registry(path: Path, base: str, pages: int, listings: int) -> None:
    path.write_text(f"""[[source]]
id = "bench-member"
name = "Bench Member"
homepage = "{base}/"
country = "GH"
region = "africa"
languages = ["en"]
allow_local = true
max_entries = {pages}

[source.listing]
start_urls = ["{base}/list/0/"]
links = "article.post h2 a::attr(href)"
next_page = "nav a.next::attr(href)"
max_pages = {min(100, listings)}
""", encoding="utf-8")


def trafilatura_baseline(root: Path, pages: int) -> float:
    import trafilatura

    bodies = [(root / "news" / str(p) / "index.html").read_text(encoding="utf-8")
              for p in range(pages)]
    params = {**DATE_PARAMS, "max_date": datetime.now(UTC).strftime("%Y-%m-%d")}
    started = time.perf_counter()
    for p, html in enumerate(bodies):
        doc = trafilatura.bare_extraction(html, url=f"http://127.0.0.1/news/{p}/", fast=True,
                                          with_metadata=True, include_comments=False,
                                          date_extraction_params=params)
        assert doc is not None and doc.text
    return time.perf_counter() - started


class CountReports:
    """Stands in for the item pipelines in the spider-only run: counts the reports."""

    def __init__(self, crawler) -> None:  # type: ignore[no-untyped-def]
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler):  # type: ignore[no-untyped-def]
        return cls(crawler)

    def process_item(self, item):  # type: ignore[no-untyped-def]
        from pipeline.items import RawReport

        if isinstance(item, RawReport) and item.content_html:
            self.stats.inc_value("bench/reports")
            self.stats.inc_value(f"bench/via/{item.fetched_via}")
        return item


def child(mode: str, db: str, sources: str) -> None:
    from roundups.harvest import run_harvest

    overrides = dict(OVERRIDES)
    if mode == "spider-1proc":
        overrides["ROUNDUP_WORKERS"] = 0
        mode = "spider"
    if mode == "spider":
        overrides["ITEM_PIPELINES"] = {"__main__.CountReports": 100}
    counted: dict[str, int] = {}
    if mode == "spider":
        import scrapy.statscollectors as sc

        real_close = sc.MemoryStatsCollector._persist_stats

        def keep(self, stats):  # type: ignore[no-untyped-def]
            counted.update({k: v for k, v in stats.items() if k.startswith("bench/")})
            real_close(self, stats)

        sc.MemoryStatsCollector._persist_stats = keep  # type: ignore[method-assign]

    with CpuMeter() as cpu:
        summary = run_harvest(db, sources, overrides=overrides)
    if mode == "spider":
        new = counted.get("bench/reports", 0)
        via = {k.rsplit("/", 1)[-1]: v for k, v in counted.items() if k.startswith("bench/via/")}
    else:
        from sqlalchemy import create_engine, text

        new = summary.total("new")
        engine = create_engine(db)
        with engine.connect() as conn:
            via = dict(conn.execute(text("SELECT fetched_via, count(*) FROM article GROUP BY 1")).all())
        engine.dispose()
    # The override when the bench sets one, else what the crawl's settings say (the environment
    # variable ROUNDUP_WORKERS included).
    from scrapers.settings import ROUNDUP_WORKERS
    from scrapers.workers import worker_count

    workers = worker_count(overrides.get("ROUNDUP_WORKERS", ROUNDUP_WORKERS))
    print(json.dumps({**cpu.figures(), "seconds": summary.seconds, "new": new, "exit": summary.exit_code,
                      "via": via, "workers": workers}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--per-listing", type=int, default=50)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    from roundups.localserver import serve_directory

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    with tempfile.TemporaryDirectory(prefix="roundup-bench-extract-") as tmp:
        root = Path(tmp)
        site = root / "site"
        listings = write_site(site, args.pages, args.per_listing)
        baseline = min(trafilatura_baseline(site, args.pages) for _ in range(2))
        with serve_directory(site) as base:
            write_registry(root / "sources.toml", base, args.pages, listings)
            spider, spider_wall = run_child(__file__, "spider", f"sqlite:///{root / 'spider.db'}",
                                            str(root / "sources.toml"))
            single, single_wall = run_child(__file__, "spider-1proc",
                                            f"sqlite:///{root / 'single.db'}",
                                            str(root / "sources.toml"))
            full, full_wall = run_child(__file__, "harvest", f"sqlite:///{root / 'bench.db'}",
                                        str(root / "sources.toml"))
    ratio = spider["seconds"] / baseline
    print(f"article pages              : {args.pages} (on {listings} listing pages); "
          f"{os.cpu_count()} cores, load average {load:.2f} when the bench started")
    print(f"trafilatura alone          : {baseline:.3f} s ({args.pages / baseline:,.0f} pages/s; "
          "one process, one core)")
    print(f"listing spider + full text : {spider['seconds']:.3f} s "
          f"({spider['new'] / spider['seconds']:,.0f} pages/s; {spider['new']} reports, "
          f"via {spider['via']}) — worker pool of {spider['workers']} worker process(es); "
          f"process wall {spider_wall:.2f} s")
    print(f"  CPU of that crawl        : {spider['cpu_main']:.2f} s in the crawl process, "
          f"{spider['cpu_workers']:.2f} s in the worker pool")
    print(f"ratio spider / trafilatura : {ratio:.2f} (target ≤ 1.5)")
    print(f"  same, pool disabled      : {single['seconds']:.3f} s "
          f"({single['new'] / single['seconds']:,.0f} pages/s; one process) — ratio "
          f"{single['seconds'] / baseline:.2f}; process wall {single_wall:.2f} s")
    print(f"whole harvest (for scale)  : {full['seconds']:.3f} s "
          f"({full['new'] / full['seconds']:,.0f} pages/s stored; {full['new']} new, "
          f"via {full['via']}) — process wall {full_wall:.2f} s; "
          f"{full['seconds'] / baseline:.1f}× trafilatura")
    ok = (ratio <= 1.5 and spider["new"] == args.pages and single["new"] == args.pages
          and full["new"] == args.pages)
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
