"""Draft benchmark: one region-month draft from a store of 1,000,000 articles.

    python bench/draft.py [--articles 1000000] [--region africa] [--month 2021-06] [--rebuild]

Builds (once, then reuses) a SQLite file under the temp folder with 100 members (20 per region),
``--articles`` articles spread over ten years and grouped into stories of 1-4 members' reports, all
inserted with bulk Core ``INSERT``s; then composes the draft for one region and month (store
queries, best-article choice, editors' decisions, coverage) and renders it in every format.

Prints the store size, the draft's size, and for each step the median of 5 runs. The target: a
region-month draft, composed and rendered as Markdown, in under 0.5 s.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCHEMA_VERSION = 1  # bump when the generated data changes shape
REGIONS = ["africa", "americas", "asia-pacific", "europe-central-asia", "mena"]
TOPICS = ["killing", "physical-attack", "imprisonment", "arrest", "threats", "legal-action",
          "internet-shutdown", "censorship", "surveillance", "legislation", "impunity"]
ACTS = ["arrested", "assaulted", "summoned by police", "sued for defamation", "threatened online",
        "detained at the airport", "charged under the cybercrime law", "released on bail"]
MONTHS = 120
FIRST_MONTH = (2016, 7)
BATCH = 20_000


def month_start(index: int) -> datetime:
    year, month = divmod(FIRST_MONTH[0] * 12 + FIRST_MONTH[1] - 1 + index, 12)
    return datetime(year, month + 1, 1, tzinfo=UTC)


def build(path: Path, articles: int, seed: int = 7) -> None:
    from sqlalchemy import text

    from roundups.coverage import region_countries
    from store.db import open_db
    from store.models import article_table, source_table, story_table

    rng = random.Random(seed)
    tmp = path.with_suffix(".building")
    for stale in tmp.parent.glob(tmp.name + "*"):
        stale.unlink()
    engine, _ = open_db(f"sqlite:///{tmp}")
    now = datetime(2026, 7, 1, tzinfo=UTC)
    countries = {r: list(region_countries(r)) or ["XX"] for r in REGIONS}
    members = {r: [f"{r[:4]}-m{n:02d}" for n in range(20)] for r in REGIONS}
    started = time.perf_counter()
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
        conn.exec_driver_sql("PRAGMA synchronous = OFF")
        conn.execute(source_table.insert(), [
            {"id": sid, "name": f"Member {sid}", "homepage": f"https://{sid}.example/",
             "region": r, "country": countries[r][n % len(countries[r])], "feeds": [],
             "languages": ["en"], "extra": {}, "created_at": now, "updated_at": now}
            for r in REGIONS for n, sid in enumerate(members[r])])
        conn.commit()
        stories: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        article_id = story_id = 0
        while article_id < articles:
            story_id += 1
            region = rng.choice(REGIONS)
            month = rng.randrange(MONTHS)
            start = month_start(month)
            spread = (month_start(month + 1) - start).total_seconds()
            n_sources = min(rng.choice((1, 1, 1, 2, 2, 3, 4)), articles - article_id)
            sources = rng.sample(members[region], n_sources)
            if rng.random() < 0.15:  # a member from another region joins in
                sources[-1] = rng.choice(members[rng.choice(REGIONS)])
                sources = list(dict.fromkeys(sources))
            story_countries = rng.sample(countries[region], 2 if rng.random() < 0.1 else 1)
            topics = rng.sample(TOPICS, rng.choice((1, 1, 2)))
            first = start + timedelta(seconds=rng.random() * spread * 0.9)
            country = story_countries[0]
            act = rng.choice(ACTS)
            first_id = article_id + 1
            for n, source in enumerate(sources):
                article_id += 1
                published = first + timedelta(hours=rng.randrange(0, 72) * (n > 0))
                title = f"Journalist {act} in {country} ({story_id})"
                rows.append({
                    "id": article_id, "source_id": source, "guid": f"g{article_id}",
                    "guid_key": f"g{article_id}",
                    "url": f"https://{source}.example/{published:%Y/%m}/{article_id}",
                    "title": title, "text": "",
                    "summary": f"A journalist was {act} in {country}. Members condemn it and "
                               f"call for an investigation. Report {article_id}.",
                    "published": published, "language": "en",
                    "content_hash": hashlib.blake2b(str(article_id).encode(),
                                                    digest_size=8).hexdigest(),
                    "region": region, "topics": topics, "fetched_via": "feed",
                    "first_seen": published, "last_seen": now, "updated_at": now,
                    "story_id": story_id,
                })
            stories.append({
                "id": story_id, "representative_article_id": first_id, "published": first,
                "region": region, "countries": story_countries, "topics": topics,
                "source_count": len(sources), "article_count": len(sources),
                "kind": "joint-statement" if rng.random() < 0.02 else "report",
                "created_at": now, "updated_at": now,
            })
            if len(rows) >= BATCH:
                conn.execute(story_table.insert(), stories)
                conn.execute(article_table.insert(), rows)
                conn.commit()
                stories, rows = [], []
                print(f"\r  {article_id:,} articles, {story_id:,} stories "
                      f"({time.perf_counter() - started:.0f} s)", end="", file=sys.stderr)
        if rows:
            conn.execute(story_table.insert(), stories)
            conn.execute(article_table.insert(), rows)
        conn.commit()
        conn.execute(text("ANALYZE"))
        conn.commit()
    engine.dispose()
    print(f"\r  built {article_id:,} articles in {story_id:,} stories in "
          f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
    tmp.rename(path)
    for side in tmp.parent.glob(tmp.name + "-*"):
        side.unlink()


def median_time(fn: Callable[[], Any], runs: int = 5) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--region", default="africa")
    parser.add_argument("--month", default="2021-06")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--cache-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "roundup-bench")
    args = parser.parse_args(argv)

    from sqlalchemy import func, select

    from roundups.compose import Period, compose
    from roundups.render import RENDERERS, render
    from store.db import open_db
    from store.models import ArticleRow, StoryRow

    args.cache_dir.mkdir(parents=True, exist_ok=True)
    path = args.cache_dir / f"draft-{args.articles}-v{SCHEMA_VERSION}.db"
    if args.rebuild or not path.exists():
        print(f"building {path} (once; reused by later runs)", file=sys.stderr)
        path.unlink(missing_ok=True)
        build(path, args.articles)
    engine, factory = open_db(f"sqlite:///{path}")
    period = Period.month(args.month)
    with factory() as session:
        n_articles = session.scalar(select(func.count()).select_from(ArticleRow))
        n_stories = session.scalar(select(func.count()).select_from(StoryRow))
        print(f"store: {n_articles:,} articles, {n_stories:,} stories, "
              f"{path.stat().st_size / 2**20:.0f} MiB ({path})")
        compose(session, args.region, period)  # warm the page cache once
        t_compose, draft = median_time(lambda: compose(session, args.region, period))
    print(f"draft {args.region} {args.month}: {len(draft.stories):,} stories in "
          f"{len(draft.sections)} sections, {sum(len(s.sources) for s in draft.stories):,} "
          "member reports")
    print(f"  compose (queries, best article, decisions, coverage): {t_compose * 1000:7.1f} ms")
    totals: dict[str, float] = {}
    for fmt in RENDERERS:
        t_render, out = median_time(functools.partial(render, draft, fmt))
        totals[fmt] = t_compose + t_render
        print(f"  render {fmt:4}: {t_render * 1000:7.1f} ms  ({len(out) / 1024:,.0f} KiB)  "
              f"compose + render: {totals[fmt] * 1000:7.1f} ms")
    engine.dispose()
    verdict = "OK" if totals["md"] < 0.5 else "TOO SLOW"
    print(f"region-month draft (compose + Markdown): {totals['md']:.3f} s "
          f"(target < 0.5 s: {verdict})")
    return 0 if totals["md"] < 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
