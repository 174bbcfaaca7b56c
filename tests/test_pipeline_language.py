"""pipeline.language: ISO 639-1 codes from py3langid, hints used when the text is short."""

from __future__ import annotations

import pytest

from pipeline.language import detect_language, normalise_language_code

TEXTS = {
    "en": "The journalist was arrested by police in Accra on Monday after publishing a report "
    "on corruption in the ministry of health.",
    "fr": "Le journaliste a été arrêté lundi par la police à Dakar après la publication d'une "
    "enquête sur la corruption au ministère de la santé.",
    "es": "El periodista fue detenido el lunes por la policía en Caracas tras publicar un "
    "reportaje sobre la corrupción en el ministerio de salud.",
    "ar": "اعتقلت الشرطة الصحفي يوم الاثنين في القاهرة بعد نشره تحقيقا عن الفساد في وزارة "
    "الصحة.",
    "pt": "O jornalista foi preso pela polícia em Luanda na segunda-feira depois de publicar "
    "uma reportagem sobre a corrupção no ministério da saúde.",
    "ru": "Журналиста задержали в понедельник в Москве после публикации расследования о "
    "коррупции в министерстве здравоохранения.",
}


@pytest.mark.parametrize("language", sorted(TEXTS))
def test_detects(language: str) -> None:
    assert detect_language(TEXTS[language]) == language


@pytest.mark.parametrize("language", sorted(TEXTS))
def test_clear_text_beats_a_wrong_hint(language: str) -> None:
    wrong = "de"
    assert detect_language(TEXTS[language], wrong, candidates=[wrong]) == language


@pytest.mark.parametrize(
    ("text", "hint", "candidates", "expected"),
    [
        pytest.param("Press release", "fr-FR", (), "fr", id="short-text-trusts-region-hint"),
        pytest.param("Communiqué", None, ("en", "fr"), "fr", id="short-text-best-source-language"),
        pytest.param("Alerta", "pt_BR", ("es",), "pt", id="item-hint-before-source"),
        pytest.param("2024 — 15/03", "ar", (), "ar", id="no-letters-hint"),
        pytest.param("Журналист задержан в Москве", "ru", (), "ru", id="ru-bg-ambiguity"),
    ],
)
def test_hints(text: str, hint: str | None, candidates: tuple[str, ...], expected: str) -> None:
    assert detect_language(text, hint, candidates=candidates) == expected


@pytest.mark.parametrize("text", ["", "   \n", "2024", "!!!"])
def test_nothing_to_detect(text: str) -> None:
    assert detect_language(text) is None


def test_empty_text_is_none_even_with_hint() -> None:
    assert detect_language("", "en") is None


def test_long_text_is_capped() -> None:
    assert detect_language(TEXTS["fr"] * 20_000) == "fr"


@pytest.mark.parametrize(
    ("code", "expected"),
    [("fr-FR", "fr"), ("EN", "en"), ("pt_BR", "pt"), ("fra", None), ("", None), (None, None),
     ("e", None), ("en US", None)],
)
def test_normalise_language_code(code: str | None, expected: str | None) -> None:
    assert normalise_language_code(code) == expected


def _corpus() -> list[str]:
    import json
    import random
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "bench" / "data" / "tagging"
    rows = [json.loads(line) for path in sorted(data.glob("*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [f"{r['title']}\n{r['text']}" for r in rows] + list(TEXTS.values())
    rng = random.Random(11)
    more = []
    for text in texts:
        start = rng.randrange(len(text))
        more += [text[:500], text[start:start + rng.randrange(1, 400)], text.upper()[:300],
                 text.encode("utf-8")[:rng.randrange(1, 120)].decode("utf-8", "ignore")]
    junk = "ab é ü Ж ж ا ب 中 1 .,!\n\t"
    more += ["".join(rng.choice(junk) for _ in range(rng.randrange(0, 200))) for _ in range(300)]
    return texts + more + ["", " ", "123", "\x00", "ÀÉÎ"]


def _needs_the_fast_path(language) -> None:
    """The fast path runs only with a py3langid release and model it was checked against (any
    other uses py3langid's own rank(): the same answers, slower). A new release installed by a
    fresh set-up skips these proofs, saying so, rather than failing the suite; after checking
    them with it, add its version to CHECKED_PY3LANGID (and its model to SYNCHRONISING_MODELS)."""
    from importlib.metadata import version

    installed = version("py3langid")
    if installed not in language.CHECKED_PY3LANGID:
        pytest.skip(f"py3langid {installed} is not one the fast language path was checked "
                    f"against ({', '.join(sorted(language.CHECKED_PY3LANGID))}): it is off, "
                    "and detection uses py3langid's own rank()")
    if language._model_digest() not in language.SYNCHRONISING_MODELS:
        pytest.skip(f"py3langid model {language._model_digest()} is not listed in "
                    "SYNCHRONISING_MODELS: the batched walk is off (one text at a time)")


def test_fast_scores_equal_py3langid_rank_to_the_last_bit() -> None:
    """pipeline.language._Ranker computes what py3langid's rank() gives, folded: same floats,
    same order (which breaks ties between equal scores)."""
    from pipeline import language

    _needs_the_fast_path(language)
    assert language._ranker() is not None
    for text in _corpus():
        fast, reference = language._scores(text), language._scores_reference(text)
        assert list(fast.items()) == list(reference.items()), repr(text[:80])


def test_ascii_letter_and_word_helpers_match_their_regexes() -> None:
    from pipeline import language

    for text in _corpus() + [t.lower() for t in _corpus()] + ["a_b 1x x1 é", "\t\x00z Z_"]:
        assert language._count_letters(text) == len(language._LETTER.findall(text))
        assert language._words(text) == language._WORD.findall(text)


def test_batched_detection_gives_each_text_its_own_answer() -> None:
    """detect_languages walks the model's DFA over many texts at once: the answers, and the
    scores behind them, are those of one text at a time."""
    import random

    from pipeline import language

    _needs_the_fast_path(language)
    texts = _corpus()
    assert language._ranker().sync_bytes is not None  # the batched walk is in use
    rng = random.Random(3)
    hints = [(None, ()), ("en", ()), ("fr", ("fr", "ar")), (None, ("es",)), ("de-DE", ("en",))]
    for size in (1, 2, 7, 50, 400):
        batch = [(text, *rng.choice(hints)) for text in rng.sample(texts, min(size, len(texts)))]
        expected = [language.detect_language(t, h, candidates=c) for t, h, c in batch]
        assert language.detect_languages(batch) == expected
        samples = [t[:language.MAX_DETECT_CHARS] for t, _, _ in batch if t.strip()]
        many = language._scores_many(samples)
        reference = [language._scores_reference(t) for t in samples]
        assert [list(s.items()) for s in many] == [list(s.items()) for s in reference]
    assert language.detect_languages([]) == []


def test_the_model_walk_synchronises_as_recorded() -> None:
    """The batched walk relies on this: from any two states, the same bytes lead to the same
    state after SYNCHRONISING_MODELS[model] bytes (so a position's state depends only on the
    bytes just before it). Proved by following every pair of states the walk can be in."""
    import numpy as np

    from pipeline import language

    _needs_the_fast_path(language)  # a new model: run this proof with its depth, then list it
    digest = language._model_digest()
    depth = language.SYNCHRONISING_MODELS[digest]
    identifier = language._identifier()
    ranker = language._ranker()
    moves = ranker.nextmove.astype(np.int64).reshape(-1, 256)
    rows = np.asarray(identifier.tk_row, dtype=np.int64)
    n = len(rows)
    # Pairs (state reached from anywhere, state reached from the start) after k common bytes.
    p = np.arange(1, n, dtype=np.int64)
    q = np.zeros(n - 1, dtype=np.int64)
    for _ in range(depth):
        keys = []
        for i in range(0, len(p), 20_000):
            dp, dq = moves[rows[p[i:i + 20_000]]], moves[rows[q[i:i + 20_000]]]
            apart = dp != dq
            keys.append(np.unique(dp[apart] * n + dq[apart]))
        merged = np.unique(np.concatenate(keys)) if keys else np.empty(0, dtype=np.int64)
        p, q = merged // n, merged % n
    assert len(p) == 0


def test_without_the_fast_path_the_answers_are_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unchecked py3langid (or model) falls back to rank() and the byte-by-byte walk."""
    from pipeline import language

    batch = [(t, h, c) for t in _corpus()[:200] for h, c in ((None, ()), ("en", ("en",)))]
    expected = [language.detect_language(t, h, candidates=c) for t, h, c in batch]
    monkeypatch.setattr(language, "_ranker", lambda: None)
    assert [language.detect_language(t, h, candidates=c) for t, h, c in batch] == expected
    assert language.detect_languages(batch) == expected


def test_batched_scores_when_the_texts_do_not_fit_in_one_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline import language

    texts = [t for t in _corpus() if t.strip()][:300]
    reference = [list(language._scores_reference(t).items()) for t in texts]
    monkeypatch.setattr(language, "_WALK_LIMIT", 700)  # several walks, and texts walked alone
    assert [list(s.items()) for s in language._scores_many(texts)] == reference


def test_batched_folding_with_texts_that_visit_no_feature() -> None:
    """_fold_many folds a batch's rows together: texts that visit no feature of the model (a
    letter, a digit, spaces) among others, alone and in batches of each size up to 12, give
    the reference's floats row by row."""
    import random

    from pipeline import language

    _needs_the_fast_path(language)
    ranker = language._ranker()
    blank = ["a", "1", "  ", "ab", "\x00"]
    assert all(ranker._walk_many([ranker.identifier._encode(t)])[0][0] is None for t in blank)
    texts = [t for t in _corpus() if t.strip()][:60] + blank * 4
    random.Random(4).shuffle(texts)
    for size in range(1, 13):
        for start in range(0, len(texts), size):
            batch = texts[start:start + size]
            datas = [ranker.identifier._encode(t) for t in batch]
            folded = ranker._fold_many(datas, ranker._walk_many(datas))
            assert [f.items() for f in folded] == [
                list(language._scores_reference(t).items()) for t in batch]


def _check_folded(folded: object, reference: dict[str, float]) -> None:
    from pipeline import language

    assert isinstance(folded, language._Folded)
    assert folded.items() == list(reference.items())
    for code, value in reference.items():
        assert folded.get(code) == value and folded[code] == value, code
    assert folded.get("xx") == 0.0 and bool(folded) == bool(reference)
    assert folded.best() == max(reference, key=reference.__getitem__)


def test_folded_scores_are_the_reference_dict() -> None:
    """_Folded's sums (without the ranking) and its best language equal the dict that py3langid's
    rank() gives once folded, float for float."""
    from pipeline import language

    _needs_the_fast_path(language)
    texts = [t for t in _corpus()]
    for text in texts:
        _check_folded(language._scores(text), language._scores_reference(text))
    for text, folded in zip(texts, language._scores_many(texts), strict=True):
        _check_folded(folded, language._scores_reference(text))


def test_folded_best_breaks_ties_as_the_reference_dict_order_does() -> None:
    import random

    import numpy as np

    from pipeline import language

    _needs_the_fast_path(language)
    ranker = language._ranker()
    n = len(ranker.codes)
    rng = random.Random(9)
    for _ in range(300):
        # few distinct values, so that languages tie (also multi-label ones, summing alike)
        values = np.array([rng.choice([0.0, 0.0, 0.125, 0.25, 0.5]) for _ in range(n)], dtype=np.float32)
        (folded,) = language._Folded.rows(ranker, values.reshape(1, -1))
        reference: dict[str, float] = {}
        probs = values.tolist()
        for k in np.argsort(-values, kind="stable").tolist():
            code = ranker.codes[k]
            if code is not None:
                reference[code] = reference.get(code, 0.0) + probs[k]
        _check_folded(folded, reference)
