"""Editors' decisions per story and round-up (include / exclude / pin, edited headline, note)."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from store._sql import upsert_insert
from store.models import DECISIONS, REGIONS, Curation, curation_table
from store.types import ensure_utc, utcnow

_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def roundup_key(region: str, month: str) -> str:
    """The key of one round-up, e.g. ``roundup_key("africa", "2024-01") == "africa/2024-01"``."""
    if region not in REGIONS:
        raise ValueError(f"unknown region {region!r}; expected one of {', '.join(REGIONS)}")
    if not _MONTH.fullmatch(month):
        raise ValueError(f"month {month!r} is not YYYY-MM")
    return f"{region}/{month}"


def set_curation(
    session: Session,
    story_id: int,
    roundup: str,
    *,
    decision: str,
    headline: str | None = None,
    summary: str | None = None,
    note: str | None = None,
    position: int | None = None,
    now: datetime | None = None,
) -> Curation:
    """Create or replace the editor's decision for ``story_id`` in ``roundup``. Does not commit."""
    if decision not in DECISIONS:
        raise ValueError(f"decision {decision!r} is not one of {', '.join(DECISIONS)}")
    now = ensure_utc(now, "now") if now is not None else utcnow()
    values = {
        "decision": decision,
        "headline": headline,
        "summary": summary,
        "note": note,
        "position": position,
        "updated_at": now,
    }
    stmt = upsert_insert(session, curation_table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["story_id", "roundup"], set_={k: stmt.excluded[k] for k in values}
    )
    session.execute(stmt, {"story_id": story_id, "roundup": roundup, "created_at": now, **values})
    curation = session.scalars(
        select(Curation).where(Curation.story_id == story_id, Curation.roundup == roundup)
    ).one()
    session.refresh(curation)
    return curation


def curations_for(session: Session, roundup: str) -> dict[int, Curation]:
    """The decisions taken for ``roundup``, by story id."""
    rows = session.scalars(select(Curation).where(Curation.roundup == roundup))
    return {c.story_id: c for c in rows}
