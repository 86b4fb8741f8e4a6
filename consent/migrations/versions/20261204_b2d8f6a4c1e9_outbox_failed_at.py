"""outbox messages: failed_at, when delivery was given up

Revision ID: b2d8f6a4c1e9
Revises: e9f4a1c2b7d3
Create Date: 2026-12-04 09:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b2d8f6a4c1e9'
down_revision = 'e9f4a1c2b7d3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_column('failed_at')
