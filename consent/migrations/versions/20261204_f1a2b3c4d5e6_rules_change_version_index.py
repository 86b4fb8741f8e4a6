"""rules changes: index (recipient_id, id) for the newest version per recipient

Revision ID: f1a2b3c4d5e6
Revises: d3c7e1f0a5b2
Create Date: 2026-12-04 06:20:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'f1a2b3c4d5e6'
down_revision = 'd3c7e1f0a5b2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('rules_changes', schema=None) as batch_op:
        batch_op.create_index('ix_rules_changes_recipient_version', ['recipient_id', 'id'],
                              unique=False)
        batch_op.drop_index(batch_op.f('ix_rules_changes_recipient_id'))


def downgrade():
    with op.batch_alter_table('rules_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rules_changes_recipient_id'), ['recipient_id'],
                              unique=False)
        batch_op.drop_index('ix_rules_changes_recipient_version')
