"""Small SQL helpers shared by the store's modules (not part of the public API)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Table, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.models import source_table

T = TypeVar("T")

#: Parameters per IN (...) list; far below SQLite's and PostgreSQL's limits.
CHUNK = 900


def chunked(items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    """``items`` in lists of at most ``size``."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def dialect_name(session: Session) -> str:
    return session.get_bind().dialect.name


@contextmanager
def _driver_cursor(session: Session) -> Iterator[Any]:
    """The DBAPI cursor of the session's connection (same transaction), closed afterwards. A
    driver error is raised as SQLAlchemy raises it (``sqlalchemy.exc.OperationalError`` for
    "database is locked", …), so that ``store.db`` tells transient failures apart and
    translates them as for any other statement."""
    connection = session.connection()
    dbapi_error = connection.dialect.loaded_dbapi.Error
    cursor = connection.connection.cursor()
    try:
        yield cursor
    except dbapi_error as e:
        raise exc.DBAPIError.instance(None, None, e, dbapi_error) from e
    finally:
        cursor.close()


def driver_executemany(session: Session, sql: str, rows: Iterable[Sequence[Any]]) -> None:
    """Run ``sql`` (``{p}`` marks each parameter) once per row with the driver's
    ``executemany``, in the session's transaction. For rows of plain integers, floats, booleans,
    strings and NULLs, which SQLAlchemy's per-row parameter processing (~2 us a row) would only
    copy: those the driver binds exactly as SQLAlchemy's types would."""
    mark = "?" if dialect_name(session) == "sqlite" else "%s"
    with _driver_cursor(session) as cursor:
        # sqlite3 and psycopg take any iterable of rows
        cursor.executemany(sql.format(p=mark), rows)


def driver_rows(session: Session, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` (``{p}`` marks each parameter) for ``params``, through the driver's
    cursor in the session's transaction: for columns the driver returns as SQLAlchemy would
    (integers, text), whose rows SQLAlchemy's result machinery would only copy."""
    mark = "?" if dialect_name(session) == "sqlite" else "%s"
    with _driver_cursor(session) as cursor:
        cursor.execute(sql.format(p=mark), params)
        return [tuple(r) for r in cursor.fetchall()]


def driver_rows_in(
    session: Session, sql: str, ids: Sequence[Any], size: int = CHUNK
) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` (whose ``{ids}`` stands for a parenthesised list of parameters) for
    ``ids``, at most ``size`` a statement, as :func:`driver_rows` reads them."""
    out: list[tuple[Any, ...]] = []
    for part in chunked(ids, size):
        out.extend(driver_rows(session, sql.format(ids="(" + ", ".join(["{p}"] * len(part)) + ")"),
                           part))
    return out


def bind_processors(session: Session, table: Table, columns: Sequence[str]) -> list[Any]:
    """The session's dialect's bind processor (or None) of each of ``table``'s ``columns``: what
    SQLAlchemy applies to a parameter of that column before handing it to the driver (dates
    made naive UTC then text on SQLite, JSON serialised, …). SQLAlchemy caches them per type
    and dialect."""
    dialect = session.get_bind().dialect
    return [table.c[name].type._cached_bind_processor(dialect) for name in columns]


def row_binder(
    session: Session, table: Table, columns: Sequence[str], *, lists: Sequence[str] = ()
) -> Callable[[list[Any]], list[Any]]:
    """A function that binds a row of values for ``columns`` (in that order), in place, as
    SQLAlchemy would bind them (:func:`bind_processors`), and returns it: for rows sent by
    :func:`driver_insert_returning` or :func:`driver_executemany`.

    ``lists``: columns whose values are lists of strings (JSON), each distinct list bound once
    per binder: a batch's rows repeat a few (articles' topics, stories' countries), and
    serialising every one cost more than the rest of the row's binding."""
    work = []
    memo: list[tuple[int, Callable[[Any], Any], dict[tuple[str, ...], Any]]] = []
    for i, process in enumerate(bind_processors(session, table, columns)):
        if process is None:
            continue
        if columns[i] in lists:
            memo.append((i, process, {}))
        else:
            work.append((i, process))

    def bind(row: list[Any]) -> list[Any]:
        for i, process in work:
            row[i] = process(row[i])
        for i, process, seen in memo:
            key = tuple(row[i])
            bound = seen.get(key)
            if bound is None:
                bound = seen[key] = process(row[i])
            row[i] = bound
        return row

    return bind


def result_processors(session: Session, table: Table, columns: Sequence[str]) -> list[Any]:
    """The session's dialect's result processor (or None) of each of ``table``'s ``columns``:
    what SQLAlchemy applies to a value the driver returns (text made an aware date, JSON
    parsed, …), for rows read through the driver (:func:`driver_rows_in`)."""
    dialect = session.get_bind().dialect
    return [table.c[name].type._cached_result_processor(dialect, None) for name in columns]


#: Rows per multi-row ``INSERT`` of :func:`driver_insert_returning` (parameters per statement
#: stay far below SQLite's 32,766 and PostgreSQL's 65,535).
INSERT_ROWS = 500


def driver_insert_returning(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]],
    *, conflict: Sequence[str] | None = None, returning: Sequence[str],
) -> list[tuple[Any, ...]]:
    """``INSERT INTO table (columns) VALUES (…), (…) [ON CONFLICT (conflict) DO NOTHING]
    RETURNING returning`` through the driver's cursor, in the session's transaction, for rows
    whose values are already bound as SQLAlchemy would bind them (:func:`row_binder`);
    returns the rows the statement returned, in no particular order. SQLAlchemy's own
    multi-row insert processes every parameter of every row through its execution context,
    which cost more than the insert itself for a batch of articles. Valid SQL on SQLite
    (3.35+) and PostgreSQL."""
    if not rows:
        return []
    mark = "?" if dialect_name(session) == "sqlite" else "%s"
    row_marks = "(" + ", ".join([mark] * len(columns)) + ")"
    head = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
    tail = f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING" if conflict else ""
    tail += f" RETURNING {', '.join(returning)}"
    out: list[tuple[Any, ...]] = []
    with _driver_cursor(session) as cursor:
        for part in chunked(rows, INSERT_ROWS):
            cursor.execute(head + ", ".join([row_marks] * len(part)) + tail,
                           [value for row in part for value in row])
            out.extend(tuple(r) for r in cursor.fetchall())
    return out


def upsert_insert(session: Session, table: Table) -> Any:
    """The dialect's ``INSERT`` (which has ``on_conflict_do_nothing/do_update``) for ``table``."""
    name = dialect_name(session)
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for the {name} dialect")


_SOURCE_IDS = "SELECT id FROM source WHERE id IN {ids}"


def ensure_sources(session: Session, source_ids: Sequence[str], now: datetime) -> None:
    """Create placeholder ``source`` rows for ids not synchronised from the registry yet.

    Articles and fetch states reference ``source`` by foreign key; a harvest that runs before
    ``sync_sources`` (or a test) still stores its work, and ``sync_sources`` fills in the rest.
    """
    if not source_ids:
        return
    # Nearly always every source is there (``roundup harvest`` synchronises the registry first):
    # one SELECT of the ids, through the driver, costs a fraction of the multi-row INSERT (its
    # JSON and date parameters, its statement built again on every call), which only the
    # missing ones get.
    wanted = sorted(set(source_ids))
    found = {sid for sid, in driver_rows_in(session, _SOURCE_IDS, wanted)}
    missing = [sid for sid in wanted if sid not in found]
    if not missing:
        return
    table = source_table
    stmt = upsert_insert(session, table).on_conflict_do_nothing(index_elements=["id"])
    session.execute(
        stmt,
        [
            {
                "id": sid,
                "name": sid,
                "homepage": "",
                "feeds": [],
                "languages": [],
                "extra": {},
                "created_at": now,
                "updated_at": now,
            }
            for sid in missing
        ],
    )
