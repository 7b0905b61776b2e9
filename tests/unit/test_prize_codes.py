"""Rotating prize codes: layout, signature and time rules, each refusal with its reason.

A replayed code is refused by the service (it remembers accepted nonces), not
here: this module is pure.
"""

import base64

import pytest
from eth_account import Account
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from couponchain.domain import eip712
from couponchain.domain import prize_codes as pc
from couponchain.domain.prize_codes import CodeProblem, PrizeCodeRejected
from couponchain.errors import InvalidInput

PLATFORM = Account.from_key(keccak(text="couponchain prize code signer"))
OTHER = Account.from_key(keccak(text="couponchain someone else"))
CONSUMER = Account.from_key(keccak(text="couponchain prize consumer")).address
NOW = 1_800_000_000


def issue(award_id=42, consumer=CONSUMER, now=NOW, lifetime=20, key=PLATFORM.key, nonce=7):
    return pc.issue_code(award_id, consumer, now, lifetime, key, nonce=nonce)


def raw_of(text: str) -> bytearray:
    return bytearray(base64.urlsafe_b64decode(text[len(pc.PREFIX) :]))


def rejected(text, problem, now=NOW, signer=PLATFORM.address) -> PrizeCodeRejected:
    with pytest.raises(PrizeCodeRejected) as info:
        pc.verify_code(text, signer, now)
    assert info.value.problem is problem, info.value.message
    assert info.value.field == "code"
    assert isinstance(info.value, InvalidInput)
    return info.value


def resign(raw: bytearray, key) -> str:
    """A code whose (altered) body is correctly signed by `key`."""
    body = bytes(raw[:115])
    signature = bytes(Account.sign_message(pc.signable(body), key).signature)
    return pc.encode_code(body + signature)


# --- round trip -------------------------------------------------------------


def test_issue_and_verify_round_trip():
    text = issue()
    assert text.startswith("CCPZ2.")
    assert len(text) == 246
    code = pc.verify_code(text, PLATFORM.address, NOW)
    assert (code.award_id, code.consumer, code.issued_at, code.expiry, code.nonce) == (
        42,
        CONSUMER,
        NOW,
        NOW + 20,
        7,
    )
    assert code.lifetime == 20
    assert code.key_id == bytes.fromhex(PLATFORM.address[2:10])
    assert pc.parse_code(text) == code


def test_text_is_qr_friendly_ascii():
    text = issue(award_id=2**64 - 1, nonce=2**64 - 1)
    assert text.isascii() and " " not in text and "=" not in text
    assert pc.verify_code(text, PLATFORM.address.lower(), NOW).award_id == 2**64 - 1


def test_random_nonces_differ():
    a = pc.issue_code(1, CONSUMER, NOW, 10, PLATFORM.key)
    b = pc.issue_code(1, CONSUMER, NOW, 10, PLATFORM.key)
    assert pc.parse_code(a).nonce != pc.parse_code(b).nonce


def test_signature_is_low_s_personal_sign():
    code = pc.parse_code(issue())
    assert int.from_bytes(code.signature[32:64], "big") <= eip712.SECP256K1_N // 2
    assert code.signature[64] in (27, 28)
    # Any EIP-191 verifier (a terminal offline) recovers the published signer.
    assert Account.recover_message(pc.signable(code.body), signature=code.signature) == (
        PLATFORM.address
    )


def test_scanner_whitespace_is_ignored():
    assert pc.parse_code("  " + issue() + "\r\n").award_id == 42


# --- time ---------------------------------------------------------------------


def test_valid_across_the_whole_window_with_skew():
    text = issue(lifetime=30)
    for now in (NOW - pc.CLOCK_SKEW, NOW, NOW + 29, NOW + 30 + pc.CLOCK_SKEW - 1):
        assert pc.verify_code(text, PLATFORM.address, now).award_id == 42


def test_expired():
    text = issue(lifetime=10)
    rejected(text, CodeProblem.EXPIRED, now=NOW + 10 + pc.CLOCK_SKEW)
    rejected(text, CodeProblem.EXPIRED, now=NOW + 3600)
    with pytest.raises(PrizeCodeRejected):
        pc.verify_code(text, PLATFORM.address, NOW + 10, skew=0)


def test_not_yet_valid():
    text = issue()
    rejected(text, CodeProblem.NOT_YET_VALID, now=NOW - pc.CLOCK_SKEW - 1)
    assert pc.verify_code(text, PLATFORM.address, NOW, skew=0).award_id == 42


def test_lifetime_over_30_seconds_is_refused_even_when_signed():
    raw = raw_of(issue())
    raw[33] = 31
    rejected(resign(raw, PLATFORM.key), CodeProblem.LIFETIME_TOO_LONG)
    raw[33] = 255
    rejected(resign(raw, PLATFORM.key), CodeProblem.LIFETIME_TOO_LONG)


@pytest.mark.parametrize("lifetime", [0, 31, -1, True, 1.5])
def test_issue_refuses_bad_lifetimes(lifetime):
    with pytest.raises(InvalidInput) as info:
        issue(lifetime=lifetime)
    assert info.value.field == "lifetime"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"award_id": 0}, "award_id"),
        ({"award_id": 2**64}, "award_id"),
        ({"consumer": "0x1234"}, "consumer"),
        ({"now": -1}, "now"),
        ({"nonce": 2**64}, "nonce"),
    ],
)
def test_issue_refuses_bad_fields(kwargs, field):
    with pytest.raises(InvalidInput) as info:
        issue(**kwargs)
    assert info.value.field == field


# --- authenticity -------------------------------------------------------------


def test_forged_with_another_key_is_wrong_signer():
    rejected(issue(key=OTHER.key), CodeProblem.WRONG_SIGNER)


def test_checked_against_the_wrong_published_key_is_wrong_signer():
    rejected(issue(), CodeProblem.WRONG_SIGNER, signer=OTHER.address)


def test_forgery_claiming_our_key_id_is_tampered():
    raw = raw_of(issue())
    rejected(resign(raw, OTHER.key), CodeProblem.TAMPERED)


@pytest.mark.parametrize(
    ("offset", "what"),
    [
        (0, "award id"),
        (7, "award id"),
        (8, "consumer"),
        (27, "consumer"),
        (32, "issued-at"),
        (33, "lifetime"),
        (34, "nonce"),
        (41, "nonce"),
        (46, "claim lifetime"),
        (50, "winner's signature"),
        (114, "winner's signature"),
    ],
)
def test_tampered_fields(offset, what):
    raw = raw_of(issue())
    raw[offset] ^= 0x01
    text = pc.encode_code(bytes(raw))
    problem = rejected(text, CodeProblem.TAMPERED, now=NOW + 1).problem
    assert problem is CodeProblem.TAMPERED, what


def test_tampered_key_id_is_wrong_signer():
    raw = raw_of(issue())
    raw[42] ^= 0x01
    rejected(pc.encode_code(bytes(raw)), CodeProblem.WRONG_SIGNER)


def test_high_s_signature_is_refused():
    raw = raw_of(issue())
    s = int.from_bytes(raw[147:179], "big")
    raw[147:179] = (eip712.SECP256K1_N - s).to_bytes(32, "big")
    raw[179] = 55 - raw[179]  # 27 <-> 28: the same signer, malleated
    error = rejected(pc.encode_code(bytes(raw)), CodeProblem.BAD_SIGNATURE)
    assert "high s" in error.message


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [
        (179, 0, "v must be 27 or 28"),
        (179, 29, "v must be 27 or 28"),
        (115, None, "out of range"),  # r = 0
        (147, None, "out of range"),  # s = 0
    ],
)
def test_bad_signature_values(offset, value, message):
    raw = raw_of(issue())
    if value is None:
        raw[offset : offset + 32] = bytes(32)
    else:
        raw[offset] = value
    error = rejected(pc.encode_code(bytes(raw)), CodeProblem.BAD_SIGNATURE)
    assert message in error.message


def test_signer_must_be_an_address():
    with pytest.raises(InvalidInput) as info:
        pc.verify_code(issue(), "platform", NOW)
    assert info.value.field == "signer"


# --- malformed ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "CCPZ2.",
        "CCPZ1." + "A" * 148,  # the old layout: no winner's signature
        "CCPZ3." + "A" * 240,
        "ccpz2." + "A" * 240,
        "CCPZ2." + "A" * 239,
        "CCPZ2." + "A" * 241,
        "CCPZ2." + "A" * 239 + "=",
        "CCPZ2." + "A" * 239 + "+",
        "CCPZ2." + "A" * 239 + "/",
        "CCPZ2." + "A" * 239 + "é",
        "CCPZ2." + "A" * 240,  # award id 0
        "https://example.com/?code=CCPZ2.",
        None,
        b"CCPZ2.",
        42,
    ],
)
def test_malformed(text):
    error = rejected(text, CodeProblem.MALFORMED)
    with pytest.raises(PrizeCodeRejected) as info:
        pc.parse_code(text)
    assert info.value.message == error.message


def test_truncated_and_extended_codes_are_malformed():
    text = issue()
    rejected(text[:-1], CodeProblem.MALFORMED)
    rejected(text + "A", CodeProblem.MALFORMED)
    rejected(text[:100], CodeProblem.MALFORMED)


@given(st.text(max_size=200))
def test_garbage_is_always_refused_with_a_reason(text):
    with pytest.raises(PrizeCodeRejected) as info:
        pc.verify_code(text, PLATFORM.address, NOW)
    assert isinstance(info.value.problem, CodeProblem)


@given(st.binary(min_size=180, max_size=180))
def test_random_bytes_in_the_right_layout_never_verify(raw):
    text = pc.encode_code(raw)
    with pytest.raises(PrizeCodeRejected) as info:
        pc.verify_code(text, PLATFORM.address, NOW)
    assert info.value.problem in {
        CodeProblem.MALFORMED,
        CodeProblem.BAD_SIGNATURE,
        CodeProblem.WRONG_SIGNER,
        CodeProblem.TAMPERED,
    }


@given(
    award_id=st.integers(1, 2**64 - 1),
    now=st.integers(0, 2**40 - 31),
    lifetime=st.integers(1, 30),
    nonce=st.integers(0, 2**64 - 1),
    consumer=st.binary(min_size=20, max_size=20),
)
def test_round_trip_for_any_fields(award_id, now, lifetime, nonce, consumer):
    address = "0x" + consumer.hex()
    text = pc.issue_code(award_id, address, now, lifetime, PLATFORM.key, nonce=nonce)
    assert len(text) == 246
    code = pc.verify_code(text, PLATFORM.address, now)
    assert (code.award_id, code.consumer.lower(), code.expiry, code.nonce) == (
        award_id,
        address,
        now + lifetime,
        nonce,
    )


@pytest.mark.parametrize(("scanned_at", "synced_at", "problem"), [
    # Issued at NOW, 20 s lifetime, 900 s window, 5 s skew.
    (NOW + 5, NOW + 45, None),  # the finding's sync 45 s on, scan time inside validity
    (NOW - 5, NOW + 45, None),  # the skew at the start
    (NOW + 24, NOW + 900, None),  # the last second of validity (+ skew), the window's end
    (NOW + 25, NOW + 45, CodeProblem.SCANNED_WHILE_INVALID),  # after expiry + skew
    (NOW - 6, NOW + 45, CodeProblem.SCANNED_WHILE_INVALID),  # before issue - skew
    (NOW + 5, NOW + 901, CodeProblem.OFFLINE_WINDOW_PASSED),
    (NOW + 5, NOW + 7 * 86_400, CodeProblem.OFFLINE_WINDOW_PASSED),  # days later
    (NOW + 15, NOW + 9, CodeProblem.SCANNED_IN_FUTURE),  # 6 s ahead of the server
    (NOW + 14, NOW + 9, None),  # 5 s ahead: the skew
])
def test_an_offline_scan_counts_while_valid_and_within_the_window(scanned_at, synced_at,
                                                                   problem):
    code = pc.parse_code(issue())
    if problem is None:
        pc.check_offline(code, scanned_at, synced_at, 900)
        return
    with pytest.raises(PrizeCodeRejected) as info:
        pc.check_offline(code, scanned_at, synced_at, 900)
    assert info.value.problem is problem, info.value.message


def test_the_claim_part_rides_along_unchanged():
    """The winner's claim signature and its expiry come back as issued, under
    the platform's signature (`test_tampered_fields` changes them)."""
    claim = bytes(range(65))
    text = pc.issue_code(42, CONSUMER, NOW, 20, PLATFORM.key, nonce=7,
                         claim_expiry=NOW + 3600, claim_signature=claim)
    code = pc.verify_code(text, PLATFORM.address, NOW)
    assert (code.claim_expiry, code.claim_signature) == (NOW + 3600, claim)
    assert pc.parse_code(issue()).claim_signature == bytes(65)  # none given
    with pytest.raises(InvalidInput) as info:
        pc.issue_code(42, CONSUMER, NOW, 20, PLATFORM.key, claim_signature=claim[:64])
    assert info.value.field == "claim_signature"
    with pytest.raises(InvalidInput) as info:
        pc.issue_code(42, CONSUMER, NOW, 20, PLATFORM.key, claim_expiry=NOW - 1)
    assert info.value.field == "claim_expiry"


def test_an_old_ccpz1_code_is_refused_with_a_reason():
    error = rejected("CCPZ1." + "A" * 148, CodeProblem.MALFORMED)
    assert "winner" in error.message
