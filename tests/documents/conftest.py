"""Fixtures for PDF tests: a canary HTTP listener and strict asset loading."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Listener:
    """A local HTTP server that records every request it receives and serves nothing."""

    def __init__(self):
        self.requests: list[tuple[str, str]] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self):
                listener.requests.append((self.command, self.path))
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_HEAD = _record

            def log_message(self, *args):  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def hits(self) -> int:
        return len(self.requests)


@pytest.fixture
def listener():
    """A canary: any URL pointing at it that WeasyPrint fetches shows up in `requests`."""
    server = Listener()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    server.thread.join(timeout=5)


@pytest.fixture(autouse=True)
def strict_assets(app_config):
    """A missing or forbidden asset fails the render instead of being left out."""
    app_config.update(DOCUMENT_STRICT_ASSETS=True)

