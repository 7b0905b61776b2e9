"""till top-ups: merchants' till limits and consumers' till credits (issue 24)

Read models of the token's `TillLimitSet` and `TillCredited` events: a
merchant's till limit as the platform last set it, and every credit a
merchant's till made to a consumer. Both are rebuilt from events.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 14:40:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('till_limits',
    sa.Column('merchant', sa.String(length=42), nullable=False),
    sa.Column('limit', sa.String(length=80), nullable=False),
    sa.Column('credited', sa.String(length=80), nullable=False),
    sa.Column('set_by', sa.String(length=42), nullable=False),
    sa.Column('block_number', sa.BigInteger(), nullable=False),
    sa.Column('tx_hash', sa.String(length=66), nullable=False),
    sa.Column('timestamp', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('merchant')
    )
    op.create_table('till_credits',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('merchant', sa.String(length=42), nullable=False),
    sa.Column('consumer', sa.String(length=42), nullable=False),
    sa.Column('operator', sa.String(length=42), nullable=False),
    sa.Column('amount', sa.String(length=80), nullable=False),
    sa.Column('remaining', sa.String(length=80), nullable=False),
    sa.Column('reference', sa.String(length=66), nullable=False),
    sa.Column('block_number', sa.BigInteger(), nullable=False),
    sa.Column('log_index', sa.Integer(), nullable=False),
    sa.Column('tx_hash', sa.String(length=66), nullable=False),
    sa.Column('timestamp', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('block_number', 'log_index')
    )
    with op.batch_alter_table('till_credits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_till_credits_consumer'), ['consumer'], unique=False)
        batch_op.create_index(batch_op.f('ix_till_credits_merchant'), ['merchant'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('till_credits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_till_credits_merchant'))
        batch_op.drop_index(batch_op.f('ix_till_credits_consumer'))
    op.drop_table('till_credits')
    op.drop_table('till_limits')
