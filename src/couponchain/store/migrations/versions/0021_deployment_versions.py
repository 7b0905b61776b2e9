"""deployments: runtime code hash and version; retired deployments (issue 23)

A start compares the runtime code a contract compiles to with the deployed
one (`code_hash`), not the source, so an edited comment no longer blocks it.
A migration deploys new contracts, carries the state over and retires the old
ones: `version` counts the migrations, `retired_deployments` keeps where each
replaced contract was and what replaced it.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 11:00:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('deployments', sa.Column('code_hash', sa.String(length=64), nullable=True))
    op.add_column('deployments', sa.Column('version', sa.Integer(), server_default='1',
                                           nullable=False))
    op.create_table('retired_deployments',
    sa.Column('chain_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=42), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=True),
    sa.Column('replaced_by', sa.String(length=42), nullable=False),
    sa.Column('retired_at_block', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('chain_id', 'name', 'version')
    )


def downgrade() -> None:
    op.drop_table('retired_deployments')
    op.drop_column('deployments', 'version')
    op.drop_column('deployments', 'code_hash')
