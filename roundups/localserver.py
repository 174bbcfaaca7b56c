"""A static file server on loopback, for the offline demo and the benchmarks.

Serves a folder on 127.0.0.1 at a free port in a background thread, with Last-Modified and
If-Modified-Since (304) like a member's web server, and quiet logs.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class _QuietHandler(SimpleHTTPRequestHandler):
    # Keep-alive, as a member's web server does: without it every request of a crawl pays a new
    # TCP connection (SimpleHTTPRequestHandler always sends Content-Length, which HTTP/1.1 needs).
    protocol_version = "HTTP/1.1"
    # The handler writes the headers and then the body in two sends. With Nagle's algorithm on,
    # the body waits for the client to acknowledge the headers, and the client delays that ACK
    # (40 ms on Linux): every response of a keep-alive connection took ~40 ms more. A member's web
    # server (nginx: one writev or sendfile, TCP_NODELAY on keep-alive connections) does not.
    disable_nagle_algorithm = True
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".xml": "application/xml",
        ".rss": "application/rss+xml",
        ".atom": "application/atom+xml",
        ".rdf": "application/rdf+xml",
        ".html": "text/html; charset=utf-8",
    }

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


class _Server(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: a crawl's 16 concurrent connections overflow
    # it, the kernel drops SYNs and each dropped one costs the client a 1 s retransmit. A
    # member's web server (nginx: 511) does not do that.
    request_queue_size = 128


@contextmanager
def serve_directory(root: Path, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``root``; yields the base URL (``http://127.0.0.1:PORT``)."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = _Server((host, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="roundup-local-server", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
