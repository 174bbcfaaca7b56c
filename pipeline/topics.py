"""Topics of a report, from keyword rules kept as data (``pipeline/data/topics/<lang>.toml``).

Each rule file has one table per topic id with ``patterns`` (phrases; a trailing ``*`` lets
the last word go on: ``arrest*`` covers arrested, arrests; a leading ``?`` marks a weak cue that
counts half), and the example sentences ``match`` / ``no_match`` that the tests run. Matching is
one Aho-Corasick pass over the same normalised text as the gazetteer, so case, accents and
punctuation do not matter and word starts are always enforced.

A topic is assigned when its cues add up to at least 1; cues in the title count 1.5 times.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import ahocorasick

from pipeline.geo import _arabic_variants, normalise_key, prepare_pair

TOPICS_DIR = Path(__file__).with_name("data") / "topics"
THRESHOLD = 1.0
TITLE_FACTOR = 1.5


@dataclass(frozen=True)
class Cue:
    topic: str
    lang: str
    weight: float
    pattern: str


@dataclass
class TopicRules:
    automaton: ahocorasick.Automaton  # every language's cues
    by_language: dict[str, ahocorasick.Automaton]  # one language's cues: smaller, fewer hits
    cues: list[Cue]
    taxonomy: dict[str, str]  # id -> one-line definition
    languages: frozenset[str]
    examples: dict[str, dict[str, dict[str, list[str]]]]  # lang -> topic -> match/no_match


# A * inside a phrase ("condenado* a") stands for the usual gender and number endings.
_INNER_ENDINGS = ("", "o", "a", "os", "as", "e", "es", "s")
_INNER_ENDINGS_RU = ("", "а", "я", "о", "е", "и", "ы", "у", "ю", "й", "ой", "ей", "ий", "ый", "ая", "яя",
                     "ое", "ее", "ые", "ие", "ых", "их", "ую", "юю", "ым", "им", "ом", "ем", "ам", "ям",
                     "ами", "ями", "ах", "ях", "ого", "его", "ому", "ему", "ыми", "ими")


def _expand_inner_stars(phrase: str) -> list[str]:
    out = [""]
    for word in phrase.split():
        endings = _INNER_ENDINGS_RU if any("а" <= c <= "я" for c in word.lower()) else _INNER_ENDINGS
        forms = [word[:-1] + e for e in endings] if word.endswith("*") else [word]
        out = [f"{o} {f}".strip() for o in out for f in forms]
    return out


def _load_taxonomy() -> dict[str, str]:
    data = tomllib.loads((TOPICS_DIR / "taxonomy.toml").read_text(encoding="utf-8"))
    return {tid: body["definition"] for tid, body in data.items()}


@lru_cache(maxsize=1)
def load_rules() -> TopicRules:
    taxonomy = _load_taxonomy()
    automaton = ahocorasick.Automaton()
    cues: list[Cue] = []
    examples: dict[str, dict[str, dict[str, list[str]]]] = {}
    langs: set[str] = set()
    seen: dict[str, list[int]] = {}
    per_lang: dict[str, dict[str, list[int]]] = {}
    for path in sorted(TOPICS_DIR.glob("*.toml")):
        if path.name == "taxonomy.toml":
            continue
        lang = path.stem
        langs.add(lang)
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        examples[lang] = {}
        for topic, rule in data.items():
            if topic not in taxonomy:
                raise ValueError(f"{path}: unknown topic {topic!r} (not in taxonomy.toml)")
            examples[lang][topic] = {"match": list(rule.get("match", [])),
                                     "no_match": list(rule.get("no_match", []))}
            for raw in rule.get("patterns", []):
                weight = 0.5 if raw.startswith("?") else 1.0
                text = raw.lstrip("?").strip()
                stem = text.endswith("*")
                for phrase in _expand_inner_stars(text.rstrip("*")):
                    key = normalise_key(phrase)
                    if not key:
                        raise ValueError(f"{path}: {topic}: empty pattern {raw!r}")
                    # The same words may cue two topics (or languages): keep every cue.
                    for variant in _arabic_variants(key, True):
                        padded = " " + variant + ("" if stem else " ")
                        for table in (seen, per_lang.setdefault(lang, {})):
                            if len(cues) not in table.setdefault(padded, []):
                                table[padded].append(len(cues))
                cues.append(Cue(topic, lang, weight, raw))
    for padded, ids in seen.items():
        automaton.add_word(padded, (len(padded), tuple(ids)))
    automaton.make_automaton()
    by_language = {}
    for lang, table in per_lang.items():
        by_language[lang] = ahocorasick.Automaton()
        for padded, ids in table.items():
            by_language[lang].add_word(padded, (len(padded), tuple(ids)))
        by_language[lang].make_automaton()
    return TopicRules(automaton, by_language, cues, taxonomy, frozenset(langs), examples)


def _cue_ids(automaton: ahocorasick.Automaton, norm: str) -> set[int]:
    if not norm:
        return set()
    groups = {ids for _end, (_klen, ids) in automaton.iter(norm)}
    return set().union(*groups)


def topic_scores(title: str, text: str, language: str | None = None, *,
                 pairs: tuple[tuple[str, str], tuple[str, str]] | None = None,
                 cue_ids: tuple[set[int], set[int]] | None = None) -> dict[str, float]:
    """Each topic's score. ``cue_ids`` are the cues found in the title and in the text when the
    caller has found them (``pipeline.tagging`` does, in the same scan as the places)."""
    rules = load_rules()
    if cue_ids is not None:
        title_ids, body_ids = cue_ids
    else:
        t_pair, b_pair = pairs if pairs is not None else (prepare_pair(title), prepare_pair(text))
        # A known language: only its rules, from its own automaton. Otherwise every language's.
        automaton = rules.by_language.get(language or "", rules.automaton)
        title_ids = _cue_ids(automaton, t_pair[1])
        body_ids = _cue_ids(automaton, b_pair[1])
    scores: dict[str, float] = {}
    cues = rules.cues
    for ids, factor in ((title_ids, TITLE_FACTOR), (body_ids - title_ids, 1.0)):
        for i in ids:
            cue = cues[i]
            scores[cue.topic] = scores.get(cue.topic, 0.0) + cue.weight * factor
    return scores


def match_topics(title: str, text: str, language: str | None = None, *,
                 pairs: tuple[tuple[str, str], tuple[str, str]] | None = None,
                 cue_ids: tuple[set[int], set[int]] | None = None) -> list[str]:
    """Topic ids, strongest first (ties in taxonomy order)."""
    scores = topic_scores(title, text, language, pairs=pairs, cue_ids=cue_ids)
    order = list(load_rules().taxonomy)
    chosen = [t for t, s in scores.items() if s >= THRESHOLD]
    return sorted(chosen, key=lambda t: (-scores[t], order.index(t)))
