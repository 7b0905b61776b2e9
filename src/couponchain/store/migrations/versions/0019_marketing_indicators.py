"""merchant-defined indicators (issue 27)

A merchant's indicator definitions (`marketing_indicators`, its library) and,
per rule of a rules version, the definitions the rule reports
(`marketing_rule_indicators`): the text stays off chain, the rule commits to
its keccak256 on chain.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 10:45:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('marketing_indicators',
    sa.Column('merchant', sa.String(length=42), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('expression', sa.Text(), nullable=False),
    sa.Column('definition_hash', sa.String(length=66), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('merchant', 'name'))
    op.create_table('marketing_rule_indicators',
    sa.Column('merchant', sa.String(length=42), nullable=False),
    sa.Column('rules_version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('rule_index', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('definitions', sa.Text(), nullable=False),
    sa.Column('indicators_hash', sa.String(length=66), nullable=False),
    sa.PrimaryKeyConstraint('merchant', 'rules_version', 'rule_index'))


def downgrade() -> None:
    op.drop_table('marketing_rule_indicators')
    op.drop_table('marketing_indicators')
