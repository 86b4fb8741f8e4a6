"""Fixtures: an app on a SQLite file by default, or on PostgreSQL in a throwaway
schema when DATABASE_URL is set (the schema is dropped at the end of the run)."""

from __future__ import annotations

import os
import threading
import uuid

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from consent import create_app
from consent.access import grant_windows
from consent.config import normalise_db_url
from consent.extensions import db as _db
from tests.factories import DISTRICT_ZONE, Factory

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url = os.environ.get("DATABASE_URL")
    if not url:  # a file, not :memory:, so that separate connections really are separate
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"
    return normalise_db_url(url)


@pytest.fixture(scope="session")
def pg_schema(database_url):
    """A throwaway schema, so tests never touch tables already in DATABASE_URL."""
    if not database_url.startswith("postgresql"):
        yield None
        return
    schema = f"test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield schema
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def engine_options(pg_schema):
    return {"connect_args": {"options": f"-csearch_path={pg_schema}"}} if pg_schema else {}


@pytest.fixture(scope="session")
def schema_ready(database_url, pg_schema, tmp_path_factory):
    """Create every table once per run; tests empty them afterwards."""
    app = create_app(test_config(database_url, pg_schema, tmp_path_factory.mktemp("instance")))
    with app.app_context():
        _db.create_all()
        _db.engine.dispose()
    return True


def test_config(database_url, pg_schema, instance_path, **extra):
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SESSION_PROTECTION": None,
        "WTF_CSRF_ENABLED": False,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(pg_schema),
        "INSTANCE_PATH": str(instance_path),
        "DISTRICT_TIMEZONE": DISTRICT_ZONE,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": 1,  # nothing listens: a test that sends mail starts its own server
    }
    config.update(extra)
    return config


def _empty_all_tables():
    tables = list(reversed(_db.metadata.sorted_tables))
    with _db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())
            if conn.execute(sa.text(
                "SELECT name FROM sqlite_master WHERE name='sqlite_sequence'")).first():
                conn.execute(sa.text("DELETE FROM sqlite_sequence"))


@pytest.fixture
def app_config(database_url, pg_schema, tmp_path):
    """The config the `app` fixture uses; override keys with `app_config.update(...)`."""
    return test_config(database_url, pg_schema, tmp_path / "instance")


@pytest.fixture
def app(schema_ready, app_config):
    app = create_app(app_config)
    with app.app_context(), _db.engine.begin() as connection:
        # As `db upgrade` and the web app's start do: grant windows of this config.
        grant_windows.ensure_current(connection)
    yield app
    with app.app_context():
        _db.session.remove()  # an open session would block TRUNCATE on PostgreSQL
        _empty_all_tables()
        _db.engine.dispose()


@pytest.fixture
def db(app, app_config):
    """The database, for tests to read and write directly.

    It runs in the context of a second app on the same database: if it shared the
    served app's context, every test request would reuse that context (and its
    `g` and session), which hides bugs that real separate requests would show.
    """
    data_app = create_app(app_config)
    with data_app.app_context():
        yield _db
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make(db):
    """Factories for rows, committed: make.org(), make.user(), make.student(), ..."""
    return Factory(db, PASSWORD)


@pytest.fixture
def login(app):
    """login(user) -> a test client signed in through the real sign-in form."""

    def do_login(user, password=PASSWORD):
        c = app.test_client()
        response = c.post("/auth/login", data={"email": user.email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        return c

    return do_login


@pytest.fixture
def fresh_app(database_url, tmp_path):
    """An app on an empty database with no tables: a new SQLite file, or a new
    PostgreSQL schema dropped afterwards. For tests of migrations and the demo."""
    schema, url = None, database_url
    if database_url.startswith("postgresql"):
        schema = f"fresh_{uuid.uuid4().hex[:10]}"
        engine = sa.create_engine(database_url)
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
    else:
        url = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    app = create_app(test_config(url, schema, tmp_path / "fresh-instance"))
    yield app
    with app.app_context():
        _db.session.remove()
        _db.engine.dispose()
    if schema:
        engine = sa.create_engine(database_url)
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def live_server(app):
    """The base URL ("http://127.0.0.1:PORT") of `app` served on a free port by a real
    HTTP server, for the browser and the enforcer."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
