"""order reference and customer indexes for the sales lists (issue 25)

A merchant searching an edition's sales by order reference looks up its keccak
hash within the edition, and by customer the owner's address within the
edition; without these indexes each search scanned the edition's coupons. The
indexes are (edition_id, order_ref) and (edition_id, owner), the shape of those
reads (the sales list reads each search part apart, `ListSpec.union_search`).

Down again, the indexes go: the searches still work, by a scan.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 14:40:00
"""

from alembic import op


revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_coupon_records_edition_order_ref', 'coupon_records',
                    ['edition_id', 'order_ref'])
    op.create_index('ix_coupon_records_edition_owner', 'coupon_records',
                    ['edition_id', 'owner'])


def downgrade() -> None:
    op.drop_index('ix_coupon_records_edition_owner', table_name='coupon_records')
    op.drop_index('ix_coupon_records_edition_order_ref', table_name='coupon_records')
