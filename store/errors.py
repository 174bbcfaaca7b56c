"""Errors the store raises.

Driver and SQLAlchemy errors are translated at the boundary (``store.db``) so that callers catch
one small hierarchy and show a message an operator can act on::

    StoreError                 anything the store refuses or cannot do
    ├── DatabaseURLError       the --db / ROUNDUP_DB URL is malformed or unsupported
    ├── DatabaseUnavailable    locked or unreachable, still so after the bounded retries
    ├── MigrationError         the schema could not be brought to the code's revision
    └── IntegrityViolation     a write broke a constraint of the schema (a bug, not bad web input)

Naive datetimes are refused with :class:`NaiveDatetimeError` (a ``ValueError``), since passing one
is a programming error rather than a database condition.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every error the store raises on purpose."""


class DatabaseURLError(StoreError):
    """The database URL is malformed or names a database the store does not support."""


class DatabaseUnavailable(StoreError):
    """The database is locked or unreachable and stayed so through the bounded retries."""


class MigrationError(StoreError):
    """The schema could not be migrated, or the database is newer than this code."""


class IntegrityViolation(StoreError):
    """A write violated a constraint (unique key, foreign key, check) of the schema."""


class NaiveDatetimeError(ValueError):
    """A datetime without a time zone was given where the store needs an aware one."""
