"""Jobs for tests/test_workers.py: module-level, so a worker process can unpickle them."""

from __future__ import annotations

import os
from pathlib import Path


def square(n: int) -> tuple[int, int]:
    return n * n, os.getpid()


def die() -> None:
    os._exit(3)  # a worker killed mid-job (OOM killer, a crash in a C extension)


def die_once(marker: str) -> str:
    """Kills its worker the first time (the marker file does not exist yet), succeeds after."""
    path = Path(marker)
    if not path.exists():
        path.write_text("died once")
        os._exit(3)
    return "done"


def fail(message: str) -> None:
    raise ValueError(message)
