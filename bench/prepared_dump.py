"""Dump every prepared article of the bench, demo and fixture corpora as JSON lines, to diff the
pipeline's output across two commits (an optimisation must leave it unchanged).

    python bench/prepared_dump.py OUT.jsonl        # in each checkout, then: cmp A.jsonl B.jsonl

What is dumped, in a fixed order: the articles ``scrapers.feedwork.prepare_feed`` makes of the 100
feeds × 50 entries of ``bench/harvest.py``, of the demo's feeds and of ``tests/fixtures/feeds``;
``normalise`` + ``tag_article`` of the demo's and the fixtures' article pages (read with
``pipeline.extract``), of ``tests/fixtures/pipeline`` and of the hand-labelled tagging reports in
``bench/data/tagging`` (with several language hints); language detection and the text helpers on
slices of those reports and on random junk. Run it from the checkout's root.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

ROOT = Path.cwd()
sys.path.insert(0, str(ROOT))

from bench.harvest import demo_feed_jobs, feed_jobs, write_feeds  # noqa: E402
from pipeline.errors import PipelineError  # noqa: E402
from pipeline.extract import extract_article  # noqa: E402
from pipeline.items import RawReport  # noqa: E402
from pipeline.language import detect_language  # noqa: E402
from pipeline.normalise import normalise  # noqa: E402
from pipeline.tagging import tag_article  # noqa: E402
from pipeline.text import (  # noqa: E402
    content_hash,
    first_sentences,
    fix_mojibake,
    html_to_text,
    normalise_for_hash,
)
from scrapers.feedwork import FeedJob, prepare_feed  # noqa: E402
from store.registry_types import Source  # noqa: E402

NOW = datetime(2026, 10, 29, 12, tzinfo=UTC)
DEMO_BASE = "http://127.0.0.1:8765"
JUNK = ("abc déf  \t\n\r\u00a0\u2003\u200b<p>&amp;é Ã©â€™ _-.!?…\u0644\u0627 Привет 中文 "
        "\x0b\x0c\x1f\x7f")


class Dump:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def emit(self, kind: str, name: object, value: object) -> None:
        self.out.write(json.dumps({"kind": kind, "name": name, "v": value}, default=str,
                                  ensure_ascii=False, sort_keys=True) + "\n")

    def feed(self, kind: str, name: object, body: bytes, source: Source, url: str) -> None:
        job = FeedJob(body=body, url=url, headers={}, source=source, feed_url=url, max_entries=500,
                      now=NOW)
        outcome = prepare_feed(job).outcome
        self.emit(kind, name, {"status": outcome.status, "error": outcome.error,
                               "warnings": outcome.warnings, "skipped": outcome.skipped,
                               "entries": outcome.entries, "date_flagged": outcome.date_flagged})
        for article in outcome.articles:
            self.emit(kind, name, asdict(article))

    def report(self, kind: str, name: object, raw: RawReport, source: Source) -> None:
        try:
            article = normalise(raw, source, now=NOW)
        except PipelineError as exc:
            self.emit(kind, name, {"error": str(exc)})
            return
        tag_article(article, source)
        self.emit(kind, name, asdict(article))


def page_report(path: Path, url: str, source_id: str, via: str) -> RawReport:
    extracted = extract_article(path.read_text(encoding="utf-8"), url, now=NOW)
    return RawReport(source_id=source_id, url=url, title=extracted.title,
                     content_html=extracted.content_html, raw_date=extracted.raw_date,
                     language_hint=extracted.language, feed_url=url, fetched_via=via)


def main() -> int:
    # One argument, the output file; an option (``--help``) is not taken for a file name.
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        print(__doc__)
        return 0 if sys.argv[1:] in (["-h"], ["--help"]) else 2
    with open(sys.argv[1], "w", encoding="utf-8") as out, tempfile.TemporaryDirectory() as tmp:
        dump(Dump(out), Path(tmp))
    return 0


def dump(d: Dump, tmp: Path) -> None:
    # 1. the bench's feeds
    write_feeds(tmp, 100, 50)
    for f, (body, source, url) in enumerate(feed_jobs(tmp, 100)):
        d.feed("bench", f, body, source, url)

    # 2. the demo: feeds through prepare_feed, pages through extract + normalise + tag
    sources, jobs = demo_feed_jobs(tmp, DEMO_BASE)
    for body, source, url in jobs:
        d.feed("demo-feed", url, body, source, url)
    sites = ROOT / "demo/sites"
    for source in sources:
        home = source.homepage[len(DEMO_BASE) + 1:]
        for path in sorted(sites.rglob("*.html")):
            rel = path.relative_to(sites).as_posix()
            if rel.startswith(home):
                url = f"{DEMO_BASE}/{rel}"
                d.report("demo-page", url, page_report(path, url, source.id, "listing"), source)

    # 3. the test fixtures
    generic = [Source(id="t", name="T", homepage="https://example.org/"),
               Source(id="g", name="G", homepage="https://example.org/", country="GH",
                      region="africa", languages=("en", "fr"), timezone="Africa/Accra")]
    for path in sorted((ROOT / "tests/fixtures/feeds").glob("*")):
        for source in generic:
            d.feed("fixture-feed", f"{path.name}/{source.id}", path.read_bytes(), source,
                   "https://example.org/feed.xml")
    for path in sorted((ROOT / "tests/fixtures/pages").glob("*.html")):
        d.report("fixture-page", path.name,
                 page_report(path, "https://example.org/a", "g", "listing"), generic[1])
    for path in sorted((ROOT / "tests/fixtures/pipeline").rglob("*")):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        d.emit("fixture-text", path.name,
               [html_to_text(text), fix_mojibake(text), content_hash(text), first_sentences(text, 300)])
        for source in generic:
            raw = RawReport(source_id=source.id, url="https://e.org/x?utm_source=a&b=2",
                            title=text[:200], summary_html=text,
                            raw_date="Mon, 12 Oct 2026 10:00:00 +0200")
            d.report("fixture-pipe", f"{path.name}/{source.id}", raw, source)

    # 4. the tagging corpus (multilingual), with and without hints; language on slices; junk
    rng = random.Random(7)
    rows: list[dict[str, Any]] = []
    for path in sorted((ROOT / "bench/data/tagging").glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        for hint, langs in ((None, ()), (row["lang"], ()), ("en", ("en",)), (None, ("fr", "ar"))):
            source = Source(id="x", name="X", homepage="https://x.org/", country=row.get("home_country"),
                            languages=langs)
            raw = RawReport(source_id="x", url=f"https://x.org/{row['id']}", title=row["title"],
                            summary_html=row["text"], language_hint=hint)
            d.report("tagging", f"{row['id']}/{hint}/{langs}", raw, source)
        for k in range(6):
            text = row["title"] + "\n" + row["text"]
            start = rng.randrange(len(text))
            piece = text[start:start + rng.randrange(1, 700)]
            if k == 3:
                piece = piece.upper()
            if k == 4:
                piece = piece.encode("utf-8")[:rng.randrange(1, 200)].decode("utf-8", "ignore")
            for hint in (None, row["lang"], "de"):
                d.emit("lang", f"{row['id']}/{k}/{hint}", [
                    piece, detect_language(piece, hint),
                    detect_language(piece, hint, candidates=("en", "fr", "es")),
                    normalise_for_hash(piece), first_sentences(piece, 120), html_to_text(piece)])
    for i in range(3000):
        text = "".join(rng.choice(JUNK) for _ in range(rng.randrange(0, 300)))
        d.emit("junk", i, [html_to_text(text), fix_mojibake(text), normalise_for_hash(text),
                           content_hash(text), first_sentences(text, 50), detect_language(text),
                           detect_language(text, "fr", candidates=("ar",))])
        raw = RawReport(source_id="t", url="https://e.org/x", title=text[:80], summary_html=text,
                        content_html=text if i % 3 == 0 else None)
        d.report("junk-pipe", i, raw, generic[0])


if __name__ == "__main__":
    sys.exit(main())
