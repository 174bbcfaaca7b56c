"""pipeline.text: plain text out of member HTML, mojibake repair, hashing, summaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.text import (
    content_hash,
    first_sentences,
    fix_mojibake,
    html_to_text,
    normalise_for_hash,
)

HTML_CASES = Path(__file__).parent / "fixtures" / "pipeline" / "html"


def _html_fixtures() -> list[Path]:
    return sorted(HTML_CASES.glob("*.html"))


@pytest.mark.parametrize("page", _html_fixtures(), ids=lambda p: p.stem)
def test_html_to_text_fixture(page: Path) -> None:
    """Each ``NAME.html`` converts to exactly ``NAME.txt``."""
    expected = page.with_suffix(".txt").read_text(encoding="utf-8")
    assert html_to_text(page.read_text(encoding="utf-8")) == expected


def test_every_html_fixture_has_its_expectation() -> None:
    assert _html_fixtures()
    assert all(page.with_suffix(".txt").exists() for page in _html_fixtures())


@pytest.mark.parametrize("page", _html_fixtures(), ids=lambda p: p.stem)
def test_html_to_text_output_has_no_markup(page: Path) -> None:
    text = html_to_text(page.read_text(encoding="utf-8")).lower()
    for needle in ("<script", "<svg", "<img", "onerror", "onload", "javascript:", "<style",
                   "expression("):
        assert needle not in text


@pytest.mark.parametrize("value", [None, "", "<p></p>", "<script>x</script>", "<!-- -->"])
def test_html_to_text_empty(value: str | None) -> None:
    assert html_to_text(value) == ""


def garble(text: str) -> str:
    """UTF-8 bytes read as Windows-1252, the five undefined bytes as C1 controls (as browsers do)."""
    out = []
    for byte in text.encode("utf-8"):
        try:
            out.append(bytes([byte]).decode("cp1252"))
        except UnicodeDecodeError:
            out.append(chr(byte))
    return "".join(out)


@pytest.mark.parametrize(
    ("garbled", "fixed"),
    [
        pytest.param("Itâ€™s", "It’s", id="right-single-quote"),
        pytest.param("â€œQuotedâ€\x9d", "“Quoted”", id="double-quotes-latin1-c1"),
        pytest.param("â€”", "—", id="em-dash"),
        pytest.param("CafÃ©", "Café", id="e-acute"),
        pytest.param("Ã‰tÃ©", "Été", id="capital-e-acute"),
        pytest.param(garble("São Paulo"), "São Paulo", id="portuguese"),
        pytest.param(garble("Пресс-релиз"), "Пресс-релиз", id="cyrillic"),
        pytest.param(garble("حرية الصحافة"), "حرية الصحافة", id="arabic"),
        pytest.param(garble("新闻"), "新闻", id="cjk"),
        pytest.param(garble(garble("It’s")), "It’s", id="twice-encoded"),
        pytest.param("Ã¢â‚¬â„¢", "’", id="twice-encoded-literal"),
    ],
)
def test_fix_mojibake_repairs(garbled: str, fixed: str) -> None:
    assert fix_mojibake(garbled) == fixed


@pytest.mark.parametrize(
    "clean",
    [
        pytest.param("Café, naïve, façade, São Tomé", id="accents"),
        pytest.param("ÉTÉ À PARIS", id="capitals"),
        pytest.param("Straße“ groß”", id="sharp-s-before-quote"),
        pytest.param("Журналист, الصحافة, 記者", id="other-scripts"),
        pytest.param("Â", id="lone-lead"),
        pytest.param("£100 — 5°C ± 2", id="symbols"),
    ],
)
def test_fix_mojibake_leaves_good_text_alone(clean: str) -> None:
    assert fix_mojibake(clean) == clean


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param("Journalist ARRESTED!", "journalist arrested", id="case-punctuation"),
        pytest.param("a\u00a0b\n\nc", "a b c", id="whitespace"),
        pytest.param("ﬁle №5", "file no5", id="nfkc"),
        pytest.param("“Quoted” — text…", '"quoted" - text...', id="typographic-punctuation"),
    ],
)
def test_normalise_for_hash_folds(a: str, b: str) -> None:
    assert normalise_for_hash(a) == normalise_for_hash(b)
    assert content_hash(a) == content_hash(b)


def test_content_hash_is_sha256_hex_and_distinguishes_texts() -> None:
    digest = content_hash("Journalist arrested in Accra")
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert digest != content_hash("Journalist released in Accra")


@pytest.mark.parametrize(
    ("text", "n_chars", "expected"),
    [
        pytest.param("Short text.", 300, "Short text.", id="short-whole"),
        pytest.param("One. Two. Three is long.", 10, "One. Two.", id="whole-sentences"),
        pytest.param("Para one.\n\nPara two.", 300, "Para one. Para two.", id="paragraphs-joined"),
        pytest.param("word " * 20, 22, "word word word word…", id="word-boundary"),
        pytest.param("x" * 100, 10, "xxxxxxxxx…", id="no-spaces"),
        pytest.param("¿Qué? ¡Sí! Fin del texto largo", 12, "¿Qué? ¡Sí!", id="spanish-marks"),
        pytest.param("بيان صحفي؟ نعم هذا نص طويل جدا", 12, "بيان صحفي؟", id="arabic-question"),
    ],
)
def test_first_sentences(text: str, n_chars: int, expected: str) -> None:
    assert first_sentences(text, n_chars) == expected
    assert len(first_sentences(text, n_chars)) <= n_chars


# --- the regex-free fast paths give the regexes' answers --------------------------------------
_JUNK = ("abc DÉF é ü ß 中文 Привет لا _-.,!?…'\" 0123 <p> </div> &amp; &#x41; Ã© â€™ Â "
         " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2003\u2028\u2029\u202f\u205f\u3000"
         "\u200b\u200c\u200d\u2060\ufeff\xad\x00\x07\x7f\x9f\u202a\u2066")


def _junk_strings(n: int = 3000) -> list[str]:
    import random

    rng = random.Random(20261128)
    out = ["", " ", "\n", " \n ", "\n\n\n\n", "a", " a ", "a  b", "a\n \n b", "\r\n", "\x0b", "\x1c"]
    for _ in range(n):
        size = rng.choice((1, 2, 3, 8, 40, 300))
        out.append("".join(rng.choice(_JUNK) for _ in range(size)))
    for _ in range(n // 3):  # mostly ASCII, as most feeds are
        out.append("".join(rng.choice("ab c  d\n\t.,_-xyZ09\r") for _ in range(rng.randrange(0, 80))))
    return out


def test_whitespace_helpers_match_their_regexes() -> None:
    import re

    from pipeline import text as t

    ws, inline_ws = re.compile(r"\s+"), re.compile(r"[^\S\n]+")
    around, many = re.compile(r" ?\n ?"), re.compile(r"\n{3,}")
    for s in _junk_strings():
        assert t._fold_ws(s) == ws.sub(" ", s), repr(s)
        assert t._fold_inline_ws(s) == inline_ws.sub(" ", s), repr(s)
        assert t._drop_invisible(s) == s.translate(t._INVISIBLE), repr(s)
        reference = many.sub("\n\n", around.sub("\n", inline_ws.sub(" ", s.translate(t._INVISIBLE))))
        assert t.fold_whitespace(s) == reference.strip(), repr(s)


def test_single_spaced_text_is_left_as_folding_would_leave_it() -> None:
    """_single_spaced lets the folding helpers keep a text as it is: of all the characters that
    str.split splits on, only the space is printable; single-spaced text (most lines) then
    folds to itself, its ends stripped."""
    import random
    import sys

    from pipeline import text as t

    separators = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    assert len(separators) > 20 and [c for c in separators if c.isprintable()] == [" "]
    rng = random.Random(8)
    pieces = ["a", "Zé", "مرحبا", " ", ".", "\u200b", "x1"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randrange(0, 30))) for _ in range(3000)]
    taken = 0
    for s in texts + _junk_strings(300):
        if t._single_spaced(s):
            taken += 1
            assert " ".join(s.split()) == s.strip(" ") and t._fold_ws(s) == s, repr(s)
        assert t._fold_ws(s) == __import__("re").sub(r"\s+", " ", s), repr(s)
    assert 500 < taken < len(texts)


def test_first_sentences_of_folded_text_equal_the_regex_fold() -> None:
    """first_sentences reads a text made by html_to_text (single-spaced lines joined by one or
    two line breaks) without splitting it into words: the same summary as after the regex
    fold, on such texts (paragraphs, line breaks, three breaks, spaces at the ends) and junk."""
    import random

    from pipeline import text as t

    rng = random.Random(12)
    words = ["Ahmed", "said.", "é", "مرحبا", "x1", "(a)", "…", "Done!"] * 10 + ["a\u200bb", "a\tb"]
    texts = _junk_strings(300)
    for _ in range(3000):
        lines = [" ".join(rng.choice(words) for _ in range(rng.randrange(0, 12)))
                 for _ in range(rng.randrange(1, 6))]
        ends = ["\n", "\n\n"] * 4 + ["\n\n\n", " \n", ""]
        texts.append("".join(line + rng.choice(ends) for line in lines))
    fast = 0
    for text in texts:
        for n_chars in (20, 50, 300):
            assert first_sentences(text, n_chars) == first_sentences_reference(text, n_chars), \
                (text, n_chars)
        piece = text[:1200].replace("\n\n", "\n").replace("\n", " ")
        fast += t._single_spaced(piece) and "\n\n" in text[:1200]
    assert fast > 500


def test_ascii_fast_paths_match_the_general_ones() -> None:
    import hashlib
    import re
    import unicodedata

    from pipeline import text as t

    non_word = re.compile(r"[\W_]+")
    for s in _junk_strings():
        reference = non_word.sub(" ", unicodedata.normalize("NFKC", s).casefold()).strip()
        assert normalise_for_hash(s) == reference, repr(s)
        assert content_hash(s) == hashlib.sha256(reference.encode("utf-8")).hexdigest()
        assert first_sentences(s, 50) == first_sentences_reference(s, 50), repr(s)
        if s.isascii():
            assert fix_mojibake(s) == s and not t._MOJIBAKE.search(s)


def first_sentences_reference(text: str, n_chars: int) -> str:
    """first_sentences with the regex fold it had before the fast path: given text the regex has
    already folded, its own fold changes nothing, so what it returns is the regex version's."""
    import re

    return first_sentences(re.sub(r"\s+", " ", text[: n_chars * 4]).strip(), n_chars)
