"""store.fetchstate: validators, backoff, Retry-After and 410 Gone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from store.fetchstate import (
    BACKOFF_CAP,
    MAX_RETRY_AFTER,
    Fetched,
    backoff,
    get_validators,
    is_due,
    record_failure,
    record_fetch,
    record_fetches,
    reenable,
    states_for,
)

NOW = datetime(2024, 1, 16, 6, 0, tzinfo=UTC)
FEED = "https://mfwa.example.org/feed/"


def test_backoff_doubles_from_15_minutes_and_is_capped_at_a_day() -> None:
    assert [backoff(n) for n in range(1, 6)] == [timedelta(minutes=15 * 2**i) for i in range(5)]
    assert backoff(7) == timedelta(hours=16)
    assert backoff(8) == BACKOFF_CAP == timedelta(hours=24)
    assert backoff(10_000) == BACKOFF_CAP


def test_unknown_url(store_session) -> None:
    assert get_validators(store_session, FEED) == (None, None)
    assert states_for(store_session, [FEED]) == {}
    assert is_due(None, NOW)
    assert reenable(store_session, FEED) is False


def test_success_stores_validators_and_304_keeps_them(store_session) -> None:
    record_fetch(
        store_session,
        "mfwa",
        FEED,
        status=200,
        etag='"v1"',
        last_modified="Mon, 15 Jan 2024",
        now=NOW,
        entries=20,
    )
    store_session.commit()
    assert get_validators(store_session, FEED) == ('"v1"', "Mon, 15 Jan 2024")

    state = record_fetch(
        store_session, "mfwa", FEED, status=304, etag=None, last_modified=None, now=NOW
    )
    assert (state.etag, state.last_modified, state.entries_seen) == (
        '"v1"',
        "Mon, 15 Jan 2024",
        20,
    )
    assert state.last_status == 304 and state.last_success == NOW

    # a 200 without validators clears them (never ask with a stale ETag)
    state = record_fetch(
        store_session, "mfwa", FEED, status=200, etag=None, last_modified=None, now=NOW, entries=3
    )
    assert (state.etag, state.last_modified, state.entries_seen) == (None, None, 3)


def test_failures_back_off_and_success_resets(store_session) -> None:
    for n in range(1, 4):
        state = record_failure(
            store_session, "mfwa", FEED, error="HTTP 503", http_status=503, now=NOW
        )
        assert state.consecutive_failures == n
        assert state.next_attempt == NOW + timedelta(minutes=15 * 2 ** (n - 1))
    store_session.commit()
    assert not is_due(state, NOW + timedelta(minutes=59))
    assert is_due(state, NOW + timedelta(hours=1))
    assert state.last_error == "HTTP 503" and state.last_status == 503

    state = record_fetch(
        store_session, "mfwa", FEED, status=200, etag=None, last_modified=None, now=NOW
    )
    assert state.consecutive_failures == 0 and state.last_error is None
    assert is_due(state, NOW)


def test_transport_error_without_status(store_session) -> None:
    state = record_failure(store_session, "mfwa", FEED, error="connection refused", now=NOW)
    assert state.last_status is None and state.consecutive_failures == 1


def test_a_failing_feed_is_still_tried_daily(store_session) -> None:
    for _ in range(30):
        state = record_failure(store_session, "mfwa", FEED, error="timeout", now=NOW)
    assert state.next_attempt == NOW + timedelta(hours=24)


def test_retry_after_is_honoured_when_later(store_session) -> None:
    later = NOW + timedelta(hours=3)
    state = record_failure(
        store_session, "mfwa", FEED, error="429", http_status=429, now=NOW, retry_after=later
    )
    assert state.next_attempt == later
    earlier = NOW + timedelta(minutes=1)
    state = record_failure(
        store_session, "mfwa", FEED, error="429", http_status=429, now=NOW, retry_after=earlier
    )
    assert state.next_attempt == NOW + timedelta(minutes=30)  # the backoff is later


def test_absurd_retry_after_is_capped(store_session) -> None:
    state = record_failure(
        store_session,
        "mfwa",
        FEED,
        error="429",
        http_status=429,
        now=NOW,
        retry_after=NOW + timedelta(days=365),
    )
    assert state.next_attempt == NOW + MAX_RETRY_AFTER


def test_410_marks_gone_until_reenabled(store_session) -> None:
    state = record_failure(store_session, "mfwa", FEED, error="HTTP 410", http_status=410, now=NOW)
    store_session.commit()
    assert state.gone
    assert not is_due(state, NOW + timedelta(days=3650))
    assert reenable(store_session, FEED) is True
    store_session.commit()
    state = states_for(store_session, [FEED, "https://other.example/feed"])[FEED]
    assert not state.gone and state.consecutive_failures == 0
    assert is_due(state, NOW)


def test_long_errors_are_cut(store_session) -> None:
    state = record_failure(store_session, "mfwa", FEED, error="x" * 100_000, now=NOW)
    assert len(state.last_error) <= 2000


def test_naive_now_is_refused(store_session) -> None:
    with pytest.raises(ValueError, match="naive"):
        record_failure(store_session, "mfwa", FEED, error="e", now=datetime(2024, 1, 1))


def test_feed_moved_to_another_source(store_session) -> None:
    record_fetch(store_session, "a", FEED, status=200, etag=None, last_modified=None, now=NOW)
    state = record_fetch(
        store_session, "b", FEED, status=200, etag=None, last_modified=None, now=NOW
    )
    store_session.commit()
    assert state.source_id == "b"


def _fetch_rows(session) -> list[tuple]:
    from sqlalchemy import select

    from store.models import fetch_state_table as t

    cols = [c for c in t.c if c.name != "id"]
    return [tuple(r) for r in session.execute(select(*cols).order_by(t.c.url))]


def test_record_fetches_leaves_what_record_fetch_one_by_one_leaves(store_db) -> None:
    """The pipeline's batched form: new URLs, a URL with failures behind it, 304s with and
    without new validators, a feed moved to another (unknown) source, URLs twice."""
    later = NOW + timedelta(hours=1)
    fetches = [
        Fetched("a", FEED, 200, '"v2"', None, 7),
        Fetched("a", FEED + "2", 304, None, None),
        Fetched("a", FEED + "3", 304, '"n"', "Tue"),
        Fetched("new-source", FEED + "4", 200, None, "Wed", 5),
        Fetched("c", FEED + "5", 304, None, None),
        Fetched("a", FEED + "6", 200, '"x"', None, 1),
        Fetched("a", FEED + "6", 304, None, "Thu"),
        Fetched("a", FEED + "3", 200, None, None, 3),  # a 200 without validators clears them
    ]
    from sqlalchemy import text

    results = []
    for batched in (False, True):
        _, factory = store_db
        with factory() as session:
            session.execute(text("DELETE FROM fetch_state"))
            record_fetch(session, "a", FEED, status=200, etag='"v1"', last_modified="Mon",
                         now=NOW, entries=20)
            record_fetch(session, "a", FEED + "2", status=200, etag='"e2"', last_modified="Mon",
                         now=NOW, entries=4)
            record_failure(session, "a", FEED + "2", error="boom", now=NOW, http_status=500)
            record_fetch(session, "a", FEED + "3", status=200, etag='"o"', last_modified="Sun",
                         now=NOW, entries=2)
            record_fetch(session, "b", FEED + "5", status=200, etag='"e5"', last_modified=None,
                         now=NOW, entries=9)
            session.commit()
        with factory() as session:
            if batched:
                record_fetches(session, fetches, now=later)
            else:
                for f in fetches:
                    record_fetch(session, f.source_id, f.url, status=f.status, etag=f.etag,
                                 last_modified=f.last_modified, now=later, entries=f.entries)
            session.commit()
            results.append(_fetch_rows(session))
    assert results[0] == results[1]
    assert len(results[0]) == 6


# PostgreSQL only: SQLite lets one writer in at a time, so no other can commit in between.
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_record_fetches_updates_a_row_another_writer_created_after_its_read(
    store_db, monkeypatch
) -> None:
    """Two harvests on PostgreSQL: between record_fetches' read (no row for the URL) and its
    INSERT … ON CONFLICT DO NOTHING, the other writer commits the URL's row. The INSERT skips
    it; the row is then read again and updated as record_fetch would have updated it."""
    import store.fetchstate as fetchstate

    _, factory = store_db
    read = fetchstate._state_rows
    raced = []

    def read_then_the_other_writer_commits(session, urls):
        rows = read(session, urls)
        if not raced:
            raced.append(True)
            with factory() as other:
                record_fetch(other, "b", FEED, status=200, etag='"theirs"', last_modified="Mon",
                             now=NOW, entries=3)
                other.commit()
        return rows

    monkeypatch.setattr(fetchstate, "_state_rows", read_then_the_other_writer_commits)
    later = NOW + timedelta(minutes=5)
    with factory() as session:
        record_fetches(session, [Fetched("a", FEED, 304, None, "Tue"),
                                 Fetched("a", FEED + "2", 200, '"new"', None, 4)], now=later)
        session.commit()
    assert raced
    cols = [c.name for c in fetchstate.fetch_state_table.c if c.name != "id"]
    with factory() as session:
        rows = {row["url"]: row for row in (dict(zip(cols, r, strict=True))
                                            for r in _fetch_rows(session))}
    assert sorted(rows) == [FEED, FEED + "2"]
    mine = rows[FEED]
    # The 304 kept the other writer's ETag, took its own Last-Modified and moved the feed to "a".
    assert (mine["source_id"], mine["etag"], mine["last_modified"], mine["last_status"],
            mine["entries_seen"]) == ("a", '"theirs"', "Tue", 304, 3)
    assert mine["last_success"] is not None and mine["consecutive_failures"] == 0
