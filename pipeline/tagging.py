"""Tag a report with countries (most relevant first), its region and its topics.

    >>> from pipeline.tagging import tag
    >>> r = tag("Nigeria: reporter detained", "LAGOS, Nigeria — Police arrested a journalist.")
    >>> r.primary, r.region, "arrest-detention" in r.topics
    ('NG', 'africa', True)

Everything is data under ``pipeline/data/``, read once on first use. Bad input is data: empty
strings, megabytes without a space, mixed scripts and HTML remnants give a (possibly empty)
result, never an exception, in time linear in the input.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import ahocorasick

from pipeline.geo import MAX_TEXT_CHARS, country_weights, load_gazetteer, prepare_pair
from pipeline.regions import region_of, region_table
from pipeline.topics import load_rules, match_topics

if TYPE_CHECKING:
    from pipeline.items import Article
    from store.registry_types import Source

__all__ = ["TagResult", "tag", "tag_article", "region_of", "warm_up"]

_TAG = re.compile(r"<[^<>]{0,500}>")
_ENTITY = re.compile(r"&(?:#\d{1,7}|#x[0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


@dataclass
class TagResult:
    countries: list[str] = field(default_factory=list)  # most relevant first
    weights: dict[str, float] = field(default_factory=dict)  # sum to 1 (rounded)
    primary: str | None = None
    region: str | None = None  # the primary country's region
    topics: list[str] = field(default_factory=list)


def _clean(value: object) -> str:
    """Text from whatever arrived: None, bytes, HTML remnants (``&amp;``, ``<p>``)."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value)[:MAX_TEXT_CHARS]
    if "<" in text:
        text = _TAG.sub(" ", text)
    if "&" in text:
        text = _ENTITY.sub(lambda m: html.unescape(m.group(0)), text)
    return text


def tag_article(article: Article, source: Source | None) -> None:
    """Set ``article``'s countries, region and topics from its own title and text; the source's
    home country is a prior. Countries found in the text replace the home country the
    normaliser put there; topics are always the text's."""
    home = source.country if source is not None else None
    result = tag(article.title, article.text, home_country=home, language=article.language)
    if result.countries:
        article.countries = list(result.countries)
        article.country_weights = dict(result.weights)
        article.region = result.region
    article.topics = list(result.topics)


def warm_up() -> None:
    """Load the gazetteer, region table and topic rules now rather than on the first call."""
    load_gazetteer()
    region_table()
    load_rules()
    _scanner()


@dataclass(frozen=True)
class _Scanner:
    """The gazetteer's keys and every language's topic cues in one automaton: both are found in
    one scan of a text instead of two (each scan costs about as much, per character, whatever
    the automaton's size). A key's value is (the gazetteer's value or None, None or the cue
    ids: all of them, and by language). The matches of either kind come out as from their own
    automaton, in the same order (by end, then longest first): others in between change neither.
    """

    automaton: ahocorasick.Automaton
    #: The keys that are ASCII: the only ones that can occur in a text that is ASCII once
    #: normalised (Latin script), which this smaller automaton scans faster.
    ascii_automaton: ahocorasick.Automaton
    rule_languages: frozenset[str]  # the languages with topic rules of their own


@lru_cache(maxsize=1)
def _scanner() -> _Scanner:
    gaz, rules = load_gazetteer(), load_rules()
    values: dict[str, tuple[Any, Any]] = {key: (place, None) for key, place in gaz.automaton.items()}
    for key, (_klen, ids) in rules.automaton.items():
        by_language: dict[str, list[int]] = {}
        for i in ids:
            by_language.setdefault(rules.cues[i].lang, []).append(i)
        place = values.get(key, (None, None))[0]
        values[key] = (place, (ids, {lang: tuple(own) for lang, own in by_language.items()}))
    automaton, ascii_automaton = ahocorasick.Automaton(), ahocorasick.Automaton()
    for key, value in values.items():
        automaton.add_word(key, value)
        if key.isascii():
            ascii_automaton.add_word(key, value)
    automaton.make_automaton()
    ascii_automaton.make_automaton()
    return _Scanner(automaton, ascii_automaton, frozenset(rules.by_language))


def _scan(scanner: _Scanner, norm: str, language: str | None) -> tuple[list[Any], set[int]]:
    """The gazetteer's matches in a normalised text (for ``geo.find_hits``) and the ids of the
    topic cues found in it: ``language``'s when it has rules of its own, else every language's
    (as ``topics.topic_scores`` picks its automaton)."""
    places: list[Any] = []
    cue_ids: set[int] = set()
    if not norm:
        return places, cue_ids
    automaton = scanner.ascii_automaton if norm.isascii() else scanner.automaton
    for end, (place, cues) in automaton.iter(norm):
        if place is not None:
            places.append((end, place))
        if cues is not None:
            ids = cues[0] if language is None else cues[1].get(language)
            if ids:
                cue_ids.update(ids)
    return places, cue_ids


def tag(title: str, text: str, *, home_country: str | None = None,
        language: str | None = None) -> TagResult:
    """Countries, region and topics of one report.

    ``home_country`` (the member's own country) breaks ties and fills in when no place is
    named at all; it never outweighs a country the report is about. ``language`` (ISO 639-1)
    picks the topic rules; when it is unknown every language's rules apply.
    """
    title_s, text_s = _clean(title), _clean(text)
    home = home_country.strip().upper() if isinstance(home_country, str) and home_country.strip() else None
    lang = language.strip().lower()[:2] if isinstance(language, str) and language.strip() else None
    pairs = (prepare_pair(title_s), prepare_pair(text_s))  # normalised once, scanned once
    scanner = _scanner()
    rule_language = lang if lang in scanner.rule_languages else None
    (t_places, t_cues), (b_places, b_cues) = (_scan(scanner, norm, rule_language) for _, norm in pairs)
    raw = country_weights(title_s, text_s, home_country=home, pairs=pairs, matches=(t_places, b_places))
    # Order: weight, then the country named first in title + text.
    ordered = sorted(raw, key=lambda c: -raw[c])
    total = sum(raw.values()) or 1.0
    weights = {c: round(raw[c] / total, 3) for c in ordered}
    primary = ordered[0] if ordered else None
    return TagResult(
        countries=ordered,
        weights=weights,
        primary=primary,
        region=region_of(primary),
        topics=match_topics(title_s, text_s, lang, pairs=pairs, cue_ids=(t_cues, b_cues)),
    )
