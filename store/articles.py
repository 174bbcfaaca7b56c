"""Upserting normalised articles: one row per (source, GUID or URL), updated in place.

:func:`upsert_articles` is the store's hot path (every harvested entry passes through it), so it
works per batch: one ``SELECT`` for the keys the batch already has, one multi-row ``INSERT``, one
executemany ``UPDATE`` for what changed, one statement to touch what did not, then story assignment
for the new rows. It never commits: the caller commits the articles together with the feed's
fetch state, so stored validators (ETag) never run ahead of stored articles.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, bindparam, delete, func, select, tuple_, update
from sqlalchemy.orm import Session

from pipeline.items import Article
from store._sql import (
    chunked,
    dialect_name,
    driver_executemany,
    driver_insert_returning,
    ensure_sources,
    row_binder,
)
from store.models import article_country_table, article_table
from store.stories import Candidate, assign_candidates, refresh_stories, reindex_articles
from store.types import ensure_utc

Outcome = Literal["new", "updated", "unchanged", "duplicate"]
NEW: Outcome = "new"
UPDATED: Outcome = "updated"
UNCHANGED: Outcome = "unchanged"
#: An entry superseded by a later entry with the same key in the same batch (last one wins).
DUPLICATE: Outcome = "duplicate"

#: Keys longer than this are stored as a SHA-256 digest, so the unique index stays within
#: PostgreSQL's B-tree row limit whatever a feed puts in its GUIDs.
MAX_KEY_CHARS = 500

# Columns whose change makes an article "updated". feed_url and fetched_via are deliberately not
# here: an article listed in two feeds of one source must not flip-flop on every run.
_CONTENT_COLUMNS = (
    "url",
    "title",
    "text",
    "summary",
    "published",
    "date_flag",
    "raw_date",
    "language",
    "content_hash",
    "region",
    "topics",
)
# Columns the near-duplicate keys and the article's kind depend on (store.stories).
_INDEXED_COLUMNS = ("url", "title", "text", "published", "language")
_t = article_table
_ct = article_country_table


def article_key(guid: str | None, url: str) -> str:
    """The article's identity within its source: the GUID when given, else the canonical URL."""
    key = (guid or "").strip() or (url or "").strip()
    if not key:
        raise ValueError("an article needs a GUID or a URL")
    if len(key) > MAX_KEY_CHARS:
        return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()
    return key


def country_rows(
    countries: Sequence[str], country_weights: Mapping[str, float]
) -> list[tuple[str, float, bool]]:
    """``(country, weight, is_primary)`` rows: ``countries`` in order (first is primary), then
    any country only present in ``country_weights`` by decreasing weight."""
    weights = {c.strip().upper(): float(w) for c, w in country_weights.items()}
    extra = sorted(weights, key=lambda c: -weights[c])
    rows: list[tuple[str, float, bool]] = []
    seen: set[str] = set()
    for raw in [*countries, *extra]:
        code = raw.strip().upper()
        if len(code) != 2 or not code.isalpha() or code in seen:
            continue
        seen.add(code)
        rows.append((code, weights.get(code, 1.0), not rows))
    return rows


@dataclass
class _Entry:
    key: tuple[str, str]
    values: dict[str, Any]  # column values of the article table
    countries: list[tuple[str, float, bool]]
    #: ``store.similarity.PreparedKeys`` a feed worker attached to the article, if any.
    prepared: Any = None


#: The attribute (not a field: never stored, never compared) under which a feed worker hands the
#: store an article's precomputed near-duplicate payload (``scrapers.feedwork``).
PREPARED_ATTR = "prepared_keys"


def _prepare(article: Article) -> _Entry:
    values: dict[str, Any] = {
        "source_id": article.source_id,
        "guid": (article.guid or "").strip() or None,
        "guid_key": article_key(article.guid, article.url),
        "url": article.url,
        "title": article.title or "",
        "text": article.text or "",
        "summary": article.summary or "",
        "published": ensure_utc(
            article.published, f"{article.source_id}: {article.url}: published"
        ),
        "date_flag": article.date_flag,
        "raw_date": article.raw_date,
        "language": article.language,
        "content_hash": article.content_hash,
        "region": article.region,
        "topics": list(article.topics),
        "feed_url": article.feed_url,
        "fetched_via": article.fetched_via or "feed",
    }
    return _Entry((article.source_id, values["guid_key"]), values,
                  country_rows(article.countries, article.country_weights),
                  getattr(article, PREPARED_ATTR, None))


#: The columns :func:`_prepare` fills, then the three a new row gets ``now`` in.
_VALUE_COLUMNS = (
    "source_id", "guid", "guid_key", "url", "title", "text", "summary", "published", "date_flag",
    "raw_date", "language", "content_hash", "region", "topics", "feed_url", "fetched_via",
)
_INSERT_COLUMNS = (*_VALUE_COLUMNS, "first_seen", "last_seen", "updated_at")

_EXISTING_COLUMNS = (_t.c.id, _t.c.source_id, _t.c.guid_key, _t.c.story_id) + tuple(
    _t.c[name] for name in _CONTENT_COLUMNS
)


# The rows of a batch's keys already stored, on SQLite (see _load_existing), built once: the
# statement and its cache key cost more to build on every batch than its execution.
_PAIRS = func.json_each(bindparam("keys")).table_valued("value")
_EXISTING_SQLITE = select(*_EXISTING_COLUMNS).select_from(_PAIRS).join(
    _t,
    and_(
        _t.c.source_id == func.json_extract(_PAIRS.c.value, "$[0]"),
        _t.c.guid_key == func.json_extract(_PAIRS.c.value, "$[1]"),
    ),
)


def _load_existing(
    session: Session, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    if dialect_name(session) == "sqlite":
        # SQLite runs "(source_id, guid_key) IN (…)" as a scan of the whole unique index, whose
        # cost grows with the table; a join from the keys (a JSON array) probes it once per key.
        for part in chunked(keys, 5000):
            for row in session.execute(_EXISTING_SQLITE, {"keys": json.dumps(part)}).mappings():
                found[(row["source_id"], row["guid_key"])] = dict(row)
        return found
    for part in chunked(keys, 400):
        stmt = select(*_EXISTING_COLUMNS).where(tuple_(_t.c.source_id, _t.c.guid_key).in_(part))
        for row in session.execute(stmt).mappings():
            found[(row["source_id"], row["guid_key"])] = dict(row)
    return found


def _load_countries(
    session: Session, article_ids: Sequence[int]
) -> dict[int, list[tuple[str, float, bool]]]:
    result: dict[int, list[tuple[str, float, bool]]] = {i: [] for i in article_ids}
    for part in chunked(article_ids):
        stmt = (
            select(_ct.c.article_id, _ct.c.country, _ct.c.weight, _ct.c.is_primary)
            .where(_ct.c.article_id.in_(part))
            .order_by(_ct.c.article_id, _ct.c.is_primary.desc(), _ct.c.weight.desc())
        )
        for aid, country, weight, primary in session.execute(stmt):
            result[aid].append((country, weight, primary))
    return result


def _same_countries(
    stored: list[tuple[str, float, bool]], wanted: list[tuple[str, float, bool]]
) -> bool:
    def norm(rows: list[tuple[str, float, bool]]) -> set[tuple[str, float, bool]]:
        return {(c, round(w, 6), bool(p)) for c, w, p in rows}

    return norm(stored) == norm(wanted)


def _insert_new(
    session: Session, entries: Sequence[_Entry], now: datetime
) -> dict[tuple[str, str], int]:
    """Insert ``entries``; return the ids of those inserted. A key another writer inserted
    meanwhile is skipped by ``ON CONFLICT DO NOTHING`` and is absent from the result."""
    if not entries:
        return {}
    # The values bound as SQLAlchemy binds them (the same text, dates, JSON), then inserted by
    # the driver: ``now`` is bound once for the three columns of every row.
    bind = row_binder(session, _t, _VALUE_COLUMNS, lists=("topics",))
    stamps = row_binder(session, _t, _INSERT_COLUMNS[len(_VALUE_COLUMNS):])([now, now, now])
    rows = [bind([e.values[name] for name in _VALUE_COLUMNS]) + stamps for e in entries]
    back = driver_insert_returning(
        session, _t, _INSERT_COLUMNS, rows, conflict=("source_id", "guid_key"),
        returning=("id", "source_id", "guid_key"),
    )
    return {(sid, key): aid for aid, sid, key in back}


def _write_countries(
    session: Session, rows: Sequence[tuple[int, list[tuple[str, float, bool]]]], replace: bool
) -> None:
    if replace and rows:
        for part in chunked([aid for aid, _ in rows]):
            session.execute(delete(_ct).where(_ct.c.article_id.in_(part)))
    params = [(aid, c, w, p) for aid, countries in rows for c, w, p in countries]
    if params:
        # A string, a float and a bool a row: the driver binds them as SQLAlchemy's types would
        # (SQLite stores the bool as 1 or 0 either way).
        driver_executemany(
            session,
            "INSERT INTO article_country (article_id, country, weight, is_primary) "
            "VALUES ({p}, {p}, {p}, {p})",
            params,
        )


_UPDATE = (
    update(_t)
    .where(_t.c.id == bindparam("b_id"))
    .values(
        {name: bindparam(f"b_{name}") for name in _CONTENT_COLUMNS}
        | {"last_seen": bindparam("b_now"), "updated_at": bindparam("b_now")}
    )
)


def upsert_articles(session: Session, articles: Sequence[Article], now: datetime) -> list[str]:
    """Store ``articles`` and return, for each, ``"new"``, ``"updated"`` or ``"unchanged"``.

    * The key is ``(source_id, guid_key)`` (:func:`article_key`), enforced by a unique constraint.
    * Entries of the batch with the same key collapse into one article, the last one winning; the
      earlier ones are reported as ``"duplicate"``.
    * A changed title, text, summary, date (or tags) updates the row in place and keeps its story.
      An incoming date that the pipeline flagged as untrusted (first-seen time substituted) never
      replaces the stored one, or every re-harvest of an undated entry would move it.
    * An unchanged article only gets its ``last_seen`` moved, in one statement for the batch.
    * New articles join a story (``store.stories``); the stories of updated articles are refreshed.

    Runs inside the caller's transaction and does not commit.
    """
    now = ensure_utc(now, "now")
    if not articles:
        return []
    entries = [_prepare(a) for a in articles]
    winner: dict[tuple[str, str], int] = {}
    for index, entry in enumerate(entries):
        winner[entry.key] = index
    unique = [entries[i] for i in sorted(winner.values())]

    ensure_sources(session, [e.values["source_id"] for e in unique], now)
    existing = _load_existing(session, [e.key for e in unique])
    inserted = _insert_new(session, [e for e in unique if e.key not in existing], now)
    raced = [e.key for e in unique if e.key not in existing and e.key not in inserted]
    if raced:  # another writer inserted these between our SELECT and INSERT: update them instead
        existing.update(_load_existing(session, raced))

    outcome: dict[tuple[str, str], Outcome] = {}
    stored_countries = _load_countries(
        session, [existing[e.key]["id"] for e in unique if e.key in existing]
    )
    updates: list[dict[str, Any]] = []
    country_changes: list[tuple[int, list[tuple[str, float, bool]]]] = []
    unchanged_ids: list[int] = []
    touched_stories: set[int] = set()
    reindex: list[int] = []  # kept their story, but their text changed: new band rows
    candidates: list[Candidate] = []

    for entry in unique:
        if entry.key in inserted:
            outcome[entry.key] = NEW
            continue
        row = existing[entry.key]
        values = entry.values
        if values["date_flag"] is not None:
            values = {**values, **{k: row[k] for k in ("published", "date_flag", "raw_date")}}
        content_same = all(values[name] == row[name] for name in _CONTENT_COLUMNS)
        countries_same = _same_countries(stored_countries[row["id"]], entry.countries)
        if content_same and countries_same:
            outcome[entry.key] = UNCHANGED
            unchanged_ids.append(row["id"])
        else:
            outcome[entry.key] = UPDATED
            updates.append(
                {f"b_{name}": values[name] for name in _CONTENT_COLUMNS}
                | {"b_id": row["id"], "b_now": now}
            )
            if not countries_same:
                country_changes.append((row["id"], entry.countries))
            if row["story_id"] is not None:
                touched_stories.add(row["story_id"])
                if any(values[k] != row[k] for k in _INDEXED_COLUMNS):
                    reindex.append(row["id"])
        if row["story_id"] is None:
            candidates.append(_candidate(row["id"], values, entry.countries, entry.prepared))

    if updates:
        session.execute(_UPDATE, updates)
    for part in chunked(unchanged_ids):
        session.execute(update(_t).where(_t.c.id.in_(part)).values(last_seen=now))
    _write_countries(session, country_changes, replace=True)
    _write_countries(
        session, [(inserted[e.key], e.countries) for e in unique if e.key in inserted], False
    )

    candidates.extend(
        _candidate(inserted[e.key], e.values, e.countries, e.prepared)
        for e in unique if e.key in inserted
    )
    reindex_articles(session, reindex)
    assigned = assign_candidates(session, candidates, now=now)
    refresh_stories(session, touched_stories - set(assigned.values()), now=now)

    last_index = set(winner.values())
    return [outcome[e.key] if i in last_index else DUPLICATE for i, e in enumerate(entries)]


def _candidate(
    article_id: int,
    values: dict[str, Any],
    countries: list[tuple[str, float, bool]],
    prepared: Any = None,
) -> Candidate:
    """What story assignment needs, the article's countries (as just written) included."""
    return Candidate(
        id=article_id,
        source_id=values["source_id"],
        url=values["url"],
        content_hash=values["content_hash"],
        text_len=len(values["text"].strip()),
        published=values["published"],
        title=values["title"],
        text=values["text"],
        language=values["language"],
        region=values["region"],
        topics=tuple(values["topics"]),
        countries=tuple(countries),
        prepared=prepared,
    )
