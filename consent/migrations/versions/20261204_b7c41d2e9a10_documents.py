"""clause library

Revision ID: b7c41d2e9a10
Revises: e4d7bbcd8f70
Create Date: 2026-12-04 03:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7c41d2e9a10'
down_revision = 'e4d7bbcd8f70'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('clause_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('heading', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('retired', sa.Boolean(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('version >= 1', name=op.f('ck_clause_templates_version_positive')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_clause_templates_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clause_templates')),
    sa.UniqueConstraint('key', 'version', name=op.f('uq_clause_templates_key_version'))
    )
    with op.batch_alter_table('clause_templates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clause_templates_key'), ['key'], unique=False)


def downgrade():
    with op.batch_alter_table('clause_templates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clause_templates_key'))
    op.drop_table('clause_templates')
