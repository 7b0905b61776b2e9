"""Promotion links: typed data, signatures, checks and URL encoding (domain/links.py)."""

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from couponchain.domain import eip712, links
from couponchain.domain.links import Link, SignedLink
from couponchain.errors import InvalidInput

PROMOTER = Account.from_key(keccak(text="links test promoter"))
OTHER = Account.from_key(keccak(text="links test other"))
CONTRACT = "0x" + "ab" * 20
CHAIN = 31337
NOW = 1_800_000_000


def signed_link(product=3, expiry=NOW + 60, key=None, chain_id=CHAIN, contract=CONTRACT):
    link = Link(product=product, promoter=PROMOTER.address, expiry=expiry)
    signature = links.sign_link(link, chain_id, contract, key or PROMOTER.key)
    return SignedLink(link=link, chain_id=CHAIN, contract=CONTRACT, signature=signature)


def check(signed, **overrides):
    kwargs = {"chain_id": CHAIN, "contract": CONTRACT, "now": NOW, "product": 3}
    kwargs.update(overrides)
    links.check_link(signed, **kwargs)


def test_typed_data_shape():
    link = Link(product=3, promoter=PROMOTER.address.lower(), expiry=9)
    data = links.typed_data(link, CHAIN, CONTRACT)
    assert data["primaryType"] == "Link"
    assert data["domain"]["name"] == "CouponChain Referrals"
    assert data["domain"]["verifyingContract"] == to_checksum_address(CONTRACT)
    assert data["message"] == {"product": 3, "promoter": PROMOTER.address, "expiry": 9}
    assert link.promoter == PROMOTER.address  # checksummed


def test_digest_binds_every_field_chain_and_contract():
    link = Link(product=3, promoter=PROMOTER.address, expiry=9)
    base = links.digest(link, CHAIN, CONTRACT)
    assert len(base) == 32
    variants = [
        links.digest(Link(4, PROMOTER.address, 9), CHAIN, CONTRACT),
        links.digest(Link(3, OTHER.address, 9), CHAIN, CONTRACT),
        links.digest(Link(3, PROMOTER.address, 10), CHAIN, CONTRACT),
        links.digest(link, CHAIN + 1, CONTRACT),
        links.digest(link, CHAIN, "0x" + "cd" * 20),
    ]
    assert base not in variants and len(set(variants)) == 5


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"product": -1}, "product"),
        ({"product": 2**256}, "product"),
        ({"product": True}, "product"),
        ({"expiry": "1"}, "expiry"),
        ({"promoter": "0x1234"}, "promoter"),
        ({"promoter": 5}, "promoter"),
    ],
)
def test_link_rejects_bad_fields(kwargs, field):
    fields = {"product": 1, "promoter": PROMOTER.address, "expiry": 1, **kwargs}
    with pytest.raises(InvalidInput) as caught:
        Link(**fields)
    assert caught.value.field == field


def test_typed_data_rejects_a_bad_contract():
    with pytest.raises(InvalidInput) as caught:
        links.typed_data(Link(1, PROMOTER.address, 1), CHAIN, "nope")
    assert caught.value.field == "contract"


def test_sign_and_recover():
    signed = signed_link()
    assert len(signed.signature) == 65 and signed.signature[64] in (27, 28)
    assert links.recover_signer(signed.link, CHAIN, CONTRACT, signed.signature) == PROMOTER.address
    check(signed, buyer=OTHER.address)


def test_recover_refuses_malformed_signatures():
    signed = signed_link()
    sig = signed.signature
    s = int.from_bytes(sig[32:64], "big")
    high_s = sig[:32] + (eip712.SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - sig[64]])
    cases = {
        b"": "65 bytes",
        sig[:64]: "65 bytes",
        sig + b"\x00": "65 bytes",
        sig[:64] + b"\x01": "v must be 27 or 28",
        high_s: "high s",
        b"\x00" * 32 + sig[32:]: "high s",
    }
    for bad, message in cases.items():
        with pytest.raises(InvalidInput, match=message) as caught:
            links.recover_signer(signed.link, CHAIN, CONTRACT, bad)
        assert caught.value.field == "signature"


def test_check_link_rejects_each_attack():
    attacks = [
        (signed_link(expiry=NOW - 1), {}, "expiry", "expired"),
        (signed_link(key=OTHER.key), {}, "signature", "not signed by the promoter"),
        (signed_link(product=4), {}, "product", "another product"),
        (signed_link(), {"chain_id": CHAIN + 1}, "chain_id", "another chain"),
        (signed_link(), {"contract": "0x" + "cd" * 20}, "contract", "another contract"),
        (signed_link(chain_id=1), {}, "signature", "not signed by the promoter"),
        (signed_link(contract="0x" + "cd" * 20), {}, "signature", "not signed by the promoter"),
        (signed_link(), {"buyer": PROMOTER.address.lower()}, "promoter", "self-referral"),
    ]
    for signed, overrides, field, message in attacks:
        with pytest.raises(InvalidInput, match=message) as caught:
            check(signed, **overrides)
        assert caught.value.field == field
    check(signed_link(expiry=NOW))  # valid through its expiry second


def test_encode_decode_round_trip():
    signed = signed_link()
    text = links.encode_link(signed)
    assert len(text) == 174
    assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert links.decode_link(text) == SignedLink(
        link=signed.link,
        chain_id=CHAIN,
        contract=to_checksum_address(CONTRACT),
        signature=signed.signature,
    )
    check(links.decode_link(text), buyer=OTHER.address)


@given(
    product=st.integers(0, 2**64 - 1),
    expiry=st.integers(0, 2**64 - 1),
    chain_id=st.integers(0, 2**64 - 1),
    signature=st.binary(min_size=65, max_size=65),
)
def test_encoding_round_trips_any_link(product, expiry, chain_id, signature):
    signed = SignedLink(
        link=Link(product=product, promoter=PROMOTER.address, expiry=expiry),
        chain_id=chain_id,
        contract=OTHER.address,
        signature=signature,
    )
    assert links.decode_link(links.encode_link(signed)) == signed


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: "",
        lambda t: t[:-1],
        lambda t: t + "A",
        lambda t: t[:10] + "!" + t[11:],
        lambda t: t[:10] + "+" + t[11:],
        lambda t: "B" + t[1:],  # version byte 5
        lambda t: t[:-1] + ("B" if t[-1] != "B" else "C"),  # stray bits (non-canonical)
        lambda t: t * 3,
    ],
)
def test_decode_rejects_malformed_text(mutate):
    text = links.encode_link(signed_link())
    with pytest.raises(InvalidInput) as caught:
        links.decode_link(mutate(text))
    assert caught.value.field == "link"


def test_encode_rejects_values_that_do_not_fit():
    signed = signed_link(product=2**64)
    with pytest.raises(InvalidInput) as caught:
        links.encode_link(signed)
    assert caught.value.field == "product"
    short = SignedLink(signed_link().link, CHAIN, CONTRACT, b"\x00" * 64)
    with pytest.raises(InvalidInput) as caught:
        links.encode_link(short)
    assert caught.value.field == "signature"
