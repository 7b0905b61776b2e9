"""incentive caps: the spending cap each merchant sets for promotion incentives

Merchants used to approve the promotions contract for 2**256 - 1 tokens (the
platform did it for them on their first write-off). A merchant now sets a cap
(its approval); the chain keeps what is left, this table the figure it chose.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 03:10:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('incentive_caps',
    sa.Column('merchant', sa.String(length=42), nullable=False),
    sa.Column('cap', sa.String(length=80), nullable=False),
    sa.Column('tx_hash', sa.String(length=66), nullable=False),
    sa.Column('set_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('merchant')
    )


def downgrade() -> None:
    op.drop_table('incentive_caps')
