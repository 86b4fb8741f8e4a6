"""Enforcer fixtures: the scenario of tests/enforcer/helpers.py and a live server."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from tests.enforcer.helpers import Scenario, build_scenario


@pytest.fixture
def scenario(client, make) -> Scenario:
    return build_scenario(client, make)


@pytest.fixture
def live_server(app):
    """The base URL of `app` served on a free port, for the enforcer's real HTTP calls."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="enforcer-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
