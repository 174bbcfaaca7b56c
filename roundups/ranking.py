"""How much a story weighs in a round-up.

``weight = distinct member sources + topic severity + recency``

* **distinct member sources**: one point per member organisation that reported the story (several
  reports of one member count once). Corroboration is the network's strongest signal.
* **topic severity**: the bonus of the story's most severe topic, from :data:`SEVERITY` (killing
  first, then physical attack, abduction, imprisonment…). A topic not in the table adds nothing.
* **recency**: 0 to 1, how late in the period the story's newest in-period report came out; it only
  separates stories that are otherwise level.

Editors' decisions come before the weight: pinned stories lead their section, then stories the
editor put in a position, then the rest by weight; ties are broken by story id so that the same
store and the same decisions always give the same draft. The table is documented (with its reasons)
in ``docs/roundups.md``.
"""

from __future__ import annotations

from datetime import datetime

#: Topic id → severity bonus, most severe first. Aliases cover the spellings taggers use.
SEVERITY: dict[str, float] = {
    "killing": 4.0,
    "physical-attack": 3.0,
    "abduction": 2.75,
    "enforced-disappearance": 2.75,
    "imprisonment": 2.5,
    "torture": 2.5,
    "arrest": 2.0,
    "detention": 2.0,
    "threats": 1.5,
    "harassment": 1.25,
    "legal-action": 1.25,
    "slapp": 1.25,
    "internet-shutdown": 1.25,
    "censorship": 1.0,
    "media-closure": 1.0,
    "surveillance": 1.0,
    "legislation": 0.5,
    "impunity": 0.5,
}

#: Other spellings → the id used in :data:`SEVERITY`.
ALIASES: dict[str, str] = {
    "killings": "killing",
    "murder": "killing",
    "killed": "killing",
    "attack": "physical-attack",
    "attacks": "physical-attack",
    "assault": "physical-attack",
    "physical-attacks": "physical-attack",
    "kidnapping": "abduction",
    "disappearance": "enforced-disappearance",
    "imprisoned": "imprisonment",
    "jailed": "imprisonment",
    "prison": "imprisonment",
    "arrests": "arrest",
    "detained": "detention",
    "threat": "threats",
    "intimidation": "threats",
    "lawsuit": "legal-action",
    "prosecution": "legal-action",
    "judicial-harassment": "legal-action",
    "legal-harassment": "legal-action",
    "slapps": "slapp",
    "shutdown": "internet-shutdown",
    "internet-shutdowns": "internet-shutdown",
    "blocking": "censorship",
    "licence-suspension": "media-closure",
    "spyware": "surveillance",
    "law": "legislation",
}


def topic_severity(topic: str) -> float:
    key = (topic or "").strip().lower().replace("_", "-").replace(" ", "-")
    return SEVERITY.get(ALIASES.get(key, key), 0.0)


def severity(topics: list[str]) -> float:
    """The bonus of the most severe of ``topics`` (0 when none is in the table)."""
    return max((topic_severity(t) for t in topics), default=0.0)


def recency(newest: datetime | None, start: datetime, end: datetime) -> float:
    """Where ``newest`` falls in ``[start, end)``: 0 at the start, 1 at the end (clamped)."""
    if newest is None or end <= start:
        return 0.0
    share = (newest - start).total_seconds() / (end - start).total_seconds()
    return min(1.0, max(0.0, share))


def weight(sources: int, topics: list[str], newest: datetime | None, start: datetime,
           end: datetime) -> float:
    return round(sources + severity(topics) + recency(newest, start, end), 6)
