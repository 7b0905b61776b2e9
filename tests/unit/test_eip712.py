"""domain/eip712.py: typed data, signing and recovery under the contracts' rules.

Known vectors: the EIP-712 specification's own `Mail` example (its digest and
its signature by keccak256("cow")), and whatever eth-account's own
`sign_typed_data` signs. Refusals: each signature rule the contracts apply.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from couponchain.domain import eip712
from couponchain.domain.eip712 import SignatureRefused, SignatureRule
from couponchain.errors import InvalidInput

KEY = keccak(text="eip712 unit signer")
SIGNER = Account.from_key(KEY)
CONTRACT = "0x" + "ab" * 20
FIELDS: eip712.Fields = [{"name": "coupon", "type": "uint256"},
                         {"name": "to", "type": "address"}]

# The example of EIP-712 itself (eips.ethereum.org/EIPS/eip-712, "Mail").
SPEC_MAIL: dict[str, Any] = {
    "types": {
        "EIP712Domain": eip712.CONTRACT_DOMAIN_FIELDS,
        "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
        "Mail": [{"name": "from", "type": "Person"}, {"name": "to", "type": "Person"},
                 {"name": "contents", "type": "string"}],
    },
    "primaryType": "Mail",
    "domain": {"name": "Ether Mail", "version": "1", "chainId": 1,
               "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
    "message": {
        "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
        "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
        "contents": "Hello, Bob!",
    },
}
SPEC_DIGEST = bytes.fromhex("be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2")
SPEC_SIGNATURE = bytes.fromhex(
    "4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d"
    "07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b91562" "1c")


def message(chain_id: int = 1, contract: str = CONTRACT, coupon: int = 7) -> dict[str, Any]:
    return eip712.typed_data("Transfer", FIELDS,
                             eip712.domain("CouponChain Test", "1", chain_id, contract),
                             {"coupon": coupon, "to": SIGNER.address})


def test_the_specification_example_hashes_signs_and_recovers_as_published() -> None:
    assert eip712.digest(SPEC_MAIL) == SPEC_DIGEST
    assert eip712.sign_typed(SPEC_MAIL, keccak(text="cow")) == SPEC_SIGNATURE
    assert eip712.recover_typed(SPEC_MAIL, SPEC_SIGNATURE) == (
        "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826")


def test_recovers_what_eth_account_signs_and_signs_what_it_signs() -> None:
    full = message()
    theirs = bytes(Account.sign_typed_data(KEY, full_message=full).signature)
    assert eip712.recover_typed(full, theirs) == SIGNER.address
    assert eip712.sign_typed(full, KEY) == theirs
    assert eip712.digest(full) == bytes(Account.sign_typed_data(KEY, full_message=full)
                                        .message_hash)


def test_the_domain_names_its_contract_only_when_there_is_one() -> None:
    on_chain = message()
    assert on_chain["types"]["EIP712Domain"][-1] == {"name": "verifyingContract",
                                                      "type": "address"}
    assert on_chain["domain"]["verifyingContract"] == to_checksum_address(CONTRACT)
    off_chain = eip712.typed_data("Transfer", FIELDS, eip712.domain("T", "1", 5),
                                  {"coupon": 1, "to": SIGNER.address})
    assert off_chain["types"]["EIP712Domain"] == eip712.DOMAIN_FIELDS
    assert "verifyingContract" not in off_chain["domain"]
    assert eip712.recover_typed(off_chain, eip712.sign_typed(off_chain, KEY)) == SIGNER.address
    with pytest.raises(InvalidInput) as refused:
        eip712.domain("T", "1", 5, "0x1234")
    assert refused.value.field == "contract"


@pytest.mark.parametrize("other", [message(chain_id=2), message(contract="0x" + "cd" * 20),
                                   message(coupon=8)], ids=["chain id", "contract", "field"])
def test_a_signature_for_another_chain_contract_or_message_names_another_signer(
        other: dict[str, Any]) -> None:
    signature = eip712.sign_typed(message(), KEY)
    assert eip712.digest(other) != eip712.digest(message())
    assert eip712.recover_typed(other, signature) != SIGNER.address


def _refused(signature: bytes) -> SignatureRefused:
    with pytest.raises(SignatureRefused) as refused:
        eip712.recover_typed(message(), signature)
    assert isinstance(refused.value, InvalidInput)  # the API answers 422, naming the field
    assert refused.value.field == "signature"
    return refused.value


def test_the_high_s_twin_of_a_valid_signature_is_refused() -> None:
    signature = eip712.sign_typed(message(), KEY)
    s = int.from_bytes(signature[32:64], "big")
    assert s <= eip712.HALF_N  # eth-account signs in the low half
    twin = signature[:32] + (eip712.SECP256K1_N - s).to_bytes(32, "big") + bytes(
        [55 - signature[64]])
    # The twin is a valid ECDSA signature of the same signer: only the rule refuses it.
    assert Account.recover_message(eip712.signable(message()), signature=twin) == SIGNER.address
    refused = _refused(twin)
    assert refused.rule is SignatureRule.HIGH_S
    assert "high s" in refused.message


@pytest.mark.parametrize("length", [0, 64, 66, 130])
def test_a_signature_of_another_length_is_refused(length: int) -> None:
    signature = (eip712.sign_typed(message(), KEY) * 3)[:length]
    refused = _refused(signature)
    assert refused.rule is SignatureRule.LENGTH
    assert refused.message == "signature must be 65 bytes"
    with pytest.raises(SignatureRefused):
        eip712.split(signature)


@pytest.mark.parametrize("v", [0, 1, 26, 29])
def test_a_v_other_than_27_or_28_is_refused(v: int) -> None:
    signature = eip712.sign_typed(message(), KEY)
    refused = _refused(signature[:64] + bytes([v]))
    assert refused.rule is SignatureRule.V
    assert refused.message == "signature v must be 27 or 28"


def test_r_or_s_out_of_range_and_an_unrecoverable_r_are_refused() -> None:
    signature = eip712.sign_typed(message(), KEY)
    n = eip712.SECP256K1_N.to_bytes(32, "big")
    for bad in (bytes(32) + signature[32:], n + signature[32:],
                signature[:32] + bytes(32) + signature[64:]):
        assert _refused(bad).rule is SignatureRule.RANGE
    # r = 5 is in range but no curve point has x = 5: no key recovers.
    no_point = (5).to_bytes(32, "big") + signature[32:]
    assert _refused(no_point).rule is SignatureRule.UNRECOVERABLE


def test_split_gives_the_permit_arguments() -> None:
    signature = eip712.sign_typed(message(), KEY)
    v, r, s = eip712.split(signature)
    assert (v, r, s) == (signature[64], signature[:32], signature[32:64])
    assert v in (27, 28)
