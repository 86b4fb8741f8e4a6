"""Accordant: consent and agreement workflow engine (the Flask application)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"


class BoundedInt(IntegerConverter):
    """`<int:…>` that refuses values a 32-bit id column cannot hold (404, not 500)."""

    def __init__(self, map, *args, **kwargs):  # noqa: A002 - werkzeug's signature
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build a configured app. `overrides` wins over everything (tests, the demo)."""
    from consent import api, auth, cli, errors, extensions, security_headers, web
    from consent.config import load_config

    instance_path = (overrides or {}).get("INSTANCE_PATH") or os.environ.get(
        "ACCORDANT_INSTANCE_PATH")
    app = Flask(__name__, template_folder=str(TEMPLATES_DIR), static_folder=str(STATIC_DIR),
                instance_relative_config=True, instance_path=instance_path)
    # Ids in paths beyond what the database stores are simply not found.
    app.url_map.converters["int"] = BoundedInt
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    load_config(app, overrides)
    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO)
        # Libraries that narrate every step at INFO (each CSS sheet parsed, each state
        # entered) would bury the application's own lines.
        for chatty in ("weasyprint", "fontTools", "transitions"):
            logging.getLogger(chatty).setLevel(logging.WARNING)
    from consent import models  # noqa: F401  (register every mapper before use)
    from consent.access import grant_windows

    extensions.init_app(app)
    grant_windows.install()  # every consent written also rewrites its grant windows
    errors.register(app)
    security_headers.register(app)
    auth.init_app(app)
    web.register(app)
    api.register(app)
    cli.register(app)
    return app
