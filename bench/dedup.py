"""Near-duplicate evaluation: ``python bench/dedup.py`` (``--verbose`` lists every error).

Builds a labelled corpus from ``bench/data/dedup/`` (hand-written events, each expanded into the
variants a harvester really meets: the original with its footer, a repost by another member, a
reworded headline, reordered paragraphs, a feed teaser, a link with tracking parameters, and
translations), then feeds the documents one by one, in shuffled order, through the path the store
uses for a new article:

    BoilerplateLearner.strip → Doc → index_keys → candidate lookup → NearDupMatcher.best_match

The candidate lookup runs twice: on :class:`store.similarity.BandIndex` (the in-memory stand-in)
and on a real SQLite ``article_band(article_id, band, hash)`` table with the SQL query of
``store/similarity.py``; both must give the same stories.

Prints pair precision, recall and F1 for same-language pairs and for translation pairs, the number
of look-alike pairs merged, timings, and exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sqlite3
import statistics
import sys
import time
import tomllib
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from store.similarity import (  # noqa: E402
    SCHEMES,
    BandIndex,
    BoilerplateLearner,
    Doc,
    NearDupMatcher,
    index_keys,
    jaccard_estimate,
    query_keys,
    signature,
    strip_boilerplate,
)

DATA = ROOT / "bench" / "data" / "dedup"
TARGETS = {"same_language_f1": 0.95, "translation_f1": 0.85, "lookalike_merged": 0}
SEED = 20240501

INTRO = {
    "en": "This alert was first published by {name}. IFEX shares it with the network.",
    "fr": "Cette alerte a d'abord été publiée par {name}. IFEX la partage avec le réseau.",
    "es": "Esta alerta fue publicada originalmente por {name}. IFEX la comparte con la red.",
    "ar": "نشرت هذه التنبيه أولا من قبل {name}. تشاركه آيفكس مع أعضاء الشبكة.",
}


OPENING = {
    "en": "{name} is alarmed by new reports from its partners and shares the following details.",
    "fr": "{name} est préoccupée par les informations transmises par ses partenaires.",
    "es": "{name} expresa su preocupación por la información recibida de sus socios.",
    "ar": "تعرب {name} عن قلقها إزاء المعلومات الواردة من شركائها.",
}
CALL = {
    "en": "{name} joins {source} in urging the authorities to act without delay and to guarantee "
    "that journalists can work safely.",
    "fr": "{name} se joint à {source} pour exhorter les autorités à agir sans délai et à garantir "
    "la sécurité des journalistes.",
    "es": "{name} se une a {source} para instar a las autoridades a actuar sin demora y garantizar "
    "la seguridad de los periodistas.",
    "ar": "تنضم {name} إلى {source} في حث السلطات على التحرك دون تأخير وضمان سلامة الصحفيين.",
}


@dataclass
class Record:
    id: int
    event: str
    lookalike: str | None
    variant: str
    language: str
    source: str
    title: str
    text: str
    url: str
    published: datetime
    countries: tuple[str, ...]


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.strip().split("\n\n") if p.strip()]


def _first_sentence(text: str) -> str:
    first = _paragraphs(text)[0]
    for end in (". ", "? ", "! "):
        if end in first:
            return first.split(end, 1)[0] + end.strip()
    return first


def load_corpus() -> list[Record]:
    sources = {s["id"]: s for s in tomllib.loads((DATA / "sources.toml").read_text())["source"]}
    events = []
    for path in sorted(DATA.glob("events_*.toml")):
        events += tomllib.loads(path.read_text())["event"]
    records: list[Record] = []

    def add(ev: dict, variant: str, lang: str, source: str, title: str, text: str,
            url: str, days: int) -> None:
        footer = sources[source].get("footer", {}).get(lang, "")
        body = text.strip() + ("\n\n" + footer.strip() if footer and variant != "teaser" else "")
        base = datetime.fromisoformat(ev["published"]).replace(hour=9, tzinfo=UTC)
        records.append(
            Record(len(records), ev["id"], ev.get("lookalike"), variant, lang, source, title,
                   body, url, base + timedelta(days=days, hours=len(records) % 7),
                   tuple(ev.get("countries", ())))
        )

    for ev in events:
        lang = ev.get("language", "en")
        src = sources[ev["source"]]
        slug = ev["id"]
        ym = ev["published"][:7].replace("-", "/")
        url = f"https://{src['host']}/{ym}/{slug}/"
        others = [s for s in sources.values()
                  if s["id"] not in (src["id"], "ifex") and lang in s.get("footer", {})]
        other = others[sum(map(ord, slug)) % len(others)] if others else sources["ifex"]
        paras = _paragraphs(ev["text"])
        text = "\n\n".join(paras)
        add(ev, "original", lang, src["id"], ev["title"], text, url, 0)
        add(ev, "tracking", lang, src["id"], ev["title"], text,
            url + "?utm_source=newsletter&utm_medium=email&utm_campaign=weekly", 0)
        intro = INTRO[lang].format(name=src["name"])
        add(ev, "repost", lang, "ifex", ev["title"], intro + "\n\n" + text,
            f"https://ifex.example.org/{lang}/{ym}/{slug}-repost/", 1)
        add(ev, "retitled", lang, other["id"], ev["alt_title"], text,
            f"https://{other['host']}/news/{slug.split('-')[0]}-{len(records)}", 1)
        reordered = paras[:1] + paras[1:][::-1]
        add(ev, "reordered", lang, "ifex", ev["title"], "\n\n".join(reordered),
            f"https://ifex.example.org/{lang}/alerts/{len(records)}", 2)
        # Another member rewrites: its own opening, the last paragraph dropped, its own call.
        add(ev, "edited", lang, other["id"], ev["alt_title"],
            "\n\n".join([OPENING[lang].format(name=other["name"]), *paras[:-1],
                          CALL[lang].format(name=other["name"], source=src["name"])]),
            f"https://{other['host']}/statements/{slug}", 2)
        add(ev, "teaser", lang, "ifex", ev["alt_title"], ev.get("teaser") or _first_sentence(text),
            f"https://ifex.example.org/{lang}/feed-item-{len(records)}", 0)
        for tlang, tr in ev.get("translations", {}).items():
            tsrc = src if tlang in src.get("footer", {}) else sources["ifex"]
            add(ev, f"translation-{tlang}", tlang, tsrc["id"], tr["title"],
                "\n\n".join(_paragraphs(tr["text"])),
                f"https://{tsrc['host']}/{tlang}/{ym}/{slug}/", 1 + len(records) % 3)
    return records


class SqliteBandIndex:
    """The ``article_band`` table and the candidate query, on SQLite."""

    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:")
        self.db.execute(
            "CREATE TABLE article_band (article_id INTEGER NOT NULL, band INTEGER NOT NULL,"
            " hash BIGINT NOT NULL, PRIMARY KEY (band, hash, article_id))"
        )

    def add(self, item_id: Hashable, keys: Iterable[tuple[int, int]]) -> None:
        self.db.executemany(
            "INSERT OR IGNORE INTO article_band (article_id, band, hash) VALUES (?, ?, ?)",
            [(item_id, b, h) for b, h in keys],
        )

    def candidates(self, keys: Iterable[tuple[int, int]]) -> list[Hashable]:
        keys = list(keys)
        if not keys:
            return []
        where = " OR ".join(["(band = ? AND hash = ?)"] * len(keys))
        rows = self.db.execute(
            f"SELECT article_id, COUNT(*) AS shared FROM article_band WHERE {where}"
            " GROUP BY article_id ORDER BY shared DESC, CAST(article_id AS TEXT)",
            [v for key in keys for v in key],
        ).fetchall()
        return [r[0] for r in rows]


def run(records: list[Record], index, matcher: NearDupMatcher) -> tuple[dict, Counter, list]:
    order = list(records)
    random.Random(SEED).shuffle(order)
    learner = BoilerplateLearner()
    docs: dict[int, Doc] = {}
    parent: dict[int, int] = {}  # union-find over stories: a bridging article merges them
    rules: Counter[str] = Counter()
    log = []

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for rec in order:
        learner.observe(rec.source, rec.text, rec.title)
        doc = Doc(
            title=rec.title,
            text=learner.strip(rec.source, rec.text),
            language=rec.language,
            url=rec.url,
            published=rec.published,
            source_id=rec.source,
            countries=rec.countries,
            id=rec.id,
        )
        keys = index_keys(doc)
        candidates = [docs[c] for c in index.candidates(query_keys(doc))]
        parent[rec.id] = rec.id
        for cand, decision in matcher.matches(doc, candidates):
            assert isinstance(cand.id, int)
            root = find(cand.id)
            if root != find(rec.id):
                parent[root] = find(rec.id)
                rules[decision.rule] += 1
            log.append((rec.id, cand.id, decision.reason))
        index.add(rec.id, keys)
        docs[rec.id] = doc
    story = {i: find(i) for i in parent}
    return story, rules, log


def run_store(records: list[Record]) -> tuple[dict[int, int], float]:
    """The same documents, in the same shuffled order, one at a time through the real store path:
    ``store.articles.upsert_articles`` into a temporary SQLite file (story levels, article_band
    rows, boilerplate learnt from stored articles, merges of bridged stories). Returns each
    record's story and the documents stored per second."""
    import hashlib
    import tempfile

    from sqlalchemy import select

    from pipeline.items import Article
    from store.articles import upsert_articles
    from store.db import open_db
    from store.models import ArticleRow

    order = list(records)
    random.Random(SEED).shuffle(order)
    with tempfile.TemporaryDirectory(prefix="roundup-dedup-") as tmp:
        engine, factory = open_db(f"sqlite:///{tmp}/dedup.db")
        now = datetime(2030, 1, 1, tzinfo=UTC)
        t0 = time.perf_counter()
        with factory() as session:
            for rec in order:
                art = Article(
                    source_id=rec.source, guid=str(rec.id), url=rec.url, title=rec.title,
                    text=rec.text, summary=rec.text[:200], published=rec.published,
                    date_flag=None, raw_date=None, language=rec.language,
                    content_hash=hashlib.sha256(rec.text.encode()).hexdigest(),
                    countries=list(rec.countries),
                )
                upsert_articles(session, [art], now)
                session.commit()
            elapsed = time.perf_counter() - t0
            story = {int(guid): sid for guid, sid in session.execute(
                select(ArticleRow.guid, ArticleRow.story_id))}
        engine.dispose()
    return story, len(order) / elapsed


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def evaluate(records: list[Record], story: dict[int, int]) -> dict:
    counts: dict[str, Counter[str]] = {k: Counter() for k in ("same", "trans")}
    errors = []
    lookalike_merged = 0
    for a, b in itertools.combinations(records, 2):
        truth = a.event == b.event
        pred = story[a.id] == story[b.id]
        if not truth and not pred:
            continue
        kind = "same" if a.language == b.language else "trans"
        key = "tp" if truth and pred else ("fp" if pred else "fn")
        counts[kind][key] += 1
        if pred and not truth and a.lookalike and a.lookalike == b.lookalike:
            lookalike_merged += 1
        if key != "tp":
            errors.append((key, a, b))
    out = {"errors": errors, "lookalike_merged": lookalike_merged}
    for kind in ("same", "trans"):
        c = counts[kind]
        out[kind] = (c["tp"], c["fp"], c["fn"], *prf(c["tp"], c["fp"], c["fn"]))
    return out


def direct(records: list[Record], matcher: NearDupMatcher) -> tuple[dict, list]:
    """Pairwise decisions without clustering: per variant, how often ``same_story(original,
    variant)`` says yes; and the MinHash estimate of every long same-language pair, for the
    threshold sweep."""
    docs = {r.id: Doc(r.title, strip_boilerplate(r.text), r.language, r.url, r.published,
                      r.source, r.countries, r.id) for r in records}
    originals = {r.event: r for r in records if r.variant == "original"}
    per_variant: dict[str, list[bool]] = defaultdict(list)
    for r in records:
        if r.variant != "original":
            per_variant[r.variant].append(matcher.same_story(docs[originals[r.event].id],
                                                             docs[r.id]).same)
    pairs = []
    long_docs = [r for r in records if not docs[r.id].is_short]
    for a, b in itertools.combinations(long_docs, 2):
        if a.language == b.language:
            pairs.append((a.event == b.event,
                          jaccard_estimate(docs[a.id].signature, docs[b.id].signature),
                          bool(a.lookalike and a.lookalike == b.lookalike and a.event != b.event)))
    return {k: sum(v) / len(v) for k, v in sorted(per_variant.items())}, pairs


def timings(records: list[Record]) -> dict[str, float]:
    """Per-article costs on ~600-word English texts made by shuffling the corpus's sentences.

    "cold" starts with an empty token-hash cache (every word hashed); "warm" is the steady state
    of a harvester that has seen the vocabulary before.
    """
    import store.similarity as sim

    sentences = [s for r in records if r.language == "en" and r.variant == "original"
                 for s in r.text.replace("\n\n", " ").split(". ")]
    rng = random.Random(SEED)
    texts = []
    for _ in range(300):
        picked, n = [], 0
        while n < 600:
            s = rng.choice(sentences)
            picked.append(s)
            n += len(s.split())
        texts.append(". ".join(picked))
    out: dict[str, float] = {}
    for phase in ("cold", "warm"):
        if phase == "cold":
            sim._TOKEN_CACHE.clear()
        t0 = time.perf_counter()
        for t in texts:
            signature(t)
        out[f"signature_ms_{phase}"] = (time.perf_counter() - t0) / len(texts) * 1000
        if phase == "cold":
            sim._TOKEN_CACHE.clear()
        docs = [Doc("headline", t, "en") for t in texts]
        t0 = time.perf_counter()
        for d in docs:
            index_keys(d)
        out[f"index_keys_ms_{phase}"] = (time.perf_counter() - t0) / len(docs) * 1000
    # The store's path per new article: keys, candidate query, insert of the band rows.
    idx = SqliteBandIndex()
    docs = [Doc("headline", t, "en", id=i) for i, t in enumerate(texts * 4)]
    t0 = time.perf_counter()
    for d in docs:
        keys = index_keys(d)
        idx.candidates(query_keys(d))
        idx.add(d.id, keys)
    out["sqlite_inserts_per_s"] = len(docs) / (time.perf_counter() - t0)
    out["words"] = statistics.mean(len(t.split()) for t in texts)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verbose", action="store_true", help="list every wrong pair")
    args = parser.parse_args(argv)

    records = load_corpus()
    matcher = NearDupMatcher()
    t0 = time.perf_counter()
    story, rules, log = run(records, BandIndex(), matcher)
    elapsed = time.perf_counter() - t0
    story_sql, _, _ = run(records, SqliteBandIndex(), matcher)
    res = evaluate(records, story)

    events = {r.event for r in records}
    langs = Counter(r.language for r in records)
    print(f"corpus: {len(records)} documents, {len(events)} events, "
          f"languages {dict(sorted(langs.items()))}, "
          f"{len({r.lookalike for r in records if r.lookalike})} look-alike groups")
    print(f"stories formed: {len(set(story.values()))} (truth: {len(events)})")
    for kind, label in (("same", "same-language pairs"), ("trans", "translation pairs")):
        tp, fp, fn, p, r, f = res[kind]
        print(f"{label:21s} precision {p:.3f}  recall {r:.3f}  F1 {f:.3f}  "
              f"(tp {tp}, fp {fp}, fn {fn})")
    print(f"look-alike pairs merged: {res['lookalike_merged']}")
    print("merges by rule: " + ", ".join(f"{k} {v}" for k, v in rules.most_common()))
    print(f"SQLite article_band path gives the same stories: {story_sql == story}")
    story_db, db_rate = run_store(records)
    res_db = evaluate(records, story_db)
    print(f"through the store (upsert_articles into SQLite, {db_rate:.0f} docs/s): "
          f"same-language F1 {res_db['same'][5]:.3f}, translation F1 {res_db['trans'][5]:.3f}, "
          f"look-alike pairs merged {res_db['lookalike_merged']}, "
          f"stories {len(set(story_db.values()))}")
    per_variant, pairs = direct(records, matcher)
    print("direct decision original ~ variant (no clustering): " + ", ".join(
        f"{k} {v:.2f}" for k, v in per_variant.items()))
    print("MinHash alone on long same-language pairs (threshold: P/R, look-alike pairs above):")
    cells = []
    for t in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        tp = sum(1 for truth, j, _ in pairs if truth and j >= t)
        fp = sum(1 for truth, j, _ in pairs if not truth and j >= t)
        fn = sum(1 for truth, j, _ in pairs if truth and j < t)
        la = sum(1 for _, j, look in pairs if look and j >= t)
        p, r, _ = prf(tp, fp, fn)
        cells.append(f"{t:.1f}: {p:.2f}/{r:.2f} la {la}")
    print("  " + "  ".join(cells))
    top_lookalike = max((j for _, j, look in pairs if look), default=0.0)
    low_true = min((j for truth, j, _ in pairs if truth), default=1.0)
    print(f"  highest look-alike estimate {top_lookalike:.2f}; lowest true-pair estimate "
          f"{low_true:.2f}")
    text = SCHEMES["text"]
    curve = "  ".join(f"J={j:.1f}:{text.candidate_probability(j):.2f}"
                      for j in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8))
    print(f"text bands {text.bands}x{text.rows}, P(candidate): {curve}")
    print(f"pipeline over corpus: {len(records) / elapsed:.0f} docs/s "
          "(strip + keys + candidates + decisions)")
    tm = timings(records)
    print(f"per {tm['words']:.0f}-word text: signature {tm['signature_ms_warm']:.3f} ms "
          f"(cold cache {tm['signature_ms_cold']:.3f}); all band keys incl. boilerplate strip "
          f"{tm['index_keys_ms_warm']:.3f} ms (cold {tm['index_keys_ms_cold']:.3f})")
    print(f"with a SQLite article_band table (keys + candidate query + insert): "
          f"{tm['sqlite_inserts_per_s']:.0f} articles/s")
    if args.verbose:
        by_id = {r.id: r for r in records}
        for key, a, b in res["errors"]:
            print(f"  {key}: [{a.event} {a.variant}] ~ [{b.event} {b.variant}]")
        for new, old, reason in log:
            if by_id[new].event != by_id[old].event:
                print(f"  wrong merge {by_id[new].event}/{by_id[new].variant} -> "
                      f"{by_id[old].event}/{by_id[old].variant}: {reason}")

    failed = []
    if res["same"][5] < TARGETS["same_language_f1"]:
        failed.append("same-language F1")
    if res["trans"][5] < TARGETS["translation_f1"]:
        failed.append("translation F1")
    if res["lookalike_merged"] > TARGETS["lookalike_merged"]:
        failed.append("look-alike merges")
    if story_sql != story:
        failed.append("SQLite path differs")
    if (res_db["same"][5] < TARGETS["same_language_f1"]
            or res_db["trans"][5] < TARGETS["translation_f1"]
            or res_db["lookalike_merged"] > TARGETS["lookalike_merged"]):
        failed.append("store path")
    print("targets: " + ("all met" if not failed else "MISSED: " + ", ".join(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
