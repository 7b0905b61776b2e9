"""order reference index for the sales lists (issue 25)

A merchant searching an edition's sales by order reference looks up its keccak
hash within the edition; without an index that read scanned the edition's
coupons. The index is (edition_id, order_ref), the shape of that query.

Down again, the index goes: the search still works, by a scan.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 14:40:00
"""

from alembic import op


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_coupon_records_edition_order_ref', 'coupon_records',
                    ['edition_id', 'order_ref'])


def downgrade() -> None:
    op.drop_index('ix_coupon_records_edition_order_ref', table_name='coupon_records')
