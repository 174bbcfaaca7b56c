"""roundups.render: Markdown, self-contained HTML, JSON (the DESIGN.md contract), DOCX."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from draftdata import build

from roundups.compose import DraftSource, DraftStory, Period, arrange, compose
from roundups.render import (
    MEDIA_TYPES,
    RENDERERS,
    filename,
    md_escape,
    render,
    safe_url,
    to_docx,
    to_html,
    to_json,
    to_markdown,
)

JAN = Period.month("2024-01")


@pytest.fixture(scope="module")
def draft(tmp_path_factory):
    from store.db import open_db

    engine, factory = open_db(f"sqlite:///{tmp_path_factory.mktemp('render') / 'store.db'}")
    try:
        with factory() as session:
            build(session)
            yield compose(session, "africa", JAN)
    finally:
        engine.dispose()


class Elements(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))

    def tags(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.found if tag == name]


def test_renderers_cover_every_format() -> None:
    assert set(RENDERERS) == set(MEDIA_TYPES) == {"md", "html", "json", "docx"}


def test_markdown(draft) -> None:
    text = to_markdown(draft)
    assert text.startswith("# January 2024 in Africa: a free expression round-up based on member "
                           "reports\n")
    assert text.index("## Regional") < text.index("## Ghana") < text.index("## Joint statements")
    assert ("Sources: [Media Foundation for West Africa](https://ifex.example/gh-detention); "
            "[Committee to Protect Journalists](https://ifex.example/gh-detention)") in text
    assert "## Coverage" in text and "Journalists for Justice" in text


def test_html_is_self_contained_and_links_are_safe(draft) -> None:
    text = to_html(draft)
    page = Elements(text)
    assert not page.tags("script") and not page.tags("link") and not page.tags("img")
    assert not page.tags("iframe") and len(page.tags("style")) == 1
    links = page.tags("a")
    assert len(links) == sum(len(s.sources) for s in draft.stories)
    for attrs in links:
        assert attrs["rel"] == "noopener noreferrer"
        assert (attrs["href"] or "").startswith("https://")
    assert [a["data-story"] for a in page.tags("div")] == [str(s.id) for s in draft.stories]
    assert "Content-Security-Policy" in text


def test_json_contract(draft) -> None:
    data = json.loads(to_json(draft))
    assert (data["region"], data["month"]) == ("africa", "2024-01")
    assert [s["id"] for s in data["stories"]] == [s.id for s in draft.stories]
    first = data["stories"][0]
    assert list(first)[:8] == ["id", "headline", "summary", "countries", "topics", "published",
                               "sources", "kind"]
    assert first["sources"][0].keys() >= {"source", "url", "title"}
    assert data["coverage"]["silent_members"][0]["source"] == "jfj"


def test_docx(draft) -> None:
    from docx import Document

    data = to_docx(draft)
    doc = Document(io.BytesIO(data))
    texts = [p.text for p in doc.paragraphs]
    assert texts[0] == draft.title
    for story in draft.stories:
        assert story.headline in texts
    targets = [rel.target_ref for rel in doc.part.rels.values() if rel.is_external]
    assert "https://ifex.example/gh-detention" in targets
    assert all(t.startswith("https://") for t in targets)
    assert data[:2] == b"PK" and render(draft, "docx")[:2] == b"PK"


def test_empty_draft_renders_everywhere() -> None:
    empty = arrange("mena", JAN, [])
    for fmt in RENDERERS:
        assert render(empty, fmt)
    assert "No member reports" in to_markdown(empty)
    assert filename(empty, "docx") == "roundup-mena-2024-01.docx"
    assert filename(arrange("mena", Period.between("2024-01", "2024-02"), []), "md") == \
        "roundup-mena-2024-01_to_2024-02.md"


def test_safe_url_and_md_escape() -> None:
    assert safe_url("https://a.example/x y") is None  # whitespace cannot be in a stored URL
    assert safe_url("https://a.example/(x)") == "https://a.example/%28x%29"
    assert safe_url('https://a.example/"><script>') == "https://a.example/%22%3E%3Cscript%3E"
    for bad in ("javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)",
                "data:text/html,<script>", "vbscript:x", "//evil.example/", "/relative", "",
                "https:///nohost", "java\tscript:alert(1)"):
        assert safe_url(bad) is None, bad
    assert md_escape("[x](javascript:alert(1))") == "\\[x\\]\\(javascript:alert\\(1\\)\\)"


def test_unlinkable_source_is_named_without_a_link() -> None:
    when = datetime(2024, 1, 3, tzinfo=UTC)
    story = DraftStory(1, "Headline", "", ["GH"], [], when, "report", "africa",
                       [DraftSource("x", "Member X", "javascript:alert(1)", "t", when)])
    draft = arrange("africa", JAN, [story])
    assert "Sources: Member X" in to_markdown(draft)
    assert not Elements(to_html(draft)).tags("a")
