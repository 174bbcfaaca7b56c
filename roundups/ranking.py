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

#: Topic id (``pipeline/data/topics/taxonomy.toml``) → severity bonus, most severe first.
SEVERITY: dict[str, float] = {
    "killing": 4.0,
    "physical-attack": 3.0,
    "imprisonment-sentence": 2.5,
    "arrest-detention": 2.25,
    "exile-transnational-repression": 1.75,
    "gender-based-attacks": 1.5,
    "legal-harassment-slapp": 1.5,
    "online-harassment": 1.25,
    "surveillance-spyware": 1.25,
    "internet-shutdown-blocking": 1.25,
    "censorship-media-closure": 1.25,
    "impunity-justice": 0.75,
    "legislation": 0.5,
    "access-to-information": 0.5,
    "protest": 0.25,
}

#: Other spellings (older or other taggers' ids) → the taxonomy id used in :data:`SEVERITY`.
ALIASES: dict[str, str] = {
    "killings": "killing",
    "murder": "killing",
    "killed": "killing",
    "attack": "physical-attack",
    "attacks": "physical-attack",
    "assault": "physical-attack",
    "physical-attacks": "physical-attack",
    "imprisonment": "imprisonment-sentence",
    "imprisoned": "imprisonment-sentence",
    "jailed": "imprisonment-sentence",
    "prison": "imprisonment-sentence",
    "arrest": "arrest-detention",
    "arrests": "arrest-detention",
    "detention": "arrest-detention",
    "detained": "arrest-detention",
    "abduction": "arrest-detention",
    "enforced-disappearance": "arrest-detention",
    "exile": "exile-transnational-repression",
    "transnational-repression": "exile-transnational-repression",
    "legal-action": "legal-harassment-slapp",
    "legal-harassment": "legal-harassment-slapp",
    "judicial-harassment": "legal-harassment-slapp",
    "slapp": "legal-harassment-slapp",
    "lawsuit": "legal-harassment-slapp",
    "prosecution": "legal-harassment-slapp",
    "threats": "online-harassment",
    "threat": "online-harassment",
    "harassment": "online-harassment",
    "intimidation": "online-harassment",
    "surveillance": "surveillance-spyware",
    "spyware": "surveillance-spyware",
    "internet-shutdown": "internet-shutdown-blocking",
    "internet-shutdowns": "internet-shutdown-blocking",
    "shutdown": "internet-shutdown-blocking",
    "blocking": "internet-shutdown-blocking",
    "censorship": "censorship-media-closure",
    "media-closure": "censorship-media-closure",
    "licence-suspension": "censorship-media-closure",
    "impunity": "impunity-justice",
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
