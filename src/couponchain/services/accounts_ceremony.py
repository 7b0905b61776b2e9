"""WebAuthn ceremonies: challenges kept server side (single use, with an expiry) and
the checks of what the browser's authenticator answered, through py_webauthn.

A ceremony begins with `ChallengeStore.issue` (a random challenge and the site it
is for, in a `webauthn_challenges` row) and ends with `ChallengeStore.consume`,
which marks the row used in the same statement that finds it, so a replayed or
raced answer finds nothing. The answer is then checked against the stored
challenge, site (`rp_id`) and origin: a challenge the server never issued, one
already used, an expired one, another site's origin or a bad signature are all
refused, each naming the field at fault.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.authentication.verify_authentication_response import VerifiedAuthentication
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)
from webauthn.registration.verify_registration_response import VerifiedRegistration

from couponchain.errors import InvalidInput, Unauthorized
from couponchain.services.sessions import changed
from couponchain.store.db import Database
from couponchain.store.models import WebauthnChallenge, utcnow

#: How long a ceremony may take, from its options to the authenticator's answer.
CEREMONY_LIFETIME = timedelta(minutes=5)
#: Used and expired ceremonies are deleted this long after they expired.
CEREMONY_KEEP = timedelta(hours=1)
RP_NAME = "CouponChain"
SIGN_UP, INVITATION, ADD, SIGN_IN = "sign-up", "invitation", "add", "sign-in"


def b64url(data: bytes) -> str:
    """base64url without padding, as WebAuthn's JSON writes binary values."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def from_b64url(text: str) -> bytes:
    """The bytes of a base64url text (padding optional)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class RelyingParty:
    """The site passkeys are made for: its id (a host name) and its origin."""

    rp_id: str
    origin: str


class ChallengeStore:
    """Issues and consumes ceremony challenges in the database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def issue(self, purpose: str, rp: RelyingParty, *, participant_id: str | None = None,
                    user_handle: str | None = None, name: str | None = None,
                    invitation_id: str | None = None) -> WebauthnChallenge:
        """A new ceremony of `purpose` for the site `rp`, expiring in `CEREMONY_LIFETIME`."""
        now = utcnow()
        row = WebauthnChallenge(
            id=secrets.token_hex(16), purpose=purpose, challenge=b64url(secrets.token_bytes(32)),
            rp_id=rp.rp_id, origin=rp.origin, participant_id=participant_id,
            user_handle=user_handle, name=name, invitation_id=invitation_id, created_at=now,
            expires_at=now + CEREMONY_LIFETIME)
        async with self.db.transaction() as s:
            # Forget old ceremonies as new ones begin, so the table stays small.
            await s.execute(delete(WebauthnChallenge).where(
                WebauthnChallenge.expires_at < now - CEREMONY_KEEP))
            s.add(row)
        return row

    async def consume(self, ceremony_id: str, purposes: set[str]) -> WebauthnChallenge:
        """The ceremony `ceremony_id`, marked used: once only, before it expires, and
        only for one of `purposes`. Refused otherwise, naming `ceremony`."""
        now = utcnow()
        async with self.db.transaction() as s:
            taken = changed(await s.execute(update(WebauthnChallenge).where(
                WebauthnChallenge.id == ceremony_id, WebauthnChallenge.used_at.is_(None),
                WebauthnChallenge.expires_at > now,
                WebauthnChallenge.purpose.in_(sorted(purposes))).values(used_at=now)))
            row = (await s.execute(select(WebauthnChallenge).where(
                WebauthnChallenge.id == ceremony_id))).scalar()
        if taken == 1 and row is not None:
            return row
        if row is None or row.purpose not in purposes:
            raise InvalidInput("no such ceremony: begin again", field="ceremony")
        if row.used_at is not None:
            raise InvalidInput("this ceremony was already used: begin again", field="ceremony")
        raise InvalidInput("this ceremony expired: begin again", field="ceremony")


def registration_options(row: WebauthnChallenge, user_name: str,
                         exclude: list[str]) -> dict[str, Any]:
    """The options for `navigator.credentials.create()`: a discoverable passkey with
    user verification (a fingerprint, face or PIN), none of `exclude` again."""
    assert row.user_handle is not None
    options = generate_registration_options(
        rp_id=row.rp_id, rp_name=RP_NAME, user_name=user_name, user_display_name=user_name,
        user_id=from_b64url(row.user_handle), challenge=from_b64url(row.challenge),
        timeout=int(CEREMONY_LIFETIME.total_seconds() * 1000),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=from_b64url(c)) for c in exclude])
    return _json(options)


def authentication_options(row: WebauthnChallenge) -> dict[str, Any]:
    """The options for `navigator.credentials.get()`: any passkey of this site (the
    authenticator offers the ones it holds), with user verification."""
    options = generate_authentication_options(
        rp_id=row.rp_id, challenge=from_b64url(row.challenge),
        timeout=int(CEREMONY_LIFETIME.total_seconds() * 1000),
        user_verification=UserVerificationRequirement.REQUIRED)
    return _json(options)


def _json(options: Any) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(options_to_json(options))
    return result


#: What py_webauthn raises on a malformed answer, besides its own errors.
_MALFORMED = (WebAuthnException, ValueError, KeyError, TypeError, IndexError, AttributeError)


def check_registration(row: WebauthnChallenge, credential: dict[str, Any]) -> VerifiedRegistration:
    """The new passkey, if the answer is to this ceremony's challenge, from its origin,
    for its site, with the user present and verified; refused (field `credential`)."""
    try:
        return verify_registration_response(
            credential=credential, expected_challenge=from_b64url(row.challenge),
            expected_rp_id=row.rp_id, expected_origin=row.origin,
            require_user_verification=True)
    except _MALFORMED as exc:
        raise InvalidInput(f"the passkey was not accepted: {exc}", field="credential") from None


def check_authentication(row: WebauthnChallenge, credential: dict[str, Any], public_key: bytes,
                         sign_count: int) -> VerifiedAuthentication:
    """The verified sign-in, if the answer signs this ceremony's challenge with the
    passkey's key, from its origin, for its site, with the user verified, and its
    counter moved on (a counter that did not marks a cloned authenticator)."""
    try:
        return verify_authentication_response(
            credential=credential, expected_challenge=from_b64url(row.challenge),
            expected_rp_id=row.rp_id, expected_origin=row.origin,
            credential_public_key=public_key, credential_current_sign_count=sign_count,
            require_user_verification=True)
    except _MALFORMED as exc:
        raise Unauthorized(f"the passkey's answer was not accepted: {exc}",
                           field="credential") from None
