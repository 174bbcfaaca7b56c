"""Grouping articles into stories, and keeping each story's derived fields up to date.

A new article joins the story of the first deduplication level that recognises it, cheapest first
(see DESIGN.md); when none does it starts a story of its own:

1. same (source, GUID/URL) → same article row: handled by ``store.articles`` before this module;
2. :class:`SameUrl` — the same canonical URL already stored by *another* source (within one source
   the same URL under two GUIDs is left alone: some feeds link every entry to one page);
3. :class:`SameText` — the same normalised-text hash, for texts long enough that equal hashes
   mean the same report rather than the same boilerplate;
4. :class:`NearDuplicate` — near-duplicate text, feed teasers and translations: MinHash band keys
   (``article_keys``, looked up in arrays each process keeps) for the whole batch at once, decided by
   :meth:`store.similarity.NearDupMatcher.same_story` (see docs/dedup.md).

Each level is a :class:`MatchLevel` with one query per batch (``prepare``), so a batch of 50 new
articles costs a handful of statements whatever the number of levels. A level also says why it
placed an article (``reason``, stored in ``article.match_reason``) and which other stories the
article bridges (``bridges``: those are merged, editors' curation kept).

Two writers assigning the same new report at the same instant (distributed runs) can each found a
story; nothing is lost, and :func:`merge_stories` joins the two.

Story fields are *derived* from the articles by :func:`refresh_stories`: representative = the
originating member's earliest article when another member's copy credits it ("first published by
MFWA"), else the earliest article; ``published`` = the earliest date; region = the most common
non-null article region; countries and topics = the union (most frequent first); ``source_count``
= distinct sources; ``kind`` = joint-statement when any copy is one, else the representative's
(:func:`store.signatories.classify_kind`); ``signatories`` for joint statements.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import (
    BigInteger,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal_column,
    null,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from store._sql import (
    chunked,
    dialect_name,
    driver_executemany,
    driver_insert_returning,
    driver_rows,
    driver_rows_in,
    result_processors,
    row_binder,
    upsert_insert,
)
from store.models import (
    ArticleRow,
    Curation,
    StoryRow,
    article_country_table,
    article_keys_table,
    article_table,
    source_boilerplate_table,
    source_table,
    story_table,
)
from store.signatories import classify_kind, extract_signatories, match_signatories
from store.similarity import (
    BoilerplateLearner,
    Decision,
    Doc,
    KeyArrays,
    NearDupMatcher,
    batch_key_arrays,
    index_keys,
    pack_features,
    prepared_for,
    prime_prepared,
)
from store.types import ensure_utc, utcnow

#: Below this many characters of text, equal content hashes are not trusted to mean the same
#: report (summary-only feeds, "Read more…" stubs, empty bodies all hash alike).
MIN_TEXT_FOR_HASH = 80

_a = article_table
_s = story_table
_ac = article_country_table


class Candidate(NamedTuple):
    """What the levels need to know about an article waiting for a story."""

    id: int
    source_id: str
    url: str
    content_hash: str
    text_len: int
    published: datetime
    title: str = ""
    text: str = ""
    language: str | None = None
    # What a new story needs besides the above, when the caller has it at hand (upsert_articles):
    # with it, a story made of this batch's articles only is inserted complete, without reading
    # its articles back (refresh_stories). ``countries``: (code, weight, is_primary) rows.
    region: str | None = None
    topics: tuple[str, ...] = ()
    countries: tuple[tuple[str, float, bool], ...] | None = None
    #: What a feed worker computed ahead for the near-duplicate level (``PreparedKeys``), if
    #: anything; used only when made from this very text (see ``_make_doc``).
    prepared: Any = None


class MatchLevel:
    """One deduplication level.

    ``prepare`` loads, in as few queries as possible, what the database already knows about the
    batch; ``find`` returns the story a candidate belongs to, or None; ``add`` records an
    assignment so that later candidates of the same batch match it too. Story ids handed to
    ``add`` may be negative placeholders for stories not inserted yet.
    """

    name = "level"

    def prepare(self, session: Session, batch: Sequence[Candidate]) -> None:
        raise NotImplementedError

    def find(self, candidate: Candidate) -> int | None:
        raise NotImplementedError

    def add(self, candidate: Candidate, story_id: int) -> None:
        raise NotImplementedError

    def reason(self, candidate: Candidate) -> str:
        """Why ``find`` placed ``candidate`` where it did (stored in ``article.match_reason``)."""
        return f"matched by the {self.name} level"

    def bridges(self, candidate: Candidate) -> list[int]:
        """Other stories ``candidate`` also belongs to: the caller merges them into its story."""
        return []

    def finish(self, session: Session, story_of: dict[int, int]) -> None:
        """After the batch is assigned (``story_of``: article id → final story id)."""


class SameUrl(MatchLevel):
    """Same canonical URL from another source."""

    name = "url"

    def __init__(self) -> None:
        self._by_url: dict[str, list[tuple[str, int, int]]] = {}
        self._why: dict[int, int] = {}

    def prepare(self, session: Session, batch: Sequence[Candidate]) -> None:
        urls = sorted({c.url for c in batch})
        for url, source_id, story_id, article_id in driver_rows_in(session, _BY_URL, urls):
            self._by_url.setdefault(url, []).append((source_id, story_id, article_id))

    def find(self, candidate: Candidate) -> int | None:
        for source_id, story_id, article_id in self._by_url.get(candidate.url, ()):
            if source_id != candidate.source_id:
                self._why[candidate.id] = article_id
                return story_id
        return None

    def add(self, candidate: Candidate, story_id: int) -> None:
        self._by_url.setdefault(candidate.url, []).append(
            (candidate.source_id, story_id, candidate.id)
        )

    def reason(self, candidate: Candidate) -> str:
        return f"same canonical URL as article {self._why.get(candidate.id, '?')}"


class SameText(MatchLevel):
    """Same normalised-text hash, for texts of at least :data:`MIN_TEXT_FOR_HASH` characters."""

    name = "content_hash"

    def __init__(self) -> None:
        self._by_hash: dict[str, tuple[int, int]] = {}

    @staticmethod
    def _eligible(candidate: Candidate) -> bool:
        return bool(candidate.content_hash) and candidate.text_len >= MIN_TEXT_FOR_HASH

    def prepare(self, session: Session, batch: Sequence[Candidate]) -> None:
        hashes = sorted({c.content_hash for c in batch if self._eligible(c)})
        for content_hash, story_id, article_id in driver_rows_in(session, _BY_HASH, hashes):
            self._by_hash.setdefault(content_hash, (story_id, article_id))

    def find(self, candidate: Candidate) -> int | None:
        if not self._eligible(candidate):
            return None
        hit = self._by_hash.get(candidate.content_hash)
        return hit[0] if hit else None

    def add(self, candidate: Candidate, story_id: int) -> None:
        if self._eligible(candidate):
            self._by_hash.setdefault(candidate.content_hash, (story_id, candidate.id))

    def reason(self, candidate: Candidate) -> str:
        hit = self._by_hash.get(candidate.content_hash)
        return f"same text hash as article {hit[1] if hit else '?'}"


# --------------------------------------------------------------------------------------------
# Near-duplicates: MinHash band keys in article_keys
# --------------------------------------------------------------------------------------------

#: Candidates are looked up among articles published this many days either side of the new one
#: (docs/dedup.md): the lists stay short however large the table grows.
WINDOW_DAYS = 60
#: Width of an ``article_keys`` date bucket: an article's window touches at most three, and a
#: process keeps the keys of the buckets it works in (:class:`_KeyCache`).
BUCKET_DAYS = 60
#: Date buckets whose keys a process keeps per database (the least recently used is dropped): at
#: 250 articles a day, a bucket holds ~15,000 articles and ~930,000 keys, ~12 MB of arrays and
#: 2 MB of bits (_Bucket).
KEY_CACHE_BUCKETS = 6
#: Sorted runs a cached bucket holds (one per refresh that found rows) before they are merged.
KEY_CACHE_RUNS = 8
#: Bits of a cached bucket's bit array per key it holds (at least; a power of two in all): with
#: 16, a probe absent from the bucket passes the bit test 1 time in 17.
_BITS_PER_KEY = 16
#: Stored candidates examined per new article (most shared band keys first); the same again among
#: the articles of the batch itself.
MAX_CANDIDATES = 8
#: Recently decided articles kept (as :class:`Doc`, features computed) per process and database.
DOC_CACHE_SIZE = 20_000
#: A band key held by articles of more than this many different stories in the window is a "stop
#: key", like a stop word: a stock phrase or template sentence whose MinHash minima many unrelated
#: reports share. It says nothing about which story a new article belongs to, and it would fill
#: the candidate lists with noise, so it is not counted (docs/dedup.md). Copies of one story, however
#: many (a joint statement co-published by a hundred members), stay one story: their keys count.
STOP_KEY_STORIES = 24

_k = article_keys_table
_src = source_table
_MATCHER = NearDupMatcher()

# The store's per-batch statements, built once: building a statement and its cache key on
# every call cost more than SQLAlchemy's execution of the cached compiled form (py-spy on
# bench/harvest.py's corpus: ~4% of the store's samples). "ids" is an expanding IN, the same
# SQL as ``in_(list)``.
_IDS = bindparam("ids", expanding=True)
# The first two levels' lookups: text and integers, read through the driver
# (store._sql.driver_rows_in), whose rows SQLAlchemy's expanding IN and result handling only
# copied, a few hundred parameters a batch each.
_BY_URL = (
    "SELECT url, source_id, story_id, id FROM article "
    "WHERE url IN {ids} AND story_id IS NOT NULL ORDER BY story_id"
)
_BY_HASH = (
    "SELECT content_hash, story_id, id FROM article "
    "WHERE content_hash IN {ids} AND story_id IS NOT NULL ORDER BY story_id, id"
)
# Keys rows of one bucket written after ``after`` and before ``before`` (see _KeyCache).
# Integers and bytes, read through the driver (store._sql.driver_rows), as for the keys
# written by _write_keys: SQLAlchemy's result handling only copied them, a statement per bucket
# and batch.
_KEYS_SINCE = (
    "SELECT article_id, seq, hashes, bands FROM article_keys "
    "WHERE bucket = {p} AND seq > {p} AND seq < {p}"
)
_LAST_SEQ = "SELECT max(seq) FROM article_keys"
#: PostgreSQL advisory lock a transaction holds from numbering its keys rows to its commit, so
#: that keys are numbered in commit order ("rndkeys" in ASCII; the migration lock is "roundup").
_KEYS_LOCK_KEY = int.from_bytes(b"rndkeys", "big")
# The last articles (with a story) of one source, for _warm: the n-th term of a UNION ALL of
# one per source (``{p}`` marks the source and the limit).
_RECENT = (
    "SELECT * FROM (SELECT source_id, id, title, text FROM article "
    "WHERE source_id = {p} AND story_id IS NOT NULL ORDER BY id DESC LIMIT {p}) AS recent{n}"
)
#: Sources per _warm statement (SQLite allows 500 terms in a compound SELECT).
_RECENT_SOURCES = 100
# Integers and text, read through the driver (store._sql.driver_rows_in).
_STAMPS = "SELECT id, content_hash, url, title FROM article WHERE id IN {ids}"
_DOC_ROWS = select(
    _a.c.id, _a.c.source_id, _a.c.title, _a.c.text, _a.c.language, _a.c.url, _a.c.published,
    _a.c.content_hash,
).where(_a.c.id.in_(_IDS))
# What refresh_stories reads and writes, through the driver (the statements SQLAlchemy built
# from the tables before; dates and JSON go through the columns' own processors).
_STORY_ARTICLES = (
    "SELECT id, story_id, source_id, published, region, topics, kind, credited_source_id "
    "FROM article WHERE story_id IN {ids} ORDER BY published, id"
)
_STORY_COUNTRIES = (
    "SELECT article_country.article_id, article_country.country, article_country.is_primary "
    "FROM article_country JOIN article ON article.id = article_country.article_id "
    "WHERE article.story_id IN {ids} "
    "ORDER BY article_country.article_id, article_country.is_primary DESC, "
    "article_country.weight DESC"
)


# What _stored_candidates reads of the candidate articles (see there), built once: the
# statement and its cache key cost more to build on every batch than the rest of its execution
# by SQLAlchemy. ``published`` is NULL for an article within the inner window.
_CAND_PUBLISHED: Any = case(
    (and_(_a.c.published >= bindparam("inner_lo"), _a.c.published <= bindparam("inner_hi")),
     null()),
    else_=_a.c.published,
)
_CAND_WHERE = (
    _a.c.story_id.is_not(None), _a.c.published >= bindparam("lo"),
    _a.c.published <= bindparam("hi"),
)
_CANDIDATES_PG = (
    select(_a.c.id, _a.c.story_id, _k.c.seq, _CAND_PUBLISHED)
    .join(_k, _k.c.article_id == _a.c.id)
    .where(_a.c.id == func.any(bindparam("cand_ids", type_=ARRAY(BigInteger))), *_CAND_WHERE)
)
_CANDIDATES_SQLITE = (
    select(func.count(), func.group_concat(_a.c.id), func.group_concat(_a.c.story_id),
           func.group_concat(_k.c.seq),
           func.group_concat(func.coalesce(_CAND_PUBLISHED, literal_column("''"))))
    .select_from(_a)
    .join(_k, _k.c.article_id == _a.c.id)
    .where(
        _a.c.id.in_(
            select(literal_column("value"))
            .select_from(func.json_each(bindparam("cand_ids")))
            .scalar_subquery()
        ),
        *_CAND_WHERE,
    )
)


def band_bucket(published: datetime) -> int:
    """The ``article_keys.bucket`` of an article published at ``published``."""
    return int(published.timestamp() // 86400) // BUCKET_DAYS


def _buckets(published: datetime) -> list[int]:
    day = int(published.timestamp() // 86400)
    lo, hi = (day - WINDOW_DAYS) // BUCKET_DAYS, (day + WINDOW_DAYS) // BUCKET_DAYS
    return list(range(lo, hi + 1))


#: Doc attributes a cached Doc drops (see _DbState.put_doc): those only the band keys need, and
#: the name features as sets (kept packed in one string instead).
_NOT_CACHED = ("lead_signature", "feature_signature", "lead_words", "neutral", "token_set",
               "features")


class _DbState:
    """What one process remembers about one database between batches.

    * ``learner``: each source's boilerplate (:class:`BoilerplateLearner`), warmed from the
      source's last 100 stored articles the first time the process meets the source, then kept
      up to date by every article it stores. Nothing is persisted: a new process relearns from
      the articles, which are the truth (see docs/dedup.md, "Boilerplate in the store").
    * ``docs``: the :class:`Doc` of recently stored articles, so that candidates found by the band
      lookup are not re-normalised and re-hashed; an entry is used only while the article's
      content hash, URL and title are unchanged.
    * ``keys``: the stored band keys of the date buckets the process works in
      (:class:`_KeyCache`).
    * ``hinted``: each warm source's boilerplate as its ``source_boilerplate`` row holds it (as
      far as this process knows: a rolled-back write is not undone here, which only delays the
      hint until the boilerplate changes again).
    """

    def __init__(self) -> None:
        self.learner = BoilerplateLearner()
        self.warm: set[str] = set()
        self.hinted: dict[str, frozenset[str]] = {}
        #: New articles that came with a worker's payload: "used", or "recomputed" (their
        #: source's learnt boilerplate was not what the payload assumed).
        self.prepared: Counter[str] = Counter()
        self.docs: OrderedDict[int, tuple[tuple[str, str, str], Doc]] = OrderedDict()
        self.keys = _KeyCache()

    def get_doc(self, article_id: int, stamp: tuple[str, str, str]) -> Doc | None:
        hit = self.docs.get(article_id)
        if hit is None or hit[0] != stamp:
            return None
        self.docs.move_to_end(article_id)
        return hit[1]

    def put_doc(self, article_id: int, stamp: tuple[str, str, str], doc: Doc) -> None:
        # A cached Doc serves as a candidate, which the decision compares by its text signature
        # first: the index-time values (lead and feature signatures, the word and feature sets
        # they were made from) are dropped, and recomputed on use should a rule want them. The
        # name features, which the decisions read whenever they compare names and which cost
        # more to recompute than the rest of a comparison, are kept packed in one string
        # (pack_features). The cache lives for the whole run, and the garbage collector walks
        # every container it keeps at each full pass: what is left (strings, tuples of strings,
        # numbers, dates, the signature as a tuple) it stops tracking.
        features = doc.__dict__.get("features")
        for attr in _NOT_CACHED:
            doc.__dict__.pop(attr, None)
        if features is not None and "_features_packed" not in doc.__dict__:
            packed = pack_features(features)
            if packed is not None:
                doc.__dict__["_features_packed"] = packed
        self.docs[article_id] = (stamp, doc)
        self.docs.move_to_end(article_id)
        while len(self.docs) > DOC_CACHE_SIZE:
            self.docs.popitem(last=False)


_STATES: OrderedDict[str, _DbState] = OrderedDict()


def _state(session: Session) -> _DbState:
    url = session.get_bind().engine.url
    key = url.render_as_string(hide_password=True)
    state = _STATES.get(key)
    if state is None:
        state = _STATES[key] = _DbState()
        while len(_STATES) > 4:
            _STATES.popitem(last=False)
    _STATES.move_to_end(key)
    return state


def _warm(session: Session, state: _DbState, source_ids: Iterable[str]) -> None:
    """Feed the learner the last articles of sources this process has not met yet."""
    cold = sorted(set(source_ids) - state.warm)
    if not cold:
        return
    recent: dict[str, list[tuple[int, str, str]]] = {source_id: [] for source_id in cold}
    for part in chunked(cold, _RECENT_SOURCES):
        # Newest first through ix_article_source_recent, stopping after ``window`` rows, for
        # each source: one statement for the batch's new sources, where one each cost more in
        # SQLAlchemy's execution than in the lookup.
        sql = " UNION ALL ".join(_RECENT.format(n=i, p="{p}") for i in range(len(part)))
        params = [value for source_id in part for value in (source_id, state.learner.window)]
        for source_id, article_id, title, text in driver_rows(session, sql, params):
            recent[source_id].append((article_id, title, text))
    for source_id in cold:  # observed oldest first, as they were stored
        for _, title, text in sorted(recent[source_id]):
            state.learner.observe(source_id, text or "", title or "")
    state.hinted.update(stored_boilerplate_hints(session, cold))
    state.warm.update(cold)


def prepared_key_counts(session: Session) -> dict[str, int]:
    """How many new articles this process stored in the session's database came with keys a
    feed worker prepared: ``used``, or ``recomputed`` by the store (their source's learnt
    boilerplate was not what the worker assumed)."""
    counts = _state(session).prepared
    return {"used": counts["used"], "recomputed": counts["recomputed"]}


def stored_boilerplate_hints(
    session: Session, source_ids: Iterable[str]
) -> dict[str, frozenset[str]]:
    """The boilerplate hints the store last wrote (``source_boilerplate``) for ``source_ids``,
    by source: what a harvest tells the feed workers before its crawl."""
    t = source_boilerplate_table
    out: dict[str, frozenset[str]] = {}
    for part in chunked(sorted(set(source_ids))):
        stmt = select(t.c.source_id, t.c["keys"]).where(t.c.source_id.in_(part))
        for source_id, keys in session.execute(stmt):
            out[source_id] = frozenset(keys or ())
    return out


def _write_hints(session: Session, state: _DbState, source_ids: Iterable[str]) -> None:
    """Write the ``source_boilerplate`` row of each of ``source_ids`` whose learnt boilerplate
    differs from what the row holds."""
    rows = []
    for source_id in sorted(set(source_ids)):
        keys = state.learner.boilerplate_keys(source_id)
        if keys != state.hinted.get(source_id, frozenset()):
            rows.append({"source_id": source_id, "keys": sorted(keys), "updated_at": utcnow()})
            state.hinted[source_id] = keys
    if not rows:
        return
    stmt = upsert_insert(session, source_boilerplate_table)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["source_id"],
        set_={"keys": stmt.excluded["keys"], "updated_at": stmt.excluded.updated_at},
    ), rows)


def boilerplate_hints(session: Session, source_ids: Iterable[str]) -> dict[str, frozenset[str]]:
    """Each source's learnt boilerplate (its segment keys), as this process's learner holds it
    for the session's database, warmed from the stored articles for sources it has not met yet:
    what a process preparing keys ahead for new articles of those sources should assume
    (``store.similarity.prepare_keys``). A hint, not a rule: the store checks it again for each
    article (:meth:`BoilerplateLearner.clean_prepared`)."""
    state = _state(session)
    ids = sorted(set(source_ids))
    _warm(session, state, ids)
    return {sid: state.learner.boilerplate_keys(sid) for sid in ids}


def _stamp(content_hash: str, url: str, title: str) -> tuple[str, str, str]:
    return (content_hash or "", url or "", title or "")


def _make_doc(state: _DbState, row: Any, *, observe: bool) -> Doc:
    """The matcher's view of an article; ``row`` is a :class:`Candidate` or an article row (both
    have id, source_id, title, text, language, url and published).

    A new article prepared by a feed worker carries its boilerplate segments and signatures
    (``Candidate.prepared``, :class:`store.similarity.PreparedKeys`): when they were made from
    this very text, title and language, the learner observes the article from them, and unless
    one of its segments is the source's learnt boilerplate (then it is cleaned here, as without
    them) the Doc gets the worker's cleaned text and signatures: the same Doc, the same keys."""
    fields = {
        "title": row.title or "",
        "language": row.language,
        "url": row.url,
        "published": row.published,
        "source_id": row.source_id,
        "id": row.id,
    }
    prepared = getattr(row, "prepared", None) if observe else None
    if prepared is not None:
        prepared = prepared_for(prepared, row.text or "", row.title or "", row.language)
    if prepared is not None:
        cleaned = state.learner.clean_prepared(row.source_id, prepared)
        if cleaned is not None:
            state.prepared["used"] += 1
            doc = Doc.cleaned(cleaned, **fields)
            prime_prepared(doc, prepared)
            return doc
        state.prepared["recomputed"] += 1
        # Observed already: clean it here.
        return Doc.cleaned(
            state.learner.clean_words(row.source_id, row.text or "", row.title or "",
                                      observe=False),
            **fields,
        )
    cleaned = state.learner.clean_words(
        row.source_id, row.text or "", row.title or "", observe=observe
    )
    return Doc.cleaned(cleaned, **fields)


def _packed_keys(keys: Sequence[tuple[int, int]]) -> tuple[bytes, bytes]:
    """``(hashes, bands)`` of ``article_keys`` for ``(band, hash)`` keys."""
    bands = np.fromiter((b for b, _ in keys), dtype=np.uint8, count=len(keys))
    hashes = np.fromiter((h for _, h in keys), dtype="<i8", count=len(keys))
    return hashes.tobytes(), bands.tobytes()


def _keys_seq(session: Session) -> int:
    """The write number of this transaction's ``article_keys`` rows, taken once per transaction:
    greater than every stored one, and at least the current time in microseconds since 1970.

    On PostgreSQL the transaction first takes an advisory lock held until it ends, so that a
    number is never committed after a greater one (a process that has read the rows up to
    number n then never misses a row numbered n or less); on SQLite the transaction already
    holds the database's one write lock. The clock's part makes the numbers of a database
    created again under the same URL (a test, a demo run again in one process) greater than
    those a process read from the one before, so that its new rows are read, not skipped."""
    own = _own_seq(session)
    if own is not None:
        return own
    if dialect_name(session) == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_KEYS_LOCK_KEY)))
    last = int(driver_rows(session, _LAST_SEQ, ())[0][0] or 0)
    seq = max(last + 1, _micros(utcnow()))
    session.info["article_keys_seq"] = (session.get_transaction(), seq)
    return seq


def _own_seq(session: Session) -> int | None:
    """The write number this transaction gave its keys rows, if it wrote any."""
    mine = session.info.get("article_keys_seq")
    return int(mine[1]) if mine is not None and mine[0] is session.get_transaction() else None


def _write_keys(session: Session, rows: Iterable[tuple[int, int, bytes, bytes]]) -> None:
    """Write ``(article_id, bucket, hashes, bands)`` rows of ``article_keys`` (replacing an
    article's previous row), numbered with this transaction's :func:`_keys_seq`."""
    rows = list(rows)
    if not rows:
        return
    seq = _keys_seq(session)
    # Plain integers and bytes, which SQLAlchemy's per-row parameter processing only copied.
    driver_executemany(
        session,
        "INSERT INTO article_keys (article_id, bucket, seq, hashes, bands) "
        "VALUES ({p}, {p}, {p}, {p}, {p}) ON CONFLICT (article_id) DO UPDATE SET "
        "bucket = excluded.bucket, seq = excluded.seq, hashes = excluded.hashes, "
        "bands = excluded.bands",
        ((aid, bucket, seq, hashes, bands) for aid, bucket, hashes, bands in rows),
    )


def _unpack(rows: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(hash, band, article_id, seq)`` columns, one entry per key, of ``article_keys`` rows
    ``(article_id, seq, hashes, bands)``."""
    counts = np.fromiter((len(r[3]) for r in rows), dtype=np.int64, count=len(rows))
    hashes = np.frombuffer(b"".join(bytes(r[2]) for r in rows), dtype="<i8").astype(np.int64)
    bands = np.frombuffer(b"".join(bytes(r[3]) for r in rows), dtype=np.uint8).astype(np.int64)
    if hashes.size != bands.size:  # pragma: no cover - a row not written by _write_keys
        raise RuntimeError("article_keys: hashes and bands of different lengths")
    articles = np.repeat(np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)), counts)
    seqs = np.repeat(np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows)), counts)
    return hashes, bands, articles, seqs


class _Bucket:
    """One date bucket's keys as sorted runs of ``(hash, band, article_id, seq)`` columns, and
    the greatest write number read into them.

    A bit array over all its hashes (one bit per hash, at least :data:`_BITS_PER_KEY` bits per
    key: the low bits of a hash, which are uniformly mixed, pick its bit) lets :meth:`find`
    search the runs only for the probes that may be there: most of a batch's keys are in no
    stored article, and one bit test costs far less than a binary search in each run. A probe
    whose bit is clear is in no run; one whose bit is set is searched as before, so the answer
    is the same."""

    __slots__ = ("seq", "runs", "bits", "count")

    def __init__(self) -> None:
        self.seq = 0
        self.runs: list[tuple[np.ndarray, ...]] = []
        self.bits = np.zeros(1 << 10, dtype=np.uint8)  # 8,192 bits; grows with the keys
        self.count = 0

    def add(self, columns: tuple[np.ndarray, ...]) -> None:
        if not columns[0].size:  # rows of articles without keys
            return
        # Not a stable sort: the order of the entries of one hash does not matter (every caller
        # counts pairs or collects sets), and numpy's default sort of int64 is several times
        # faster than its stable one (bench/harvest.py's corpus: ~0.4 against ~1.9 ms for a
        # batch's 12,000 keys).
        order = np.argsort(columns[0])
        self.runs.append(tuple(col[order] for col in columns))
        self.count += columns[0].size
        if self.count * _BITS_PER_KEY > self.bits.size * 8:
            size = self.bits.size
            while self.count * _BITS_PER_KEY > size * 8:
                size *= 2
            self.bits = np.zeros(size, dtype=np.uint8)
            for run in self.runs:
                self._set(run[0])
        else:
            self._set(self.runs[-1][0])
        if len(self.runs) > KEY_CACHE_RUNS:
            merged = [np.concatenate(cols) for cols in zip(*self.runs, strict=True)]
            order = np.argsort(merged[0])
            self.runs = [tuple(col[order] for col in merged)]

    def _set(self, hashes: np.ndarray) -> None:
        # ``ufunc.at``: every bit of a byte is OR-ed in (a fancy-indexed ``|=`` keeps one write
        # per byte).
        at = hashes & (self.bits.size * 8 - 1)
        np.bitwise_or.at(self.bits, at >> 3, np.left_shift(1, at & 7).astype(np.uint8))

    def maybe(self, probe: np.ndarray) -> np.ndarray:
        """The probes whose bit is set (every probe in a run among them), in order."""
        at = probe & (self.bits.size * 8 - 1)
        return probe[((self.bits[at >> 3] >> (at & 7).astype(np.uint8)) & 1).astype(bool)]

    def find(self, probe: np.ndarray) -> list[tuple[np.ndarray, ...]]:
        """The entries whose hash is in ``probe`` (sorted, distinct), per run."""
        found = []
        if not self.runs:
            return found
        probe = self.maybe(probe)
        for run in self.runs:
            keys = run[0]
            left = np.searchsorted(keys, probe, "left")
            hit = keys[np.minimum(left, keys.size - 1)] == probe
            if not hit.any():
                continue
            # The right ends only for the probes found (most are not): a second search of all.
            left = left[hit]
            count = np.searchsorted(keys, probe[hit], "right") - left
            at = np.repeat(left - (np.cumsum(count) - count), count) + np.arange(int(count.sum()))
            found.append(tuple(col[at] for col in run))
        return found


class _KeyCache:
    """The ``article_keys`` of the date buckets a process works in, per database, as sorted
    arrays: a batch's candidate lookup is a binary search per key instead of an index probe
    per key, and only rows written since the last lookup are read (``seq`` greater than the
    bucket's last). Rows numbered by the reading transaction itself are read but not kept
    (it may still roll back, and its number be used again).

    An entry whose row was rewritten since (the article's text changed: new keys, new number)
    or deleted is left in place: :func:`_stored_candidates` keeps only entries whose number is
    the article's current one. Shared by the process's writer threads (one lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.buckets: OrderedDict[int, _Bucket] = OrderedDict()

    def find(self, session: Session, buckets: Sequence[int],
             probe: np.ndarray) -> tuple[np.ndarray, ...]:
        """``(hash, band, article_id, seq)`` of the stored keys in ``buckets`` whose hash is in
        ``probe`` (sorted, distinct), this transaction's own rows included."""
        own = _own_seq(session)
        found: list[tuple[np.ndarray, ...]] = []
        with self.lock:
            for b in buckets:
                cached = self.buckets.get(b)
                if cached is None:
                    cached = self.buckets[b] = _Bucket()
                self.buckets.move_to_end(b)
                before = own if own is not None else 2**62
                rows = driver_rows(session, _KEYS_SINCE, (b, cached.seq, before))
                if rows:
                    cached.add(_unpack(rows))
                    cached.seq = max(r[1] for r in rows)
                found += cached.find(probe)
                if own is not None:  # this transaction's rows: used, not kept
                    mine = driver_rows(session, _KEYS_SINCE, (b, own - 1, own + 1))
                    if mine:
                        extra = _Bucket()
                        extra.add(_unpack(mine))
                        found += extra.find(probe)
            while len(self.buckets) > KEY_CACHE_BUCKETS:
                self.buckets.popitem(last=False)
        if not found:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, empty, empty
        return tuple(np.concatenate(cols) for cols in zip(*found, strict=True))


def _stored_candidates(
    session: Session,
    state: _DbState,
    probe: np.ndarray,
    buckets: list[int],
    lo: datetime,
    hi: datetime,
    inner: tuple[datetime, datetime],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The stored keys in ``buckets`` whose hash is in ``probe`` (sorted, distinct), of articles
    published in ``[lo, hi]`` that have a story, with that story.

    Returns int64 columns ``(band, hash, article_id, story_id, published)``, one entry per key
    found; ``published`` is in microseconds since 1970, or -1 for an article published within
    ``inner`` (the dates within the window of every new article of the batch), which the caller
    then need not check.

    The keys come from the process's :class:`_KeyCache`; one statement then reads the articles
    they belong to, with their keys row's current number (which drops entries of rewritten
    rows), by their ids passed as ONE bound parameter (a JSON array read with ``json_each`` on
    SQLite, a ``bigint[]`` on PostgreSQL): an expanded ``IN (?, ?, …)`` of thousands of ids cost
    more to compile than to run and can pass the drivers' limits. On SQLite the statement
    returns ONE row: each column as a comma-separated list (``group_concat``, the same row order
    in every column), parsed by numpy; thousands of rows a batch otherwise cost more in the
    driver's and SQLAlchemy's per-row work than in the lookup."""
    empty = np.empty(0, dtype=np.int64)
    nothing = (empty, empty, empty, empty, empty)
    hashes, bands, articles, seqs = state.keys.find(session, buckets, probe)
    if not hashes.size:
        return nothing
    ids = np.unique(articles).tolist()
    bounds = {"lo": lo, "hi": hi, "inner_lo": inner[0], "inner_hi": inner[1]}
    if dialect_name(session) == "postgresql":
        rows = session.execute(_CANDIDATES_PG, {"cand_ids": ids, **bounds}).all()
        live = [np.fromiter((r[i] for r in rows), dtype=np.int64, count=len(rows)) for i in range(3)]
        when = np.fromiter((-1 if r[3] is None else _micros(r[3]) for r in rows), dtype=np.int64,
                           count=len(rows))
    else:
        count, *lists = session.execute(
            _CANDIDATES_SQLITE, {"cand_ids": json.dumps(ids), **bounds}
        ).one()
        if not count:
            return nothing
        live = [np.fromstring(text, dtype=np.int64, sep=",") for text in lists[:3]]
        if any(col.size != count for col in live):  # pragma: no cover - a list that did not parse
            raise RuntimeError("candidate lookup: malformed group_concat result")
        when = np.full(count, -1, dtype=np.int64)
        dates = lists[3].split(",")
        edge = [i for i, text in enumerate(dates) if text]
        if edge:  # stored as text: the column type's own conversion, then microseconds
            dialect = session.get_bind().dialect
            to_date = _a.c.published.type.dialect_impl(dialect).result_processor(dialect, None)
            when[edge] = [_micros(to_date(dates[i]) if to_date else dates[i]) for i in edge]
    live_id, live_story, live_seq = live
    if not live_id.size:
        return nothing
    order = np.argsort(live_id)
    live_id, live_story, live_seq, when = live_id[order], live_story[order], live_seq[order], when[order]
    at = np.minimum(np.searchsorted(live_id, articles), live_id.size - 1)
    keep = (live_id[at] == articles) & (live_seq[at] == seqs)
    at = at[keep]
    return bands[keep], hashes[keep], articles[keep], live_story[at], when[at]


def _describe(decision: Decision, other: Hashable) -> str:
    if decision.rule == "url":
        return f"same canonical URL as article {other}"
    if decision.rule == "text-hash":
        return f"same text hash as article {other}"
    if decision.rule == "crosslang":
        return f"translation: {decision.reason} with article {other}"
    return f"{decision.reason} with article {other}"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(when: datetime) -> int:
    """Microseconds since 1970 (exact integers, for numpy comparisons of dates)."""
    return (when - _EPOCH) // _MICROSECOND


def _matching(
    keys_hash: np.ndarray,
    keys_band: np.ndarray,
    probe_hash: np.ndarray,
    probe_band: np.ndarray,
    order: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every pair ``(k, p)`` with ``keys[k] == probe[p]`` (same band and hash), as two index
    arrays: a sort and two binary searches instead of a dictionary of lists (tens of thousands
    of small Python containers per batch, which the garbage collector then keeps walking).
    ``order``: ``argsort(keys_hash)`` when the caller has it. The pairs come in no particular
    order (any sort will do, as in _Bucket.add): their callers count them."""
    if order is None:
        order = np.argsort(keys_hash)
    ordered = keys_hash[order]
    # The probes are searched in increasing order: numpy's binary search then starts from the
    # previous probe's place, and a batch's 27,000 probes of its own keys cost ~1.2 ms with
    # their sort instead of ~4.7 ms in the docs' order (each search a walk through cold memory).
    by_hash = np.argsort(probe_hash)
    probes = probe_hash[by_hash]
    left = np.searchsorted(ordered, probes, "left")
    count = np.searchsorted(ordered, probes, "right") - left
    p = np.repeat(by_hash, count)
    k = order[np.arange(p.size) + np.repeat(left - (np.cumsum(count) - count), count)]
    same = keys_band[k] == probe_band[p]
    return k[same], p[same]


#: Pairs :func:`_equal_counts` compares at once: two 512 KB copies of signature rows, which
#: the allocator reuses from chunk to chunk and the CPU keeps in its cache.
_EQUAL_CHUNK = 1024
_BYTE_ONES = np.uint64(0x0101010101010101)


def _equal_counts(matrix: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each pair ``(a[i], b[i])`` of rows of ``matrix``, how many columns are equal
    (int64): ``(matrix[a] == matrix[b]).sum(axis=1)``, in chunks of pairs. On the store replay
    of bench/harvest.py's corpus (~5,000 pairs of 128-value signatures a batch) that expression
    cost ~1.9 ms a batch: its two copies of rows, 2.5 MB each, were fresh memory from the
    system every batch (a page fault per 4 KB), compared and counted from main memory; in
    chunks, 0.3 ms. Each row of booleans (one byte each, 0 or 1) is counted as 64-bit words:
    their sum holds in each byte the count of that byte's lane, and one multiplication adds
    the eight lanes up into the top byte (the total is at most the width, below 256: no
    carry)."""
    width = matrix.shape[1]
    counts = np.empty(a.size, dtype=np.int64)
    words = width % 8 == 0 and width < 256 and matrix.flags.c_contiguous
    for i in range(0, a.size, _EQUAL_CHUNK):
        equal = (np.take(matrix, a[i:i + _EQUAL_CHUNK], axis=0)
                 == np.take(matrix, b[i:i + _EQUAL_CHUNK], axis=0))
        if words:
            lanes = equal.view(np.uint64).sum(axis=1, dtype=np.uint64)
            counts[i:i + _EQUAL_CHUNK] = (lanes * _BYTE_ONES) >> np.uint64(56)
        else:
            counts[i:i + _EQUAL_CHUNK] = equal.sum(axis=1)
    return counts


def _stop_keys(hashes: np.ndarray, stories: np.ndarray) -> np.ndarray:
    """The hashes held by articles of more than :data:`STOP_KEY_STORIES` different stories."""
    if hashes.size <= STOP_KEY_STORIES:
        return np.empty(0, dtype=np.int64)
    # The distinct (hash, story) pairs by one lexsort, then stories per hash from the runs:
    # np.unique(axis=0) on the stacked pairs sorted them as opaque records, several times slower.
    order = np.lexsort((stories, hashes))
    h, st = hashes[order], stories[order]
    pair_hash = h[np.r_[True, (h[1:] != h[:-1]) | (st[1:] != st[:-1])]]
    starts = np.flatnonzero(np.r_[True, pair_hash[1:] != pair_hash[:-1]])
    counts = np.diff(np.r_[starts, pair_hash.size])
    return pair_hash[starts[counts > STOP_KEY_STORIES]]


def _top_pairs(
    owner: np.ndarray, other: np.ndarray, limit: int, tiebreak: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(owners, others)`` from one entry per shared key: for each owner (in increasing order),
    the ``limit`` others sharing the most keys with it, most first, then by ``tiebreak[other]``
    (by default the highest ``other`` first). Arrays, not a dictionary of lists: the caller
    goes on with them in numpy (NearDuplicate._estimate)."""
    if owner.size == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    pair, shared = np.unique(owner.astype(np.int64) << 32 | other.astype(np.int64),
                             return_counts=True)
    owners, others = pair >> 32, pair & 0xFFFFFFFF
    order = np.lexsort((-others if tiebreak is None else tiebreak[others], -shared, owners))
    owners, others = owners[order], others[order]
    rank = np.arange(owners.size) - np.searchsorted(owners, owners, "left")
    keep = rank < limit
    return owners[keep], others[keep]


class NearDuplicate(MatchLevel):
    """Near-duplicate text, feed teasers and translations (``store.similarity``).

    ``prepare`` cleans each new article of its source's boilerplate, computes its band keys
    (:func:`index_keys`), finds the stored keys it shares in the process's :class:`_KeyCache`,
    and reads in one statement the articles they belong to that have a story and were published
    within :data:`WINDOW_DAYS` (:func:`_stored_candidates`).

    ``find`` asks :meth:`NearDupMatcher.same_story` about the best :data:`MAX_CANDIDATES` of them
    (and about the batch's own earlier articles); every story a positive decision points to
    besides the best one is a bridge, merged by :func:`assign_candidates`. ``finish`` writes the
    batch's ``article_keys`` rows.
    """

    name = "near-duplicate"

    def __init__(self, matcher: NearDupMatcher | None = None) -> None:
        self.matcher = matcher or _MATCHER
        self.docs: dict[int, Doc] = {}
        self._ids: list[int] = []  # the batch's article ids, in date order
        self._position: dict[int, int] = {}
        self._keys: KeyArrays | None = None
        # Article id → [(stored candidate's Doc, its story, j)], best first; ``j``: the
        # candidates' text similarity (see _estimate), None unless both texts are long.
        self._stored: dict[int, list[tuple[Doc, int, float | None]]] = {}
        # Position in the batch → [(earlier article's id, j)] in the order BandIndex.candidates
        # gives (most shared keys first): what a BandIndex of the batch's assigned articles would
        # answer, computed for the whole batch at once.
        self._in_batch: dict[int, list[tuple[int, float | None]]] = {}
        self._batch_story: dict[int, int] = {}
        self._why: dict[int, str] = {}
        self._bridges: dict[int, list[int]] = {}
        self._stamps: dict[int, tuple[str, str, str]] = {}
        self._state: _DbState | None = None

    def prepare(self, session: Session, batch: Sequence[Candidate]) -> None:
        state = self._state = _state(session)
        ordered = sorted(batch, key=lambda c: (c.published, c.id))
        _warm(session, state, {c.source_id for c in ordered})
        for c in ordered:
            self.docs[c.id] = _make_doc(state, c, observe=True)
            self._stamps[c.id] = _stamp(c.content_hash, c.url, c.title)
        self._ids = [c.id for c in ordered]
        self._position = {cid: i for i, cid in enumerate(self._ids)}
        keys = self._keys = batch_key_arrays([self.docs[cid] for cid in self._ids])

        # The batch's own articles: query keys of each against the stored keys of the others.
        order = np.argsort(keys.query_hash)
        q, k = _matching(
            keys.query_hash, keys.query_band, keys.index_hash, keys.index_band, order
        )
        mine, theirs = keys.query_doc[q], keys.index_doc[k]
        other = theirs < mine  # articles are decided in this order: only earlier ones count
        # BandIndex.candidates' order: most shared keys first, then by the id as text.
        as_text = np.empty(len(self._ids), dtype=np.int64)
        as_text[sorted(range(len(self._ids)), key=lambda i: str(self._ids[i]))] = np.arange(
            len(self._ids)
        )
        in_batch = _top_pairs(mine[other], theirs[other], len(self._ids), as_text)
        stored = (self._stored_pairs(session, state, ordered, keys, order)
                  if keys.query_hash.size else None)
        self._estimate(stored, in_batch)

    def _stored_pairs(
        self, session: Session, state: _DbState, ordered: Sequence[Candidate], keys: KeyArrays,
        order: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, dict[int, Doc], dict[int, int]] | None:
        """The best :data:`MAX_CANDIDATES` stored articles sharing keys with each position of
        the batch (``ordered``, whose keys are ``keys``; ``order``: the argsort of their query
        hashes), most shared keys first: ``(positions, article ids)`` (:func:`_top_pairs`),
        their Docs by id and their stories by id."""
        buckets: set[int] = set()
        for c in ordered:
            buckets.update(_buckets(c.published))
        window = timedelta(days=WINDOW_DAYS)
        first, last = ordered[0].published, ordered[-1].published
        lo, hi = first - window, last + window
        ordered_hashes = keys.query_hash[order]
        hashes = ordered_hashes[np.r_[True, ordered_hashes[1:] != ordered_hashes[:-1]]]
        inner = (last - window, first + window)
        stored_band, stored_hash, stored_id, stored_story, stored_when = _stored_candidates(
            session, state, hashes, sorted(buckets), lo, hi, inner
        )
        if not stored_band.size:
            return None
        stop = _stop_keys(stored_hash, stored_story)
        if stop.size:
            keep = ~np.isin(stored_hash, stop)
            stored_id, stored_hash, stored_band = stored_id[keep], stored_hash[keep], stored_band[keep]
            stored_story, stored_when = stored_story[keep], stored_when[keep]
        q, r = _matching(keys.query_hash, keys.query_band, stored_hash, stored_band, order)
        # Each new article's own window (the query used the batch's).
        when = np.array([_micros(c.published) for c in ordered], dtype=np.int64)
        mine = keys.query_doc[q]
        near = (stored_when[r] == -1) | (
            np.abs(stored_when[r] - when[mine]) <= window // _MICROSECOND
        )
        positions, article_ids = _top_pairs(mine[near], stored_id[r][near], MAX_CANDIDATES)
        story_of = dict(zip(stored_id.tolist(), stored_story.tolist(), strict=True))
        docs_by_id = self._load_docs(session, state, set(article_ids.tolist()))
        return positions, article_ids, docs_by_id, story_of

    def _estimate(
        self,
        stored: tuple[np.ndarray, np.ndarray, dict[int, Doc], dict[int, int]] | None,
        in_batch: tuple[np.ndarray, np.ndarray],
    ) -> None:
        """Fill ``_stored`` and ``_in_batch`` from the candidate pairs (``_stored_pairs``, and
        ``(positions, earlier positions)``), with the text similarity ``j`` of every pair of
        long texts (``jaccard_estimate`` of their signatures, which NearDupMatcher.rejects
        takes): all the batch's pairs in one numpy comparison, where a call of ``jaccard_many``
        per new article stacked its candidates' signatures each time (a third of ``find``'s CPU
        on bench/harvest.py's corpus). The same integer count over the same length, so the same
        floats."""
        ids, docs = self._ids, self.docs
        # Rows of one signature matrix, one per long text (-1: a short one, no ``j``).
        values: list[np.ndarray] = []
        empty: list[bool] = []

        def row(doc: Doc) -> int:
            if doc.is_short:
                return -1
            sig = doc.signature
            values.append(sig.values)
            empty.append(sig.size == 0)
            return len(values) - 1

        new_row = np.array([row(docs[cid]) for cid in ids], dtype=np.int64)
        positions, earlier = in_batch
        left, right = new_row[positions], new_row[earlier]
        found: list[tuple[int, Doc, int]] = []
        if stored is not None:
            at, article_ids, docs_by_id, story_of = stored
            # Each stored candidate's row; -2: its Doc could not be made (not read back).
            distinct = np.unique(article_ids)
            rows = np.array([row(docs_by_id[aid]) if aid in docs_by_id else -2
                             for aid in distinct.tolist()], dtype=np.int64)
            theirs = rows[np.searchsorted(distinct, article_ids)]
            read = theirs != -2
            at, article_ids, theirs = at[read], article_ids[read], theirs[read]
            found = [(pos, docs_by_id[aid], story_of[aid])
                     for pos, aid in zip(at.tolist(), article_ids.tolist(), strict=True)]
            left, right = np.r_[new_row[at], left], np.r_[theirs, right]
        j = np.full(left.size, -1.0)  # -1: no estimate
        both = (left >= 0) & (right >= 0)
        if both.any():
            matrix = np.concatenate(values).reshape(len(values), -1)
            a, b = left[both], right[both]
            hollow = np.array(empty)
            counts = _equal_counts(matrix, a, b)
            j[both] = np.where(hollow[a] | hollow[b], 0.0, counts / matrix.shape[1])
        quick = [None if x < 0 else x for x in j.tolist()]
        for (pos, doc, story), x in zip(found, quick, strict=False):
            self._stored.setdefault(ids[pos], []).append((doc, story, x))
        for pos, e, x in zip(positions.tolist(), earlier.tolist(), quick[len(found):],
                             strict=True):
            self._in_batch.setdefault(pos, []).append((ids[e], x))

    @staticmethod
    def _load_docs(session: Session, state: _DbState, ids: set[int]) -> dict[int, Doc]:
        out: dict[int, Doc] = {}
        if not ids:
            return out
        # Cached Docs are checked against their row's stamp, so texts are only read for misses.
        missing = []
        for aid, content_hash, url, title in driver_rows_in(session, _STAMPS, sorted(ids)):
            doc = state.get_doc(aid, _stamp(content_hash, url, title))
            if doc is None:
                missing.append(aid)
            else:
                out[aid] = doc
        if not missing:
            return out
        rows: list[Any] = []
        for part in chunked(missing):
            rows.extend(session.execute(_DOC_ROWS, {"ids": part}))
        _warm(session, state, {r.source_id for r in rows})
        for r in rows:
            doc = _make_doc(state, r, observe=False)
            state.put_doc(r.id, _stamp(r.content_hash, r.url, r.title), doc)
            out[r.id] = doc
        return out

    def find(self, candidate: Candidate) -> int | None:
        doc = self.docs.get(candidate.id)
        if doc is None:
            return None
        assigned = self._batch_story
        earlier = [
            (self.docs[e], assigned[e], j)
            for e, j in self._in_batch.get(self._position[candidate.id], ()) if e in assigned
        ]
        found: list[tuple[float, int, Decision, Hashable]] = []
        # Most candidates are long texts in the same language below the MinHash threshold: their
        # similarity was computed for the whole batch at once (_estimate), and they are passed
        # over without building same_story's refusal (matcher.rejects mirrors its first checks).
        rejects = self.matcher.rejects
        for cand, story_id, j in (*self._stored.get(candidate.id, ()),
                                  *earlier[:MAX_CANDIDATES]):
            if j is not None and rejects(doc, cand, j):
                continue
            decision = self.matcher.same_story(doc, cand)
            if decision.same:
                found.append((decision.score, story_id, decision, cand.id))
        if not found:
            return None
        found.sort(key=lambda f: (-f[0], str(f[3])))
        _, best, decision, other = found[0]
        self._why[candidate.id] = _describe(decision, other)
        self._bridges[candidate.id] = sorted({f[1] for f in found if f[1] != best})
        return best

    def add(self, candidate: Candidate, story_id: int) -> None:
        if candidate.id in self.docs:
            self._batch_story[candidate.id] = story_id

    def reason(self, candidate: Candidate) -> str:
        return self._why.get(candidate.id, "near-duplicate")

    def bridges(self, candidate: Candidate) -> list[int]:
        return self._bridges.get(candidate.id, [])

    def finish(self, session: Session, story_of: dict[int, int]) -> None:
        # Every article of the batch gets its row (an article that lost its story may have one:
        # it is replaced), an article without keys an empty one.
        keys = self._keys
        if keys is not None and self._ids:
            # A doc's keys are contiguous in index order: split the packed columns at its bounds.
            bounds = np.searchsorted(keys.index_doc, np.arange(len(self._ids) + 1)).tolist()
            hashes = keys.index_hash.astype("<i8").tobytes()
            bands = keys.index_band.astype(np.uint8).tobytes()
            _write_keys(session, (
                (cid, band_bucket(self.docs[cid].published),  # type: ignore[arg-type]
                 hashes[8 * bounds[i]:8 * bounds[i + 1]], bands[bounds[i]:bounds[i + 1]])
                for i, cid in enumerate(self._ids)
            ))
        if self._state is not None:
            for aid, doc in self.docs.items():
                self._state.put_doc(aid, self._stamps[aid], doc)
            _write_hints(session, self._state, {d.source_id for d in self.docs.values()
                                                if d.source_id is not None})


#: The levels tried after the per-source key, cheapest first.
LEVELS: list[Callable[[], MatchLevel]] = [SameUrl, SameText, NearDuplicate]


def reindex_articles(session: Session, article_ids: Iterable[int]) -> None:
    """Rewrite the keys row, kind and credited source of articles whose content changed (their
    story is kept). Does not commit."""
    ids = sorted(set(article_ids))
    if not ids:
        return
    state = _state(session)
    rows: list[Any] = []
    for part in chunked(ids):
        rows.extend(session.execute(_DOC_ROWS, {"ids": part}))
    _warm(session, state, {r.source_id for r in rows})
    written: list[tuple[int, int, bytes, bytes]] = []
    facts = _Facts(session)
    params = []
    for r in rows:
        doc = _make_doc(state, r, observe=False)
        state.put_doc(r.id, _stamp(r.content_hash, r.url, r.title), doc)
        written.append((r.id, band_bucket(r.published), *_packed_keys(index_keys(doc))))
        kind, credited = facts.of(r.source_id, r.title, r.text)
        params.append({"b_id": r.id, "b_kind": kind, "b_credit": credited})
    _write_keys(session, written)
    session.execute(
        update(_a)
        .where(_a.c.id == bindparam("b_id"))
        .values(kind=bindparam("b_kind"), credited_source_id=bindparam("b_credit")),
        params,
    )


# --------------------------------------------------------------------------------------------
# Per-article facts: kind, credited original publisher
# --------------------------------------------------------------------------------------------

_CREDIT = re.compile(
    r"(?:first|originally|initially) (?:published|posted|issued) (?:by|on|at)\s+"
    r"|(?:d'abord|initialement|originellement|publi[ée]e? en premier) ?publi[ée]e?s? (?:par|sur)\s+"
    r"|(?:d'abord|initialement|originellement) (?:par|sur)\s+"
    r"|publicad[oa]s? (?:originalmente|inicialmente|primero|por primera vez) (?:por|en)\s+",
    re.IGNORECASE,
)
#: Words one of ``_CREDIT``'s alternatives needs (lower case): an ASCII text with none of them
#: cannot match, and the regex (case-insensitive alternations) costs ~0.2 ms on a long text.
_CREDIT_WORDS = ("first", "originally", "initially", "d'abord", "initialement",
                 "originellement", "en premier", "publicad")


def _may_credit(text: str) -> bool:
    if not text.isascii():  # case-insensitive matching folds a few non-ASCII letters: no shortcut
        return True
    low = text.lower()
    return any(w in low for w in _CREDIT_WORDS)


_VIA = re.compile(r"(?:^|[\s(\[])(?:via|vía)\s+(?=[A-Z])")
_NAME_END = re.compile(r"[.\n;:()\[\]|]")


class _Facts:
    """Computes an article's kind and the source its text credits; loads the registry once."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._sources: list[Any] | None = None

    def sources(self) -> list[Any]:
        if self._sources is None:
            self._sources = list(
                self._session.execute(select(_src.c.id, _src.c.name, _src.c.extra)).all()
            )
        return self._sources

    def of(self, source_id: str, title: str, text: str) -> tuple[str, str | None]:
        return classify_kind(title or "", text or ""), self.credited(source_id, text or "")

    def of_candidate(self, c: Candidate) -> tuple[str, str | None]:
        """:meth:`of` a new article, whose kind a feed worker may have classified already
        (``PreparedKeys.kind``, used only for the very text, title and language it was made
        from)."""
        text, title = c.text or "", c.title or ""
        prepared = prepared_for(c.prepared, text, title, c.language)
        kind = prepared.kind if prepared is not None and prepared.kind else None
        return kind or classify_kind(title, text), self.credited(c.source_id, text)

    def credited(self, source_id: str, text: str) -> str | None:
        """The registry source a text names as the original publisher ("first published by
        MFWA", "originally published on the CPJ website", "via Article 19"), if another."""
        starts = []
        if ("ubli" in text or "UBLI" in text) and _may_credit(text):
            starts += [m.end() for m in _CREDIT.finditer(text)]
        if "via " in text or "vía " in text:
            starts += [m.end() for m in _VIA.finditer(text)]
        for start in starts:
            tail = text[start : start + 120]
            cut = _NAME_END.search(tail)
            words = (tail[: cut.start()] if cut else tail).split()[:10]
            if words and words[0].lower() in ("the", "la", "le", "el", "l'"):
                words = words[1:]
            # "MFWA on 12 March", "the Media Foundation for West Africa website": longest prefix
            # that names a registry source.
            for n in range(len(words), 0, -1):
                hit = match_signatories([" ".join(words[:n])], self.sources())
                if hit and hit[0] != source_id:
                    return hit[0]
        return None


# --------------------------------------------------------------------------------------------
# Assignment
# --------------------------------------------------------------------------------------------


def _root_key(story_id: int) -> tuple[bool, int]:
    # Stories that exist already win over new ones, the oldest first; among new ones the first.
    return (story_id < 0, abs(story_id))


def assign_candidates(
    session: Session,
    candidates: Sequence[Candidate],
    *,
    now: datetime | None = None,
    levels: Sequence[Callable[[], MatchLevel]] | None = None,
) -> dict[int, int]:
    """Give each candidate article a story; return ``{article_id: story_id}``.

    Candidates are taken in date order so that, within one batch, the earliest report founds the
    story and the others join it. An article that belongs to several stories (a level's
    ``bridges``) merges them into the oldest (:func:`merge_stories`, editors' decisions kept).
    Each article gets its ``match_reason``, ``kind`` and ``credited_source_id``. Stories are
    created in one multi-row insert and the touched stories are refreshed. Does not commit.
    """
    if not candidates:
        return {}
    now = ensure_utc(now, "now") if now is not None else utcnow()
    active = [make() for make in (levels if levels is not None else LEVELS)]
    for level in active:
        level.prepare(session, candidates)

    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            keep, drop = sorted((ra, rb), key=_root_key)
            parent[drop] = keep

    assigned: dict[int, int] = {}
    reasons: dict[int, str] = {}
    bridged: dict[int, list[int]] = {}
    placeholder = 0
    for candidate in sorted(candidates, key=lambda c: (c.published, c.id)):
        story_id: int | None = None
        for level in active:
            found = level.find(candidate)
            if found is None:
                continue
            story_id = find(found)
            reasons[candidate.id] = level.reason(candidate)
            others = [o for o in level.bridges(candidate) if find(o) != story_id]
            for other in others:
                union(story_id, other)
            if others:
                bridged[candidate.id] = others
            story_id = find(story_id)
            break
        if story_id is None:
            placeholder -= 1
            story_id = find(placeholder)
            reasons[candidate.id] = "first article of its story"
        assigned[candidate.id] = story_id
        for level in active:
            level.add(candidate, story_id)

    roots = sorted({find(s) for s in assigned.values()}, key=_root_key)
    new_roots = [r for r in roots if r < 0]
    by_id = {c.id: c for c in candidates}
    facts = _Facts(session)
    fact_of = {aid: facts.of_candidate(by_id[aid]) for aid in assigned}
    # A new story holds only this batch's articles: when their countries are known and it is
    # no joint statement (whose signatories are read from the stored texts), its derived fields
    # are computed here and inserted with it, instead of read back by refresh_stories.
    members: dict[int, list[_StoryArticle]] = {r: [] for r in new_roots}
    complete = set(new_roots)
    for aid, sid in assigned.items():
        root = find(sid)
        if root >= 0:
            continue
        c = by_id[aid]
        kind, credited = fact_of[aid]
        if c.countries is None or kind == "joint-statement":
            complete.discard(root)
        members[root].append(
            _StoryArticle(aid, root, c.source_id, c.published, c.region, c.topics, kind, credited)
        )
    real: dict[int, int] = {}
    if new_roots:
        rows_of = []
        for root in new_roots:
            row: dict[str, Any] = {}  # created and updated now: _insert_stories
            if root in complete:
                arts = sorted(members[root], key=lambda r: (r.published, r.id))
                countries_of = {
                    r.id: [
                        (code, bool(primary))
                        for code, _, primary in sorted(
                            # refresh_stories' order (primary, weight), then the key's
                            by_id[r.id].countries or (), key=lambda x: (not x[2], -x[1], x[0])
                        )
                    ]
                    for r in arts
                }
                row.update(_derived(arts, countries_of, _story_kind(arts), []))
            else:
                row.update(countries=[], topics=[], signatories=[], kind="report")
            rows_of.append(row)
        # One statement per set of columns (complete stories, placeholders).
        new_ids: dict[int, int] = {}
        for want in (True, False):
            group = [(r, row) for r, row in zip(new_roots, rows_of, strict=True)
                     if (r in complete) == want]
            if not group:
                continue
            # RETURNING gives the rows in no particular order (SQLAlchemy could keep the order
            # of a multi-row INSERT on SQLite only by inserting one row per statement). A
            # complete story is told apart by its representative (one article belongs to one
            # story); placeholders are all alike, and get the ids in order.
            back = _insert_stories(session, [row for _, row in group], now)
            if want:
                root_of = {row["representative_article_id"]: r for r, row in group}
                new_ids.update((root_of[rep], sid) for sid, rep in back)
            else:
                ids = sorted(sid for sid, _ in back)
                new_ids.update(zip([r for r, _ in group], ids, strict=True))
        real = {r: new_ids[r] for r in new_roots}

    def final_id(story_id: int) -> int:
        root = find(story_id)
        return real.get(root, root)

    final = {aid: final_id(sid) for aid, sid in assigned.items()}
    for aid, others in bridged.items():
        merged = sorted({o for o in others if o > 0})
        if merged:
            reasons[aid] += "; also matched stor" + ("y " if len(merged) == 1 else "ies ")
            reasons[aid] += ", ".join(map(str, merged)) + f", merged into story {final[aid]}"

    # Plain integers and strings, which SQLAlchemy's per-row parameter processing only copied.
    driver_executemany(
        session,
        "UPDATE article SET story_id = {p}, match_reason = {p}, kind = {p}, "
        "credited_source_id = {p} WHERE id = {p}",
        [(sid, reasons[aid], *fact_of[aid], aid) for aid, sid in final.items()],
    )
    # Existing stories bridged by this batch: fold each into its (oldest) root. The roots are
    # stories of this batch's articles, which refresh_stories below recomputes.
    drops = sorted((x for x in parent if x > 0 and find(x) != x), key=_root_key)
    _merge_bridged(session, [(find(d), d) for d in drops], now)
    for level in active:
        level.finish(session, final)
    done = {real[r] for r in complete}
    refresh_stories(session, {sid for sid in final.values() if sid not in done}, now=now)
    return final


#: The columns of a new story row (what SQLAlchemy's INSERT wrote, its column defaults included).
_NEW_STORY_COLUMNS = (
    "representative_article_id", "published", "region", "countries", "topics", "source_count",
    "article_count", "kind", "signatories", "created_at", "updated_at",
)
#: What a placeholder row (``countries``, ``topics``, ``signatories``, ``kind`` only) gets for
#: the other columns: their ``default`` in store.models, else NULL.
_NEW_STORY_DEFAULTS = {"representative_article_id": None, "published": None, "region": None,
                       "source_count": 0, "article_count": 0}


def _insert_stories(
    session: Session, rows: Sequence[dict[str, Any]], now: datetime
) -> list[tuple[int, int | None]]:
    """Insert story rows (created and updated ``now``); ``(id, representative_article_id)`` of
    each, in no particular order. The values are bound by the columns' own processors and sent
    by the driver (store._sql.driver_insert_returning): SQLAlchemy's multi-row INSERT processed
    every parameter of every row through its execution context, ``now`` twice a row."""
    body = _NEW_STORY_COLUMNS[:-2]
    bind = row_binder(session, _s, body, lists=("countries", "topics"))
    stamps = row_binder(session, _s, _NEW_STORY_COLUMNS[-2:])([now, now])
    values = []
    for row in rows:
        full = _NEW_STORY_DEFAULTS | row
        values.append(bind([full[name] for name in body]) + stamps)
    back = driver_insert_returning(
        session, _s, _NEW_STORY_COLUMNS, values, returning=("id", "representative_article_id")
    )
    return [(sid, rep) for sid, rep in back]


def assign_stories(
    session: Session, article_ids: Iterable[int], *, now: datetime | None = None
) -> dict[int, int]:
    """Assign stories to the given articles that have none yet; return ``{article_id: story}``
    for those assigned."""
    candidates: list[Candidate] = []
    for part in chunked(sorted(set(article_ids))):
        stmt = select(
            _a.c.id,
            _a.c.source_id,
            _a.c.url,
            _a.c.content_hash,
            _a.c.text,
            _a.c.published,
            _a.c.title,
            _a.c.language,
        ).where(_a.c.id.in_(part), _a.c.story_id.is_(None))
        for aid, source_id, url, content_hash, text, published, title, lang in session.execute(
            stmt
        ):
            candidates.append(
                Candidate(
                    aid, source_id, url, content_hash, len(text.strip()), published, title or "",
                    text or "", lang,
                )
            )
    return assign_candidates(session, candidates, now=now)


def assign_story(
    session: Session, article: ArticleRow | int, *, now: datetime | None = None
) -> int:
    """The story of one article, assigning one first if it has none. Does not commit."""
    article_id = article if isinstance(article, int) else article.id
    if not isinstance(article, int):
        session.flush()
    assigned = assign_stories(session, [article_id], now=now)
    if article_id in assigned:
        if not isinstance(article, int):
            session.refresh(article, ["story_id"])
        return assigned[article_id]
    story_id = session.execute(select(_a.c.story_id).where(_a.c.id == article_id)).scalar_one()
    if story_id is None:  # pragma: no cover - assign_stories just gave it one
        raise RuntimeError(f"article {article_id} has no story")
    return story_id


def _ranked(
    counter: dict[str, int], first: dict[str, int], primary: dict[str, int] | None = None
) -> list[str]:
    if primary is None:
        return sorted(counter, key=lambda k: (-counter[k], first[k]))
    return sorted(counter, key=lambda k: (-primary.get(k, 0), -counter[k], first[k]))


def refresh_stories(
    session: Session, story_ids: Iterable[int], *, now: datetime | None = None
) -> None:
    """Recompute the derived fields of the given stories from their articles. Does not commit."""
    ids = sorted({s for s in story_ids if s is not None})
    if not ids:
        return
    now = ensure_utc(now, "now") if now is not None else utcnow()
    articles: dict[int, list[Any]] = {sid: [] for sid in ids}
    countries_of: dict[int, list[tuple[str, bool]]] = {}
    to_date, to_list = result_processors(session, _a, ("published", "topics"))
    for aid, sid, source_id, published, region, topics, kind, credited in driver_rows_in(
        session, _STORY_ARTICLES, ids
    ):
        articles[sid].append(_StoryArticle(
            aid, sid, source_id, to_date(published) if to_date else published, region,
            to_list(topics) if to_list else topics, kind, credited,
        ))
    for article_id, country, is_primary in driver_rows_in(session, _STORY_COUNTRIES, ids):
        countries_of.setdefault(article_id, []).append((country, bool(is_primary)))

    kinds = {sid: _story_kind(articles[sid]) for sid in ids}
    signatories = _signatories(session, [sid for sid in ids if kinds[sid] == "joint-statement"])
    bind = row_binder(session, _s, (*_DERIVED, "updated_at"))
    params = []
    for sid in ids:
        fields = _derived(articles[sid], countries_of, kinds[sid], signatories.get(sid, []))
        params.append((*bind([*(fields[k] for k in _DERIVED), now]), sid))
    driver_executemany(session, _STORY_UPDATE, params)


#: The story columns :func:`_derived` computes.
_DERIVED = (
    "representative_article_id", "published", "region", "countries", "topics", "source_count",
    "article_count", "kind", "signatories",
)
_STORY_UPDATE = (
    "UPDATE story SET " + ", ".join(f"{k} = {{p}}" for k in (*_DERIVED, "updated_at"))
    + " WHERE id = {p}"
)


class _StoryArticle(NamedTuple):
    """The article columns a story's derived fields come from (as ``refresh_stories`` reads)."""

    id: int
    story_id: int
    source_id: str
    published: datetime
    region: str | None
    topics: Sequence[str]
    kind: str | None
    credited_source_id: str | None


def _derived(
    rows: Sequence[Any],
    countries_of: dict[int, list[tuple[str, bool]]],
    kind: str,
    signatories: list[dict[str, Any]],
) -> dict[str, Any]:
    """A story's derived columns from its articles (``rows``, by date then id) and their
    countries (``countries_of``: article id → (code, is_primary), primary first, then by
    weight)."""
    rep = _representative(rows)
    # Counts in plain dictionaries: a batch of new reports makes thousands of one-article
    # stories, for which building four Counters cost more than the counting.
    regions: dict[str, int] = {}
    countries: dict[str, int] = {}
    primary: dict[str, int] = {}
    topics: dict[str, int] = {}
    first: dict[str, int] = {}
    for i, row in enumerate(rows):
        if row.region:
            regions[row.region] = regions.get(row.region, 0) + 1
            first.setdefault(row.region, i)
        for country, is_primary in countries_of.get(row.id, ()):
            countries[country] = countries.get(country, 0) + 1
            primary[country] = primary.get(country, 0) + is_primary
            first.setdefault(country, i)
        for topic in row.topics or ():
            topics[topic] = topics.get(topic, 0) + 1
            first.setdefault(topic, i)
    region_order = _ranked(regions, first)
    return {
        "representative_article_id": rep.id if rep is not None else None,
        "kind": kind,
        "signatories": signatories,
        "published": rows[0].published if rows else None,
        "region": region_order[0] if region_order else None,
        "countries": _ranked(countries, first, primary),
        "topics": _ranked(topics, first),
        "source_count": len({row.source_id for row in rows}),
        "article_count": len(rows),
    }


def _representative(rows: Sequence[Any]) -> Any:
    """The originating member's earliest article when another member's copy credits it ("first
    published by MFWA"), else the earliest article."""
    if not rows:
        return None
    sources = {row.source_id for row in rows}
    credited = [
        row.credited_source_id
        for row in rows
        if row.credited_source_id
        and row.credited_source_id != row.source_id
        and row.credited_source_id in sources
    ]
    if credited:
        origin = Counter(credited).most_common(1)[0][0]
        return next(row for row in rows if row.source_id == origin)
    return rows[0]


def _story_kind(rows: Sequence[Any]) -> str:
    """joint-statement when any member's copy is one; else the representative's kind."""
    if any(row.kind == "joint-statement" for row in rows):
        return "joint-statement"
    rep = _representative(rows)
    return (rep.kind if rep is not None else None) or "report"


def _signatories(session: Session, story_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """``[{"name", "source_id"}]`` per joint statement: the organisations its texts list as
    signing (matched to registry sources where they are members), then the members that
    co-published it without being named in a list."""
    if not story_ids:
        return {}
    sources = list(session.execute(select(_src.c.id, _src.c.name, _src.c.extra)).all())
    names = {row.id: row.name for row in sources}
    out: dict[int, list[dict[str, Any]]] = {}
    texts: dict[int, list[Any]] = {sid: [] for sid in story_ids}
    for part in chunked(list(story_ids)):
        stmt = (
            select(_a.c.story_id, _a.c.source_id, _a.c.title, _a.c.text)
            .where(_a.c.story_id.in_(part))
            .order_by(_a.c.published, _a.c.id)
        )
        for row in session.execute(stmt):
            texts[row.story_id].append(row)
    for sid, rows in texts.items():
        listed: list[dict[str, Any]] = []
        seen_names: set[str] = set()
        seen_ids: set[str] = set()
        for row in rows:
            for name in extract_signatories(row.text or ""):
                key = " ".join(name.casefold().split())
                if key in seen_names:
                    continue
                seen_names.add(key)
                hit = match_signatories([name], sources)
                source_id = hit[0] if hit else None
                if source_id is not None and source_id in seen_ids:
                    continue
                if source_id is not None:
                    seen_ids.add(source_id)
                listed.append({"name": name, "source_id": source_id})
        for row in rows:
            if row.source_id not in seen_ids:
                seen_ids.add(row.source_id)
                listed.append({"name": names.get(row.source_id, row.source_id),
                               "source_id": row.source_id})
        out[sid] = listed
    return out


def refresh_story(session: Session, story: StoryRow | int, *, now: datetime | None = None) -> None:
    """Recompute one story's derived fields. Does not commit."""
    story_id = story if isinstance(story, int) else story.id
    refresh_stories(session, [story_id], now=now)
    if not isinstance(story, int):
        session.refresh(story)


def _merge_bridged(session: Session, pairs: Sequence[tuple[int, int]], now: datetime) -> None:
    """``merge_stories(keep, drop)`` for each pair, in order, leaving the keeps' derived fields
    to the caller's refresh. A dropped story without curation (nearly all of them) only has
    its articles moved and its row deleted, all such pairs in two statements; one with
    curation goes through merge_stories, whose ORM handling of the decisions costs more than
    the rest of a merge (profiled on bench/harvest.py's corpus: 30 of a merge's 71 samples).
    Moving a story's articles and deleting it commute with the curated merges, so the result is
    that of merging pair after pair."""
    if not pairs:
        return
    ids = sorted({i for pair in pairs for i in pair})
    found = set(session.execute(select(_s.c.id).where(_s.c.id.in_(ids))).scalars())
    missing = set(ids) - found
    if missing:
        raise LookupError(f"no story with id {', '.join(map(str, sorted(missing)))}")
    cur = Curation.__table__
    curated = set(session.execute(
        select(cur.c.story_id).where(cur.c.story_id.in_([d for _, d in pairs]))
    ).scalars())
    plain = [(keep, drop) for keep, drop in pairs if drop not in curated]
    if plain:
        session.flush()
        # A story's articles can only move once: every drop is merged into its final root.
        session.execute(
            update(_a).where(_a.c.story_id == bindparam("b_drop")).values(
                story_id=bindparam("b_keep")
            ),
            [{"b_keep": keep, "b_drop": drop} for keep, drop in plain],
        )
        session.execute(delete(_s).where(_s.c.id.in_([drop for _, drop in plain])))
    for keep, drop in pairs:
        if drop in curated:
            merge_stories(session, keep, drop, now=now, refresh=False)


def merge_stories(
    session: Session,
    keep: StoryRow | int,
    drop: StoryRow | int,
    *,
    now: datetime | None = None,
    refresh: bool = True,
) -> None:
    """Move every article and curation of ``drop`` into ``keep``, then delete ``drop``.

    Where both stories have a curation for the same round-up, ``keep``'s decision stands and its
    empty headline/summary/note/position are filled from ``drop``'s; notes are never lost (both
    are kept, separated by a blank line). ``refresh=False`` leaves ``keep``'s derived fields
    stale, for a caller that refreshes it afterwards anyway. Does not commit.
    """
    keep_id = keep if isinstance(keep, int) else keep.id
    drop_id = drop if isinstance(drop, int) else drop.id
    if keep_id == drop_id:
        raise ValueError(f"cannot merge story {keep_id} into itself")
    found = set(session.execute(select(_s.c.id).where(_s.c.id.in_([keep_id, drop_id]))).scalars())
    missing = {keep_id, drop_id} - found
    if missing:
        raise LookupError(f"no story with id {', '.join(map(str, sorted(missing)))}")
    now = ensure_utc(now, "now") if now is not None else utcnow()

    session.flush()
    session.execute(update(_a).where(_a.c.story_id == drop_id).values(story_id=keep_id))
    curations = session.scalars(
        select(Curation).where(Curation.story_id.in_([keep_id, drop_id]))
    ).all()
    kept = {c.roundup: c for c in curations if c.story_id == keep_id}
    for cur in (c for c in curations if c.story_id == drop_id):
        target = kept.get(cur.roundup)
        if target is None:
            cur.story_id = keep_id
            cur.updated_at = now
            continue
        for field in ("headline", "summary", "position"):
            if getattr(target, field) is None:
                setattr(target, field, getattr(cur, field))
        if cur.note and cur.note != target.note:
            target.note = f"{target.note}\n\n{cur.note}" if target.note else cur.note
        target.updated_at = now
        session.delete(cur)
    session.flush()
    session.execute(delete(_s).where(_s.c.id == drop_id))
    if refresh:
        refresh_stories(session, [keep_id], now=now)
    if not isinstance(drop, int):
        session.expunge(drop)
    if not isinstance(keep, int):
        session.expire(keep)
