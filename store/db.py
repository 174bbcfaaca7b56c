"""Engine and session set-up, migrations, and the error boundary.

``open_db()`` is what commands call: it builds the engine for a URL (SQLite file or PostgreSQL),
brings the schema to the code's revision on first use, and returns a session factory. Work that
writes goes through :func:`run_transaction`, which retries a locked or briefly unreachable database
a bounded number of times and then raises :class:`~store.errors.DatabaseUnavailable`; the
transaction is rolled back between tries, so nothing is ever half-written.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, create_engine, event, exc, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from store.errors import (
    DatabaseUnavailable,
    DatabaseURLError,
    IntegrityViolation,
    MigrationError,
    StoreError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: How long SQLite waits on a lock held by another writer before reporting "database is locked".
SQLITE_BUSY_TIMEOUT_MS = int(os.environ.get("ROUNDUP_SQLITE_BUSY_TIMEOUT_MS", "30000"))

#: SQLite's page cache per connection, in KiB (``PRAGMA cache_size``; see _sqlite_on_connect).
SQLITE_CACHE_KIB = 64 * 1024

#: Tries for a locked or unreachable database, and the first pause (doubled after each try).
RETRY_ATTEMPTS = 4
RETRY_BACKOFF_S = 0.5

# Key of the PostgreSQL advisory lock that serialises concurrent migrations ("roundup" in ASCII).
_MIGRATION_LOCK_KEY = 0x726F756E647570

# SQLSTATE classes/codes that mean "try again": connection exceptions, serialization failure,
# deadlock, lock not available, cannot connect now / admin shutdown.
_TRANSIENT_SQLSTATES = ("08", "40001", "40P01", "55P03", "57P01", "57P03")
_TRANSIENT_SQLITE = ("database is locked", "database table is locked", "database is busy")


def default_db_url() -> str:
    """The ``ROUNDUP_DB`` environment variable, else ``roundup.db`` in the working directory."""
    return os.environ.get("ROUNDUP_DB") or "sqlite:///roundup.db"


def normalise_url(url: str | URL) -> URL:
    """Parse a database URL, mapping plain ``postgresql://`` (and ``postgres://``) to psycopg 3."""
    raw = url if isinstance(url, URL) else str(url).strip()
    if isinstance(raw, str) and raw.startswith("postgres://"):
        raw = "postgresql://" + raw[len("postgres://") :]
    try:
        parsed = make_url(raw)
    except exc.ArgumentError as e:
        raise DatabaseURLError(f"malformed database URL {str(url)!r}: {e}") from e
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        # Always psycopg 3, whatever driver the URL names or the SQLAlchemy default is.
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise DatabaseURLError(
            f"unsupported database {parsed.render_as_string(hide_password=True)!r}: "
            "use sqlite:///FILE or postgresql://USER@HOST/DB"
        )
    return parsed


def _sqlite_on_connect(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        # WAL lets readers (the web UI, a draft) run during a harvest; NORMAL sync is crash-safe
        # in WAL mode (a killed process loses nothing committed) and much faster than FULL.
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        # Checkpoint after ~80 MB of WAL rather than 4 MB: each batch rewrites the same index
        # pages (article, story), and a checkpoint copies a page once however often it was
        # rewritten. Chosen when the near-duplicate keys had an index of their own (before
        # migration 0006), whose pages every batch rewrote; not measured again since.
        cursor.execute("PRAGMA wal_autocheckpoint = 20000")
        # A page cache of 64 MiB instead of SQLite's 2 MiB, so that the pages a batch writes and
        # reads are still in memory at the next batch. Measured before migration 0006, when each
        # article wrote ~62 keys into an index of their own (bench/harvest.py's 5,000 articles
        # replayed through the store: 0.71 -> 0.62 ms CPU per article); not measured again since.
        # Memory only, allocated as used: durability is unchanged.
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    finally:
        cursor.close()


def make_engine(url: str | URL | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` (default :func:`default_db_url`) with the store's connection set-up.

    SQLite gets WAL, foreign keys and a busy timeout on every connection; PostgreSQL uses psycopg 3
    with a connect timeout and pre-ping so a cron run notices a restarted server. Extra keyword
    arguments go to :func:`sqlalchemy.create_engine`.
    """
    parsed = normalise_url(url if url is not None else default_db_url())
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    connect_args = {"connect_timeout": 10, **kwargs.pop("connect_args", {})}
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, connect_args=connect_args, **kwargs)


def describe(engine: Engine) -> str:
    """The engine's URL without its password, for messages."""
    return engine.url.render_as_string(hide_password=True)


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` means "locked or briefly unreachable": worth trying again."""
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    orig = getattr(error, "orig", None) or error
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(_TRANSIENT_SQLSTATES):
        return True
    if isinstance(error, exc.OperationalError):
        message = str(orig).lower()
        if any(m in message for m in _TRANSIENT_SQLITE):
            return True
        # psycopg reports refused/timed-out connections as OperationalError without a SQLSTATE.
        if sqlstate is None and ("connection" in message or "timeout" in message):
            return True
    return False


def translate(error: exc.SQLAlchemyError, where: str) -> StoreError:
    """The store error for a SQLAlchemy/driver error raised while doing ``where``."""
    orig = getattr(error, "orig", None) or error
    if isinstance(error, exc.IntegrityError):
        return IntegrityViolation(f"{where}: constraint violated: {orig}")
    if is_transient(error):
        return DatabaseUnavailable(f"{where}: database unavailable: {orig}")
    return StoreError(f"{where}: {type(orig).__name__}: {orig}")


@contextmanager
def translate_errors(where: str) -> Iterator[None]:
    """Re-raise SQLAlchemy and driver errors inside the block as :class:`StoreError`."""
    try:
        yield
    except exc.SQLAlchemyError as e:
        raise translate(e, where) from e


def with_retries(
    work: Callable[[], T],
    where: str,
    *,
    attempts: int = RETRY_ATTEMPTS,
    backoff: float = RETRY_BACKOFF_S,
    cleanup: Callable[[], None] | None = None,
) -> T:
    """Run ``work()``; on a transient database error wait and retry, at most ``attempts`` times.

    ``cleanup`` runs after each failed try (e.g. a rollback). Errors that are not transient are
    translated and raised at once; after the last try :class:`DatabaseUnavailable` names the
    number of tries and the last error.
    """
    delay = backoff
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except exc.SQLAlchemyError as e:
            if cleanup is not None:
                cleanup()
            if not is_transient(e):
                raise translate(e, where) from e
            if attempt == attempts:
                orig = getattr(e, "orig", None) or e
                raise DatabaseUnavailable(
                    f"{where}: database still locked or unreachable after {attempts} tries: {orig}"
                ) from e
            log.warning("%s: %s; retrying in %.1f s (%d/%d)", where, e, delay, attempt, attempts)
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def run_transaction(
    factory: sessionmaker[Session],
    work: Callable[[Session], T],
    *,
    attempts: int = RETRY_ATTEMPTS,
    backoff: float = RETRY_BACKOFF_S,
    where: str = "transaction",
) -> T:
    """Run ``work(session)`` in one transaction and commit it, retrying transient failures.

    ``work`` must be safe to repeat: a failed try is rolled back entirely before the next one.
    """

    def attempt() -> T:
        with factory() as session:
            try:
                result = work(session)
                session.commit()
            except BaseException:
                session.rollback()
                raise
            return result

    return with_retries(attempt, where, attempts=attempts, backoff=backoff)


# --- migrations --------------------------------------------------------------------------------


def alembic_config() -> Config:
    """An Alembic ``Config`` for the packaged migrations; no ``alembic.ini`` is needed."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The revision the code expects."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package ships at least one revision
        raise MigrationError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""

    def read() -> str | None:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    return with_retries(read, f"reading schema revision of {describe(engine)}")


def _upgrade(engine: Engine, revision: str) -> None:
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Two processes opening a fresh database at once: the second waits, then finds head.
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def upgrade(url_or_engine: str | URL | Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (default: the latest)."""
    engine = url_or_engine if isinstance(url_or_engine, Engine) else make_engine(url_or_engine)
    where = f"migrating {describe(engine)}"
    try:
        with_retries(lambda: _upgrade(engine, revision), where)
    except CommandError as e:
        raise MigrationError(f"{where}: {e}") from e
    except DatabaseUnavailable:
        raise
    except StoreError as e:
        raise MigrationError(str(e)) from e
    finally:
        if not isinstance(url_or_engine, Engine):
            engine.dispose()


def _known_revision(revision: str) -> bool:
    script = ScriptDirectory.from_config(alembic_config())
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


def ensure_schema(engine: Engine) -> None:
    """Migrate ``engine``'s database to head if it is new or older; refuse a newer one."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    if current is not None and not _known_revision(current):
        raise MigrationError(
            f"database {describe(engine)} is at schema revision {current}, which this version of "
            "Roundup does not know (was it written by a newer version?)"
        )
    log.info("migrating %s from %s to %s", describe(engine), current or "empty", head)
    upgrade(engine)


def _create_sqlite_atomically(url: str | URL | None, **engine_kwargs: Any) -> None:
    """Build a new SQLite database beside its path, then rename it into place.

    SQLite runs Alembic's DDL outside a transaction, so a process killed during the first
    migration would leave a half-built schema that the next run could not migrate. Built under
    another name and renamed (atomic on POSIX), the database either does not exist yet or is
    complete. A file lock keeps two first runs from building it at once.
    """
    import fcntl
    import os
    from pathlib import Path

    parsed = normalise_url(url if url is not None else default_db_url())
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return
    path = Path(parsed.database)
    if path.exists() and path.stat().st_size > 0:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".init.lock")
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists() and path.stat().st_size > 0:
            return  # another process built it while this one waited
        building = path.with_name(f"{path.name}.building-{os.getpid()}")
        for stale in [*path.parent.glob(path.name + ".building-*"),
                      path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]:
            stale.unlink(missing_ok=True)
        engine = make_engine(parsed.set(database=str(building)), **engine_kwargs)
        try:
            ensure_schema(engine)
            with engine.connect() as conn:  # fold the WAL into the file before renaming it
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            engine.dispose()
        for suffix in ("-wal", "-shm"):
            building.with_name(building.name + suffix).unlink(missing_ok=True)
        os.replace(building, path)
        # Waiters hold the old inode and re-check the database under the lock; newcomers see
        # the database and never take the lock.
        lock_path.unlink(missing_ok=True)


def checkpoint_wal(factory: sessionmaker[Session]) -> None:
    """SQLite: copy the pages committed to the write-ahead log into the database file now, on a
    connection of its own (``PRAGMA wal_checkpoint(PASSIVE)``: it waits for no reader or writer
    and copies what it can). Closing the last connection does the same for the whole log; a
    checkpoint made while a crawl is still busy elsewhere leaves that close only the pages
    written since. Nothing for other databases."""
    engine = factory.kw["bind"]
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


def close_sessions(factory: sessionmaker[Session] | None) -> None:
    """Close the pooled connections of the engine behind a session factory from :func:`open_db`
    (a crawl component's, when its crawl closes). The factory stays usable: a later session
    connects again."""
    if factory is not None:
        factory.kw["bind"].dispose()


def open_db(
    url: str | URL | None = None, *, migrate: bool = True, **engine_kwargs: Any
) -> tuple[Engine, sessionmaker[Session]]:
    """Engine and session factory for ``url``; with ``migrate``, bring the schema to head first.

    Raises :class:`DatabaseUnavailable` when the database cannot be reached after the retries,
    :class:`MigrationError` when the schema cannot be migrated.
    """
    if migrate:
        _create_sqlite_atomically(url, **engine_kwargs)
    engine = make_engine(url, **engine_kwargs)
    try:
        if migrate:
            ensure_schema(engine)
        else:
            with_retries(lambda: engine.connect().close(), f"connecting to {describe(engine)}")
    except BaseException:
        engine.dispose()
        raise
    return engine, sessionmaker(engine, expire_on_commit=False)
