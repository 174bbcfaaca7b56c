"""One harvest at a time per database.

SQLite: a file lock (``fcntl.flock``) beside the database file, held for the whole run.
PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection held for the
whole run, so it also works when cron runs on several machines against one database.
Both are released by the kernel or the server when the process dies, so a killed run never blocks
the next one.
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


# The advisory lock key: derived on the server from the database and schema, so every machine
# that harvests into the same database and schema contends for the same lock, whatever host name
# its URL uses, and test schemas side by side in one database do not block each other.
PG_LOCK_KEY_SQL = (
    "SELECT hashtextextended('roundup harvest ' || current_database() || '.' "
    "|| current_setting('search_path'), 0)"
)


@contextmanager
def harvest_lock(db_url: str) -> Iterator[object]:
    if make_url(db_url).get_backend_name() == "postgresql":
        with _pg_lock(db_url) as held:
            yield held
        return
    with _file_lock(db_url) as path:
        yield path


@contextmanager
def _pg_lock(db_url: str) -> Iterator[str]:
    from sqlalchemy import text

    from store.db import describe, make_engine, with_retries

    engine = make_engine(db_url)
    try:
        conn = with_retries(engine.connect, f"taking the harvest lock on {describe(engine)}")
        with conn:
            key = conn.execute(text(PG_LOCK_KEY_SQL)).scalar()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            if not got:
                holder = conn.execute(text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND ((classid::bigint << 32) | objid::bigint) = :k"), {"k": key}
                ).scalar()
                raise AlreadyRunning(
                    f"another harvest (PostgreSQL backend pid {holder or '?'}) holds the advisory "
                    "lock on this database; this run exits without fetching anything"
                )
            conn.commit()
            try:
                yield f"pg_advisory_lock({key})"
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
    finally:
        engine.dispose()


@contextmanager
def _file_lock(db_url: str) -> Iterator[Path]:
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
