from __future__ import annotations

import pytest

from store.registry_types import Source
from store.signatories import (
    classify_kind,
    extract_signatories,
    is_joint_statement,
    match_signatories,
)

SOURCES = [
    Source("mfwa", "Media Foundation for West Africa", "https://mfwa.example/"),
    Source("cpj", "Committee to Protect Journalists", "https://cpj.example/",
           extra={"aliases": ["Comité pour la protection des journalistes"]}),
    Source("rsf", "Reporters sans frontières", "https://rsf.example/"),
    Source("article19", "ARTICLE 19", "https://a19.example/"),
    Source("pen-international", "PEN International", "https://pen.example/"),
    Source("flip", "Fundación para la Libertad de Prensa", "https://flip.example/"),
]

STATEMENT = """We, the undersigned organisations, condemn the detention of the radio host in Tamale.

The authorities must release him and drop the charges.

Signatories:
- Media Foundation for West Africa (MFWA)
- Committee to Protect Journalists
- Reporters Without Borders (RSF)
- ARTICLE 19
1. PEN International
2. Fundación para la Libertad de Prensa (FLIP)
- Northern Reporters Collective (Ghana)

About IFEX: a global network defending free expression."""


@pytest.mark.parametrize(
    ("title", "text"),
    [
        ("Joint statement: free the Tamale radio host", ""),
        ("Ghana", "We, the undersigned, call on the police."),
        ("Ghana", "This letter was signed by the following organisations: ..."),
        ("Déclaration conjointe sur la détention d'un journaliste", ""),
        ("Nous, organisations soussignées", "..."),
        ("Declaración conjunta sobre el periodista", ""),
        ("بيان مشترك بشأن اعتقال الصحفي", ""),
    ],
)
def test_is_joint_statement(title: str, text: str) -> None:
    assert is_joint_statement(title, text)


def test_is_not_joint_statement() -> None:
    assert not is_joint_statement("Journalist detained in Tamale", "Police arrested a host.")


def test_extract_bulleted_list_stops_at_footer() -> None:
    assert extract_signatories(STATEMENT) == [
        "Media Foundation for West Africa (MFWA)",
        "Committee to Protect Journalists",
        "Reporters Without Borders (RSF)",
        "ARTICLE 19",
        "PEN International",
        "Fundación para la Libertad de Prensa (FLIP)",
        "Northern Reporters Collective (Ghana)",
    ]


def test_extract_inline_comma_list_in_french() -> None:
    text = (
        "Texte.\n\nSignataires : MFWA, Comité pour la protection des journalistes, "
        "ARTICLE 19 et PEN International"
    )
    assert extract_signatories(text) == [
        "MFWA",
        "Comité pour la protection des journalistes",
        "ARTICLE 19",
        "PEN International",
    ]


def test_extract_trailing_lines_without_header() -> None:
    text = "The statement body ends here.\n\nMedia Foundation for West Africa\nCPJ\nRSF\nPEN International"
    assert extract_signatories(text) == [
        "Media Foundation for West Africa", "CPJ", "RSF", "PEN International"
    ]


def test_extract_arabic_header() -> None:
    text = "نص البيان.\n\nالموقعون:\n- مركز الخليج لحقوق الإنسان\n- المادة 19\n- سكايز"
    assert extract_signatories(text) == ["مركز الخليج لحقوق الإنسان", "المادة 19", "سكايز"]


def test_no_list_gives_nothing() -> None:
    assert extract_signatories("Police arrested a reporter.\n\nShe was released later.") == []


def test_match_signatories_names_acronyms_case_and_accents() -> None:
    names = extract_signatories(STATEMENT)
    assert match_signatories(names, SOURCES) == [
        "mfwa", "cpj", "rsf", "article19", "pen-international", "flip"
    ]
    assert match_signatories(
        ["media foundation for west-africa", "REPORTERS SANS FRONTIERES", "Fundacion para la "
         "libertad de prensa", "Comité pour la Protection des Journalistes", "Unknown group"],
        SOURCES,
    ) == ["mfwa", "rsf", "flip", "cpj"]


def test_ambiguous_acronym_matches_nothing() -> None:
    asia = Source("mfw-asia", "Media Freedom Watch Asia", "https://x.example/")
    # "MFWA" is the id of one source: that settles it.
    assert match_signatories(["MFWA"], [*SOURCES, asia]) == ["mfwa"]
    # Initials shared by two sources, neither with that id: no guess.
    west = Source("media-foundation", "Media Foundation for West Africa", "https://m.example/")
    assert match_signatories(["MFWA"], [west, asia]) == []
    assert match_signatories(["MFWA"], [west]) == ["media-foundation"]


@pytest.mark.parametrize(
    ("title", "text", "kind"),
    [
        ("Joint letter to the Minister of Information", "", "joint-statement"),
        ("Africa round-up: March 2024", "Highlights from the region.", "roundup"),
        ("This week in press freedom", "", "roundup"),
        ("New report: 320 journalists in prison worldwide", "", "report"),
        ("Rapport annuel sur la liberté de la presse", "", "report"),
        ("Mexico's journalists under attack", "Download the full report (PDF).", "report"),
        ("Journalist detained in Tamale", "Police detained a radio host on Monday.", "alert"),
    ],
)
def test_classify_kind(title: str, text: str, kind: str) -> None:
    assert classify_kind(title, text) == kind


def test_joint_shortcut_answers_as_the_full_hint_test() -> None:
    """_is_joint rules out ASCII texts with five cover substrings (_JOINT_ASCII_COVER) before
    scanning for every hint: each ASCII hint must hold a cover, and the answer must be the full
    test's, for every hint and every _JOINT alternative inside ASCII and non-ASCII texts."""
    from store.signatories import _JOINT, _JOINT_ASCII_COVER, _JOINT_HINTS, _is_joint

    for hint in _JOINT_HINTS:
        if hint.isascii():
            assert any(c in hint for c in _JOINT_ASCII_COVER), hint

    def full(norm: str) -> bool:
        return any(h in norm for h in _JOINT_HINTS) and _JOINT.search(norm) is not None

    phrases = [*_JOINT_HINTS, "joint statement", "we the undersigned", "signatories:",
               "declaration conjointe", "nous, organisations soussignees",
               "las organizaciones firmantes", "nosotras las organizaciones", "carta conjunta",
               "signed by the following", "the undersigned groups", "design signal resign",
               "plain report of an arrest"]
    texts = []
    for phrase in phrases:
        for around in ("{}", "police said {} on monday", "x{}x", "{} - café"):
            texts.append(around.format(phrase))
    assert sum(map(full, texts)) >= 20  # the texts exercise the regex, not only the hints
    for norm in texts:
        assert _is_joint(norm) == full(norm), norm
