"""Rotating prize codes: the short-lived signed token a consumer's phone shows as a QR.

A code says "award `award_id` of `consumer`, issued at `issued_at`, valid until
`expiry`, one-time `nonce`", signed by the platform's code-signing key, and
carries the winner's own EIP-712 claim signature (`domain/prize_claim_consent.py`),
which the prizes contract checks when the claim is recorded. The server
verifies the code when a terminal submits a scan; a terminal that lost its
connection can check the platform's signature itself against the published
signer address (any EIP-191 `personal_sign` verifier works).

Text form (ASCII, 246 characters: a version 11 QR code at error level M):

    CCPZ2.<base64url, no padding, of 180 bytes>

    offset  size  field
         0     8  award id (uint64, big-endian, >= 1)
         8    20  consumer address
        28     5  issued-at (uint40 epoch seconds)
        33     1  lifetime in seconds (expiry = issued-at + lifetime)
        34     8  nonce (random)
        42     4  key id: the first 4 bytes of the signer's address
        46     4  claim lifetime (uint32 s; claim expiry = issued-at + it)
        50    65  the consumer's EIP-712 `PrizeClaim` signature (r, s, v)
       115    65  signature (r, s, v), v in {27, 28}, s in the low half

The platform's signature is EIP-191 `personal_sign` over `SIGNING_TAG +
bytes[0:115]`: it vouches for the whole code, the winner's signature
included, so a terminal (online or not) refuses a code whose claim part was
swapped. CCPZ1 codes (no claim signature) are refused as malformed.
The key id is signed too; it tells a terminal which published key to try
(key rotation) and lets `verify_code` tell a code signed by another key
(`WRONG_SIGNER`) from a code of ours whose bytes were changed (`TAMPERED`).
Both are rejections; the difference is diagnostic only.

Time: a code is valid while `issued_at - skew <= now < expiry + skew`, with
`skew` (default `CLOCK_SKEW`, 5 s) absorbing clock differences between the
issuing server and an offline terminal. A lifetime above 30 s is refused even
when correctly signed, so a screenshot is useless within 30 s (+ skew). An
offline terminal's scan is timed by its own clock, which the server cannot
check: it counts only if it lies within the code's validity and is synced
within an offline window of the code's issue (`check_offline`), so a backdated
scan of a screenshot is useless after that window.

Accepted once: this module is pure and has no memory. The service records
each accepted `(award_id, nonce)` (and the award's claim) in its database,
refusing a second scan of the same code; that is also what makes two
terminals scanning one code at once produce exactly one claim.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass
from enum import Enum
from typing import Any

from eth_account import Account
from eth_account.messages import SignableMessage, encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import is_address, to_bytes, to_checksum_address

from couponchain.domain import eip712
from couponchain.domain.times import iso
from couponchain.errors import InvalidInput

PREFIX = "CCPZ2."
OLD_PREFIX = "CCPZ1."
SIGNING_TAG = b"CouponChain prize code v2\x00"
MAX_LIFETIME = 30
"""Seconds: the longest a code may be valid."""
CLOCK_SKEW = 5
"""Seconds of clock difference tolerated at both ends of a code's validity."""

_SIG_LEN = eip712.SIGNATURE_LENGTH
_BODY_LEN = 46 + 4 + _SIG_LEN  # the fields, the claim lifetime, the winner's signature
_RAW_LEN = _BODY_LEN + _SIG_LEN
_TEXT_LEN = len(PREFIX) + _RAW_LEN * 4 // 3  # 180 bytes = 60 groups of 3: no padding
_NO_CLAIM_SIGNATURE = bytes(_SIG_LEN)
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_MAX_AWARD_ID = 2**64 - 1
_MAX_TIME = 2**40 - 1


class CodeProblem(Enum):
    """Why a code is refused; the value is a stable slug for APIs and logs."""

    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad-signature"
    WRONG_SIGNER = "wrong-signer"
    TAMPERED = "tampered"
    LIFETIME_TOO_LONG = "lifetime-too-long"
    NOT_YET_VALID = "not-yet-valid"
    EXPIRED = "expired"
    SCANNED_IN_FUTURE = "scanned-in-future"
    SCANNED_WHILE_INVALID = "scanned-while-invalid"
    OFFLINE_WINDOW_PASSED = "offline-window-passed"


class PrizeCodeRejected(InvalidInput):
    """A code failed verification; `problem` says which rule it broke."""

    def __init__(self, problem: CodeProblem, message: str) -> None:
        super().__init__(message, field="code")
        self.problem = problem


@dataclass(frozen=True, slots=True)
class PrizeCode:
    """A decoded code; `parse_code` does not vouch for it, `verify_code` does."""

    award_id: int
    consumer: str
    issued_at: int
    expiry: int
    nonce: int
    key_id: bytes
    signature: bytes
    #: until when the winner's signature lets the contract record the claim
    claim_expiry: int = 0
    #: the winner's EIP-712 `PrizeClaim` signature (65 zero bytes: none)
    claim_signature: bytes = _NO_CLAIM_SIGNATURE

    @property
    def lifetime(self) -> int:
        """Seconds from issue to expiry."""
        return self.expiry - self.issued_at

    @property
    def body(self) -> bytes:
        """The 115 bytes the platform signs (all but its signature)."""
        return _body(
            self.award_id, self.consumer, self.issued_at, self.lifetime, self.nonce, self.key_id
        ) + (self.claim_expiry - self.issued_at).to_bytes(4, "big") + self.claim_signature


def signable(body: bytes) -> SignableMessage:
    """The EIP-191 message the code-signing key signs for a code body."""
    return encode_defunct(primitive=SIGNING_TAG + body)


def key_id_of(address: str) -> bytes:
    """The 4-byte key id of a signer address."""
    return to_bytes(hexstr=address)[:4]


def issue_code(
    award_id: int,
    consumer: str,
    now: int,
    lifetime: int,
    key: Any,
    *,
    claim_expiry: int | None = None,
    claim_signature: bytes = _NO_CLAIM_SIGNATURE,
    nonce: int | None = None,
) -> str:
    """A fresh code for `award_id` of `consumer`, valid from `now` for `lifetime` s.

    `key` is the platform's code-signing key: its account (deriving that from a
    private key costs more than the signature) or anything eth_account accepts.
    `claim_signature` is the consumer's `PrizeClaim` signature expiring at
    `claim_expiry` (at most 2**32 - 1 s after `now`); a code without one
    (zero bytes) is refused at the counter and by the contract.
    `nonce` defaults to 64 random bits; pass one only in tests.
    Raises `InvalidInput` for out-of-range arguments.
    """
    if not _is_int(award_id) or not 1 <= award_id <= _MAX_AWARD_ID:
        raise InvalidInput("award id must be 1 to 2**64 - 1", field="award_id")
    if not isinstance(consumer, str) or not is_address(consumer):
        raise InvalidInput(f"{consumer!r} is not a chain address", field="consumer")
    if not _is_int(now) or not 0 <= now <= _MAX_TIME - MAX_LIFETIME:
        raise InvalidInput("now must be epoch seconds", field="now")
    if not _is_int(lifetime) or not 1 <= lifetime <= MAX_LIFETIME:
        raise InvalidInput(f"lifetime must be 1 to {MAX_LIFETIME} seconds", field="lifetime")
    if nonce is None:
        nonce = secrets.randbits(64)
    elif not _is_int(nonce) or not 0 <= nonce < 2**64:
        raise InvalidInput("nonce must fit in 64 bits", field="nonce")
    if claim_expiry is None:
        claim_expiry = now
    if not _is_int(claim_expiry) or not 0 <= claim_expiry - now < 2**32:
        raise InvalidInput("claim expiry must be 0 to 2**32 - 1 s after now",
                           field="claim_expiry")
    if not isinstance(claim_signature, bytes) or len(claim_signature) != _SIG_LEN:
        raise InvalidInput("the claim signature must be 65 bytes", field="claim_signature")
    signer = key if isinstance(key, LocalAccount) else Account.from_key(key)
    body = _body(award_id, consumer, now, lifetime, nonce, key_id_of(signer.address)) \
        + (claim_expiry - now).to_bytes(4, "big") + claim_signature
    signature = bytes(signer.sign_message(signable(body)).signature)
    return encode_code(body + signature)


def encode_code(raw: bytes) -> str:
    """The text form of 180 raw bytes (the signed body and the platform's signature)."""
    return PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def parse_code(text: str) -> PrizeCode:
    """Decode a code's text (surrounding whitespace, e.g. a scanner's Enter, is
    ignored) without checking its signature or times.

    Raises `PrizeCodeRejected` (an `InvalidInput`, field `code`) with problem
    `MALFORMED` for anything but the exact layout.
    """
    if not isinstance(text, str):
        raise _malformed("code must be text")
    text = text.strip()
    if text.startswith(OLD_PREFIX):
        raise _malformed("an old prize code (CCPZ1) carries no winner's signature: "
                         "the winner must show a fresh one")
    if not text.startswith(PREFIX):
        raise _malformed(f"code must start with {PREFIX}")
    if len(text) != _TEXT_LEN:
        raise _malformed(f"code must be {_TEXT_LEN} characters")
    encoded = text[len(PREFIX) :]
    if not _B64URL.fullmatch(encoded):
        raise _malformed("code must be base64url")
    try:
        raw = base64.urlsafe_b64decode(encoded)
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - regex-guarded
        raise _malformed("code must be base64url") from exc
    award_id = int.from_bytes(raw[0:8], "big")
    if award_id == 0:
        raise _malformed("award id 0 does not exist")
    issued_at = int.from_bytes(raw[28:33], "big")
    return PrizeCode(
        award_id=award_id,
        consumer=to_checksum_address(raw[8:28]),
        issued_at=issued_at,
        expiry=issued_at + raw[33],
        nonce=int.from_bytes(raw[34:42], "big"),
        key_id=raw[42:46],
        signature=raw[115:],
        claim_expiry=issued_at + int.from_bytes(raw[46:50], "big"),
        claim_signature=raw[50:115],
    )


def verify_code(text: str, signer_address: str, now: int, *, skew: int = CLOCK_SKEW) -> PrizeCode:
    """The code, if it is well formed, signed by `signer_address` and valid at `now`.

    Checks in this order and raises `PrizeCodeRejected` with the first
    problem: MALFORMED (layout), BAD_SIGNATURE (v not 27/28, r or s out of
    range, high s, unrecoverable), WRONG_SIGNER (the key id names another
    key), TAMPERED (our key id but the signature does not match the bytes),
    LIFETIME_TOO_LONG (over 30 s), NOT_YET_VALID (`now < issued_at - skew`),
    EXPIRED (`now >= expiry + skew`). Authenticity comes first so the time
    reasons speak about fields the platform really signed. Whether the code
    was already accepted is the service's check (see the module docstring).
    """
    if not isinstance(signer_address, str) or not is_address(signer_address):
        raise InvalidInput(f"{signer_address!r} is not a chain address", field="signer")
    code = parse_code(text)
    recovered = _recover(code)
    if code.key_id != key_id_of(signer_address):
        raise PrizeCodeRejected(CodeProblem.WRONG_SIGNER, "code signed by another key")
    if recovered.lower() != signer_address.lower():
        raise PrizeCodeRejected(CodeProblem.TAMPERED, "code altered after signing")
    check_times(code, now, skew=skew)
    return code


def check_times(code: PrizeCode, now: int, *, skew: int = CLOCK_SKEW) -> None:
    """The time checks of `verify_code` alone, for a code already verified:
    raises `PrizeCodeRejected` with LIFETIME_TOO_LONG, NOT_YET_VALID or EXPIRED."""
    if code.lifetime > MAX_LIFETIME:
        raise PrizeCodeRejected(
            CodeProblem.LIFETIME_TOO_LONG, f"code lifetime above {MAX_LIFETIME} seconds"
        )
    if now < code.issued_at - skew:
        raise PrizeCodeRejected(CodeProblem.NOT_YET_VALID, "code not valid yet (issued later)")
    if now >= code.expiry + skew:
        raise PrizeCodeRejected(CodeProblem.EXPIRED, "code expired")


def check_offline(code: PrizeCode, scanned_at: int, synced_at: int, window: int, *,
                  skew: int = CLOCK_SKEW) -> None:
    """The time rule of an offline scan (issue 20 §4), for a code already verified.

    A terminal without a connection scans at its own clock's `scanned_at` and
    syncs at the server's `synced_at`. The scan counts only when

    1. `scanned_at <= synced_at + skew` (not in the future: SCANNED_IN_FUTURE),
    2. `issued_at - skew <= scanned_at < expiry + skew`: the terminal recorded it
       while the code was valid (SCANNED_WHILE_INVALID), and
    3. `synced_at <= issued_at + window`: it is synced within the offline window
       of the code's issue (OFFLINE_WINDOW_PASSED).

    `scanned_at` is the terminal's word, so rule 3 is what bounds a backdated
    scan of a screenshotted code: at most `window` seconds after its issue.
    Raises `PrizeCodeRejected` with the first rule broken (LIFETIME_TOO_LONG first).
    """
    if code.lifetime > MAX_LIFETIME:
        raise PrizeCodeRejected(
            CodeProblem.LIFETIME_TOO_LONG, f"code lifetime above {MAX_LIFETIME} seconds"
        )
    if scanned_at > synced_at + skew:
        raise PrizeCodeRejected(
            CodeProblem.SCANNED_IN_FUTURE,
            f"the scan time {iso(scanned_at)} is {scanned_at - synced_at} s ahead of the "
            f"server's clock ({skew} s tolerated)",
        )
    if not code.issued_at - skew <= scanned_at < code.expiry + skew:
        raise PrizeCodeRejected(
            CodeProblem.SCANNED_WHILE_INVALID,
            f"the scan time {iso(scanned_at)} lies outside the code's validity "
            f"({iso(code.issued_at)} to {iso(code.expiry)}, {skew} s tolerated)",
        )
    if synced_at > code.issued_at + window:
        raise PrizeCodeRejected(
            CodeProblem.OFFLINE_WINDOW_PASSED,
            f"synced {synced_at - code.issued_at} s after the code was issued; an offline "
            f"scan counts only when synced within {window} s of its code's issue",
        )


#: What a code's refusal says for each broken signature rule (the layout fixes the length).
_SIGNATURE_PROBLEMS = {
    eip712.SignatureRule.V: "signature v must be 27 or 28",
    eip712.SignatureRule.RANGE: "signature r or s out of range",
    eip712.SignatureRule.HIGH_S: "malleable signature (high s)",
    eip712.SignatureRule.UNRECOVERABLE: "unrecoverable signature",
}


def _recover(code: PrizeCode) -> str:
    try:
        return eip712.recover(signable(code.body), code.signature)
    except eip712.SignatureRefused as exc:
        raise PrizeCodeRejected(CodeProblem.BAD_SIGNATURE,
                                _SIGNATURE_PROBLEMS[exc.rule]) from exc


def _body(
    award_id: int, consumer: str, issued_at: int, lifetime: int, nonce: int, key_id: bytes
) -> bytes:
    return (
        award_id.to_bytes(8, "big")
        + to_bytes(hexstr=consumer)
        + issued_at.to_bytes(5, "big")
        + lifetime.to_bytes(1, "big")
        + nonce.to_bytes(8, "big")
        + key_id
    )


def _malformed(message: str) -> PrizeCodeRejected:
    return PrizeCodeRejected(CodeProblem.MALFORMED, message)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
