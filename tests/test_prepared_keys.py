"""Near-duplicate keys computed ahead in a feed worker (``store.similarity.prepare_keys``,
``scrapers.feedwork.attach_prepared_keys``) must be exactly what the store computes without them.

Over realistic corpora — ``bench/dedup.py``'s 318 documents (sources with footers, which the
store's learner learns as boilerplate) and the entries of ``bench/harvest.py``'s feeds and the
demo's feeds as ``prepare_feed`` makes them in a worker — every new article's Doc is built both
ways from the same learner state and compared (cleaned text, words, signatures, index and query
keys, the learner's state after observing it), and the whole store (stories, decisions, band
rows) is compared with a store fed the same articles without the payload.
"""

from __future__ import annotations

import hashlib
from collections import Counter, deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bench.dedup import load_corpus
from bench.harvest import demo_feed_jobs, feed_jobs, write_feeds
from pipeline.items import Article
from scrapers.feedwork import FeedJob, attach_prepared_keys, prepare_feed
from store import stories
from store.articles import PREPARED_ATTR, upsert_articles
from store.db import open_db
from store.models import ArticleKeys, ArticleRow, StoryRow
from store.registry_types import Source
from store.signatories import classify_kind
from store.similarity import (
    KEYS_FINGERPRINT,
    BoilerplateLearner,
    Doc,
    PreparedKeys,
    batch_keys,
    prepare_keys,
    prepared_for,
)

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2030, 1, 1, tzinfo=UTC)
DEMO_BASE = "http://127.0.0.1:8765"


def _dedup_batches() -> list[list[Article]]:
    """bench/dedup.py's corpus, one document a batch in its shuffled order (as run_store does)."""
    import random

    from bench.dedup import SEED

    order = load_corpus()
    random.Random(SEED).shuffle(order)
    articles = [
        Article(source_id=rec.source, guid=str(rec.id), url=rec.url, title=rec.title,
                text=rec.text, summary=rec.text[:200], published=rec.published, date_flag=None,
                raw_date=None, language=rec.language,
                content_hash=hashlib.sha256(rec.text.encode()).hexdigest(),
                countries=list(rec.countries))
        for rec in order
    ]
    attach_prepared_keys(articles)
    return [[a] for a in articles]


FOOTER = ("&lt;p&gt;Member {f} is a network of journalists that has monitored attacks on the "
          "press in the region since 1998, with offices in three capitals.&lt;/p&gt;")


def _feed_batches(tmp: Path, feeds: int, footers: bool = False) -> list[list[Article]]:
    """The articles of bench/harvest.py's feeds and of the demo's feeds, as a worker prepares
    them (``prepare_feed`` with ``prepare_keys``), one feed a batch. ``footers``: every entry of
    the bench's feeds ends with its member's footer paragraph, which the store learns as that
    source's boilerplate after three headlines."""
    write_feeds(tmp, feeds, 50)
    if footers:
        for f in range(feeds):
            path = tmp / f"member{f}.xml"
            xml = path.read_text(encoding="utf-8")
            path.write_text(xml.replace("</description>", FOOTER.format(f=f) + "</description>"),
                            encoding="utf-8")
    jobs = feed_jobs(tmp, feeds) + demo_feed_jobs(tmp, DEMO_BASE)[1]
    batches = []
    for body, source, url in jobs:
        job = FeedJob(body=body, url=url, headers={}, source=source, feed_url=url,
                      max_entries=500, now=datetime(2026, 10, 29, 12, tzinfo=UTC),
                      prepare_keys=True)
        articles = prepare_feed(job).outcome.articles
        if articles:
            batches.append(articles)
    return batches


def _without_payload(batches: list[list[Article]]) -> list[list[Article]]:
    out = []
    for batch in batches:
        copies = []
        for a in batch:
            copy = Article(**{k: getattr(a, k) for k in a.__dataclass_fields__})
            assert not hasattr(copy, PREPARED_ATTR)
            copies.append(copy)
        out.append(copies)
    return out


def _learner_state(learner: BoilerplateLearner, source_id: str) -> tuple[Any, ...]:
    return (list(learner._recent.get(source_id, ())), learner._seen.get(source_id, {}),
            learner._text.get(source_id, {}), learner._learnt.get(source_id, set()))


def _twin(learner: BoilerplateLearner, source_id: str) -> BoilerplateLearner:
    """A learner holding a copy of ``learner``'s state for ``source_id``."""
    twin = BoilerplateLearner(learner.window, learner.min_docs)
    twin._recent[source_id] = deque(learner._recent.get(source_id, ()))
    twin._seen[source_id] = {k: dict(v) for k, v in learner._seen.get(source_id, {}).items()}
    twin._text[source_id] = dict(learner._text.get(source_id, {}))
    twin._learnt[source_id] = set(learner._learnt.get(source_id, ()))
    return twin


def _store_checking_each_doc(db: str, batches: list[list[Article]], monkeypatch,
                             before: Any = None) -> Counter:
    """Store ``batches``; for every new article with a payload, build its Doc with and without
    the payload from the same learner state and compare everything the store uses."""
    real = stories._make_doc
    seen: Counter = Counter()

    def checking(state: Any, row: Any, *, observe: bool) -> Doc:
        prepared = getattr(row, "prepared", None)
        if not observe or prepared is None:
            return real(state, row, observe=observe)
        seen["with payload"] += 1
        sid = row.source_id
        twin = _twin(state.learner, sid)
        doc = real(state, row, observe=True)
        used = "lead_signature" in doc.__dict__
        seen["precomputed keys used" if used else "learnt boilerplate: computed in the store"] += 1
        expected = Doc.cleaned(
            twin.clean_words(sid, row.text or "", row.title or "", observe=True),
            title=row.title or "", language=row.language, url=row.url, published=row.published,
            source_id=sid, id=row.id,
        )
        assert _learner_state(state.learner, sid) == _learner_state(twin, sid)
        assert doc._cleaned == expected._cleaned
        if used:  # primed from the payload; the Doc would compute them from its tokens
            assert (doc.word_count, doc.text_key) == (len(expected.tokens), expected.text_key)
        assert doc.tokens == expected.tokens
        assert batch_keys([doc]) == batch_keys([expected])
        got, want = doc.signature, expected.signature
        assert (got.size, got.values.tolist()) == (want.size, want.values.tolist())
        for attr in ("lead_signature", "feature_signature"):
            got, want = getattr(doc, attr), getattr(expected, attr)
            assert (got.size, got.values.tolist()) == (want.size, want.values.tolist())
        assert doc.features == expected.features
        assert doc.token_set == expected.token_set
        return doc

    monkeypatch.setattr(stories, "_make_doc", checking)
    _store(db, batches, before)
    monkeypatch.setattr(stories, "_make_doc", real)
    return seen


def _store(db: str, batches: list[list[Article]], before: Any = None) -> None:
    """``before(session, batch)``, if given, runs before each batch is stored."""
    engine, factory = open_db(db)
    with factory() as session:
        for batch in batches:
            if before is not None:
                before(session, batch)
            upsert_articles(session, batch, NOW)
            session.commit()
    engine.dispose()


def _dump(db: str) -> tuple[list[Any], ...]:
    engine, factory = open_db(db, migrate=False)
    with factory() as session:
        articles = session.execute(select(
            ArticleRow.id, ArticleRow.guid, ArticleRow.story_id, ArticleRow.match_reason,
            ArticleRow.kind, ArticleRow.credited_source_id).order_by(ArticleRow.id)).all()
        bands = session.execute(select(
            ArticleKeys.article_id, ArticleKeys.bucket, ArticleKeys.hashes, ArticleKeys.bands
        ).order_by(ArticleKeys.article_id)).all()
        story_rows = session.execute(select(
            StoryRow.id, StoryRow.representative_article_id, StoryRow.kind, StoryRow.source_count,
            StoryRow.published).order_by(StoryRow.id)).all()
    engine.dispose()
    return [tuple(r) for r in articles], [tuple(r) for r in bands], [tuple(r) for r in story_rows]


@pytest.mark.parametrize("corpus", ["dedup", "feeds", "feeds-with-footers"])
def test_precomputed_keys_equal_the_stores_for_every_article(corpus, tmp_path, monkeypatch) -> None:
    if corpus == "dedup":
        batches = _dedup_batches()
    elif corpus == "feeds":
        batches = _feed_batches(tmp_path, 100)
    else:
        batches = _feed_batches(tmp_path, 20, footers=True)
    total = sum(len(b) for b in batches)
    assert all(isinstance(getattr(a, PREPARED_ATTR), PreparedKeys) for b in batches for a in b)
    assert all(getattr(a, PREPARED_ATTR).kind == classify_kind(a.title, a.text)
               for b in batches for a in b)
    seen = _store_checking_each_doc(f"sqlite:///{tmp_path / 'with.db'}", batches, monkeypatch)
    assert seen["with payload"] == total
    if corpus == "dedup":
        # 318 documents; the members' footers are learnt after three headlines.
        assert total == 318
        assert seen["learnt boilerplate: computed in the store"] >= 50
        assert seen["precomputed keys used"] >= 50
    elif corpus == "feeds":
        # 100 feeds x 50 entries and the demo's feeds: no learnt boilerplate.
        assert total >= 5000
        assert seen["precomputed keys used"] == total
    else:
        # 20 feeds x 50 entries with a footer (and the demo's feeds): from the third entry of a
        # feed on, the footer is learnt and the store cleans the text itself.
        assert total >= 1000
        assert seen["learnt boilerplate: computed in the store"] >= 900
    _store(f"sqlite:///{tmp_path / 'without.db'}", _without_payload(batches))
    with_payload = _dump(f"sqlite:///{tmp_path / 'with.db'}")
    without = _dump(f"sqlite:///{tmp_path / 'without.db'}")
    assert with_payload == without
    # One keys row per article, ~60 keys each (one byte of band per key).
    assert len(with_payload[1]) == total and sum(len(r[3]) for r in with_payload[1]) > total * 20


def _prepare_with_hints(session: Any, batch: list[Article]) -> None:
    """What a harvest does: the batch's payloads are made in the worker told its source's learnt
    boilerplate as the store holds it before the batch."""
    hints = stories.boilerplate_hints(session, {a.source_id for a in batch})
    for source_id in {a.source_id for a in batch}:
        mine = [a for a in batch if a.source_id == source_id]
        attach_prepared_keys(mine, hints[source_id])


@pytest.mark.parametrize("corpus", ["dedup", "feeds-with-footers"])
def test_boilerplate_hints_let_the_store_use_payloads_of_sources_with_footers(
    corpus, tmp_path, monkeypatch
) -> None:
    if corpus == "dedup":
        batches = _dedup_batches()
    else:
        # Ten entries of a feed at a time, as successive harvests bring them: a feed's first
        # ten are stored before anything of its source is learnt.
        batches = [feed[i:i + 10] for feed in _feed_batches(tmp_path, 20, footers=True)
                   for i in range(0, len(feed), 10)]
    total = sum(len(b) for b in batches)
    seen = _store_checking_each_doc(f"sqlite:///{tmp_path / 'with.db'}", batches, monkeypatch,
                                    before=_prepare_with_hints)
    assert seen["with payload"] == total
    assumed = sum(bool(getattr(a, PREPARED_ATTR).assumed) for b in batches for a in b)
    if corpus == "dedup":
        # Without hints the store computed 232 of the 318 itself (86 used); what is left are
        # documents whose own observation makes a segment boilerplate.
        assert seen["precomputed keys used"] >= 280
        assert assumed >= 150
    else:
        # Without hints the store computed 960 of these itself. Now only each feed's first ten
        # entries, less the two stored before its footer is learnt, are: the forty that follow
        # were prepared assuming the footer.
        assert seen["learnt boilerplate: computed in the store"] == 20 * 8
        assert assumed == 20 * 40
    _store(f"sqlite:///{tmp_path / 'without.db'}", _without_payload(batches))
    assert _dump(f"sqlite:///{tmp_path / 'with.db'}") == _dump(f"sqlite:///{tmp_path / 'without.db'}")


def test_a_wrong_hint_costs_the_computation_not_the_result(tmp_path, monkeypatch) -> None:
    """Hints that name a segment the store does not hold for boilerplate (the article's own
    lead), or that miss the learnt footer, leave every article to the store's own cleaning."""
    batches = _feed_batches(tmp_path, 6, footers=True)

    def wrong(session: Any, batch: list[Article]) -> None:
        for i, a in enumerate(batch):
            lead = prepare_keys([(a.text, a.title, a.language)])[0].keys[0]
            attach_prepared_keys([a], {lead} if i % 2 else ())

    seen = _store_checking_each_doc(f"sqlite:///{tmp_path / 'with.db'}", batches, monkeypatch,
                                    before=wrong)
    footed = 6 * 50
    # Learnt after three headlines: from then on neither hint holds for a bench feed's entry.
    assert seen["learnt boilerplate: computed in the store"] >= footed - 6 * 3
    _store(f"sqlite:///{tmp_path / 'without.db'}", _without_payload(batches))
    assert _dump(f"sqlite:///{tmp_path / 'with.db'}") == _dump(f"sqlite:///{tmp_path / 'without.db'}")


def test_the_learners_boilerplate_keys_are_what_it_strips() -> None:
    learner = BoilerplateLearner(window=10, min_docs=3)
    footer = "Member One defends journalists in the region since 1998, from three offices."
    for i in range(4):
        learner.observe("one", f"Story number {i} about the press in the capital city.\n\n{footer}",
                        f"Headline {i}")
    keys = learner.boilerplate_keys("one")
    assert keys == {" ".join(prepare_keys([(footer, "", "en")])[0].keys)}
    assert learner.boilerplate_keys("unknown") == frozenset()
    [p] = prepare_keys([(f"A new story about arrests in the capital.\n\n{footer}", "New", "en")],
                       keys)
    assert p.assumed == tuple(keys) and p.kept == (0,)
    with pytest.raises(ValueError):
        prepare_keys([("a", "b", "en")], boilerplates=[])


@pytest.mark.parametrize("min_docs", [1, 3])
def test_the_learnt_keys_kept_up_to_date_are_those_under_enough_headlines(min_docs) -> None:
    """``BoilerplateLearner._learnt``, maintained as headlines come and leave the window, is
    always the keys seen under ``min_docs`` headlines or more."""
    import random

    rng = random.Random(7)
    learner = BoilerplateLearner(window=8, min_docs=min_docs)
    paragraphs = [f"Paragraph number {i} of the member's usual closing words" for i in range(6)]
    for _ in range(300):
        chosen = rng.sample(paragraphs, rng.randint(1, 4))
        learner.observe("m", "\n\n".join(chosen), f"Headline {rng.randint(0, 5)}")
        seen = learner._seen["m"]
        assert learner._learnt["m"] == {k for k, t in seen.items() if len(t) >= min_docs}
        assert learner.boilerplate_keys("m") == {
            k for k in seen if learner._is_boilerplate("m", k)}


def test_a_payload_is_used_only_for_its_own_text_and_fingerprint() -> None:
    text = "Journalists were arrested in the capital on Monday, their union said.\n\nMore."
    [p] = prepare_keys([(text, "Arrests", "en")])
    assert prepared_for(p, text, "Arrests", "en") is p
    assert prepared_for(p, text + " ", "Arrests", "en") is None
    assert prepared_for(p, text, "Arrest", "en") is None
    assert prepared_for(p, text, "Arrests", "fr") is None
    assert prepared_for(p._replace(fingerprint="0" * 32), text, "Arrests", "en") is None
    assert prepared_for(None, text, "Arrests", "en") is None
    assert p.fingerprint == KEYS_FINGERPRINT


def test_the_store_takes_the_kind_from_a_valid_payload_only(tmp_path) -> None:
    """The kind a worker classified is what the store records for that very text; a payload
    made under another fingerprint is not read at all."""
    [batch] = _dedup_batches()[:1]
    article = batch[0]
    payload = getattr(article, PREPARED_ATTR)
    assert payload.kind == classify_kind(article.title, article.text) != "roundup"
    setattr(article, PREPARED_ATTR, payload._replace(kind="roundup"))  # as if the worker said so
    _store(f"sqlite:///{tmp_path / 'a.db'}", [[article]])
    setattr(article, PREPARED_ATTR, payload._replace(kind="roundup", fingerprint="stale"))
    _store(f"sqlite:///{tmp_path / 'b.db'}", [[article]])
    kinds = [_dump(f"sqlite:///{tmp_path / name}")[0][0][4] for name in ("a.db", "b.db")]
    assert kinds == ["roundup", payload.kind]


def test_a_stale_payload_is_ignored_and_the_store_computes_the_keys(tmp_path) -> None:
    [batch] = _dedup_batches()[:1]
    article = batch[0]
    stale = getattr(article, PREPARED_ATTR)._replace(fingerprint="stale")
    setattr(article, PREPARED_ATTR, stale)
    other = Article(**{k: getattr(article, k) for k in article.__dataclass_fields__})
    _store(f"sqlite:///{tmp_path / 'a.db'}", [[article]])
    _store(f"sqlite:///{tmp_path / 'b.db'}", [[other]])
    assert _dump(f"sqlite:///{tmp_path / 'a.db'}") == _dump(f"sqlite:///{tmp_path / 'b.db'}")


def test_only_pool_jobs_prepare_keys() -> None:
    body = (ROOT / "tests/fixtures/feeds").glob("*")
    path = sorted(p for p in body if p.suffix in (".xml", ".rss", ".atom"))[0]
    source = Source(id="t", name="T", homepage="https://example.org/")
    job = FeedJob(body=path.read_bytes(), url="https://example.org/feed.xml", headers={},
                  source=source, feed_url="https://example.org/feed.xml", max_entries=500,
                  now=datetime(2026, 10, 29, 12, tzinfo=UTC))
    plain = prepare_feed(job).outcome.articles
    assert plain and not any(hasattr(a, PREPARED_ATTR) for a in plain)
    job.prepare_keys = True
    prepared = prepare_feed(job).outcome.articles
    assert prepared == plain  # the payload is not a field: the articles compare equal
    assert all(prepared_for(getattr(a, PREPARED_ATTR), a.text, a.title, a.language)
               for a in prepared)


def test_lower_words_are_the_normalised_lower_case_words_cold_warm_and_after_a_cache_clear(
    monkeypatch,
) -> None:
    """``_lower_words`` maps words through a cache of their lower-case normalisation: it must
    give the normalised forms of exactly the words that start with a lower-case letter (plus,
    possibly, "", which no name equals), whether the words are new, cached, or the cache is
    cleared for size in the middle of a text."""
    import random

    import store.similarity as sim

    def reference(toks: list[str]) -> set[str]:
        return {sim.normalise_text(w) for w in set(toks) if w and w[0].islower()}

    words = ["été", "Été", "ÉTÉ", "ana", "Ana", "iPhone", "İzmir", "ıssız", "straße", "Straße",
             "ǅemal", "ǆemal", "محمد", "o'brien", "O'Brien", "jean-pierre", "", "de", "De", "x_1",
             "ﬁle", "ｆull", "ñúñez", "Ñúñez", "the", "The"]
    rng = random.Random(11)
    texts = [[rng.choice(words) for _ in range(rng.randrange(0, 40))] for _ in range(300)]
    monkeypatch.setattr(sim, "_LOWER_NORM", {})
    for toks in texts + texts:  # new words first, then all cached
        got = sim._lower_words(toks)
        assert got - {""} == reference(toks) - {""}, toks
    assert "Ana" in sim._LOWER_NORM and sim._LOWER_NORM["Ana"] == ""
    assert "ana" in sim._lower_words(["Ana", "ana"]) and "ana" not in sim._lower_words(["Ana"])
    monkeypatch.setattr(sim, "_TOKEN_CACHE_MAX", 5)  # cleared on nearly every text
    monkeypatch.setattr(sim, "_LOWER_NORM", {})
    for toks in texts:
        assert sim._lower_words(toks) - {""} == reference(toks) - {""}, toks


def test_generic_phrases_found_by_the_automaton_are_those_a_substring_search_finds() -> None:
    """``_phrases_in`` scans the text once for all the generic phrases: it must list exactly
    the phrases that occur in it (overlapping, nested, repeated, at the edges, next to
    non-BMP characters), in ``_GENERIC_PHRASES``' order."""
    import random

    import store.similarity as sim

    phrases = sim._GENERIC_PHRASES
    rng = random.Random(7)
    bits = [*phrases, *(p[: len(p) // 2] for p in phrases), *(p[len(p) // 2 :] for p in phrases),
            " ", "\n", "𝔘", "été", "تابعونا", "x"]
    cases = [[], [""], [phrases[0]], [phrases[-1] + phrases[0]], ["\n".join(phrases)]]
    for _ in range(500):
        cases.append(["".join(rng.choice(bits) for _ in range(rng.randrange(0, 8)))
                      for _ in range(rng.randrange(0, 4))])
    hits = 0
    for norms in cases:
        whole = "\n".join(norms)
        expected = [p for p in phrases if p in whole]
        assert sim._phrases_in(norms) == expected, norms
        hits += len(expected) > 1
    assert hits > 50  # the cases do hold several phrases at once


def test_dedup_scale_with_a_worker_stores_what_the_store_alone_stores(tmp_path, capsys) -> None:
    """bench/dedup_scale.py's pipeline (a worker process prepares each batch with the hints as of
    the previous commit, while the store writes the one before) stores the same stories, with the
    same reasons, as the store computing every key itself; and the worker's keys were used."""
    from bench import dedup_scale

    dumps, counts = {}, {}
    for mode in ("worker", "alone"):
        db = tmp_path / f"{mode}.db"
        argv = ["--articles", "3000", "--batch", "500", "--db", str(db)]
        dedup_scale.main(argv + (["--no-workers"] if mode == "alone" else []))
        out = capsys.readouterr().out
        assert "3,000 stored" in out and "inserts/s" in out
        assert ("worker process:" in out) == (mode == "worker")
        dumps[mode] = _dump(f"sqlite:///{db}")
        engine, factory = open_db(f"sqlite:///{db}", migrate=False)
        with factory() as session:  # this process's counts for that database
            counts[mode] = stories.prepared_key_counts(session)
        engine.dispose()
    assert dumps["worker"] == dumps["alone"]
    assert len(dumps["worker"][0]) == 3000
    # The first two batches go to the worker before anything is learnt; later ones with the
    # footers and the members' recurring closing sentences (97% used once the window is full).
    assert counts["worker"]["used"] >= 1000 and counts["alone"] == {"used": 0, "recomputed": 0}
