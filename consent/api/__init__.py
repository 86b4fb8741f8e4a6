"""The JSON API under /api/v1. Authenticated by bearer tokens only, so no CSRF."""

from flask import Blueprint, Flask

from consent.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def register(app: Flask) -> None:
    """Register the API blueprint."""
    from consent.api import routes  # noqa: F401  (attaches the views to `bp`)
    from consent.api.rules import well_known

    csrf.exempt(bp)
    app.register_blueprint(bp)
    app.register_blueprint(well_known)
