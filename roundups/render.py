"""Draft exports. Every string that came from a member's feed is escaped for the target format."""

from __future__ import annotations

import json
import re

from roundups.compose import Draft

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~])")


def md_escape(text: str) -> str:
    """Escape Markdown and inline HTML so a member's title can never become markup or a link."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join((text or "").split()))


def md_url(url: str) -> str:
    # Only http(s) URLs are ever stored (pipeline.urls refuses the rest); parentheses and spaces
    # are percent-encoded so the link target cannot break out of the Markdown link.
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")


def to_markdown(draft: Draft) -> str:
    lines = [f"# {md_escape(draft.title)}", ""]
    if not draft.stories:
        lines += ["_No member reports were stored for this region and month._", ""]
    for section in draft.sections:
        lines += [f"## {md_escape(section.title)}", ""]
        for story in section.stories:
            lines += [f"### {md_escape(story.headline)}", ""]
            meta = []
            if story.published:
                meta.append(f"{story.published:%d %B %Y}")
            if story.kind and story.kind != "report":
                meta.append(story.kind.replace("-", " "))
            if story.topics:
                meta.append(", ".join(story.topics))
            if meta:
                lines += ["_" + md_escape(" · ".join(meta)) + "_", ""]
            if story.summary:
                lines += [md_escape(story.summary), ""]
            links = [f"[{md_escape(s.name)}]({md_url(s.url)})" for s in story.sources]
            lines += ["Sources: " + "; ".join(links), ""]
    return "\n".join(lines).rstrip() + "\n"


def to_json(draft: Draft) -> str:
    return json.dumps(draft.as_json(), ensure_ascii=False, indent=2) + "\n"


RENDERERS = {"md": to_markdown, "json": to_json}
