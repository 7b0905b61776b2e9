"""reporting rules' on-chain schedules and the periods reports answer (issue 27)

The marketing contract now gives every rule a global id and a schedule
(`RuleScheduled`), and a published report names its rule, its period and the
anchors it read. `marketing_rule_schedules` is the read model of the
schedules; the report read model and the platform's own report rows gain the
rule id, the period number and the sources.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 07:15:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('marketing_rule_schedules',
    sa.Column('rule_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('merchant', sa.String(length=42), nullable=False),
    sa.Column('rules_version', sa.Integer(), nullable=False),
    sa.Column('rule_index', sa.Integer(), nullable=False),
    sa.Column('start', sa.BigInteger(), nullable=False),
    sa.Column('period', sa.BigInteger(), nullable=False),
    sa.Column('block_number', sa.BigInteger(), nullable=False),
    sa.Column('tx_hash', sa.String(length=66), nullable=False),
    sa.Column('timestamp', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('rule_id')
    )
    op.create_index(op.f('ix_marketing_rule_schedules_merchant'), 'marketing_rule_schedules',
                    ['merchant'], unique=False)
    with op.batch_alter_table('marketing_report_records') as batch:
        batch.add_column(sa.Column('rule_id', sa.BigInteger(), server_default='0',
                                   nullable=False))
        batch.add_column(sa.Column('period', sa.BigInteger(), server_default='0',
                                   nullable=False))
        batch.add_column(sa.Column('sources', sa.Text(), server_default='[]', nullable=False))
        batch.create_index(batch.f('ix_marketing_report_records_rule_id'), ['rule_id'],
                           unique=False)
    with op.batch_alter_table('marketing_reports') as batch:
        batch.add_column(sa.Column('rule_id', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('period', sa.BigInteger(), server_default='0',
                                   nullable=False))
        batch.add_column(sa.Column('sources', sa.Text(), server_default='[]', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('marketing_reports') as batch:
        batch.drop_column('sources')
        batch.drop_column('period')
        batch.drop_column('rule_id')
    with op.batch_alter_table('marketing_report_records') as batch:
        batch.drop_index(batch.f('ix_marketing_report_records_rule_id'))
        batch.drop_column('sources')
        batch.drop_column('period')
        batch.drop_column('rule_id')
    op.drop_index(op.f('ix_marketing_rule_schedules_merchant'),
                  table_name='marketing_rule_schedules')
    op.drop_table('marketing_rule_schedules')
