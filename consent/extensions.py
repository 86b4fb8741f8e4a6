"""Flask extensions, created unbound and bound to an app in `init_app`."""

from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def _render_item(type_, obj, _autogen_context):
    # Migrations spell our UTC column type as the plain column type it stores, so
    # they never import application code.
    if type_ == "type" and getattr(obj, "__visit_name__", "") == "type_decorator":
        return f"sa.{obj.impl.__class__.__name__}(timezone=True)"
    return False


db = SQLAlchemy(model_class=Base)
migrate = Migrate(directory=str(MIGRATIONS_DIR), render_as_batch=True, compare_type=True,
                  render_item=_render_item)
login_manager = LoginManager()
csrf = CSRFProtect()


def _sqlite_pragmas(dbapi_connection, _record):
    # SQLite enforces foreign keys only when asked, per connection; WAL lets readers
    # proceed while the scheduler writes.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")  # kept in the file; ignored in memory
    cursor.close()


def init_app(app: Flask) -> None:
    """Bind every extension to `app`."""
    app.session_interface = SessionInterface()
    db.init_app(app)
    migrate.init_app(app, db)
    login_manager.init_app(app)
    csrf.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            sa.event.listen(db.engine, "connect", _sqlite_pragmas)


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer built once per key
    set instead of twice per request (it is pure configuration)."""

    def get_signing_serializer(self, app: Flask):
        """The serializer for the app's current secret key and fallbacks."""
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached = app.extensions.get("accordant_session_serializer")
        if cached is None or cached[0] != keys:
            cached = (keys, super().get_signing_serializer(app))
            app.extensions["accordant_session_serializer"] = cached
        return cached[1]
