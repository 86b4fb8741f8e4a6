"""WSGI entry point: `gunicorn wsgi:app`."""

from consent import create_app
from consent.links import MISSING

app = create_app()
# A served site emails links to itself; they must not be built on a client's Host header.
if not (app.config.get("PUBLIC_URL") or app.config.get("DEVELOPMENT_MODE")):
    raise RuntimeError(MISSING)
