"""The store's schema: migrations, the UTC type, constraints, engine set-up and error boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import exc, inspect, select, text

from store import db
from store.errors import (
    DatabaseUnavailable,
    DatabaseURLError,
    IntegrityViolation,
    MigrationError,
    NaiveDatetimeError,
    StoreError,
)
from store.models import ArticleRow, Base, SourceRow
from store.types import UTCDateTime, ensure_utc

TABLES = {
    "source",
    "fetch_state",
    "article",
    "article_country",
    "story",
    "curation",
    "article_keys",
    "source_boilerplate",
    "alembic_version",
}


def test_migrations_reach_head_and_match_models(store_url: str) -> None:
    engine = db.make_engine(store_url)
    try:
        assert db.current_revision(engine) is None
        db.upgrade(engine)
        assert db.current_revision(engine) == db.head_revision()
        assert set(inspect(engine).get_table_names()) == TABLES
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_downgrade_to_base_and_back(store_url: str) -> None:
    engine = db.make_engine(store_url)
    try:
        db.upgrade(engine)
        with engine.begin() as conn:
            config = db.alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        db.upgrade(engine)
        assert db.current_revision(engine) == db.head_revision()
    finally:
        engine.dispose()


def test_open_db_migrates_once_and_is_idempotent(store_url: str) -> None:
    for _ in range(2):
        engine, factory = db.open_db(store_url)
        with factory() as session:
            assert session.scalars(select(SourceRow)).all() == []
        assert db.current_revision(engine) == db.head_revision()
        engine.dispose()


def test_open_db_refuses_a_newer_database(store_url: str) -> None:
    engine, _ = db.open_db(store_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffffffffffff'"))
    engine.dispose()
    with pytest.raises(MigrationError, match="does not know"):
        db.open_db(store_url)


def test_open_db_without_migrate_leaves_database_empty(store_url: str) -> None:
    engine, _ = db.open_db(store_url, migrate=False)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_utc_type_round_trips_aware_values(store_session) -> None:
    plus_two = timezone(timedelta(hours=2))
    published = datetime(2024, 1, 31, 23, 30, 15, 123456, tzinfo=plus_two)
    store_session.add(SourceRow(id="s", name="S"))
    store_session.add(
        ArticleRow(
            source_id="s",
            guid_key="k",
            url="https://s.example/1",
            published=published,
            content_hash="h",
            first_seen=published,
            last_seen=published,
            updated_at=published,
        )
    )
    store_session.commit()
    store_session.expire_all()
    value = store_session.scalars(select(ArticleRow.published)).one()
    assert value == published
    assert value.tzinfo is UTC
    assert value.hour == 21 and value.microsecond == 123456
    # comparisons with aware bounds work on both backends
    found = store_session.scalars(
        select(ArticleRow.id).where(ArticleRow.published < datetime(2024, 2, 1, tzinfo=UTC))
    ).all()
    assert len(found) == 1


def test_utc_type_refuses_naive(store_session) -> None:
    store_session.add(SourceRow(id="s", name="S", created_at=datetime(2024, 1, 1)))
    with pytest.raises(exc.StatementError) as info:
        store_session.commit()
    assert isinstance(info.value.orig, NaiveDatetimeError)
    store_session.rollback()


def test_ensure_utc() -> None:
    with pytest.raises(NaiveDatetimeError, match="naive datetime"):
        ensure_utc(datetime(2024, 1, 1), "published")
    with pytest.raises(TypeError):
        ensure_utc("2024-01-01", "published")  # type: ignore[arg-type]
    assert ensure_utc(datetime(2024, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))) == datetime(
        2024, 1, 1, tzinfo=UTC
    )
    assert UTCDateTime().process_result_value(None, None) is None  # type: ignore[arg-type]


def test_unique_source_and_key_is_enforced_by_the_schema(store_db) -> None:
    engine, _ = store_db
    now = datetime(2024, 1, 1, tzinfo=UTC)
    row = {
        "source_id": "s",
        "guid_key": "same",
        "url": "https://s.example/1",
        "published": now,
        "content_hash": "h",
        "topics": [],
        "first_seen": now,
        "last_seen": now,
        "updated_at": now,
    }
    with engine.begin() as conn:
        conn.execute(
            SourceRow.__table__.insert(),
            {
                "id": "s",
                "name": "S",
                "feeds": [],
                "languages": [],
                "extra": {},
                "created_at": now,
                "updated_at": now,
            },
        )
        conn.execute(ArticleRow.__table__.insert(), row)
    with pytest.raises(exc.IntegrityError), engine.begin() as conn:
        conn.execute(ArticleRow.__table__.insert(), {**row, "url": "https://s.example/2"})
    with pytest.raises(IntegrityViolation), db.translate_errors("inserting"):
        with engine.begin() as conn:
            conn.execute(ArticleRow.__table__.insert(), row)


def test_foreign_keys_are_enforced(store_db) -> None:
    engine, _ = store_db
    now = datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(exc.IntegrityError), engine.begin() as conn:
        conn.execute(
            ArticleRow.__table__.insert(),
            {
                "source_id": "missing",
                "guid_key": "k",
                "url": "u",
                "published": now,
                "content_hash": "h",
                "topics": [],
                "first_seen": now,
                "last_seen": now,
                "updated_at": now,
            },
        )


def test_sqlite_connection_settings(tmp_path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == db.SQLITE_BUSY_TIMEOUT_MS
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
            assert conn.execute(text("PRAGMA cache_size")).scalar() == -db.SQLITE_CACHE_KIB
    finally:
        engine.dispose()


def test_default_db_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROUNDUP_DB", raising=False)
    assert db.default_db_url() == "sqlite:///roundup.db"
    monkeypatch.setenv("ROUNDUP_DB", "postgresql://u@h/db")
    assert db.default_db_url() == "postgresql://u@h/db"


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_normalise_url(url: str, driver: str) -> None:
    assert db.normalise_url(url).drivername == driver


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url"])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(DatabaseURLError):
        db.make_engine(url)


def _locked() -> exc.OperationalError:
    return exc.OperationalError("INSERT", {}, Exception("database is locked"))


def test_retries_then_gives_up_with_a_clear_error() -> None:
    calls = []

    def work() -> None:
        calls.append(1)
        raise _locked()

    with pytest.raises(DatabaseUnavailable, match="after 3 tries: database is locked"):
        db.with_retries(work, "storing mfwa", attempts=3, backoff=0.001)
    assert len(calls) == 3


def test_retries_succeed_when_the_lock_goes_away() -> None:
    outcomes = [_locked(), _locked(), "ok"]

    def work() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert db.with_retries(work, "storing", attempts=4, backoff=0.001) == "ok"


def test_non_transient_errors_are_not_retried() -> None:
    calls = []

    def work() -> None:
        calls.append(1)
        raise exc.ProgrammingError("SELECT", {}, Exception("syntax error"))

    with pytest.raises(StoreError, match="syntax error") as info:
        db.with_retries(work, "querying", attempts=3, backoff=0.001)
    assert not isinstance(info.value, DatabaseUnavailable)
    assert len(calls) == 1


def test_unreachable_postgres_is_reported_as_unavailable() -> None:
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    with pytest.raises(DatabaseUnavailable, match="127.0.0.1"):
        engine = db.make_engine("postgresql://nobody@127.0.0.1:1/none")
        try:
            db.with_retries(
                lambda: engine.connect().close(),
                f"connecting to {db.describe(engine)}",
                attempts=2,
                backoff=0.001,
            )
        finally:
            engine.dispose()


def test_run_transaction_rolls_back_a_failed_try(store_db) -> None:
    _, factory = store_db
    tries = []

    def work(session) -> int:
        session.add(SourceRow(id=f"s{len(tries)}", name="S"))
        session.flush()
        tries.append(1)
        if len(tries) == 1:
            raise _locked()
        return len(tries)

    assert db.run_transaction(factory, work, backoff=0.001) == 2
    with factory() as session:
        assert session.scalars(select(SourceRow.id)).all() == ["s1"]


def test_a_locked_sqlite_database_is_retried_then_reported(tmp_path, monkeypatch) -> None:
    import sqlite3

    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "locked.db"
    engine, factory = db.open_db(f"sqlite:///{path}")
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock

        def work(session) -> None:
            session.add(SourceRow(id="s", name="S"))
            session.flush()

        with pytest.raises(DatabaseUnavailable, match="after 2 tries: database is locked"):
            db.run_transaction(factory, work, attempts=2, backoff=0.01, where="storing s")
        blocker.execute("ROLLBACK")
        db.run_transaction(factory, work)  # once the lock is gone, the work goes through
        with factory() as session:
            assert session.scalars(select(SourceRow.id)).all() == ["s"]
    finally:
        blocker.close()
        engine.dispose()
