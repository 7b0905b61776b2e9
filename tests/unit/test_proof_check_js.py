"""The page's proof check (`static/proof-check.js`) agrees with the CLI's Python check.

The module runs in Node (on PATH with the embedded node), importing @noble/hashes
from the node's installed packages, on inputs built here: py-trie tries with
their proofs (present, absent, tampered), block headers, storage slots of
serials, contract addresses. The Python functions `couponchain verify` uses are
the reference; each case must give the same answer in both.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_utils import keccak
from tests.proof_js import CLIQUE_SIGNERS_DRIVER, STATIC, js_folder, run_driver
from trie import HexaryTrie

from couponchain.chain.coupon_check import create_address
from couponchain.chain.proofs import ProofError, _get, header_hash, verify_storage
from couponchain.domain.edition_slots import EditionsLayout, verification_slots

DRIVER = """
import * as check from "./proof-check.js";
import * as consensus from "./proof-consensus.js";
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
    if (fn === "engineOf") return consensus.engineOf(args[0]);
    if (fn === "blockHash") return consensus.blockHash(args[0], args[1]);
    if (fn === "signers") return consensus.signers(args[0], args[1]);
    if (fn === "checkSeals") {
      const seals = consensus.checkSeals(args[0], args[1], args[2]);
      return [seals.ok, seals.required, seals.note];
    }
    if (fn === "genesisValidators") return consensus.genesisValidators(args[0], args[1]);
    if (fn === "blockVerdicts") {  // the block's verdicts of the whole coupon check
      const out = check.checkCoupon("A-1", { block: args[0], storage: [] }, {},
        { chainId: 1, registry: "0x", maxAge: 8, engine: args[1], validators: args[2],
          node: { chainId: 1, head: Number(BigInt(args[0].number)), block: args[0] } });
      return [out.engine, out.verdicts.filter((v) => /^block (hash|sealed)/.test(v.claim))
        .map((v) => [v.claim, v.ok])];
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
    folder = js_folder(tmp_path_factory.mktemp("proof-check"))

    def run(cases: list[tuple[str, list[Any]]]) -> list[Any]:
        return run_driver(folder, DRIVER, cases)  # type: ignore[no-any-return]

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


def test_block_hashes_and_seals_agree_with_the_consensus_module(run_js: Any) -> None:
    """proof-consensus.js hashes and seal-checks the headers `test_verify_consensus` uses
    (real Görli headers, a real QBFT genesis, BFT headers sealed by four known keys) as
    `chain/consensus.py` does."""
    from tests.unit.consensus_world import (
        GOERLI_GENESIS,
        GOERLI_ONE,
        GOERLI_SIGNER,
        KEYS,
        QBFT_GENESIS_EXTRA,
        VALIDATORS,
    )
    from tests.unit.consensus_world import bft_header as _bft_header

    from couponchain.chain import consensus
    from couponchain.chain.verification import Outcome, Trusted, check_block

    qbft_genesis = {**GOERLI_GENESIS, "extraData": QBFT_GENESIS_EXTRA,
                    "mixHash": consensus.BFT_MIX_HASH}
    headers: list[tuple[dict[str, Any], str]] = [
        (GOERLI_GENESIS, "clique"), (GOERLI_ONE, "clique"), (qbft_genesis, "qbft"),
        ({**GOERLI_ONE, "timestamp": "0x5c530ffe"}, "clique"),  # a changed header
    ]
    for engine in ("qbft", "ibft2"):
        sealed = _bft_header(engine, 0, KEYS[:3])
        headers += [(sealed, engine), (_bft_header(engine, 2, [KEYS[3], KEYS[1], KEYS[0]]), engine),
                    (_bft_header(engine, 1, KEYS[:2]), engine),  # below the quorum
                    (_bft_header(engine, 1, [KEYS[0], KEYS[1], KEYS[4]]), engine),  # a stranger
                    (_bft_header(engine, 1, [KEYS[0], KEYS[1], KEYS[1]]), engine),  # twice
                    ({**sealed, "stateRoot": "0x" + "11" * 32}, engine)]  # changed header
    plain = {**GOERLI_GENESIS, "number": "0x3", "extraData": "0x"}
    plain["hash"] = "0x" + consensus.block_hash(plain, "ethash").hex()
    cases: list[tuple[str, list[Any]]] = []
    expected: list[Any] = []
    def python(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except consensus.ConsensusError:
            return {"error": "ProofError"}

    for header, engine in headers:
        sets = [VALIDATORS, [GOERLI_SIGNER]]
        listing = "signers" if int(header["number"], 16) else "genesisValidators"
        cases += [("engineOf", [header]), ("blockHash", [header, engine]),
                  (listing, [header, engine]),
                  *[("checkSeals", [header, engine, s]) for s in sets]]
        found = python(consensus.signers if int(header["number"], 16)
                       else consensus.genesis_validators, header, engine)
        expected += [consensus.engine_of(header), "0x" + consensus.block_hash(header, engine).hex(),
                     [a.lower() for a in found] if isinstance(found, list) else found]
        for s in sets:
            seals = python(consensus.check_seals, header, engine, s)
            expected.append(seals if isinstance(seals, dict)
                            else [seals.ok, seals.required, seals.note.lower()])
    # The whole block check: the claim names and verdicts of `verify`'s check_block.
    for header, engine, validators in [
            (GOERLI_ONE, "auto", [GOERLI_SIGNER]), (GOERLI_ONE, "clique", VALIDATORS),
            (headers[4][0], "auto", VALIDATORS), (headers[4][0], "auto", []),
            (headers[10][0], "auto", VALIDATORS), (plain, "auto", [GOERLI_SIGNER]),
            (plain, "auto", [])]:
        cases.append(("blockVerdicts", [header, engine, validators]))
        out = Outcome()
        check_block(out, header, Trusted(chain_id=1, registry="0x", engine=engine,
                                         validators=tuple(validators)))
        expected.append([consensus.engine_of(header, engine),
                         [[v.claim, v.ok] for v in out.verdicts]])
    answers = run_js(cases)
    # Notes name addresses: JS writes them in lower case, Python checksummed.
    for i, (fn, _) in enumerate(cases):
        if fn == "checkSeals" and isinstance(answers[i], list):
            answers[i][2] = answers[i][2].lower()
    assert answers == expected
    # The BFT headers are not hashed as plain keccak(rlp(header)): the cases differ.
    assert expected[headers.index(headers[4]) * 5 + 1] == headers[4][0]["hash"]


def test_clique_signer_votes_are_followed_as_the_consensus_module_follows_them(
        tmp_path: Path) -> None:
    """proof-consensus.js's cliqueSigners (the badge's `checkpoint`) gives the signers
    `consensus.clique_signers` (`verify --validators checkpoint`) gives, in the same
    order, on the vote chains consensus_world builds (test_verify_consensus checks them):
    adds and drops passing or not, a repeated vote, a vote that changes nothing,
    checkpoints dropping the votes; and refuses, with the same message, each chain that
    one refuses."""
    from tests.unit.consensus_world import KEYS, clique_chain, header_fields, hex_of

    from couponchain.chain import consensus

    def no_vote_nonce() -> list[dict[str, Any]]:
        chain = clique_chain(KEYS[:3], [(0, None, False)])
        header = {**chain[1], "nonce": "0x0000000000000001"}
        extra = bytes.fromhex(header["extraData"][2:])[:-65]
        digest = keccak(rlp.encode(header_fields(header, extra)))
        chain[1] = {**header, "extraData": hex_of(extra + KEYS[0].sign_msg_hash(digest).to_bytes())}
        return chain

    def broken_link() -> list[dict[str, Any]]:
        chain = clique_chain(KEYS[:3], [(0, None, False), (1, None, False)])
        chain[2] = {**chain[2], "parentHash": "0x" + "11" * 32}
        return chain

    add = clique_chain(KEYS[:3], [(0, 3, True), (1, 3, True), (3, None, False), (2, None, False)])
    drop = clique_chain(KEYS[:4], [(0, 2, False), (1, 2, False), (3, None, False),
                                   (0, 2, False), (2, None, False), (3, 2, False)])
    epoch_steps = [(0, 2, False), (1, None, False), (2, 2, False)]
    cases: list[tuple[list[dict[str, Any]], int]] = [
        (add[:1], consensus.CLIQUE_EPOCH), (add[:2], consensus.CLIQUE_EPOCH),
        (add[:3], consensus.CLIQUE_EPOCH), (add, consensus.CLIQUE_EPOCH),
        (drop[:6], consensus.CLIQUE_EPOCH), (drop, consensus.CLIQUE_EPOCH),
        (clique_chain(KEYS[:4], [(0, 1, True)]), consensus.CLIQUE_EPOCH),
        (clique_chain(KEYS[:3], epoch_steps, epoch=2), 2),
        (clique_chain(KEYS[:3], epoch_steps), consensus.CLIQUE_EPOCH),
        # Refused: a stranger sealing, a signer sealing twice in a row, a dropped signer
        # sealing, a broken parent link, no vote nonce, a checkpoint listing another set,
        # a checkpoint that is not one.
        (clique_chain(KEYS[:3], [(0, None, False), (4, None, False)]), consensus.CLIQUE_EPOCH),
        (clique_chain(KEYS[:3], [(0, None, False), (0, None, False)]), consensus.CLIQUE_EPOCH),
        (clique_chain(KEYS[:3], [(0, 2, False), (1, 2, False), (2, None, False)]),
         consensus.CLIQUE_EPOCH),
        (broken_link(), consensus.CLIQUE_EPOCH), (no_vote_nonce(), consensus.CLIQUE_EPOCH),
        (clique_chain(KEYS[:3], [(0, 2, False), (1, 2, False), (0, None, False)], epoch=3), 3),
        (clique_chain(KEYS[:3], [(0, None, False)])[1:], consensus.CLIQUE_EPOCH),
    ]
    expected: list[Any] = []
    for chain, epoch in cases:
        try:
            expected.append([a.lower() for a in consensus.clique_signers(chain[0], chain[1:],
                                                                          epoch)])
        except consensus.ConsensusError as exc:
            expected.append({"error": "ProofError", "message": str(exc).lower()})
    answers = run_driver(js_folder(tmp_path), CLIQUE_SIGNERS_DRIVER,
                         [[chain[0], chain[1:], epoch] for chain, epoch in cases])
    # Messages name addresses: JS writes them in lower case, Python as it recovered them.
    for answer in answers:
        if isinstance(answer, dict) and "message" in answer:
            answer["message"] = answer["message"].lower()
    assert answers == expected
    # The cases are not all alike: sets that grow, shrink and stay, and each refusal.
    sets = [e for e in expected if isinstance(e, list)]
    assert {len(s) for s in sets} == {2, 3, 4}
    assert sum(isinstance(e, dict) for e in expected) == 7
