"""Near-duplicate detection: MinHash signatures, LSH band keys and the same-story decision.

The store keeps, for every article, a few dozen ``(band, hash)`` keys (``article_keys``, one row
per article). The articles that may report the same thing as a new one are those sharing keys
with it, most shared first (the store finds them in arrays of the stored keys:
``store.stories._KeyCache``), and :func:`same_story` decides, for each candidate, whether it is
the same story. :class:`BandIndex` is an in-memory index of keys that answers the same question
(tests and ``bench/dedup.py`` use it).

Three key families, told apart by their band numbers (see ``docs/dedup.md``):

* ``text`` (bands 0-41): MinHash over word 3-shingles of the normalised, boilerplate-free text;
  finds copies, reposts, reworded headlines, reordered paragraphs.
* ``lead`` (bands 100-111): MinHash over the content words of title + lead; finds a feed teaser
  (title and one line) next to the full article.
* ``xfeat`` (bands 200-207): MinHash over language-independent features (dates, numbers, URLs,
  handles, acronyms); finds the same statement in another language.

Everything here is deterministic across processes: hashing uses BLAKE2b and fixed seeds, never
Python's randomised ``hash()``.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import unicodedata
import zlib
from collections import Counter, defaultdict, deque
from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache
from itertools import chain, compress, count
from typing import NamedTuple, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import ahocorasick
import numpy as np

__all__ = [
    "SCHEMES",
    "BandIndex",
    "BoilerplateLearner",
    "Decision",
    "Doc",
    "NearDupMatcher",
    "Scheme",
    "Signature",
    "band_hashes",
    "KEYS_FINGERPRINT",
    "KeyArrays",
    "PreparedKeys",
    "batch_key_arrays",
    "batch_keys",
    "crosslang_evidence",
    "crosslang_score",
    "index_keys",
    "jaccard_estimate",
    "jaccard_many",
    "normalise_text",
    "prepare_keys",
    "prepared_for",
    "prime_prepared",
    "query_keys",
    "same_story",
    "shingle_hashes",
    "signature",
    "strip_boilerplate",
]

# --------------------------------------------------------------------------------------------
# Normalisation and tokens
# --------------------------------------------------------------------------------------------

# Combining marks (accents once NFKD has split them off), Arabic harakat, Quranic marks, tatweel.
_MARKS = re.compile("[\u0300-\u036f\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_FOLD = str.maketrans(
    {
        "ى": "ي",
        "ة": "ه",
        "ـ": None,
        "’": "'",
        "ʼ": "'",
        **{chr(0x0660 + i): str(i) for i in range(10)},  # Arabic-Indic digits
        **{chr(0x06F0 + i): str(i) for i in range(10)},  # Extended Arabic-Indic digits
    }
)
_FOLD_NEEDED = re.compile("[ىةـ’ʼ\u0660-\u0669\u06f0-\u06f9]")
_WORD = re.compile(r"\w+")


def normalise_text(text: str) -> str:
    """Case-fold, drop accents and Arabic diacritics, unify Arabic letter variants and digits.

    ``"Déclaration"`` and ``"declaration"`` become the same word; ``"أحمد"`` and ``"احمد"`` too.
    """
    if text.isascii():  # nothing to decompose, no marks, no variants: casefold is lower
        return text.lower()
    text = _MARKS.sub("", unicodedata.normalize("NFKD", text.casefold()))
    # str.translate with a dict costs ~50 ns a character: only pay it when there is work to do.
    return text.translate(_FOLD) if _FOLD_NEEDED.search(text) else text


#: ASCII bytes that are not ``\w`` → space: on ASCII text, ``bytes.translate`` then ``split`` gives
#: exactly ``_WORD.findall``'s words, ten times faster.
_ASCII_NONWORD = bytes(
    c if (chr(c).isalnum() or c == 0x5F) else 0x20 for c in range(128)
) + b" " * 128


#: ASCII bytes: a word character (what ``_words`` keeps) → "x", any other → " ".
_ASCII_WORD_MARK = bytes(0x20 if c == 0x20 else 0x78 for c in _ASCII_NONWORD)


def _words(norm: str) -> list[str]:
    """``_WORD.findall(norm)``, with a fast path for ASCII text."""
    if norm.isascii():
        return norm.encode("ascii").translate(_ASCII_NONWORD).decode("ascii").split()
    return _WORD.findall(norm)


def _tokens(text: str) -> list[str]:
    return _words(normalise_text(text))


_WORD_NORM: dict[str, str] = {}


def _normalise_word(word: str) -> str:
    """``normalise_text`` for one word, memoised: names and headings repeat across articles."""
    norm = _WORD_NORM.get(word)
    if norm is None:
        if len(_WORD_NORM) >= _TOKEN_CACHE_MAX:
            _WORD_NORM.clear()
        norm = _WORD_NORM[word] = normalise_text(word)
    return norm


_TOKEN_CACHE: dict[str, int] = {}
_TOKEN_CACHE_MAX = 400_000
#: The hashes in ``_TOKEN_CACHE``: as many as its tokens unless two of them share one (then
#: distinct cached tokens always have distinct hashes, which :func:`_set_hashes` relies on).
_TOKEN_HASHES: set[int] = set()


def _token_hash(token: str) -> int:
    """64 bits from two CRC-32s (fast and fixed by the standard); ``_mix`` spreads them before use."""
    h = _TOKEN_CACHE.get(token)
    if h is None:
        if len(_TOKEN_CACHE) >= _TOKEN_CACHE_MAX:
            _TOKEN_CACHE.clear()
            _TOKEN_HASHES.clear()
        data = token.encode()
        h = (zlib.crc32(data) << 32) | zlib.crc32(data, 0x9E3779B9)
        _TOKEN_CACHE[token] = h
        _TOKEN_HASHES.add(h)
    return h


def _hash_tokens(tokens: Sequence[str]) -> np.ndarray:
    """``_token_hash`` of each token, as uint64s. The cache is read straight into the array: a
    list of what it held, a scan of that list for misses and its conversion cost a third more.
    A miss (rare once a worker has seen a few feeds) hashes the tokens one by one."""
    try:
        return np.fromiter(map(_TOKEN_CACHE.__getitem__, tokens), dtype=np.uint64,
                           count=len(tokens))
    except KeyError:
        return np.array([_token_hash(t) for t in tokens], dtype=np.uint64)


_U64 = np.uint64


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser, vectorised (uint64 arithmetic wraps, which is what we want)."""
    z = z ^ (z >> _U64(30))
    z = z * _U64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> _U64(27))
    z = z * _U64(0x94D049BB133111EB)
    return z ^ (z >> _U64(31))


SHINGLE_WORDS = 3


def shingle_hashes(tokens: Sequence[str], k: int = SHINGLE_WORDS) -> np.ndarray:
    """The distinct 64-bit hashes of the ``k``-word shingles of ``tokens`` (sorted, uint64)."""
    if not tokens:
        return np.empty(0, dtype=np.uint64)
    h = _hash_tokens(tokens)
    if len(tokens) < k:
        k = len(tokens)
    n = len(tokens) - k + 1
    acc = h[:n].copy()
    for i in range(1, k):
        acc = acc * _U64(0x9E3779B97F4A7C15) + h[i : i + n]
    return np.unique(_mix(acc))


def _item_hashes(items: Iterable[str]) -> np.ndarray:
    """Hashes of a set of strings (words, features), sorted and distinct."""
    values = {_token_hash(s) for s in items}
    if not values:
        return np.empty(0, dtype=np.uint64)
    return np.unique(_mix(np.fromiter(values, dtype=np.uint64, count=len(values))))


# --------------------------------------------------------------------------------------------
# MinHash signatures and LSH bands
# --------------------------------------------------------------------------------------------


def _splitmix64(seed: int, n: int) -> list[int]:
    out, x, mask = [], seed, (1 << 64) - 1
    for _ in range(n):
        x = (x + 0x9E3779B97F4A7C15) & mask
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        out.append(z ^ (z >> 31))
    return out


@dataclass(frozen=True)
class Scheme:
    """One family of band keys: how many permutations, how they are banded, which band numbers."""

    name: str
    num_perm: int
    bands: int
    rows: int
    first_band: int
    seed: int

    def __post_init__(self) -> None:
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"scheme {self.name}: {self.bands}x{self.rows} > {self.num_perm}")

    @cached_property
    def _params(self) -> tuple[np.ndarray, np.ndarray]:
        raw = _splitmix64(self.seed, 2 * self.num_perm)
        a = np.array([v | 1 for v in raw[: self.num_perm]], dtype=np.uint64).reshape(-1, 1)
        b = np.array(raw[self.num_perm :], dtype=np.uint64).reshape(-1, 1)
        return a, b

    def candidate_probability(self, jaccard: float) -> float:
        """The S-curve: chance that two texts with this Jaccard similarity share a band."""
        return 1.0 - (1.0 - jaccard**self.rows) ** self.bands


SCHEMES: dict[str, Scheme] = {
    s.name: s
    for s in (
        Scheme("text", num_perm=128, bands=42, rows=3, first_band=0, seed=0x5EED_7E47),
        Scheme("lead", num_perm=24, bands=12, rows=2, first_band=100, seed=0x5EED_1EAD),
        Scheme("xfeat", num_perm=16, bands=8, rows=2, first_band=200, seed=0x5EED_F347),
    )
}

_EMPTY = np.uint32(0xFFFFFFFF)


@dataclass(frozen=True, eq=False, slots=True)  # slots: the store caches thousands of these
class Signature:
    """A MinHash signature: ``num_perm`` unsigned 32-bit minima, plus the scheme that made it."""

    values: np.ndarray
    scheme: str = "text"
    size: int = 0  # how many distinct shingles/items went in (0: empty text, no band keys)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Signature)
            and self.scheme == other.scheme
            and np.array_equal(self.values, other.values)
        )

    __hash__ = None  # type: ignore[assignment]

    def to_bytes(self) -> bytes:
        """Little-endian uint32s, for a BLOB column should the store want to keep signatures."""
        return self.values.astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, scheme: str = "text", size: int = 1) -> Signature:
        return cls(np.frombuffer(data, dtype="<u4").astype(np.uint32), scheme, size)


def _minhash(hashes: np.ndarray, scheme: Scheme) -> Signature:
    if hashes.size == 0:
        return Signature(np.full(scheme.num_perm, _EMPTY, dtype=np.uint32), scheme.name, 0)
    a, b = scheme._params
    # (a*x + b) mod 2**64, keep the high 32 bits (multiply-shift hashing). The high half is
    # monotone in the full value, so taking the minimum first and shifting after is exact.
    prod = a * hashes
    prod += b
    mins = prod.min(axis=1) >> _U64(32)
    return Signature(mins.astype(np.uint32), scheme.name, int(hashes.size))


def signature(text: str, *, scheme: str = "text") -> Signature:
    """MinHash of the word 3-shingles of ``normalise_text(text)`` (boilerplate is not removed here:
    pass text through :func:`strip_boilerplate` or :class:`BoilerplateLearner` first)."""
    return _minhash(shingle_hashes(_tokens(text)), SCHEMES[scheme])


def jaccard_estimate(sig_a: Signature, sig_b: Signature) -> float:
    """Share of equal MinHash positions: an unbiased estimate of the shingle-set Jaccard index."""
    if sig_a.scheme != sig_b.scheme or len(sig_a) != len(sig_b):
        raise ValueError("signatures from different schemes cannot be compared")
    if sig_a.size == 0 or sig_b.size == 0:
        return 0.0
    return float(np.count_nonzero(sig_a.values == sig_b.values)) / len(sig_a)


def band_hashes(sig: Signature, offset: int = 0) -> list[tuple[int, int]]:
    """``(band number, hash)`` keys of a signature (``article_keys``); the hash is in
    ``[0, 2**63)`` so it fits a signed 64-bit integer. An empty signature gives no keys.

    Each band's ``rows`` values are folded into one 64-bit value, seeded by the band number, with
    the SplitMix64 finaliser: all bands of a scheme in one numpy pass (a BLAKE2b per band cost
    ~2 µs each, a third of an article's key time)."""
    if sig.size == 0:
        return []
    scheme = SCHEMES[sig.scheme]
    vals = sig.values[: scheme.bands * scheme.rows].astype(np.uint64).reshape(scheme.bands, -1)
    first = scheme.first_band + offset
    bands = np.arange(first, first + scheme.bands, dtype=np.uint64)
    acc = _mix(bands * _U64(0xD1B54A32D192ED03) + _U64(0x8CB92BA72F3D8DD7))
    for r in range(scheme.rows):
        acc = _mix(acc ^ (vals[:, r] * _U64(0x9E3779B97F4A7C15)))
    return list(zip(bands.tolist(), (acc >> _U64(1)).tolist(), strict=True))


# --------------------------------------------------------------------------------------------
# Boilerplate
# --------------------------------------------------------------------------------------------

_PARA_SPLIT = re.compile(r"\s*\n\s*")
_SENT_SPLIT = re.compile(r"(?<=[.!?؟。])\s+")

# Matched against the normalised segment (case-folded, accents removed). A segment is dropped only
# when it is short enough to be a footer line, so an alert that merely mentions a donation stays.
# Two lists so that the check stays cheap: patterns anchored at the segment's start (one regex,
# tried at position 0 only) and plain phrases found anywhere (substring tests).
_GENERIC_START = [
    # English
    r"(follow|like|find|join) us\b",
    r"(subscribe|sign up)\b",
    r"(please )?(donate|support (us|our work)|make a (gift|donation))\b",
    r"about (us|the [\w ]{2,60}|[\w ]{2,40})\s*[:\-–—]",
    r"for (more|further) information\b",
    r"(media|press) (contact|enquiries|inquiries)\b",
    r"contacts?\s*:",
    r"(share|print|email) (this|on)\b",
    r"read (more|also)\b",
    r"(©|\(c\)|copyright)\s",
    r"this (alert|statement|article|post|report) was (first|originally) published\b",
    # French
    r"suivez[- ]nous\b",
    r"(abonnez|inscrivez)[- ]vous\b",
    r"a propos (de|du|des|d')",
    r"pour (plus d'informations|toute information|en savoir plus)\b",
    r"(partager|imprimer)\b",
    r"lire (aussi|la suite|plus)\b",
    r"contacts? (presse|media)\b",
    r"(cet|cette) (article|alerte|declaration|communique) a (d'abord|initialement) ete publie",
    # Spanish
    r"siguenos\b",
    r"(suscribete|suscribase)\b",
    r"dona\b",
    r"(acerca de|sobre) (nosotros|la [\w ]{2,60}|el [\w ]{2,60})\s*[:\-–—]",
    r"para (mas|mayor) informacion\b",
    r"(comparte|compartir)\b",
    r"lee (tambien|mas)\b",
    r"contacto de prensa\b",
    r"(este|esta) (articulo|alerta|comunicado|declaracion) (fue|se) publica",
    # Arabic (after normalisation: ة→ه, ى→ي, hamza on alef removed)
    r"تابعونا",
    r"(اشترك|اشتركوا|سجل)\b",
    r"(تبرع|تبرعوا|ادعم|ادعموا)\b",
    r"(نبذه عن|من نحن|عن)\s[\w ]{2,60}\s*[:\-–—]",
    r"(للمزيد من المعلومات|لمزيد من المعلومات)",
    r"(شارك|شاركوا)\b",
    r"(نشر|نشرت) (هذا|هذه) .{0,40}(اولا|لاول مره)",
]
_GENERIC_PHRASES = [
    "follow us on", "subscribe to our", "sign up for our", "sign up to our", "donate now",
    "donate today", "all rights reserved", "support our work",
    "suivez-nous sur", "suivez nous sur", "faites un don", "faire un don", "soutenez notre",
    "tous droits reserves",
    "siguenos en", "suscribete a nuestro", "haz una donacion", "haga una donacion",
    "apoya nuestro trabajo", "todos los derechos reservados",
    "تابعونا على", "تابعونا عبر", "النشره البريديه", "جميع الحقوق محفوظه",
]
_GENERIC_START_RE = re.compile("|".join(f"(?:{p})" for p in _GENERIC_START))
_FOOTER_MAX_WORDS = 90


def _segments(text: str) -> list[str]:
    """Paragraphs when the text keeps line breaks; sentences when it was folded into one line.

    (Splitting at newlines and stripping each line is ``_PARA_SPLIT.split`` without the regex's
    backtracking at every space.)"""
    parts = [p for p in (line.strip() for line in text.strip().split("\n")) if p]
    if len(parts) == 1 and len(parts[0].split()) > 60:
        parts = [p for p in _SENT_SPLIT.split(parts[0]) if p]
    return parts


def _segment_key(segment: str) -> str:
    return " ".join(_tokens(segment))


def _is_generic_boilerplate(
    segment: str, norm: str | None = None, phrases: Sequence[str] = _GENERIC_PHRASES
) -> bool:
    """``phrases``: the generic phrases worth testing (those found anywhere in the whole text)."""
    if segment.count(" ") >= _FOOTER_MAX_WORDS:
        return False
    norm = (normalise_text(segment) if norm is None else norm).strip()
    if _GENERIC_START_RE.match(norm) is not None:
        return True
    # Most texts hold none of the phrases: then no generator is made for each segment.
    return bool(phrases) and any(p in norm for p in phrases)


def _phrase_automaton() -> ahocorasick.Automaton:
    automaton = ahocorasick.Automaton()
    for i, phrase in enumerate(_GENERIC_PHRASES):
        automaton.add_word(phrase, i)
    automaton.make_automaton()
    return automaton


#: The generic phrases, found in one scan of a text: ~3x cheaper than a substring search for
#: each of them.
_PHRASE_AUTOMATON = _phrase_automaton()


def _phrases_in(norms: Sequence[str]) -> list[str]:
    """The generic phrases present in any of ``norms`` (none spans two segments), in the order
    of ``_GENERIC_PHRASES``."""
    found = {i for _end, i in _PHRASE_AUTOMATON.iter("\n".join(norms))}
    return [_GENERIC_PHRASES[i] for i in sorted(found)]


def _strip(text: str, known_boilerplate: Iterable[str] = ()) -> tuple[str, str]:
    """(kept text, its normalised form): the normalisation is needed anyway, so it is kept."""
    known: set[str] = set()
    known_long: list[str] = []
    for block in known_boilerplate:
        for seg in _segments(block):
            key = _segment_key(seg)
            if key:
                known.add(key)
                known_long.append(f" {key} ")
    kept, kept_norm = [], []
    segs = _segments(text)
    norms = [normalise_text(seg) for seg in segs]
    phrases = _phrases_in(norms)
    for seg, norm in zip(segs, norms, strict=True):
        if _is_generic_boilerplate(seg, norm, phrases):
            continue
        if known:
            key = " ".join(_words(norm))
            if not key or key in known:
                continue
            if key.count(" ") >= 3 and any(f" {key} " in k for k in known_long):
                continue
        kept.append(seg)
        kept_norm.append(norm)
    return "\n\n".join(kept), "\n\n".join(kept_norm)


def _segment_parts(text: str) -> tuple[list[str], list[str], list[list[str]], list[str]]:
    """The segments of ``text``, their normalised forms, their words and their keys."""
    segs = _segments(text)
    norms = [normalise_text(seg) for seg in segs]
    words = [_words(norm) for norm in norms]
    return segs, norms, words, [" ".join(w) for w in words]


def _observed(segs: Sequence[str], keys: Sequence[str]) -> dict[str, str]:
    """What :meth:`BoilerplateLearner.observe` counts of a text: segment key → segment."""
    return {k: seg for k, seg in zip(keys, segs, strict=True) if len(k) >= 12}


def _kept(
    segs: Sequence[str],
    norms: Sequence[str],
    keys: Sequence[str],
    learnt: Collection[str],
    phrases: Sequence[str] | None = None,
) -> list[int]:
    """Positions of the segments kept: neither learnt boilerplate (``learnt``: one source's
    boilerplate keys, :meth:`BoilerplateLearner.boilerplate_keys`, or a worker's hint) nor
    generic footers. ``phrases``: the generic phrases found in the segments (any others
    besides change nothing), when the caller has them (``_phrases_in(norms)``)."""
    if phrases is None:
        phrases = _phrases_in(norms)
    kept = []
    for i, (seg, norm, key) in enumerate(zip(segs, norms, keys, strict=True)):
        if key in learnt:
            continue
        if _is_generic_boilerplate(seg, norm, phrases):
            continue
        kept.append(i)
    return kept


def _cleaned(
    segs: Sequence[str], norms: Sequence[str], words: Sequence[list[str]], kept: Sequence[int]
) -> tuple[str, str, list[str]]:
    """The kept segments joined, their normalised forms joined, and their words."""
    tokens: list[str] = []
    for i in kept:
        tokens += words[i]
    return "\n\n".join([segs[i] for i in kept]), "\n\n".join([norms[i] for i in kept]), tokens


def strip_boilerplate(text: str, known_boilerplate: Iterable[str] = ()) -> str:
    """Drop footer-like paragraphs: those matching the generic multilingual patterns ("Follow us
    on…", "Subscribe…", "Donate…", "About <org>:", "All rights reserved"…) and those that are part
    of ``known_boilerplate`` (e.g. what :class:`BoilerplateLearner` learnt for the source)."""
    return _strip(text, known_boilerplate)[0]


class BoilerplateLearner:
    """Learns each source's boilerplate from its recent posts.

    A paragraph (or sentence, for texts without line breaks) that occurs in at least ``min_docs``
    of the last ``window`` posts of one source, under at least ``min_docs`` different headlines, is
    boilerplate for that source: the signature, the "About us" block, the donation appeal.
    Unrelated posts of a prolific member then stop looking alike. Counting headlines rather than
    posts keeps a story the source published three times (repost, update, teaser) from being
    mistaken for its footer.

    The learner is plain in-memory state; the store can rebuild it at start-up by feeding it each
    source's most recent articles (``observe``), oldest first.
    """

    def __init__(self, window: int = 100, min_docs: int = 3) -> None:
        self.window = window
        self.min_docs = min_docs
        self._recent: dict[str, deque[tuple[str, tuple[str, ...]]]] = defaultdict(deque)
        # source → segment key → headline key → number of posts in the window. Plain dicts of
        # strings and ints (and tuples of strings above), which the garbage collector does not
        # track: a store keeps tens of thousands of these for as long as the process runs.
        self._seen: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
        self._text: dict[str, dict[str, str]] = defaultdict(dict)
        # source → the keys of ``_seen`` under at least ``min_docs`` headlines (its boilerplate),
        # kept up to date as headlines come and go.
        self._learnt: dict[str, set[str]] = defaultdict(set)

    def observe(self, source_id: str, text: str, title: str = "") -> None:
        keys: dict[str, str] = {}
        for seg in _segments(text):
            key = _segment_key(seg)
            if len(key) >= 12:
                keys[key] = seg
        self._observe_keys(source_id, keys, title)

    def _observe_keys(
        self, source_id: str, keys: dict[str, str], title: str, headline: str | None = None
    ) -> None:
        """``headline``: ``_segment_key(title)`` when the caller has it."""
        headline = (_segment_key(title) if headline is None else headline) or next(iter(keys), "")
        recent, seen = self._recent[source_id], self._seen[source_id]
        recent.append((headline, tuple(keys)))
        text, learnt, min_docs = self._text[source_id], self._learnt[source_id], self.min_docs
        for key, seg in keys.items():
            titles = seen.get(key)
            if titles is None:
                titles = seen[key] = {headline: 1}
                if min_docs <= 1:
                    learnt.add(key)
            elif headline in titles:
                titles[headline] += 1
            else:
                titles[headline] = 1
                if len(titles) >= min_docs:
                    learnt.add(key)
            text.setdefault(key, seg)
        while len(recent) > self.window:
            old_headline, old_keys = recent.popleft()
            for key in old_keys:
                titles = seen[key]
                left = titles[old_headline] - 1
                if left > 0:
                    titles[old_headline] = left
                    continue
                del titles[old_headline]
                if len(titles) < min_docs:
                    learnt.discard(key)
                if not titles:
                    del seen[key]
                    text.pop(key, None)

    def _is_boilerplate(self, source_id: str, key: str) -> bool:
        return key in self._learnt.get(source_id, ())

    def boilerplate_keys(self, source_id: str) -> frozenset[str]:
        """The segment keys currently learnt as ``source_id``'s boilerplate: what a feed worker
        is told to assume (:func:`prepare_keys`)."""
        return frozenset(self._learnt.get(source_id, ()))

    def boilerplate(self, source_id: str) -> list[str]:
        """The paragraphs currently considered boilerplate for ``source_id``."""
        text = self._text.get(source_id, {})
        return [seg for key, seg in text.items() if self._is_boilerplate(source_id, key)]

    def strip(self, source_id: str, text: str) -> str:
        """``text`` without the source's learnt boilerplate and without generic footers."""
        kept = [
            seg for seg in _segments(text) if not self._is_boilerplate(source_id, _segment_key(seg))
        ]
        return strip_boilerplate("\n\n".join(kept))

    def clean(
        self, source_id: str, text: str, title: str = "", *, observe: bool = True
    ) -> tuple[str, str]:
        """``observe`` (unless ``observe=False``) then ``strip``, in one pass over the text.

        Returns the kept text and its normalised form, which :meth:`Doc.cleaned` takes, so that
        each paragraph is normalised once rather than three times (observe, strip, Doc).
        """
        return self.clean_words(source_id, text, title, observe=observe)[:2]

    def clean_words(
        self, source_id: str, text: str, title: str = "", *, observe: bool = True
    ) -> tuple[str, str, list[str]]:
        """:meth:`clean`, plus the words of the kept normalised text (``Doc.tokens``), which the
        segment keys already hold."""
        segs, norms, words, keys = _segment_parts(text)
        if observe:
            self._observe_keys(source_id, _observed(segs, keys), title)
        kept = _kept(segs, norms, keys, self._learnt.get(source_id, ()))
        return _cleaned(segs, norms, words, kept)

    def clean_prepared(self, source_id: str, prepared: PreparedKeys) -> tuple[str, str] | None:
        """``clean_words(observe=True)`` of the text ``prepared`` was made from (the caller has
        checked that with :func:`prepared_for`), from what a worker process computed: observes
        the text exactly as ``clean_words`` does, then returns the kept text and its normalised
        form when none of its segments is this source's learnt boilerplate (the text is then
        cleaned as ``prepared`` assumed, and its precomputed keys hold), else None: the caller
        cleans it with ``clean_words(observe=False)``.

        ``prepared.assumed`` are the segment keys the worker was told were this source's
        boilerplate (:func:`prepare_keys`) and dropped: the payload holds when exactly those of
        the text's segments are learnt boilerplate now, after this observation."""
        segs, keys = prepared.segments, prepared.keys
        self._observe_keys(source_id, _observed(segs, keys), "", headline=prepared.headline)
        learnt = self._learnt.get(source_id, ())
        if {key for key in keys if key in learnt} != set(prepared.assumed):
            return None
        return "\n\n".join([segs[i] for i in prepared.kept]), prepared.kept_norm


# --------------------------------------------------------------------------------------------
# Language-independent features
# --------------------------------------------------------------------------------------------

_MONTHS: dict[str, int] = {}
for _num, _names in enumerate(
    [
        "january janvier enero يناير جانفي كانون الثاني",
        "february fevrier febrero فبراير فيفري شباط",
        "march mars marzo مارس اذار",
        "april avril abril ابريل افريل نيسان",
        "may mai mayo مايو ماي ايار",
        "june juin junio يونيو يونيه جوان حزيران",
        "july juillet julio يوليو يوليه يوليوز جويليه تموز",
        "august aout agosto اغسطس اوت اب",
        "september septembre septiembre setiembre سبتمبر ايلول",
        "october octobre octubre اكتوبر تشرين الاول",
        "november novembre noviembre نوفمبر تشرين الثاني",
        "december decembre diciembre ديسمبر كانون الاول",
    ],
    start=1,
):
    # Two-word Levantine names (كانون الثاني) are listed last in each line.
    words = _names.split()
    if len(words) >= 2 and words[-2] in ("كانون", "تشرين"):
        _MONTHS[f"{words[-2]} {words[-1]}"] = _num
        words = words[:-2]
    for _w in words:
        _MONTHS[_w] = _num
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"')\]]+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@(\w{2,30})")
_HASHTAG = re.compile(r"(?<![\w#&])#(\w{2,60})")
_ACRONYM = re.compile(r"[A-Z][A-Z0-9]{1,7}")  # word boundaries checked by hand: 3x faster
_ACRONYM_STOP = {
    "THE", "AND", "FOR", "OF", "ET", "DE", "DU", "LA", "LE", "LES", "EL", "LOS", "LAS", "DEL",
    "URGENT", "UPDATE", "ALERT", "NEW", "PDF", "AM", "PM", "II", "III", "IV", "VI", "OK", "TV",
}
_YEAR = re.compile(r"^(19|20)\d\d$")
#: ``_ACRONYM`` starts with an ASCII capital followed by a capital or a digit. With capitals as
#: "A", digits as "0" and every other character as " " (a non-ASCII one, encoded as "?", too),
#: a bytes.translate and two searches rule out a text without such a pair, whose regex scan
#: cost ~5 us per KB.
_ACRONYM_CLASS = bytes(
    0x41 if chr(c).isupper() else 0x30 if chr(c).isdigit() else 0x20 for c in range(128)
) + b" " * 128

# Capitalised words that start sentences or name institutions rather than people and places.
_NAME_STOP = set(
    """
    the a an on in at by for from with this that these those it its he she his her they their we
    our after before during when while since as but and or if however meanwhile also yesterday
    today last next on his mr mrs ms dr
    le la les un une des du de au aux ce cette ces il elle ils elles nous leur selon depuis dans
    lors apres avant pendant mais et ou si par pour sur sous entre hier aujourd
    el los las unos unas del al este esta estos estas ese esa segun desde durante tras antes
    pero y o si por para sobre entre ayer hoy
    january february march april may june july august september october november december
    janvier fevrier mars avril mai juin juillet aout septembre octobre novembre decembre
    enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre
    monday tuesday wednesday thursday friday saturday sunday lundi mardi mercredi jeudi vendredi
    samedi dimanche lunes martes miercoles jueves viernes sabado domingo
    committee comite comision commission police policia court cour tribunal corte ministry
    ministere ministerio minister ministre ministro president presidente national nationale
    nacional union syndicat sindicato federation federacion association asociacion network reseau
    red foundation fondation fundacion centre center centro institute institut instituto
    council conseil consejo office bureau oficina agency agence agencia service servicio
    journalists journalistes periodistas journalist journaliste periodista press presse prensa
    media medias medios radio television news times post daily herald tribune journal
    human rights droits humains homme derechos humanos freedom liberte libertad expression
    international internationale internacional reporters without borders sans frontieres
    sin fronteras article joint statement declaration declaracion conjunta conjointe
    government gouvernement gobierno state etat estado republic republique republica
    authorities autorites autoridades security securite seguridad army armee ejercito forces
    prosecutor procureur fiscal fiscalia judge juge juez code penal criminal
    north south east west nord sud est ouest norte sur este oeste
    """.split()
)
_NAME_PARTICLES = {"de", "del", "da", "dos", "das", "van", "von", "der", "al", "el", "bin", "ben"}

_ARABIC_LETTER = re.compile("[\u0621-\u064a]")
_ARABIC_SKELETON = str.maketrans(
    {
        "ب": "b", "ت": "t", "ث": "t", "ج": "j", "ح": "h", "خ": "x", "د": "d", "ذ": "d", "ر": "r",
        "ز": "z", "س": "s", "ش": "S", "ص": "s", "ض": "d", "ط": "t", "ظ": "z", "ع": None,
        "غ": "G", "ف": "f", "ق": "k", "ك": "k", "ل": "l", "م": "m", "ن": "n", "ه": "h",
        "ا": None, "و": None, "ي": None, "ء": None, "ئ": None, "ؤ": None,
    }
)
_LATIN_DIGRAPHS = [
    ("x", "ks"), ("sch", "S"), ("kh", "x"), ("sh", "S"), ("ch", "S"), ("gh", "G"), ("th", "t"), ("dh", "d"),
    ("ph", "f"), ("dj", "j"), ("ck", "k"), ("ou", ""), ("q", "k"), ("c", "k"), ("g", "j"),
    ("v", "f"), ("p", "b"), ("'", ""),
]
_LATIN_VOWELS = re.compile(r"[aeiouyw]")
_ARABIC_PREFIXES = ("وال", "بال", "فال", "كال", "لل", "ال", "و", "ب", "ل", "ف")


# Transliteration is inconsistent about h (John/جون, Mohamed/محمد), about g/j/gh/k for foreign
# names (Mwangi/موانغي) and about s/sh/z: compare skeletons with those classes merged.
_LOOSE = str.maketrans({"h": None, "G": "k", "j": "k", "S": "s", "z": "s"})


def _skeleton_forms(consonants: str) -> set[str]:
    """The strict skeleton and the loose one (prefixed ``~``), each only when 3+ letters long."""
    strict = re.sub(r"(.)\1+", r"\1", consonants)
    loose = strict.translate(_LOOSE)
    return {f for f in (strict, "~" + loose) if len(f.lstrip("~")) >= 3}


@lru_cache(maxsize=200_000)
def _latin_skeleton(token: str) -> frozenset[str]:
    """Consonant skeletons of a Latin-script name, comparable with :func:`_arabic_skeletons`."""
    s = token
    for src, dst in _LATIN_DIGRAPHS:
        s = s.replace(src, dst)
    return frozenset(_skeleton_forms(_LATIN_VOWELS.sub("", s)))


def _arabic_skeletons(word: str) -> set[str]:
    out = set()
    forms = {word} | {word[len(p) :] for p in _ARABIC_PREFIXES if word.startswith(p)}
    for form in forms:
        if len(form) < 3:
            continue
        out |= _skeleton_forms(form.translate(_ARABIC_SKELETON))
    return out


@dataclass(frozen=True)
class Features:
    """What :func:`crosslang_score` compares. ``neutral`` items carry a type prefix
    (``d:`` date, ``n:`` number, ``u:`` URL, ``@:`` handle, ``#:`` hashtag, ``a:`` acronym)."""

    neutral: frozenset[str]
    names: frozenset[str]  # Latin-script name words, normalised
    lead_names: tuple[tuple[str, ...], ...]  # name sequences in the title and first paragraphs
    skeletons: frozenset[str]  # consonant skeletons: of names (Latin) or of every word (Arabic)
    arabic: bool


_FIELD, _ITEM, _SEQ = "\x1d", "\x1e", "\x1f"  # never inside a feature: str.split() splits on them


def pack_features(features: Features) -> str | None:
    """``features`` as one string, which the garbage collector never tracks (a Doc kept in the
    store's cache holds it instead of the sets); :func:`unpack_features` gives them back equal.
    None when an item could not be told apart from the separators (then nothing is kept)."""

    def packable(word: str) -> bool:
        return bool(word) and _FIELD not in word and _ITEM not in word and _SEQ not in word

    sets = (features.neutral, features.names, features.skeletons)
    if not all(packable(w) for items in sets for w in items):
        return None
    if not all(seq and all(packable(w) for w in seq) for seq in features.lead_names):
        return None
    return _FIELD.join((
        "1" if features.arabic else "0",
        *(_ITEM.join(items) for items in sets),
        _SEQ.join(_ITEM.join(seq) for seq in features.lead_names),
    ))


def unpack_features(packed: str) -> Features:
    arabic, neutral, names, skeletons, seqs = packed.split(_FIELD)

    def items(joined: str) -> frozenset[str]:
        return frozenset(joined.split(_ITEM)) if joined else frozenset()

    return Features(
        neutral=items(neutral), names=items(names),
        lead_names=tuple(tuple(seq.split(_ITEM)) for seq in seqs.split(_SEQ)) if seqs else (),
        skeletons=items(skeletons), arabic=arabic == "1",
    )


#: One item per word (a letter, then word characters, apostrophes, hyphens), and one empty string
#: (the group did not take part) per run of sentence and line ends with only non-letters between
#: them: every end closes the current name run and starts a sentence, so a run of them does
#: exactly what one does, and the lead's text (segments joined by single newlines) gives the same
#: items as the start of the whole text, whose paragraphs are separated by blank lines.
_NAME_TOKEN = re.compile(r"([^\W\d_][\w'’\-]*)|[.!?:;؟\n](?:[\W\d_]*?[.!?:;؟\n])*")
#: For :func:`_name_tokens` on ASCII text: the characters a word may hold (letters, digits, "_",
#: "'", "-") kept, sentence and line ends as ".", any other character a space; and each
#: character's class: "a" a letter, "0" another character a word may hold, " " any other.
_NAME_ASCII = bytes(
    c if chr(c).isalnum() or chr(c) in "_'-" else 0x2E if chr(c) in ".!?:;\n" else 0x20
    for c in range(128)
) + b" " * 128
_NAME_CLASS = bytes(
    0x61 if chr(c).isalpha() else 0x30 if chr(c).isdigit() or chr(c) in "_'-" else 0x20
    for c in range(128)
) + b" " * 128
_NAME_NO_START = re.compile("0+")


def _name_tokens(text: str, start: int = 0, end: int | None = None) -> list[str]:
    """``_NAME_TOKEN.findall(text, start, end)``. ASCII text is read without the regex scan
    (~20 ns a character): ``bytes.translate``, a search for the chunks that open with a
    character no word starts with, and ``str.split`` at the ends, then at the spaces; half the
    cost on the bench's texts."""
    piece = text[start:end]
    if not piece.isascii():
        return _NAME_TOKEN.findall(piece)
    data = piece.encode("ascii")
    kept = data.translate(_NAME_ASCII).decode("ascii")
    classes = data.translate(_NAME_CLASS).decode("ascii")
    # A word starts with a letter: the digits, "_", "'" and "-" that open a chunk are no item
    # (they are blanked); those after a letter belong to the word.
    opens = [0] if classes.startswith("0") else []
    at = classes.find(" 0")
    while at >= 0:
        opens.append(at + 1)
        at = classes.find(" 0", at + 2)
    if opens:
        pieces, last = [], 0
        for at in opens:
            pieces += (kept[last:at], " ")
            last = _NAME_NO_START.match(classes, at).end()  # type: ignore[union-attr]
        pieces.append(kept[last:])
        kept = "".join(pieces)
    if "." not in kept:
        return kept.split()
    # Ends with only spaces (non-letters, blanked) between them are one item: each "." closes
    # the words before it with an end item, unless only spaces separate it from the previous
    # one (then that end item is the last item already). A step per sentence, not per word.
    items: list[str] = []
    pieces = kept.split(".")
    for piece in pieces[:-1]:
        words = piece.split()
        if words or not items:
            items += words
            items.append("")
    items += pieces[-1].split()
    return items


def _name_runs(toks: Sequence[str], lead_end: int = 0) -> tuple[list[list[str]], int]:
    """Capitalised word runs in Latin script (people, places, outlets) in ``toks``
    (``_NAME_TOKEN.findall``), normalised, trailing particles not yet removed; and how many of
    them had closed after the first ``lead_end`` items, where a run must end (an end follows)."""
    seqs: list[list[str]] = []
    current: list[str] = []
    sentence_start = started_sentence = True
    lead_runs = -1
    norm_of = _WORD_NORM.get
    for part in (toks[:lead_end], toks[lead_end:]) if lead_end else (toks,):
        for tok in part:
            if not tok:  # sentence or line end
                if current:
                    # A lone capitalised word opening a sentence is usually an ordinary word.
                    if not (started_sentence and len(current) == 1):
                        seqs.append(current)
                    current = []
                sentence_start = True
                continue
            if tok[0].isupper() and not tok.isupper():  # Arabic has no case: never a name run
                norm = norm_of(tok) or _normalise_word(tok)
                if norm not in _NAME_STOP:
                    if not current:
                        started_sentence = sentence_start
                    current.append(norm)
                elif current:
                    if not (started_sentence and len(current) == 1):
                        seqs.append(current)
                    current = []
            elif current:
                if tok in _NAME_PARTICLES:
                    current.append(tok)
                else:
                    if not (started_sentence and len(current) == 1):
                        seqs.append(current)
                    current = []
            sentence_start = False
        if current and not (started_sentence and len(current) == 1):
            seqs.append(current)
        current = []
        if lead_runs < 0:
            lead_runs = len(seqs)
    return seqs, lead_runs


def _lead_end(text: str) -> int | None:
    """Where the lead that :func:`extract_features` reads (``_segments(text)[:2]``) ends in
    ``text``: just after its second non-blank line (the end of the text when it has fewer).
    None when ``_segments`` splits the text into sentences (one line of more than 60 words)."""
    end = found = 0
    first = ""
    for line in text.split("\n"):
        if line.strip():
            found += 1
            if found == 2:
                return end + len(line)
            first = line
        end += len(line) + 1
    return None if len(first.split()) > 60 else len(text)


def _drop_trailing_particles(seqs: Iterable[list[str]]) -> None:
    """Drop the particles ending each run ("Ahmed al" → "Ahmed"), in place."""
    for seq in seqs:
        while seq and seq[-1] in _NAME_PARTICLES:
            seq.pop()


#: ``_normalise_word(word)`` for a word that starts with a lower-case letter, "" for any other
#: item of ``_NAME_TOKEN.findall``: :func:`_lower_words` then maps a text's words in one C-level
#: pass (a Python test and call per word was a third of ``extract_features``).
_LOWER_NORM: dict[str, str] = {}


def _lower_words(toks: Sequence[str]) -> set[str]:
    """The normalised forms of the words of ``toks`` that start with a lower-case letter: those
    are ordinary words, not names (each distinct word tested once, then cached). A particle
    taken into a name run counts too, which changes nothing: particles are never names. The set
    may also hold "" (names are never empty). The cache is read for every item rather than for
    the distinct ones: building the set of distinct items first cost more than the repeats."""
    seen = set(map(_LOWER_NORM.get, toks))
    if None in seen:
        if len(_LOWER_NORM) >= _TOKEN_CACHE_MAX:
            _LOWER_NORM.clear()
        for w in set(toks):
            if w not in _LOWER_NORM:
                _LOWER_NORM[w] = _normalise_word(w) if w and w[0].islower() else ""
        seen = set(map(_LOWER_NORM.__getitem__, toks))
    return seen


def _lower_names(toks: Sequence[str], candidates: set[str]) -> set[str]:
    """The words of ``candidates`` that are also in ``_lower_words(toks)``: what
    :func:`extract_features` needs of that set, for the few name candidates a text has. When
    ``toks`` are ASCII, a word normalises to its ``lower()``, so each candidate is searched in
    the lowered items joined by spaces, and an occurrence counts when the item starts with a
    lower-case letter: a few searches instead of a cache lookup (and a string hash) per item,
    which was a third of the features' cost."""
    if not candidates:
        return set()
    line = f" {' '.join(toks)} "
    if not line.isascii():
        return candidates & _lower_words(toks)
    lowered = line.lower()
    found = set()
    for word in candidates:
        item = f" {word} "
        at = lowered.find(item)
        while at >= 0 and not line[at + 1].islower():
            at = lowered.find(item, at + 1)
        if at >= 0:
            found.add(word)
    return found


def _may_have_url(raw: str) -> bool:
    """False only when ``_URL`` cannot match ``raw`` (its scan costs ~10 µs per KB): every match
    holds "://" or, in any case, "www." (no character but w and W matches w under
    re.IGNORECASE, and only "." matches "\\.": checked over all of Unicode). A search for "/"
    (memchr) rules out "://" in most texts, and lowering an ASCII text then searching it once
    costs less than searching it for "w." and "W." (no character but "w", "W" and "." lowers
    to a string holding "w" or ".": "www." in the lowered text implies either in the text)."""
    return ("/" in raw and "://" in raw) or "www." in raw.lower()


def _url_key(url: str) -> str:
    parts = urlsplit(url if "://" in url else "http://" + url)
    host = parts.netloc.lower().removeprefix("www.")
    return f"{host}{parts.path.rstrip('/.,;')}".lower()


def neutral_features(title: str, text: str, tokens: Sequence[str] | None = None) -> frozenset[str]:
    """Dates, numbers, URLs, handles, hashtags and acronyms, typed (``d:03-12``, ``n:34``...).

    ``tokens`` may pass ``_tokens(text)`` when the caller has it already (it is the slow part).
    Numbers are taken token by token, so "15,000", "15 000" and "15.000" all give ``n:15``.
    """
    raw = f"{title}\n{text}"
    neutral: set[str] = set()
    if "http" in raw or "www." in raw:
        for url in _URL.findall(raw):
            neutral.add("u:" + _url_key(url.rstrip(".,;:")))
        raw = _URL.sub(" ", raw)
    if "@" in raw:
        neutral.update("@:" + normalise_text(h) for h in _HANDLE.findall(raw))
    if "#" in raw:
        neutral.update("#:" + normalise_text(h) for h in _HASHTAG.findall(raw))
    title_toks = _tokens(title)
    toks = title_toks + list(tokens if tokens is not None else _tokens(text))
    # An ASCII text without a digit has no digit token (normalising ASCII text only lowers
    # it): only the title's tokens are then scanned (~3 us of a 1.5 KB text); the text's
    # are still read, after them, for a date's month.
    scan = toks if not text.isascii() or any(d in text for d in "0123456789") else title_toks
    months = _MONTHS
    n = len(toks)
    isdigit = str.isdigit
    for i in compress(count(), map(isdigit, scan)):  # the digit tokens' positions, read in C
        tok = toks[i]
        digits = tok.lstrip("0")
        if len(digits) >= 2:
            neutral.add("n:" + digits)
        if len(tok) > 2:
            continue
        day = int(tok)
        if not 1 <= day <= 31:
            continue
        # "12 March", "12 de marzo", "12 مارس", "12 كانون الثاني", "March 12"
        j = i + 1
        if j < n and toks[j] == "de":
            j += 1
        month = None
        if j < n:
            month = months.get(toks[j])
            if month is None and j + 1 < n:
                month = months.get(f"{toks[j]} {toks[j + 1]}")
        if month is None and i > 0:
            month = months.get(toks[i - 1])
        if month:
            neutral.add(f"d:{month:02d}-{day:02d}")
    classes = raw.encode("ascii", "replace").translate(_ACRONYM_CLASS)
    end = len(raw)
    for m in _ACRONYM.finditer(raw) if b"AA" in classes or b"A0" in classes else ():
        i, j = m.span()
        if (i and raw[i - 1].isalnum()) or (j < end and raw[j].isalnum()):
            continue
        if m.group() not in _ACRONYM_STOP:
            neutral.add("a:" + m.group())
    return frozenset(neutral)


def extract_features(
    title: str, text: str, language: str | None = None, neutral: frozenset[str] | None = None
) -> Features:
    """Language-independent features of one document (see :class:`Features`)."""
    if neutral is None:
        neutral = neutral_features(title, text)
    raw = f"{title}\n{text}"
    # Each scan is skipped when the text lacks what its pattern needs (same text as after it).
    clean = _URL.sub(" ", raw) if _may_have_url(raw) else raw
    if "@" in clean:
        clean = _HANDLE.sub(" ", clean)
    if "#" in clean:
        clean = _HASHTAG.sub(" ", clean)
    arabic = language == "ar" or (
        language is None and len(_ARABIC_LETTER.findall(raw)) > len(raw) / 4
    )
    end = _lead_end(text) if clean == raw else None
    if end is not None:
        # The lead's items are the text's up to the end of its second line (the spaces and
        # blank lines that _segments strips are no items, and the newlines between lines fold
        # into one end either way): read the text in two pieces, cut where a newline follows.
        cut = len(title) + 1 + end
        toks = _name_tokens(clean, 0, cut)
        n = len(toks)
        toks += _name_tokens(clean, cut)
    else:
        # A link or handle blanked, or the lead made of sentences: the lead's runs are still
        # the text's first n items' when these are the lead's items and a run ends there (an
        # end on either side, or the text's end); not so when a link was blanked in the lead or
        # a sentence split ("。") gave an end that the text does not have.
        toks = _name_tokens(clean)
        lead = _name_tokens(f"{title}\n" + "\n".join(_segments(text)[:2]))
        n = len(lead)
        if not (n and toks[:n] == lead and (n == len(toks) or not lead[-1] or not toks[n])):
            n = 0
    # One pass then serves the lead and the whole text.
    if n:
        runs, lead_runs = _name_runs(toks, n)
        _drop_trailing_particles(runs)
        lead_seqs = [seq for seq in runs[:lead_runs] if seq]
    else:
        runs = _name_runs(toks)[0]
        lead_seqs = _name_runs(lead)[0]
        _drop_trailing_particles(runs)
        _drop_trailing_particles(lead_seqs)
        lead_seqs = [seq for seq in lead_seqs if seq]
    seqs = [seq for seq in runs if seq]
    candidates = {w for seq in seqs for w in seq if len(w) >= 3 and w not in _NAME_PARTICLES}
    lower_seen = _lower_names(toks, candidates)
    names = {
        w
        for seq in seqs
        for w in seq
        if len(w) >= 3 and w not in _NAME_PARTICLES and w not in lower_seen
    }
    lead_names = tuple(
        tuple(w for w in seq if w in names)
        for seq in lead_seqs
        if len(seq) >= 2 and any(w in names for w in seq)
    )
    if arabic:
        skeletons: set[str] = set()
        for word in set(_WORD.findall(normalise_text(clean))):
            if _ARABIC_LETTER.match(word):
                skeletons |= _arabic_skeletons(word)
    else:
        skeletons = {sk for w in names for sk in _latin_skeleton(w)}
    return Features(
        neutral=neutral,
        names=frozenset(names),
        lead_names=lead_names,
        skeletons=frozenset(skeletons),
        arabic=arabic,
    )


_WEIGHTS = {"d": 3.0, "u": 3.0, "@": 3.0, "#": 2.0, "n": 2.0, "a": 1.0}
_NAME_WEIGHT = 2.0


def _neutral_weight(item: str) -> float:
    if item.startswith("n:") and _YEAR.match(item[2:]):
        return 0.5
    return _WEIGHTS.get(item.split(":", 1)[0], 1.0)


#: _neutral_weight by item, for the comparisons: a candidate's few items (two on average in
#: bench/harvest.py's corpus) meet many new articles.
_cached_weight = lru_cache(maxsize=1 << 16)(_neutral_weight)


_PLACE_STEM_SUFFIX = 6  # as pipeline.geo.STEM_MAX_SUFFIX


@lru_cache(maxsize=1)
def _place_words() -> tuple[frozenset[str], frozenset[str]]:
    """The one-word place names of the country gazetteer (``pipeline/data/gazetteer``: countries,
    demonyms, cities, regions, in every language it covers), normalised as name features are:
    the exact words, and the stems (``Afghan~``) that up to six more letters may follow. Aliases
    that also read as a person's name (``@Jordan``) are left out: they stay evidence."""
    from pipeline.geo import BLOCK, CITY, DEMONYM, NAME, load_gazetteer

    exact: set[str] = set()
    stems: set[str] = set()
    for entry in load_gazetteer().entries:
        if entry.kind not in (NAME, DEMONYM, CITY, BLOCK) or entry.name_guard:
            continue
        words = normalise_text(entry.alias).split()
        if len(words) == 1:
            (stems if entry.stem else exact).add(words[0])
    return frozenset(exact), frozenset(stems)


def warm_up() -> None:
    """Build the data the cross-language rule loads on first use (the gazetteer's place words,
    ~15 ms once the gazetteer is loaded): a harvest calls it before its crawl, as it loads the
    language model, so that the store's first comparison does not."""
    _place_words()


@lru_cache(maxsize=1 << 14)
def _is_place(word: str) -> bool:
    """Whether the name feature ``word`` is a place name of the gazetteer (see :func:`_place_words`)."""
    exact, stems = _place_words()
    return word in exact or any(
        word[:k] in stems for k in range(max(1, len(word) - _PLACE_STEM_SUFFIX), len(word) + 1)
    )


def _evidence_weight(item: str) -> float:
    """What a shared neutral item adds to :func:`_features_evidence`: its weight, but
    nothing for a year or an acronym that names a place (``DRC``, ``UAE``)."""
    if item.startswith("a:") and _is_place(item[2:].lower()):
        return 0.0
    w = _cached_weight(item)
    return 0.0 if w < 1.0 else w


def _features_score(fa: Features, fb: Features) -> float:
    # Called for every candidate pair in two languages, whose sets are tiny: the cost is per
    # call, so no generator, weights from a cache, and the names' union counted from the sizes
    # rather than built (the same integers, so the same floats).
    na, nb = fa.neutral, fb.neutral
    common = sum(map(_cached_weight, na & nb))
    union = sum(map(_cached_weight, na | nb))
    if fa.arabic == fb.arabic:
        ma, mb = fa.names, fb.names
        shared = len(ma & mb)
        common += _NAME_WEIGHT * shared
        union += _NAME_WEIGHT * (len(ma) + len(mb) - shared)
    else:
        latin, arab = (fb, fa) if fa.arabic else (fa, fb)
        for w in latin.names:
            forms = _latin_skeleton(w)
            if not forms:
                continue
            union += _NAME_WEIGHT
            if forms & arab.skeletons:
                common += _NAME_WEIGHT
    return common / union if union else 0.0


def _features_evidence(fa: Features, fb: Features) -> float:
    """The weight of the shared features that can tell one event from another: what
    :func:`_features_score` counts in common, except years and place names (countries, their
    demonyms, cities, regions: :func:`_is_place`), which every alert about that place or year
    carries. A Jaccard over sets of one to three items is 1.0 for two texts that share one
    country name and nothing else; ``NearDupMatcher.crosslang_min_evidence`` asks for this
    weight besides the score. Only computed for pairs whose score passes."""
    evidence = sum(map(_evidence_weight, fa.neutral & fb.neutral))
    shared: Iterable[str]
    if fa.arabic == fb.arabic:
        shared = fa.names & fb.names
    else:
        latin, arab = (fb, fa) if fa.arabic else (fa, fb)
        shared = [w for w in latin.names if _latin_skeleton(w) & arab.skeletons]
    return evidence + _NAME_WEIGHT * sum(1 for w in shared if not _is_place(w))


def _evidence_bounds(features: Features) -> tuple[float, float, bool]:
    """What one text's features can add at most to :func:`_features_evidence` with any other:
    the evidence weight of all its neutral items, the weight of all its names that are not
    places, and whether it is in Arabic script (which tells which side's names count). The
    shared items are a subset of either side's (between scripts, of the Latin side's names),
    and every weight is a multiple of 0.5, so the sums are exact and a pair's evidence is never
    above ``min`` of the neutral bounds plus (one script) ``min`` of the name bounds or (two
    scripts) the Latin side's: see :meth:`NearDupMatcher.rejects`."""
    neutral = sum(map(_evidence_weight, features.neutral))
    names = _NAME_WEIGHT * sum(1 for w in features.names if not _is_place(w))
    return neutral, names, features.arabic


def _pair_evidence_bound(
    a: tuple[float, float, bool], b: tuple[float, float, bool]
) -> float:
    """The most :func:`_features_evidence` two texts can share, from their
    :func:`_evidence_bounds`: the smaller neutral bound plus the smaller name bound, or
    between scripts (where only the Latin side's names are matched) the Latin side's."""
    neutral_a, names_a, arabic_a = a
    neutral_b, names_b, arabic_b = b
    if arabic_a == arabic_b:
        return min(neutral_a, neutral_b) + min(names_a, names_b)
    return min(neutral_a, neutral_b) + (names_b if arabic_a else names_a)


# --------------------------------------------------------------------------------------------
# Documents and the same-story decision
# --------------------------------------------------------------------------------------------

_TRACKING = re.compile(
    r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|igshid|ref|ref_src|s|cmpid|_ga|yclid|share)$", re.I
)

_STOPWORDS = set(
    """
    the a an of to in on at by for from with and or but is are was were be been has have had it
    its this that these those as he she his her they their we our you not no after before over
    into about said says will would could should than then also who which what when where while
    le la les un une des du de d l au aux et ou mais est sont a ont ete par pour sur dans avec
    ce cette ces il elle ils elles qui que qu ne pas se sa son ses leur leurs selon apres avant
    el la los las un una unos unas del al y o pero es son fue fueron ha han por para en con sin
    que se su sus lo le les como tras sobre este esta estos estas
    في من على الى عن ان مع هذا هذه التي الذي الذين كان كانت وقد قد بعد قبل حيث كما او ثم
    """.split()
)


def _content_words(text: str) -> list[str]:
    return _content_tokens(_tokens(text))


def _content_tokens(tokens: Iterable[str]) -> list[str]:
    return [t for t in tokens if t not in _STOPWORDS and (len(t) >= 3 or t.isdigit())]


def _strip_tracking(url: str) -> str:
    parts = urlsplit(url.strip())
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)]
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", urlencode(query), "")
    )


LEAD_WORDS = 60
SHORT_WORDS = 60
#: A teaser needs this many content words (title and lead) before the lead rule trusts it.
MIN_LEAD_WORDS = 4


@dataclass(eq=False)
class Doc:
    """What the same-story decision looks at: one article, or one row read back from the store.

    ``text`` should already be free of the source's learnt boilerplate
    (:meth:`BoilerplateLearner.strip`); generic footers are removed here in any case. Derived
    features are computed once, on first use.
    """

    title: str
    text: str
    language: str | None = None
    url: str | None = None
    published: datetime | None = None
    source_id: str | None = None
    countries: tuple[str, ...] = ()
    id: Hashable | None = None  # the caller's key (article id); carried, never interpreted

    @classmethod
    def from_article(cls, article: object, *, id: Hashable | None = None) -> Doc:
        """From a ``pipeline.items.Article`` (or anything with the same attribute names)."""
        return cls(
            title=getattr(article, "title", "") or "",
            text=getattr(article, "text", "") or "",
            language=getattr(article, "language", None),
            url=getattr(article, "url", None),
            published=getattr(article, "published", None),
            source_id=getattr(article, "source_id", None),
            countries=tuple(getattr(article, "countries", ()) or ()),
            id=id,
        )

    @classmethod
    def cleaned(
        cls, cleaned: tuple[str, str] | tuple[str, str, list[str]], **fields: object
    ) -> Doc:
        """A Doc over text already cleaned by :meth:`BoilerplateLearner.clean` (kept text and its
        normalised form; :meth:`BoilerplateLearner.clean_words` adds its words): the generic
        strip is not run again."""
        doc = cls(text=cleaned[0], **fields)  # type: ignore[arg-type]
        doc.__dict__["_cleaned"] = (cleaned[0], cleaned[1])
        if len(cleaned) > 2:
            doc.__dict__["tokens"] = tuple(cleaned[2])  # type: ignore[misc]
        return doc

    @cached_property
    def _cleaned(self) -> tuple[str, str]:
        return _strip(self.text)

    @property
    def body(self) -> str:
        """``text`` without generic footers."""
        return self._cleaned[0]

    @cached_property
    def tokens(self) -> tuple[str, ...]:
        # A tuple of strings, which the garbage collector stops tracking: the store caches
        # thousands of Docs, and traversing their word lists made each full collection slow.
        return tuple(_words(self._cleaned[1]))

    @cached_property
    def word_count(self) -> int:
        return len(self.tokens)

    @property
    def is_short(self) -> bool:
        return self.word_count < SHORT_WORDS

    @cached_property
    def text_key(self) -> str:
        return _text_key(" ".join(self.tokens))

    @property
    def signature(self) -> Signature:
        # Kept as a plain tuple (values, scheme, size), which the garbage collector stops
        # tracking, and wrapped on each use: a cached Doc's dictionary then holds only untracked
        # values, so full collections skip it (see store.stories._DbState.put_doc).
        packed = self.__dict__.get("_signature")
        if packed is None:
            sig = _minhash(shingle_hashes(self.tokens), SCHEMES["text"])
            self.__dict__["_signature"] = (sig.values, sig.scheme, sig.size)
            return sig
        return Signature(*packed)

    @cached_property
    def lead_words(self) -> frozenset[str]:
        return _lead_words(self.title, self.body)

    @cached_property
    def lead_signature(self) -> Signature:
        return _minhash(_item_hashes(self.lead_words), SCHEMES["lead"])

    @cached_property
    def neutral(self) -> frozenset[str]:
        return neutral_features(self.title, self.body, self.tokens)

    @cached_property
    def features(self) -> Features:
        packed = self.__dict__.get("_features_packed")  # kept by the store's doc cache
        if packed is not None:
            return unpack_features(packed)
        return extract_features(self.title, self.body, self.language, self.neutral)

    @cached_property
    def evidence_bounds(self) -> tuple[float, float, bool]:
        # A tuple of numbers (which the garbage collector stops tracking) that the store's doc
        # cache keeps when it drops the features: a candidate met again is refused by it
        # without unpacking them (NearDupMatcher.rejects).
        return _evidence_bounds(self.features)

    @cached_property
    def feature_signature(self) -> Signature:
        items = self.neutral
        # One or two common items (a year, a single date) would pair this article with half the
        # month's output: only index a feature set that can tell stories apart.
        strong = [x for x in items if _neutral_weight(x) >= 1.0]
        if len(strong) < 2:
            return _minhash(np.empty(0, dtype=np.uint64), SCHEMES["xfeat"])
        return _minhash(_item_hashes(items), SCHEMES["xfeat"])

    @cached_property
    def canonical_url(self) -> str | None:
        return _strip_tracking(self.url) if self.url else None

    @cached_property
    def token_set(self) -> frozenset[str]:
        return frozenset(_tokens(f"{self.title} {self.body}"))


def _lead_words(title: str, body: str, tokens: Sequence[str] | None = None) -> frozenset[str]:
    """``Doc.lead_words``: the content words of the title and of the body's first LEAD_WORDS
    words. ``tokens``: ``_words(normalise_text(body))``, when the caller has them."""
    chunks = body.split(maxsplit=LEAD_WORDS)
    if tokens is not None and title.isascii() and body.isascii():
        # The body up to its (LEAD_WORDS + 1)th word (split strips only the remainder's start).
        prefix = body[: len(body) - len(chunks[LEAD_WORDS])] if len(chunks) > LEAD_WORDS else body
        if not ("http" in title or "www." in title or "http" in prefix or "www." in prefix):
            # ASCII text normalises to its lower case, and each whitespace character ends a
            # word: the lead's words are the body's first ones, as many as start in ``prefix``
            # (each word character marked "x", the words counted as " x" after a space). No
            # string is made and hashed again for them (half the cost).
            marked = prefix.encode("ascii").translate(_ASCII_WORD_MARK)
            lead = _words(title.lower()) + list(tokens[: (b" " + marked).count(b" x")])
            return frozenset(_content_tokens(lead))
    text = f"{title} {' '.join(chunks[:LEAD_WORDS])}"
    if "http" in text or "www." in text:  # a link's host and path words are not the story's
        text = _URL.sub(" ", text)
    return frozenset(_content_words(text))


def _text_key(joined_tokens: str) -> str:
    """``Doc.text_key`` of the text whose words, joined by single spaces, are ``joined_tokens``."""
    return hashlib.blake2b(joined_tokens.encode(), digest_size=16).hexdigest()


#: Lead keys of a short item (a teaser) are stored under band numbers shifted by this much
#: (120-131), so that a long article looks up only short items' leads: between two long texts
#: the lead rule never applies, and their lead keys, which collide often for one member's
#: templated headlines, would only bring useless candidates.
SHORT_LEAD_OFFSET = 20


#: Languages whose feature keys an article looks up: the network's publishing languages. Feature
#: keys are salted with the article's language, so an article only meets other languages there
#: (between two texts in one language the feature score is never used, and their dates, numbers
#: and acronyms collide often). A language outside this list is looked up as ``"und"``.
CROSSLANG_LANGUAGES = ("en", "fr", "es", "ar", "pt", "ru", "und")


def _language_group(language: str | None) -> str:
    lang = (language or "").split("-")[0].lower()
    return lang if lang in CROSSLANG_LANGUAGES else "und"


def _feature_keys(doc: Doc, languages: Sequence[str]) -> list[tuple[int, int]]:
    """The feature keys of ``doc`` as an article in each of ``languages`` would store them."""
    rows = band_hashes(doc.feature_signature)
    if not rows or not languages:
        return []
    bands = [b for b, _ in rows] * len(languages)
    hashes = np.array([h for _, h in rows], dtype=np.uint64)
    salts = np.array(
        [zlib.crc32(lang.encode()) | 1 for lang in languages], dtype=np.uint64
    ).reshape(-1, 1)
    salted = _mix(hashes * salts + _U64(0x632BE59BD9B4E019)) >> _U64(1)
    return list(zip(bands, salted.ravel().tolist(), strict=True))


def index_keys(doc: Doc) -> list[tuple[int, int]]:
    """Every ``(band, hash)`` key the store keeps for ``doc`` in ``article_keys``: text bands
    (long texts), lead bands (always; 100-111 for a long text, 120-131 for a short one) and
    feature bands (when there are enough features)."""
    keys: list[tuple[int, int]] = []
    if not doc.is_short:
        keys += band_hashes(doc.signature)
        keys += band_hashes(doc.lead_signature)
    else:
        keys += band_hashes(doc.lead_signature, SHORT_LEAD_OFFSET)
    keys += _feature_keys(doc, [_language_group(doc.language)])
    return keys


def query_keys(doc: Doc) -> list[tuple[int, int]]:
    """The keys to look up for ``doc``'s candidates: its text keys, the lead keys of short items
    (a short ``doc`` also looks up long texts' leads) and the feature keys of the other
    languages (all of them when ``doc``'s language is unknown)."""
    keys: list[tuple[int, int]] = []
    if not doc.is_short:
        keys += band_hashes(doc.signature)
    else:
        keys += band_hashes(doc.lead_signature)
    keys += band_hashes(doc.lead_signature, SHORT_LEAD_OFFSET)
    own = _language_group(doc.language) if doc.language else None
    keys += _feature_keys(doc, [lang for lang in CROSSLANG_LANGUAGES if lang != own])
    return keys


# --------------------------------------------------------------------------------------------
# A whole batch at once (the store's path): the same keys, one numpy pass per step
# --------------------------------------------------------------------------------------------

#: Cells (uint64) of the temporary ``num_perm x shingles`` matrix of one numpy block of the
#: batched MinHash: 8 MB, 8,192 shingles of the text scheme (a feed of 50 entries is a few
#: blocks). Each numpy call has a cost per matrix row, so larger blocks are cheaper per shingle:
#: this is ~3x faster than blocks of 2,048 shingles.
_BLOCK_CELLS = 1 << 20


def _minhash_many(arrays: Sequence[np.ndarray], scheme: Scheme) -> np.ndarray:
    """``_minhash(h, scheme).values`` for each array of ``arrays``, as one ``(n, num_perm)``
    uint32 matrix, computed over the concatenated arrays (``minimum.reduceat`` per array)."""
    out = np.full((len(arrays), scheme.num_perm), _EMPTY, dtype=np.uint32)
    a, b = scheme._params
    block = _BLOCK_CELLS // scheme.num_perm
    sizes = [x.size for x in arrays]
    largest = min(sum(sizes), max(block, max(sizes, default=0)))
    # One matrix for all the blocks of the call, written in place: a new multi-MB array per
    # block cost more than the arithmetic (the kernel hands out and zeroes fresh pages).
    matrix = np.empty(scheme.num_perm * largest, dtype=np.uint64)
    start = 0
    while start < len(arrays):
        end, total = start, 0
        while end < len(arrays) and (end == start or total + sizes[end] <= block):
            total += sizes[end]
            end += 1
        rows = [i for i in range(start, end) if sizes[i]]
        if rows:
            parts = [arrays[i] for i in rows]
            offsets = np.cumsum([0] + [sizes[i] for i in rows[:-1]])
            hashes = np.concatenate(parts)
            prod = matrix[: scheme.num_perm * hashes.size].reshape(scheme.num_perm, hashes.size)
            np.multiply(a, hashes, out=prod)
            prod += b
            mins = np.minimum.reduceat(prod, offsets, axis=1) >> _U64(32)
            out[rows] = mins.T.astype(np.uint32)
        start = end
    return out


def _bands_many(values: np.ndarray, scheme: Scheme, offset: int = 0) -> tuple[list[int], np.ndarray]:
    """``band_hashes`` for each row of a ``(n, num_perm)`` signature matrix: the band numbers and
    an ``(n, bands)`` int64 matrix of hashes (same arithmetic, all rows at once)."""
    vals = values[:, : scheme.bands * scheme.rows].astype(np.uint64)
    vals = vals.reshape(len(values), scheme.bands, scheme.rows)
    first = scheme.first_band + offset
    bands = np.arange(first, first + scheme.bands, dtype=np.uint64)
    acc = np.broadcast_to(
        _mix(bands * _U64(0xD1B54A32D192ED03) + _U64(0x8CB92BA72F3D8DD7)), vals.shape[:2]
    )
    for r in range(scheme.rows):
        acc = _mix(acc ^ (vals[:, :, r] * _U64(0x9E3779B97F4A7C15)))
    return bands.tolist(), (acc >> _U64(1)).astype(np.int64)


_GROUP_SALTS = np.array(
    [zlib.crc32(lang.encode()) | 1 for lang in CROSSLANG_LANGUAGES], dtype=np.uint64
)


def _prime_signatures(docs: Sequence[Doc]) -> None:
    """Compute the text, lead and feature signatures of ``docs`` together and store them in each
    Doc (``Doc.signature`` etc. then return them): equal to computing them one by one."""
    # Text: shingles of long texts (short ones have no text keys; their signature stays lazy).
    longs = [d for d in docs if "_signature" not in d.__dict__ and not d.is_short]
    if longs:
        lengths = [len(d.tokens) for d in longs]
        h = _hash_tokens(list(chain.from_iterable(d.tokens for d in longs)))
        k = SHINGLE_WORDS
        acc = h[: h.size - k + 1].copy()
        for i in range(1, k):
            acc = acc * _U64(0x9E3779B97F4A7C15) + h[i : h.size - k + 1 + i]
        mixed = _mix(acc)
        # Each text's distinct shingles, for its size and its minima: a repeated shingle does
        # not change a minimum but costs num_perm multiply-adds (a fifth of the bench's
        # shingles repeat within their text). Each text's shingles are sorted in place, then
        # one comparison over the whole batch marks the first of each value; a text's first
        # shingle always counts, and the k - 1 windows across two texts (after each text's
        # n - k + 1 shingles; long texts have >= SHORT_WORDS >= k tokens) never do.
        starts = np.cumsum([0] + lengths[:-1])
        for start, n in zip(starts.tolist(), lengths, strict=True):
            mixed[start : start + n - k + 1].sort()
        first = np.empty(mixed.size, dtype=bool)
        first[0] = True
        np.not_equal(mixed[1:], mixed[:-1], out=first[1:])
        first[starts] = True
        for i in range(1, k):
            first[starts[1:] - i] = False
        sizes = np.add.reduceat(first, starts, dtype=np.intp).tolist()
        distinct = mixed[first]
        ends = np.cumsum(sizes).tolist()
        arrays = [distinct[end - size : end] for end, size in zip(ends, sizes, strict=True)]
        sigs = _minhash_many(arrays, SCHEMES["text"])
        for d, size, row in zip(longs, sizes, sigs, strict=True):
            d.__dict__["_signature"] = (row, "text", size)
    # Lead words and features: sets of strings; mixing is a bijection, so an item set's distinct
    # hashes are its distinct mixed hashes.
    for attr, scheme, items_of in (
        ("lead_signature", SCHEMES["lead"], lambda d: d.lead_words),
        ("feature_signature", SCHEMES["xfeat"], _strong_items),
    ):
        todo = [d for d in docs if attr not in d.__dict__]
        if not todo:
            continue
        hashes, sizes = _set_hashes([items_of(d) for d in todo])
        mixed = _mix(hashes)  # one pass for the whole batch
        ends = np.cumsum(sizes).tolist()
        arrays = [mixed[end - size : end] for end, size in zip(ends, sizes, strict=True)]
        sigs = _minhash_many(arrays, scheme)
        for d, size, row in zip(todo, sizes, sigs, strict=True):
            d.__dict__[attr] = Signature(row, scheme.name, size)


def _set_hashes(sets: Sequence[Collection[str]]) -> tuple[np.ndarray, list[int]]:
    """The distinct ``_token_hash`` values of each set of distinct strings, concatenated as
    uint64s (in no particular order), and how many each set has."""
    if len(_TOKEN_HASHES) == len(_TOKEN_CACHE):
        # No two cached strings share a hash: a set's hashes are distinct, and when all its
        # strings are cached, the batch's are read from the cache at once (as _hash_tokens
        # does), not a Python set of them made per set and then converted.
        sizes = list(map(len, sets))
        try:
            return np.fromiter(map(_TOKEN_CACHE.__getitem__, chain.from_iterable(sets)),
                               dtype=np.uint64, count=sum(sizes)), sizes
        except KeyError:  # a string not seen yet
            pass
    get = _TOKEN_CACHE.get
    flat: list[int] = []
    sizes = []
    for items in sets:
        cached = set(map(get, items))
        found = {_token_hash(x) for x in items} if None in cached else cast(set[int], cached)
        flat += found
        sizes.append(len(found))
    return np.array(flat, dtype=np.uint64), sizes


def _strong_items(doc: Doc) -> frozenset[str] | tuple[()]:
    """The items of ``doc.feature_signature``: its neutral features when at least two are strong."""
    items = doc.neutral
    if sum(1 for x in items if _neutral_weight(x) >= 1.0) < 2:
        return ()
    return items


@dataclass(frozen=True)
class KeyArrays:
    """The band keys of a batch of docs as flat arrays: ``*_doc`` is the doc's position in the
    batch, ``*_band`` the band number, ``*_hash`` the key (int64, in ``[0, 2**63)``). Rows of one
    doc are contiguous and in the order of :func:`index_keys` / :func:`query_keys`."""

    index_doc: np.ndarray
    index_band: np.ndarray
    index_hash: np.ndarray
    query_doc: np.ndarray
    query_band: np.ndarray
    query_hash: np.ndarray

    def index_of(self, i: int) -> list[tuple[int, int]]:
        rows = self.index_doc == i
        return list(zip(self.index_band[rows].tolist(), self.index_hash[rows].tolist(), strict=True))

    def query_of(self, i: int) -> list[tuple[int, int]]:
        rows = self.query_doc == i
        return list(zip(self.query_band[rows].tolist(), self.query_hash[rows].tolist(), strict=True))


def _grid(positions: Sequence[int], bands: Sequence[int], hashes: np.ndarray) -> tuple[np.ndarray, ...]:
    """(doc, band, hash) columns for an ``(len(positions), len(bands))`` hash matrix."""
    docs = np.repeat(np.asarray(positions, dtype=np.int64), len(bands))
    return docs, np.tile(np.asarray(bands, dtype=np.int64), len(positions)), hashes.ravel()


def _gather(parts: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate (doc, band, hash) parts and order them by doc, keeping the parts' order
    within a doc (a stable sort)."""
    parts = [p for p in parts if p[0].size]
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    docs, bands, hashes = (np.concatenate([p[k] for p in parts]) for k in range(3))
    order = np.argsort(docs, kind="stable")
    return docs[order], bands[order], hashes[order]


def batch_key_arrays(docs: Sequence[Doc]) -> KeyArrays:
    """The :func:`index_keys` and :func:`query_keys` of every doc of a batch, with every
    signature and band hash computed in one numpy pass per scheme (the store computes a whole
    feed's keys at once), as :class:`KeyArrays`."""
    _prime_signatures(docs)
    text_s, lead_s, feat_s = SCHEMES["text"], SCHEMES["lead"], SCHEMES["xfeat"]
    index: list[tuple[np.ndarray, ...]] = []
    query: list[tuple[np.ndarray, ...]] = []
    is_short = [d.is_short for d in docs]
    text_rows = [i for i, d in enumerate(docs) if not is_short[i] and d.signature.size]
    if text_rows:
        bands, hashes = _bands_many(np.stack([docs[i].signature.values for i in text_rows]), text_s)
        part = _grid(text_rows, bands, hashes)
        index.append(part)
        query.append(part)
    lead_rows = [i for i, d in enumerate(docs) if d.lead_signature.size]
    if lead_rows:
        values = np.stack([docs[i].lead_signature.values for i in lead_rows])
        bands, hashes = _bands_many(values, lead_s)
        short = np.array([is_short[i] for i in lead_rows])
        long_part = _grid(lead_rows, bands, hashes)
        per_doc = len(bands)
        mask = np.repeat(short, per_doc)
        index.append(tuple(col[~mask] for col in long_part))  # long texts store 100-111
        query.append(tuple(col[mask] for col in long_part))  # short items look them up
        bands, hashes = _bands_many(values, lead_s, SHORT_LEAD_OFFSET)
        short_part = _grid(lead_rows, bands, hashes)
        index.append(tuple(col[mask] for col in short_part))  # short items store 120-131
        query.append(short_part)  # everyone looks those up
    feat_rows = [i for i, d in enumerate(docs) if d.feature_signature.size]
    if feat_rows:
        bands, hashes = _bands_many(
            np.stack([docs[i].feature_signature.values for i in feat_rows]), feat_s
        )
        # (docs, language groups, bands): the keys each group would store, as in _feature_keys.
        salted = (
            _mix(
                hashes.astype(np.uint64)[:, None, :] * _GROUP_SALTS[None, :, None]
                + _U64(0x632BE59BD9B4E019)
            )
            >> _U64(1)
        ).astype(np.int64)
        groups = list(CROSSLANG_LANGUAGES)
        own = np.array([groups.index(_language_group(docs[i].language)) for i in feat_rows])
        asked = np.array(
            [own[k] if docs[i].language else -1 for k, i in enumerate(feat_rows)]
        )
        nb, ng = len(bands), len(groups)
        pos = np.asarray(feat_rows, dtype=np.int64)
        k = np.arange(len(feat_rows))
        index.append((np.repeat(pos, nb), np.tile(np.asarray(bands), len(pos)),
                      salted[k, own].ravel()))
        others = np.arange(ng)[None, :] != asked[:, None]  # (docs, groups)
        query.append((
            np.repeat(np.repeat(pos, ng)[others.ravel()], nb),
            np.tile(np.asarray(bands), int(others.sum())),
            salted[others].ravel(),
        ))
    return KeyArrays(*_gather(index), *_gather(query))


def batch_keys(docs: Sequence[Doc]) -> list[tuple[list[tuple[int, int]], list[tuple[int, int]]]]:
    """``(index_keys(doc), query_keys(doc))`` for each of ``docs``: :func:`batch_key_arrays` as
    lists of ``(band, hash)`` pairs, equal to calling the two functions doc by doc."""
    if not docs:
        return []
    keys = batch_key_arrays(docs)
    return [(keys.index_of(i), keys.query_of(i)) for i in range(len(docs))]


# --------------------------------------------------------------------------------------------
# Keys computed ahead, in a feed worker process (scrapers/feedwork.py)
# --------------------------------------------------------------------------------------------

#: Bump when what :class:`PreparedKeys` holds changes meaning.
PREPARED_VERSION = 2


def _fingerprint() -> str:
    """What precomputed keys depend on besides the article: this module's code (schemes, seeds,
    segmenting, generic footers, features) and ``store/signatories.py``'s (the article's kind,
    and the scan that finds the footer phrases: ``classify_with_phrases``), numpy's version and
    the byte order of the packed signatures. Keys computed under another fingerprint are not
    used."""
    h = hashlib.blake2b(digest_size=16)
    try:
        for path in (__file__, os.path.join(os.path.dirname(__file__), "signatories.py")):
            with open(path, "rb") as f:
                h.update(f.read())
    except OSError:  # pragma: no cover - no source file (frozen): the schemes at least
        h.update(repr(sorted(SCHEMES.items())).encode())
    h.update(f"|{PREPARED_VERSION}|{np.__version__}|{sys.byteorder}".encode())
    return h.hexdigest()


KEYS_FINGERPRINT = _fingerprint()


class PreparedKeys(NamedTuple):
    """What the store's near-duplicate level computes for a new article that does not depend on
    the store: its boilerplate segments and their keys, the text as cleaned of generic footers
    and of the segments the worker was told are the source's learnt boilerplate (``assumed``;
    none when it was told nothing), that text's MinHash signatures, from which
    :func:`batch_key_arrays` derives the band keys, and its features (``Doc.features``, which
    the decisions read). Computed in a feed worker
    (:func:`prepare_keys`), carried to the store with the article, never stored.

    ``text``, ``title`` and ``language`` are the inputs (the article's own string objects, so
    pickled once): :func:`prepared_for` refuses a payload whose inputs differ from the
    article's."""

    fingerprint: str
    text: str
    title: str
    language: str | None
    segments: tuple[str, ...]
    keys: tuple[str, ...]  # each segment's key (its normalised words)
    headline: str  # the title's segment key
    kept: tuple[int, ...]  # the segments left by the generic strip
    kept_norm: str  # their normalised form, joined
    signatures: bytes  # uint32 minima: text (long texts only), lead, features
    sizes: tuple[int, int, int]  # the three signatures' sizes; text -1: not computed (short)
    features: Features  # ``Doc.features``, which the decisions read (the names gate)
    #: The text's segment keys dropped as the source's learnt boilerplate (sorted; each once).
    assumed: tuple[str, ...] = ()
    #: ``Doc.word_count`` and ``Doc.text_key`` of the cleaned text (every new article needs the
    #: first for its keys, and the second for each candidate it is compared with).
    word_count: int = 0
    text_key: str = ""
    #: ``store.signatories.classify_kind(title, text)`` (not a key; the store needs it of every
    #: new article, and it depends on nothing else).
    kind: str | None = None


def prepare_keys(
    articles: Sequence[tuple[str, str, str | None]],
    boilerplate: Collection[str] = (),
    *,
    boilerplates: Sequence[Collection[str]] | None = None,
) -> list[PreparedKeys]:
    """:class:`PreparedKeys` of each ``(text, title, language)``, the signatures of all of them
    computed together (:func:`batch_key_arrays`).

    ``boilerplate``: segment keys to drop as the articles' source's learnt boilerplate, as the
    store's learner had them when the job was sent (:meth:`BoilerplateLearner.boilerplate_keys`,
    ``store.stories.boilerplate_hints``). The store uses a payload only when its learner, after
    observing the article, holds exactly those of the article's segments for boilerplate
    (:meth:`BoilerplateLearner.clean_prepared`); a wrong or stale hint costs the store the
    computation, never a different result. ``boilerplates``: one such collection per article
    instead (articles of several sources)."""
    from store.signatories import classify_with_phrases  # it imports this module

    parts = []
    docs = []
    learnt = frozenset(boilerplate)
    per_article = None
    if boilerplates is not None:
        if len(boilerplates) != len(articles):
            raise ValueError("prepare_keys: one boilerplate collection per article")
        sets: dict[int, frozenset[str]] = {}
        per_article = [sets.setdefault(id(b), frozenset(b)) for b in boilerplates]
    for i, (text, title, language) in enumerate(articles):
        if per_article is not None:
            learnt = per_article[i]
        text, title = text or "", title or ""
        segs, norms, words, keys = _segment_parts(text)
        # One scan of the normalised text finds the article's kind and its generic phrases.
        kind, phrases = classify_with_phrases(title, text)
        kept = _kept(segs, norms, keys, learnt, phrases)
        cleaned = _cleaned(segs, norms, words, kept)
        kept_norm = cleaned[1]
        doc = Doc.cleaned(cleaned, title=title, language=language)
        # The kept segments' keys are their words joined: joined again (the segments without
        # words left out), they give the text's words joined, without a join of every word.
        doc.__dict__["text_key"] = _text_key(" ".join([keys[i] for i in kept if keys[i]]))
        doc.__dict__["lead_words"] = _lead_words(title, cleaned[0], cleaned[2])
        docs.append(doc)
        assumed = tuple(sorted({key for key in keys if key in learnt})) if learnt else ()
        parts.append((text, title, language, tuple(segs), tuple(keys), _segment_key(title),
                      tuple(kept), kept_norm, assumed, kind))
    _prime_signatures(docs)
    out = []
    for doc, part in zip(docs, parts, strict=True):
        packed = doc.__dict__.get("_signature")
        lead, feat = doc.lead_signature, doc.feature_signature
        values = [lead.values, feat.values] if packed is None else [packed[0], lead.values,
                                                                      feat.values]
        sizes = (-1 if packed is None else packed[2], lead.size, feat.size)
        *inputs, assumed, kind = part
        # Every signature's values are uint32 already: their bytes joined, without a
        # concatenated copy and its conversion.
        out.append(PreparedKeys(
            KEYS_FINGERPRINT, *inputs,
            b"".join([v.tobytes() for v in values]), sizes, doc.features, assumed,
            doc.word_count, doc.text_key, kind,
        ))
    return out


def prepared_for(
    prepared: object, text: str, title: str, language: str | None
) -> PreparedKeys | None:
    """``prepared`` when it is a :class:`PreparedKeys` of this text, title and language made
    under this process's :data:`KEYS_FINGERPRINT`; else None."""
    if (
        isinstance(prepared, PreparedKeys)
        and prepared.fingerprint == KEYS_FINGERPRINT
        and prepared.text == (text or "")
        and prepared.title == (title or "")
        and prepared.language == language
    ):
        return prepared
    return None


def prime_prepared(doc: Doc, prepared: PreparedKeys) -> None:
    """Give ``doc`` (made from ``prepared``'s cleaned text) its precomputed signatures, which
    :func:`batch_key_arrays` then uses instead of computing them, and its features."""
    values = np.frombuffer(prepared.signatures, dtype=np.uint32)
    text_size, lead_size, feat_size = prepared.sizes
    lead_n, feat_n = SCHEMES["lead"].num_perm, SCHEMES["xfeat"].num_perm
    if text_size >= 0:
        doc.__dict__["_signature"] = (values[: -lead_n - feat_n], "text", text_size)
    doc.__dict__["lead_signature"] = Signature(values[-lead_n - feat_n : -feat_n], "lead",
                                               lead_size)
    doc.__dict__["feature_signature"] = Signature(values[-feat_n:], "xfeat", feat_size)
    doc.__dict__["features"] = prepared.features
    doc.__dict__["word_count"] = prepared.word_count
    doc.__dict__["text_key"] = prepared.text_key


def jaccard_many(doc: Doc, others: Sequence[Doc]) -> list[float]:
    """``jaccard_estimate(doc.signature, o.signature)`` for each of ``others``, in one numpy
    comparison (the same integer count over the same length, so the same floats)."""
    if not others:
        return []
    mine = doc.signature
    sigs = [o.signature for o in others]
    counts = (np.stack([s.values for s in sigs]) == mine.values).sum(axis=1).tolist()
    n = len(mine)
    return [0.0 if mine.size == 0 or s.size == 0 else c / n for s, c in zip(sigs, counts, strict=True)]


def crosslang_score(a: Doc, b: Doc) -> float:
    """Weighted Jaccard over language-independent features: dates (month names in en/fr/es/ar),
    numbers, URLs, @handles, #hashtags, acronyms, Latin-script names — and, between Latin and
    Arabic script, names matched by consonant skeleton (``Khaled`` ~ ``خالد``)."""
    return _features_score(a.features, b.features)


def crosslang_evidence(a: Doc, b: Doc) -> float:
    """The weight of the features ``a`` and ``b`` share, years and place names left out (see
    :func:`_features_evidence`): what :class:`NearDupMatcher` asks for besides the score."""
    return _features_evidence(a.features, b.features)


@dataclass(frozen=True)
class Decision:
    same: bool
    reason: str
    score: float = 0.0
    rule: str = "none"  # url | text-hash | minhash | lead | crosslang | none

    def __bool__(self) -> bool:
        return self.same


def _days_apart(a: Doc, b: Doc) -> float | None:
    if a.published is None or b.published is None:
        return None
    try:
        return abs((a.published - b.published).total_seconds()) / 86400.0
    except TypeError:  # naive vs aware: the pipeline makes all dates aware, so this is a bug
        return None


def _absent_names(x: Doc, y: Doc) -> list[str]:
    """Names in ``x``'s headline and lead that ``y`` never mentions (any script)."""
    fy = y.features
    out = []
    for seq in x.features.lead_names:
        words = [w for w in seq if len(w) >= 3]
        if not words:
            continue
        if fy.arabic and not x.features.arabic:
            present = any(_latin_skeleton(w) & fy.skeletons for w in words)
        else:
            present = any(w in y.token_set for w in words)
        if not present:
            out.append(" ".join(seq).title())
    return out


@dataclass
class NearDupMatcher:
    """The same-story decision, with its thresholds (chosen in ``docs/dedup.md``)."""

    text_threshold: float = 0.4  # MinHash Jaccard estimate for long texts
    certain_threshold: float = 0.85  # above this, names and dates are not checked
    lead_threshold: float = 0.6  # share of a teaser's content words found in the other lead
    crosslang_threshold: float = 0.3
    #: Shared features (years and place names left out) two texts in two languages must have,
    #: by weight, besides the score: a date, link or handle with a name or number, or three
    #: names or numbers. Two numbers, a date and an acronym, a full name alone weigh 4.
    crosslang_min_evidence: float = 5.0
    max_gap_days: float = 45.0  # beyond this, only near-identical texts are merged
    crosslang_gap_days: float = 10.0
    lead_gap_days: float = 10.0

    def same_story(self, a: Doc, b: Doc) -> Decision:
        if a.canonical_url and a.canonical_url == b.canonical_url:
            return Decision(True, "same canonical URL", 1.0, "url")
        if a.word_count >= 10 and a.text_key == b.text_key:
            return Decision(True, "identical normalised text", 1.0, "text-hash")
        gap = _days_apart(a, b)
        both_long = not a.is_short and not b.is_short
        other_language = bool(a.language and b.language and a.language != b.language)
        if both_long:
            j = jaccard_estimate(a.signature, b.signature)
            if j >= self.certain_threshold:
                return Decision(True, f"minhash {j:.2f} ≥ {self.certain_threshold}", j, "minhash")
            if j < self.text_threshold and not other_language:
                # Nothing below can say yes to two long texts in one language: skip the (costly)
                # name features, which most rejected candidates would otherwise compute.
                return Decision(False, f"minhash {j:.2f} < {self.text_threshold}", j, "minhash")
        absent_a, absent_b = _absent_names(a, b), _absent_names(b, a)
        conflict = bool(absent_a and absent_b)
        if both_long:
            if j >= self.text_threshold:
                if conflict:
                    return Decision(
                        False,
                        f"minhash {j:.2f} ≥ {self.text_threshold} but different people: "
                        f"{absent_a[0]} vs {absent_b[0]}",
                        j,
                        "minhash",
                    )
                if gap is not None and gap > self.max_gap_days:
                    return Decision(
                        False,
                        f"minhash {j:.2f} ≥ {self.text_threshold} but {gap:.0f} days apart",
                        j,
                        "minhash",
                    )
                return Decision(True, f"minhash {j:.2f} ≥ {self.text_threshold}", j, "minhash")
        same_language = a.language == b.language or a.language is None or b.language is None
        if not both_long and same_language and a.features.arabic == b.features.arabic:
            return self._lead_rule(a, b, gap, conflict, absent_a, absent_b)
        if other_language:
            if a.is_short or b.is_short:
                return Decision(False, "short item in another language", 0.0, "none")
            x = crosslang_score(a, b)
            if x < self.crosslang_threshold:
                return Decision(
                    False, f"crosslang {x:.2f} < {self.crosslang_threshold}", x, "crosslang"
                )
            evidence = crosslang_evidence(a, b)
            if evidence < self.crosslang_min_evidence:
                # A Jaccard over a few items: one shared country name scores 1.0.
                return Decision(
                    False,
                    f"crosslang {x:.2f} but shared evidence {evidence:g} < "
                    f"{self.crosslang_min_evidence:g} (years and place names left out)",
                    x,
                    "crosslang",
                )
            if gap is not None and gap > self.crosslang_gap_days:
                return Decision(False, f"crosslang {x:.2f} but {gap:.0f} days apart", x, "none")
            # Between scripts only the Latin side's names can be checked, and transliteration
            # misses some: refuse only when none of its lead names is found.
            latin = b if a.features.arabic else a
            absent_latin = absent_b if a.features.arabic else absent_a
            one_sided = (
                a.features.arabic != b.features.arabic
                and bool(latin.features.lead_names)
                and len(absent_latin) == len(latin.features.lead_names)
            )
            if conflict or one_sided:
                who = (absent_a or absent_b)[0]
                return Decision(False, f"crosslang {x:.2f} but {who} missing", x, "crosslang")
            return Decision(
                True, f"crosslang {x:.2f} ≥ {self.crosslang_threshold}", x, "crosslang"
            )
        j = jaccard_estimate(a.signature, b.signature)
        return Decision(False, f"minhash {j:.2f} < {self.text_threshold}", j, "minhash")

    def rejects(self, a: Doc, b: Doc, j: float) -> bool:
        """Whether :meth:`same_story` says no to two long texts, neither the same URL nor the
        same text, below the MinHash threshold, given ``j`` =
        ``jaccard_estimate(a.signature, b.signature)``: always when they are in one language,
        and in two languages when they are more than ``crosslang_gap_days`` apart, their
        ``crosslang_score`` is below its threshold or their shared evidence below
        ``crosslang_min_evidence``. It mirrors those exits of ``same_story`` (a
        test compares the two), so a caller that only wants the positive decisions can skip
        building the others, and for a pair in two languages the name checks that precede the
        score (between the bench's articles, whose language detection splits them into two
        languages, most candidates are such pairs)."""
        if (
            j >= self.text_threshold
            or a.is_short
            or b.is_short
            or (a.canonical_url and a.canonical_url == b.canonical_url)
            or (a.word_count >= 10 and a.text_key == b.text_key)
        ):
            return False
        if not (a.language and b.language and a.language != b.language):
            return True
        # Most pairs that get here (the bench's English texts, which language detection labels
        # Shona, Javanese, …, against those it labels English) share a number and a country
        # name, which no pair's evidence can reach the minimum with: an upper bound of the
        # shared evidence from each text's own features (_evidence_bounds, exact sums) refuses
        # them, as the evidence itself would, without the score and the set operations.
        if _pair_evidence_bound(a.evidence_bounds, b.evidence_bounds) < self.crosslang_min_evidence:
            return True
        # The score first, as in same_story, even when the dates alone would refuse: it makes
        # both Docs' name features, which the store's doc cache then keeps packed; a Doc cached
        # without them recomputes them from its text whenever it is a candidate again.
        if (
            crosslang_score(a, b) < self.crosslang_threshold
            or crosslang_evidence(a, b) < self.crosslang_min_evidence
        ):
            return True
        gap = _days_apart(a, b)
        return gap is not None and gap > self.crosslang_gap_days

    def _lead_rule(
        self,
        a: Doc,
        b: Doc,
        gap: float | None,
        conflict: bool,
        absent_a: list[str],
        absent_b: list[str],
    ) -> Decision:
        short, other = (a, b) if a.word_count <= b.word_count else (b, a)
        words = short.lead_words
        if len(words) < MIN_LEAD_WORDS:
            return Decision(False, f"teaser of {len(words)} content words", 0.0, "lead")
        found = len(words & other.lead_words) / len(words)
        if found < self.lead_threshold:
            return Decision(
                False, f"teaser lead {found:.2f} < {self.lead_threshold}", found, "lead"
            )
        absent_short = absent_a if short is a else absent_b
        if conflict or absent_short:
            name = (absent_short or absent_a or absent_b)[0]
            return Decision(False, f"teaser lead {found:.2f} but {name} missing", found, "lead")
        if gap is not None and gap > self.lead_gap_days:
            return Decision(False, f"teaser lead {found:.2f} but {gap:.0f} days apart", found, "lead")
        return Decision(True, f"teaser lead {found:.2f} ≥ {self.lead_threshold}", found, "lead")

    def matches(self, doc: Doc, candidates: Iterable[Doc]) -> list[tuple[Doc, Decision]]:
        """Every candidate that is the same story as ``doc``, surest first.

        When they belong to more than one story, ``doc`` bridges them (a translation that arrived
        before its original, a teaser): the store should merge those stories.
        """
        found = []
        for cand in candidates:
            decision = self.same_story(doc, cand)
            if decision.same:
                found.append((cand, decision))
        found.sort(key=lambda cd: -cd[1].score)
        return found

    def best_match(self, doc: Doc, candidates: Iterable[Doc]) -> tuple[Doc, Decision] | None:
        """The candidate ``doc`` most surely belongs with, or None."""
        found = self.matches(doc, candidates)
        return found[0] if found else None


_DEFAULT_MATCHER = NearDupMatcher()


def same_story(a: Doc, b: Doc) -> Decision:
    """Whether ``a`` and ``b`` report the same thing, with the default thresholds."""
    return _DEFAULT_MATCHER.same_story(a, b)


@dataclass
class BandIndex:
    """In-memory index of band keys: band key → ids.

    ``candidates`` answers what the store's key lookup answers: every id sharing at least one
    ``(band, hash)`` key, most shared keys first.
    """

    _rows: dict[tuple[int, int], set[Hashable]] = field(default_factory=lambda: defaultdict(set))

    def add(self, item_id: Hashable, keys: Iterable[tuple[int, int]]) -> None:
        for key in keys:
            self._rows[key].add(item_id)

    def candidates(self, keys: Iterable[tuple[int, int]]) -> list[Hashable]:
        shared: Counter[Hashable] = Counter()
        for key in keys:
            shared.update(self._rows.get(key, ()))
        return [item for item, _ in sorted(shared.items(), key=lambda kv: (-kv[1], str(kv[0])))]

    def __len__(self) -> int:
        return sum(len(v) for v in self._rows.values())
