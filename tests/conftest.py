"""Shared pytest fixtures. Each block says which tests use it."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

# --- every test ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _close_engines(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Dispose every store engine a test created. Spiders and middlewares close their store when
    their crawl closes; tests that call their callbacks by hand never close a crawl, and the
    connections would be left to the garbage collector (a ResourceWarning on Python 3.13,
    which this suite turns into an error in whichever test happens to collect them)."""
    import store.db

    created: list[Any] = []
    make_engine = store.db.make_engine

    def tracked(*args: Any, **kwargs: Any) -> Any:
        engine = make_engine(*args, **kwargs)
        created.append(engine)
        return engine

    monkeypatch.setattr(store.db, "make_engine", tracked)
    yield
    for engine in created:
        engine.dispose()


# --- store (tests/test_store_*.py) -------------------------------------------------------------
# Every store test runs twice: on a fresh SQLite file and on a fresh PostgreSQL schema of its own
# (dropped afterwards), so parallel or repeated runs never see each other's rows.

STORE_PG_URL = os.environ.get(
    "ROUNDUP_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _pg_admin() -> Any:
    import psycopg

    conninfo = STORE_PG_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        return psycopg.connect(conninfo, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as e:
        pytest.skip(f"PostgreSQL at {conninfo} does not answer: {e}")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A database URL with nothing in it: a tmp SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    schema = f"roundup_test_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{STORE_PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def store_db(store_url: str) -> Iterator[tuple[Any, Any]]:
    """``(engine, sessionmaker)`` for a migrated, empty database."""
    from store.db import open_db

    engine, factory = open_db(store_url)
    try:
        yield engine, factory
    finally:
        engine.dispose()


@pytest.fixture
def store_session(store_db: tuple[Any, Any]) -> Iterator[Any]:
    """A session on a migrated, empty database (the test commits when it needs to)."""
    with store_db[1]() as session:
        yield session


@pytest.fixture
def store_make_article() -> Callable[..., Any]:
    """Build a ``pipeline.items.Article`` with sensible defaults; keywords override fields."""
    from pipeline.items import Article

    def make(**fields: Any) -> Article:
        source_id = fields.pop("source_id", "mfwa")
        guid = fields.pop("guid", None)
        url = fields.pop("url", f"https://{source_id}.example.org/{guid or 'report'}")
        text = fields.pop("text", f"Full text of {url}. " * 8)
        defaults: dict[str, Any] = {
            "title": f"Report {guid or url}",
            "summary": text[:100],
            "published": datetime(2024, 1, 15, 9, 30, tzinfo=UTC),
            "date_flag": None,
            "raw_date": "Mon, 15 Jan 2024 09:30:00 GMT",
            "language": "en",
            "content_hash": hashlib.sha256(text.encode()).hexdigest(),
            "countries": ["GH"],
            "region": "africa",
            "topics": ["journalists"],
            "feed_url": f"https://{source_id}.example.org/feed/",
        }
        defaults.update(fields)
        return Article(source_id=source_id, guid=guid, url=url, text=text, **defaults)

    return make


# --- harvests served from 127.0.0.1 (test_harvest, test_bad_inputs, test_listing, test_safety) --


@pytest.fixture
def server() -> Iterator[Any]:
    """A raw HTTP server on 127.0.0.1 (tests/feedserver.py) that records every request."""
    from tests.feedserver import FeedServer

    srv = FeedServer()
    yield srv
    srv.close()


@pytest.fixture
def db(tmp_path: Any) -> str:
    """A SQLite database URL in the test's own folder (created by the first harvest)."""
    return f"sqlite:///{tmp_path / 'roundup.db'}"
