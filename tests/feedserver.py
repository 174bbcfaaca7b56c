"""A raw HTTP server on 127.0.0.1 for transport-level bad inputs.

pytest-httpserver covers well-behaved responses; this one can do what real broken servers do:
close the connection mid-body, stall after the headers, answer with arbitrary bytes. Each route is
a function ``(request_headers: dict[str, str]) -> Reply``; every request is recorded.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_length: bool = True  # False: no Content-Length, close the connection at the end
    truncate_at: int | None = None  # send only this many body bytes, then close
    stall: float = 0.0  # seconds to wait after the headers before sending the body


Route = Callable[[dict[str, str]], Reply]

REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 304: "Not Modified",
           404: "Not Found", 410: "Gone", 429: "Too Many Requests", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable"}


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, reply: Reply | Route) -> None:
        self.routes[path] = reply if callable(reply) else (lambda _h, r=reply: r)

    def hits(self, path: str) -> list[dict[str, str]]:
        return [h for p, h in self.requests if p == path]

    def close(self) -> None:
        self._stop.set()
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            pass
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            path = head[0].split(" ")[1]
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            self.requests.append((path, headers))
            route = self.routes.get(path)
            reply = route(headers) if route else Reply(404, b"not found")
            self._send(conn, reply)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _send(self, conn: socket.socket, reply: Reply) -> None:
        lines = [f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Status')}"]
        headers = {"Connection": "close", **reply.headers}
        if reply.content_length and reply.truncate_at is None and reply.status != 304:
            headers["Content-Length"] = str(len(reply.body))
        lines += [f"{k}: {v}" for k, v in headers.items()]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if reply.stall:
            time.sleep(reply.stall)
        if reply.status == 304:
            return
        body = reply.body if reply.truncate_at is None else reply.body[: reply.truncate_at]
        conn.sendall(body)
