"""Joint statements: recognise them, pull out the list of signing organisations, map the names to
registry sources, and classify any article as report | alert | joint-statement | roundup.

All rules are plain text rules, in English, French, Spanish and Arabic; see ``docs/dedup.md``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Protocol

import ahocorasick

from store.similarity import _GENERIC_PHRASES, normalise_text

__all__ = [
    "KINDS",
    "classify_kind",
    "extract_signatories",
    "is_joint_statement",
    "match_signatories",
]

KINDS = ("report", "alert", "joint-statement", "roundup")

# Matched against normalise_text(title + text): case-folded, accents and Arabic hamza removed.
_JOINT = re.compile(
    r"|".join(
        [
            r"\bjoint (statement|letter|declaration|appeal|open letter)\b",
            r"\bwe,? the undersigned\b",
            r"\bthe undersigned (organi[sz]ations|groups|members)\b",
            r"\bsigned by the following\b",
            r"\bsignatories\s*:",
            r"\bdeclaration conjointe\b",
            r"\blettre conjointe\b",
            r"\bnous,? (les )?organisations? soussignees\b",
            r"\bles organisations soussignees\b",
            r"\borganisations signataires\b",
            r"\bdeclaracion conjunta\b",
            r"\bcarta conjunta\b",
            r"\blas organizaciones (firmantes|abajo firmantes)\b",
            r"\bnosotr[oa]s,? las organizaciones\b",
            r"بيان مشترك",
            r"رساله مشترك",
            r"المنظمات الموقع",
            r"نحن المنظمات",
        ]
    )
)

# A line that opens the signatory list.
_LIST_HEADER = re.compile(
    r"^\s*(?:list of )?(?:signatories|signed|signed by|signatures|co-?signatories|endorsed by"
    r"|the undersigned(?: organi[sz]ations)?|signed by the following(?: organi[sz]ations)?"
    r"|signataires|organisations signataires|liste des signataires|sign[ée]e? par"
    r"|firmantes|organizaciones firmantes|firman|firmado por"
    r"|الموقعون|المنظمات الموقعة|الموقعين|قائمة الموقعين)\b[^:\n]{0,40}:?\s*$",
    re.IGNORECASE,
)
# Words that end the list: a footer, a contact line, an "About" block.
_LIST_END = re.compile(
    r"^\s*(?:about|for more information|contact|media contact|press contact|follow us|notes?"
    r"|a propos|à propos|pour plus d'informations|contacts?|suivez|acerca de|para más información"
    r"|síguenos|للمزيد|تابعونا|نبذة)\b",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^\s*(?:[-–—•*·▪●]|\(?\d{1,3}[.)]|[a-z][.)])\s+")
_SPLIT_INLINE = re.compile(r"\s*[;,،؛]\s*|\s+(?:and|et|y|e)\s+(?=[A-Z])|\s+و(?=\S)")
_MAX_NAME_WORDS = 14


# Every _JOINT pattern contains one of these: a substring test skips the regex for most texts.
_JOINT_HINTS = ("joint", "undersigned", "signed by", "signatories", "conjointe", "soussign",
                "signataires", "conjunta", "firmantes", "las organizaciones", "مشترك", "الموقع",
                "نحن المنظمات")


#: Every ASCII hint of _JOINT_HINTS contains one of these ("conjointe" holds "joint"; "undersigned",
#: "signed by", "signatories", "soussign", "signataires" hold "sign"), and an ASCII text can hold
#: no other hint: five scans of such a text instead of ten rule most texts out (~4 us of ~19 us
#: per dedup_scale article in classify_kind).
_JOINT_ASCII_COVER = ("joint", "sign", "conjunta", "firmantes", "las organizaciones")


def _has_joint_hint(norm: str) -> bool:
    if norm.isascii() and not any(c in norm for c in _JOINT_ASCII_COVER):
        return False
    return any(h in norm for h in _JOINT_HINTS)


def _is_joint(norm: str) -> bool:
    return _has_joint_hint(norm) and _JOINT.search(norm) is not None


def is_joint_statement(title: str, text: str) -> bool:
    """True when the title or text says it is a joint statement or letter, or is signed by
    "the undersigned" organisations (en, fr, es, ar)."""
    return _is_joint(normalise_text(f"{title}\n{text}"))


def _clean_name(line: str) -> str:
    name = _BULLET.sub("", line).strip().strip(".;,،").strip()
    return re.sub(r"\s+", " ", name)


def _looks_like_name(line: str) -> bool:
    words = line.split()
    if not words or len(words) > _MAX_NAME_WORDS:
        return False
    if line.rstrip().endswith((".", "!", "?", "؟")) and len(words) > 6:
        return False  # a sentence, not an organisation
    return any(c.isalpha() for c in line)


def extract_signatories(text: str) -> list[str]:
    """The organisations that signed, from the list at the end of a joint statement.

    Understands a header line ("Signatories:", "Signataires :", "Firmantes:", "الموقعون:") followed
    by one name a line (bulleted or numbered or not) or by comma/semicolon-separated names; without
    a header, the trailing run of short lines. Stops at a footer ("About…", "Contact…").
    """
    lines = [ln.rstrip() for ln in text.splitlines()]
    start = None
    inline: str | None = None
    for i, line in enumerate(lines):
        m = _LIST_HEADER.match(line)
        if m:
            start = i + 1
            continue
        # "Signed: A, B and C" on one line
        head, sep, rest = line.partition(":")
        if sep and rest.strip() and _LIST_HEADER.match(head + ":"):
            start, inline = i + 1, rest
    if start is None:
        # No header: take the trailing block of short name-like lines (at least three).
        block: list[str] = []
        for line in reversed(lines):
            if not line.strip():
                if block:
                    break
                continue
            if _LIST_END.match(line) or not _looks_like_name(_clean_name(line)):
                break
            block.append(line)
        if len(block) < 3:
            return []
        body = list(reversed(block))
    else:
        body = []
        for line in lines[start:]:
            if _LIST_END.match(line):
                break
            body.append(line)
    names: list[str] = []
    chunks: list[str] = [inline] if inline else []
    chunks += [ln for ln in body if ln.strip()]
    for chunk in chunks:
        cleaned = _clean_name(chunk)
        parts = [cleaned]
        # One line holding several names: "A, B, C and D" (but keep "X (Country)" whole).
        if ("," in cleaned or ";" in cleaned or "،" in cleaned) and len(cleaned.split()) > 3:
            parts = [p for p in _SPLIT_INLINE.split(cleaned) if p]
        for part in parts:
            part = _clean_name(part)
            if _looks_like_name(part) and part not in names:
                names.append(part)
    return names


class _SourceLike(Protocol):
    id: str
    name: str


_NAME_STOP = {
    "the", "of", "for", "and", "in", "on", "de", "du", "des", "la", "le", "les", "et", "pour",
    "el", "los", "las", "del", "y", "por", "para", "en",
}


def _key(name: str) -> str:
    return " ".join(re.findall(r"\w+", normalise_text(name)))


def _acronym(name: str) -> str:
    words = [w for w in re.findall(r"\w+", normalise_text(name)) if w not in _NAME_STOP]
    return "".join(w[0] for w in words) if len(words) >= 2 else ""


def _forms(name: str) -> set[str]:
    """Comparable forms of an organisation name: the whole name, without a parenthesised part,
    the parenthesised part (often the acronym or the country), and the initials."""
    forms = {_key(name)}
    inner = re.findall(r"\(([^)]*)\)", name)
    outer = re.sub(r"\([^)]*\)", " ", name)
    forms.add(_key(outer))
    for part in inner:
        forms.add(_key(part))
    for sep in (" - ", " – ", " — "):
        if sep in outer:
            forms.update(_key(p) for p in outer.split(sep))
    if re.fullmatch(r"[A-Z0-9&]{2,10}", outer.strip()):
        forms.add(_key(outer))
    forms.discard("")
    return forms


def match_signatories(names: Iterable[str], sources: Sequence[_SourceLike]) -> list[str]:
    """Registry source ids for the signatory ``names``, in order, each once.

    A name matches a source when, case- and accent-insensitively, the full name, the name without
    its parenthesised part, or the acronym in parentheses equals the source's name, its id, or the
    source name's initials ("MFWA" for Media Foundation for West Africa). An acronym shared by
    several sources matches none of them (no guessing); unknown names are skipped.
    """
    by_form: dict[str, set[str]] = {}
    by_initials: dict[str, set[str]] = {}
    for src in sources:
        # Other names a member goes by (translations, former names): extra["aliases"] in the
        # registry, when present.
        extra = getattr(src, "extra", None) or {}
        aliases = extra.get("aliases", ()) if isinstance(extra, dict) else ()
        names_of = [src.name, *[a for a in aliases if isinstance(a, str)]]
        forms_of = {_key(src.id), _key(src.id.replace("-", " "))}
        for alias in names_of:
            forms_of |= _forms(alias)
        for form in forms_of:
            by_form.setdefault(form, set()).add(src.id)
        compact = _key(src.name).replace(" ", "")
        by_form.setdefault(compact, set()).add(src.id)
        ini = _acronym(src.name)
        if ini:
            by_initials.setdefault(ini, set()).add(src.id)
    out: list[str] = []
    for name in names:
        hits: set[str] = set()
        forms = _forms(name)
        for form in forms:
            for candidate in (form, form.replace(" ", "")):
                ids = by_form.get(candidate)
                if ids and len(ids) == 1:
                    hits |= ids
        if not hits:
            for form in forms:
                ids = by_initials.get(form.replace(" ", ""))
                if ids and len(ids) == 1:
                    hits |= ids
        if len(hits) == 1:
            (sid,) = hits
            if sid not in out:
                out.append(sid)
    return out


_ROUNDUP = re.compile(
    r"\b(round-?up|weekly (digest|update|brief(ing)?)|monthly (digest|update|brief(ing)?)"
    r"|this week in|in brief|newsletter|bulletin|tour d'horizon|en bref|revue de presse"
    r"|resumen (semanal|mensual)|boletin|lo que paso|نشره|حصاد|موجز)\b"
)
_REPORT = re.compile(
    r"\b(report|annual report|index|survey|study|findings|research|briefing paper|analysis"
    r"|rapport|etude|enquete|classement|informe|estudio|indice|investigacion|تقرير|دراسه)\b"
)
_REPORT_TEXT = re.compile(
    r"\b(download the (full )?report|read the (full )?report|the report (finds|documents|shows)"
    r"|telecharger le rapport|le rapport (revele|documente)|descargue el informe"
    r"|el informe (revela|documenta)|تحميل التقرير)\b"
)


#: Every _REPORT_TEXT alternative contains one of these: a substring test skips the regex (a
#: case-insensitive search of the whole text) for most texts, which say "reporting" or "report"
#: without pointing to a report.
_REPORT_HINTS = ("download the", "read the", "the report", "le rapport", "el informe",
                 "تحميل التقرير")
#: ``len(text.split()) >= 2000`` needs at least this many characters (a word and a separator each).
_LONG_TEXT_CHARS = 2 * 2000 - 1


def classify_kind(title: str, text: str) -> str:
    """One of ``KINDS``, by these rules, first match wins:

    1. ``joint-statement`` — :func:`is_joint_statement` (which also fires on a "Signatories:"
       header);
    2. ``roundup`` — the title says round-up, digest, newsletter, "this week in", bulletin…;
    3. ``report`` — the title says report/index/study (any of the four languages), or the text
       points to the full report, or the text is long (2,000+ words);
    4. ``alert`` — everything else: the short news of one incident.
    """
    ntitle = normalise_text(title)
    ntext = normalise_text(text)
    return _kind(title, text, ntitle, ntext, _has_joint_hint(f"{ntitle}\n{ntext}"), None)


def _kind(
    title: str, text: str, ntitle: str, ntext: str, joint_hint: bool, report_hint: bool | None
) -> str:
    """:func:`classify_kind`'s rules, told whether the normalised title or text holds one of
    ``_JOINT_HINTS`` and whether the normalised text holds one of ``_REPORT_HINTS`` (None: not
    looked for yet, which the rules before it often make needless)."""
    if joint_hint and _JOINT.search(f"{ntitle}\n{ntext}") is not None:
        return "joint-statement"
    if _ROUNDUP.search(ntitle):
        return "roundup"
    if _REPORT.search(ntitle) or (len(text) >= _LONG_TEXT_CHARS and len(text.split()) >= 2000):
        return "report"
    if report_hint is None:
        report_hint = any(h in ntext for h in _REPORT_HINTS)
    if report_hint and _REPORT_TEXT.search(ntext):
        return "report"
    return "alert"


def _hint_automaton() -> ahocorasick.Automaton:
    """``_JOINT_HINTS``, ``_REPORT_HINTS`` and store.similarity's generic footer phrases, each
    word's value the lists it is in (with its position there)."""
    tags: dict[str, list[tuple[str, int]]] = {}
    for tag, words in (("joint", _JOINT_HINTS), ("report", _REPORT_HINTS),
                       ("phrase", _GENERIC_PHRASES)):
        for i, word in enumerate(words):
            tags.setdefault(word, []).append((tag, i))
    automaton = ahocorasick.Automaton()
    for word, where in tags.items():
        automaton.add_word(word, tuple(where))
    automaton.make_automaton()
    return automaton


#: What a feed worker looks for in each new article's normalised text, found in one scan
#: (:func:`classify_with_phrases`): ~16 us of a 1.5 KB text, where the automaton of the
#: phrases alone and the substring tests of the hints cost ~11 + ~9 us.
_HINTS = _hint_automaton()


def classify_with_phrases(title: str, text: str) -> tuple[str, list[str]]:
    """``classify_kind(title, text)``, and the generic footer phrases
    (``store.similarity._GENERIC_PHRASES``, in their order) that occur in the normalised text.
    Each of the text's segments, normalised, is a substring of it (normalising maps each
    character on its own, and segments are cut at whitespace), so these are all the phrases
    the segments hold, and maybe more: all that ``store.similarity._kept`` needs of the list.
    No hint or phrase holds a newline, so the title and the text are scanned apart."""
    ntitle = normalise_text(title)
    ntext = normalise_text(text)
    joint_hint = report_hint = False
    found: set[int] = set()
    for _end, where in _HINTS.iter(ntext):
        for tag, i in where:
            if tag == "phrase":
                found.add(i)
            elif tag == "joint":
                joint_hint = True
            else:
                report_hint = True
    if not joint_hint:
        joint_hint = any(tag == "joint" for _end, where in _HINTS.iter(ntitle) for tag, _ in where)
    phrases = [_GENERIC_PHRASES[i] for i in sorted(found)]
    return _kind(title, text, ntitle, ntext, joint_hint, report_hint), phrases
