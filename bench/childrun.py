"""Run a benchmark step in a child process (Twisted's reactor runs once per process) and read
the JSON line it prints last."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run_child(script: str, *args: str) -> tuple[dict[str, Any], float]:
    """``python script --child args…``; returns its last stdout line as JSON and the wall time."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, script, "--child", *args],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    wall = time.perf_counter() - started
    return json.loads(out.stdout.strip().splitlines()[-1]), wall
