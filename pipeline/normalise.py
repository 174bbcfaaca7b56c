"""RawReport → Article: the one function the harvest calls per entry.

Field by field:

- **url** — :func:`pipeline.urls.canonical_url` of ``raw.url`` resolved against ``raw.base_url``
  (``xml:base``), else ``raw.feed_url``; when the link is missing or unusable (``javascript:``)
  and the GUID is an http(s) URL, the GUID. (The feed spider drops a "link" that feedparser
  only copied from an opaque GUID such as "item-42", so relative links stay usable.) No usable
  URL raises :class:`SkipItem`: "no link or guid" when the entry has neither, "no usable link"
  when it has only an opaque GUID or a refused link (an article must be reachable to be cited).
- **title** — plain text of the title (HTML and entities removed, one line); when missing, the
  first words of the text, then of the summary, then the URL.
- **text** — plain text of ``content_html``, else of ``summary_html``; mojibake repaired; cut to
  ``max_text_chars`` at a word boundary. WordPress's "The post … appeared first on …" footer is
  removed so the same statement published by two members hashes the same.
- **summary** — plain text of ``summary_html`` (shortened to whole sentences when the feed put
  the full article there), else the first sentences of the text.
- **published** — :func:`pipeline.dates.parse_date` of ``raw.raw_date``/``raw.parsed_date`` in
  the source's time zone; ``date_flag`` says why the first-seen time ``now`` was used instead.
- **language** — :func:`pipeline.language.detect_language` of title and text, with the item's
  declared language and the source's languages as hints.
- **content_hash** — :func:`pipeline.text.content_hash` of the text; of the title when the entry
  has no text. The title is left out on purpose: members retitle the same statement.
- **countries / region / topics** — from ``tagger(title, text, source)`` when one is given;
  otherwise (or when the tagger finds no country) the source's home country with weight 1.0 and
  its home region.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from pipeline.dates import parse_date
from pipeline.errors import BadURL, PipelineError, SkipItem
from pipeline.items import Article, RawReport
from pipeline.language import detect_language, detect_languages
from pipeline.text import content_hash, first_sentences, fix_mojibake, html_to_text
from pipeline.urls import canonical_url

if TYPE_CHECKING:
    from store.registry_types import Source

__all__ = ["TagLike", "Tagger", "normalise", "normalise_many"]

TITLE_FROM_TEXT_WORDS = 12
TITLE_MAX_CHARS = 300
SUMMARY_MAX_CHARS = 500
# Markup is rarely more than four times the text it carries; the rest is not read at all.
HTML_PER_TEXT_CHAR = 4
LANGUAGE_SAMPLE_CHARS = 600  # plenty for a language; the detector walks it byte by byte


class TagLike(Protocol):
    """What normalise reads from a tagger's result (``pipeline.tagging.TagResult`` fits)."""

    countries: list[str]
    weights: dict[str, float]
    region: str | None
    topics: list[str]


Tagger = Callable[[str, str, "Source | None"], TagLike]

_READ_MORE = re.compile(r"\s*(?:\[(?:…|\.\.\.)\]|(?:Continue reading|Read more)\W{0,5})\s*$")


# _READ_MORE can only match in the last few characters (the whitespace around its words is
# folded to one character by html_to_text); scanning a 200,000-character text for it from the
# start cost more than everything else about the summary.
_READ_MORE_TAIL = 64
_READ_MORE_CORE = 22  # longest thing _READ_MORE matches between its \s* ("Continue reading" + 5)


def _drop_read_more(text: str) -> str:
    """``_READ_MORE.sub("", text)``, looking only at the tail when that gives the same answer."""
    # A match ends the text but for whitespace, with "]" or with one of the two phrases and at
    # most five non-word characters: two substring tests rule out nearly every text without
    # running the regex at each of the tail's positions.
    end = text.rstrip()
    if not (end.endswith("]") or "Read more" in end[-14:] or "Continue reading" in end[-21:]):
        return text
    tail = len(text) - _READ_MORE_TAIL
    if tail > 0 and _READ_MORE.search(text, tail) is None and not text[tail + _READ_MORE_CORE:].isspace():
        # No match starts in the tail, and one starting earlier would need the tail to be its
        # core plus only whitespace: there is none.
        return text
    return _READ_MORE.sub("", text)


def _clean_text(html: str | None, limit: int) -> str:
    if not html:
        return ""
    text = fix_mojibake(html_to_text(html[: limit * HTML_PER_TEXT_CHAR]))
    return _truncate(_drop_wordpress_footer(text), limit)


def _drop_wordpress_footer(text: str) -> str:
    """Remove WordPress's last paragraph "The post <title> appeared first on <site>."."""
    start = text.rfind("The post ", max(0, len(text) - 700))
    if start < 0 or (start > 0 and not text[start - 1].isspace()):
        return text
    tail = text[start:]
    if "appeared first on " not in tail or "\n" in tail:
        return text
    return text[:start].rstrip()


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", limit // 2, limit)
    return text[: cut if cut > 0 else limit].rstrip()


def _one_line(text: str) -> str:
    return " ".join(text.split())  # every run of whitespace one space, the ends stripped


def _title_from(text: str) -> str:
    words = _one_line(text[:TITLE_MAX_CHARS * 2]).split(" ")
    head = " ".join(words[:TITLE_FROM_TEXT_WORDS])
    if len(head) > TITLE_MAX_CHARS:
        return head[: TITLE_MAX_CHARS - 1].rstrip() + "…"
    return head + ("…" if len(words) > TITLE_FROM_TEXT_WORDS else "")


def _is_web_url(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))


def _resolve_url(raw: RawReport) -> str:
    base = raw.base_url or raw.feed_url
    link = (raw.url or "").strip()
    guid = (raw.guid or "").strip()
    refused: BadURL | None = None
    if link:
        try:
            return canonical_url(link, base)
        except BadURL as exc:
            refused = exc
    if _is_web_url(guid):
        try:
            return canonical_url(guid)
        except BadURL:
            pass
    if not link and not guid:
        raise SkipItem("no link or guid", source_id=raw.source_id)
    reason = f"no usable link ({refused})" if refused else "no usable link"
    raise SkipItem(reason, source_id=raw.source_id)


def normalise(
    raw: RawReport,
    source: Source | None,
    *,
    now: datetime,
    max_text_chars: int = 200_000,
    tagger: Tagger | None = None,
) -> Article:
    """Turn one raw report into an article (see the module docstring for each field).

    Raises :class:`pipeline.errors.SkipItem` when the entry has no usable URL; every other
    defect of the input is repaired or flagged, never raised.
    """
    article, request = _all_but_language(raw, source, now=now, max_text_chars=max_text_chars)
    text, hint, candidates = request
    return _complete(article, detect_language(text, hint, candidates=candidates), source, tagger)


def normalise_many(
    raws: Sequence[RawReport],
    source: Source | None,
    *,
    now: datetime,
    max_text_chars: int = 200_000,
    tagger: Tagger | None = None,
) -> list[Article | PipelineError]:
    """:func:`normalise` of each report, in order: the article, or the :class:`PipelineError` it
    raised. The same articles, with the language model run once over all of them
    (:func:`pipeline.language.detect_languages`), which costs a fraction of one run per entry."""
    drafts: list[tuple[Article, tuple[str, str | None, tuple[str, ...]]] | PipelineError] = []
    for raw in raws:
        try:
            drafts.append(_all_but_language(raw, source, now=now, max_text_chars=max_text_chars))
        except PipelineError as exc:
            drafts.append(exc)
    languages = iter(detect_languages([d[1] for d in drafts if not isinstance(d, PipelineError)]))
    return [d if isinstance(d, PipelineError) else _complete(d[0], next(languages), source, tagger)
            for d in drafts]


def _all_but_language(
    raw: RawReport, source: Source | None, *, now: datetime, max_text_chars: int
) -> tuple[Article, tuple[str, str | None, tuple[str, ...]]]:
    """The article without its language and tags, and what to detect its language from."""
    url = _resolve_url(raw)

    text = _clean_text(raw.content_html or raw.summary_html, max_text_chars)
    if raw.content_html and not text:  # content present but empty once cleaned (an image)
        text = _clean_text(raw.summary_html, max_text_chars)
    if raw.summary_html and raw.content_html:
        summary_source = _clean_text(raw.summary_html, max_text_chars)
    else:
        summary_source = text
    summary = first_sentences(_drop_read_more(summary_source), SUMMARY_MAX_CHARS)

    title = _one_line(fix_mojibake(html_to_text((raw.title or "")[: TITLE_MAX_CHARS * 20])))
    if len(title) > TITLE_MAX_CHARS:
        title = _title_from(title)
    if not title:
        title = _title_from(text or summary) or url

    date = parse_date(
        raw.raw_date,
        parsed=raw.parsed_date,
        tz=source.timezone if source else None,
        now=now,
    )
    request = (f"{title}\n{text[:LANGUAGE_SAMPLE_CHARS]}", raw.language_hint,
               tuple(source.languages) if source else ())
    guid = (raw.guid or "").strip() or None
    article = Article(
        source_id=raw.source_id,
        guid=guid,
        url=url,
        title=title,
        text=text,
        summary=summary,
        published=date.value,
        date_flag=date.flag,
        raw_date=raw.raw_date,
        language=None,
        content_hash=content_hash(text or title),
        feed_url=raw.feed_url,
        fetched_via=raw.fetched_via,
    )
    return article, request


def _complete(article: Article, language: str | None, source: Source | None,
              tagger: Tagger | None) -> Article:
    """Set the language, then the countries, region and topics (see the module docstring)."""
    article.language = language
    countries: list[str] = []
    weights: dict[str, float] = {}
    region: str | None = None
    topics: list[str] = []
    if tagger is not None:
        tags = tagger(article.title, article.text, source)
        countries, weights = list(tags.countries), dict(tags.weights)
        region, topics = tags.region, list(tags.topics)
    if not countries and source is not None and source.country:
        countries, weights, region = [source.country], {source.country: 1.0}, source.region
    article.countries, article.country_weights = countries, weights
    article.region, article.topics = region, topics
    return article
