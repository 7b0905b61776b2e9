"""Accounts for people: sign up and sign in with a passkey, recover with a code.

- A consumer signs up with a name and a passkey: once the passkey verifies, the
  platform registers a consumer participant through `ParticipantService.create`
  (chain account, registry entry), exactly as `POST /v1/consumers` does.
- A merchant's invitation link (services/accounts_invitations.py) lets its staff
  register a passkey that acts as the merchant, or a till register one as a new
  terminal of the merchant.
- Signing in asks the browser for any passkey of this site; the one it answers
  with names the participant.
- A new account gets ten one-time recovery codes, shown once and stored as
  hashes; a code signs in once, so a person who lost every passkey can add one.

Each way in opens a page session (services/sessions.py) for the same `Caller`
an API key gives. Participants made here get no usable API key: the one that
`create` makes is revoked at once (nobody ever saw it).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update

from couponchain.domain.roles import Role
from couponchain.errors import InvalidInput, NotFound, Unauthorized
from couponchain.services.accounts_ceremony import (
    ADD,
    INVITATION,
    SIGN_IN,
    SIGN_UP,
    ChallengeStore,
    RelyingParty,
    authentication_options,
    b64url,
    check_authentication,
    check_registration,
    registration_options,
)
from couponchain.services.accounts_invitations import STAFF, InvitationStore
from couponchain.services.credentials import API_KEY, CredentialStore
from couponchain.services.participants import Caller, ParticipantService
from couponchain.services.sessions import SessionStore, changed
from couponchain.store.db import Database
from couponchain.store.models import Credential, Passkey, RecoveryCode, utcnow

#: Recovery codes per set, and their alphabet (no 0/O, 1/I/L to misread).
RECOVERY_CODES, CODE_ALPHABET = 10, "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_recovery_code() -> str:
    """XXXX-XXXX-XXXX-XXXX: 16 characters of 31, about 79 bits."""
    chars = "".join(secrets.choice(CODE_ALPHABET) for _ in range(16))
    return "-".join(chars[i:i + 4] for i in range(0, 16, 4))


def code_hash(code: str) -> str:
    """The stored form of a recovery code: spaces, dashes and case do not matter."""
    normal = "".join(c for c in code.upper() if c.isalnum())
    return hashlib.sha256(b"couponchain-recovery:" + normal.encode()).hexdigest()


@dataclass(frozen=True)
class Ceremony:
    """A ceremony begun: its id (sent back with the answer) and the browser's options."""

    id: str
    options: dict[str, Any]


@dataclass(frozen=True)
class SignedIn:
    """Who a ceremony signed in, the session's token (for the cookie) and, for a new
    account, its recovery codes (shown once)."""

    caller: Caller
    session_id: str
    token: str
    recovery_codes: list[str] | None = None


class AccountService:
    """Passkey sign-up, sign-in, recovery and the passkeys of an account."""

    def __init__(self, db: Database, participants: ParticipantService,
                 credentials: CredentialStore, platform: Callable[[], Caller]) -> None:
        self.db = db
        self.participants = participants
        self.credentials = credentials
        self.platform = platform
        self.challenges = ChallengeStore(db)
        self.invitations = InvitationStore(db)
        self.sessions = SessionStore(db)

    # -- sign up -----------------------------------------------------------------------------

    async def begin_sign_up(self, rp: RelyingParty, name: str | None,
                            invitation: str | None) -> Ceremony:
        """A registration ceremony for a new consumer called `name`, or for whoever
        the invitation link `invitation` invites."""
        invitation_id = None
        exclude: list[str] = []
        handle = b64url(secrets.token_bytes(32))
        purpose = SIGN_UP
        if invitation:
            found = await self.invitations.find(invitation)
            invitation_id, purpose = found.id, INVITATION
            name = name or found.name
            if found.kind == STAFF:  # the merchant's own handle and passkeys
                handle = await self._handle(found.merchant_id) or handle
                exclude = [p.credential_id for p in await self.passkeys(found.merchant_id)]
        if not name or not name.strip():
            raise InvalidInput("say what to call you", field="name")
        row = await self.challenges.issue(purpose, rp, user_handle=handle, name=name.strip(),
                                          invitation_id=invitation_id)
        return Ceremony(row.id, registration_options(row, row.name or "", exclude))

    async def finish_sign_up(self, ceremony: str, credential: dict[str, Any],
                             device: str) -> SignedIn:
        """Check the new passkey, then make (or join) the account and sign it in."""
        row = await self.challenges.consume(ceremony, {SIGN_UP, INVITATION})
        verified = check_registration(row, credential)
        await self._refuse_known(verified.credential_id)
        name = row.name or ""
        if row.purpose == SIGN_UP:
            created = await self.participants.create(self.platform(), Role.CONSUMER, name,
                                                     idempotency_key=f"sign-up:{row.id}")
            participant_id, codes = created["id"], True
            await self._revoke_initial_key(participant_id)
        else:
            participant_id, codes = await self._join(row.invitation_id or "", name)
        assert row.user_handle is not None
        await self._store_passkey(participant_id, row.user_handle, row.rp_id, verified,
                                  credential, device)
        recovery = await self.new_recovery_codes(participant_id) if codes else None
        caller = await self.participants.caller(participant_id)
        session, token = await self.sessions.open(participant_id, f"passkey: {device}")
        return SignedIn(caller, session.id, token, recovery)

    async def _join(self, invitation_id: str, name: str) -> tuple[str, bool]:
        """Claim the invitation: staff act as the merchant; a terminal is registered on
        chain (and gets recovery codes, as a new account)."""
        invitation = await self.invitations.claim(invitation_id)
        if invitation.kind == STAFF:
            await self.invitations.settle(invitation.id, invitation.merchant_id)
            return invitation.merchant_id, False
        try:
            merchant = await self.participants.caller(invitation.merchant_id)
            created = await self.participants.create(
                merchant, Role.TERMINAL, name, merchant_id=merchant.id,
                idempotency_key=f"invitation:{invitation.id}")
        except BaseException:
            await self.invitations.settle(invitation.id, None)
            raise
        await self._revoke_initial_key(created["id"])
        await self.invitations.settle(invitation.id, created["id"])
        return str(created["id"]), True

    async def _revoke_initial_key(self, participant_id: str) -> None:
        for key in await self.credentials.list(participant_id):
            if key.kind == API_KEY and key.revoked_at is None:
                await self.credentials.revoke(key.id)

    # -- sign in -----------------------------------------------------------------------------

    async def begin_sign_in(self, rp: RelyingParty) -> Ceremony:
        """A sign-in ceremony: the browser offers the passkeys of this site it holds."""
        row = await self.challenges.issue(SIGN_IN, rp)
        return Ceremony(row.id, authentication_options(row))

    async def finish_sign_in(self, ceremony: str, credential: dict[str, Any]) -> SignedIn:
        """Check the passkey's signature over the ceremony's challenge; sign its owner in."""
        row = await self.challenges.consume(ceremony, {SIGN_IN})
        credential_id = credential.get("id") if isinstance(credential, dict) else None
        if not isinstance(credential_id, str) or not credential_id:
            raise InvalidInput("the passkey's answer names no credential id", field="credential")
        async with self.db.session() as s:
            passkey = (await s.execute(select(Passkey).where(
                Passkey.credential_id == credential_id))).scalar()
        if passkey is None or passkey.rp_id != row.rp_id:
            raise Unauthorized("this passkey is not registered here", field="credential")
        response = credential.get("response")
        handle = response.get("userHandle") if isinstance(response, dict) else None
        if handle and handle != passkey.user_handle:
            raise Unauthorized("the passkey's answer names another account", field="credential")
        verified = check_authentication(row, credential, passkey.public_key, passkey.sign_count)
        async with self.db.transaction() as s:
            await s.execute(update(Passkey).where(Passkey.id == passkey.id).values(
                sign_count=verified.new_sign_count, last_used_at=utcnow()))
        caller = await self.participants.caller(passkey.participant_id)
        session, token = await self.sessions.open(passkey.participant_id,
                                                  f"passkey: {passkey.name}")
        return SignedIn(caller, session.id, token)

    async def recover(self, code: str) -> SignedIn:
        """Sign in with a recovery code, once; the page then asks for a new passkey."""
        digest = code_hash(code)
        async with self.db.transaction() as s:
            taken = changed(await s.execute(update(RecoveryCode).where(
                RecoveryCode.code_hash == digest, RecoveryCode.used_at.is_(None))
                .values(used_at=utcnow())))
            owner = (await s.execute(select(RecoveryCode.participant_id).where(
                RecoveryCode.code_hash == digest))).scalar()
        if taken != 1 or owner is None:
            raise Unauthorized("this recovery code is not known here or was used",
                               field="code")
        caller = await self.participants.caller(owner)
        session, token = await self.sessions.open(owner, "recovery code")
        return SignedIn(caller, session.id, token)

    # -- an account's passkeys and codes ---------------------------------------------------

    async def begin_add(self, rp: RelyingParty, caller: Caller, name: str) -> Ceremony:
        """A registration ceremony for one more passkey of the signed-in caller."""
        handle = await self._handle(caller.id) or b64url(secrets.token_bytes(32))
        row = await self.challenges.issue(ADD, rp, participant_id=caller.id, user_handle=handle,
                                          name=name)
        exclude = [p.credential_id for p in await self.passkeys(caller.id)]
        return Ceremony(row.id, registration_options(row, caller.name, exclude))

    async def finish_add(self, caller: Caller, ceremony: str,
                         credential: dict[str, Any]) -> Passkey:
        """Check and keep the caller's new passkey (a ceremony begun by someone else is
        not theirs to finish)."""
        row = await self.challenges.consume(ceremony, {ADD})
        if row.participant_id != caller.id:
            raise InvalidInput("this ceremony was begun by someone else", field="ceremony")
        verified = check_registration(row, credential)
        await self._refuse_known(verified.credential_id)
        assert row.user_handle is not None
        return await self._store_passkey(caller.id, row.user_handle, row.rp_id, verified,
                                         credential, row.name or "passkey")

    async def passkeys(self, participant_id: str) -> Sequence[Passkey]:
        """The participant's passkeys, oldest first."""
        async with self.db.session() as s:
            return list((await s.execute(select(Passkey).where(
                Passkey.participant_id == participant_id)
                .order_by(Passkey.created_at, Passkey.id))).scalars())

    async def remove_passkey(self, caller: Caller, passkey_id: str) -> None:
        """Remove one of the caller's passkeys; anyone else's is not found."""
        async with self.db.transaction() as s:
            row = await s.get(Passkey, passkey_id)
            if row is None or row.participant_id != caller.id:
                raise NotFound(f"you have no passkey {passkey_id}", field="passkey_id")
            await s.delete(row)

    async def new_recovery_codes(self, participant_id: str) -> list[str]:
        """A fresh set of recovery codes (shown once); the unused old ones stop working."""
        codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
        now = utcnow()
        async with self.db.transaction() as s:
            await s.execute(update(RecoveryCode).where(
                RecoveryCode.participant_id == participant_id, RecoveryCode.used_at.is_(None))
                .values(used_at=now))
            s.add_all(RecoveryCode(id=secrets.token_hex(8), participant_id=participant_id,
                                   code_hash=code_hash(c), created_at=now) for c in codes)
        return codes

    async def recovery_codes_left(self, participant_id: str) -> int:
        async with self.db.session() as s:
            return int((await s.execute(select(func.count()).select_from(RecoveryCode).where(
                RecoveryCode.participant_id == participant_id,
                RecoveryCode.used_at.is_(None)))).scalar() or 0)

    # -- helpers -------------------------------------------------------------------------

    async def _handle(self, participant_id: str) -> str | None:
        async with self.db.session() as s:
            return (await s.execute(select(Passkey.user_handle).where(
                Passkey.participant_id == participant_id).limit(1))).scalar()

    async def _refuse_known(self, credential_id: bytes) -> None:
        async with self.db.session() as s:
            known = (await s.execute(select(Passkey.id).where(
                Passkey.credential_id == b64url(credential_id)))).scalar()
        if known is not None:
            raise InvalidInput("this passkey is registered here already", field="credential")

    async def _store_passkey(self, participant_id: str, handle: str, rp_id: str, verified: Any,
                             credential: dict[str, Any], name: str) -> Passkey:
        response = credential.get("response")
        transports = response.get("transports") if isinstance(response, dict) else None
        kept = ",".join(t for t in (transports or []) if isinstance(t, str))[:100]
        row = Passkey(id=secrets.token_hex(8), participant_id=participant_id,
                      credential_id=b64url(verified.credential_id), user_handle=handle,
                      public_key=verified.credential_public_key,
                      sign_count=verified.sign_count, rp_id=rp_id, transports=kept,
                      name=(name or "passkey")[:100], created_at=utcnow())
        async with self.db.transaction() as s:
            s.add(row)
        return row


def passkey_public(row: Passkey) -> dict[str, Any]:
    """What the owner sees of a passkey (never its key)."""
    return {"id": row.id, "name": row.name, "created_at": row.created_at,
            "last_used_at": row.last_used_at}


def session_public(row: Credential) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "created_at": row.created_at,
            "last_used_at": row.last_used_at, "expires_at": row.expires_at}
