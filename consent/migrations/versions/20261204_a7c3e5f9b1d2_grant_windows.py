"""grant windows: granted consents worked out ahead for the rules compiler

Revision ID: a7c3e5f9b1d2
Revises: b2d8f6a4c1e9
Create Date: 2026-12-04 12:00:00

The rows are written after the migrations by `env.py` (`grant_windows.ensure_current`):
they depend on the running app's zone and majority policy.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7c3e5f9b1d2'
down_revision = 'b2d8f6a4c1e9'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'grant_windows',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('recipient_id', sa.Integer(), nullable=False),
        sa.Column('agreement_id', sa.Integer(), nullable=False),
        sa.Column('student_id', sa.Integer(), nullable=False),
        sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('first_consent_id', sa.Integer(), nullable=False),
        sa.Column('terms', sa.String(length=1000), nullable=False),
        sa.ForeignKeyConstraint(['agreement_id'], ['agreements.id'],
                                name=op.f('fk_grant_windows_agreement_id_agreements')),
        sa.ForeignKeyConstraint(['recipient_id'], ['organizations.id'],
                                name=op.f('fk_grant_windows_recipient_id_organizations')),
        sa.ForeignKeyConstraint(['student_id'], ['students.id'],
                                name=op.f('fk_grant_windows_student_id_students')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_grant_windows')),
    )
    op.create_index('ix_grant_windows_read', 'grant_windows',
                    ['recipient_id', 'agreement_id', 'student_id', 'starts_at',
                     'first_consent_id', 'terms'], unique=False)
    op.create_index(op.f('ix_grant_windows_student_id'), 'grant_windows', ['student_id'],
                    unique=False)
    op.create_table(
        'grant_window_basis',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('basis', sa.String(length=200), nullable=False),
        sa.Column('built_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_grant_window_basis')),
    )


def downgrade():
    op.drop_table('grant_window_basis')
    op.drop_index(op.f('ix_grant_windows_student_id'), table_name='grant_windows')
    op.drop_index('ix_grant_windows_read', table_name='grant_windows')
    op.drop_table('grant_windows')
