"""customer lookups by phone or e-mail, kept as keyed hashes only; movement indexes (issue 24)

`customer_lookups` holds, for a consumer who chose to register them, the
HMAC-SHA256 of its normalised phone number and/or e-mail under a platform
secret: a till finds the consumer by the exact identifier, and the database
never holds the identifier itself. The indexes on the coupon paths' receiver serve
the wallet's movement list: a consumer's coupon movements are those of the
coupons it received (a coupon leaves a wallet only after it came in).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 22:30:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('customer_lookups',
    sa.Column('participant_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['participant_id'], ['participants.id'], ),
    sa.PrimaryKeyConstraint('participant_id', 'kind')
    )
    with op.batch_alter_table('customer_lookups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_lookups_digest'), ['digest'], unique=False)
    with op.batch_alter_table('promotion_path', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_promotion_path_receiver'), ['receiver'],
                              unique=False)
    with op.batch_alter_table('coupon_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coupon_history_receiver'), ['receiver'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('coupon_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coupon_history_receiver'))
    with op.batch_alter_table('promotion_path', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_promotion_path_receiver'))
    with op.batch_alter_table('customer_lookups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_lookups_digest'))
    op.drop_table('customer_lookups')
