"""End to end: `roundup harvest` against feeds served from 127.0.0.1, as cron runs it."""

from __future__ import annotations

import fcntl
import os
from datetime import datetime

import pytest

from tests.feedserver import Reply
from tests.harvesting import Source, harvest, item, rows, rss, write_registry

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}


@pytest.fixture
def any_db(store_url: str) -> str:
    """The same test on SQLite and on a fresh schema of the local PostgreSQL."""
    return store_url


def articles(db: str, source: str | None = None) -> list:
    sql = "SELECT id, source_id, guid, url, title, text, date_flag, published, story_id FROM article"
    if source:
        return rows(db, sql + " WHERE source_id = :s ORDER BY id", s=source)
    return rows(db, sql + " ORDER BY id")


def test_harvest_stores_every_entry_and_a_second_run_adds_nothing(server, any_db, tmp_path):
    server.route("/a.xml", Reply(body=rss([item(1), item(2), item(3)]), headers=RSS))
    server.route("/b.xml", Reply(body=rss([item(4), item(5)]), headers=RSS))
    reg = write_registry(tmp_path / "s.toml", [Source("aa", [server.url("/a.xml")]),
                                              Source("bb", [server.url("/b.xml")])])
    first = harvest(any_db, reg)
    assert first.code == 0, first.stderr
    assert "3 new" in first.line("aa") and "2 new" in first.line("bb")
    assert len(articles(any_db)) == 5
    second = harvest(any_db, reg)
    assert second.code == 0, second.stderr
    assert "0 new, 0 updated, 3 unchanged" in second.line("aa")
    assert len(articles(any_db)) == 5
    assert len(rows(any_db, "SELECT id FROM story")) == 5


def test_conditional_get_sends_validators_and_304_parses_nothing(server, any_db, tmp_path):
    body = rss([item(1), item(2)])

    def feed(headers: dict[str, str]) -> Reply:
        if headers.get("if-none-match") == '"v1"':
            return Reply(304, headers={"ETag": '"v1"'})
        return Reply(body=body, headers={**RSS, "ETag": '"v1"',
                                          "Last-Modified": "Mon, 01 Dec 2025 10:00:00 GMT"})

    server.route("/f.xml", feed)
    reg = write_registry(tmp_path / "s.toml", [Source("aa", [server.url("/f.xml")])])
    assert harvest(any_db, reg).code == 0
    state = rows(any_db, "SELECT etag, last_modified FROM fetch_state")
    assert state == [('"v1"', "Mon, 01 Dec 2025 10:00:00 GMT")]
    second = harvest(any_db, reg)
    assert second.code == 0, second.stderr
    sent = server.hits("/f.xml")[-1]
    assert sent["if-none-match"] == '"v1"'
    assert sent["if-modified-since"] == "Mon, 01 Dec 2025 10:00:00 GMT"
    assert "not modified" in second.line("aa") and "0 unchanged" in second.line("aa")
    assert rows(any_db, "SELECT etag FROM fetch_state") == [('"v1"',)]
    assert len(articles(any_db)) == 2


def test_html_where_a_feed_was_expected_is_an_error_and_stores_nothing(server, db, tmp_path):
    page = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body><form>Log in</form></body></html>"
    server.route("/wall.xml", Reply(body=page, headers={"Content-Type": "text/html"}))
    server.route("/ok.xml", Reply(body=rss([item(1)]), headers=RSS))
    reg = write_registry(tmp_path / "s.toml", [Source("wall", [server.url("/wall.xml")]),
                                              Source("ok", [server.url("/ok.xml")])])
    run = harvest(db, reg)
    assert run.code == 1
    assert "FAILED" in run.line("wall") and "not a feed" in run.stdout
    assert articles(db, "wall") == [] and len(articles(db, "ok")) == 1
    failures = rows(db, "SELECT consecutive_failures, last_error FROM fetch_state WHERE source_id='wall'")
    assert failures[0][0] == 1 and "not a feed" in failures[0][1]


def test_truncated_feed_keeps_only_complete_entries_and_reports_data_loss(server, db, tmp_path):
    body = rss([item(1), item(2), item(3)])
    cut = body.index(b"<item>", body.index(b"member-alert-2")) + 40  # inside the third entry
    server.route("/t.xml", Reply(body=body, headers={**RSS, "ETag": '"t1"'}, content_length=False,
                                 truncate_at=cut))
    reg = write_registry(tmp_path / "s.toml", [Source("aa", [server.url("/t.xml")])])
    run = harvest(db, reg)
    assert "data loss" in run.stdout
    assert sorted(a.guid for a in articles(db)) == ["member-alert-1", "member-alert-2"]
    # The next run must fetch the whole feed again: no validator was stored for a partial body.
    assert rows(db, "SELECT etag FROM fetch_state") == [(None,)]


def test_windows_1252_declared_as_utf8_is_stored_as_correct_unicode(server, db, tmp_path):
    body = rss([item(1, title="Journalist’s café raided — “again”",
                     description="<p>Police raided the café of the reporter’s family.</p>")],
               encoding="cp1252", declared="utf-8")
    server.route("/w.xml", Reply(body=body, headers={"Content-Type": "application/rss+xml; charset=utf-8"}))
    reg = write_registry(tmp_path / "s.toml", [Source("aa", [server.url("/w.xml")])])
    run = harvest(db, reg)
    assert run.code == 0, run.stdout + run.stderr
    (row,) = articles(db)
    assert row.title == "Journalist’s café raided — “again”"
    assert "café of the reporter’s family" in row.text
    assert "â€" not in row.title + row.text and "Ã" not in row.title + row.text


def test_entries_without_link_use_a_url_guid_or_are_skipped_with_a_count(server, db, tmp_path):
    no_link_url_guid = item(1, guid="https://member.example/alerts/by-guid")
    del no_link_url_guid["link"]
    neither = item(2)
    del neither["link"], neither["guid"]
    server.route("/n.xml", Reply(body=rss([no_link_url_guid, neither, item(3)]), headers=RSS))
    reg = write_registry(tmp_path / "s.toml", [Source("aa", [server.url("/n.xml")])])
    run = harvest(db, reg)
    urls = sorted(a.url for a in articles(db))
    assert "https://member.example/alerts/by-guid" in urls
    assert "https://member.example/alerts/3" in urls
    assert "1 entr" in run.line("aa") and "skipped" in run.line("aa")


def test_entry_without_date_is_flagged_and_dated_first_seen(server, db, tmp_path):
    undated = item(1)
    del undated["pubDate"]
    server.route("/d.xml", Reply(body=rss([undated]), headers=RSS))
    reg = write_registry(tmp_path / "s.toml", [Source("aa", [server.url("/d.xml")])])
    assert harvest(db, reg).code == 0
    (row,) = articles(db)
    assert row.date_flag == "missing"
    first_seen = rows(db, "SELECT first_seen FROM article")[0][0]
    published, seen = (datetime.fromisoformat(str(v)[:19]) for v in (row.published, first_seen))
    assert abs((published - seen).total_seconds()) < 5


def test_duplicate_guids_within_a_feed_make_one_article(server, db, tmp_path):
    server.route("/g.xml", Reply(body=rss([item(1), item(1, title="Same GUID, second copy"), item(2)]),
                                 headers=RSS))
    reg = write_registry(tmp_path / "s.toml", [Source("aa", [server.url("/g.xml")])])
    assert harvest(db, reg).code == 0
    assert sorted(a.guid for a in articles(db)) == ["member-alert-1", "member-alert-2"]


def test_failing_and_stalling_sources_do_not_stop_the_others(server, any_db, tmp_path):
    server.route("/500.xml", Reply(500, b"oops"))
    server.route("/slow.xml", Reply(body=rss([item(9)]), headers=RSS, stall=8))
    server.route("/ok.xml", Reply(body=rss([item(1), item(2)]), headers=RSS))
    reg = write_registry(tmp_path / "s.toml", [Source("err", [server.url("/500.xml")]),
                                              Source("slow", [server.url("/slow.xml")]),
                                              Source("ok", [server.url("/ok.xml")])])
    run = harvest(any_db, reg)
    assert run.code == 1
    assert "FAILED" in run.line("err") and "HTTP 500" in run.stdout
    assert "FAILED" in run.line("slow") and "timed out" in run.stdout.lower()
    assert "2 new" in run.line("ok")
    assert len(server.hits("/500.xml")) == 2  # RETRY_TIMES=1: one retry, then reported
    states = dict(rows(any_db, "SELECT source_id, consecutive_failures FROM fetch_state"))
    assert states == {"err": 1, "slow": 1, "ok": 0}
    assert articles(any_db, "slow") == [] and len(articles(any_db, "ok")) == 2


def test_title_edited_upstream_updates_in_place(server, any_db, tmp_path):
    first_body = rss([item(1), item(2)])
    edited = rss([item(1, title="Journalist 1 released after three days in detention"), item(2)])
    bodies = [first_body]
    server.route("/e.xml", lambda _h: Reply(body=bodies[-1], headers=RSS))
    reg = write_registry(tmp_path / "s.toml", [Source("aa", [server.url("/e.xml")])])
    assert harvest(any_db, reg).code == 0
    before = {a.guid: a for a in articles(any_db)}
    bodies.append(edited)
    run = harvest(any_db, reg)
    assert "0 new, 1 updated, 1 unchanged" in run.line("aa")
    after = {a.guid: a for a in articles(any_db)}
    assert after["member-alert-1"].id == before["member-alert-1"].id
    assert after["member-alert-1"].title == "Journalist 1 released after three days in detention"
    assert after["member-alert-1"].story_id == before["member-alert-1"].story_id
    assert len(rows(any_db, "SELECT id FROM story")) == 2


def test_source_not_marked_local_is_never_connected_to_on_loopback(server, db, tmp_path):
    server.route("/x.xml", Reply(body=rss([item(1)]), headers=RSS))
    reg = write_registry(tmp_path / "s.toml", [Source("aa", [server.url("/x.xml")])])
    reg.write_text(reg.read_text().replace("allow_local = true", "allow_local = false"))
    run = harvest(db, reg)
    assert run.code == 1
    assert "non-public address" in run.stdout
    assert server.hits("/x.xml") == []


def test_invalid_registry_exits_2_naming_file_and_key(db, tmp_path):
    reg = tmp_path / "bad.toml"
    reg.write_text('[[source]]\nid = "x"\nname = "X"\nhomepage = "https://x.example/"\ncolour = "red"\n')
    run = harvest(db, reg)
    assert run.code == 2
    assert "bad.toml" in run.stdout + run.stderr and "colour" in run.stdout + run.stderr


def test_a_second_run_while_one_holds_the_lock_exits_3(server, db, tmp_path):
    server.route("/a.xml", Reply(body=rss([item(1)]), headers=RSS))
    reg = write_registry(tmp_path / "s.toml", [Source("aa", [server.url("/a.xml")])])
    lock = tmp_path / "roundup.db.harvest.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        run = harvest(db, reg)
    finally:
        os.close(fd)
    assert run.code == 3
    assert "another harvest" in run.stderr
    assert server.hits("/a.xml") == []
    assert harvest(db, reg).code == 0  # the lock is gone with its holder


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_postgresql_runs_take_an_advisory_lock(server, store_url, tmp_path):
    from roundups.locking import harvest_lock

    server.route("/a.xml", Reply(body=rss([item(1)]), headers=RSS))
    reg = write_registry(tmp_path / "s.toml", [Source("aa", [server.url("/a.xml")])])
    with harvest_lock(store_url):
        run = harvest(store_url, reg)
    assert run.code == 3 and "advisory lock" in run.stderr
    assert server.hits("/a.xml") == []
    assert harvest(store_url, reg).code == 0


def test_cron_mode_exits_non_zero_only_when_a_failure_persists(server, db, tmp_path):
    server.route("/down.xml", Reply(503, b"maintenance"))
    server.route("/ok.xml", Reply(body=rss([item(1)]), headers=RSS))
    reg = write_registry(tmp_path / "s.toml", [Source("down", [server.url("/down.xml")]),
                                              Source("ok", [server.url("/ok.xml")])])
    cron = ("--cron", "--alert-after", "3", "--ignore-backoff")
    first = harvest(db, reg, *cron)
    assert first.code == 0 and "FAILED" in first.line("down")  # reported, retried later
    assert harvest(db, reg, *cron).code == 0
    third = harvest(db, reg, *cron)
    assert third.code == 1
    assert "needs attention: down:" in third.stdout and "3 runs in a row" in third.stdout
    assert harvest(db, reg, "--ignore-backoff").code == 1  # without --cron: any failure is 1


def test_scrapy_crawl_feeds_works_on_its_own_with_the_same_settings(server, db, tmp_path):
    import subprocess
    import sys

    from tests.harvesting import ROOT

    server.route("/a.xml", Reply(body=rss([item(1), item(2)]), headers=RSS))
    reg = write_registry(tmp_path / "s.toml", [Source("aa", [server.url("/a.xml")])])
    proc = subprocess.run([sys.executable, "-m", "scrapy", "crawl", "feeds", "-s", f"ROUNDUP_DB={db}",
                           "-s", f"ROUNDUP_SOURCES={reg}", "-s", "LOG_LEVEL=WARNING"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len(articles(db)) == 2  # a fresh database: migrated and the registry recorded
    assert rows(db, "SELECT name FROM source") == [("Member aa",)]


def test_batch_gc_freezes_and_sets_thresholds_for_the_run_only() -> None:
    """``roundups.runtime.batch_gc``: inside, what was loaded is frozen and young passes are
    rarer; afterwards the process's thresholds are back and nothing stays frozen, even when the
    run raised."""
    import gc

    from roundups.runtime import BATCH_GC_THRESHOLDS, batch_gc

    before = gc.get_threshold()
    assert before != BATCH_GC_THRESHOLDS
    with pytest.raises(RuntimeError), batch_gc():
        assert gc.get_threshold() == BATCH_GC_THRESHOLDS
        assert gc.get_freeze_count() > 1000
        raise RuntimeError("the crawl failed")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    # What is young when the run ends (the store's caches) joins the old generation unwalked:
    # no young pass is due the moment the default thresholds are back.
    with batch_gc():
        kept = [[n] for n in range(20_000)]
        assert gc.get_count()[0] >= 20_000
    assert gc.get_count()[0] < before[0]
    assert any(obj is kept[-1] for obj in gc.get_objects(generation=2))
