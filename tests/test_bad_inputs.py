"""The rows of ../shared/BAD_INPUTS.md not covered elsewhere, each served from 127.0.0.1.

Where each row is tested is listed in docs/bad-inputs.md. Every case has the same shape: the run
goes on with the other sources, nothing partial is written for the failing item, the failure is
recorded per source (fetch_state) and shown in the run summary, and a later run that finds the
input repaired stores it normally.
"""

from __future__ import annotations

import gzip
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.feedserver import FeedServer, Reply
from tests.harvesting import ROOT, Source, harvest, item, rows, rss, write_registry

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}


def with_ok_source(server: FeedServer, tmp_path: Path, bad: list[Source]) -> Path:
    server.route("/ok.xml", Reply(body=rss([item(1), item(2)]), headers=RSS))
    return write_registry(tmp_path / "s.toml", [*bad, Source("ok", [server.url("/ok.xml")])])


def state(db: str, source: str) -> dict:
    (row,) = rows(db, "SELECT consecutive_failures, last_error, next_attempt, gone, etag, last_status "
                      "FROM fetch_state WHERE source_id = :s", s=source)
    return dict(row._mapping)


def stored(db: str, source: str) -> int:
    return rows(db, "SELECT count(*) FROM article WHERE source_id = :s", s=source)[0][0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused_is_a_per_source_error_with_backoff(server, db, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}/feed.xml"
    reg = with_ok_source(server, tmp_path, [Source("dead", [dead])])
    run = harvest(db, reg)
    assert run.code == 1 and "connection refused" in run.line("dead") + run.stdout
    assert stored(db, "ok") == 2
    failed = state(db, "dead")
    assert failed["consecutive_failures"] == 1 and failed["next_attempt"] is not None
    # Next run: the dead feed is backing off, not polled, and not reported as a new failure.
    again = harvest(db, reg)
    assert again.code == 0 and "backing off" in again.stdout


def test_429_retry_after_is_honoured_for_the_next_attempt(server, db, tmp_path):
    server.route("/busy.xml", Reply(429, b"slow down", headers={"Retry-After": "7200"}))
    reg = with_ok_source(server, tmp_path, [Source("busy", [server.url("/busy.xml")])])
    before = datetime.now(UTC)
    run = harvest(db, reg)
    assert run.code == 1 and "HTTP 429" in run.stdout
    assert len(server.hits("/busy.xml")) == 2  # bounded: RETRY_TIMES=1 in the tests
    next_attempt = datetime.fromisoformat(str(state(db, "busy")["next_attempt"])).replace(tzinfo=UTC)
    assert next_attempt >= before + timedelta(seconds=7100)
    harvest(db, reg)
    assert len(server.hits("/busy.xml")) == 2  # not asked again before Retry-After


def test_404_backs_off_and_a_repaired_feed_is_stored_on_a_later_run(server, db, tmp_path):
    replies = [Reply(404, b"no such page")]
    server.route("/moved.xml", lambda _h: replies[-1])
    reg = with_ok_source(server, tmp_path, [Source("moved", [server.url("/moved.xml")])])
    run = harvest(db, reg)
    assert run.code == 1 and "HTTP 404" in run.stdout
    assert state(db, "moved")["consecutive_failures"] == 1
    replies.append(Reply(body=rss([item(5)]), headers=RSS))
    repaired = harvest(db, reg, "--ignore-backoff")
    assert repaired.code == 0 and stored(db, "moved") == 1
    assert state(db, "moved")["consecutive_failures"] == 0


def test_410_marks_the_feed_gone_until_an_operator_reenables_it(server, db, tmp_path):
    server.route("/gone.xml", Reply(410, b"gone"))
    reg = with_ok_source(server, tmp_path, [Source("gone", [server.url("/gone.xml")])])
    run = harvest(db, reg)
    assert run.code == 1 and "410" in run.stdout
    assert state(db, "gone")["gone"]
    again = harvest(db, reg, "--ignore-backoff")
    assert len(server.hits("/gone.xml")) == 1 and "gone (HTTP 410)" in again.stdout
    enable = subprocess.run([sys.executable, "-m", "roundups.cli", "sources", "enable",
                             server.url("/gone.xml"), "--db", db], cwd=ROOT, capture_output=True,
                            text=True)
    assert enable.returncode == 0 and "polled again" in enable.stdout
    harvest(db, reg)
    assert len(server.hits("/gone.xml")) == 2


def test_a_redirect_loop_stops_with_an_error_naming_the_chain(server, db, tmp_path):
    server.route("/a.xml", Reply(302, headers={"Location": server.url("/b.xml")}))
    server.route("/b.xml", Reply(302, headers={"Location": server.url("/a.xml")}))
    reg = with_ok_source(server, tmp_path, [Source("loop", [server.url("/a.xml")])])
    run = harvest(db, reg)
    assert run.code == 1
    line = run.line("loop") + run.stdout
    assert "redirect" in line.lower() and "/a.xml" in line and "/b.xml" in line
    assert stored(db, "ok") == 2 and len(server.hits("/a.xml")) <= 6


def test_a_feed_larger_than_the_cap_is_cut_off_with_a_clear_error(server, db, tmp_path):
    big = rss([item(i, description="<p>" + "press freedom " * 2000 + "</p>") for i in range(30)])
    server.route("/big.xml", Reply(body=big, headers=RSS))
    reg = with_ok_source(server, tmp_path, [Source("big", [server.url("/big.xml")])])
    run = harvest(db, reg, "-s", f"DOWNLOAD_MAXSIZE={len(big) // 10}")
    assert run.code == 1 and "too large" in run.stdout
    assert stored(db, "big") == 0 and stored(db, "ok") == 2


def test_a_small_gzip_feed_that_inflates_past_the_cap_is_refused(server, db, tmp_path):
    bomb = gzip.compress(b"<rss version='2.0'><channel>" + b" " * (40 * 1024 * 1024))
    assert len(bomb) < 100_000
    server.route("/bomb.xml", Reply(body=bomb, headers={**RSS, "Content-Encoding": "gzip"}))
    reg = with_ok_source(server, tmp_path, [Source("bomb", [server.url("/bomb.xml")])])
    run = harvest(db, reg, "-s", "DOWNLOAD_MAXSIZE=1000000")
    assert run.code == 1 and "FAILED" in run.line("bomb")
    assert "DOWNLOAD_MAXSIZE" in run.stdout or "too large" in run.stdout
    assert stored(db, "ok") == 2


def test_a_feed_of_100000_entries_is_capped_per_run(server, db, tmp_path):
    entries = "".join(
        f"<item><title>Archive entry {i}</title><link>https://archive.example/{i}</link>"
        f"<description>Entry {i} of the archive.</description></item>" for i in range(100_000))
    body = f'<rss version="2.0"><channel><title>Archive</title>{entries}</channel></rss>'.encode()
    server.route("/archive.xml", Reply(body=body, headers=RSS))
    reg = with_ok_source(server, tmp_path, [Source("archive", [server.url("/archive.xml")])])
    run = harvest(db, reg, "-s", "ROUNDUP_MAX_ENTRIES_PER_FEED=200")
    assert run.code == 0, run.stdout + run.stderr
    assert stored(db, "archive") == 200
    assert "100000 entries, only the first 200 taken" in run.stdout


def test_an_empty_feed_changes_nothing_and_deletes_nothing(server, db, tmp_path):
    bodies = [rss([item(1), item(2)])]
    server.route("/e.xml", lambda _h: Reply(body=bodies[-1], headers=RSS))
    reg = write_registry(tmp_path / "s.toml", [Source("e", [server.url("/e.xml")])])
    harvest(db, reg)
    bodies.append(rss([]))
    run = harvest(db, reg)
    assert run.code == 0 and "0 new, 0 updated, 0 unchanged" in run.line("e")
    assert stored(db, "e") == 2


def test_a_guid_reused_for_a_different_article_updates_in_place_without_a_second_story(
        server, db, tmp_path):
    bodies = [rss([item(1)])]
    server.route("/r.xml", lambda _h: Reply(body=bodies[-1], headers=RSS))
    reg = write_registry(tmp_path / "s.toml", [Source("r", [server.url("/r.xml")])])
    harvest(db, reg)
    bodies.append(rss([item(7, guid="member-alert-1")]))  # same GUID, another report
    run = harvest(db, reg)
    assert "1 updated" in run.line("r")
    assert stored(db, "r") == 1 and len(rows(db, "SELECT id FROM story")) == 1


def test_an_invalid_source_is_named_and_the_others_still_run(server, db, tmp_path):
    reg = with_ok_source(server, tmp_path, [])
    reg.write_text(reg.read_text() + '\n[[source]]\nid = "broken"\nname = "B"\n'
                   'homepage = "https://b.example/"\ncountry = "XX"\n')
    run = harvest(db, reg)
    assert run.code == 2
    assert "s.toml" in run.stdout and "broken" in run.stdout and "country" in run.stdout
    assert stored(db, "ok") == 2


def test_an_unreachable_database_is_a_clear_error_not_a_traceback(server, tmp_path):
    reg = with_ok_source(server, tmp_path, [])
    run = harvest(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test", reg)
    assert run.code == 1
    assert "Traceback" not in run.stderr and "127.0.0.1" in run.stderr
    assert server.hits("/ok.xml") == []


def test_a_member_silent_for_longer_than_its_rhythm_is_flagged(store_session, store_make_article):
    from store.articles import upsert_articles
    from store.health import rhythms

    now = datetime(2026, 11, 25, tzinfo=UTC)
    weekly = [store_make_article(source_id="weekly", guid=f"w{i}", url=f"https://w.example/{i}",
                                 text=f"Weekly alert number {i} about a different journalist " * 3,
                                 published=now - timedelta(days=60 + 7 * i)) for i in range(6)]
    daily = [store_make_article(source_id="daily", guid=f"d{i}", url=f"https://d.example/{i}",
                                text=f"Daily alert {i} on another case entirely, in detail " * 3,
                                published=now - timedelta(days=i + 1)) for i in range(6)]
    upsert_articles(store_session, weekly + daily, now)
    store_session.commit()
    found = rhythms(store_session, now=now)
    assert found["weekly"].silent and "SILENT" in found["weekly"].describe()
    assert not found["daily"].silent


def test_a_locked_database_means_bounded_retries_a_clear_error_and_no_partial_write(
        server, db, tmp_path):
    import sqlite3

    bodies = [rss([item(1)])]
    server.route("/l.xml", lambda _h: Reply(body=bodies[-1], headers=RSS))
    reg = write_registry(tmp_path / "s.toml", [Source("l", [server.url("/l.xml")])])
    assert harvest(db, reg).code == 0
    bodies.append(rss([item(1), item(2), item(3)]))
    holder = sqlite3.connect(tmp_path / "roundup.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process writing, and not letting go
    try:
        run = harvest(db, reg, env={"ROUNDUP_SQLITE_BUSY_TIMEOUT_MS": "100"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert run.code == 1
    assert "locked" in (run.stdout + run.stderr) and "Traceback" not in run.stderr
    assert stored(db, "l") == 1  # nothing of the locked run was written
    again = harvest(db, reg)
    assert again.code == 0 and "2 new" in again.line("l") and stored(db, "l") == 3


def test_a_feed_that_crashes_feedparser_is_a_per_source_error(server, db, tmp_path):
    # Bodies on which feedparser.parse itself raises (feedparser 6.0.x): a lone surrogate
    # character reference in a malformed feed (UnicodeEncodeError) and a <width> element in
    # unescaped description markup (TypeError).
    surrogate = (b'<rss version="2.0"><channel><title>x</title><item><title>a &#xD800; b</title>'
                 b'<description>c<br></description></item></channel></rss')
    width = (b'<rss version="2.0"><channel><item><title>a</title>'
             b'<description>x<width>3</width></description></item></channel></rss>')
    server.route("/surrogate.xml", Reply(body=surrogate, headers=RSS))
    server.route("/width.xml", Reply(body=width, headers=RSS))
    reg = with_ok_source(server, tmp_path, [Source("surrogate", [server.url("/surrogate.xml")]),
                                            Source("width", [server.url("/width.xml")])])
    run = harvest(db, reg)
    assert run.code == 1
    assert stored(db, "ok") == 2
    for name in ("surrogate", "width"):
        assert "feedparser failed" in run.stdout and "FAILED" in run.line(name), run.stdout
        failed = state(db, name)
        assert failed["consecutive_failures"] == 1 and "feedparser failed" in failed["last_error"]
        assert stored(db, name) == 0
    server.route("/surrogate.xml", Reply(body=rss([item(3)]), headers=RSS))
    server.route("/width.xml", Reply(body=rss([item(4)]), headers=RSS))
    repaired = harvest(db, reg, "--ignore-backoff")
    assert repaired.code == 0 and stored(db, "surrogate") == 1 and stored(db, "width") == 1
