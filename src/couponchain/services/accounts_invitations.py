"""A merchant's one-time invitation links for its staff and terminals.

The merchant makes a link (`/join/<token>`); whoever opens it registers a
passkey there, once, before the link expires:

- `staff`: the passkey signs in as the merchant itself (a shop assistant who
  runs the consoles); the merchant sees and removes it on its account page;
- `terminal`: a new terminal participant of the merchant is registered on chain
  and the passkey signs in as that terminal (a till's browser).

Only the SHA-256 of the token is kept. A link is claimed in one statement that
also checks it is unused, unrevoked and unexpired, so two people racing on one
link cannot both join.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from couponchain.domain.roles import Role
from couponchain.errors import Forbidden, InvalidInput, NotFound
from couponchain.services.participants import Caller
from couponchain.services.sessions import changed
from couponchain.store.db import Database
from couponchain.store.models import Invitation, utcnow

STAFF, TERMINAL = "staff", "terminal"
KINDS = (STAFF, TERMINAL)
#: How long a link works unless the merchant says otherwise, and at most.
DEFAULT_LIFETIME, LONGEST_LIFETIME = timedelta(days=3), timedelta(days=30)


def token_hash(token: str) -> str:
    return hashlib.sha256(b"couponchain-invitation:" + token.encode()).hexdigest()


def state(row: Invitation, now: datetime | None = None) -> str:
    """open, used, revoked or expired."""
    now = now or utcnow()
    if row.used_at is not None:
        return "used"
    if row.revoked_at is not None:
        return "revoked"
    return "expired" if row.expires_at <= now else "open"


def public(row: Invitation) -> dict[str, Any]:
    """What the merchant sees of an invitation (never the token)."""
    return {"id": row.id, "merchant_id": row.merchant_id, "kind": row.kind, "name": row.name,
            "created_at": row.created_at, "expires_at": row.expires_at,
            "used_at": row.used_at, "revoked_at": row.revoked_at,
            "participant_id": row.participant_id, "state": state(row)}


class InvitationStore:
    """Makes, lists, revokes and claims invitations."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, caller: Caller, kind: str, name: str,
                     lifetime: timedelta = DEFAULT_LIFETIME) -> tuple[Invitation, str]:
        """A new invitation of the caller (a merchant) and its token, shown once."""
        if caller.role != Role.MERCHANT:
            raise Forbidden("only a merchant invites its staff and terminals")
        if kind not in KINDS:
            raise InvalidInput(f"must be one of {', '.join(KINDS)}", field="kind")
        if not timedelta(minutes=5) <= lifetime <= LONGEST_LIFETIME:
            raise InvalidInput("must be from 5 minutes to 30 days", field="valid_hours")
        token = secrets.token_urlsafe(24)
        now = utcnow()
        row = Invitation(id=secrets.token_hex(8), merchant_id=caller.id, kind=kind, name=name,
                         token_hash=token_hash(token), created_by=caller.id, created_at=now,
                         expires_at=now + lifetime)
        async with self.db.transaction() as s:
            s.add(row)
        return row, token

    async def of_merchant(self, merchant_id: str) -> Sequence[Invitation]:
        """The merchant's invitations, newest first."""
        async with self.db.session() as s:
            return list((await s.execute(select(Invitation).where(
                Invitation.merchant_id == merchant_id)
                .order_by(Invitation.created_at.desc(), Invitation.id).limit(500))).scalars())

    async def revoke(self, caller: Caller, invitation_id: str) -> Invitation:
        """Revoke an open invitation of the caller's; anyone else's is not found."""
        async with self.db.transaction() as s:
            row = await s.get(Invitation, invitation_id)
            if row is None or row.merchant_id != caller.id:
                raise NotFound(f"you have no invitation {invitation_id}", field="invitation_id")
            if state(row) != "open":
                raise InvalidInput(f"this invitation is {state(row)} already",
                                   field="invitation_id")
            row.revoked_at = utcnow()
        return row

    async def find(self, token: str) -> Invitation:
        """The open invitation of a link's token; refused (field `invitation`) otherwise."""
        async with self.db.session() as s:
            row = (await s.execute(select(Invitation).where(
                Invitation.token_hash == token_hash(token)))).scalar()
        if row is None:
            raise InvalidInput("this invitation link is not known here", field="invitation")
        if state(row) != "open":
            raise InvalidInput(f"this invitation link is {state(row)}", field="invitation")
        return row

    async def claim(self, invitation_id: str) -> Invitation:
        """Mark an open invitation used, atomically: a second claim is refused."""
        now = utcnow()
        async with self.db.transaction() as s:
            taken = changed(await s.execute(update(Invitation).where(
                Invitation.id == invitation_id, Invitation.used_at.is_(None),
                Invitation.revoked_at.is_(None), Invitation.expires_at > now)
                .values(used_at=now)))
            row = await s.get(Invitation, invitation_id)
        if taken != 1 or row is None:
            raise InvalidInput("this invitation link was used, revoked or expired meanwhile",
                               field="invitation")
        return row

    async def settle(self, invitation_id: str, participant_id: str | None) -> None:
        """Record who a claimed invitation signed in; with None, give the claim back
        (the terminal's registration failed, so the link may be tried again)."""
        async with self.db.transaction() as s:
            values: dict[str, Any] = ({"participant_id": participant_id}
                                      if participant_id else {"used_at": None})
            await s.execute(update(Invitation).where(Invitation.id == invitation_id)
                            .values(**values))
