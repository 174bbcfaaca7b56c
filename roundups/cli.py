"""The ``roundup`` command line.

Exit status: 0 success; 1 some sources failed (the others were stored); 2 bad usage or
configuration; 3 another harvest is already running on the same database.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from roundups.errors import AlreadyRunning, ConfigError, RoundupError, UsageError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3


def default_db() -> str:
    from store.db import default_db_url

    return default_db_url()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2 already; keep its message shape
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--db", default=None, metavar="URL",
                        help="SQLAlchemy database URL (default: $ROUNDUP_DB, else sqlite:///roundup.db)")
    parser = _Parser(prog="roundup", description="Harvest member reports and draft regional round-ups.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("demo", parents=[common], help="the main job, offline")
    p.add_argument("--output-dir", type=Path, default=None,
                   help="where to write the database and the draft (default: a new temporary folder)")

    p = sub.add_parser("harvest", parents=[common], help="one cron run over every source")
    p.add_argument("--sources", type=Path, default=Path("sources.toml"), metavar="FILE")
    p.add_argument("--only", nargs="+", default=None, metavar="ID", help="harvest only these source ids")
    p.add_argument("--ignore-backoff", action="store_true", help="also fetch feeds in backoff")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--cron", action="store_true",
                   help="exit non-zero only when a human is needed: a source failing --alert-after "
                   "runs in a row or marked gone (1), bad configuration (2); a one-off failure is "
                   "retried with backoff and reported, exit 0")
    p.add_argument("--alert-after", type=int, default=3, metavar="N",
                   help="with --cron: consecutive failed runs before a source needs a human (3)")
    p.add_argument("--distributed", default=None, metavar="REDIS_URL",
                   help="share one crawl between workers through Redis (scrapy-redis); "
                   "use with a PostgreSQL --db")
    p.add_argument("--run-id", default=None,
                   help="with --distributed: the id every worker of one run shares "
                   "(default: the current UTC hour, e.g. 2026112514)")
    p.add_argument("--log-format", choices=["auto", "text", "json"], default="auto",
                   help="stderr log: a progress line on a terminal, else plain lines (auto); "
                   "json: one JSON object per line, for log shippers")
    p.add_argument("-s", "--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a Scrapy setting for this run (e.g. DOWNLOAD_TIMEOUT=10)")
    p.add_argument("-v", "--verbose", action="store_true", help="show Scrapy's own log")

    p = sub.add_parser("draft", parents=[common], help="the round-up draft for a region and month")
    p.add_argument("--region", required=True)
    _period_arguments(p)
    p.add_argument("--format", choices=["md", "html", "json", "docx"], default="md")
    p.add_argument("--output", type=Path, default=None, metavar="FILE")

    p = sub.add_parser("curate", parents=[common],
                       help="editors' decisions for one round-up: list, set or clear")
    p.add_argument("action", choices=["list", "set", "clear"])
    p.add_argument("--region", required=True)
    _period_arguments(p)
    p.add_argument("--story", type=int, default=None, metavar="ID", help="the story (set, clear)")
    p.add_argument("--decision", choices=["include", "exclude", "pin"], default=None)
    p.add_argument("--headline", default=None, help="edited headline ('' restores the drawn one)")
    p.add_argument("--summary", default=None, help="edited summary ('' restores the drawn one)")
    p.add_argument("--note", default=None, help="editor's note ('' removes it)")
    p.add_argument("--position", type=int, default=None, help="place in its section (1 = first)")

    p = sub.add_parser("serve", parents=[common], help="the editors' web page")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; beyond loopback a login is required)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--config", type=Path, default=None, metavar="FILE",
                   help="TOML file with a [web] table (user, password or password_hash, secret)")

    p = sub.add_parser("stories", parents=[common], help="list stories with their sources")
    p.add_argument("--region", default=None)
    p.add_argument("--month", default=None, metavar="YYYY-MM")
    p.add_argument("--format", choices=["text", "json"], default="text")

    p = sub.add_parser("story", parents=[common],
                       help="one story: its articles and why each was grouped with the others")
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--format", choices=["text", "json"], default="text")

    p = sub.add_parser("tag", parents=[common], help="tag JSON lines {title, text} from stdin")
    p.add_argument("--home-country", default=None, help="the publisher's home country, used as a prior")

    sub.add_parser("retag", parents=[common], help="re-tag stored articles after the data files change")

    p = sub.add_parser("sources", parents=[common], help="list, check, per-source health")
    p.add_argument("action", choices=["list", "check", "status", "enable"])
    p.add_argument("url", nargs="*", help="with enable: the feed URL(s) marked gone to poll again")
    p.add_argument("--sources", type=Path, default=Path("sources.toml"), metavar="FILE")
    p.add_argument("--json", action="store_true", help="with status: one JSON array")

    p = sub.add_parser("db", parents=[common], help="database administration")
    p.add_argument("action", choices=["upgrade"])
    return parser


def _period_arguments(p: argparse.ArgumentParser) -> None:
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--month", metavar="YYYY-MM")
    when.add_argument("--week", metavar="YYYY-Www", help="an ISO week, e.g. 2026-W40")
    when.add_argument("--from", dest="from_", metavar="YYYY-MM[-DD]",
                      help="first month or day of a range (with --to), e.g. two months")
    p.add_argument("--to", metavar="YYYY-MM[-DD]", help="last month or day of the range (included)")


def _period(args: argparse.Namespace) -> Any:
    from roundups.compose import Period

    if args.to is not None and args.from_ is None:
        raise UsageError("--to needs --from")
    if args.from_ is not None:
        return Period.between(args.from_, args.to if args.to is not None else args.from_)
    if args.week is not None:
        return Period.week(args.week)
    return Period.month(args.month)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.db is None:
        args.db = default_db()
    handler = COMMANDS[args.command]
    try:
        return handler(args)
    except AlreadyRunning as exc:
        print(f"roundup {args.command}: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except (UsageError, ConfigError) as exc:
        print(f"roundup {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RoundupError as exc:
        print(f"roundup {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except _store_errors() as exc:
        print(f"roundup {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _store_errors() -> tuple[type[BaseException], ...]:
    from store.errors import StoreError

    try:
        from store.registry import RegistryError
    except ImportError:  # pragma: no cover
        return (StoreError,)
    return (StoreError, RegistryError)


def cmd_harvest(args: argparse.Namespace) -> int:
    from roundups.harvest import progress_handler, run_harvest
    from roundups.locking import harvest_lock
    from store.registry import RegistryError, load_registry_lenient

    if not args.sources.exists():
        raise ConfigError(f"{args.sources}: no such registry file")
    try:
        sources, _ = load_registry_lenient(args.sources)
    except RegistryError as exc:
        raise ConfigError(str(exc)) from exc
    feeds = sum(len(s.feeds) for s in sources if s.enabled and (not args.only or s.id in args.only))
    log = logging.getLogger("roundup")
    log.setLevel(logging.INFO)
    log.propagate = False
    progress = progress_handler(feeds, args.log_format)
    log.addHandler(progress)
    overrides = {}
    for pair in args.set:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--set takes NAME=VALUE, got {pair!r}")
        overrides[name.strip()] = value
    if args.distributed:
        from datetime import UTC, datetime

        from sqlalchemy.engine import make_url

        if make_url(args.db).get_backend_name() == "sqlite":
            raise UsageError("--distributed needs a database every worker reaches: a PostgreSQL --db")
        run_id = args.run_id or datetime.now(UTC).strftime("%Y%m%d%H")
        # Workers of one run share the crawl on purpose: no run lock, the Redis duplicate filter
        # keeps them from fetching a URL twice.
        summary = run_harvest(args.db, args.sources, only=args.only, overrides=overrides,
                              ignore_backoff=args.ignore_backoff, verbose=args.verbose,
                              distributed=args.distributed, run_id=run_id)
    else:
        with harvest_lock(args.db):
            summary = run_harvest(args.db, args.sources, only=args.only, overrides=overrides,
                                  ignore_backoff=args.ignore_backoff, verbose=args.verbose)
    progress.close()  # a terminal's progress line is cleared before the summary
    log.removeHandler(progress)
    code = summary.exit_code
    attention: list[str] = []
    if args.cron and code == EXIT_FAILED:
        attention = _persistent_failures(args.db, summary, args.alert_after)
        code = EXIT_FAILED if attention else EXIT_OK
    if args.json:
        print(json.dumps({**summary.as_dict(), "exit": code, "needs_attention": attention},
                         ensure_ascii=False))
    else:
        for line in summary.lines():
            print(line)
        print(summary.headline())
        if args.cron and attention:
            print("needs attention: " + "; ".join(attention))
    return code


def _persistent_failures(db: str, summary: Any, alert_after: int) -> list[str]:
    """The sources of this run's failures that a human should look at: failing ``alert_after``
    runs in a row, marked gone, or failing for a reason no retry fixes (their store write)."""
    from sqlalchemy import select

    from store.db import open_db
    from store.models import FetchState

    failed = sorted(sid for sid, result in summary.sources.items() if result.failed)
    engine, Session = open_db(db, migrate=False)
    try:
        with Session() as session:
            states = session.execute(
                select(FetchState.source_id, FetchState.url, FetchState.consecutive_failures,
                       FetchState.gone).where(FetchState.source_id.in_(failed))
            ).all()
    finally:
        engine.dispose()
    worst: dict[str, str] = {}
    for source_id, url, failures, gone in states:
        if gone:
            worst[source_id] = f"{source_id}: {url} is gone (HTTP 410)"
        elif failures >= alert_after and source_id not in worst:
            worst[source_id] = f"{source_id}: {url} failed {failures} runs in a row"
    recorded = {source_id for source_id, *_ in states}
    for source_id in failed:
        if source_id not in recorded:  # nothing recorded: a store or configuration failure
            worst.setdefault(source_id, f"{source_id}: failed without a fetch record")
    return [worst[s] for s in sorted(worst)]


def cmd_draft(args: argparse.Namespace) -> int:
    from roundups.compose import check_region, compose
    from roundups.render import render
    from store.db import open_db

    check_region(args.region)
    period = _period(args)
    engine, Session = open_db(args.db)
    try:
        with Session() as session:
            draft = compose(session, args.region, period)
    finally:
        engine.dispose()
    data = render(draft, args.format)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_bytes(data)
        print(args.output)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return EXIT_OK


def cmd_curate(args: argparse.Namespace) -> int:
    from roundups.compose import check_region
    from store.curation import roundup_key
    from store.db import open_db

    check_region(args.region)
    key = roundup_key(args.region, _period(args).label)
    engine, Session = open_db(args.db)
    try:
        return _curate(args, key, Session)
    finally:
        engine.dispose()


def _curate(args: argparse.Namespace, key: str, Session: Any) -> int:
    from store.curation import clear_curation, curations_for, update_curation
    from store.db import run_transaction

    if args.action == "list":
        with Session() as session:
            for story_id, c in sorted(curations_for(session, key).items()):
                extras = [f"{name}={value!r}" for name in ("position", "headline", "summary", "note")
                          if (value := getattr(c, name)) is not None]
                print(f"{story_id}\t{c.decision}\t{' '.join(extras)}".rstrip())
        return EXIT_OK
    if args.story is None:
        raise UsageError(f"curate {args.action} needs --story ID")
    if args.action == "clear":
        found = run_transaction(Session, lambda s: clear_curation(s, args.story, key))
        print(f"{key}: story {args.story}: {'decision cleared' if found else 'no decision'}")
        return EXIT_OK
    changes = {name: getattr(args, name) for name in
               ("decision", "headline", "summary", "note", "position")
               if getattr(args, name) is not None}
    if not changes:
        raise UsageError("curate set needs --decision, --headline, --summary, --note or --position")

    def work(session: Any) -> str:
        from store.models import StoryRow

        if session.get(StoryRow, args.story) is None:
            raise UsageError(f"no story with id {args.story}")
        return update_curation(session, args.story, key, **changes).decision

    decision = run_transaction(Session, work)
    print(f"{key}: story {args.story}: {decision}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from roundups.web import serve

    return serve(args.db, host=args.host, port=args.port, config=args.config)


def cmd_stories(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from roundups.compose import Period, check_region, to_draft_story
    from store.db import open_db
    from store.queries import stories_in

    region = check_region(args.region) if args.region else None
    if args.month:
        period = Period.month(args.month)
        start, end = period.start, period.end
    else:
        start, end = datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)
    engine, Session = open_db(args.db)
    try:
        with Session() as session:
            views = stories_in(session, region=region, start=start, end=end)
    finally:
        engine.dispose()
    stories = [to_draft_story(v) for v in views]
    if args.format == "json":
        print(json.dumps({"stories": [{**s.as_json(), "region": s.region} for s in stories]},
                         ensure_ascii=False, indent=2))
        return EXIT_OK
    for s in stories:
        when = f"{s.published:%Y-%m-%d}" if s.published else "????-??-??"
        print(f"[{s.id}] {when} {s.region or '-'} {','.join(s.countries) or '-'} "
              f"({len({x.source for x in s.sources})} source(s)) {s.headline}")
        for src in s.sources:
            print(f"      {src.source}: {src.url}")
    return EXIT_OK


def cmd_story(args: argparse.Namespace) -> int:
    from store.db import open_db
    from store.queries import story_detail

    engine, Session = open_db(args.db)
    try:
        with Session() as session:
            view = story_detail(session, args.id)
    finally:
        engine.dispose()
    if view is None:
        print(f"roundup story: no story with id {args.id}", file=sys.stderr)
        return EXIT_FAILED

    def when(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    if args.format == "json":
        print(json.dumps({
            "id": view.id, "headline": view.headline, "summary": view.summary,
            "countries": view.countries, "topics": view.topics, "published": when(view.published),
            "region": view.region, "kind": view.kind, "source_count": view.source_count,
            "representative": view.representative_id, "signatories": view.signatories,
            "articles": [
                {"id": a.id, "source": a.source_id, "source_name": a.source_name, "url": a.url,
                 "title": a.title, "published": when(a.published), "language": a.language,
                 "kind": a.kind, "why": a.match_reason}
                for a in view.articles
            ],
        }, ensure_ascii=False, indent=2))
        return EXIT_OK
    day = f"{view.published:%Y-%m-%d}" if view.published else "????-??-??"
    print(f"[{view.id}] {day} {view.region or '-'} {','.join(view.countries) or '-'} "
          f"{view.kind}: {view.headline}")
    print(f"  {len(view.articles)} article(s) from {view.source_count} source(s); topics: "
          f"{', '.join(view.topics) or '-'}")
    if view.signatories:
        names = [f"{s['name']} ({s['source_id']})" if s.get("source_id") else s["name"]
                 for s in view.signatories]
        print("  signatories: " + "; ".join(names))
    for a in view.articles:
        mark = "*" if a.id == view.representative_id else " "
        print(f" {mark}#{a.id} {a.published:%Y-%m-%d} {a.source_id} [{a.language or '?'}] {a.title}")
        print(f"      {a.url}")
        print(f"      why: {a.match_reason or 'not recorded (stored before near-duplicate grouping)'}")
    return EXIT_OK


def cmd_tag(args: argparse.Namespace) -> int:
    from pipeline.tagging import tag

    status = EXIT_OK
    for n, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            print(f"roundup tag: line {n}: {exc}", file=sys.stderr)
            print(json.dumps({"error": f"line {n}: {exc}", "countries": [], "region": None, "topics": []}))
            status = EXIT_FAILED
            continue
        result = tag(str(obj.get("title") or ""), str(obj.get("text") or ""),
                     home_country=obj.get("home_country") or args.home_country,
                     language=obj.get("language"))
        print(json.dumps({"countries": list(result.countries), "region": result.region,
                          "topics": list(result.topics)}, ensure_ascii=False), flush=True)
    return status


def cmd_retag(args: argparse.Namespace) -> int:
    from pipeline.tagging import tag
    from store.db import open_db
    from store.retag import retag_all

    engine, Session = open_db(args.db)
    try:
        with Session.begin() as session:
            changed, total = retag_all(session, tag)
    finally:
        engine.dispose()
    print(f"retag: {changed} of {total} article(s) changed")
    return EXIT_OK


def cmd_sources(args: argparse.Namespace) -> int:
    from store.registry import RegistryError, load_registry, load_registry_lenient

    if args.action == "check":
        try:
            sources = load_registry(args.sources)
        except RegistryError as exc:
            print(f"roundup sources check: {exc}", file=sys.stderr)
            return EXIT_USAGE
        unverified = [s.id for s in sources if not s.verified]
        print(f"{args.sources}: {len(sources)} source(s), "
              f"{sum(len(s.feeds) for s in sources)} feed(s), {len(unverified)} unverified")
        return EXIT_OK
    if args.action == "list":
        sources, errors = load_registry_lenient(args.sources)
        for s in sources:
            flags = [] if s.verified else ["unverified"]
            if not s.enabled:
                flags.append("disabled")
            print(f"{s.id:24} {s.country or '--':3} {s.region or '-':20} {len(s.feeds)} feed(s)"
                  f"  {s.name}{'  [' + ', '.join(flags) + ']' if flags else ''}")
        for e in errors:
            print(f"invalid: {e}", file=sys.stderr)
        return EXIT_USAGE if errors else EXIT_OK
    from store.db import open_db

    engine, Session = open_db(args.db)
    try:
        return _sources_in_store(args, Session)
    finally:
        engine.dispose()


def _sources_in_store(args: argparse.Namespace, Session: Any) -> int:
    if args.action == "enable":
        from store.fetchstate import reenable

        if not args.url:
            raise UsageError("sources enable takes the feed URL(s) to poll again")
        with Session.begin() as session:
            done = [url for url in args.url if reenable(session, url)]
        for url in args.url:
            print(f"{url}: {'will be polled again' if url in done else 'no fetch state for this URL'}")
        return EXIT_OK if len(done) == len(args.url) else EXIT_FAILED
    from store.health import rhythms
    from store.queries import source_health

    with Session() as session:
        rows = source_health(session)
        rhythm = rhythms(session)
    if args.json:
        print(json.dumps([_health_json(row, rhythm.get(row.source_id)) for row in rows],
                         ensure_ascii=False, default=str))
        return EXIT_OK
    for row in rows:
        print(_health_text(row, rhythm.get(row.source_id)))
    return EXIT_OK


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "never"


def _health_json(row: Any, rhythm: Any) -> dict[str, Any]:
    data = {k: v for k, v in vars(row).items() if k != "feeds"}
    data["feeds"] = [vars(f) for f in row.feeds]
    data["silent"] = bool(rhythm and rhythm.silent)
    data["rhythm"] = rhythm.describe() if rhythm else None
    return data


def _health_text(row: Any, rhythm: Any) -> str:
    flags = []
    if not row.enabled:
        flags.append("disabled")
    if row.consecutive_failures:
        flags.append(f"FAILING x{row.consecutive_failures}")
    if row.gone:
        flags.append(f"{row.gone} feed(s) GONE")
    if rhythm and rhythm.silent:
        flags.append("SILENT")
    months = ", ".join(f"{m}: {n}" for m, n in sorted(row.articles_per_month.items())[-6:])
    lines = [f"{row.source_id}  {row.name}" + (f"  [{', '.join(flags)}]" if flags else ""),
             f"    last success {_when(row.last_success)}; failures {row.consecutive_failures}; "
             f"{row.article_count} article(s); last published {_when(row.last_published)}"]
    if rhythm:
        lines.append(f"    {rhythm.describe()}")
    if months:
        lines.append(f"    per month: {months}")
    if row.last_error:
        lines.append(f"    last error: {row.last_error}")
    for feed in row.feeds:
        if feed.gone or feed.consecutive_failures:
            state = "gone (410)" if feed.gone else f"next attempt {_when(feed.next_attempt)}"
            lines.append(f"    {feed.url}: {state}")
    return "\n".join(lines)


def cmd_db(args: argparse.Namespace) -> int:
    from store.db import upgrade

    upgrade(args.db)
    print(f"database at head: {args.db}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from roundups.demo import run_demo

    return run_demo(args.output_dir)


COMMANDS = {
    "demo": cmd_demo,
    "harvest": cmd_harvest,
    "draft": cmd_draft,
    "curate": cmd_curate,
    "serve": cmd_serve,
    "stories": cmd_stories,
    "story": cmd_story,
    "tag": cmd_tag,
    "retag": cmd_retag,
    "sources": cmd_sources,
    "db": cmd_db,
}


if __name__ == "__main__":
    sys.exit(main())
