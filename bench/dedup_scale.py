"""Near-duplicate store at scale: ``python bench/dedup_scale.py [--quick] [--articles N] [--no-workers]``.

Inserts synthetic articles (150-400 words, built from varied templates: alerts, court cases,
reports, statements, with names, places, outlets and figures drawn at random; about 6% are another
member's near-duplicate of a recent article) in batches through the real store path —
``store.articles.upsert_articles`` into a temporary SQLite file, one commit per batch, story
assignment with the near-duplicate level included — in publication order, about 250 articles a
day across 100 members.

As in a harvest, what the near-duplicate level needs of a new article that does not depend on
the store (its cleaned text's signatures, its features: ``store.similarity.prepare_keys``) is
computed ahead in a worker process, told each source's learnt boilerplate
(``store.stories.boilerplate_hints``) as the store's learner had it after the previous batch;
the store checks that hint for every article and computes the keys itself where it no longer
holds. The worker prepares batch N+1 while the store writes batch N; the store's time includes
any wait for the worker. ``--no-workers``: the store computes everything itself.

Prints the cost per insert measured over a window of batches before each mark (10k, 100k, 1M
stored; 10k and 50k with ``--quick``), the 1M/10k ratio (target ≤ 1.5), the overall rate
(target ≥ 2,000 inserts/s) and the worker's CPU per article. Generating the texts is not timed.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, func, select  # noqa: E402

from pipeline.items import Article  # noqa: E402
from roundups.runtime import batch_gc  # noqa: E402
from store.articles import PREPARED_ATTR, upsert_articles  # noqa: E402
from store.db import open_db  # noqa: E402
from store.models import ArticleRow, StoryRow  # noqa: E402
from store.similarity import PreparedKeys, prepare_keys  # noqa: E402
from store.stories import boilerplate_hints  # noqa: E402

SEED = 20240601
SOURCES = [f"member{i:03d}" for i in range(100)]
PER_DAY = 250
WINDOW = 5_000  # articles measured before each mark

FIRST = ["Amina", "Tunde", "Halima", "Farai", "Esi", "Kofi", "Maria", "Jose", "Lucia", "Ahmed",
         "Leila", "Omar", "Nadia", "Ivan", "Olga", "Ravi", "Priya", "Mei", "Juan", "Carmen",
         "Yusuf", "Fatima", "Samuel", "Grace", "Pedro", "Ana", "Karim", "Salma", "Dmitri", "Irina"]
LAST = ["Adebayo", "Okoro", "Chikomba", "Mensah", "Boateng", "Lopez", "Garcia", "Haddad",
        "Khalil", "Petrov", "Sokolova", "Sharma", "Patel", "Wang", "Torres", "Mwangi", "Otieno",
        "Ndlovu", "Diallo", "Traore", "Cisse", "Salazar", "Rahman", "Hossain", "Nasser", "Farouk",
        "Kovacs", "Novak", "Silva", "Santos", "Mendoza", "Castillo", "Yilmaz", "Demir", "Kaya"]
PLACES = ["Lagos", "Abuja", "Accra", "Tamale", "Harare", "Nairobi", "Kampala", "Dakar", "Bamako",
          "Lima", "Bogota", "Caracas", "Manila", "Dhaka", "Karachi", "Lahore", "Cairo", "Tunis",
          "Beirut", "Baghdad", "Istanbul", "Ankara", "Belgrade", "Minsk", "Tbilisi", "Almaty",
          "Mexico City", "Guadalajara", "Tegucigalpa", "Managua", "Colombo", "Kathmandu"]
OUTLETS = ["Daily Ledger", "Morning Star", "Voice of the People", "Radio Libre", "City Mirror",
           "The Clarion", "Sunrise FM", "Independent Observer", "Nation Online", "Coastal Times",
           "Valley Post", "Capital Herald", "Metro Watch", "Frontline TV", "Citizen Radio"]
ACTS = ["arrested", "detained", "assaulted", "threatened", "summoned for questioning",
        "charged with spreading false news", "sued for defamation", "barred from travelling",
        "placed under surveillance", "attacked by unidentified men", "deported", "fined"]
TOPICS = ["land deals", "police abuses", "a corruption case", "an election dispute",
          "illegal mining", "hospital deaths", "road contracts", "a protest", "military spending",
          "water shortages", "a bank fraud", "forced evictions", "a prison riot", "fuel prices"]
LAWS = ["the Cybercrimes Act", "the penal code", "the anti-terrorism law", "the public order act",
        "the media law", "the national security law", "the sedition law"]
OPENERS = [
    "{who}, a {role} with {outlet}, was {act} in {place} on {day} {month} after reporting on {topic}.",
    "Police in {place} {act2} {who} of {outlet} on {day} {month}, days after a story on {topic}.",
    "On {day} {month}, {who}, who works as a {role} for {outlet}, was {act} in {place}.",
    "Authorities in {place} have {act2} the {role} {who}, whose reporting for {outlet} exposed {topic}.",
    "{outlet} said its {role} {who} was {act} near {place} on {day} {month} while covering {topic}.",
]
MIDDLES = [
    "Officers seized {n} phones and a laptop and questioned {him} for {h} hours about {his} sources.",
    "{His} lawyer said {he} was accused of offences under {law} and could face {y} years in prison.",
    "Colleagues said the case followed {n} similar incidents in the region since {year}.",
    "The {role} had received threats by phone for {w} weeks before the incident, according to {outlet}.",
    "A court in {place} set the next hearing for {day2} {month2} and refused bail.",
    "{He} was released after {h} hours but ordered to report to the police every {w} days.",
    "Witnesses said {n} men in plain clothes took {him} away in an unmarked car.",
    "Prosecutors cited {law}, which rights groups say is used to silence critical reporting.",
    "The newsroom of {outlet} was searched and {n} computers were taken as evidence.",
    "Family members said they had not been told where {he} was being held for {h} hours.",
    "{outlet} has published {n} articles on {topic} this year, several of them based on leaked documents.",
    "The local journalists' union called a meeting and said {w} members had been harassed this month.",
]
CLOSERS = [
    "{org} condemns the {noun} and calls on the authorities to drop all charges.",
    "{org} urges the authorities to investigate and to guarantee that journalists can work safely.",
    "{org} will continue to monitor the case and to support {his} family.",
    "{org} calls for the immediate and unconditional release of {who}.",
    "{org} reminds the government of its obligations under international human rights law.",
]
ROLES = ["reporter", "editor", "photographer", "presenter", "blogger", "correspondent", "producer"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
FOOTERS = [
    "Follow us on social media for daily updates on press freedom.",
    "Support our work: every donation helps us defend journalists at risk.",
    "For more information, contact our alert desk.",
]


def _fill(rng: random.Random, template: str, slots: dict[str, str]) -> str:
    return template.format(
        n=rng.randint(2, 40), h=rng.randint(2, 30), y=rng.randint(2, 15), w=rng.randint(2, 12),
        year=rng.randint(2010, 2023), day2=rng.randint(1, 28), month2=rng.choice(MONTHS), **slots
    )


class Corpus:
    """Deterministic synthetic articles in publication order."""

    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.start = datetime(2012, 1, 1, 6, tzinfo=UTC)
        self.recent: list[tuple[str, str, str, datetime]] = []  # (source, title, text, date)
        self.footers = {s: f"About {s}: {self.rng.choice(FOOTERS)} " + " ".join(
            self.rng.choice(LAST).lower() for _ in range(12)) for s in SOURCES}
        self.count = 0
        self.duplicates = 0
        # Reporting differs from one event to the next in most of its words: free sentences from
        # a large vocabulary keep unrelated articles as far apart as real ones (Jaccard < 0.1).
        syllables = [c + v for c in "bcdfghklmnprstvz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]
        self.vocab = sorted({"".join(self.rng.sample(syllables, self.rng.randint(2, 4)))
                             for _ in range(6000)})
        self.glue = ["the", "of", "and", "to", "in", "a", "that", "for", "on", "with", "was", "by"]

    def _free(self) -> str:
        rng = self.rng
        words = [rng.choice(self.vocab) if rng.random() < 0.7 else rng.choice(self.glue)
                 for _ in range(rng.randint(9, 18))]
        return " ".join(words).capitalize() + "."

    def _text(self, source: str) -> tuple[str, str]:
        rng = self.rng
        female = rng.random() < 0.5
        pron = {"he": "she", "He": "She", "him": "her", "his": "her", "His": "Her"} if female else {
            "he": "he", "He": "He", "him": "him", "his": "his", "His": "His"}
        who = f"{rng.choice(FIRST)} {rng.choice(LAST)}-{rng.choice(LAST)}"
        slots = {
            "who": who, "outlet": rng.choice(OUTLETS), "place": rng.choice(PLACES),
            "act": rng.choice(ACTS), "act2": rng.choice(["arrested", "detained", "charged", "questioned"]),
            "topic": rng.choice(TOPICS), "law": rng.choice(LAWS), "role": rng.choice(ROLES),
            "day": str(rng.randint(1, 28)), "month": rng.choice(MONTHS), "org": source.upper(),
            "noun": rng.choice(["arrest", "detention", "attack", "charges", "harassment"]), **pron,
        }
        target = rng.randint(150, 400)
        paras = [_fill(rng, rng.choice(OPENERS), slots)]
        words = len(paras[0].split())
        pool = MIDDLES[:]
        while words < target - 25:
            rng.shuffle(pool)
            parts = [_fill(rng, t, slots) for t in pool[: rng.randint(1, 2)]]
            parts += [self._free() for _ in range(rng.randint(2, 3))]
            rng.shuffle(parts)
            para = " ".join(parts)
            paras.append(para)
            words += len(para.split())
        paras.append(_fill(rng, rng.choice(CLOSERS), slots))
        paras.append(self.footers[source])
        title = f"{slots['place']}: {slots['role']} {who} {slots['act']}"
        return title, "\n\n".join(paras)

    def next(self) -> Article:
        rng = self.rng
        i = self.count
        self.count += 1
        published = self.start + timedelta(seconds=i * 86400 / PER_DAY + rng.randint(0, 3600))
        source = SOURCES[rng.randrange(len(SOURCES))]
        if self.recent and rng.random() < 0.06:
            # Another member's copy of a recent article: its own intro, the last paragraph gone.
            src0, title, text, when = rng.choice(self.recent)
            paras = text.split("\n\n")
            text = "\n\n".join([f"{source.upper()} shares this alert from {src0.upper()}.",
                                *paras[:-2], self.footers[source]])
            self.duplicates += 1
        else:
            title, text = self._text(source)
            self.recent.append((source, title, text, published))
            if len(self.recent) > 500:
                self.recent = self.recent[-500:]
        return Article(
            source_id=source, guid=f"{source}-{i}", url=f"https://{source}.example.org/a/{i}",
            title=title, text=text, summary=text[:200], published=published, date_flag=None,
            raw_date=None, language="en", content_hash=f"{i:032x}", countries=["GH"],
            region="africa", topics=["journalists"], feed_url=f"https://{source}.example.org/feed",
        )


def _prepare(
    articles: list[tuple[str, str, str | None, str]], hints: dict[str, frozenset[str]]
) -> tuple[list[PreparedKeys], float]:
    """In the worker process: each ``(text, title, language, source)``'s payload, with its
    source's boilerplate hint, and the CPU time it took."""
    c0 = time.process_time()
    prepared = prepare_keys([a[:3] for a in articles],
                            boilerplates=[hints.get(a[3], frozenset()) for a in articles])
    return prepared, time.process_time() - c0


def _send(pool: ProcessPoolExecutor, batch: list[Article],
          hints: dict[str, frozenset[str]]) -> Future[tuple[list[PreparedKeys], float]]:
    return pool.submit(_prepare, [(a.text, a.title, a.language, a.source_id) for a in batch],
                       {a.source_id: hints.get(a.source_id, frozenset()) for a in batch})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="50,000 articles (marks 10k, 50k)")
    parser.add_argument("--articles", type=int, default=None, help="how many to insert")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--db", default=None, help="SQLite file (default: a temporary one)")
    parser.add_argument("--no-workers", action="store_true",
                        help="no worker process: the store computes every article's keys")
    args = parser.parse_args(argv)
    total = args.articles or (50_000 if args.quick else 1_000_000)
    marks = [m for m in (10_000, 100_000, 1_000_000) if m <= total]
    if total not in marks:
        marks.append(total)

    # Started before the database is opened: the worker inherits no connection.
    pool = None if args.no_workers else ProcessPoolExecutor(max_workers=1)
    tmp = tempfile.TemporaryDirectory(prefix="roundup-scale-")
    path = Path(args.db) if args.db else Path(tmp.name) / "scale.db"
    engine, factory = open_db(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _cache(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # 1 GB page cache: the bench measures the store's algorithm, not the default 2 MB cache.
        dbapi_connection.execute("PRAGMA cache_size = -1000000")

    engine.dispose()
    corpus = Corpus()
    now = datetime(2030, 1, 1, tzinfo=UTC)
    timed = 0.0
    timed_cpu = 0.0  # process CPU time over the same timed sections (the machine is shared)
    window_cost: dict[int, float] = {}
    window_time = 0.0
    window_cpu = 0.0
    window_n = 0
    worker_cpu = 0.0
    started = time.perf_counter()
    how = "keys prepared in a worker process" if pool else "no worker: the store computes the keys"
    print(f"inserting {total:,} articles in batches of {args.batch} into {path} ({how})",
          flush=True)
    # The collector set up as for a harvest (roundups.runtime.batch_gc): what is loaded so far
    # frozen, young passes rarer.
    with batch_gc(), factory() as session:
        stored = 0
        batch = [corpus.next() for _ in range(min(args.batch, total))]
        pending = _send(pool, batch, {}) if pool else None
        while stored < total:
            # The next batch goes to the worker (with the hints as of the last commit) before
            # this one is stored.
            after = [corpus.next() for _ in range(min(args.batch, total - stored - len(batch)))]
            t0, c0 = time.perf_counter(), time.process_time()
            if pending is not None:
                prepared, cpu = pending.result()
                worker_cpu += cpu
                for article, keys in zip(batch, prepared, strict=True):
                    setattr(article, PREPARED_ATTR, keys)
                if pool and after:
                    hints = boilerplate_hints(session, {a.source_id for a in after})
                    pending = _send(pool, after, hints)
                else:
                    pending = None
            upsert_articles(session, batch, now)
            session.commit()
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            timed += dt
            timed_cpu += dc
            stored += len(batch)
            mark = next((m for m in marks if m not in window_cost and stored > m - WINDOW), None)
            if mark is not None:
                window_time += dt
                window_cpu += dc
                window_n += len(batch)
                if stored >= mark:
                    window_cost[mark] = window_time / window_n
                    print(f"  {mark:>9,} stored: {window_cost[mark] * 1e3:.3f} ms/insert "
                          f"({1 / window_cost[mark]:,.0f}/s over the last {window_n:,}); "
                          f"overall {stored / timed:,.0f}/s; wall {time.perf_counter() - started:,.0f} s; "
                          f"CPU {window_cpu / window_n * 1e3:.3f} ms/insert",
                          flush=True)
                    window_time, window_cpu, window_n = 0.0, 0.0, 0
            batch = after
        stories = session.scalar(select(func.count()).select_from(StoryRow))
        multi = session.scalar(select(func.count()).select_from(StoryRow).where(StoryRow.article_count > 1))
        articles = session.scalar(select(func.count()).select_from(ArticleRow))
    engine.dispose()
    size = path.stat().st_size / 1e9
    first, last = window_cost[marks[0]], window_cost[marks[-1]]
    print(f"articles {articles:,} ({corpus.duplicates:,} synthetic near-duplicates); stories "
          f"{stories:,}, of which {multi:,} with more than one article; database {size:.2f} GB")
    print(f"cost at {marks[-1]:,} / cost at {marks[0]:,}: {last / first:.2f} (target ≤ 1.5)")
    rate = articles / timed
    print(f"overall: {rate:,.0f} inserts/s (target ≥ 2,000); timed {timed:,.0f} s, "
          f"wall {time.perf_counter() - started:,.0f} s; CPU {timed_cpu:,.0f} s "
          f"({timed_cpu / articles * 1e3:.3f} ms/insert)")
    if pool is not None:
        pool.shutdown()
        print(f"worker process: {worker_cpu:,.0f} s CPU ({worker_cpu / articles * 1e3:.3f} ms per "
              "article) preparing keys beside the store")
    ok = last / first <= 1.5 and rate >= 2000
    print("targets met" if ok else "TARGETS MISSED")
    tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
