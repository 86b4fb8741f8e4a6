"""The migrations build the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from consent.extensions import db


def test_upgrade_matches_models_and_downgrade_empties(fresh_app):
    runner = fresh_app.test_cli_runner()
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    # `db check` fails when the models describe anything the migrations do not build.
    result = runner.invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output
    with fresh_app.app_context():
        tables = set(sa.inspect(db.engine).get_table_names())
        assert set(db.metadata.tables) <= tables
        downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert set(db.metadata.tables) <= set(sa.inspect(db.engine).get_table_names())
