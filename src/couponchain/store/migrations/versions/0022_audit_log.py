"""audit log of write requests (issue 25)

One row per write through the API: the participant, the credential (API key or
page session) and its kind, the operation, the answer's status, and its chain
evidence (transaction hash, block, the Idempotency-Key the operation ran under).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 10:50:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True,
              nullable=False),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.Column('merchant_id', sa.String(length=32), nullable=True),
    sa.Column('participant_id', sa.String(length=32), nullable=False),
    sa.Column('role', sa.String(length=12), nullable=False),
    sa.Column('credential_id', sa.String(length=16), nullable=False),
    sa.Column('credential_kind', sa.String(length=8), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('path', sa.String(length=300), nullable=False),
    sa.Column('operation', sa.String(length=80), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('tx_hash', sa.String(length=66), nullable=True),
    sa.Column('block_number', sa.BigInteger(), nullable=True),
    sa.Column('op_key', sa.String(length=300), nullable=True),
    sa.PrimaryKeyConstraint('id'))
    for column in ('at', 'merchant_id', 'participant_id', 'tx_hash'):
        op.create_index(f'ix_audit_entries_{column}', 'audit_entries', [column])


def downgrade() -> None:
    op.drop_table('audit_entries')
