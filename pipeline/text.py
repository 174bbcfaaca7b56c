"""Plain text out of whatever members publish: HTML fragments, whole pages, escaped HTML, mojibake.

:func:`html_to_text` is a small single-pass tokenizer written for this module rather than
``html.parser`` or nh3/html5ever, because both of those are super-linear on hostile input that
feeds do contain (measured with CPython 3.11's ``html.parser``: 90 KB of ``"<a "`` takes about a
minute; nh3: 200,000 nested ``<div>`` take minutes, and a megabyte of ``&`` takes seconds). Here
every step moves a cursor forward and never rescans, so the cost is linear in the input. It
follows the HTML parsing rules that matter for text:

- ``script``, ``style``, ``noscript``, ``iframe``, ``textarea``, ``title``... are raw-text elements:
  their content runs to the matching end tag and is dropped; ``template``, ``svg``, ``math``,
  ``head``, ``select``, ``object``, ``audio``, ``video``, ``canvas`` are dropped with their content;
- comments, doctypes and processing instructions are dropped; an unclosed comment or tag at the
  end of the input swallows the rest, as in a browser;
- attributes are never looked at, so ``onerror=``, ``onload=``, ``href="javascript:..."`` and
  ``style="expression(...)"`` vanish with their tags; images leave nothing behind;
- block elements (``p``, ``div``, ``li``, headings, table rows...) become paragraph breaks
  ("\\n\\n"), ``br`` a line break, table cells a space;
- entities are decoded after tags are removed, so ``&lt;script&gt;`` in a text node is text.
  When the result still holds markup (HTML escaped twice by a CMS) it is converted once more.

Stored text is plain; whoever renders it escapes it.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata

__all__ = [
    "content_hash",
    "first_sentences",
    "fix_mojibake",
    "fold_whitespace",
    "html_to_text",
    "normalise_for_hash",
]

_RAW_TEXT = frozenset(
    {"script", "style", "noscript", "iframe", "noembed", "noframes", "xmp", "textarea", "title"}
)
_SKIPPED = frozenset(
    {"template", "svg", "math", "head", "select", "datalist", "object", "applet", "audio",
     "video", "canvas", "frameset", "map"}
)  # fmt: skip
# Foreign content (svg, math) ends at these HTML start tags in a real parser ("breakout").
_FOREIGN = frozenset({"svg", "math"})
_BREAKOUT = frozenset(
    {"p", "div", "br", "ul", "ol", "li", "dl", "dd", "dt", "h1", "h2", "h3", "h4", "h5", "h6",
     "table", "blockquote", "pre", "body", "b", "i", "em", "strong", "span", "center", "hr",
     "img", "meta", "nobr", "small", "strike", "sub", "sup", "tt", "u", "var", "code"}
)  # fmt: skip
_BLOCK = frozenset(
    {"p", "div", "ul", "ol", "li", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6",
     "blockquote", "pre", "table", "thead", "tbody", "tfoot", "tr", "caption", "section",
     "article", "aside", "header", "footer", "nav", "main", "figure", "figcaption", "address",
     "details", "summary", "fieldset", "legend", "hr", "body", "html", "form", "center",
     "hgroup", "dialog", "menu", "search", "option", "optgroup"}
)  # fmt: skip
_LINE = frozenset({"br"})
_CELL = frozenset({"td", "th"})

_TAG_NAME = re.compile(r"[A-Za-z][^\s/>]*")
_TAG_STOP = re.compile(r"[>\"']")
_END_TAG_CACHE: dict[str, re.Pattern[str]] = {}
_MARKUP_HINT = re.compile(r"<[A-Za-z!/?]")
_DOUBLE_ESCAPED = re.compile(
    r"</?(?:p|div|br|span|a|b|i|em|strong|img|script|style|svg|iframe|h[1-6]|li|ul|ol|table|"
    r"tr|td|blockquote|figure|font|section|article)(?=[\s/>])",
    re.IGNORECASE,
)
# Character references too long to be real; html.unescape would call int() on a megabyte.
_LONG_CHARREF = re.compile(r"&#(?:[xX][0-9a-fA-F]{9,}|[0-9]{9,});?")

# C0/C1 controls (not tab/newline), zero-width characters, soft hyphen, BOM, bidi overrides.
_INVISIBLE = dict.fromkeys(
    [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0), 0xAD, 0x200B,
     0x200C, 0x200D, 0x2060, 0xFEFF, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)  # fmt: skip
# Keep ZWNJ/ZWJ out of the table: Persian, Arabic and Indic scripts need them.
del _INVISIBLE[0x200C], _INVISIBLE[0x200D]
_ASCII_INVISIBLE = bytes(c for c in _INVISIBLE if c < 0x80)
_INVISIBLE_CHAR = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_INVISIBLE)) + "]")


# Whitespace folding without a regular expression: str.split() splits on exactly the characters
# that ``\s`` matches (str.isspace), and it costs a fraction of a regex scan that matches at
# every space between two words. Each helper names the regex substitution it stands for (the
# tests check each against it).

# The ASCII characters str.isprintable refuses (C0 controls and DEL) as NUL, the others as is.
_CONTROLS_TO_NUL = bytes(0 if c < 0x20 or c == 0x7F else c for c in range(256))
_LONG = 300  # characters; below, isprintable costs less than encoding and translating


def _single_spaced(text: str) -> bool:
    """Whether the only whitespace in ``text`` is single spaces: no "  ", and every character
    printable (``str.isprintable`` is false for each character but the space that ``str.split``
    splits on, a test checks it). Such text needs no folding, which would split it into words
    and join them again."""
    if "  " in text:
        return False
    if len(text) > _LONG and text.isascii():
        # str.isprintable looks each character up in the Unicode tables; in ASCII the answer
        # (no control character) is a bytes.translate marking those as NUL and a memchr, at
        # less than half the cost once the text is a few hundred characters long.
        return b"\0" not in text.encode("ascii").translate(_CONTROLS_TO_NUL)
    return text.isprintable()


def _fold_ws(text: str) -> str:
    r"""``re.sub(r"\s+", " ", text)``: every run of whitespace becomes one space (ends kept)."""
    if _single_spaced(text):
        return text
    words = text.split()
    if not words:
        return " " if text else ""
    folded = " ".join(words)
    if text[0].isspace():
        folded = " " + folded
    if text[-1].isspace():
        folded += " "
    return folded


def _fold_inline_ws(text: str) -> str:
    r"""``re.sub(r"[^\S\n]+", " ", text)``: runs of whitespace other than "\n" become one space."""
    if "\n" not in text:
        return _fold_ws(text)
    return "\n".join([_fold_ws(line) for line in text.split("\n")])


def _drop_invisible(text: str) -> str:
    """``text.translate(_INVISIBLE)``."""
    if text.isascii():
        return text.encode("ascii").translate(None, _ASCII_INVISIBLE).decode("ascii")
    if _INVISIBLE_CHAR.search(text) is None:  # translate looks every character up in a dict
        return text
    return text.translate(_INVISIBLE)


def _end_tag(name: str) -> re.Pattern[str]:
    pattern = _END_TAG_CACHE.get(name)
    if pattern is None:
        pattern = re.compile(rf"</{re.escape(name)}(?=[\s/>])", re.IGNORECASE)
        _END_TAG_CACHE[name] = pattern
    return pattern


def _unescape(text: str) -> str:
    if "&" not in text:
        return text
    return html.unescape(_LONG_CHARREF.sub("\ufffd", text))


def _tag_end(markup: str, pos: int) -> int:
    """Index just after the ``>`` closing the tag whose attributes start at ``pos``; -1 at EOF."""
    while True:
        stop = _TAG_STOP.search(markup, pos)
        if stop is None:
            return -1
        if markup[stop.start()] == ">":
            return stop.end()
        close = markup.find(markup[stop.start()], stop.end())
        if close < 0:
            return -1
        pos = close + 1


def _strip_markup(markup: str, *, keep_newlines: bool = False) -> str:
    """One pass of the tokenizer: text pieces and break markers, joined.

    ``keep_newlines`` keeps line breaks found in text nodes: set for plain text and for the
    passes over text that a first pass already produced.
    """
    fold = _fold_inline_ws if keep_newlines else _fold_ws
    out: list[str] = []
    skipping: list[str] = []
    pos = 0
    size = len(markup)
    while pos < size:
        lt = markup.find("<", pos)
        if lt < 0:
            lt = size
        if lt > pos and not skipping:
            out.append(fold(_unescape(markup[pos:lt])))
        if lt >= size:
            break
        nxt = markup[lt + 1 : lt + 2]
        if nxt == "!":
            if markup.startswith("<!--", lt):
                end = markup.find("-->", lt + 4)
                if end < 0:
                    break  # unclosed comment: the rest is comment
                pos = end + 3
            elif markup.startswith("<![CDATA[", lt):
                end = markup.find("]]>", lt + 9)
                stop = size if end < 0 else end
                if not skipping:
                    out.append(fold(markup[lt + 9 : stop]))
                pos = size if end < 0 else end + 3
            else:  # doctype or bogus comment
                end = markup.find(">", lt + 2)
                if end < 0:
                    break
                pos = end + 1
            continue
        if nxt == "?":
            end = markup.find(">", lt + 2)
            if end < 0:
                break
            pos = end + 1
            continue
        closing = nxt == "/"
        name_match = _TAG_NAME.match(markup, lt + (2 if closing else 1))
        if name_match is None:
            if closing:  # "</>" or "</ x>": a bogus comment
                end = markup.find(">", lt + 2)
                if end < 0:
                    break
                pos = end + 1
            else:  # a lone "<" is text
                if not skipping:
                    out.append("<")
                pos = lt + 1
            continue
        end = _tag_end(markup, name_match.end())
        if end < 0:
            break  # unclosed tag at the end: dropped, with whatever follows
        pos = end
        name = name_match.group(0).lower()
        if closing:
            if skipping and name == skipping[-1]:
                skipping.pop()
            elif not skipping:
                _emit_break(out, name)
            continue
        self_closing = markup[end - 2] == "/"
        if name in _RAW_TEXT and not self_closing:
            closer = _end_tag(name).search(markup, pos)
            if closer is None:
                break  # unclosed script/style: the rest is script
            end = markup.find(">", closer.end())
            if end < 0:
                break
            pos = end + 1
            continue
        if skipping:
            if name in _BREAKOUT and skipping[-1] in _FOREIGN:
                while skipping and skipping[-1] in _FOREIGN:
                    skipping.pop()
            elif name == "body" and skipping[-1] == "head":
                skipping.pop()
            elif name in _SKIPPED and not self_closing:
                skipping.append(name)
                continue
            if skipping:
                continue
        if name in _SKIPPED:
            if not self_closing:
                skipping.append(name)
            continue
        _emit_break(out, name)
    return "".join(out)


def _emit_break(out: list[str], name: str) -> None:
    if name in _BLOCK:
        out.append("\n\n")
    elif name in _LINE:
        out.append("\n")
    elif name in _CELL:
        out.append(" ")


def fold_whitespace(text: str) -> str:
    """Fold spaces inside lines, keep single line breaks and paragraph breaks ("\\n\\n")."""
    # Same result as: translate(_INVISIBLE), then the substitutions [^\S\n]+ → " ", " ?\n ?" →
    # "\n" and \n{3,} → "\n\n", then strip() (a test checks it); each line is folded and
    # stripped in one split/join instead of four regex scans of the whole text.
    # Three or more line breaks in a row are two: of two or more blank lines, one is kept (and
    # none before the first line of text, which strip() would remove).
    # Most lines of html_to_text's output are empty (each block element opens and closes with a
    # paragraph break): those are left as they are, without a call.
    text = _drop_invisible(text)
    # Of the control characters, an ASCII text keeps only \t, \n and \r once the invisible ones
    # are dropped: without \t and \r (two memchr), a line of it is single-spaced when it holds
    # no "  ", which _single_spaced would check with the control characters again, line by line.
    plain = text.isascii() and "\t" not in text and "\r" not in text
    lines: list[str] = []
    for line in text.split("\n"):
        if line:
            single = "  " not in line if plain else _single_spaced(line)
            line = line.strip(" ") if single else " ".join(line.split())
        if line or (lines and lines[-1]):
            lines.append(line)
    return "\n".join(lines).strip()


def html_to_text(html_text: str | None) -> str:
    """Plain text of an HTML fragment or page (see the module docstring); "" for None."""
    if not html_text:
        return ""
    if not _MARKUP_HINT.search(html_text):
        # Plain text (many RSS descriptions): its own line breaks are the only structure.
        text = _unescape(html_text.replace("\r\n", "\n").replace("\r", "\n"))
        if _DOUBLE_ESCAPED.search(text):
            text = _strip_markup(text, keep_newlines=True)
        return fold_whitespace(text)
    text = _strip_markup(html_text)
    for _ in range(2):  # HTML escaped once or twice more by a CMS
        if not _DOUBLE_ESCAPED.search(text):
            break
        text = _strip_markup(text, keep_newlines=True)
    return fold_whitespace(text)


# --- mojibake ---------------------------------------------------------------------------------
# UTF-8 bytes decoded as Windows-1252 (or Latin-1): each byte became one character. A UTF-8
# lead byte (0xC2-0xF4) and its continuation bytes (0x80-0xBF) show up as these characters.
def _byte_char(byte: int) -> str:
    try:
        return bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:
        return chr(byte)  # the five bytes cp1252 leaves undefined pass through as C1 controls


_CHAR_TO_BYTE: dict[str, int] = {}
for _b in range(0x80, 0x100):
    _CHAR_TO_BYTE[_byte_char(_b)] = _b
    _CHAR_TO_BYTE.setdefault(chr(_b), _b)  # Latin-1 reading of 0x80-0x9F
_CONT = "".join(re.escape(c) for c, b in _CHAR_TO_BYTE.items() if 0x80 <= b <= 0xBF)
_MOJIBAKE = re.compile(
    rf"[\u00c2-\u00df][{_CONT}]|[\u00e0-\u00ef][{_CONT}]{{2}}|[\u00f0-\u00f4][{_CONT}]{{3}}"
)


def _plausible(decoded: str) -> bool:
    """Whether a repaired character is one that double-encoding typically produces."""
    point = ord(decoded[0])
    if len(decoded) != 1 or unicodedata.category(decoded)[0] == "C":
        return False
    if point < 0x800:  # two-byte: Latin, Greek, Cyrillic, Armenian, Hebrew, Arabic
        return 0xA0 <= point <= 0x6FF
    return True  # three- and four-byte sequences are far too specific to occur by chance


def _repair(match: re.Match[str]) -> str:
    seq = match.group(0)
    try:
        decoded = bytes(_CHAR_TO_BYTE[c] for c in seq).decode("utf-8")
    except (KeyError, UnicodeDecodeError):
        return seq
    return decoded if _plausible(decoded) else seq


def fix_mojibake(text: str) -> str:
    """Undo UTF-8 read as Windows-1252/Latin-1 ("â€™" → "’", "Ã©" → "é"), sequence by sequence.

    Conservative: only byte sequences that form valid UTF-8 and decode to a plausible character
    are replaced, so real text ("Straße“", "ÉTÉ") is left alone. Applied twice at most, for text
    that went through the mistake twice.
    """
    if text.isascii():  # every mojibake sequence has non-ASCII characters
        return text
    for _ in range(2):
        repaired = _MOJIBAKE.sub(_repair, text)
        if repaired == text:
            break
        text = repaired
    return text


# --- hashing and summaries --------------------------------------------------------------------
_NON_WORD = re.compile(r"[\W_]+")
# ASCII letters and digits lower-cased, every other byte a space.
_ASCII_WORD_BYTES = bytes(b if chr(b).isalnum() else 32 for b in range(128)).lower() + bytes(range(128, 256))
_SPACE_RUN = re.compile("  +")


def normalise_for_hash(text: str) -> str:
    """NFKC, case-folded, every run of punctuation, symbols and whitespace folded to one space."""
    if text.isascii():
        # NFKC leaves ASCII alone and casefold() is lower(); every character but a letter or a
        # digit separates words: the same result as below without the scan of [\W_]+. The
        # runs of two spaces or more are folded by a regex (there are far fewer of them than
        # words, which splitting and joining would make one string each).
        spaced = text.encode("ascii").translate(_ASCII_WORD_BYTES).decode("ascii")
        return _SPACE_RUN.sub(" ", spaced).strip(" ")
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _NON_WORD.sub(" ", folded).strip()


def content_hash(text: str) -> str:
    """sha256 hex digest of :func:`normalise_for_hash` of ``text``."""
    return hashlib.sha256(normalise_for_hash(text).encode("utf-8")).hexdigest()


_SENTENCE_END = re.compile(r"[.!?…。！？؟।](?:[\"'”’»)\]]*)(?=\s|$)")


def first_sentences(text: str, n_chars: int = 300) -> str:
    """Whole sentences from the start of ``text`` fitting in ``n_chars``.

    When the first sentence alone is longer, it is cut at a word boundary and ends with "…".
    Paragraph breaks become spaces.
    """
    piece = text[: n_chars * 4]
    # re.sub(r"\s+", " ", piece).strip(). A text made by html_to_text has single-spaced lines
    # joined by one or two line breaks: with those made spaces it is single-spaced, and its
    # whitespace runs are one character each; otherwise it is split into words and joined.
    flat = piece.replace("\n\n", "\n").replace("\n", " ")
    flat = flat.strip(" ") if _single_spaced(flat) else " ".join(piece.split())
    if len(flat) <= n_chars:
        return flat
    head = flat[: n_chars + 1]
    cut = 0
    for end in _SENTENCE_END.finditer(head):
        if end.end() <= n_chars:
            cut = end.end()
    if cut:
        return head[:cut].rstrip()
    space = head.rfind(" ", 0, n_chars)
    cut = space if space > n_chars // 2 else n_chars - 1
    return head[:cut].rstrip() + "…"
