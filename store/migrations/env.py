"""Alembic environment for the store's migrations.

Runs from code (``store.db.upgrade`` passes an open connection in ``config.attributes``) or from
the ``alembic`` command with ``store/alembic.ini`` (the URL then comes from ``sqlalchemy.url`` or
``ROUNDUP_DB``). SQLite cannot ``ALTER`` most things, so migrations run in batch mode there.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from store.db import default_db_url, make_engine
from store.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url") or default_db_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or default_db_url())
    try:
        with engine.begin() as conn:
            _configure(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
