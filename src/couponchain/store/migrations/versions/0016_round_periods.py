"""promotion rounds record their evaluation period and measured-inputs hash (issue 27)

`RoundOpened` now carries the period's block range and the hash of the inputs
measured from the ledger over it (zero for a round with declared inputs
only); the read model keeps them (null for rounds opened before).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 07:05:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('promotion_rounds') as batch:
        batch.add_column(sa.Column('period_from', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('period_to', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('measured_hash', sa.String(length=66), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('promotion_rounds') as batch:
        batch.drop_column('measured_hash')
        batch.drop_column('period_to')
        batch.drop_column('period_from')
