"""consents: partial covering index of granted consents for the rules compiler

Revision ID: e9f4a1c2b7d3
Revises: c5d1e7a3f902
Create Date: 2026-12-04 09:00:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e9f4a1c2b7d3'
down_revision = 'c5d1e7a3f902'
branch_labels = None
depends_on = None

COLUMNS = ['recipient_id', 'agreement_id', 'student_id', 'purpose', 'granted_at', 'valid_from',
           'valid_through', 'ended_at', 'given_as', 'category', 'state']


def upgrade():
    granted = sa.text("state = 'granted'")
    op.create_index('ix_consents_grants', 'consents', COLUMNS, unique=False,
                    sqlite_where=granted, postgresql_where=granted)


def downgrade():
    op.drop_index('ix_consents_grants', table_name='consents')
