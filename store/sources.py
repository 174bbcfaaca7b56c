"""Synchronising the member registry (``sources.toml``) into the ``source`` table."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from store._sql import upsert_insert
from store.models import source_table
from store.registry_types import Source
from store.types import ensure_utc, utcnow

_t = source_table

_UPDATED_COLUMNS = (
    "name",
    "homepage",
    "feeds",
    "country",
    "region",
    "languages",
    "enabled",
    "allow_local",
    "verified",
    "timezone",
    "crawl_delay",
    "max_entries",
    "notes",
    "extra",
    "updated_at",
)


@dataclass(frozen=True)
class SyncResult:
    """Source ids :func:`sync_sources` added, changed and (``disable_missing``) disabled."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()


def _json_safe(value: Any) -> Any:
    """``value`` with TOML dates and other non-JSON values turned into strings."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


def _extra(source: Source) -> dict[str, Any]:
    extra = dict(source.extra)
    # Registry fields this table has no column for (listing rules, full-text flag...).
    for name in ("listing", "fulltext"):
        value = getattr(source, name, None)
        if value not in (None, False):
            extra.setdefault(name, value)
    return _json_safe(extra)


def _values(source: Source, now: datetime) -> dict[str, Any]:
    return {
        "id": source.id,
        "name": source.name,
        "homepage": source.homepage,
        "feeds": list(source.feeds),
        "country": source.country,
        "region": source.region,
        "languages": list(source.languages),
        "enabled": source.enabled,
        "allow_local": source.allow_local,
        "verified": source.verified,
        "timezone": source.timezone,
        "crawl_delay": source.crawl_delay,
        "max_entries": source.max_entries,
        "notes": source.notes,
        "extra": _extra(source),
        "created_at": now,
        "updated_at": now,
    }


def sync_sources(
    session: Session,
    sources: Iterable[Source],
    *,
    now: datetime | None = None,
    disable_missing: bool = False,
) -> SyncResult:
    """Insert or update one ``source`` row per registry entry. Does not commit.

    Rows are never deleted (articles keep their source); with ``disable_missing`` the sources no
    longer in ``sources`` are marked disabled — pass it only with the whole registry, not with a
    ``--only`` subset.
    """
    now = ensure_utc(now, "now") if now is not None else utcnow()
    wanted = {s.id: _values(s, now) for s in sources}
    current = {row["id"]: row for row in session.execute(select(_t)).mappings()}
    added = sorted(set(wanted) - set(current))
    changed = sorted(
        sid
        for sid, values in wanted.items()
        if sid in current
        and any(current[sid][c] != values[c] for c in _UPDATED_COLUMNS if c != "updated_at")
    )
    to_write = [wanted[sid] for sid in [*added, *changed]]
    if to_write:
        stmt = upsert_insert(session, _t)
        stmt = stmt.on_conflict_do_update(
            index_elements=["id"], set_={c: stmt.excluded[c] for c in _UPDATED_COLUMNS}
        )
        session.execute(stmt, to_write)
    disabled: list[str] = []
    if disable_missing:
        disabled = sorted(
            sid for sid, row in current.items() if sid not in wanted and row["enabled"]
        )
        if disabled:
            session.execute(
                update(_t).where(_t.c.id.in_(disabled)).values(enabled=False, updated_at=now)
            )
    return SyncResult(tuple(added), tuple(changed), tuple(disabled))
