"""``roundup demo``: the main job, offline.

Serves the bundled demo member sites (``demo/sites``) on 127.0.0.1, writes a registry for them from
``demo/sources.toml.in`` (``{base}`` → the server's URL), harvests them into a fresh SQLite file,
writes a Markdown draft for the region and month with the most stories, and prints both paths.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from roundups.errors import ConfigError


def demo_dir() -> Path:
    override = os.environ.get("ROUNDUP_DEMO_DIR")
    path = Path(override) if override else Path(__file__).resolve().parents[1] / "demo"
    if not (path / "sites").is_dir() or not (path / "sources.toml.in").is_file():
        raise ConfigError(f"demo files not found in {path} (expected sites/ and sources.toml.in); "
                          "run from a checkout installed with `pip install -e .`")
    return path


def write_registry(template: Path, base: str, target: Path) -> Path:
    target.write_text(template.read_text(encoding="utf-8").replace("{base}", base), encoding="utf-8")
    return target


def busiest_region_month(session: object) -> tuple[str, str] | None:
    from roundups.compose import REGIONS
    from store.queries import stories_in

    counts: Counter[tuple[str, str]] = Counter()
    start, end = datetime(1990, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)
    for region in REGIONS:
        for view in stories_in(session, region=region, start=start, end=end):  # type: ignore[arg-type]
            months = {f"{a.published:%Y-%m}" for a in view.articles if a.published}
            for month in months:
                counts[(region, month)] += 1
    if not counts:
        return None
    return max(counts.items(), key=lambda kv: (kv[1], kv[0][1]))[0]


def run_demo(output_dir: Path | None) -> int:
    from roundups.compose import Period, compose
    from roundups.harvest import run_harvest
    from roundups.localserver import serve_directory
    from roundups.render import to_markdown
    from store.db import open_db

    folder = demo_dir()
    out = Path(output_dir) if output_dir else Path(tempfile.mkdtemp(prefix="roundup-demo-"))
    out.mkdir(parents=True, exist_ok=True)
    db_path = out / "roundup-demo.db"
    for stale in out.glob("roundup-demo.db*"):
        stale.unlink()
    db_url = f"sqlite:///{db_path}"
    with serve_directory(folder / "sites") as base:
        registry = write_registry(folder / "sources.toml.in", base, out / "sources.toml")
        print(f"demo: serving {len(list((folder / 'sites').iterdir()))} member sites at {base}",
              file=sys.stderr)
        summary = run_harvest(db_url, registry)
    for line in summary.lines():
        print(line, file=sys.stderr)
    print(summary.headline(), file=sys.stderr)
    engine, Session = open_db(db_url)
    try:
        with Session() as session:
            choice = busiest_region_month(session)
            if choice is None:
                print("demo: the harvest stored no stories", file=sys.stderr)
                return 1
            region, month = choice
            draft = compose(session, region, Period.month(month))
    finally:
        engine.dispose()
    draft_path = out / f"roundup-{region}-{month}.md"
    draft_path.write_text(to_markdown(draft), encoding="utf-8")
    print(f"demo: {len(draft.stories)} stories in the {region} draft for {month}", file=sys.stderr)
    print(f"database: {db_path}")
    print(f"draft: {draft_path}")
    return 0
