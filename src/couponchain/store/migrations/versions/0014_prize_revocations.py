"""prize award revocations with their reason (issue 23)

The prizes contract's `AwardRevoked` event carries no reason, so the reason a
merchant gives for revoking an award is kept off chain in `prize_revocations`,
one row per award, written before the chain call.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 04:10:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('prize_revocations',
    sa.Column('award_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('campaign_id', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('revoked_by', sa.String(length=32), nullable=False),
    sa.Column('requested_at', sa.BigInteger(), nullable=False),
    sa.Column('tx_hash', sa.String(length=66), nullable=True),
    sa.PrimaryKeyConstraint('award_id')
    )
    op.create_index(op.f('ix_prize_revocations_campaign_id'), 'prize_revocations',
                    ['campaign_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_prize_revocations_campaign_id'), table_name='prize_revocations')
    op.drop_table('prize_revocations')
