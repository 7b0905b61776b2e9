"""The page's proof check (`static/proof-check.js`) agrees with the CLI's Python check.

The module runs in Node (on PATH with the embedded node), importing @noble/hashes
from the node's installed packages, on inputs built here: py-trie tries with
their proofs (present, absent, tampered), block headers, storage slots of
serials, contract addresses. The Python functions `couponchain verify` uses are
the reference; each case must give the same answer in both.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_utils import keccak
from trie import HexaryTrie

from couponchain.chain.coupon_check import create_address
from couponchain.chain.node import node_dir
from couponchain.chain.proofs import ProofError, _get, header_hash, verify_storage
from couponchain.domain.edition_slots import EditionsLayout, verification_slots

STATIC = Path(__file__).resolve().parents[2] / "src" / "couponchain" / "web" / "static"
DRIVER = """
import * as check from "./proof-check.js";
const cases = JSON.parse(await new Promise((done) => {
  let text = "";
  process.stdin.on("data", (c) => { text += c; });
  process.stdin.on("end", () => done(text));
}));
const out = cases.map(([fn, args]) => {
  try {
    if (fn === "trieGet") return check.bytesToHex(check.trieGet(check.hexToBytes(args[0]),
      check.hexToBytes(args[1]), args[2]));
    if (fn === "verifyStorage") return check.verifyStorage(check.hexToBytes(args[0]),
      BigInt(args[1]), args[2]).toString();
    if (fn === "headerHash") return check.headerHash(args[0]);
    if (fn === "createAddress") return check.createAddress(args[0], args[1]);
    if (fn === "slots") return Object.fromEntries(Object.entries(check.verificationSlots(
      BigInt(args[0]), BigInt(args[1]), args[2])).map(([k, v]) => [k, v.toString()]));
    if (fn === "parseSerial") {
      const p = check.parseSerial(args[0]);
      return p && [p[0], p[1].toString()];
    }
    return "unknown " + fn;
  } catch (error) {
    return { error: error.constructor.name };
  }
});
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def run_js(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Runs cases [(function, args)] through proof-check.js in Node; their answers."""
    modules = node_dir() / "node_modules"
    if shutil.which("node") is None or not (modules / "@noble" / "hashes").is_dir():
        pytest.fail("node or @noble/hashes is missing: run scripts/setup")
    folder = tmp_path_factory.mktemp("proof-check")
    (folder / "node_modules").symlink_to(modules)
    shutil.copy(STATIC / "proof-check.js", folder / "proof-check.js")
    (folder / "package.json").write_text('{"type": "module"}')
    (folder / "driver.js").write_text(DRIVER)

    def run(cases: list[tuple[str, list[Any]]]) -> list[Any]:
        done = subprocess.run(["node", "driver.js"], cwd=folder, input=json.dumps(cases),
                              capture_output=True, text=True, timeout=60, check=True)
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    return run


def test_layout_constants_are_the_compilers() -> None:
    from couponchain.chain import contracts
    from couponchain.domain.edition_slots import layout_from_compiler

    layout = layout_from_compiler(contracts.layout("editions"))
    text = (STATIC / "proof-check.js").read_text()
    found = re.search(r"LAYOUT = \{ editions: (\d+)n, coupons: (\d+)n, byPrefix: (\d+)n \}", text)
    assert found is not None
    assert tuple(map(int, found.groups())) == (layout.editions, layout.coupons, layout.by_prefix)


def test_trie_walk_agrees_with_the_python_walk(run_js: Any) -> None:
    rng = random.Random(22)
    trie = HexaryTrie({})
    storage = {rng.randrange(2**256): rng.randrange(1, 2**256) for _ in range(40)}
    storage[7] = 1  # a one-byte value: leaves short enough to be embedded
    for slot, value in storage.items():
        trie[keccak(slot.to_bytes(32, "big"))] = rlp.encode(value)
    root = "0x" + trie.root_hash.hex()
    cases: list[tuple[str, list[Any]]] = []
    expected: list[Any] = []
    for slot in [*list(storage)[:10], 12345, 0]:  # present ones, then absent ones
        key = slot.to_bytes(32, "big")
        proof = ["0x" + rlp.encode(n).hex() for n in trie.get_proof(keccak(key))]
        cases.append(("verifyStorage", [root, str(slot), proof]))
        expected.append(str(verify_storage(trie.root_hash, slot, proof)))
        # Tampered: a node's byte changed (no longer the hash its parent names), a node
        # dropped, and a node that is not RLP in place of the root.
        flipped = [proof[0][:-2] + ("00" if proof[0][-2:] != "00" else "01"), *proof[1:]]
        for bad in (flipped, proof[:-1], ["0xc1"]):
            cases.append(("trieGet", [root, "0x" + key.hex(), bad]))
            try:
                expected.append(_get(trie.root_hash, key, bad).hex())
            except ProofError:
                expected.append({"error": "ProofError"})
    assert run_js(cases) == expected


def test_header_hash_address_slots_and_serials_agree(run_js: Any) -> None:
    block = {"parentHash": "0x" + "11" * 32, "sha3Uncles": "0x" + "22" * 32,
             "miner": "0x" + "33" * 20, "stateRoot": "0x" + "44" * 32,
             "transactionsRoot": "0x" + "55" * 32, "receiptsRoot": "0x" + "66" * 32,
             "logsBloom": "0x" + "00" * 256, "difficulty": "0x0", "number": "0x1b4",
             "gasLimit": "0x1c9c380", "gasUsed": "0x5208", "timestamp": "0x6561e3a0",
             "extraData": "0x", "mixHash": "0x" + "77" * 32, "nonce": "0x0000000000000000",
             "baseFeePerGas": "0x7", "withdrawalsRoot": "0x" + "88" * 32}
    layout = EditionsLayout(editions=1, coupons=2, reserved=4, by_prefix=3)
    deployer = "0x" + "ab" * 20
    cases: list[tuple[str, list[Any]]] = [
        ("headerHash", [block]), ("headerHash", [{**block, "withdrawalsRoot": None}]),
        *[("createAddress", [deployer, n]) for n in (0, 1, 127, 128, 1000)],
        ("slots", ["3", "42", "MOON26"]), ("slots", [str(2**40), str(2**32 - 1), "A"]),
        ("parseSerial", ["MOON26-000042"]), ("parseSerial", ["A-B-7"]),
        ("parseSerial", ["MOON26-0"]), ("parseSerial", ["-5"]), ("parseSerial", ["月-5"]),
        ("parseSerial", [f"X-{2**32}"]),
    ]
    expected: list[Any] = [
        "0x" + header_hash(block).hex(),
        "0x" + header_hash({**block, "withdrawalsRoot": None}).hex(),
        *[create_address(deployer, n).lower() for n in (0, 1, 127, 128, 1000)],
        {k: str(v) for k, v in verification_slots(layout, 3, 42, "MOON26").items()},
        {k: str(v) for k, v in verification_slots(layout, 2**40, 2**32 - 1, "A").items()},
        ["MOON26", "42"], ["A-B", "7"], None, None, None, None,
    ]
    assert run_js(cases) == expected


def test_the_published_node_must_be_an_http_url(tmp_path: Path) -> None:
    from couponchain.config import Settings
    from couponchain.errors import ConfigurationError

    base = {"data_dir": tmp_path, "dev_mode": True}
    assert Settings(**base, public_rpc_url="https://rpc.example:8545").public_rpc_url
    with pytest.raises(ConfigurationError, match="PUBLIC_RPC_URL"):
        Settings(**base, public_rpc_url="javascript:alert(1)")
