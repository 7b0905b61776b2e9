"""participants say whose key signs for them: custodial or their own (issue 23)

`participants.custody` is "custodial" (the server keeps the key, encrypted at
rest: every participant so far) or "own" (the participant registered an
address whose key the server never sees; `encrypted_key` is then empty).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 10:40:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('participants') as batch:
        batch.add_column(sa.Column('custody', sa.String(length=10), nullable=False,
                                   server_default='custodial'))


def downgrade() -> None:
    with op.batch_alter_table('participants') as batch:
        batch.drop_column('custody')
