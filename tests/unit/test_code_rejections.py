"""Codes and signatures: every bad consent code, prize code and promotion link is
refused with the right reason (issue 9, "codes and signatures").

This file adds what the per-module tests leave out; together they cover the row:

- replayed: consent codes by the contract (nonce spent, coupon no longer active:
  tests/contracts/test_promotions.py, and a 409 through the API in
  tests/integration/test_promotions.py); prize codes by the service, which
  remembers each claimed award and nonce (tests/integration/test_prizes.py);
  promotion links are reusable by design until they expire.
- expired, forged: consent codes here; prize codes in tests/unit/test_prize_codes.py;
  links in tests/unit/test_links.py (and here through the link text).
- tampered: every field of a consent code's text and of a link's text here;
  every field of a prize code in tests/unit/test_prize_codes.py.
- cross-contract, cross-chain: consent codes and prize codes here; links in
  tests/unit/test_links.py and here (fields of the text rewritten).

A consent code's text names neither chain nor contract: they are bound by the
EIP-712 domain its signature covers, so a code signed for another chain or
contract recovers another address and is refused as "not signed by the
holder", the same reason the contract gives. A prize code is bound to the
platform's code key (derived from the master secret).
"""

from __future__ import annotations

import base64
from types import SimpleNamespace

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from couponchain.domain import consent as consent_rules
from couponchain.domain import eip712, links
from couponchain.domain import prize_codes as pc
from couponchain.domain.consent import Consent
from couponchain.domain.prize_codes import CodeProblem, PrizeCodeRejected
from couponchain.errors import ContractRevert, InvalidInput
from couponchain.services.platform_secrets import prize_code_name, random_prize_key
from couponchain.services.prizes import PrizeService, code_key

HOLDER = Account.from_key(keccak(text="rejections holder"))
OTHER = Account.from_key(keccak(text="rejections someone else"))
CONTRACT = to_checksum_address("0x" + "ab" * 20)
OTHER_CONTRACT = to_checksum_address("0x" + "cd" * 20)
CHAIN = 31337
NOW = 1_800_000_000
COUPON = 42


# -- consent codes ---------------------------------------------------------------------


def consent_code(*, coupon: int = COUPON, nonce: int = 7, expiry: int = NOW + 60,
                 key: bytes | None = None, chain_id: int = CHAIN,
                 contract: str = CONTRACT, merchant: str = consent_rules.ANY_MERCHANT,
                 max_amount: int = 10**6) -> str:
    """The text a holder shows (CCP2...), signed as told."""
    consent = Consent(coupon=coupon, nonce=nonce, expiry=expiry, merchant=merchant,
                      max_amount=max_amount)
    signature = consent_rules.sign_consent(consent, chain_id, contract, key or HOLDER.key)
    return consent_rules.encode_code(consent, signature)


def check_code(text: str, *, now: int = NOW, holder: str = HOLDER.address,
               max_lifetime: int = 120) -> None:
    """What the write-off does with a scanned code: decode, then the contract's rules."""
    consent, signature = consent_rules.decode_code(text)
    consent_rules.check_consent(consent, signature, chain_id=CHAIN, contract=CONTRACT,
                                holder=holder, now=now, max_lifetime=max_lifetime)


def refused(text: str, message: str, field: str, **kwargs: object) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        check_code(text, **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field, caught.value.message


def test_a_good_consent_code_passes_until_its_expiry_second() -> None:
    check_code(consent_code())
    check_code(consent_code(expiry=NOW))


def test_expired_consent_code() -> None:
    refused(consent_code(expiry=NOW - 1), "consent expired", "expiry")
    refused(consent_code(), "consent expired", "expiry", now=NOW + 61)


def test_consent_code_living_longer_than_the_round_allows() -> None:
    refused(consent_code(expiry=NOW + 121), "longer than 120 seconds", "expiry")
    refused(consent_code(expiry=NOW + 301), "longer than 300 seconds", "expiry",
            max_lifetime=consent_rules.MAX_CONSENT_LIFETIME)


def test_forged_consent_code() -> None:
    refused(consent_code(key=OTHER.key), "consent not signed by the holder", "signature")


def test_consent_code_of_a_previous_holder() -> None:
    """Passed on, the coupon needs its new holder's consent."""
    refused(consent_code(), "consent not signed by the holder", "signature",
            holder=OTHER.address)


def test_consent_code_for_another_chain() -> None:
    refused(consent_code(chain_id=1), "consent not signed by the holder", "signature")
    refused(consent_code(chain_id=CHAIN + 1), "consent not signed by the holder", "signature")


def test_consent_code_for_another_contract() -> None:
    refused(consent_code(contract=OTHER_CONTRACT), "consent not signed by the holder",
            "signature")


@pytest.mark.parametrize("part,value", [(1, "43"), (2, "8"), (3, str(NOW + 59)),
                                        (4, "ab" * 20), (5, str(10**6 + 1))],
                         ids=["coupon", "nonce", "expiry", "merchant", "max_amount"])
def test_consent_code_with_a_tampered_field(part: int, value: str) -> None:
    parts = consent_code().split(".")
    parts[part] = value
    refused(".".join(parts), "consent not signed by the holder", "signature")


def _with_signature(text: str, signature: bytes) -> str:
    head = text.rsplit(".", 1)[0]
    return head + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


def test_consent_code_with_a_tampered_signature() -> None:
    text = consent_code()
    _, signature = consent_rules.decode_code(text)
    r_flipped = bytes([signature[0] ^ 1]) + signature[1:]
    s = int.from_bytes(signature[32:64], "big")
    high_s = (signature[:32] + (eip712.SECP256K1_N - s).to_bytes(32, "big")
              + bytes([55 - signature[64]]))
    cases = {
        "r changed": (r_flipped, "not signed by the holder|invalid signature"),
        "malleated (high s)": (high_s, "high s"),
        "v changed": (signature[:64] + bytes([signature[64] + 2]), "v must be 27 or 28"),
        "cut short": (signature[:64], "65 bytes"),
        "zero r": (bytes(32) + signature[32:], "high s"),  # r out of range
    }
    for label, (bad, message) in cases.items():
        with pytest.raises(InvalidInput, match=message) as caught:
            check_code(_with_signature(text, bad))
        assert caught.value.field == "signature", label


@pytest.mark.parametrize("text", [
    "", "hello", "CCP9.42.7.1800000060.0.5.AAAA", "CCP2.42.7.1800000060.0.5",
    "CCP2.42.7.1800000060.0.5.sig.extra", "CCP2.-42.7.1800000060.0.5.AAAA",
    "CCP2.42.0x7.1800000060.0.5.AAAA", "CCP2.٤٢.7.1800000060.0.5.AAAA",
    "CCP2." + "9" * 80 + ".7.1800000060.0.5.AAAA",
    "CCP2.42.7.1800000060.0.5." + "A" * 400,
    "CCP2.42.7.1800000060.0x" + "ab" * 20 + ".5.AAAA", "CCP2.42.7.1800000060.any.5.AAAA",
    "CCP2.42.7.1800000060." + "AB" * 20 + ".5.AAAA", "CCP2.42.7.1800000060.0.-5.AAAA",
    "CCP1.42.7.1800000060.AAAA",  # an unbounded consent of the first contracts
])
def test_malformed_consent_codes_name_the_code(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        consent_rules.decode_code(text)
    assert caught.value.field == "code"


def test_an_old_unbounded_code_is_refused_with_its_reason() -> None:
    with pytest.raises(InvalidInput, match="names no merchant and no maximum"):
        consent_rules.decode_code("CCP1.42.7.1800000060.AAAA")


def test_a_consent_allows_its_merchant_up_to_its_maximum() -> None:
    """The bounds the contract checks first, applied to a decoded code."""
    shop, other = to_checksum_address("0x" + "12" * 20), to_checksum_address("0x" + "34" * 20)
    consent, _ = consent_rules.decode_code(consent_code(merchant=shop, max_amount=500))
    assert (consent.merchant, consent.max_amount, consent.any_merchant) == (shop, 500, False)
    consent.allows(shop, 500)
    with pytest.raises(ContractRevert) as caught:
        consent.allows(other, 500)
    assert (caught.value.reason, caught.value.field) == (
        "promotions: consent is for another merchant", "code")
    with pytest.raises(ContractRevert) as caught:
        consent.allows(shop, 501)
    assert (caught.value.reason, caught.value.field) == (
        "promotions: order amount above the consent's maximum", "order_amount")
    anywhere, _ = consent_rules.decode_code(consent_code())
    assert anywhere.any_merchant
    anywhere.allows(other, 10**6)


def test_a_signature_of_junk_characters_is_refused() -> None:
    """Decoding skips characters outside base64url (nothing is left of "!!!!"); the
    check then refuses the empty signature."""
    refused(_with_signature(consent_code(), b"") + "!!!!", "65 bytes", "signature")


# -- prize codes -------------------------------------------------------------------------


CONSUMER = Account.from_key(keccak(text="rejections prize consumer")).address


def test_prize_code_of_another_platform_is_refused_as_wrong_signer() -> None:
    """Another deployment (another master secret) signs with another key."""
    ours, theirs = code_key("our master secret, 32 bytes long", CHAIN, CONTRACT), code_key(
        "their master secret, 32 bytes long", CHAIN, CONTRACT)
    code = pc.issue_code(5, CONSUMER, NOW, 20, theirs.key)
    with pytest.raises(PrizeCodeRejected) as caught:
        pc.verify_code(code, ours.address, NOW)
    assert caught.value.problem is CodeProblem.WRONG_SIGNER
    assert pc.verify_code(pc.issue_code(5, CONSUMER, NOW, 20, ours.key),
                          ours.address, NOW).award_id == 5


@pytest.mark.parametrize("other", ["chain", "contract"])
def test_prize_code_of_another_chain_or_contract_is_refused(other: str) -> None:
    """Two deployments that share a master secret (a staging copy, every dev
    install with the default secret) but not the chain or the prizes contract
    must not accept each other's codes: award ids repeat across deployments.
    A new deployment's code key is random, stored under a name that holds the
    chain id and the contract; a database from before keeps the key derived
    from the secret, the chain id and the contract. Both differ per deployment.
    """
    chain, contract = (1, CONTRACT) if other == "chain" else (CHAIN, OTHER_CONTRACT)
    assert prize_code_name(CHAIN, CONTRACT) != prize_code_name(chain, contract)
    secret = "one master secret shared by two deployments"
    derived = (code_key(secret, CHAIN, CONTRACT), code_key(secret, chain, contract))
    here, there = PrizeService(SimpleNamespace()), PrizeService(SimpleNamespace())
    here.use_code_key(random_prize_key())
    there.use_code_key(random_prize_key())
    for ours, theirs in (derived, (here.code_signer, there.code_signer)):
        code = pc.issue_code(5, CONSUMER, NOW, 20, theirs.key)
        with pytest.raises(PrizeCodeRejected) as caught:
            pc.verify_code(code, ours.address, NOW)
        assert caught.value.problem in (CodeProblem.WRONG_SIGNER, CodeProblem.TAMPERED)


# -- promotion links ---------------------------------------------------------------------

PROMOTER = Account.from_key(keccak(text="rejections promoter"))
#: Offsets of the encoded link's fields (see domain/links.py).
LINK_FIELDS = {"chain_id": (1, 9), "contract": (9, 29), "product": (29, 37),
               "promoter": (37, 57), "expiry": (57, 65), "signature": (65, 130)}


def link_text(expiry: int = NOW + 3_600) -> str:
    link = links.Link(product=3, promoter=PROMOTER.address, expiry=expiry)
    signature = links.sign_link(link, CHAIN, CONTRACT, PROMOTER.key)
    return links.encode_link(links.SignedLink(link, CHAIN, CONTRACT, signature))


def _tamper(text: str, name: str, xor: int = 1) -> str:
    raw = bytearray(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    start, end = LINK_FIELDS[name]
    raw[end - 2] ^= xor  # a low byte: the value stays in range
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


def check_link(text: str, product: int | None = 3) -> None:
    links.check_link(links.decode_link(text), chain_id=CHAIN, contract=CONTRACT, now=NOW,
                     product=product, buyer=OTHER.address)


@pytest.mark.parametrize("name,product,message,field", [
    ("chain_id", 3, "another chain", "chain_id"),
    ("contract", 3, "another contract", "contract"),
    ("product", 3, "another product", "product"),
    ("product", None, "not signed by the promoter", "signature"),  # any product accepted
    ("promoter", 3, "not signed by the promoter", "signature"),
    ("expiry", 3, "not signed by the promoter", "signature"),
    ("signature", 3, "not signed by the promoter|invalid signature|high s", "signature"),
])
def test_tampered_link_text_is_refused_with_its_reason(
        name: str, product: int | None, message: str, field: str) -> None:
    check_link(link_text(), product)  # untouched, it passes
    with pytest.raises(InvalidInput, match=message) as caught:
        check_link(_tamper(link_text(), name), product)
    assert caught.value.field == field


def test_link_relabelled_for_this_chain_and_contract_is_refused() -> None:
    """A link signed for chain 1 / another contract, its text rewritten to name ours."""
    for chain_id, contract in ((1, CONTRACT), (CHAIN, OTHER_CONTRACT)):
        link = links.Link(product=3, promoter=PROMOTER.address, expiry=NOW + 60)
        signature = links.sign_link(link, chain_id, contract, PROMOTER.key)
        text = links.encode_link(links.SignedLink(link, CHAIN, CONTRACT, signature))
        with pytest.raises(InvalidInput, match="not signed by the promoter") as caught:
            check_link(text)
        assert caught.value.field == "signature"


def test_expired_link_text_is_refused() -> None:
    with pytest.raises(InvalidInput, match="link expired") as caught:
        check_link(link_text(expiry=NOW - 1))
    assert caught.value.field == "expiry"
