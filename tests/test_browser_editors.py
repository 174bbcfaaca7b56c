"""The editors' page in a real Chromium (Debian's /usr/bin/chromium) driven by Playwright.

Skips with a reason when Chromium or the playwright package is missing (CI installs Chromium in
.ci/run). Screenshots are kept under ``test-artifacts/`` (gitignored).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from draftdata import HOSTILE_TITLE, build

from roundups.web import EditorsApp, WebConfig, build_server, hash_password

CHROMIUM = os.environ.get("ROUNDUP_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               "--disable-dev-shm-usage"]


def _chromium() -> str:
    path = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if not path:
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=executable, args=LAUNCH_ARGS,
                                      headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[str, dict[str, int], Any]]:
    """The editors' page on 127.0.0.1 over a fresh store; yields (base URL, story ids, app)."""
    from store.db import open_db

    engine, factory = open_db(f"sqlite:///{tmp_path / 'store.db'}")
    with factory() as session:
        ids = build(session)
    app = EditorsApp(factory, WebConfig(user="editor", password_hash=hash_password(
        "s3cret", iterations=1000), secret=b"browser-test-secret"),
        today=lambda: datetime(2024, 1, 20, tzinfo=UTC))
    server = build_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", ids, app
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        engine.dispose()


@pytest.fixture
def page(browser) -> Iterator[Any]:
    context = browser.new_context(accept_downloads=True, java_script_enabled=True)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()


def _shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _login(page: Any, base: str) -> None:
    page.goto(f"{base}/")
    assert "/login" in page.url
    page.fill("input[name=user]", "editor")
    page.fill("input[name=password]", "s3cret")
    page.click("button[type=submit]")
    page.wait_for_url("**/roundup?**")


def test_filter_exclude_download(page, served, tmp_path) -> None:
    base, ids, _ = served
    _login(page, base)
    assert page.locator("div.story").count() == 6
    # Filter to one country.
    page.select_option("form.filters select[name=country]", "NG")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**country=NG**")
    shown = page.locator("div.story").evaluate_all("els => els.map(e => +e.dataset.story)")
    assert sorted(shown) == sorted([ids["ng-shutdown"], ids["regional"]])
    # Exclude a story.
    card = page.locator(f"#story-{ids['ng-shutdown']}")
    card.get_by_role("button", name="Exclude").click()
    page.wait_for_load_state()
    assert page.locator(f"#excluded #story-{ids['ng-shutdown']}").count() == 1
    _shot(page, "editors-page-after-exclude")
    # Download the draft: the story is gone.
    for fmt in ("json", "md", "docx"):
        with page.expect_download() as info:
            page.click(f"a.download[data-format={fmt}]")
        target = tmp_path / info.value.suggested_filename
        info.value.save_as(target)
        assert target.name == f"roundup-africa-2024-01.{fmt}"
        if fmt == "json":
            data = json.loads(target.read_text(encoding="utf-8"))
            assert ids["ng-shutdown"] not in [s["id"] for s in data["stories"]]
            assert ids["regional"] in [s["id"] for s in data["stories"]]
        if fmt == "md":
            assert "Internet cut in northern Nigeria" not in target.read_text(encoding="utf-8")
    assert page.dialogs == []


def test_hostile_story_does_not_execute(page, served, tmp_path) -> None:
    base, ids, _ = served
    _login(page, base)
    card = page.locator(f"#story-{ids['hostile']}")
    assert card.count() == 1
    # Edit the headline to the hostile string: the markup is dropped (roundups.compose.plain),
    # what is left shows as text, and nothing runs.
    card.locator("summary").click()
    card.locator("input[name=headline]").fill(HOSTILE_TITLE)
    card.locator("textarea[name=note]").fill('<svg onload=alert("note")></svg>')
    card.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    card = page.locator(f"#story-{ids['hostile']}")
    assert card.locator("h3").inner_text().startswith("Threats against editors")
    assert "edited" in card.locator("h3").inner_text().lower()
    counts = page.evaluate("""() => ({
        scripts: document.scripts.length,
        svgs: document.querySelectorAll('svg').length,
        imgs: document.querySelectorAll('img').length,
        handlers: [...document.querySelectorAll('*')].filter(
            e => [...e.attributes].some(a => a.name.startsWith('on'))).length,
        jsLinks: [...document.querySelectorAll('a')].filter(
            a => !/^https?:|^\\//.test(a.getAttribute('href') || '')).length,
    })""")
    assert counts == {"scripts": 0, "svgs": 0, "imgs": 0, "handlers": 0, "jsLinks": 0}
    # The exported HTML, opened in the browser, is inert too.
    with page.expect_download() as info:
        page.click("a.download[data-format=html]")
    exported = tmp_path / "draft.html"
    info.value.save_as(exported)
    page.goto(exported.as_uri())
    assert "Threats against editors" in page.locator("h3").all_inner_texts()
    assert page.evaluate("document.scripts.length + document.querySelectorAll('svg,img').length") \
        == 0
    _shot(page, "exported-draft-hostile")
    assert page.dialogs == []
