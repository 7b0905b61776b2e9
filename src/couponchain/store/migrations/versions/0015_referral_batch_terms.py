"""rebate terms per referral batch (issue 27)

The originator now sets each batch's promoter share (with its rebate ratio)
when opening it, within bounds the platform sets on chain; the read model of
a batch carries it. Batches opened before this had the contract's former
fixed share (2,000 bps) from batch 2 on; batch 1 has no rebate.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 07:00:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('referral_batches') as batch:
        batch.add_column(sa.Column('promoter_share_bps', sa.Integer(), nullable=False,
                                   server_default='0'))
    op.execute("UPDATE referral_batches SET promoter_share_bps = 2000 WHERE batch > 1")


def downgrade() -> None:
    with op.batch_alter_table('referral_batches') as batch:
        batch.drop_column('promoter_share_bps')
