"""Editors' decisions per story and round-up (include / exclude / pin, edited headline, note).

A round-up is named ``REGION/PERIOD``: ``africa/2024-01`` for a month, ``africa/2024-01..2024-02``
for whole months, ``africa/2024-W05`` for an ISO week, ``africa/2024-01-08..2024-01-21`` for days.
Decisions are keyed by ``(story_id, roundup)``; they survive re-harvests (articles are updated in
place, stories keep their ids) and story merges (``store.stories.merge_stories`` moves them).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from store._sql import upsert_insert
from store.models import DECISIONS, REGIONS, Curation, curation_table
from store.types import ensure_utc, utcnow

_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_DAY = re.compile(r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])")
_WEEK = re.compile(r"\d{4}-W(0[1-9]|[1-4]\d|5[0-3])")


def _valid_period(label: str) -> bool:
    if _MONTH.fullmatch(label) or _WEEK.fullmatch(label):
        return True
    first, sep, last = label.partition("..")
    return bool(sep) and any(p.fullmatch(first) and p.fullmatch(last) for p in (_MONTH, _DAY))


def roundup_key(region: str, month: str) -> str:
    """The key of one round-up, e.g. ``roundup_key("africa", "2024-01") == "africa/2024-01"``.

    ``month`` is a month (``YYYY-MM``) or another period label (see the module docstring).
    """
    if region not in REGIONS:
        raise ValueError(f"unknown region {region!r}; expected one of {', '.join(REGIONS)}")
    if not _valid_period(month):
        raise ValueError(f"period {month!r} is not YYYY-MM, YYYY-Www or FIRST..LAST")
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


def update_curation(
    session: Session,
    story_id: int,
    roundup: str,
    *,
    now: datetime | None = None,
    **changes: str | int | None,
) -> Curation:
    """Change some fields of a decision, keeping the others (a new one defaults to include).

    ``changes`` are among ``decision``, ``headline``, ``summary``, ``note``, ``position``; an
    empty string clears a text field. Does not commit.
    """
    unknown = set(changes) - {"decision", "headline", "summary", "note", "position"}
    if unknown:
        raise TypeError(f"unknown curation field(s): {', '.join(sorted(unknown))}")
    current = session.scalars(
        select(Curation).where(Curation.story_id == story_id, Curation.roundup == roundup)
    ).one_or_none()
    fields: dict[str, Any] = {
        "decision": current.decision if current else "include",
        "headline": current.headline if current else None,
        "summary": current.summary if current else None,
        "note": current.note if current else None,
        "position": current.position if current else None,
    }
    for name, value in changes.items():
        fields[name] = None if value == "" else value
    return set_curation(session, story_id, roundup, now=now, **fields)


def clear_curation(session: Session, story_id: int, roundup: str) -> bool:
    """Forget the decision for ``story_id`` in ``roundup``; True if there was one. No commit."""
    result = session.execute(
        delete(Curation).where(Curation.story_id == story_id, Curation.roundup == roundup)
    )
    return bool(getattr(result, "rowcount", 0))
