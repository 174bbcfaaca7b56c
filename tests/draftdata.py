"""A small harvested store for the round-up tests (compose, render, curation, web, browser).

Africa, January 2024, as the members reported it:

| story           | members          | countries | topics             | date   |
| --------------- | ---------------- | --------- | ------------------ | ------ |
| gh-killing      | mfwa             | GH        | killing            | 10 Jan |
| gh-detention    | mfwa, cpj        | GH        | imprisonment       | 20 Jan |
| ng-shutdown     | cpj              | NG        | internet-shutdown  | 5 Jan  |
| regional        | rsf              | GH, NG    | legislation        | 12 Jan |
| joint           | mfwa, misa       | ZW        | (kind joint-statement) | 15 Jan |
| hostile         | misa             | ZW        | threats            | 25 Jan |

plus a MENA story in January and an Africa story in February that the January Africa draft must
not show. ``jfj`` is an African member that published nothing in January.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from pipeline.items import Article
from store.articles import upsert_articles
from store.models import ArticleRow, StoryRow
from store.registry_types import Source
from store.sources import sync_sources

NOW = datetime(2024, 3, 1, tzinfo=UTC)

HOSTILE_TITLE = 'Threats <script>alert("t")</script> against <img src=x onerror=alert(1)> editors'
HOSTILE_SUMMARY = ('<svg onload=alert(2)>Editors were threatened.</svg> '
                   '<a href="javascript:alert(3)">Read more</a>')

SOURCES = [
    Source(id="mfwa", name="Media Foundation for West Africa", homepage="https://mfwa.example/",
           country="GH", region="africa"),
    Source(id="misa", name="MISA Zimbabwe", homepage="https://misa.example/", country="ZW",
           region="africa"),
    Source(id="jfj", name="Journalists for Justice", homepage="https://jfj.example/",
           country="KE", region="africa"),
    Source(id="cpj", name="Committee to Protect Journalists", homepage="https://cpj.example/",
           country="US", region="americas"),
    Source(id="rsf", name="Reporters Without Borders", homepage="https://rsf.example/",
           country="FR", region="europe-central-asia"),
    Source(id="smex", name="SMEX", homepage="https://smex.example/", country="LB", region="mena"),
]


def article(source_id: str, slug: str, *, title: str, summary: str, day: int, month: int = 1,
            countries: list[str], topics: list[str], region: str = "africa",
            url: str | None = None, language: str = "en") -> Article:
    text = f"{title}. {summary} " * 4 + slug
    return Article(
        source_id=source_id,
        guid=f"{source_id}-{slug}",
        url=url or f"https://{source_id}.example/{slug}",
        title=title,
        text=text,
        summary=summary,
        published=datetime(2024, month, day, 9, 0, tzinfo=UTC),
        date_flag=None,
        raw_date=None,
        language=language,
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
        countries=countries,
        region=region,
        topics=topics,
        feed_url=f"https://{source_id}.example/feed/",
    )


def build(session: Any) -> dict[str, int]:
    """Fill ``session``'s store; return story ids by name. Commits."""
    sync_sources(session, SOURCES, now=NOW)
    shared = "https://ifex.example/gh-detention"
    batch = [
        article("mfwa", "gh-killing", title="Radio journalist shot dead in Tamale",
                summary="A radio journalist was shot dead outside his home in Tamale. Police "
                        "have opened an investigation. A third sentence that is not needed.",
                day=10, countries=["GH"], topics=["killing"]),
        article("mfwa", "gh-detention", url=shared, title="Two reporters detained in Accra",
                summary="Two reporters were detained overnight after covering a protest.",
                day=20, countries=["GH"], topics=["imprisonment"]),
        article("cpj", "gh-detention", url=shared, title="Ghana: reporters held after protest",
                summary="Police in Accra held two reporters.", day=21, countries=["GH"],
                topics=["imprisonment"]),
        article("cpj", "ng-shutdown", title="Internet cut in northern Nigeria",
                summary="Mobile internet was cut in three northern states.", day=5,
                countries=["NG"], topics=["internet-shutdown"]),
        article("rsf", "regional", title="West African cybercrime laws used against the press",
                summary="Cybercrime laws in Ghana and Nigeria are being used against reporters.",
                day=12, countries=["GH", "NG"], topics=["legislation"]),
        article("mfwa", "joint", title="Joint statement on press freedom in Zimbabwe",
                summary="Members call on the authorities to end the harassment of journalists.",
                day=15, countries=["ZW"], topics=["harassment"],
                url="https://ifex.example/joint-zw"),
        article("misa", "joint", title="Joint statement on press freedom in Zimbabwe",
                summary="Members call on the authorities to end the harassment of journalists.",
                day=15, countries=["ZW"], topics=["harassment"],
                url="https://ifex.example/joint-zw"),
        article("misa", "hostile", title=HOSTILE_TITLE, summary=HOSTILE_SUMMARY, day=25,
                countries=["ZW"], topics=["threats"]),
        article("smex", "lb-arrest", title="Blogger arrested in Beirut",
                summary="A blogger was arrested.", day=8, countries=["LB"], topics=["arrest"],
                region="mena"),
        article("mfwa", "feb", title="February story", summary="Later.", day=3, month=2,
                countries=["GH"], topics=["threats"]),
    ]
    upsert_articles(session, batch, NOW)
    ids: dict[str, int] = {}
    for guid, story_id in session.execute(select(ArticleRow.guid, ArticleRow.story_id)):
        ids.setdefault(guid.split("-", 1)[1], story_id)
    session.execute(update(StoryRow).where(StoryRow.id == ids["joint"])
                    .values(kind="joint-statement"))
    session.commit()
    return ids


class WSGIClient:
    """Calls a WSGI application in-process, keeping cookies like a browser."""

    def __init__(self, app: Any, host: str = "127.0.0.1:8080") -> None:
        self.app = app
        self.host = host
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, data: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        import io
        from urllib.parse import urlencode, urlsplit
        from wsgiref.util import setup_testing_defaults

        parts = urlsplit(path)
        body = urlencode(data or {}).encode()
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query,
            "HTTP_HOST": self.host,
            "wsgi.input": io.BytesIO(body),
            "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": "application/x-www-form-urlencoded",
        }
        if self.cookies:
            environ["HTTP_COOKIE"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for name, value in (headers or {}).items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        setup_testing_defaults(environ)
        captured: dict[str, Any] = {}

        def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
            captured["status"] = int(status.split()[0])
            captured["headers"] = response_headers

        out = b"".join(self.app(environ, start_response))
        headers_out: dict[str, str] = {}
        for name, value in captured["headers"]:
            if name.lower() == "set-cookie":
                cookie_name, _, rest = value.partition("=")
                cookie_value = rest.split(";", 1)[0]
                if "Max-Age=0" in value:
                    self.cookies.pop(cookie_name, None)
                else:
                    self.cookies[cookie_name] = cookie_value
            headers_out[name.lower()] = value
        return captured["status"], headers_out, out

    def get(self, path: str, **kw: Any) -> tuple[int, dict[str, str], bytes]:
        return self.request("GET", path, **kw)

    def post(self, path: str, data: dict[str, str], **kw: Any) -> tuple[int, dict[str, str], bytes]:
        return self.request("POST", path, data, **kw)


def csrf_of(page: bytes) -> str:
    import re

    match = re.search(rb'name="csrf" value="([^"]+)"', page)
    assert match, "no CSRF token in the page"
    return match.group(1).decode()
