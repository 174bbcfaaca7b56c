"""``roundup serve``: the editors' page.

A small WSGI application on the standard library (``wsgiref``), rendered on the server with the
Jinja2 templates beside this module; the page has no JavaScript. It lists the stories of one
region and period, filters them by country, topic and member, takes the editors' decisions
(include, exclude, pin, reorder, edit headline and summary, add a note) and offers the draft in
every format.

Safety:

* every change is a POST carrying a CSRF token bound to the session cookie (HMAC-signed,
  ``HttpOnly``, ``SameSite=Strict``); a POST whose ``Origin`` names another site is refused too;
* the login comes from configuration (:func:`load_config`): ``ROUNDUP_WEB_USER`` with
  ``ROUNDUP_WEB_PASSWORD`` or ``ROUNDUP_WEB_PASSWORD_HASH`` (see :func:`hash_password`), or a
  ``[web]`` table in the file given by ``--config`` / ``ROUNDUP_WEB_CONFIG``. Without a login the
  server binds to loopback only, and refuses any other address;
* every response forbids scripts, frames and foreign form targets (Content-Security-Policy), and
  every feed-derived string goes through Jinja2's autoescape.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import secrets
import sys
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from roundups.compose import REGIONS, Draft, DraftStory, Period, compose
from roundups.errors import ConfigError, UsageError
from roundups.render import MEDIA_TYPES, filename, render, template

log = logging.getLogger(__name__)

COOKIE = "roundup_session"
SESSION_SECONDS = 12 * 3600
MAX_FORM_BYTES = 64 * 1024
SECURITY_HEADERS = [
    ("Content-Security-Policy",
     "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
     "frame-ancestors 'none'; base-uri 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
]
ACTIONS = ("include", "exclude", "pin", "reset", "up", "down", "edit")

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


# --- configuration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class WebConfig:
    user: str | None = None
    password: str | None = None  # plain, from the environment; compared in constant time
    password_hash: str | None = None  # pbkdf2_sha256$ITERATIONS$SALT$HASH
    secret: bytes = b""

    @property
    def login_required(self) -> bool:
        return bool(self.user and (self.password or self.password_hash))

    def check(self, user: str, password: str) -> bool:
        if not self.login_required:
            return False
        user_ok = hmac.compare_digest(user.encode(), (self.user or "").encode())
        if self.password_hash:
            pass_ok = check_password(password, self.password_hash)
        else:
            pass_ok = hmac.compare_digest(password.encode(), (self.password or "").encode())
        return user_ok and pass_ok


def hash_password(password: str, *, salt: str | None = None, iterations: int = 310_000) -> str:
    """A value for ``ROUNDUP_WEB_PASSWORD_HASH`` / ``password_hash``."""
    salt = salt or secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        algorithm, iterations, salt, expected = stored.split("$")
        if algorithm != "pbkdf2_sha256":
            return False
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(digest.hex(), expected)


def load_config(path: Path | None = None, environ: dict[str, str] | None = None) -> WebConfig:
    """The web login and secret: the ``[web]`` table of ``path`` (or ``$ROUNDUP_WEB_CONFIG``),
    overridden by ``ROUNDUP_WEB_USER`` / ``_PASSWORD`` / ``_PASSWORD_HASH`` / ``_SECRET``."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = path or (Path(env["ROUNDUP_WEB_CONFIG"]) if env.get("ROUNDUP_WEB_CONFIG") else None)
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        table = data.get("web", {})
        unknown = set(table) - {"user", "password", "password_hash", "secret"}
        if not isinstance(table, dict) or unknown:
            raise ConfigError(f"{path}: [web]: unknown key(s) {', '.join(sorted(unknown))}")
        values.update({k: str(v) for k, v in table.items()})
    for key in ("user", "password", "password_hash", "secret"):
        if env.get(f"ROUNDUP_WEB_{key.upper()}"):
            values[key] = env[f"ROUNDUP_WEB_{key.upper()}"]
    if values.get("user") and not (values.get("password") or values.get("password_hash")):
        raise ConfigError("web login: a user is configured without a password or password_hash")
    secret = values.get("secret")
    return WebConfig(
        user=values.get("user"),
        password=values.get("password"),
        password_hash=values.get("password_hash"),
        # Without a configured secret, sessions last as long as the process.
        secret=secret.encode() if secret else secrets.token_bytes(32),
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# --- sessions ----------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sessions:
    """Signed cookie sessions: ``{"user", "csrf", "exp"}``; nothing is kept on the server."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    def dump(self, data: dict[str, Any]) -> str:
        payload = _b64(json.dumps(data, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}"

    def load(self, cookie: str | None) -> dict[str, Any] | None:
        if not cookie or "." not in cookie:
            return None
        payload, _, signature = cookie.partition(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("exp", 0) < time.time():
            return None
        return data

    def new(self, user: str | None = None) -> dict[str, Any]:
        return {"user": user, "csrf": secrets.token_urlsafe(32),
                "exp": int(time.time()) + SESSION_SECONDS}


def _cookie_value(environ: Environ) -> str | None:
    from http.cookies import CookieError, SimpleCookie

    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(environ.get("HTTP_COOKIE", ""))
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel else None


# --- the application ---------------------------------------------------------------------------


class HTTPError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Request:
    environ: Environ
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    session: dict[str, Any]
    new_cookie: bool


@dataclass
class Filters:
    country: str = ""
    topic: str = ""
    source: str = ""

    def match(self, story: DraftStory) -> bool:
        return ((not self.country or self.country in story.countries)
                and (not self.topic or self.topic in story.topics)
                and (not self.source or any(s.source == self.source for s in story.sources)))

    def params(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v}


class EditorsApp:
    """The WSGI application. ``session_factory`` is a SQLAlchemy ``sessionmaker``."""

    def __init__(self, session_factory: Any, config: WebConfig | None = None,
                 *, today: Callable[[], datetime] | None = None) -> None:
        self.factory = session_factory
        self.config = config or WebConfig(secret=secrets.token_bytes(32))
        self.sessions = Sessions(self.config.secret)
        self.today = today or (lambda: datetime.now(UTC))

    # WSGI entry point
    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        try:
            request = self._request(environ)
        except HTTPError as exc:
            return self._error(start_response, exc, None)
        try:
            status, headers, body = self._dispatch(request)
        except HTTPError as exc:
            return self._error(start_response, exc, request)
        except UsageError as exc:
            return self._error(start_response, HTTPError(HTTPStatus.BAD_REQUEST, str(exc)), request)
        except Exception:  # noqa: BLE001 - log it, never show a traceback to the browser
            log.exception("editors' page: %s %s failed", request.method, request.path)
            error = HTTPError(HTTPStatus.INTERNAL_SERVER_ERROR, "Something went wrong.")
            return self._error(start_response, error, request)
        return self._respond(start_response, status, headers, body, request)

    # plumbing
    def _request(self, environ: Environ) -> Request:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""),
                                              max_num_fields=50).items()}
        form: dict[str, str] = {}
        if method == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > MAX_FORM_BYTES:
                raise HTTPError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Form too large.")
            raw = environ["wsgi.input"].read(length) if length > 0 else b""
            try:
                parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=True,
                                  max_num_fields=50)
            except (UnicodeDecodeError, ValueError) as exc:
                raise HTTPError(HTTPStatus.BAD_REQUEST, "Unreadable form.") from exc
            form = {k: v[0] for k, v in parsed.items()}
        session = self.sessions.load(_cookie_value(environ))
        new_cookie = session is None
        if session is None:
            session = self.sessions.new()
        return Request(environ, method, environ.get("PATH_INFO", "/") or "/", query, form,
                       session, new_cookie)

    def _headers(self, request: Request | None) -> list[tuple[str, str]]:
        headers = list(SECURITY_HEADERS)
        if request is not None and request.new_cookie:
            headers.append(("Set-Cookie", self._set_cookie(request.session)))
        return headers

    def _set_cookie(self, session: dict[str, Any]) -> str:
        return (f"{COOKIE}={self.sessions.dump(session)}; Path=/; HttpOnly; SameSite=Strict; "
                f"Max-Age={SESSION_SECONDS}")

    def _respond(self, start_response: StartResponse, status: HTTPStatus,
                 headers: list[tuple[str, str]], body: bytes,
                 request: Request) -> Iterable[bytes]:
        all_headers = self._headers(request) + headers
        all_headers.append(("Content-Length", str(len(body))))
        start_response(f"{status.value} {status.phrase}", all_headers)
        return [body]

    def _error(self, start_response: StartResponse, exc: HTTPError,
               request: Request | None) -> Iterable[bytes]:
        body = self._page("web_error.html", request, status=exc.status, message=exc.message)
        headers = self._headers(request) + [("Content-Type", "text/html; charset=utf-8"),
                                            ("Content-Length", str(len(body)))]
        start_response(f"{exc.status.value} {exc.status.phrase}", headers)
        return [body]

    def _page(self, name: str, request: Request | None, **context: Any) -> bytes:
        user = request.session.get("user") if request else None
        csrf = request.session["csrf"] if request else ""
        html = template(name).render(regions=REGIONS, user=user, csrf=csrf,
                                     login_required=self.config.login_required, **context)
        return str(html).encode("utf-8")

    def _html(self, name: str, request: Request, **context: Any) -> tuple[
            HTTPStatus, list[tuple[str, str]], bytes]:
        return (HTTPStatus.OK, [("Content-Type", "text/html; charset=utf-8")],
                self._page(name, request, **context))

    @staticmethod
    def _redirect(location: str, *extra: tuple[str, str]) -> tuple[
            HTTPStatus, list[tuple[str, str]], bytes]:
        return HTTPStatus.SEE_OTHER, [("Location", location), *extra], b""

    def _check_csrf(self, request: Request) -> None:
        token = request.form.get("csrf", "")
        if not token or not hmac.compare_digest(token, str(request.session.get("csrf", ""))):
            raise HTTPError(HTTPStatus.FORBIDDEN, "The form expired or did not come from this "
                                                  "page; reload the page and try again.")
        origin = request.environ.get("HTTP_ORIGIN")
        host = request.environ.get("HTTP_HOST", "")
        if origin and origin != "null" and urlsplit(origin).netloc != host:
            raise HTTPError(HTTPStatus.FORBIDDEN, "Cross-site form refused.")

    def _dispatch(self, request: Request) -> tuple[HTTPStatus, list[tuple[str, str]], bytes]:
        routes: dict[str, dict[str, Callable[[Request], Any]]] = {
            "/": {"GET": self.index},
            "/login": {"GET": self.login_form, "POST": self.login},
            "/logout": {"POST": self.logout},
            "/roundup": {"GET": self.roundup},
            "/curate": {"POST": self.curate},
            "/download": {"GET": self.download},
        }
        handlers = routes.get(request.path)
        if handlers is None:
            raise HTTPError(HTTPStatus.NOT_FOUND, "No such page.")
        handler = handlers.get(request.method)
        if handler is None:
            raise HTTPError(HTTPStatus.METHOD_NOT_ALLOWED, "Method not allowed.")
        if request.method == "POST":
            self._check_csrf(request)
        if (self.config.login_required and request.path != "/login"
                and not request.session.get("user")):
            if request.method == "GET":
                target = request.path + ("?" + request.environ["QUERY_STRING"]
                                         if request.environ.get("QUERY_STRING") else "")
                return self._redirect("/login?" + urlencode({"next": target}))
            raise HTTPError(HTTPStatus.FORBIDDEN, "Log in first.")
        result: tuple[HTTPStatus, list[tuple[str, str]], bytes] = handler(request)
        return result

    # pages
    def _selection(self, params: dict[str, str]) -> tuple[str, Period]:
        region = params.get("region") or next(iter(REGIONS))
        if region not in REGIONS:
            raise HTTPError(HTTPStatus.BAD_REQUEST, "Unknown region.")
        label = params.get("period") or params.get("month") or f"{self.today():%Y-%m}"
        return region, Period.parse(label)

    def index(self, request: Request) -> Any:
        region, period = self._selection(request.query)
        return self._redirect("/roundup?" + urlencode({"region": region, "period": period.label}))

    def login_form(self, request: Request, error: str = "") -> Any:
        if not self.config.login_required:
            return self._redirect("/")
        return self._html("web_login.html", request, error=error,
                          next=_local_path(request.query.get("next", "/")))

    def login(self, request: Request) -> Any:
        if not self.config.login_required:
            return self._redirect("/")
        if not self.config.check(request.form.get("user", ""), request.form.get("password", "")):
            time.sleep(0.5)  # slows guessing; the login is for a handful of editors
            status, headers, body = self.login_form(request, error="Wrong user or password.")
            return HTTPStatus.UNAUTHORIZED, headers, body
        fresh = self.sessions.new(user=self.config.user)  # new token after login
        return self._redirect(_local_path(request.form.get("next", "/")),
                              ("Set-Cookie", self._set_cookie(fresh)))

    def logout(self, request: Request) -> Any:
        return self._redirect("/login" if self.config.login_required else "/",
                              ("Set-Cookie", f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; "
                                             "SameSite=Strict"))

    def _draft(self, region: str, period: Period) -> Draft:
        with self.factory() as session:
            return compose(session, region, period)

    def roundup(self, request: Request) -> Any:
        region, period = self._selection(request.query)
        filters = Filters(request.query.get("country", ""), request.query.get("topic", ""),
                          request.query.get("source", ""))
        draft = self._draft(region, period)
        everything = draft.stories + draft.excluded
        countries = sorted({c for s in everything for c in s.countries})
        from roundups.coverage import country_name

        options = {
            "country": [(c, country_name(c)) for c in countries],
            "topic": [(t, t) for t in sorted({t for s in everything for t in s.topics})],
            "source": sorted({(x.source, x.name) for s in everything for x in s.sources},
                             key=lambda item: (item[1].casefold(), item[0])),
        }
        sections = [(section, [s for s in section.stories if filters.match(s)])
                    for section in draft.sections]
        here = {"region": region, "period": period.label, **filters.params()}
        return self._html(
            "web_roundup.html", request, draft=draft, period=period, region=region,
            sections=[(sec, stories) for sec, stories in sections if stories],
            excluded=[s for s in draft.excluded if filters.match(s)],
            filters=filters, options=options, here=here, here_query=urlencode(here),
            formats=list(MEDIA_TYPES),
            download_query={fmt: urlencode({"region": region, "period": period.label,
                                            "format": fmt}) for fmt in MEDIA_TYPES},
            shown=sum(len(stories) for _, stories in sections),
        )

    def curate(self, request: Request) -> Any:
        from store.curation import clear_curation, roundup_key, update_curation
        from store.db import run_transaction
        from store.models import StoryRow

        form = request.form
        region, period = self._selection(form)
        action = form.get("action", "")
        if action not in ACTIONS:
            raise HTTPError(HTTPStatus.BAD_REQUEST, "Unknown action.")
        try:
            story_id = int(form.get("story", ""))
        except ValueError as exc:
            raise HTTPError(HTTPStatus.BAD_REQUEST, "Which story?") from exc
        key = roundup_key(region, period.label)
        order: list[int] = []
        if action in ("up", "down"):
            draft = self._draft(region, period)
            for section in draft.sections:
                ids = [s.id for s in section.stories]
                if story_id in ids:
                    order = ids
            if story_id not in order:
                raise HTTPError(HTTPStatus.BAD_REQUEST, "That story is not in the draft.")

        def work(session: Any) -> None:
            if session.get(StoryRow, story_id) is None:
                raise HTTPError(HTTPStatus.NOT_FOUND, "No such story.")
            if action == "reset":
                clear_curation(session, story_id, key)
            elif action in ("include", "exclude", "pin"):
                update_curation(session, story_id, key, decision=action)
            elif action == "edit":
                position = form.get("position", "").strip()
                update_curation(
                    session, story_id, key,
                    headline=form.get("headline", "").strip()[:500],
                    summary=form.get("summary", "").strip()[:2000],
                    note=form.get("note", "").strip()[:2000],
                    position=int(position) if position.isdigit() else None,
                )
            else:
                i = order.index(story_id)
                j = i - 1 if action == "up" else i + 1
                if 0 <= j < len(order):
                    order[i], order[j] = order[j], order[i]
                for n, sid in enumerate(order, 1):
                    update_curation(session, sid, key, position=n)

        run_transaction(self.factory, work, where="saving an editor's decision")
        back = {"region": region, "period": period.label}
        back.update({k: form[k] for k in ("country", "topic", "source") if form.get(k)})
        return self._redirect(f"/roundup?{urlencode(back)}#story-{story_id}")

    def download(self, request: Request) -> Any:
        region, period = self._selection(request.query)
        fmt = request.query.get("format", "md")
        if fmt not in MEDIA_TYPES:
            raise HTTPError(HTTPStatus.BAD_REQUEST, "Unknown format.")
        draft = self._draft(region, period)
        return (HTTPStatus.OK,
                [("Content-Type", MEDIA_TYPES[fmt][0]),
                 ("Content-Disposition", f'attachment; filename="{filename(draft, fmt)}"')],
                render(draft, fmt))


def _local_path(target: str) -> str:
    """``target`` if it is a path on this site, else ``/`` (no open redirect after login)."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return "/"
    return target


# --- serving -----------------------------------------------------------------------------------


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base signature
        log.info("%s %s", self.address_string(), format % args)


def make_app(db_url: str, config: WebConfig) -> EditorsApp:
    from store.db import open_db

    _, factory = open_db(db_url)
    return EditorsApp(factory, config)


def check_bind(host: str, config: WebConfig) -> None:
    """Refuse an address beyond loopback when no login is configured."""
    if not is_loopback(host) and not config.login_required:
        raise ConfigError(
            f"refusing to serve on {host}: beyond loopback the editors' page needs a login "
            "(set ROUNDUP_WEB_USER and ROUNDUP_WEB_PASSWORD_HASH, or a [web] table in --config)"
        )


def build_server(app: EditorsApp, host: str, port: int) -> WSGIServer:
    """A threaded WSGI server for ``app``; refuses a non-loopback address without a login."""
    check_bind(host, app.config)
    return make_server(host, port, app, server_class=_ThreadingServer,
                       handler_class=_QuietHandler)


def serve(db_url: str, *, host: str = "127.0.0.1", port: int = 8080,
          config: Path | None = None) -> int:
    from store.db import close_sessions

    web_config = load_config(config)
    check_bind(host, web_config)
    app = make_app(db_url, web_config)
    server = build_server(app, host, port)
    shown = f"[{host}]" if ":" in host else host
    print(f"roundup serve: editors' page at http://{shown}:{server.server_port}/ "
          f"({'login required' if web_config.login_required else 'no login: loopback only'})",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        close_sessions(app.factory)  # the store's pooled connections
    return 0
