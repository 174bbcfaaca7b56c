"""Draft exports: Markdown, HTML, JSON, DOCX.

Every string that came from a member's feed is escaped for the target format (Markdown
punctuation and inline HTML; HTML through Jinja2's autoescape; DOCX through python-docx's XML
writer), and a link target is only ever an ``http``/``https`` URL (:func:`safe_url`): anything else
is shown as the member's name without a link.

Text renderers return ``str``; :func:`to_docx` returns ``bytes``. :data:`RENDERERS` maps a format to
its renderer, :data:`MEDIA_TYPES` to its media type and file extension.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from roundups.compose import Draft, DraftStory, safe_url

TEMPLATES = Path(__file__).resolve().parent / "templates"

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~])")


def md_escape(text: str) -> str:
    """Escape Markdown and inline HTML so a member's title can never become markup or a link."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join((text or "").split()))


def md_url(url: str) -> str:
    return safe_url(url) or ""


def _meta(story: DraftStory) -> str:
    meta = []
    if story.published:
        meta.append(f"{story.published.day} {story.published:%B %Y}")
    if story.kind and story.kind != "report":
        meta.append(story.kind.replace("-", " "))
    if story.topics:
        meta.append(", ".join(story.topics))
    return " · ".join(meta)


def _source_links_md(story: DraftStory) -> str:
    links = []
    for s in story.sources:
        url = safe_url(s.url)
        links.append(f"[{md_escape(s.name)}]({url})" if url else md_escape(s.name))
    # One member with several reports is listed once per report: each link is a different page.
    return "; ".join(links)


def to_markdown(draft: Draft) -> str:
    lines = [f"# {md_escape(draft.title)}", ""]
    if not draft.stories:
        lines += ["_No member reports were stored for this region and period._", ""]
    for section in draft.sections:
        lines += [f"## {md_escape(section.title)}", ""]
        for story in section.stories:
            lines += [f"### {md_escape(story.headline)}", ""]
            meta = _meta(story)
            if meta:
                lines += ["_" + md_escape(meta) + "_", ""]
            if story.summary:
                lines += [md_escape(story.summary), ""]
            lines += ["Sources: " + _source_links_md(story), ""]
            if story.note:
                lines += [f"> Editor's note: {md_escape(story.note)}", ""]
    if draft.coverage is not None:
        lines += _coverage_md(draft)
    return "\n".join(lines).rstrip() + "\n"


def _coverage_md(draft: Draft) -> list[str]:
    cov = draft.coverage
    assert cov is not None
    lines = ["## Coverage", ""]
    if cov.countries:
        lines += ["| Country | Stories | Members |", "| --- | ---: | --- |"]
        for c in cov.countries:
            members = ", ".join(md_escape(n) for n in c.sources)
            lines.append(f"| {md_escape(c.name)} | {c.stories} | {members} |")
        lines.append("")
    silent = ", ".join(md_escape(m.name) for m in cov.silent_members) or "none"
    lines += [f"Members of the region that published nothing in the period: {silent}", ""]
    empty = ", ".join(md_escape(c.name) for c in cov.countries_without_stories) or "none"
    lines += [f"Countries of the region with no story: {empty}", ""]
    return lines


def to_json(draft: Draft) -> str:
    return json.dumps(draft.as_json(), ensure_ascii=False, indent=2) + "\n"


@cache
def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(("html", "j2"), default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["safe_url"] = safe_url
    env.filters["meta"] = _meta
    return env


def template(name: str) -> Any:
    return _environment().get_template(name)


def to_html(draft: Draft) -> str:
    """One self-contained HTML file: inline style, no script, no external resource."""
    return str(template("draft.html").render(draft=draft))


def to_docx(draft: Draft) -> bytes:
    """A Word document: headings per section and story, linked member names, the coverage table.

    Styles are set by id and hyperlink relationships get their ids here, because python-docx's
    lookups by style name and its relationship de-duplication are linear: quadratic on a large draft.
    """
    from docx import Document
    from docx.opc.constants import RELATIONSHIP_TYPE
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    doc = Document()
    style_ids = {name: doc.styles[name].style_id
                 for name in ("Title", "Heading 1", "Heading 2", "Intense Quote")}
    links: dict[str, str] = {}

    def paragraph(text: str = "", style: str | None = None) -> Any:
        para = doc.add_paragraph()
        if text:
            para.add_run(_xml_safe(text))
        if style is not None:
            para._p.style = style_ids[style]
        return para

    def hyperlink(para: Any, text: str, url: str) -> None:
        if url not in links:
            links[url] = f"rIdRoundupLink{len(links) + 1}"
            doc.part.rels.add_relationship(RELATIONSHIP_TYPE.HYPERLINK, url, links[url],
                                           is_external=True)
        link = OxmlElement("w:hyperlink")
        link.set(qn("r:id"), links[url])
        run = OxmlElement("w:r")
        props = OxmlElement("w:rPr")
        style = OxmlElement("w:rStyle")
        style.set(qn("w:val"), "Hyperlink")
        props.append(style)
        underline = OxmlElement("w:u")
        underline.set(qn("w:val"), "single")
        props.append(underline)
        run.append(props)
        node = OxmlElement("w:t")
        node.text = _xml_safe(text)
        node.set(qn("xml:space"), "preserve")
        run.append(node)
        link.append(run)
        para._p.append(link)

    doc.core_properties.title = _xml_safe(draft.title)[:255]
    paragraph(draft.title, "Title")
    if not draft.stories:
        paragraph("No member reports were stored for this region and period.")
    for section in draft.sections:
        paragraph(section.title, "Heading 1")
        for story in section.stories:
            paragraph(story.headline, "Heading 2")
            meta = _meta(story)
            if meta:
                paragraph().add_run(_xml_safe(meta)).italic = True
            if story.summary:
                paragraph(story.summary)
            para = paragraph("Sources: ")
            for i, src in enumerate(story.sources):
                if i:
                    para.add_run("; ")
                url = safe_url(src.url)
                if url:
                    hyperlink(para, src.name, url)
                else:
                    para.add_run(_xml_safe(src.name))
            if story.note:
                paragraph(f"Editor's note: {story.note}", "Intense Quote")
    cov = draft.coverage
    if cov is not None:
        paragraph("Coverage", "Heading 1")
        if cov.countries:
            table = doc.add_table(rows=1, cols=3)
            table.style = "Light List"
            for cell, text in zip(table.rows[0].cells, ("Country", "Stories", "Members"),
                                  strict=True):
                cell.text = text
            for c in cov.countries:
                row = table.add_row().cells
                row[0].text = _xml_safe(c.name)
                row[1].text = str(c.stories)
                row[2].text = _xml_safe(", ".join(c.sources))
        silent = ", ".join(m.name for m in cov.silent_members) or "none"
        paragraph(f"Members of the region that published nothing in the period: {silent}")
        empty = ", ".join(c.name for c in cov.countries_without_stories) or "none"
        paragraph(f"Countries of the region with no story: {empty}")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_safe(text: str) -> str:
    """python-docx refuses control characters XML cannot hold; a feed may still carry them."""
    return _XML_ILLEGAL.sub("", text or "")


RENDERERS: dict[str, Callable[[Draft], Any]] = {
    "md": to_markdown,
    "html": to_html,
    "json": to_json,
    "docx": to_docx,
}

#: format → (media type, file extension)
MEDIA_TYPES: dict[str, tuple[str, str]] = {
    "md": ("text/markdown; charset=utf-8", "md"),
    "html": ("text/html; charset=utf-8", "html"),
    "json": ("application/json", "json"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
}


def render(draft: Draft, fmt: str) -> bytes:
    """The draft in ``fmt`` as bytes (UTF-8 for the text formats)."""
    out = RENDERERS[fmt](draft)
    return out if isinstance(out, bytes) else out.encode("utf-8")


def filename(draft: Draft, fmt: str) -> str:
    label = re.sub(r"[^0-9A-Za-z.-]", "_", draft.period.label).replace("..", "_to_")
    return f"roundup-{draft.region}-{label}.{MEDIA_TYPES[fmt][1]}"
