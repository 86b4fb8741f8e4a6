"""The migrations build the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from consent import create_app
from tests.conftest import engine_options


def _fresh_app(database_url, tmp_path):
    """An app on an empty database (SQLite file) or an empty PostgreSQL schema."""
    schema = None
    if database_url.startswith("postgresql"):
        schema = f"mig_{uuid.uuid4().hex[:10]}"
        engine = sa.create_engine(database_url)
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        url = database_url
    else:
        url = f"sqlite:///{tmp_path / 'migrations.sqlite'}"
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url,
                      "SQLALCHEMY_ENGINE_OPTIONS": engine_options(schema),
                      "INSTANCE_PATH": str(tmp_path / "instance")})
    return app, schema


def _drop(database_url, schema):
    if schema:
        engine = sa.create_engine(database_url)
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def test_upgrade_matches_models_and_downgrade_empties(database_url, tmp_path):
    app, schema = _fresh_app(database_url, tmp_path)
    try:
        runner = app.test_cli_runner()
        result = runner.invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
        result = runner.invoke(args=["db", "check"])
        assert result.exit_code == 0, result.output
        with app.app_context():
            from consent.extensions import db

            tables = set(sa.inspect(db.engine).get_table_names())
            assert set(db.metadata.tables) <= tables
            downgrade(revision="base")
            assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
            upgrade()
            db.engine.dispose()
    finally:
        _drop(database_url, schema)
