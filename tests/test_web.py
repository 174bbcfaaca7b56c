"""roundups.web: the editors' page, in-process (no socket): pages, filters, decisions, downloads,
CSRF, login, binding rules."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from draftdata import WSGIClient, build, csrf_of

from roundups.cli import main
from roundups.errors import ConfigError
from roundups.web import (
    EditorsApp,
    WebConfig,
    build_server,
    check_bind,
    check_password,
    hash_password,
    is_loopback,
    load_config,
)

PAGE = "/roundup?region=africa&period=2024-01"


@pytest.fixture
def store(store_db):
    engine, factory = store_db
    with factory() as session:
        ids = build(session)
    return factory, ids


def _app(factory, config: WebConfig | None = None) -> EditorsApp:
    return EditorsApp(factory, config, today=lambda: datetime(2024, 1, 20, tzinfo=UTC))


def _story_ids(page: bytes) -> list[int]:
    return [int(x) for x in re.findall(rb'<div class="story" id="story-(\d+)"', page)]


def test_index_redirects_to_this_month(store) -> None:
    client = WSGIClient(_app(store[0]))
    status, headers, _ = client.get("/")
    assert status == 303 and headers["location"] == "/roundup?region=africa&period=2024-01"


def test_page_lists_the_draft_with_security_headers(store) -> None:
    factory, ids = store
    client = WSGIClient(_app(factory))
    status, headers, page = client.get(PAGE)
    assert status == 200
    assert set(_story_ids(page)) == {ids[k] for k in ("gh-killing", "gh-detention", "ng-shutdown",
                                                      "regional", "joint", "hostile")}
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert headers["x-frame-options"] == "DENY"
    assert "HttpOnly" in headers["set-cookie"] and "SameSite=Strict" in headers["set-cookie"]
    assert b"<script" not in page
    for fmt in ("md", "html", "json", "docx"):
        assert f'data-format="{fmt}"'.encode() in page


def test_filters(store) -> None:
    factory, ids = store
    client = WSGIClient(_app(factory))
    _, _, page = client.get(PAGE + "&country=NG")
    assert set(_story_ids(page)) == {ids["ng-shutdown"], ids["regional"]}
    _, _, page = client.get(PAGE + "&topic=killing")
    assert _story_ids(page) == [ids["gh-killing"]]
    _, _, page = client.get(PAGE + "&source=cpj")
    assert set(_story_ids(page)) == {ids["gh-detention"], ids["ng-shutdown"]}
    _, _, page = client.get(PAGE + "&country=NG&topic=killing")
    assert _story_ids(page) == []


def test_exclude_include_pin_edit_and_download(store) -> None:
    factory, ids = store
    client = WSGIClient(_app(factory))
    _, _, page = client.get(PAGE + "&country=NG")
    form = {"csrf": csrf_of(page), "region": "africa", "period": "2024-01", "country": "NG"}
    status, headers, _ = client.post("/curate", {**form, "story": str(ids["ng-shutdown"]),
                                                 "action": "exclude"})
    assert status == 303
    assert headers["location"] == (f"/roundup?region=africa&period=2024-01&country=NG"
                                   f"#story-{ids['ng-shutdown']}")
    status, headers, body = client.get("/download?region=africa&period=2024-01&format=json")
    assert status == 200 and headers["content-type"] == "application/json"
    assert 'filename="roundup-africa-2024-01.json"' in headers["content-disposition"]
    data = json.loads(body)
    assert ids["ng-shutdown"] not in [s["id"] for s in data["stories"]]
    assert data["excluded"] == [ids["ng-shutdown"]]
    # The excluded story is still on the page, in its own section, and can come back.
    _, _, page = client.get(PAGE)
    assert b'id="excluded"' in page
    client.post("/curate", {**form, "story": str(ids["ng-shutdown"]), "action": "include"})
    client.post("/curate", {**form, "story": str(ids["regional"]), "action": "edit",
                            "headline": "Cybercrime laws used against reporters",
                            "summary": "", "note": "ask RSF for a quote", "position": ""})
    client.post("/curate", {**form, "story": str(ids["gh-detention"]), "action": "pin"})
    _, _, body = client.get("/download?region=africa&period=2024-01&format=md")
    text = body.decode()
    assert "Internet cut in northern Nigeria" in text
    assert "### Cybercrime laws used against reporters" in text
    assert "Editor's note: ask RSF for a quote" in text
    ghana = text[text.index("## Ghana"):]
    assert ghana.index("Two reporters detained") < ghana.index("Radio journalist shot dead")
    for fmt, media in (("html", "text/html"), ("docx", "application/vnd.openxmlformats")):
        status, headers, body = client.get(f"/download?region=africa&period=2024-01&format={fmt}")
        assert status == 200 and headers["content-type"].startswith(media) and body


def test_move_up_and_reset(store) -> None:
    factory, ids = store
    client = WSGIClient(_app(factory))
    _, _, page = client.get(PAGE)
    form = {"csrf": csrf_of(page), "region": "africa", "period": "2024-01"}
    ghana = [ids["gh-killing"], ids["gh-detention"]]
    assert [i for i in _story_ids(page) if i in ghana] == ghana
    client.post("/curate", {**form, "story": str(ids["gh-detention"]), "action": "up"})
    _, _, page = client.get(PAGE)
    assert [i for i in _story_ids(page) if i in ghana] == ghana[::-1]
    client.post("/curate", {**form, "story": str(ids["gh-detention"]), "action": "reset"})
    client.post("/curate", {**form, "story": str(ids["gh-killing"]), "action": "reset"})
    _, _, page = client.get(PAGE)
    assert [i for i in _story_ids(page) if i in ghana] == ghana


def test_changes_need_the_csrf_token(store) -> None:
    factory, ids = store
    client = WSGIClient(_app(factory))
    _, _, page = client.get(PAGE)
    form = {"region": "africa", "period": "2024-01", "story": str(ids["gh-killing"]),
            "action": "exclude"}
    assert client.post("/curate", form)[0] == 403
    assert client.post("/curate", {**form, "csrf": "forged"})[0] == 403
    other = WSGIClient(_app(factory))  # another browser: its own session and token
    other.get(PAGE)
    assert other.post("/curate", {**form, "csrf": csrf_of(page)})[0] == 403
    good = {**form, "csrf": csrf_of(page)}
    assert client.post("/curate", good, headers={"Origin": "https://evil.example"})[0] == 403
    _, _, page = client.get(PAGE)
    assert ids["gh-killing"] in _story_ids(page) and b'id="excluded"' not in page
    assert client.post("/curate", good, headers={"Origin": "http://127.0.0.1:8080"})[0] == 303


def test_bad_requests(store) -> None:
    factory, ids = store
    client = WSGIClient(_app(factory))
    _, _, page = client.get(PAGE)
    csrf = csrf_of(page)
    assert client.get("/roundup?region=atlantis&period=2024-01")[0] == 400
    assert client.get("/roundup?region=africa&period=2024-99")[0] == 400
    assert client.get("/download?region=africa&period=2024-01&format=exe")[0] == 400
    assert client.get("/nowhere")[0] == 404
    assert client.post("/roundup", {"csrf": csrf})[0] == 405
    base = {"csrf": csrf, "region": "africa", "period": "2024-01"}
    assert client.post("/curate", {**base, "story": "x", "action": "pin"})[0] == 400
    assert client.post("/curate", {**base, "story": "999999", "action": "pin"})[0] == 404
    assert client.post("/curate", {**base, "story": str(ids["gh-killing"]),
                                   "action": "drop-table"})[0] == 400


def test_login(store) -> None:
    factory, ids = store
    config = WebConfig(user="editor", password_hash=hash_password("s3cret", iterations=1000),
                       secret=b"k" * 32)
    client = WSGIClient(_app(factory, config))
    status, headers, _ = client.get(PAGE)
    assert status == 303 and headers["location"].startswith("/login?next=%2Froundup")
    assert client.get("/download?region=africa&period=2024-01&format=md")[0] == 303
    _, _, login_page = client.get("/login?next=/roundup")
    token = csrf_of(login_page)
    assert client.post("/login", {"user": "editor", "password": "s3cret"})[0] == 403  # no token
    status, _, _ = client.post("/login", {"csrf": token, "user": "editor", "password": "nope"})
    assert status == 401
    status, headers, _ = client.post("/login", {"csrf": token, "user": "editor",
                                                "password": "s3cret", "next": "//evil.example/"})
    assert status == 303 and headers["location"] == "/"
    status, _, page = client.get(PAGE)
    assert status == 200 and b"editor" in page
    assert csrf_of(page) != token  # a new session token after logging in
    form = {"csrf": csrf_of(page), "region": "africa", "period": "2024-01"}
    assert client.post("/curate", {**form, "story": str(ids["gh-killing"]),
                                   "action": "pin"})[0] == 303
    assert client.post("/logout", {"csrf": csrf_of(page)})[0] == 303
    assert client.get(PAGE)[0] == 303
    # A forged cookie is no session.
    client.cookies["roundup_session"] = "eyJ1c2VyIjoiZWRpdG9yIn0.forged"
    assert client.get(PAGE)[0] == 303


def test_passwords_and_config(tmp_path) -> None:
    stored = hash_password("pw", iterations=1000)
    assert check_password("pw", stored) and not check_password("pW", stored)
    assert not check_password("pw", "md5$1$x$y") and not check_password("pw", "garbage")
    path = tmp_path / "web.toml"
    path.write_text(f'[web]\nuser = "ed"\npassword_hash = "{stored}"\nsecret = "abc"\n')
    config = load_config(path, environ={})
    assert config.login_required and config.check("ed", "pw") and config.secret == b"abc"
    assert not config.check("ed", "wrong") and not config.check("other", "pw")
    env = load_config(None, environ={"ROUNDUP_WEB_USER": "x", "ROUNDUP_WEB_PASSWORD": "y"})
    assert env.login_required and env.check("x", "y")
    assert not load_config(None, environ={}).login_required
    with pytest.raises(ConfigError):
        load_config(None, environ={"ROUNDUP_WEB_USER": "x"})
    path.write_text('[web]\nuser = "ed"\npasword = "typo"\n')
    with pytest.raises(ConfigError):
        load_config(path, environ={})


def test_no_login_means_loopback_only(store, store_url, monkeypatch) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")
    with pytest.raises(ConfigError):
        check_bind("0.0.0.0", WebConfig())
    check_bind("0.0.0.0", WebConfig(user="u", password="p"))
    for name in ("ROUNDUP_WEB_USER", "ROUNDUP_WEB_PASSWORD", "ROUNDUP_WEB_PASSWORD_HASH",
                 "ROUNDUP_WEB_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    assert main(["serve", "--db", store_url, "--host", "0.0.0.0", "--port", "0"]) == 2
    server = build_server(_app(store[0]), "127.0.0.1", 0)
    try:
        assert server.server_port > 0
    finally:
        server.server_close()
