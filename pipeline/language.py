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
"""

from __future__ import annotations

import re
from collections.abc import Iterable
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

_LETTER = re.compile(r"[^\W\d_]")
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


def _scores(text: str) -> dict[str, float]:
    folded: dict[str, float] = {}
    for label, prob in _identifier().rank(text):
        code = FOLD.get(label, label)
        if code is None or len(code) != 2:
            continue
        folded[code] = folded.get(code, 0.0) + prob
    return folded


def detect_language(
    text: str, hint: str | None = None, *, candidates: Iterable[str] = ()
) -> str | None:
    """ISO 639-1 code of ``text``, or None when it is empty or undetectable.

    ``hint`` is the item's declared language ("fr-FR" counts as "fr"); ``candidates`` are the
    source's languages, weaker hints used after ``hint``.
    """
    if not text or not text.strip():
        return None
    hint_code = normalise_language_code(hint)
    hints: list[str] = []
    for raw in (hint, *candidates):
        code = normalise_language_code(raw)
        if code and code not in hints:
            hints.append(code)

    sample = text[:MAX_DETECT_CHARS]
    letters = len(_LETTER.findall(sample[:SHORT_TEXT_LETTERS * 4]))
    if letters == 0:
        return hints[0] if hints else None
    scores = _scores(sample)
    if not scores:
        return hints[0] if hints else None
    best = max(scores, key=scores.__getitem__)
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
