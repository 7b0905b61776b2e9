"""indicator definitions saved before their chain call (issue 27)

`marketing_indicator_sets` keeps each set of indicator definitions a rule may
commit to, keyed by its keccak256, written before the transaction that
commits to the hash: a crash between the chain call and the rule's own rows
(`marketing_rule_indicators`) no longer leaves a hash on chain whose
definitions the platform lost. Rows of rules already set are copied in.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 14:40:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('marketing_indicator_sets',
    sa.Column('merchant', sa.String(length=42), nullable=False),
    sa.Column('indicators_hash', sa.String(length=66), nullable=False),
    sa.Column('definitions', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('merchant', 'indicators_hash'))
    op.execute(
        "INSERT INTO marketing_indicator_sets "
        "(merchant, indicators_hash, definitions, status, created_at) "
        "SELECT merchant, indicators_hash, min(definitions), 'committed', 0 "
        "FROM marketing_rule_indicators GROUP BY merchant, indicators_hash")


def downgrade() -> None:
    op.drop_table('marketing_indicator_sets')
