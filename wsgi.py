"""WSGI entry point: `gunicorn wsgi:app`."""

from consent import create_app
from consent.access import grant_windows
from consent.links import MISSING

app = create_app()
# A served site emails links to itself; they must not be built on a client's Host header.
if not (app.config.get("PUBLIC_URL") or app.config.get("DEVELOPMENT_MODE")):
    raise RuntimeError(MISSING)
# After a change of zone or majority policy the rules compile from the consents, slowly,
# until the grant windows are rebuilt: do it before serving.
with app.app_context():
    grant_windows.ensure_current_if_migrated()
