"""The embedded default database lets readers go on while one request writes."""

from __future__ import annotations

import sqlalchemy as sa

from consent import create_app
from consent.extensions import db


def test_sqlite_files_use_wal_foreign_keys_and_a_busy_timeout(tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path),
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'a.sqlite'}"})
    with app.app_context():
        with db.engine.connect() as conn:
            pragma = lambda name: conn.execute(sa.text(f"PRAGMA {name}")).scalar()  # noqa: E731
            assert pragma("journal_mode") == "wal"
            assert pragma("foreign_keys") == 1
            assert pragma("busy_timeout") == 10000
        db.engine.dispose()
