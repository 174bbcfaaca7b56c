"""Hostile feed content (BAD_INPUTS.md, "Content"): a title with <script>, an onerror attribute, a
javascript: link, an SVG with onload. None of it may survive as markup or as a live link in any
export (Markdown, HTML, JSON consumers aside, DOCX) or on the editors' page.

Two layers are tested separately, so that removing either makes a test fail:

* the renderers and templates escape whatever they are given (stories built by hand with the
  markup still in them, and ``roundups.compose.plain`` switched off for the web page);
* composition strips markup from feed text before it reaches any renderer (stories from a store).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import UTC, datetime
from html.parser import HTMLParser
from xml.etree import ElementTree

import pytest
from draftdata import NOW, WSGIClient, article, build

from roundups.compose import DraftSource, DraftStory, Period, arrange, compose
from roundups.render import to_docx, to_html, to_json, to_markdown
from roundups.web import EditorsApp
from store.articles import upsert_articles
from store.curation import set_curation
from store.registry_types import Source
from store.sources import sync_sources

JAN = Period.month("2024-01")

SCRIPT = '<script>alert("x")</script>'
ONERROR = "<img src=x onerror=alert(1)>"
SVG = "<svg onload=alert(2)><circle r=1 /></svg>"
JS_LINK = '<a href="javascript:alert(3)">click</a>'
PAYLOADS = [SCRIPT, ONERROR, SVG, JS_LINK, "javascript:alert(4)",
            '"><iframe src=javascript:alert(5)>', "<style>body{x:expression(alert(6))}</style>"]
EVIL = " ".join(PAYLOADS)
DANGEROUS_TAGS = {"script", "svg", "img", "iframe", "style", "object", "embed", "math", "link",
                  "meta", "base", "form"}


class Markup(HTMLParser):
    """Every element and attribute an HTML parser (as a browser would) finds in ``text``."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, attrs))

    handle_startendtag = handle_starttag


def assert_inert(html_text: str, *, allowed: frozenset[str] = frozenset()) -> None:
    """No dangerous element beyond ``allowed`` (the page's own), no handler, no script link."""
    for tag, attrs in Markup(html_text).elements:
        assert tag not in DANGEROUS_TAGS - allowed, f"<{tag}> survived"
        for name, value in attrs:
            assert not name.startswith("on"), f"{name}= survived on <{tag}>"
            if name in ("href", "src", "action", "formaction", "xlink:href"):
                assert re.match(r"(https?://|/|#|\?)", value or ""), f"{name}={value!r} survived"


def hostile_story(story_id: int = 1) -> DraftStory:
    when = datetime(2024, 1, 9, tzinfo=UTC)
    return DraftStory(
        id=story_id, headline=f"Headline {EVIL}", summary=f"Summary {EVIL}", countries=["GH"],
        topics=[SCRIPT], published=when, kind="report", region="africa",
        sources=[DraftSource("evil", f"Member {SVG}", "javascript:alert(7)", f"Title {EVIL}", when),
                 DraftSource("ok", f"Other {ONERROR}", "https://ok.example/a?b=1&c=<x>", EVIL,
                             when)],
        note=f"Note {EVIL}")


def md_to_html(text: str) -> str:
    markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py is not installed")
    # CommonMark with raw HTML allowed, the way most Markdown viewers render a file.
    return str(markdown_it.MarkdownIt("commonmark", {"html": True}).render(text))


# --- layer 1: the renderers escape -------------------------------------------------------------


def test_markdown_escapes_markup_and_links() -> None:
    draft = arrange("africa", JAN, [hostile_story()])
    text = to_markdown(draft)
    assert_inert(md_to_html(text))
    assert not re.search(r"(?<!\\)<", text), "an unescaped < in the Markdown"
    assert "](javascript:" not in text and "](https://ok.example/a?b=1&c=%3Cx%3E)" in text
    rendered = md_to_html(text)
    assert "&lt;script&gt;" in rendered  # shown as text, so the editor sees what the feed said


def test_html_export_escapes() -> None:
    draft = arrange("africa", JAN, [hostile_story()])
    text = to_html(draft)
    assert_inert(text, allowed=frozenset({"style", "meta"}))
    assert text.count("<style>") == 1 and "<script" not in text.lower()
    assert "&lt;script&gt;" in text


def test_docx_export_escapes() -> None:
    draft = arrange("africa", JAN, [hostile_story()])
    data = to_docx(draft)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        document = archive.read("word/document.xml").decode()
        rels = archive.read("word/_rels/document.xml.rels").decode()
    ElementTree.fromstring(document)  # well-formed: nothing broke out of a text node
    targets = re.findall(r'Target="([^"]+)"', rels)
    external = [t for t in targets if "://" in t or ":" in t.split("/")[0]]
    assert external and all(t.startswith("https://") for t in external), external
    assert "javascript" not in rels.lower() and "<script" not in document


def test_json_is_data() -> None:
    # JSON is consumed as data: the strings are kept as given (escaping is the consumer's job,
    # and every consumer in this project escapes), but the document stays valid JSON.
    draft = arrange("africa", JAN, [hostile_story()])
    data = json.loads(to_json(draft))
    assert data["stories"][0]["headline"] == f"Headline {EVIL}"


def test_web_page_escapes_without_the_composition_layer(store_db, monkeypatch) -> None:
    import roundups.compose as compose_module

    monkeypatch.setattr(compose_module, "plain", lambda text: " ".join((text or "").split()))
    engine, factory = store_db
    with factory() as session:
        ids = build(session)
        set_curation(session, ids["gh-killing"], "africa/2024-01", decision="pin",
                     headline=f"Edited {EVIL}", note=f"Note {EVIL}")
        session.commit()
    client = WSGIClient(EditorsApp(factory))
    status, _, page = client.get("/roundup?region=africa&period=2024-01")
    assert status == 200
    text = page.decode()
    assert SCRIPT.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;") in text
    assert_inert(text, allowed=frozenset({"style", "meta", "form"}))
    for fmt in ("md", "html"):
        _, _, body = client.get(f"/download?region=africa&period=2024-01&format={fmt}")
        assert_inert(md_to_html(body.decode()) if fmt == "md" else body.decode(),
                     allowed=frozenset({"style", "meta"}))


# --- layer 2: composition strips feed markup ---------------------------------------------------


@pytest.fixture
def hostile_store(store_db):
    engine, factory = store_db
    with factory() as session:
        ids = build(session)
        sync_sources(session, [Source(id="evil", name=f"Evil {SVG} member",
                                      homepage="https://evil.example/", region="africa")], now=NOW)
        upsert_articles(session, [article(
            "evil", "js", title=f"Link {JS_LINK} {SCRIPT}", summary=f"{ONERROR} Summary {SVG}.",
            day=11, countries=["GH"], topics=["threats"], url="javascript:alert(8)")], NOW)
        session.commit()
    return factory, ids


def test_stored_hostile_content_is_plain_in_every_export(hostile_store) -> None:
    factory, ids = hostile_store
    with factory() as session:
        draft = compose(session, "africa", JAN)
    texts = [s.headline + s.summary + "".join(x.name + x.title for x in s.sources)
             for s in draft.stories]
    for payload in ("<script", "onerror", "onload", "<svg", "<a ", "alert(1)", "alert(2)"):
        assert not any(payload in t for t in texts), payload
    hostile = next(s for s in draft.stories if s.id == ids["hostile"])
    assert hostile.headline == "Threats against editors"
    evil = next(s for s in draft.stories if any(x.source == "evil" for x in s.sources))
    assert evil.headline == "Link click" and evil.sources[0].name == "Evil member"
    md = to_markdown(draft)
    html = to_html(draft)
    assert_inert(md_to_html(md))
    assert_inert(html, allowed=frozenset({"style", "meta"}))
    assert "javascript" not in md.lower() and "javascript" not in html.lower()
    with zipfile.ZipFile(io.BytesIO(to_docx(draft))) as archive:
        assert "javascript" not in archive.read("word/_rels/document.xml.rels").decode().lower()
    data = json.loads(to_json(draft))
    flat = json.dumps(data["stories"])
    assert "<script" not in flat and "onerror" not in flat and "<svg" not in flat
    assert "javascript" not in flat  # the unsafe URL is dropped: the member is named, unlinked
