"""agreements: the instant a termination with immediate effect was made

Revision ID: c5d1e7a3f902
Revises: a8e4c2d9b731
Create Date: 2026-12-04 07:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c5d1e7a3f902'
down_revision = 'a8e4c2d9b731'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.drop_column('ended_at')
