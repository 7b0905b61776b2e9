"""credentials: API keys and page sessions in their own table; platform secrets

API keys were HMAC(master secret, participant id), one per participant and
valid for ever. They become random secrets stored as hashes in `credentials`,
many per participant, each revocable. Every participant's existing key keeps
working: its hash moves into `credentials` as a key named "initial".

`platform_secrets` keeps secrets that must survive a master-secret rotation
(the visitor pseudonym key, the prize-code key) encrypted under the master
secret. A database that already holds participants gets the `legacy-derived`
marker: the platform then stores the values it used to derive from the master
secret, so visitors and published code keys stay what they were; a new
database gets random ones.

Down again, each participant keeps one key (its oldest live one, or none that
works); the other keys and every session are lost.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 22:40:00
"""

import hashlib
import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('credentials',
    sa.Column('id', sa.String(length=16), nullable=False),
    sa.Column('participant_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('parent_id', sa.String(length=16), nullable=True),
    sa.Column('created_by', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['parent_id'], ['credentials.id'], ),
    sa.ForeignKeyConstraint(['participant_id'], ['participants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('secret_hash')
    )
    with op.batch_alter_table('credentials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credentials_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_credentials_participant_id'), ['participant_id'],
                              unique=False)
    op.create_table('platform_secrets',
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('value', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )

    bind = op.get_bind()
    rows = bind.execute(sa.text(
        'SELECT id, api_key_hash, created_by, created_at FROM participants')).all()
    credentials = sa.table('credentials', *(sa.column(c) for c in (
        'id', 'participant_id', 'kind', 'name', 'secret_hash', 'created_by', 'created_at')))
    if rows:
        op.bulk_insert(credentials, [
            {'id': secrets.token_hex(8), 'participant_id': pid, 'kind': 'api_key',
             'name': 'initial', 'secret_hash': digest, 'created_by': created_by,
             'created_at': created_at} for pid, digest, created_by, created_at in rows])
        op.bulk_insert(sa.table('platform_secrets', sa.column('name'), sa.column('value'),
                                sa.column('created_at')),
                       [{'name': 'legacy-derived', 'value': b'',
                         'created_at': datetime.now(UTC).replace(tzinfo=None)}])
    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.drop_column('api_key_hash')


def downgrade() -> None:
    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('api_key_hash', sa.String(length=64), nullable=True))
    bind = op.get_bind()
    keys = bind.execute(sa.text(
        "SELECT participant_id, secret_hash FROM credentials WHERE kind = 'api_key' "
        "AND revoked_at IS NULL ORDER BY created_at DESC")).all()
    kept: dict[str, str] = {pid: digest for pid, digest in keys}  # the oldest live key of each participant (the last one listed)
    for (pid,) in bind.execute(sa.text('SELECT id FROM participants')).all():
        # Without a live key, a hash nobody can match (no key is lost: there was none).
        digest = kept.get(pid) or hashlib.sha256(secrets.token_bytes(32)).hexdigest()
        bind.execute(sa.text('UPDATE participants SET api_key_hash = :h WHERE id = :id'),
                     {'h': digest, 'id': pid})
    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.alter_column('api_key_hash', existing_type=sa.String(length=64),
                              nullable=False)
        batch_op.create_unique_constraint('uq_participants_api_key_hash', ['api_key_hash'])
    op.drop_table('platform_secrets')
    with op.batch_alter_table('credentials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credentials_participant_id'))
        batch_op.drop_index(batch_op.f('ix_credentials_parent_id'))
    op.drop_table('credentials')
