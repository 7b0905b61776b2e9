"""Credentials: API keys and page sessions, random secrets stored as hashes only.

A key reads `cc_<id>_<secret>` (a session token `ccs_<id>_<secret>`): `id` names
the credential in lists and revocations, `secret` is 32 random bytes. The
database keeps the SHA-256 of the whole string, never the string.

Every request checks its credential against the database (one indexed point
read, `check`, kept off the ORM: credential_lookup.py): a revocation committed
by any process is refused at the very next request everywhere, with no cache
to expire or invalidate. What a
credential names (the participant) never changes, so that part is cached by
the callers of `check`. `last_used_at` is written at most once a minute per
credential, in the background, so a busy key costs no write per request.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update

from couponchain.chain.keys import hash_api_key
from couponchain.errors import InvalidInput, NotFound, Unauthorized
from couponchain.services.credential_lookup import CredentialLookup
from couponchain.store.db import Database
from couponchain.store.models import Credential, utcnow

log = logging.getLogger(__name__)

API_KEY, SESSION = "api_key", "session"
PREFIXES = {API_KEY: "cc", SESSION: "ccs"}
#: How long a page session lasts (it never outlives the API key it was opened with).
SESSION_LIFETIME = timedelta(hours=12)
#: Seconds between two writes of one credential's `last_used_at`.
TOUCH_EVERY = 60.0
#: Expired sessions are deleted this long after they expired (when their owner
#: opens a new one), so a list of sessions does not grow for ever.
SESSION_KEEP = timedelta(days=7)


@dataclass(frozen=True)
class Grant:
    """What a valid credential grants: acting as `participant_id`."""

    participant_id: str
    credential_id: str
    kind: str


def new_token(kind: str, credential_id: str) -> str:
    """A fresh secret of `kind` for the credential `credential_id`."""
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return f"{PREFIXES[kind]}_{credential_id}_{secret}"


def csrf_token(session_token: str) -> str:
    """The CSRF token of a page session: bound to the session, so a cookie planted by
    someone else cannot be paired with a header of their choosing."""
    digest = hashlib.sha256(b"couponchain-csrf:" + session_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def new_credential(participant_id: str, kind: str, name: str, *,
                   created_by: str | None = None, expires_at: datetime | None = None,
                   parent_id: str | None = None) -> tuple[Credential, str]:
    """A credential row and its secret (shown once; only its hash is in the row)."""
    credential_id = secrets.token_hex(8)
    token = new_token(kind, credential_id)
    row = Credential(id=credential_id, participant_id=participant_id, kind=kind, name=name,
                     secret_hash=hash_api_key(token), parent_id=parent_id,
                     created_by=created_by, created_at=utcnow(), expires_at=expires_at)
    return row, token


def public(row: Credential, now: datetime | None = None) -> dict[str, Any]:
    """What its owner may see of a credential (never the secret, nor its hash)."""
    now = now or utcnow()
    state = ("revoked" if row.revoked_at is not None else
             "expired" if row.expires_at is not None and row.expires_at <= now else "active")
    return {"id": row.id, "participant_id": row.participant_id, "name": row.name,
            "prefix": f"{PREFIXES.get(row.kind, 'cc')}_{row.id}_",
            "created_at": _aware(row.created_at), "last_used_at": _aware(row.last_used_at),
            "expires_at": _aware(row.expires_at), "revoked_at": _aware(row.revoked_at),
            "state": state}


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None else None


def naive_utc(value: datetime) -> datetime:
    """A datetime as the database stores it (UTC, without a zone)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


class CredentialStore:
    """Checks, issues, lists and revokes credentials in the database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.lookup = CredentialLookup(db)
        #: credential id -> monotonic time its last use was last written (this process).
        self._touched: dict[str, float] = {}
        self._pending: set[asyncio.Task[None]] = set()

    async def check(self, token: str | None, kind: str = API_KEY) -> Grant:
        """The grant of a live credential of `kind`; `Unauthorized` otherwise.

        One indexed read per call, by design: nothing here is cached, so a
        revocation is seen by the next request in every process.
        """
        what = "an API key" if kind == API_KEY else "a session"
        if not token:
            raise Unauthorized(f"{what} is required: Authorization: Bearer <key>"
                               if kind == API_KEY else "not signed in")
        digest = hash_api_key(token)
        row = await self.lookup.find(digest)
        if row is None:
            raise Unauthorized("unknown API key" if kind == API_KEY else "unknown session")
        if row.kind != kind:
            raise Unauthorized("a session token is not an API key" if kind == API_KEY
                               else "an API key is not a session")
        if row.revoked_at is not None:
            raise Unauthorized(f"this {kind.replace('_', ' ')} was revoked")
        now = utcnow()
        if row.expires_at is not None and row.expires_at <= now:
            raise Unauthorized(f"this {kind.replace('_', ' ')} expired")
        self._touch(row.id, row.last_used_at, now)
        return Grant(row.participant_id, row.id, row.kind)

    def _touch(self, credential_id: str, last: datetime | None, now: datetime) -> None:
        """Record the use in the background, at most once a minute per credential."""
        if last is not None and (now - last).total_seconds() < TOUCH_EVERY:
            return
        mono = time.monotonic()
        stamp = self._touched.get(credential_id)
        if stamp is not None and mono - stamp < TOUCH_EVERY:
            return  # written (or being written) by this process a moment ago
        if len(self._touched) > 100_000:  # forget old stamps rather than grow
            self._touched.clear()
        self._touched[credential_id] = mono
        task = asyncio.create_task(self._write_use(credential_id, now))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write_use(self, credential_id: str, now: datetime) -> None:
        try:
            await self.db.write(lambda s: s.execute(
                update(Credential).where(Credential.id == credential_id)
                .values(last_used_at=now)))
        except asyncio.CancelledError:
            raise
        except Exception:  # a lost "last used" stamp is not worth failing anything for
            log.warning("could not record the use of credential %s", credential_id,
                        exc_info=True)

    async def stop(self) -> None:
        """Let the background writes of last use finish (before the database closes)."""
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=5)
        await self.lookup.close()

    # -- API keys ---------------------------------------------------------------------------

    async def create(self, participant_id: str, name: str, *, created_by: str | None,
                     expires_at: datetime | None = None) -> tuple[Credential, str]:
        """A new API key of `participant_id`; the key itself is returned once."""
        if expires_at is not None:
            expires_at = naive_utc(expires_at)
            if expires_at <= utcnow():
                raise InvalidInput("must be in the future", field="expires_at")
        row, token = new_credential(participant_id, API_KEY, name, created_by=created_by,
                                    expires_at=expires_at)
        async with self.db.transaction() as s:
            s.add(row)
        return row, token

    async def get(self, credential_id: str, kind: str = API_KEY) -> Credential:
        async with self.db.session() as s:
            row = await s.get(Credential, credential_id)
        if row is None or row.kind != kind:
            raise NotFound(f"there is no API key {credential_id}", field="id")
        return row

    async def list(self, participant_id: str) -> Sequence[Credential]:
        """The participant's API keys, oldest first (revoked and expired ones too)."""
        async with self.db.session() as s:
            return list((await s.execute(
                select(Credential).where(Credential.participant_id == participant_id,
                                         Credential.kind == API_KEY)
                .order_by(Credential.created_at, Credential.id))).scalars())

    async def revoke(self, credential_id: str) -> Credential:
        """Revoke a credential and the sessions opened with it; at once, everywhere."""
        async with self.db.transaction() as s:
            now = utcnow()
            await s.execute(update(Credential).where(
                or_(Credential.id == credential_id, Credential.parent_id == credential_id),
                Credential.revoked_at.is_(None)).values(revoked_at=now))
            row = await s.get(Credential, credential_id)
        if row is None:
            raise NotFound(f"there is no API key {credential_id}", field="id")
        return row

    async def rekey(self, participant_id: str, name: str, *,
                    created_by: str | None = None) -> str:
        """A new secret for the participant's live API key called `name` (made if there
        is none): the key shown before stops working, with its sessions.

        A retried participant creation shows its key again this way (only hashes
        are kept, so the first one cannot be shown twice); the demo hands out its
        keys so on every start.
        """
        async with self.db.transaction() as s:
            now = utcnow()
            row = (await s.execute(select(Credential).where(
                Credential.participant_id == participant_id, Credential.kind == API_KEY,
                Credential.name == name, Credential.revoked_at.is_(None))
                .order_by(Credential.created_at).limit(1))).scalar()
            if row is None:
                row, token = new_credential(participant_id, API_KEY, name,
                                            created_by=created_by)
                s.add(row)
                return token
            token = new_token(API_KEY, row.id)
            row.secret_hash = hash_api_key(token)
            row.created_at, row.last_used_at, row.expires_at = now, None, None
            await s.execute(update(Credential).where(
                Credential.parent_id == row.id, Credential.revoked_at.is_(None))
                .values(revoked_at=now))
        return token

    # -- page sessions ----------------------------------------------------------------------

    async def open_session(self, grant: Grant, name: str) -> tuple[Credential, str]:
        """A page session for the holder of the API key of `grant`."""
        async with self.db.transaction() as s:
            parent = await s.get(Credential, grant.credential_id)
            now = utcnow()
            expires = now + SESSION_LIFETIME
            if parent is not None and parent.expires_at is not None:
                expires = min(expires, parent.expires_at)
            await s.execute(delete(Credential).where(
                Credential.participant_id == grant.participant_id,
                Credential.kind == SESSION, Credential.expires_at < now - SESSION_KEEP))
            row, token = new_credential(grant.participant_id, SESSION, name[:100],
                                        created_by=grant.participant_id, expires_at=expires,
                                        parent_id=grant.credential_id)
            s.add(row)
        return row, token

    async def close_session(self, credential_id: str) -> None:
        """Sign a page session out (revoke it)."""
        async with self.db.transaction() as s:
            await s.execute(update(Credential).where(
                Credential.id == credential_id, Credential.kind == SESSION,
                Credential.revoked_at.is_(None)).values(revoked_at=utcnow()))
