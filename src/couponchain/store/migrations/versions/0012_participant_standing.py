"""participant standing and capability pauses (issue 23)

The registry now suspends, reinstates and unbinds participants and pauses
capability contracts, each with a reason in its event. The read model of the
registry keeps each participant's standing and the last reason given;
`capability_pauses` keeps each capability contract's pause switch.
`platform_rotations` holds the custodial key of a proposed next platform
account until it accepts.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 03:15:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('participant_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('status_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('status_by', sa.String(length=42), nullable=True))
        batch_op.add_column(sa.Column('status_block', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('status_tx', sa.String(length=66), nullable=True))
    op.create_table('capability_pauses',
    sa.Column('address', sa.String(length=42), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('by', sa.String(length=42), nullable=False),
    sa.Column('block_number', sa.BigInteger(), nullable=False),
    sa.Column('tx_hash', sa.String(length=66), nullable=False),
    sa.PrimaryKeyConstraint('address')
    )
    op.create_table('platform_rotations',
    sa.Column('candidate', sa.String(length=42), nullable=False),
    sa.Column('encrypted_key', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('candidate')
    )


def downgrade() -> None:
    op.drop_table('platform_rotations')
    op.drop_table('capability_pauses')
    with op.batch_alter_table('participant_records', schema=None) as batch_op:
        for column in ('status_tx', 'status_block', 'status_by', 'status_reason', 'status'):
            batch_op.drop_column(column)
