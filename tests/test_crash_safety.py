"""A harvest killed with SIGKILL at random moments loses nothing and duplicates nothing.

The demo network is served on 127.0.0.1; one clean harvest is the reference. Another database is
harvested 20 times, each run killed at a random moment (the seed is printed; set
ROUNDUP_CRASH_SEED to replay a failure). After every kill, no stored validator (Last-Modified /
ETag) may run ahead of its feed's articles; after one last uninterrupted run, the database must
hold exactly the reference's articles, grouped into exactly the reference's stories.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from roundups.demo import demo_dir, write_registry
from roundups.localserver import serve_directory
from tests.harvesting import ROOT, rows

KILLS = 20


def start(db: str, registry: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "roundups.cli", "harvest", "--db", db, "--sources", str(registry),
         "--ignore-backoff", "-s", "AUTOTHROTTLE_ENABLED=False"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def articles_by_feed(db: str) -> dict[str, set[tuple[str, str]]]:
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for feed_url, source_id, key in rows(db, "SELECT feed_url, source_id, guid_key FROM article"):
        found[feed_url].add((source_id, key))
    return found


def stories(db: str) -> set[frozenset[tuple[str, str]]]:
    groups: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for story_id, source_id, key in rows(db, "SELECT story_id, source_id, guid_key FROM article"):
        groups[story_id].add((source_id, key))
    return {frozenset(g) for g in groups.values()}


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("ROUNDUP_CRASH_SEED", str(time.time_ns() % 1_000_000)))
    print(f"ROUNDUP_CRASH_SEED={seed}")
    rng = random.Random(seed)
    folder = demo_dir()
    with serve_directory(folder / "sites") as base:
        registry = write_registry(folder / "sources.toml.in", base, tmp_path / "sources.toml")
        clean = f"sqlite:///{tmp_path / 'clean.db'}"
        assert start(clean, registry).wait(timeout=300) in (0, 1)
        reference = articles_by_feed(clean)
        assert sum(len(v) for v in reference.values()) >= 30

        crashed = f"sqlite:///{tmp_path / 'crashed.db'}"
        kills_that_hit_a_database = 0
        for attempt in range(KILLS):
            proc = start(crashed, registry)
            time.sleep(rng.uniform(0.05, 3.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
            if not (tmp_path / "crashed.db").exists():
                continue
            kills_that_hit_a_database += 1
            stored = articles_by_feed(crashed)
            for url, last_modified, etag in rows(
                crashed, "SELECT url, last_modified, etag FROM fetch_state WHERE last_success IS NOT NULL"
            ):
                if last_modified or etag:
                    missing = reference.get(url, set()) - stored.get(url, set())
                    assert not missing, (
                        f"seed {seed}, kill {attempt}: validators stored for {url} but "
                        f"{len(missing)} of its articles are missing"
                    )
        assert kills_that_hit_a_database >= KILLS // 2
        assert start(crashed, registry).wait(timeout=300) in (0, 1)

    assert articles_by_feed(crashed) == reference
    total = rows(crashed, "SELECT count(*), count(DISTINCT source_id || '|' || guid_key) FROM article")
    assert total[0][0] == total[0][1]
    assert stories(crashed) == stories(clean)
