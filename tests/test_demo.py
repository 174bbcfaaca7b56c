"""`roundup demo`, the README's first command, end to end (offline: demo sites on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_harvests_the_demo_network_and_writes_a_draft(tmp_path: Path) -> None:
    env = {**os.environ, "ROUNDUP_DB": f"sqlite:///{tmp_path / 'unused.db'}"}
    proc = subprocess.run([sys.executable, "-m", "roundups.cli", "demo", "--output-dir", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    paths = dict(line.split(": ", 1) for line in proc.stdout.strip().splitlines())
    db, draft = Path(paths["database"]), Path(paths["draft"])
    assert db.exists() and draft.exists()
    text = draft.read_text(encoding="utf-8")
    assert text.startswith("# October 2026 in Africa: a free expression round-up")
    # The broken member is reported, and the others were stored anyway.
    assert "levant-watch: FAILED" in proc.stderr and "not a feed" in proc.stderr
    # The joint statement cross-posted by two members is one story with both sources.
    out = subprocess.run([sys.executable, "-m", "roundups.cli", "draft", "--db", f"sqlite:///{db}",
                          "--region", "africa", "--month", "2026-10", "--format", "json"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    draft_json = json.loads(out.stdout)
    assert draft_json["region"] == "africa" and draft_json["month"] == "2026-10"
    assert len(draft_json["stories"]) >= 6
    joint = [s for s in draft_json["stories"] if "keep the internet on" in s["headline"].lower()]
    assert len(joint) == 1
    assert {src["source"] for src in joint[0]["sources"]} == {"wapw", "eamf"}
    # Tagged from the text during the harvest, not from the publisher's home (wapw sits in GH).
    assert "internet-shutdown-blocking" in joint[0]["topics"]
    guinea = [s for s in draft_json["stories"] if s["headline"].startswith("Guinea:")]
    assert guinea and guinea[0]["countries"][0] == "GN"
    for story in draft_json["stories"]:
        assert set(story) >= {"id", "headline", "summary", "countries", "topics", "published",
                              "sources", "kind"}
        assert story["sources"] and all(s["url"].startswith("http") for s in story["sources"])
    # The French and Spanish members' reports are stored in their languages.
    langs = subprocess.run([sys.executable, "-c", (
        "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]);"
        "print(sorted({r[0] for r in c.execute('select language from article')}))"), str(db)],
        capture_output=True, text=True, check=True).stdout
    assert "'fr'" in langs and "'es'" in langs
