"""clause library and document jobs

Revision ID: b7c41d2e9a10
Revises: 9b92f9894e4d
Create Date: 2026-12-04 03:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7c41d2e9a10'
down_revision = '9b92f9894e4d'
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

    op.create_table('document_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=200), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('time_limit_seconds', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deadline_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('page_count', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state IN ('queued', 'running', 'done', 'failed')", name=op.f('ck_document_jobs_state_valid')),
    sa.CheckConstraint('progress >= 0 AND progress <= 100', name=op.f('ck_document_jobs_progress_percent')),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreements.id'], name=op.f('fk_document_jobs_agreement_id_agreements')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_document_jobs_requested_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_document_jobs'))
    )
    with op.batch_alter_table('document_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_document_jobs_agreement_id'), ['agreement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_document_jobs_state'), ['state'], unique=False)


def downgrade():
    with op.batch_alter_table('document_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_document_jobs_state'))
        batch_op.drop_index(batch_op.f('ix_document_jobs_agreement_id'))
    op.drop_table('document_jobs')
    with op.batch_alter_table('clause_templates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clause_templates_key'))
    op.drop_table('clause_templates')
