"""Per-URL fetch state: conditional-GET validators, health, and backoff.

A failing feed is retried with capped exponential backoff — 15 minutes after the first failure,
doubling each time, never more than a day apart, so a feed that comes back is picked up within a
day and a feed is never given up for good after a few errors. A ``Retry-After`` later than the
backoff is honoured (up to :data:`MAX_RETRY_AFTER`, so a hostile header cannot silence a feed).
``410 Gone`` marks the URL gone: it is not polled again until an operator calls :func:`reenable`.

None of these functions commit: the caller commits the fetch state in the same transaction as the
articles of that response, so stored validators never run ahead of stored articles.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from store._sql import (
    chunked,
    driver_executemany,
    driver_insert_returning,
    driver_rows_in,
    ensure_sources,
    row_binder,
    upsert_insert,
)
from store.models import FetchState, fetch_state_table
from store.types import ensure_utc

BACKOFF_BASE = timedelta(minutes=15)
BACKOFF_CAP = timedelta(hours=24)
MAX_RETRY_AFTER = timedelta(days=7)
#: Longest error message kept; the rest is cut (a server may answer with a whole page).
MAX_ERROR_CHARS = 2000


def backoff(failures: int) -> timedelta:
    """Wait before the next attempt after ``failures`` consecutive failures (``failures >= 1``)."""
    if failures < 1:
        return timedelta(0)
    # Bound the exponent first: 2**n for a large n would overflow timedelta.
    exponent = min(failures - 1, 16)
    return min(BACKOFF_BASE * (2**exponent), BACKOFF_CAP)


def get_validators(session: Session, url: str) -> tuple[str | None, str | None]:
    """``(etag, last_modified)`` stored for ``url``, for a conditional GET."""
    row = session.execute(
        select(FetchState.etag, FetchState.last_modified).where(FetchState.url == url)
    ).first()
    return (row[0], row[1]) if row else (None, None)


def states_for(session: Session, urls: Iterable[str]) -> dict[str, FetchState]:
    """The fetch states of ``urls`` that have one, by URL (one query per 900 URLs)."""
    found: dict[str, FetchState] = {}
    for part in chunked(sorted(set(urls))):
        for state in session.scalars(select(FetchState).where(FetchState.url.in_(part))):
            found[state.url] = state
    return found


def _state(session: Session, source_id: str, url: str, now: datetime) -> FetchState:
    """The row for ``url``, created if missing (race-free: the URL is unique in the schema)."""
    state = session.scalars(select(FetchState).where(FetchState.url == url)).one_or_none()
    if state is None:
        ensure_sources(session, [source_id], now)
        stmt = upsert_insert(session, fetch_state_table).on_conflict_do_nothing(
            index_elements=["url"]
        )
        session.execute(stmt, {"source_id": source_id, "url": url})
        state = session.scalars(select(FetchState).where(FetchState.url == url)).one()
    elif state.source_id != source_id:
        ensure_sources(session, [source_id], now)
        state.source_id = source_id  # the feed moved to another member in the registry
    return state


def record_fetch(
    session: Session,
    source_id: str,
    url: str,
    *,
    status: int,
    etag: str | None,
    last_modified: str | None,
    now: datetime,
    entries: int = 0,
) -> FetchState:
    """Record a successful fetch (2xx) or a ``304 Not Modified`` of ``url``.

    Failures are reset. On 304 the stored validators are kept unless the server sent new ones;
    on 2xx they are replaced by what the response carried (a server that stopped sending an ETag
    must not be asked with a stale one). ``entries`` is the number of entries in a 2xx response.
    """
    now = ensure_utc(now, "now")
    state = _state(session, source_id, url, now)
    if status == 304:
        state.etag = etag or state.etag
        state.last_modified = last_modified or state.last_modified
    else:
        state.etag = etag
        state.last_modified = last_modified
        state.entries_seen = entries
    state.last_status = status
    state.last_success = now
    state.last_attempt = now
    state.last_error = None
    state.consecutive_failures = 0
    state.next_attempt = None
    state.gone = False
    session.flush()
    return state


@dataclass(frozen=True)
class Fetched:
    """One successful fetch (or 304) for :func:`record_fetches`: the arguments of
    :func:`record_fetch`."""

    source_id: str
    url: str
    status: int
    etag: str | None
    last_modified: str | None
    entries: int = 0


_ft = fetch_state_table
# record_fetches' statements, through the driver (store._sql): integers and text read, values
# bound by the columns' own processors (dates, booleans), as SQLAlchemy would bind them.
_STATES = (
    "SELECT id, url, source_id, etag, last_modified, entries_seen FROM fetch_state "
    "WHERE url IN {ids}"
)
#: What a successful fetch leaves in its URL's row (record_fetch), in this order.
_RECORDED = (
    "source_id", "etag", "last_modified", "entries_seen", "last_status", "last_success",
    "last_attempt", "last_error", "consecutive_failures", "next_attempt", "gone",
)
_RECORD = "UPDATE fetch_state SET " + ", ".join(f"{c} = {{p}}" for c in _RECORDED) + " WHERE id = {p}"


def _state_rows(session: Session, urls: Sequence[str]) -> dict[str, dict[str, Any]]:
    return {
        url: {"id": id_, "source_id": source_id, "etag": etag, "last_modified": last_modified,
              "entries_seen": entries_seen}
        for id_, url, source_id, etag, last_modified, entries_seen
        in driver_rows_in(session, _STATES, sorted(set(urls)))
    }


def _leave(rows: dict[str, dict[str, Any]], fetches: Iterable[Fetched]) -> None:
    """Apply ``fetches`` to their URLs' ``rows`` as :func:`record_fetch` would."""
    for f in fetches:  # in order: a URL fetched twice keeps what the later fetch leaves
        row = rows[f.url]
        row["source_id"] = f.source_id
        if f.status == 304:
            row["etag"] = f.etag or row["etag"]
            row["last_modified"] = f.last_modified or row["last_modified"]
        else:
            row["etag"] = f.etag
            row["last_modified"] = f.last_modified
            row["entries_seen"] = f.entries
        row["status"] = f.status


def record_fetches(session: Session, fetches: Sequence[Fetched], *, now: datetime) -> None:
    """:func:`record_fetch` for each of ``fetches``, in order, in a few statements for all of
    them (through the driver, not the ORM: one SELECT, one INSERT of the URLs without a row,
    one executemany UPDATE of the others), leaving the same rows. A feed harvest records a batch of fetches in
    one transaction; one at a time, their ORM loads and flushes cost more than the rest of the
    fetch state. Does not commit; returns nothing (:func:`record_fetch` returns the row)."""
    if not fetches:
        return
    now = ensure_utc(now, "now")
    urls = list(dict.fromkeys(f.url for f in fetches))
    rows = _state_rows(session, urls)
    stored_source = {url: row["source_id"] for url, row in rows.items()}
    # A URL without a row gets it from an INSERT of what its fetches leave, rather than an
    # empty row then updated (two more statements, in a first harvest for every feed).
    new = [url for url in urls if url not in rows]
    for url in new:
        rows[url] = {"id": None, "etag": None, "last_modified": None, "entries_seen": 0}
    # New rows' sources, and a feed moved to another member in the registry.
    wanted = {f.source_id for f in fetches if stored_source.get(f.url) != f.source_id}
    if wanted:
        ensure_sources(session, sorted(wanted), now)
    _leave(rows, fetches)
    bind = row_binder(session, _ft, _RECORDED)

    def recorded(row: dict[str, Any]) -> list[Any]:
        return bind([row["source_id"], row["etag"], row["last_modified"], row["entries_seen"],
                     row["status"], now, now, None, 0, None, False])

    if new:
        # As _state: the first source to record a URL creates its row.
        back = driver_insert_returning(
            session, _ft, ("url", *_RECORDED), [[url, *recorded(rows[url])] for url in new],
            conflict=("url",), returning=("url",),
        )
        inserted = {url for url, in back}
        raced = {url for url in new if url not in inserted}
        if raced:  # another writer created these rows meanwhile: updated as the others are
            rows.update(_state_rows(session, sorted(raced)))
            _leave(rows, [f for f in fetches if f.url in raced])
        new = [url for url in new if url in inserted]
    done = set(new)
    driver_executemany(session, _RECORD, [
        [*recorded(rows[url]), rows[url]["id"]] for url in urls if url not in done
    ])


def record_failure(
    session: Session,
    source_id: str,
    url: str,
    *,
    error: str,
    now: datetime,
    http_status: int | None = None,
    retry_after: datetime | None = None,
) -> FetchState:
    """Record a failed fetch of ``url``: count it, schedule the next attempt, keep the error.

    ``http_status`` is None for transport errors (refused, timeout, DNS...). A 410 marks the URL
    gone. ``retry_after`` is the absolute time from a ``Retry-After`` header.
    """
    now = ensure_utc(now, "now")
    state = _state(session, source_id, url, now)
    failures = (state.consecutive_failures or 0) + 1
    state.consecutive_failures = failures
    state.last_attempt = now
    state.last_status = http_status
    state.last_error = error[:MAX_ERROR_CHARS]
    if http_status == 410:
        state.gone = True
        state.next_attempt = None
    else:
        next_attempt = now + backoff(failures)
        if retry_after is not None:
            retry_after = min(ensure_utc(retry_after, "retry_after"), now + MAX_RETRY_AFTER)
            next_attempt = max(next_attempt, retry_after)
        state.next_attempt = next_attempt
    session.flush()
    return state


def is_due(state: FetchState | None, now: datetime) -> bool:
    """Whether a URL with this state should be fetched at ``now`` (no state: never fetched)."""
    if state is None:
        return True
    if state.gone:
        return False
    return state.next_attempt is None or state.next_attempt <= ensure_utc(now, "now")


def reenable(session: Session, url: str) -> bool:
    """Make a gone or backed-off URL due again; False when ``url`` has no fetch state."""
    state = session.scalars(select(FetchState).where(FetchState.url == url)).one_or_none()
    if state is None:
        return False
    state.gone = False
    state.consecutive_failures = 0
    state.next_attempt = None
    session.flush()
    return True


# --- multi-page crawls (listings) -------------------------------------------------------------
# A listing crawl stops paging when it meets articles the store already has. That shortcut is only
# safe when the previous crawl of the listing ran to the end: after a crash, the pages past the
# first may never have been read. A marker row per listing records "started" (last_attempt) and
# "finished" (last_success).

CRAWL_MARK = "#roundup-listing-crawl"


def begin_crawl(session: Session, source_id: str, start_url: str, now: datetime) -> bool:
    """Mark a listing crawl as started; return whether the previous crawl of it finished."""
    now = ensure_utc(now, "now")
    state = _state(session, source_id, start_url + CRAWL_MARK, now)
    finished = state.last_success is not None and (
        state.last_attempt is None or state.last_success >= state.last_attempt
    )
    state.last_attempt = now
    session.flush()
    return finished


def finish_crawl(session: Session, source_id: str, start_url: str, now: datetime) -> None:
    """Mark a listing crawl as run to the end."""
    now = ensure_utc(now, "now")
    state = _state(session, source_id, start_url + CRAWL_MARK, now)
    state.last_success = now
    session.flush()
