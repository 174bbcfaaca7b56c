"""Feed edge cases: one tiny self-describing fixture per behaviour in tests/fixtures/feeds/.

Each file carries its expectation in a comment: ``<!-- expect: key=value ... -->`` with
``status`` (ok | failed | any), ``entries``, ``title`` (the stored title of the only entry:
correct Unicode whatever the bytes; always last), ``urls`` and ``guids`` (``|``-separated, ``-`` for an
entry without a usable URL), ``warning`` and ``error`` (substrings), ``maxtitle`` (longest title
allowed: no entity expansion) and ``notext`` (a string that must appear nowhere: no file read).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.errors import SkipItem
from pipeline.normalise import normalise
from scrapers.spiders.feeds import parse_feed_body
from store.registry_types import Source

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
SOURCE = Source(id="member", name="Member", homepage="https://member.example/", country="GH",
                region="africa", languages=("en",))
NOW = datetime(2026, 11, 1, tzinfo=UTC)
FEED_URL = "https://member.example/feed/"


def expectation(path: Path) -> dict[str, str]:
    match = re.search(rb"<!-- expect: (.*?) -->", path.read_bytes())
    assert match, f"{path.name} has no expect comment"
    text = match.group(1).decode("utf-8")
    title = None
    if " title=" in text:  # a title may hold spaces: it is always the last key
        text, title = text.split(" title=", 1)
    found = dict(pair.split("=", 1) for pair in text.split())
    if title is not None:
        found["title"] = title
    return found


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.xml")), ids=lambda p: p.stem)
def test_feed_fixture(path: Path) -> None:
    expect = expectation(path)
    reports, outcome = parse_feed_body(path.read_bytes(), url=FEED_URL,
                                       headers={"content-type": "application/xml"},
                                       source=SOURCE, feed_url=FEED_URL, max_entries=500)
    if expect["status"] != "any":
        assert outcome.status == expect["status"], outcome.error
    if "entries" in expect:
        assert len(reports) == int(expect["entries"])
    if "error" in expect:
        assert expect["error"].replace("-", " ") in (outcome.error or "")
    if "warning" in expect:
        assert any(expect["warning"] in w for w in outcome.warnings), outcome.warnings
    articles = []
    for report in reports:
        try:
            articles.append(normalise(report, SOURCE, now=NOW))
        except SkipItem:
            articles.append(None)
    if "urls" in expect:
        assert [a.url if a else "-" for a in articles] == expect["urls"].split("|")
    if "guids" in expect:
        assert [r.guid for r in reports] == expect["guids"].split("|")
    if "title" in expect:
        assert [a.title for a in articles if a] == [expect["title"]]
    if "maxtitle" in expect:
        assert all(len(r.title or "") <= int(expect["maxtitle"]) for r in reports)
    if "notext" in expect:
        blob = " ".join(f"{r.title} {r.summary_html} {r.content_html}" for r in reports)
        assert expect["notext"] not in blob


def test_entries_beyond_the_per_run_cap_wait_for_the_next_run() -> None:
    items = "".join(f"<item><title>T{i}</title><link>https://member.example/{i}</link></item>"
                    for i in range(30))
    body = f'<rss version="2.0"><channel><title>M</title>{items}</channel></rss>'.encode()
    reports, outcome = parse_feed_body(body, url=FEED_URL, headers={}, source=SOURCE,
                                       feed_url=FEED_URL, max_entries=10)
    assert [r.title for r in reports] == [f"T{i}" for i in range(10)]
    assert outcome.entries == 30 and any("only the first 10" in w for w in outcome.warnings)


# --- entries' markup: read by pipeline.text.html_to_text, not by feedparser's sanitizer ---------

HOSTILE_MARKUP = [
    # (published markup, the entry's text)
    ("<script>alert(1)</script>Text after script", "Text after script"),
    ('<style>p{color:red}</style><p onclick="x()">Para</p>', "Para"),
    ("<svg onload=alert(1)><text>svg text</text></svg>After svg", "After svg"),
    ("<math><mi>x</mi></math>After math", "After math"),
    ("Before<!-- comment <b>x</b> -->Visible", "BeforeVisible"),
    ('<a href="javascript:alert(1)">click</a> <img src=x onerror=alert(1)> end', "click end"),
    ('<a href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;">x</a>', "x"),
    ('<div style="width: expression(alert(1))">css</div>', "css"),
    ("&amp; &eacute; &#233; &#x41; AT&amp;T &bogus;", "& é é A AT&T &bogus;"),
    # markup escaped once more (a CMS's double escaping) is read as markup
    ("&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;", "bold"),
    # fallback content a browser does not show, as for an article page
    ("<iframe src=x>iframe fallback</iframe> after", "after"),
    ("<object data=x>object fallback</object> after", "after"),
    ("<template>tpl</template> after", "after"),
    ("<details><summary>Sum</summary>Details</details>", "Sum\n\nDetails"),
]


def _feeds(markup: str) -> dict[str, bytes]:
    from html import escape

    item = ('<item><title>{title}</title><link>https://member.example/a</link>'
            '<description>{description}</description>{extra}</item>')
    rss = ('<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
           '<channel><title>M</title><link>https://member.example/</link>{}</channel></rss>')
    atom = ('<feed xmlns="http://www.w3.org/2005/Atom"><title>M</title><entry>'
            '<title type="html">{title}</title><link href="https://member.example/a"/><id>urn:a</id>'
            '<updated>2026-10-01T00:00:00Z</updated>{content}</entry></feed>')
    return {
        "rss escaped": rss.format(item.format(title="T", description=escape(markup), extra="")),
        "rss CDATA": rss.format(item.format(title="T", description=f"<![CDATA[{markup}]]>",
                                            extra="")),
        "rss content:encoded": rss.format(item.format(
            title="T", description="teaser", extra=f"<content:encoded>{escape(markup)}</content:encoded>")),
        "atom html": atom.format(title="T", content=f'<content type="html">{escape(markup)}</content>'),
        "atom xhtml": atom.format(title="T", content='<content type="xhtml"><div '
                                  f'xmlns="http://www.w3.org/1999/xhtml">{markup}</div></content>'),
        "rss title": rss.format(item.format(title=escape(markup), description="body", extra="")),
        "atom title": atom.format(title=escape(markup), content="<summary>body</summary>"),
    }


def _well_formed(markup: str) -> bool:
    from xml.etree import ElementTree

    try:
        ElementTree.fromstring(f"<div>{markup}</div>")
    except ElementTree.ParseError:
        return False
    return True


@pytest.mark.parametrize(("markup", "text"), HOSTILE_MARKUP, ids=[m[:24] for m, _ in HOSTILE_MARKUP])
def test_entry_markup_becomes_the_text_a_browser_shows(markup: str, text: str) -> None:
    """A well-formed feed's markup reaches html_to_text as published (feedparser's sanitizer and
    URI rewriting are off: see scrapers/feedwork.py): scripts, styles, svg, math, comments,
    event handlers and javascript:/data: links leave nothing; entities are decoded once, an
    unknown one stays as written; fallback content is dropped, as in an article page."""
    from pipeline.text import html_to_text

    for kind, body in _feeds(markup).items():
        if kind == "atom xhtml" and not _well_formed(markup):
            continue  # a malformed feed: see the next test
        reports, outcome = parse_feed_body(body.encode(), url=FEED_URL, headers={}, source=SOURCE,
                                           feed_url=FEED_URL, max_entries=5)
        assert outcome.status == "ok" and not outcome.warnings, (kind, outcome.warnings)
        article = normalise(reports[0], SOURCE, now=NOW)
        got = article.title if "title" in kind else article.text
        assert got == (" ".join(text.split()) if "title" in kind else text), kind
    assert html_to_text(markup) == text


def test_a_malformed_feed_is_read_with_feedparsers_sanitizer(monkeypatch) -> None:
    """feedparser's loose parser (malformed XML) re-serialises entries' markup ("AT&T" would come
    out "AT&T;") and relies on its sanitizer to undo that: such a feed is read again with the
    sanitizer, a well-formed one (even served as text/html, a bozo) only once without it."""
    import feedparser

    calls = []
    real = feedparser.parse

    def counting(body, **kwargs):
        calls.append(kwargs.get("sanitize_html"))
        return real(body, **kwargs)

    monkeypatch.setattr(feedparser, "parse", counting)
    broken = (b'<rss version="2.0"><channel><title>M</title><item><title>AT&T and R&D</title>'
              b'<link>https://member.example/a</link><description><p>AT&T, R&D &eacute; '
              b"<svg><text>x</text></svg>done</p></description></item></channel></rss>")
    reports, outcome = parse_feed_body(broken, url=FEED_URL, headers={}, source=SOURCE,
                                       feed_url=FEED_URL, max_entries=5)
    assert calls == [False, True] and any("bozo" in w for w in outcome.warnings)
    article = normalise(reports[0], SOURCE, now=NOW)
    assert article.text == "AT&T, R&D é xdone"  # without the sanitizer: "AT&T;, R&D; é done"
    calls.clear()
    fine = _feeds("<p>AT&amp;T</p>")["rss escaped"].encode()
    reports, outcome = parse_feed_body(fine, url=FEED_URL, headers={"content-type": "text/html"},
                                       source=SOURCE, feed_url=FEED_URL, max_entries=5)
    assert calls == [False] and outcome.status == "ok"
    assert normalise(reports[0], SOURCE, now=NOW).text == "AT&T"


def test_raw_title_element_in_an_rss_description_ends_its_text() -> None:
    """The one loss of reading without feedparser's sanitizer (docs/crawling.md): in raw,
    unescaped XHTML inside an RSS description, feedparser takes a ``<title>``'s end tag for the
    entry's; the unclosed title then runs to the end, which html_to_text drops."""
    body = (b'<rss version="2.0"><channel><title>M</title><item><title>T</title>'
            b"<link>https://member.example/a</link><description><p>Before <title>inner</title> "
            b"after</p></description></item></channel></rss>")
    reports, outcome = parse_feed_body(body, url=FEED_URL, headers={}, source=SOURCE,
                                       feed_url=FEED_URL, max_entries=5)
    article = normalise(reports[0], SOURCE, now=NOW)
    assert (outcome.warnings, article.title, article.text) == ([], "T", "Before")
