"""One harvest at a time per database.

A file lock (``fcntl.flock``) held for the whole run: the kernel releases it when the process
dies, so a killed run never blocks the next one. The lock file sits beside a SQLite database, or
in the temp directory (named after the database URL) for server databases.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from roundups.errors import AlreadyRunning


def lock_path(db_url: str) -> Path:
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).with_name(Path(url.database).name + ".harvest.lock")
    digest = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"roundup-harvest-{digest}.lock"


@contextmanager
def harvest_lock(db_url: str) -> Iterator[Path]:
    path = lock_path(db_url)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise AlreadyRunning(
                f"another harvest (pid {holder}) is running on this database (lock {path}); "
                "this run exits without fetching anything"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield path
    finally:
        os.close(fd)
