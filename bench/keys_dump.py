"""Dump the near-duplicate keys a feed worker prepares (``store.similarity.prepare_keys``) for
every article of ``bench/prepared_dump.py``'s feed corpora, for ``bench/dedup.py``'s documents,
for the tagging corpus and for random junk, as JSON lines: the key-preparation side of the store
must give byte-identical output before and after an optimisation (``prepared_dump.py`` covers
the articles, not these keys, which are an attribute outside the article's fields).

    python bench/keys_dump.py OUT.jsonl        # in each checkout, then: cmp A.jsonl B.jsonl

The fingerprint (a hash of store/similarity.py's source) is left out: it changes with any edit.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

ROOT = Path.cwd()
sys.path.insert(0, str(ROOT))

from bench.dedup import load_corpus  # noqa: E402
from bench.harvest import demo_feed_jobs, feed_jobs, write_feeds  # noqa: E402
from scrapers.feedwork import FeedJob, prepare_feed  # noqa: E402
from store.articles import PREPARED_ATTR  # noqa: E402
from store.registry_types import Source  # noqa: E402
from store.similarity import PreparedKeys, prepare_keys  # noqa: E402

NOW = datetime(2026, 10, 29, 12, tzinfo=UTC)
DEMO_BASE = "http://127.0.0.1:8765"
#: Pieces of junk: Latin capitals and particles, Arabic with prefixes, digits, URLs, handles,
#: hashtags, sentence ends, apostrophes, hyphens, mixed scripts.
JUNK = ["Ahmed", "al", "Mohamed", "de", "la", "Cruz", "Ana", "María", "Ñúñez", "O'Brien",
        "Jean-Pierre", "UNESCO", "CPJ", "the", "The", "on", "12", "March", "2026", "de", "marzo",
        "محمد", "والصحفي", "بالقاهرة", "أحمد", "١٢", "مارس", "http://www.Ex.org/a/b.", "@Handle",
        "#Tag", ".", "!", "?", ":", ";", "؟", "\n", "\n\n", " ", "  ", "É", "été", "İstanbul",
        "Straße", "ǅ", "Ⅻ", "x²", "_", "-", "’", "Follow us on Twitter.", "van", "der", "Berg",
        "ÉTAT", "Żółć", "Привет", "Москва", "中文", "\u00a0", "\u200b", "\t", "ﬁ", "Ｆｕｌｌ"]


def emit(out: TextIO, kind: str, name: object, keys: PreparedKeys) -> None:
    value: dict[str, Any] = keys._asdict()
    del value["fingerprint"]
    value["signatures"] = keys.signatures.hex()
    f = keys.features
    value["features"] = {"neutral": sorted(f.neutral), "names": sorted(f.names),
                         "lead_names": f.lead_names, "skeletons": sorted(f.skeletons),
                         "arabic": f.arabic}
    out.write(json.dumps({"kind": kind, "name": name, "v": value}, ensure_ascii=False,
                         sort_keys=True) + "\n")


def feed(out: TextIO, kind: str, name: object, body: bytes, source: Source, url: str) -> None:
    job = FeedJob(body=body, url=url, headers={}, source=source, feed_url=url, max_entries=500,
                  now=NOW, prepare_keys=True)
    for article in prepare_feed(job).outcome.articles:
        emit(out, kind, name, getattr(article, PREPARED_ATTR))


def texts(out: TextIO, kind: str, rows: list[tuple[str, str, str | None]]) -> None:
    for i, keys in enumerate(prepare_keys(rows)):
        emit(out, kind, i, keys)


def dump(out: TextIO, tmp: Path) -> None:
    write_feeds(tmp, 100, 50)
    for f, (body, source, url) in enumerate(feed_jobs(tmp, 100)):
        feed(out, "bench", f, body, source, url)
    for body, source, url in demo_feed_jobs(tmp, DEMO_BASE)[1]:
        feed(out, "demo-feed", url, body, source, url)
    generic = Source(id="g", name="G", homepage="https://example.org/", country="GH",
                     region="africa", languages=("en", "fr"), timezone="Africa/Accra")
    for path in sorted((ROOT / "tests/fixtures/feeds").glob("*")):
        feed(out, "fixture-feed", path.name, path.read_bytes(), generic,
             "https://example.org/feed.xml")
    texts(out, "dedup", [(r.text, r.title, r.language) for r in load_corpus()])
    rows: list[dict[str, Any]] = []
    for path in sorted((ROOT / "bench/data/tagging").glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    for lang in (None, "ar", "en"):
        texts(out, f"tagging/{lang}", [(r["text"], r["title"], lang or r["lang"]) for r in rows])
    rng = random.Random(11)
    junk = []
    for _ in range(3000):
        words = [rng.choice(JUNK) for _ in range(rng.randrange(0, 200))]
        text = "".join(w + rng.choice(("", " ", " ", " ", "\n")) for w in words)
        junk.append((text, text[: rng.randrange(0, 80)], rng.choice((None, "en", "ar", "fr"))))
    texts(out, "junk", junk)


def main() -> int:
    # One argument, the output file; an option (``--help``) is not taken for a file name.
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        print(__doc__)
        return 0 if sys.argv[1:] in (["-h"], ["--help"]) else 2
    with open(sys.argv[1], "w", encoding="utf-8") as out, tempfile.TemporaryDirectory() as tmp:
        dump(out, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
