"""The browser's EIP-712 signing (`static/device-key-eip712.js`) agrees with Python's.

The module runs in Node with the node's installed @noble packages, on the typed
messages a self-custodied consumer signs (OwnKey, Consent, Purchase, Permit,
TransferWithAuthorization, Withdraw, CouponTransfer, an edition's Redemption):
its digest must be eth_account's, its address derivation the checksummed one, and
its signature must recover, through `recover_typed` (the contracts' rules: 65
bytes, v 27/28, low s), to the key's address.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from couponchain.chain.node import node_dir
from couponchain.domain import consent, edition_codes, intents
from couponchain.domain.eip712 import recover_typed
from couponchain.errors import InvalidInput

STATIC = Path(__file__).resolve().parents[2] / "src" / "couponchain" / "web" / "static"
DRIVER = """
import * as e from "./device-key-eip712.js";
const cases = JSON.parse(await new Promise((done) => {
  let text = "";
  process.stdin.on("data", (c) => { text += c; });
  process.stdin.on("end", () => done(text));
}));
console.log(JSON.stringify(cases.map(([typed, key]) => {
  const k = e.fromHex(key);
  return ["0x" + e.toHex(e.typedDigest(typed)), e.addressOf(k), e.signTyped(typed, k)];
})));
"""
CONTRACT = "0x" + "ab" * 20


def _json_safe(typed: dict[str, Any]) -> dict[str, Any]:
    """As the API sends it: integers as decimal strings (a JS number has 53 bits)."""
    def safe(values: dict[str, Any]) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, int) else v for k, v in values.items()}
    return {**typed, "domain": safe(typed["domain"]), "message": safe(typed["message"])}


@pytest.fixture(scope="module")
def run_js(tmp_path_factory: pytest.TempPathFactory) -> Any:
    modules = node_dir() / "node_modules"
    if shutil.which("node") is None or not (modules / "@noble" / "curves").is_dir():
        pytest.fail("node or @noble/curves is missing: run scripts/setup")
    folder = tmp_path_factory.mktemp("device-key")
    (folder / "node_modules").symlink_to(modules)
    shutil.copy(STATIC / "device-key-eip712.js", folder / "device-key-eip712.js")
    (folder / "package.json").write_text('{"type": "module"}')
    (folder / "driver.js").write_text(DRIVER)

    def run(cases: list[tuple[dict[str, Any], str]]) -> list[Any]:
        done = subprocess.run(["node", "driver.js"], cwd=folder, input=json.dumps(cases),
                              capture_output=True, text=True, timeout=60, check=True)
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    return run


def test_digests_addresses_and_signatures_agree(run_js: Any) -> None:
    accounts = [Account.create() for _ in range(4)]
    buyer = accounts[0].address
    intent = intents.PurchaseIntent(buyer=buyer, product=3, quantity=2, batch=2,
                                    max_price=2**90 + 7, promoter=accounts[1].address,
                                    nonce=2**63 + 5, expiry=1_900_000_000)
    messages = [
        intents.own_key_message(buyer, "c0ffee", 1_900_000_000, 1337),
        intents.own_key_message(buyer, "", 1_900_000_000, 1337),
        consent.typed_data(consent.Consent(7, 2**64 - 1, 1_900_000_000, consent.ANY_MERCHANT,
                                           10**20), 1337, CONTRACT),
        intents.purchase_message(intent, 1337, CONTRACT),
        intents.permit_message(intent, 4, 1337, "0x" + "cd" * 20, CONTRACT),
        intents.credit_permit_message(buyer, accounts[2].address, 2**128, 9, 1_900_000_000,
                                      1337, "0x" + "cd" * 20),
        # EIP-3009 (a bytes32 nonce) and a relayed withdrawal (issue 23's follow-up).
        intents.credit_authorization_message(buyer, accounts[2].address, 2**128, 0,
                                             1_900_000_000, "0x" + "9f" * 32, 1337,
                                             "0x" + "cd" * 20),
        intents.withdraw_message(buyer, 1_900_000_000, 1337, CONTRACT),
        intents.coupon_transfer_message(intents.CouponTransfer(
            coupon=2**63 - 1, receiver=accounts[3].address, nonce=2**64 - 1,
            expiry=1_900_000_000), 1337, CONTRACT),
        # An own-key holder's till code for a limited-edition coupon (issue 24).
        edition_codes.typed_data(edition_codes.Redemption(2**63 + 11, 2**64 - 1, 1_900_000_000),
                                 1337, CONTRACT),
    ]
    cases = [(_json_safe(m), "0x" + accounts[i % 4].key.hex().removeprefix("0x"))
             for i, m in enumerate(messages)]
    answers = run_js(cases)
    for i, (message, (digest, address, signature)) in enumerate(zip(messages, answers,
                                                                    strict=True)):
        signable = encode_typed_data(full_message=message)
        assert digest == "0x" + keccak(b"\x19" + signable.version + signable.header
                                       + signable.body).hex()
        assert address == accounts[i % 4].address
        assert recover_typed(message, bytes.fromhex(signature[2:])) == address


def test_an_edition_code_signed_in_the_browser_passes_the_tills_check(run_js: Any) -> None:
    """The code the wallet builds from the browser's signature is the one
    `edition_codes.check` accepts for the holder, and refuses for anyone else."""
    holder, other = Account.create(), Account.create()
    redemption = edition_codes.Redemption(coupon=42, nonce=2**64 - 3, expiry=1_900_000_100)
    typed = edition_codes.typed_data(redemption, 1337, CONTRACT)
    ((_digest, _address, signature),) = run_js(
        [(_json_safe(typed), "0x" + holder.key.hex().removeprefix("0x"))])
    code = edition_codes.encode(redemption, bytes.fromhex(signature[2:]))
    shown, signed = edition_codes.decode(code)
    assert shown == redemption
    edition_codes.check(shown, signed, chain_id=1337, contract=CONTRACT, owner=holder.address,
                        now=1_900_000_000)
    with pytest.raises(InvalidInput, match="not signed by the coupon's holder"):
        edition_codes.check(shown, signed, chain_id=1337, contract=CONTRACT,
                            owner=other.address, now=1_900_000_000)
