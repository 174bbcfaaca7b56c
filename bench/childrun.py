"""Run a benchmark step in a child process (Twisted's reactor runs once per process) and read
the JSON line it prints last."""

from __future__ import annotations

import json
import resource
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


class CpuMeter:
    """CPU seconds of this process and of its reaped children (the worker pool) over a block.

    ``with CpuMeter() as cpu: ...`` then ``cpu.figures()`` → {"cpu_main": s, "cpu_workers": s}.
    """

    def __enter__(self) -> CpuMeter:
        self._self = resource.getrusage(resource.RUSAGE_SELF)
        self._children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return self

    def __exit__(self, *exc: object) -> None:
        from scrapers.workers import wait_for_stopped_workers

        # A crawl's worker processes are reaped by the pool's thread after it returns: their
        # CPU counts in RUSAGE_CHILDREN only once they are.
        wait_for_stopped_workers()
        after_self = resource.getrusage(resource.RUSAGE_SELF)
        after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.main = (after_self.ru_utime + after_self.ru_stime
                     - self._self.ru_utime - self._self.ru_stime)
        self.workers = (after_children.ru_utime + after_children.ru_stime
                        - self._children.ru_utime - self._children.ru_stime)

    def figures(self) -> dict[str, float]:
        return {"cpu_main": round(self.main, 3), "cpu_workers": round(self.workers, 3)}
