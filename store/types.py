"""Column types shared by every table.

Every timestamp in the store is an aware datetime in UTC. :class:`UTCDateTime` enforces that at the
boundary in both directions: a naive value is refused when written (the caller must say what zone
it meant), an aware one is converted to UTC, and what comes back is aware UTC on every backend —
SQLite keeps no zone, so values are written there as naive UTC and given ``tzinfo=UTC`` on the way
out; PostgreSQL uses ``timestamptz``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import mapped_column
from sqlalchemy.types import TypeDecorator

from store.errors import NaiveDatetimeError


def ensure_utc(value: datetime, what: str = "datetime") -> datetime:
    """Return ``value`` converted to UTC; refuse a naive datetime with a clear error."""
    if not isinstance(value, datetime):
        raise TypeError(f"{what}: expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(
            f"{what}: naive datetime {value.isoformat()} refused; the store keeps aware UTC "
            "datetimes only (attach a time zone, e.g. value.replace(tzinfo=UTC))"
        )
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp, stored and returned in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = ensure_utc(value)
        if dialect.name == "sqlite":
            # SQLite's DATETIME storage drops the offset; store naive UTC consistently.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: The annotated form used in ``Mapped[...]`` declarations: ``published: Mapped[UTCTimestamp]``.
UTCTimestamp = Annotated[datetime, mapped_column(UTCDateTime())]


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)
