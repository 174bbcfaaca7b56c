"""Countries named in a text: the gazetteer and its one-pass matcher.

The gazetteer is data (``pipeline/data/gazetteer/<lang>.txt`` plus ``special.toml``); this module
turns it into one Aho-Corasick automaton over *normalised* text and scores what it finds.

Normalised text is the text lower-cased, stripped of diacritics (and of Arabic short vowels),
with every character that is not a letter or digit replaced by a space, one character for one
character, so a position in it is a position in the prepared text. Keys are stored with a space
on each side (or only before, for stems), which makes word boundaries part of the match itself.

Scoring (see docs/tagging.md): a mention in the title weighs more than one in the body, a
mention in the dateline ("LAGOS, Nigeria —") more than one further down, a demonym a little
less than a name, a language-like adjective ("French") much less; the city an international
body sits in ("the UN in Geneva") does not count; the source's home country is a small prior.
"""

from __future__ import annotations

import re
import sys
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import ahocorasick

DATA_DIR = Path(__file__).with_name("data")
GAZETTEER_DIR = DATA_DIR / "gazetteer"
LANGUAGES = ("en", "fr", "es", "pt", "ar", "ru")

# Kinds of gazetteer entries.
NAME, DEMONYM, CITY, BLOCK, INSTITUTION, TRIGGER = range(6)

KIND_WEIGHT = {NAME: 1.0, DEMONYM: 0.8, CITY: 1.0}
WEAK_FACTOR = 0.4  # "French", "español": also the name of a language
TITLE_WEIGHT = 3.0
DATELINE_WEIGHT = 3.0
LEAD_CHARS = 400  # the first paragraph or so says where the story is
LEAD_FACTOR = 1.3
HOME_PRIOR = 0.5
STEM_MAX_SUFFIX = 6
MAX_TEXT_CHARS = 200_000  # a report is far shorter; the rest of a longer "text" is ignored

_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640\u200b-\u200f\u00ad]")
_DATELINE = re.compile(r"\s*([^\n.!?:—–]{2,80}?)(?:\s*(?:—|–|--)|\s+-\s|:\s|\.\s*[-—–])")


def _build_table() -> dict[int, str]:
    """One character in, one character out: lower-case base letter, or a space."""
    table: dict[int, str] = {}
    special = {"ة": "ه", "ى": "ي", "ی": "ي", "ک": "ك", "ٱ": "ا", "ı": "i", "İ": "i", "ё": "е", "Ё": "е"}
    for cp in range(0x3000):
        ch = chr(cp)
        if ch in special:
            table[cp] = special[ch]
            continue
        cat = unicodedata.category(ch)
        if cat[0] in "LN":
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            base = base.lower()[:1] or ch.lower()[:1] or ch
            if len(base) == 1 and unicodedata.category(base)[0] not in "LN":
                base = ch.lower()[:1]
            if base != ch:
                table[cp] = base
        else:  # punctuation, symbols, spaces; and combining marks left over after NFC
            table[cp] = " "
    for cp in range(0xFF01, 0xFF5F):  # full-width ASCII
        ch = unicodedata.normalize("NFKC", chr(cp)).lower()
        table[cp] = ch if ch.isalnum() else " "
    return table


_TABLE = _build_table()


def prepare(text: str) -> str:
    """The text positions refer to: NFC, Arabic short vowels, tatweel and soft hyphens removed."""
    if not text:
        return ""
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS]
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
        if _ARABIC_MARKS.search(text):
            text = _ARABIC_MARKS.sub("", text)
    return text


# Fast path, same result as ``prepared.translate(_TABLE)`` (a test checks it): lower() in C;
# ASCII punctuation to spaces with bytes.translate on the UTF-8 form (multi-byte characters
# pass through untouched, so positions stay put); then one str.replace per *distinct* accented
# letter or non-ASCII punctuation mark present. A per-character table lookup costs 4x more.
_ASCII_BYTES = bytes(c if chr(c).isalnum() else 32 for c in range(128)).lower() + bytes(range(128, 256))
_NON_ASCII_MAP = {chr(cp): v for cp, v in _TABLE.items()
                  if cp >= 128 and chr(cp) == chr(cp).lower() and v != chr(cp)}


def _char_class(chars: Iterable[str]) -> str:
    cps = sorted(ord(c) for c in chars)
    parts, i = [], 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        parts.append(re.escape(chr(cps[i])) + ("-" + re.escape(chr(cps[j])) if j > i else ""))
        i = j + 1
    return "[" + "".join(parts) + "]"


_NON_ASCII_RE = re.compile(_char_class(_NON_ASCII_MAP))


def normalise(prepared: str) -> str:
    """Lower-cased, diacritic-free, punctuation as spaces; same length as ``prepared``."""
    low = prepared.lower()
    if len(low) != len(prepared):  # "İ".lower() is two characters: do it one by one
        return prepared.translate(_TABLE)
    if low.isascii():
        return low.encode("ascii").translate(_ASCII_BYTES).decode("ascii")
    out = low.encode("utf-8", "surrogatepass").translate(_ASCII_BYTES).decode("utf-8", "surrogatepass")
    mapping = _NON_ASCII_MAP
    for ch in set(_NON_ASCII_RE.findall(out)):
        out = out.replace(ch, mapping[ch])
    return out


def normalise_slow(prepared: str) -> str:
    """Reference implementation of :func:`normalise` (one table lookup per character)."""
    return prepared.translate(_TABLE)


def normalise_key(alias: str) -> str:
    return " ".join(normalise(prepare(alias)).split())


@dataclass(frozen=True, slots=True)
class Entry:
    """What one key of the automaton stands for."""

    alias: str  # as written in the data file (first spelling seen)
    key: str  # normalised alias, single-spaced, without Arabic clitics
    codes: tuple[str, ...]  # country codes; more than one when the alias is ambiguous
    kind: int
    stem: bool = False
    case_sensitive: bool = False
    name_guard: bool = False
    weak: bool = False
    all_caps: bool = False  # with case_sensitive: every letter must be upper case (US, UN)
    weight: float = 1.0  # kind weight times the weak factor, precomputed



@dataclass
class Hit:
    start: int  # in the prepared/normalised text (without the leading pad)
    end: int
    entry: Entry


@dataclass
class Gazetteer:
    automaton: ahocorasick.Automaton
    entries: list[Entry]
    switches: list[tuple[str, str, str, frozenset[str]]]  # (key, from, to, trigger keys)
    window: int
    ok_next: frozenset[str]
    ok_prev: frozenset[str]
    codes: frozenset[str] = field(default_factory=frozenset)


def _split_flags(alias: str) -> tuple[str, dict[str, bool]]:
    flags = {"case_sensitive": False, "name_guard": False, "weak": False, "stem": False}
    alias = alias.strip()
    while alias and alias[0] in "^@%":
        flags[{"^": "case_sensitive", "@": "name_guard", "%": "weak"}[alias[0]]] = True
        alias = alias[1:]
    if alias.endswith("~"):
        flags["stem"] = True
        alias = alias[:-1]
    return alias.strip(), flags


_AR_CLITICS = ("و", "ب", "ل", "ف", "ك", "وب", "ول", "فب")


def _arabic_variants(key: str, stem: bool) -> list[str]:
    """Arabic writes "and", "in", "to" as prefixes: والسودان، بالسودان، للسودان، بمصر."""
    if not any("\u0600" <= c <= "\u06ff" for c in key):
        return [key]
    bases = [key]
    if stem and not key.startswith("ال"):
        bases.append("ال" + key)
    out = []
    for base in bases:
        out.append(base)
        if base.startswith("ال"):
            out += ["و" + base, "ب" + base, "ف" + base, "ك" + base, "لل" + base[2:],
                    "ولل" + base[2:], "وب" + base, "فب" + base]
        else:
            out += [c + base for c in _AR_CLITICS]
    return out


def _spacing_variants(key: str) -> list[str]:
    """"Atlanta, Georgia" normalises to two spaces between the words; accept one or two."""
    gaps = key.count(" ")
    if gaps == 0 or gaps > 3:
        return [key]
    words = key.split(" ")
    out = []
    for mask in range(1 << gaps):
        s = words[0]
        for i, w in enumerate(words[1:]):
            s += ("  " if mask >> i & 1 else " ") + w
        out.append(s)
    return out


def _parse_line(line: str) -> tuple[str, list[list[str]]] | None:
    line = line.strip()
    if not line or line.startswith("#") or "=" not in line:
        return None
    code, _, rest = line.partition("=")
    fields = [[a for a in f.split("|") if a.strip()] for f in rest.split(";")]
    while len(fields) < 3:
        fields.append([])
    return code.strip(), fields[:3]


# Which kind a key keeps when two files disagree (a TRIGGER that is also a CITY stays a CITY).
_RANK = {INSTITUTION: 0, BLOCK: 1, NAME: 2, CITY: 3, DEMONYM: 4, TRIGGER: 5}


class _Builder:
    def __init__(self) -> None:
        self.by_key: dict[str, dict] = {}

    def add(self, alias: str, code: str | None, kind: int, seats: Iterable[str] = ()) -> None:
        text, flags = _split_flags(alias)
        key = normalise_key(text)
        if not key:
            return
        stem = flags["stem"]
        for variant in _arabic_variants(key, stem):
            for spaced in _spacing_variants(variant):
                # An exact alias and a stem of the same word share one slot: the stem reading
                # covers the exact one, and the flags of both apply ("@Jordan", "jordan~").
                slot = self.by_key.get(spaced)
                if slot is None:
                    slot = self.by_key[spaced] = {
                        "alias": text, "key": key, "codes": [], "kind": kind,
                        **{k: False for k in flags}}
                slot["stem"] = slot["stem"] or stem
                # The strictest reading wins: a guard set in any language applies everywhere.
                for flag in ("case_sensitive", "name_guard", "weak"):
                    slot[flag] = slot[flag] or flags[flag]
                if _RANK[kind] < _RANK[slot["kind"]]:
                    slot["kind"] = kind
                for c in ([code] if code else list(seats)):
                    if c not in slot["codes"]:
                        slot["codes"].append(c)

    def build(self) -> tuple[ahocorasick.Automaton, list[Entry]]:
        automaton = ahocorasick.Automaton()
        entries: list[Entry] = []
        for key, slot in self.by_key.items():
            stem = slot["stem"]
            letters = [c for c in slot["alias"] if c.isalpha()]
            entry = Entry(alias=slot["alias"], key=slot["key"], codes=tuple(slot["codes"]), kind=slot["kind"],
                          all_caps=bool(letters) and all(c.isupper() for c in letters),
                          weight=KIND_WEIGHT.get(slot["kind"], 1.0) * (WEAK_FACTOR if slot["weak"] else 1.0),
                          stem=stem, case_sensitive=slot["case_sensitive"],
                          name_guard=slot["name_guard"], weak=slot["weak"])
            padded = " " + key + ("" if stem else " ")
            automaton.add_word(padded, (len(padded), entry))
            entries.append(entry)
        automaton.make_automaton()
        return automaton, entries


@lru_cache(maxsize=1)
def load_gazetteer() -> Gazetteer:
    """Read every language file once; build one automaton for all of them."""
    builder = _Builder()
    codes: set[str] = set()
    for lang in LANGUAGES:
        path = GAZETTEER_DIR / f"{lang}.txt"
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            parsed = _parse_line(line)
            if parsed is None:
                continue
            code, (names, demonyms, cities) = parsed
            if code != "--" and not re.fullmatch(r"[A-Z]{2}", code):
                raise ValueError(f"{path}:{lineno}: bad country code {code!r}")
            if code == "--":
                for alias in names + demonyms + cities:
                    builder.add(alias, None, BLOCK)
                continue
            codes.add(code)
            for kind, aliases in ((NAME, names), (DEMONYM, demonyms), (CITY, cities)):
                for alias in aliases:
                    builder.add(alias, code, kind)
    special = tomllib.loads((GAZETTEER_DIR / "special.toml").read_text(encoding="utf-8"))
    for inst in special.get("institution", []):
        for name in inst["names"]:
            builder.add(name, None, INSTITUTION, seats=inst["seat"])
    switches = []
    for sw in special.get("switch", []):
        trig = frozenset(normalise_key(_split_flags(t)[0]) for t in sw["triggers"])
        for t in sw["triggers"]:
            builder.add(t, sw["to"], TRIGGER)
        switches.append((normalise_key(sw["alias"]), sw["from"], sw["to"], trig))
    automaton, entries = builder.build()
    return Gazetteer(
        automaton=automaton, entries=entries, switches=switches, window=int(special.get("window", 120)),
        ok_next=frozenset(special.get("name_guard_ok_next", [])),
        ok_prev=frozenset(special.get("name_guard_ok_prev", [])), codes=frozenset(codes))


_WORD_MAX = 40  # a name is shorter; bounds the work on pathological input


def _word_before(text: str, pos: int) -> str:
    """The word that ends right before ``pos`` with only spaces between (none if punctuation)."""
    i = pos - 1
    if i < 0 or text[i] != " ":
        return ""
    stop = max(-1, i - _WORD_MAX)
    while i > stop and text[i] == " ":
        i -= 1
    j = i
    stop = max(-1, i - _WORD_MAX)
    while j > stop and text[j].isalpha():
        j -= 1
    return text[j + 1 : i + 1]


def _word_after(text: str, pos: int) -> str:
    if pos >= len(text) or text[pos] != " ":
        return ""
    i = pos + 1
    if i < len(text) and text[i] == " ":
        return ""
    j = i
    stop = min(len(text), i + _WORD_MAX)
    while j < stop and text[j].isalpha():
        j += 1
    return text[i:j]


def _case_ok(entry: Entry, original: str) -> bool:
    """"US" must be written US (not "us"); "Turkey" capitalised (not "turkey")."""
    if entry.all_caps:
        return original.isupper()
    return original[:1].isupper()


def _name_guard_ok(gaz: Gazetteer, prepared: str, start: int, end: int) -> bool:
    """False when "Jordan" reads as part of a person's name (Michael Jordan, Jordan Peterson)."""
    nxt = _word_after(prepared, end)
    if nxt and nxt[:1].isupper() and nxt.lower() not in gaz.ok_next:
        return False
    prev = _word_before(prepared, start)
    return not (prev and prev[:1].isupper() and prev.lower() not in gaz.ok_prev)


def prepare_pair(text: str) -> tuple[str, str]:
    """The prepared text and its normalised form padded with a space at each end."""
    prepared = prepare(text or "")
    return prepared, (" " + normalise(prepared) + " ") if prepared else ""


def find_hits(text: str, gaz: Gazetteer | None = None, *,
              pair: tuple[str, str] | None = None,
              matches: Iterable[tuple[int, tuple[int, Entry]]] | None = None) -> tuple[str, list[Hit]]:
    """All gazetteer mentions in ``text``, longest-leftmost, boundaries enforced.

    Returns the prepared text (positions refer to it) and the hits, in text order. Blocked
    phrases are dropped; institution mentions and switch triggers are kept (they matter to
    scoring) and have kind INSTITUTION / TRIGGER. ``matches`` are the automaton's matches in the
    normalised text (``gaz.automaton.iter``'s, in its order) when the caller has them.
    """
    gaz = gaz or load_gazetteer()
    prepared, norm = pair if pair is not None else prepare_pair(text)
    if not prepared:
        return prepared, []
    # The automaton reports matches in order of their end. Longest match wins among
    # overlapping mentions ("Guinea" inside "Equatorial Guinea", "Niger" in "Niger Delta"):
    # a match that starts no later than the ones before it and ends after them replaces them;
    # one that starts inside an earlier match is dropped (leftmost wins).
    chosen: list[tuple[int, int, Entry]] = []
    find = norm.find
    span = STEM_MAX_SUFFIX + 2
    for end_idx, (klen, entry) in gaz.automaton.iter(norm) if matches is None else matches:
        start = end_idx - klen + 1  # the leading pad space; = first letter's index in prepared
        if entry.stem:
            stop = find(" ", end_idx + 1, end_idx + span)
            if stop < 0:
                continue  # the word goes on too long to be an inflection of this stem
            end = stop - 1
        else:
            end = end_idx - 1
        while chosen and chosen[-1][1] > start:
            if start <= chosen[-1][0]:
                chosen.pop()
            else:
                break
        else:
            chosen.append((start, end, entry))
    hits: list[Hit] = []
    for start, end, entry in chosen:
        if entry.kind == BLOCK:
            continue
        if entry.case_sensitive and not _case_ok(entry, prepared[start:end]):
            continue
        if entry.name_guard and not _name_guard_ok(gaz, prepared, start, end):
            continue
        hits.append(Hit(start, end, entry))
    return prepared, hits


def dateline_end(prepared: str) -> int:
    """End of a dateline such as "LAGOS, Nigeria —" or "Kampala, 3 October:"; 0 if none."""
    head = prepared[:120]
    # Every ending _DATELINE accepts holds a dash or a colon: without one, its lazy scan (an
    # attempt at each of 80 positions) cannot match.
    if "-" not in head and ":" not in head and "—" not in head and "–" not in head:
        return 0
    m = _DATELINE.match(head)
    if not m:
        return 0
    return m.end(1)


def _score_hits(gaz: Gazetteer, prepared: str, hits: list[Hit], *, base: float,
                dateline: int = 0, lead: int = 0) -> tuple[dict[str, float], list[tuple[Hit, float]]]:
    """Weights of unambiguous mentions, plus ambiguous ones to resolve later."""
    inst_positions = [(h.start, h.entry.codes) for h in hits if h.entry.kind == INSTITUTION]
    scores: dict[str, float] = {}
    ambiguous: list[tuple[Hit, float]] = []
    dropped_city_end: dict[str, int] = {}
    for h in hits:
        e = h.entry
        if e.kind in (INSTITUTION, TRIGGER):
            if e.kind == TRIGGER:
                code = e.codes[0]
                scores[code] = scores.get(code, 0.0) + base
            continue
        if e.kind == CITY and inst_positions:
            seat_here = [c for c in e.codes if any(
                c in seats and abs(pos - h.start) <= gaz.window for pos, seats in inst_positions)]
            if seat_here:
                for c in seat_here:
                    dropped_city_end[c] = h.end
                continue
        if e.kind == NAME and len(e.codes) == 1 and e.codes[0] in dropped_city_end:
            gap = prepared[dropped_city_end[e.codes[0]] : h.start]
            if len(gap) <= 4 and not gap.strip(" ,"):
                continue  # "Geneva, Switzerland" next to "the UN": an address, not a subject
        w = base * e.weight
        if dateline and h.start < dateline:
            w = DATELINE_WEIGHT * (WEAK_FACTOR if e.weak else 1.0)
        elif lead and h.start < lead:
            w *= LEAD_FACTOR
        if len(e.codes) == 1:
            scores[e.codes[0]] = scores.get(e.codes[0], 0.0) + w
        else:
            ambiguous.append((h, w))
    return scores, ambiguous


def country_weights(title: str, text: str, *, home_country: str | None = None,
                    pairs: tuple[tuple[str, str], tuple[str, str]] | None = None,
                    matches: tuple[list, list] | None = None) -> dict[str, float]:
    """Raw relevance score per country code (not normalised).

    ``pairs`` are :func:`prepare_pair` of title and text when the caller already has them, and
    ``matches`` the automaton's matches in them (see :func:`find_hits`).
    """
    gaz = load_gazetteer()
    t_pair, b_pair = pairs if pairs is not None else (prepare_pair(title), prepare_pair(text))
    t_matches, b_matches = matches if matches is not None else (None, None)
    t_prep, t_hits = find_hits(title or "", gaz, pair=t_pair, matches=t_matches)
    b_prep, b_hits = find_hits(text or "", gaz, pair=b_pair, matches=b_matches)
    t_scores, t_amb = _score_hits(gaz, t_prep, t_hits, base=TITLE_WEIGHT)
    b_scores, b_amb = _score_hits(gaz, b_prep, b_hits, base=1.0, dateline=dateline_end(b_prep),
                                  lead=LEAD_CHARS)
    scores = dict(b_scores)
    for code, w in t_scores.items():
        scores[code] = scores.get(code, 0.0) + w
    # Ambiguous aliases ("Congo", "Congolese", Arabic عمان) go to the reading the rest supports.
    for h, w in t_amb + b_amb:
        codes = h.entry.codes
        best = max(codes, key=lambda c: (scores.get(c, 0.0), c == home_country, -codes.index(c)))
        scores[best] = scores.get(best, 0.0) + w
    # Switches: bare "Georgia" is the US state when the article says so and nothing else
    # points to the country.
    all_hits = t_hits + b_hits
    for key, src, dst, triggers in gaz.switches:
        bare = [h for h in all_hits if h.entry.key == key]
        if not bare:
            continue
        triggered = any(h.entry.key in triggers for h in all_hits)
        other_src = any(src in h.entry.codes and h.entry.key != key for h in all_hits)
        if triggered and not other_src:
            scores[dst] = scores.get(dst, 0.0) + scores.pop(src, 0.0)
    if home_country:
        home = home_country.upper()
        if home in scores:
            scores[home] += HOME_PRIOR
        elif not scores and home in gaz.codes:
            scores[home] = HOME_PRIOR
    return {c: w for c, w in scores.items() if w > 0}


if __name__ == "__main__":  # pragma: no cover - a quick look from the shell
    for arg in sys.argv[1:]:
        print(arg, country_weights("", arg))
