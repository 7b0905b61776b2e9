"""Page sessions of people who signed in with a passkey or a recovery code.

A session is a `credentials` row of kind "session" (checked on every request
like an API key, so a sign-out or a revocation holds at the next request in
every process); one opened with a passkey names no parent API key. Its caller
is the same `Caller` an API key of that participant gives, so every route and
the authorization rules apply unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update

from couponchain.errors import NotFound
from couponchain.services.credentials import SESSION, SESSION_KEEP, SESSION_LIFETIME, new_credential
from couponchain.store.db import Database
from couponchain.store.models import Credential, utcnow


def changed(result: Any) -> int:
    """How many rows an UPDATE changed (its result is a cursor result)."""
    return int(cast(CursorResult[Any], result).rowcount)


class SessionStore:
    """Opens, lists and revokes a participant's page sessions."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def open(self, participant_id: str, name: str) -> tuple[Credential, str]:
        """A new session of `participant_id` for `SESSION_LIFETIME`; its token, once."""
        now = utcnow()
        async with self.db.transaction() as s:
            await s.execute(delete(Credential).where(
                Credential.participant_id == participant_id, Credential.kind == SESSION,
                Credential.expires_at < now - SESSION_KEEP))
            row, token = new_credential(participant_id, SESSION, name[:100],
                                        created_by=participant_id,
                                        expires_at=now + SESSION_LIFETIME)
            s.add(row)
        return row, token

    async def live(self, participant_id: str) -> Sequence[Credential]:
        """The participant's sessions that still work, newest first."""
        now = utcnow()
        async with self.db.session() as s:
            return list((await s.execute(select(Credential).where(
                Credential.participant_id == participant_id, Credential.kind == SESSION,
                Credential.revoked_at.is_(None), Credential.expires_at > now)
                .order_by(Credential.created_at.desc(), Credential.id))).scalars())

    async def revoke(self, participant_id: str, session_id: str) -> datetime:
        """Sign one of the participant's sessions out; someone else's is not found."""
        now = utcnow()
        async with self.db.transaction() as s:
            done = changed(await s.execute(update(Credential).where(
                Credential.id == session_id, Credential.participant_id == participant_id,
                Credential.kind == SESSION, Credential.revoked_at.is_(None))
                .values(revoked_at=now)))
        if done != 1:
            raise NotFound(f"you have no live session {session_id}", field="session_id")
        return now

    async def revoke_all(self, participant_id: str) -> int:
        """Sign every session of the participant out (after a recovery, say)."""
        async with self.db.transaction() as s:
            return changed(await s.execute(update(Credential).where(
                Credential.participant_id == participant_id, Credential.kind == SESSION,
                Credential.revoked_at.is_(None)).values(revoked_at=utcnow())))
