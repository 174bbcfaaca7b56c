"""Language of a report, as an ISO 639-1 code, with py3langid (its model ships in the package).

The model is loaded once, on first use (about half a second), and only the first
:data:`MAX_DETECT_CHARS` characters are scored (500: a paragraph is plenty to tell the
network's languages apart, and the cost grows with the length scored).

py3langid knows some 140 labels, a few of them varieties that news text in a major language is
often scored as (Egyptian and Moroccan Arabic, Nigerian Pidgin, Aragonese, Guianese Creole...).
Their probabilities are added to the language a member would publish in (:data:`FOLD`); labels
with no ISO 639-1 code and no such language are ignored.

Hints decide when the text is short (fewer than :data:`SHORT_TEXT_LETTERS` letters): the item's
own declaration (``xml:lang``, ``<language>``, ``<html lang>``) first, else whichever of the
source's languages scores best. On longer text a hinted language wins when it scores at least
:data:`HINT_MARGIN` of the best score (the model hesitates between Russian and Bulgarian, say);
text clearly in another language keeps its own (an English statement in a French feed stays
English).

A cheap check runs before the model: when at least :data:`FUNCTION_WORDS_MIN_TOKENS` words were
read and one of the hinted languages owns a clear share of them as function words ("the", "of",
"was" / "le", "des", "été" ...; :data:`FUNCTION_WORDS`), at least twice the share of any other
listed language, that language is the answer without scoring byte n-grams. A harvest knows the
language of nearly every entry this way; text in another language than the hints, short text and
close calls still go to the model.
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

__all__ = ["FOLD", "MAX_DETECT_CHARS", "detect_language", "normalise_language_code"]

MAX_DETECT_CHARS = 500
# Below this many letters the model is guessing; hints take precedence.
SHORT_TEXT_LETTERS = 60
# Without hints, a weaker best guess than this is "undetectable".
MIN_CONFIDENCE = 0.30
# A hinted language within this factor of the best score is taken.
HINT_MARGIN = 0.5

FOLD: dict[str, str | None] = {
    "ary": "ar", "arz": "ar", "pcm": "en", "an": "es", "ext": "es", "gcr": "fr", "gcf": "fr",
    "wa": "fr", "vec": "it", "lij": "it", "ltg": "lv", "gug": "gn", "uzs": "uz", "sdh": "ku",
    "wuu": "zh", "yue": "zh", "hbo": "he", "grc": "el", "fuv": "ff", "kik": "ki",
    "ace": None, "bcl": None, "crh": None, "gom": None, "guw": None, "kab": None, "nso": None,
    "zxx": None,
}  # fmt: skip

# The commonest function words of the network's main languages, written for this check: words a
# report cannot avoid, and few that several of these languages share.
FUNCTION_WORDS: dict[str, frozenset[str]] = {
    lang: frozenset(words.split())
    for lang, words in {
        "en": "the of and to in is was were for on that with by from at this are have has been "
              "be an it as his her their they he she which who not but or its will after said",
        "fr": "le la les des du de et est un une dans pour par sur au aux ce cette qui que sont "
              "été il elle ils ont avec pas ne se son sa ses leur plus être après",
        "es": "el la los las del de y en un una es por para con que se su sus al fue como más "
              "lo le ha han sido este esta son tras sobre pero sin entre",
        "pt": "o a os as do da dos das de e em um uma no na nos nas por para com que se foi é "
              "ao pela pelo seu sua são não mais como também após",
        "it": "il lo la gli le dei delle della del di e è in un una per con che non sono stato "
              "alla nel nella da su come anche più",
        "de": "der die das und ist in den dem des ein eine zu mit von für auf nicht sich im "
              "wurde sind auch bei nach aus",
        "ar": "في من على إلى الى عن أن ان التي الذي هذا هذه مع بعد كان قد لا ما أو هو هي ذلك",
        "ru": "и в на с по не что как это из за для о от был была были его её их к у он она "
              "они также после",
        "tr": "ve bir bu da de için ile olarak olan gibi daha çok ama sonra kadar değil her",
    }.items()
}
# word → the languages listing it, so one pass over a text counts every language's share.
_FUNCTION_WORD_LANGS: dict[str, tuple[str, ...]] = {}
for _lang, _vocab in FUNCTION_WORDS.items():
    for _word in _vocab:
        _FUNCTION_WORD_LANGS[_word] = (*_FUNCTION_WORD_LANGS.get(_word, ()), _lang)
FUNCTION_WORDS_MIN_TOKENS = 30
FUNCTION_WORDS_MIN_SHARE = 0.2

# _walk_many packs a position (and a count) in _BITS bits, a feature index in as many.
_BITS = 20
_MASK = (1 << _BITS) - 1
_WALK_LIMIT = 1 << _BITS  # bytes walked together at most

#: sha256 of a py3langid model file → after how many bytes its DFA's state no longer depends on
#: where the walk started (tests/test_pipeline_language.py proves it for the installed model).
#: The batched walk is used only for the models listed; any other walks byte by byte as before.
SYNCHRONISING_MODELS: dict[str, int] = {
    "f4f4a2c3465ca1f081541037f9cac23021d68151c2f709c55ae5eedfca522963": 6,  # py3langid 0.4.0
}

_LETTER = re.compile(r"[^\W\d_]")
_WORD = re.compile(r"[^\W\d_]+")
# In ASCII text the two patterns above mean the letters A-Z and a-z: counted and split with
# bytes.translate, at a fraction of a regex scan (the answers are the same; a test checks it).
_ASCII_LETTERS = bytes(b for b in range(128) if chr(b).isalpha())
_ASCII_LETTERS_ONLY = bytes(b if chr(b).isalpha() else 32 for b in range(128)) + bytes(range(128, 256))


def _count_letters(text: str) -> int:
    """``len(_LETTER.findall(text))``."""
    if text.isascii():
        data = text.encode("ascii")
        return len(data) - len(data.translate(None, _ASCII_LETTERS))
    return len(_LETTER.findall(text))


def _words(text: str) -> list[str]:
    """``_WORD.findall(text)``."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_LETTERS_ONLY).decode("ascii").split()
    return _WORD.findall(text)
_CODE = re.compile(r"[A-Za-z]{2,3}")


@lru_cache(maxsize=1)
def _identifier() -> Any:
    # Imported here: numpy and the model cost ~0.5 s, paid by the first detection only.
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def normalise_language_code(code: str | None) -> str | None:
    """"fr-FR", "FR", "fr_CA", "fra"? → "fr" (two letters only; None when not a language code)."""
    if not code:
        return None
    match = _CODE.match(code.strip())
    if match is None or len(match.group(0)) != 2:
        return None
    end = match.end()
    rest = code.strip()[end:]
    if rest and rest[0] not in "-_":
        return None
    return match.group(0).lower()


def _by_function_words(sample: str, hints: list[str]) -> str | None:
    """A hinted language that owns a clear share of ``sample``'s words as function words; None
    when the text is short, the call is close, or the leader is not hinted (the model decides)."""
    words = _words(sample.lower())
    if len(words) < FUNCTION_WORDS_MIN_TOKENS:
        return None
    # The languages of each function word, looked up in C (map), the other words dropped.
    found = list(filter(None, map(_FUNCTION_WORD_LANGS.get, words)))
    if len(found) / len(words) < FUNCTION_WORDS_MIN_SHARE:
        return None  # no language can own the minimum share: not even all of them together
    hits = dict.fromkeys(FUNCTION_WORDS, 0)
    for langs in found:
        for lang in langs:
            hits[lang] += 1
    shares = sorted(((n / len(words), lang) for lang, n in hits.items()), reverse=True)
    (best_share, best), (second_share, _) = shares[0], shares[1]
    if best in hints and best_share >= FUNCTION_WORDS_MIN_SHARE and best_share >= 2 * second_share:
        return best
    return None


def _fold_code(label: str) -> str | None:
    code = FOLD.get(label, label)
    return code if code is not None and len(code) == 2 else None


def _scores_reference(text: str) -> dict[str, float]:
    """The folded scores from py3langid's own ``rank`` (what :func:`_scores` must equal)."""
    folded: dict[str, float] = {}
    for label, prob in _identifier().rank(text):
        code = _fold_code(label)
        if code is None:
            continue
        folded[code] = folded.get(code, 0.0) + prob
    return folded


class _Ranker:
    """py3langid's ``rank`` followed by the folding of :func:`_scores_reference`, computed with
    the same operations on the same numbers in the same order — so with the same result to the
    last bit (tests/test_pipeline_language.py compares them) — but without its two slow steps:

    * the model's feature table is stored as float16, and numpy converts the rows a text uses to
      float32 before every product (most of the time of a detection); here each row is converted
      once, the first time a text uses it, into a float32 copy of the table whose untouched rows
      cost no memory (numpy allocates it lazily);
    * ``rank`` builds and sorts a Python list of ~140 labels; here one stable argsort.
    """

    def __init__(self, identifier: Any, sync_bytes: int | None = None) -> None:
        import numpy as np

        self.np = np
        self.identifier = identifier
        self.table16 = identifier.nb_ptc
        self.table32 = np.empty(self.table16.shape, dtype=np.float32)
        self.converted = np.zeros(self.table16.shape[0], dtype=bool)
        self.nb_pc = identifier.nb_pc
        self.n_classes = len(identifier.nb_classes)
        self.alias_pairs = list(identifier._alias_pairs)
        first: dict[str, int] = {}
        for column, label in enumerate(identifier.nb_classes):
            first.setdefault(label, column)  # rank keeps a label's first column
        self.columns = np.fromiter(first.values(), dtype=np.intp, count=len(first))
        self.codes = [_fold_code(label) for label in first]
        # Languages (codes) and their labels, by position in ``columns``, for _Folded.
        self.code_names: list[str] = list(dict.fromkeys(c for c in self.codes if c is not None))
        self.code_index = {code: i for i, code in enumerate(self.code_names)}
        self.coded_labels = np.array([k for k, c in enumerate(self.codes) if c is not None], dtype=np.intp)
        self.label_codes = np.array([self.code_index[c] for c in self.codes if c is not None], dtype=np.intp)
        self.code_labels = [[k for k, c in enumerate(self.codes) if c == code] for code in self.code_names]
        multi = [i for i, labels in enumerate(self.code_labels) if len(labels) > 2]
        width = max((len(self.code_labels[i]) for i in multi), default=0)
        pad = len(self.codes)  # the 0.0 _Folded appends
        self.multi_codes = np.array(multi, dtype=np.intp)
        self.multi_labels = np.array([self.code_labels[i] + [pad] * (width - len(self.code_labels[i]))
                                      for i in multi], dtype=np.intp).reshape(len(multi), width)
        # The DFA, for the batched walk (_walk_many): its tables as arrays (no copy of the big one).
        self.n_features = self.table16.shape[0]
        moves = identifier.tk_nextmove
        self.nextmove = np.frombuffer(moves, dtype=np.dtype(f"u{moves.itemsize}"))
        self.rowbase = np.asarray(identifier._rowbase, dtype=np.int64)
        self.output = np.asarray(identifier.tk_output, dtype=np.int64)
        fits = (self.n_features < 1 << _BITS and len(self.rowbase) < 1 << 31
                and int(self.rowbase.max()) + 256 < 1 << 31)
        # (_walk_many reads a window's first two bytes at once: it needs windows of two or more.)
        self.sync_bytes = sync_bytes if fits and sync_bytes is not None and sync_bytes >= 2 else None
        if fits:  # int32 lookups are cheaper
            self.rowbase = self.rowbase.astype(np.int32)
            self.output = self.output.astype(np.int32)
            # The state the walk reaches from the start state (0) over each pair of bytes, at
            # first byte × 256 + second (64 K states, in cache): _walk_many's first two steps
            # for every position in one look-up instead of two rounds of two.
            byte = np.arange(256, dtype=np.int32)
            after_one = self.nextmove[self.rowbase[0] + byte].astype(np.int32)
            pairs = (self.rowbase[after_one][:, np.newaxis] + byte).ravel()
            self.pair_states = self.nextmove[pairs].astype(np.int32)

    @classmethod
    def build(cls, identifier: Any, model_digest: str | None = None) -> _Ranker | None:
        """None when the installed py3langid is not laid out as this class expects."""
        import numpy as np

        try:
            usable = (identifier._norm_probs and identifier.nb_ptc.ndim == 2
                      and identifier.nb_ptc.dtype in (np.float16, np.float32)
                      and identifier.nb_pc.dtype == np.float32
                      and callable(identifier._encode) and identifier._rowbase is not None)
        except AttributeError:
            return None
        if not usable:
            return None
        sync = SYNCHRONISING_MODELS.get(model_digest or "")
        if sync is not None and not (isinstance(identifier.tk_nextmove, array)
                                     and len(identifier.tk_output) == len(identifier._rowbase)):
            sync = None
        return cls(identifier, sync)

    def scores(self, text: str) -> _Folded:
        from py3langid.langid import visit_counts

        np = self.np
        identifier = self.identifier
        data = identifier._encode(text)
        visits = visit_counts(identifier.tk_nextmove, identifier._rowbase, identifier.tk_output, data)
        if not visits:
            return self._fold_many([data], [(None, None)])[0]
        idx = np.fromiter(visits.keys(), dtype=np.intp, count=len(visits))
        counts = np.fromiter(visits.values(), dtype=np.float32, count=len(visits))
        return self._fold_many([data], [(idx, counts)])[0]

    def scores_many(self, texts: Sequence[str]) -> list[_Folded]:
        """:meth:`scores` of each text, the DFA walked over many of them at once (see
        :meth:`_walk_many`) when the model's walk is known to synchronise."""
        if self.sync_bytes is None:
            return [self.scores(text) for text in texts]
        datas = [self.identifier._encode(text) for text in texts]
        results: list[_Folded] = []
        chunk: list[bytes] = []
        size = 0
        for text, data in [*zip(texts, datas, strict=True), (None, None)]:
            if data is None or size + len(data) >= _WALK_LIMIT:
                visits = self._walk_many(chunk) if chunk else []
                results += self._fold_many(chunk, visits)
                chunk, size = [], 0
            if text is None or data is None:
                break
            if len(data) >= _WALK_LIMIT:  # far longer than a sample: walked alone
                results.append(self.scores(text))
                continue
            chunk.append(data)
            size += len(data)
        return results

    def _walk_many(self, datas: list[bytes]) -> list[tuple[Any, Any]]:
        """py3langid's ``visit_counts`` of each byte string, as (feature indexes, counts) arrays
        in its order (first visit first), or (None, None) when it visits none. Together the
        strings are shorter than :data:`_WALK_LIMIT` bytes.

        ``visit_counts`` walks its DFA one byte at a time, in Python. That DFA forgets where it
        started after :attr:`sync_bytes` bytes (checked for the model:
        tests/test_pipeline_language.py), so the state after byte *i* is the state the walk
        reaches from the start state over the bytes *i - sync_bytes + 1 … i* alone (or from the
        text's start, if nearer): every position's state is computed at once with
        ``sync_bytes - 1`` rounds of array lookups.
        """
        # Look-ups by an array of indexes are ndarray.take: the same elements as indexing with
        # the array (a[idx]), at half the cost or less for these sizes (numpy's general
        # indexing machinery prepares more per call).
        np = self.np
        n_texts = len(datas)
        lengths = np.fromiter(map(len, datas), dtype=np.intp, count=n_texts)
        data = np.frombuffer(b"".join(datas), dtype=np.uint8).astype(np.int32)
        size = data.size
        sync, moves, rowbase = self.sync_bytes, self.nextmove, self.rowbase
        # Every position from the sync_bytes bytes ending there, text boundaries ignored (the
        # first sync_bytes - 1 positions are all redone below): the window's first two bytes
        # through pair_states, then byte by byte ...
        state = np.zeros(size, dtype=np.int32)
        first = sync - 1  # how far before a position its window starts
        if size > first:
            state[first:] = self.pair_states.take((data[: size - first] << 8) | data[1 : size - first + 1])
        for back in range(sync - 3, -1, -1):
            if back < size:
                tail = state[back:]
                tail[...] = moves.take(rowbase.take(tail) + data[: size - back])
        # ... then the first sync_bytes - 1 positions of each text again, from the text's start.
        starts = np.zeros(n_texts, dtype=np.intp)
        np.cumsum(lengths[:-1], out=starts[1:])
        head = np.minimum(lengths, sync - 1)
        within = np.arange(head.sum(), dtype=np.intp) - np.repeat(np.cumsum(head) - head, head)
        where = np.repeat(starts, head) + within
        head_state = np.zeros(where.size, dtype=np.int32)
        for back in range(sync - 2, -1, -1):
            at = np.flatnonzero(within >= back)
            head_state[at] = moves.take(rowbase.take(head_state[at]) + data.take(where[at] - back))
        state[where] = head_state
        # Count each text's features, first visit first: sort (text, feature, position) packed
        # into one integer, take each run's first position and length, sort by that position.
        features = self.output.take(state)
        visited = np.flatnonzero(features >= 0)
        if not visited.size:
            return [(None, None)] * n_texts
        text_of = np.repeat(np.arange(n_texts, dtype=np.int64), lengths)
        packed = ((text_of.take(visited) * self.n_features + features.take(visited)) << _BITS) | visited
        packed.sort()
        key = packed >> _BITS
        runs = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
        counts = np.diff(np.append(runs, key.size))
        first = packed.take(runs) & _MASK
        packed = (first << (2 * _BITS)) | ((key.take(runs) % self.n_features) << _BITS) | counts
        packed.sort()
        found = ((packed >> _BITS) & _MASK).astype(np.intp)
        times = (packed & _MASK).astype(np.float32)
        bounds = np.searchsorted(text_of[packed >> (2 * _BITS)], np.arange(n_texts + 1)).tolist()
        return [(found[a:b], times[a:b]) if b > a else (None, None)
                for a, b in zip(bounds, bounds[1:], strict=False)]

    def _fold_many(self, datas: Sequence[bytes], visits: Sequence[tuple[Any, Any]]) -> list[_Folded]:
        """py3langid's ``_decide`` for each text's visited features (``idx``, ``counts`` times
        each; None for none), then ``rank`` and the folding of :func:`_scores_reference`. The
        product with the model's table is made text by text; every step after it is made on the
        texts' rows at once, elementwise or row by row: the same operations on the same numbers
        as for one text (a few numpy calls per feed instead of a dozen per entry)."""
        np = self.np
        scores = np.zeros((len(datas), self.n_classes), dtype=np.float32)
        used = [idx for idx, _ in visits if idx is not None]
        if used:
            wanted = np.concatenate(used)
            fresh = wanted[~self.converted[wanted]]
            if fresh.size:
                self.table32[fresh] = self.table16[fresh]
                self.converted[fresh] = True
        for row, (idx, counts) in zip(scores, visits, strict=True):
            if idx is not None:
                # take: the rows ``table32[idx]`` copies, with less overhead per call.
                np.add(np.log1p(counts) @ self.table32.take(idx, axis=0), self.nb_pc, out=row)
        # One text's scores are multiplied by this Python float, which numpy rounds to float32.
        scale = [1.0 / math.sqrt(len(data) or 1) for data in datas]
        scores *= np.array(scale, dtype=np.float32)[:, np.newaxis]
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        for i, j in self.alias_pairs:
            scores[:, i] += scores[:, j]
            scores[:, j] = 0.0
        return _Folded.rows(self, scores[:, self.columns])


class _Folded:
    """The folded scores of one text — the dict :func:`_scores_reference` builds, with the same
    float for every language — computed without sorting the ~140 labels by score and summing
    them one by one in Python. The reference adds each language's labels best first: a language
    of one label scores that label's probability, one of two the sum of both (addition of two
    numbers does not depend on their order); those of three or more are summed best first here
    too. The dict's order (the order of each language's best label in the ranking) only decides
    between languages of exactly equal score: :meth:`best` applies it then.
    :meth:`items` builds the reference's dict, order included (for the tests)."""

    __slots__ = ("_ranker", "_probs", "_sums", "_top")

    @classmethod
    def rows(cls, ranker: _Ranker, values: Any) -> list[_Folded]:
        """One :class:`_Folded` per row of ``values`` (texts × labels, float32), each holding
        its row of the sums made for all rows at once, and the language with the highest sum
        when exactly one has it (-1 otherwise), found for all rows at once too (three numpy
        calls per text in :meth:`best` before)."""
        np = ranker.np
        all_probs, all_sums = _folded_sums(ranker, values)
        highest = all_sums == all_sums.max(axis=1, keepdims=True)
        tops = np.where(highest.sum(axis=1) == 1, highest.argmax(axis=1), -1).tolist()
        out = []
        for probs, sums, top in zip(all_probs, all_sums, tops, strict=True):
            folded = cls.__new__(cls)
            folded._ranker, folded._probs, folded._sums, folded._top = ranker, probs, sums, top
            out.append(folded)
        return out

    def __bool__(self) -> bool:
        return bool(self._ranker.code_names)

    def __getitem__(self, code: str) -> float:
        return float(self._sums[self._ranker.code_index[code]])

    def get(self, code: str, default: float = 0.0) -> float:
        index = self._ranker.code_index.get(code)
        return default if index is None else float(self._sums[index])

    def best(self) -> str:
        """``max(d, key=d.__getitem__)`` of the reference dict ``d``: the first of the highest."""
        ranker, sums, probs = self._ranker, self._sums, self._probs
        if self._top >= 0:
            return ranker.code_names[self._top]
        tied = ranker.np.flatnonzero(sums == sums.max()).tolist()
        if len(tied) > 1:  # the one whose best label ranks first (higher score, then column)
            tied.sort(key=lambda code: min((-probs[label], label) for label in ranker.code_labels[code]))
        return ranker.code_names[tied[0]]

    def items(self) -> list[tuple[str, float]]:
        ranker, probs = self._ranker, self._probs.tolist()
        folded: dict[str, float] = {}
        # rank's order: best first, ties in label order (a stable sort of the negated scores).
        for k in ranker.np.argsort(-self._probs, kind="stable").tolist():
            code = ranker.codes[k]
            if code is None:
                continue
            folded[code] = folded.get(code, 0.0) + probs[k]
        return list(folded.items())


def _folded_sums(ranker: _Ranker, values: Any) -> tuple[Any, Any]:
    """Each row's probabilities as floats (float64) and each language's sum of them, the sums
    of a language's labels added best first when it has three or more (see :class:`_Folded`).
    ``np.bincount`` adds the weights of a bin in input order, so the row-major batch adds each
    row's as a bincount of that row alone would."""
    np = ranker.np
    probs = values.astype(np.float64)  # what float(value) gives, label by label
    n, width = len(probs), len(ranker.code_names)
    bins = (np.arange(n, dtype=np.intp)[:, np.newaxis] * width + ranker.label_codes).ravel()
    sums = np.bincount(bins, weights=probs[:, ranker.coded_labels].ravel(),
                       minlength=n * width).reshape(n, width)
    if ranker.multi_codes.size:
        padded = np.concatenate((probs, np.zeros((n, 1))), axis=1)  # with a 0.0 label
        grid = -np.sort(-padded[:, ranker.multi_labels], axis=2)  # best first
        total = grid[:, :, 0].copy()
        for column in range(1, grid.shape[2]):
            total += grid[:, :, column]
        sums[:, ranker.multi_codes] = total
    return probs, sums


#: py3langid versions whose ``_decide``/``rank``/``visit_counts`` _Ranker reproduces (checked by
#: tests/test_pipeline_language.py); with any other, scores come from ``rank`` itself.
CHECKED_PY3LANGID = frozenset({"0.4.0"})


@lru_cache(maxsize=1)
def _ranker() -> _Ranker | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        checked = version("py3langid") in CHECKED_PY3LANGID
    except PackageNotFoundError:
        checked = False
    return _Ranker.build(_identifier(), _model_digest()) if checked else None


def _model_digest() -> str | None:
    """sha256 of the model file py3langid loads (see :data:`SYNCHRONISING_MODELS`)."""
    import hashlib

    from py3langid.langid import MODEL_DIR, MODEL_FILE

    try:
        return hashlib.sha256((MODEL_DIR / MODEL_FILE).read_bytes()).hexdigest()
    except OSError:
        return None


def _scores(text: str) -> dict[str, float] | _Folded:
    ranker = _ranker()
    return ranker.scores(text) if ranker is not None else _scores_reference(text)


def _scores_many(texts: Sequence[str]) -> list[dict[str, float]] | list[_Folded]:
    ranker = _ranker()
    if ranker is None:
        return [_scores_reference(text) for text in texts]
    return ranker.scores_many(texts)


def detect_language(
    text: str, hint: str | None = None, *, candidates: Iterable[str] = ()
) -> str | None:
    """ISO 639-1 code of ``text``, or None when it is empty or undetectable.

    ``hint`` is the item's declared language ("fr-FR" counts as "fr"); ``candidates`` are the
    source's languages, weaker hints used after ``hint``.
    """
    pending = _before_model(text, hint, candidates)
    if not isinstance(pending, _Pending):
        return pending
    return _after_model(_scores(pending.sample), pending)


def detect_languages(
    requests: Sequence[tuple[str, str | None, Iterable[str]]],
) -> list[str | None]:
    """``detect_language(text, hint, candidates=candidates)`` of each ``(text, hint,
    candidates)``, in order — the same answers, with the model's byte n-gram walk done once over
    all the texts that need it (a feed's entries), in numpy, instead of byte by byte per text."""
    answers: list[str | None] = []
    pending: list[tuple[int, _Pending]] = []
    for text, hint, candidates in requests:
        answer = _before_model(text, hint, candidates)
        if isinstance(answer, _Pending):
            pending.append((len(answers), answer))
            answer = None
        answers.append(answer)
    if pending:
        for (i, state), scores in zip(pending, _scores_many([p.sample for _, p in pending]), strict=True):
            answers[i] = _after_model(scores, state)
    return answers


class _Pending:
    """What :func:`_after_model` needs once the model has scored ``sample``."""

    __slots__ = ("sample", "hints", "hint_code", "letters")

    def __init__(self, sample: str, hints: list[str], hint_code: str | None, letters: int) -> None:
        self.sample, self.hints, self.hint_code, self.letters = sample, hints, hint_code, letters


def _before_model(text: str, hint: str | None, candidates: Iterable[str]) -> str | None | _Pending:
    """The answer when no model score is needed, else what the model must score."""
    if not text or not text.strip():
        return None
    hint_code = normalise_language_code(hint)
    hints: list[str] = []
    for code in (hint_code, *map(normalise_language_code, candidates)):
        if code and code not in hints:
            hints.append(code)

    sample = text[:MAX_DETECT_CHARS]
    letters = _count_letters(sample[:SHORT_TEXT_LETTERS * 4])
    if letters == 0:
        return hints[0] if hints else None
    if hints:
        quick = _by_function_words(sample, hints)
        if quick is not None:
            return quick
    return _Pending(sample, hints, hint_code, letters)


def _after_model(scores: dict[str, float] | _Folded, pending: _Pending) -> str | None:
    hints, hint_code, letters = pending.hints, pending.hint_code, pending.letters
    if not scores:
        return hints[0] if hints else None
    best = scores.best() if isinstance(scores, _Folded) else max(scores, key=scores.__getitem__)
    best_score = scores[best]
    if not hints:
        return best if best_score >= MIN_CONFIDENCE else None
    if letters < SHORT_TEXT_LETTERS:
        # Too little text for the model: the item's own declaration, else the source's
        # language the model likes best.
        if hint_code is not None:
            return hint_code
        return max(hints, key=lambda code: scores.get(code, 0.0))
    if best in hints:
        return best
    best_hint = max(hints, key=lambda code: scores.get(code, 0.0))
    if scores.get(best_hint, 0.0) >= HINT_MARGIN * best_score:
        return best_hint
    return best
