"""notifications: per-merchant notifications and their switches (issue 25)

`notifications` keeps what a merchant was told (a prize awarded or claimed,
coupons about to expire, a budget nearly spent, a report ready) with its
webhook push; `notification_settings` the kinds a merchant switched. Neither
is a read model: they are kept, never rebuilt.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 22:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notifications',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('merchant_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('dedupe', sa.String(length=160), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('read_at', sa.BigInteger(), nullable=True),
    sa.Column('delivery', sa.String(length=10), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.Double(), nullable=False),
    sa.Column('delivered_at', sa.BigInteger(), nullable=True),
    sa.Column('log', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedupe')
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_merchant_id_id', ['merchant_id', 'id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_delivery'), ['delivery'],
                              unique=False)
    op.create_table('notification_settings',
    sa.Column('merchant_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('merchant_id', 'kind')
    )


def downgrade() -> None:
    op.drop_table('notification_settings')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_delivery'))
        batch_op.drop_index('ix_notifications_merchant_id_id')
    op.drop_table('notifications')
