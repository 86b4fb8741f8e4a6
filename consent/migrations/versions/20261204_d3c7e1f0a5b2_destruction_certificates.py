"""certificates of destruction

Revision ID: d3c7e1f0a5b2
Revises: b7c41d2e9a10
Create Date: 2026-12-04 04:15:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd3c7e1f0a5b2'
down_revision = 'b7c41d2e9a10'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('destruction_certificates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('recipient_id', sa.Integer(), nullable=False),
    sa.Column('certified_by_id', sa.Integer(), nullable=True),
    sa.Column('certified_by_label', sa.String(length=300), nullable=False),
    sa.Column('destroyed_on', sa.Date(), nullable=False),
    sa.Column('method', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ip_address', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreements.id'], name=op.f('fk_destruction_certificates_agreement_id_agreements')),
    sa.ForeignKeyConstraint(['certified_by_id'], ['users.id'], name=op.f('fk_destruction_certificates_certified_by_id_users')),
    sa.ForeignKeyConstraint(['recipient_id'], ['organizations.id'], name=op.f('fk_destruction_certificates_recipient_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_destruction_certificates')),
    sa.UniqueConstraint('agreement_id', 'recipient_id', name=op.f('uq_destruction_certificates_agreement_id_recipient_id'))
    )
    with op.batch_alter_table('destruction_certificates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_destruction_certificates_agreement_id'), ['agreement_id'], unique=False)


def downgrade():
    with op.batch_alter_table('destruction_certificates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_destruction_certificates_agreement_id'))

    op.drop_table('destruction_certificates')
