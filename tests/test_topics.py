"""Topic taxonomy and rule files: every example sentence in every rule file is a test."""

from __future__ import annotations

import tomllib

import pytest

from pipeline.tagging import tag
from pipeline.topics import TOPICS_DIR, load_rules, match_topics

REQUIRED = ["killing", "physical-attack", "arrest-detention", "imprisonment-sentence",
            "legal-harassment-slapp", "online-harassment", "surveillance-spyware",
            "internet-shutdown-blocking", "censorship-media-closure", "impunity-justice", "protest",
            "gender-based-attacks", "exile-transnational-repression", "legislation",
            "access-to-information"]
RULE_FILES = sorted(p for p in TOPICS_DIR.glob("*.toml") if p.name != "taxonomy.toml")


def _examples(kind: str) -> list[tuple[str, str, str]]:
    out = []
    for path in RULE_FILES:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for topic, rule in data.items():
            out += [(path.stem, topic, sentence) for sentence in rule.get(kind, [])]
    return out


def test_taxonomy_has_the_required_ids() -> None:
    taxonomy = load_rules().taxonomy
    assert [t for t in REQUIRED if t not in taxonomy] == []
    assert all(definition.strip() for definition in taxonomy.values())


def test_rule_files_for_six_languages() -> None:
    assert {p.stem for p in RULE_FILES} >= {"en", "fr", "es", "pt", "ar", "ru"}


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.stem)
def test_every_rule_has_patterns_and_examples(path) -> None:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert set(data) == set(REQUIRED), path.name
    for topic, rule in data.items():
        assert rule.get("patterns"), (path.name, topic)
        assert rule.get("match"), (path.name, topic)
        assert rule.get("no_match"), (path.name, topic)


@pytest.mark.parametrize(("lang", "topic", "sentence"), _examples("match"))
def test_rule_matches_its_examples(lang: str, topic: str, sentence: str) -> None:
    assert topic in match_topics("", sentence, lang)


@pytest.mark.parametrize(("lang", "topic", "sentence"), _examples("no_match"))
def test_rule_does_not_match_its_counter_examples(lang: str, topic: str, sentence: str) -> None:
    assert topic not in match_topics("", sentence, lang)


def test_weak_cues_need_support_and_title_cues_count_more() -> None:
    # "held" is a weak cue (half): not enough on its own, enough with a second weak cue
    assert "arrest-detention" not in match_topics("", "The reporter was held.", "en")
    assert "arrest-detention" in match_topics("", "The reporter was held and locked up.", "en")
    from pipeline.topics import topic_scores

    assert topic_scores("Reporter arrested", "", "en")["arrest-detention"] == 1.5
    assert topic_scores("", "Reporter arrested", "en")["arrest-detention"] == 1.0
    assert "arrest-detention" in tag("Reporter arrested", "", language="en").topics


def test_unknown_language_uses_every_rule_file() -> None:
    assert "killing" in match_topics("", "Le journaliste a été assassiné.", None)
    assert "killing" in match_topics("", "Le journaliste a été assassiné.", "xx")


def test_topics_are_ordered_by_strength() -> None:
    got = match_topics("Journalist shot dead",
                       "He was murdered after reporting; police arrested a suspect.", "en")
    assert got[0] == "killing"
