"""Helpers for end-to-end harvest tests: fixture feeds, registries, and running the CLI.

Each harvest runs ``roundup harvest`` in a child process, as cron would (Twisted's reactor runs
once per process).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
FAST = ["-s", "DOWNLOAD_TIMEOUT=3", "-s", "RETRY_TIMES=1", "-s", "AUTOTHROTTLE_ENABLED=False",
        "-s", "ROBOTSTXT_OBEY=False"]


def rss(items: list[dict[str, str]], *, title: str = "A member", encoding: str = "utf-8",
        declared: str | None = None) -> bytes:
    parts = []
    for item in items:
        fields = []
        for key in ("title", "link", "guid", "pubDate", "description"):
            if key in item:
                value = item[key] if key == "description" and item.get("raw") else escape(item[key])
                fields.append(f"<{key}>{value}</{key}>")
        parts.append("<item>" + "".join(fields) + "</item>")
    xml = (f'<?xml version="1.0" encoding="{declared or encoding}"?>\n<rss version="2.0"><channel>'
           f"<title>{escape(title)}</title><link>https://member.example/</link>"
           + "".join(parts) + "</channel></rss>")
    return xml.encode(encoding)


# Distinct events, so that tests about one-article-per-entry are not confounded by the
# near-duplicate matcher (which rightly merges reworded copies of one event).
EVENTS = [
    ("Kofi Mensah", "Accra", "detained by police after an investigation into illegal gold mining"),
    ("Amina Bello", "Kano", "beaten by thugs while covering a local council election"),
    ("Joseph Otieno", "Kisumu", "sued for defamation by a county governor over a radio programme"),
    ("Fatou Diallo", "Dakar", "summoned by the cybercrime unit over a Facebook post on fuel prices"),
    ("Blessing Moyo", "Bulawayo", "had her camera seized and footage deleted at a farm eviction"),
    ("Yaw Asante", "Kumasi", "received death threats after exposing a hospital procurement fraud"),
    ("Grace Nakato", "Kampala", "was refused accreditation to cover parliament for a third time"),
    ("Ibrahim Sesay", "Freetown", "was charged with seditious libel over a cartoon of the minister"),
    ("Chipo Banda", "Lilongwe", "saw her newspaper's printing press raided at dawn by masked men"),
    ("Tendai Dube", "Harare", "was deported after filming a protest outside the central bank"),
]


def item(n: int, **overrides: str) -> dict[str, str]:
    name, city, what = EVENTS[n % len(EVENTS)]
    base = {
        "title": f"{name} {what.split(' after ')[0].split(' over ')[0]} in {city}",
        "link": f"https://member.example/alerts/{n}",
        "guid": f"member-alert-{n}",
        "pubDate": f"Mon, {n % 28 + 1:02d} Dec 2025 10:00:00 +0000",
        "description": f"<p>Reporter {name} was {what} in {city} on day {n} of the month, "
        f"colleagues told us. Case file {n * 37}-{city[:3].upper()}.</p>",
    }
    base.update(overrides)
    return base


@dataclass
class Source:
    id: str
    feeds: list[str]
    country: str = "GH"
    region: str = "africa"
    timezone: str | None = None


def write_registry(path: Path, sources: list[Source]) -> Path:
    chunks = []
    for s in sources:
        feeds = ", ".join(f'"{f}"' for f in s.feeds)
        chunk = (f'[[source]]\nid = "{s.id}"\nname = "Member {s.id}"\n'
                 f'homepage = "https://{s.id}.example/"\ncountry = "{s.country}"\n'
                 f'region = "{s.region}"\nlanguages = ["en"]\nfeeds = [{feeds}]\nallow_local = true\n')
        if s.timezone:
            chunk += f'timezone = "{s.timezone}"\n'
        chunks.append(chunk)
    path.write_text("\n".join(chunks), encoding="utf-8")
    return path


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def line(self, source_id: str) -> str:
        for line in self.stdout.splitlines():
            if line.startswith(f"{source_id}:"):
                return line
        raise AssertionError(f"no summary line for {source_id} in:\n{self.stdout}\n{self.stderr}")


def harvest(db: str, registry: Path, *extra: str, env: dict[str, str] | None = None) -> Run:
    proc = subprocess.run(
        [sys.executable, "-m", "roundups.cli", "harvest", "--db", db, "--sources", str(registry),
         *FAST, *extra],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**os.environ, **(env or {})},
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def rows(db: str, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(db)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params))
    finally:
        engine.dispose()
