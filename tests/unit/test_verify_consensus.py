"""Block hashes and seals of Clique, QBFT and IBFT 2.0 headers (`chain/consensus.py`).

Clique is checked against real Görli headers, whose hashes are public: the genesis
block (its extraData names the chain's one initial signer) and block 1, sealed by
that signer. QBFT and IBFT 2.0 are checked against a real QBFT genesis extraData
(its four validators) and against headers sealed here by four known keys, encoded by
the rules Besu publishes (the expected hashes are computed with pyrlp, apart from the
module's own RLP encoder), including a header whose seals and round change.
"""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from eth_utils import keccak
from tests.unit.consensus_world import (
    GOERLI_GENESIS,
    GOERLI_ONE,
    GOERLI_SIGNER,
    KEYS,
    QBFT_GENESIS_EXTRA,
    VALIDATORS,
)
from tests.unit.consensus_world import bft_header as _bft_header
from tests.unit.consensus_world import clique_chain as _clique_chain
from tests.unit.consensus_world import header_fields as _fields
from tests.unit.consensus_world import hex_of as _hex

from couponchain.chain import consensus
from couponchain.chain.coupon_check import check_receipts
from couponchain.chain.verification import Outcome, Trusted, check_block


def test_goerli_genesis_and_block_one_hash_and_clique_signer() -> None:
    assert _hex(consensus.block_hash(GOERLI_GENESIS, "clique")) == GOERLI_GENESIS["hash"]
    assert consensus.genesis_validators(GOERLI_GENESIS, "clique") == [GOERLI_SIGNER]
    assert _hex(consensus.block_hash(GOERLI_ONE, "clique")) == GOERLI_ONE["hash"]
    assert consensus.signers(GOERLI_ONE, "clique") == [GOERLI_SIGNER]
    assert consensus.check_seals(GOERLI_ONE, "clique", [GOERLI_SIGNER]).ok
    # Another set: the block's signer is not in it.
    assert not consensus.check_seals(GOERLI_ONE, "clique", VALIDATORS).ok
    # The seal does not cover a changed header: another address is recovered.
    forged = {**GOERLI_ONE, "timestamp": "0x5c530ffe"}
    assert consensus.signers(forged, "clique") != [GOERLI_SIGNER]
    assert not consensus.check_seals(forged, "clique", [GOERLI_SIGNER]).ok


def test_check_block_reports_the_seals_against_the_validators_given() -> None:
    out = Outcome()
    check_block(out, GOERLI_ONE, Trusted(chain_id=5, registry="0x", engine="clique",
                                         validators=(GOERLI_SIGNER,)))
    assert out.ok and [v.claim for v in out.verdicts] == [
        "block hash = keccak(rlp(header))", "block sealed by the given validators (clique)"]
    out = Outcome()
    check_block(out, GOERLI_ONE, Trusted(chain_id=5, registry="0x", engine="clique",
                                         validators=tuple(VALIDATORS)))
    assert [v.claim for v in out.verdicts if not v.ok] == [
        "block sealed by the given validators (clique)"]
    # A chain whose blocks carry no seals (the development node's) cannot pass a seal check.
    plain = {**GOERLI_GENESIS, "number": "0x3", "extraData": "0x"}
    plain["hash"] = _hex(consensus.block_hash(plain, "ethash"))
    out = Outcome()
    check_block(out, plain, Trusted(chain_id=5, registry="0x", validators=(GOERLI_SIGNER,)))
    failed = [v for v in out.verdicts if not v.ok]
    assert [v.claim for v in failed] == ["block sealed by the given validators (ethash)"]
    assert "carry no validator seals" in failed[0].note


def test_a_real_qbft_genesis_names_its_validators() -> None:
    genesis = {**GOERLI_GENESIS, "extraData": QBFT_GENESIS_EXTRA,
               "mixHash": consensus.BFT_MIX_HASH}
    assert consensus.engine_of(genesis) == "qbft"
    assert [v.lower() for v in consensus.genesis_validators(genesis, "qbft")] == [
        "0xad4ea9b483fb8a4ed177186174ba44a41c2f36c3", "0x3e5fee8e8cb007611d6e8bab73b1368a10986740",
        "0x018f86e22cc26e0318e7c00c3a738df1e5f183ac", "0x7366f751aa0fcf4d457dc52bdc9d5cd750533943"]
    # The genesis block is hashed with its extraData as it is.
    assert consensus.block_hash(genesis, "qbft") == consensus.block_hash(genesis, "ethash")


@pytest.mark.parametrize("engine", ["qbft", "ibft2"])
def test_a_history_block_of_a_bft_chain_hashes_by_its_engine(engine: str) -> None:
    """`verify`'s receipt proofs hash each history block as its chain does: a sealed
    QBFT or IBFT 2.0 header does not hash to its hash by the plain Ethereum rule (the
    check failed every such block before). A changed header still fails."""
    sealed = _bft_header(engine, 0, KEYS[:3])  # receiptsRoot: the empty trie's
    out = Outcome()
    check_receipts(out, [], {7: sealed}, {7: []})
    assert out.ok, out.verdicts
    forged = Outcome()
    check_receipts(forged, [], {7: {**sealed, "gasUsed": "0x1"}}, {7: []})
    assert not forged.ok and "does not hash to its hash" in forged.verdicts[0].note


@pytest.mark.parametrize("engine", ["qbft", "ibft2"])
def test_bft_hash_excludes_seals_and_round_and_quorum_is_checked(engine: str) -> None:
    sealed = _bft_header(engine, 0, KEYS[:3])
    assert consensus.engine_of(sealed) == engine
    assert _hex(consensus.block_hash(sealed, engine)) == sealed["hash"]
    # The plain keccak(rlp(header)) is not the block's hash on these chains.
    assert _hex(consensus.block_hash(sealed, "ethash")) != sealed["hash"]
    # The same block agreed at another round, sealed by others: the same hash.
    later = _bft_header(engine, 2, [KEYS[3], KEYS[1], KEYS[0]])
    assert later["extraData"] != sealed["extraData"] and later["hash"] == sealed["hash"]
    assert consensus.signers(later, engine) == [VALIDATORS[3], VALIDATORS[1], VALIDATORS[0]]
    for header in (sealed, later):
        seals = consensus.check_seals(header, engine, VALIDATORS)
        assert seals.ok and seals.required == 3, seals
    # Two of four is below the quorum of three; a stranger's seal does not count;
    # one validator's seal twice is refused.
    cases = {
        "two seals": ([KEYS[0], KEYS[1]], "2 of 2 seals are by the given validators; 3 of 4"),
        "a stranger": ([KEYS[0], KEYS[1], KEYS[4]], "2 of 3 seals"),
        "twice": ([KEYS[0], KEYS[1], KEYS[1]], "a validator sealed twice"),
    }
    for name, (sealers, note) in cases.items():
        seals = consensus.check_seals(_bft_header(engine, 1, sealers), engine, VALIDATORS)
        assert not seals.ok and note in seals.note, (name, seals)
    # A changed header keeps the seals of the original: they no longer recover the
    # validators.
    forged = {**sealed, "stateRoot": "0x" + "11" * 32}
    assert not consensus.check_seals(forged, engine, VALIDATORS).ok
    assert consensus.quorum(1) == 1 and consensus.quorum(4) == 3 and consensus.quorum(6) == 4


def test_auto_recognises_clique_headers() -> None:
    """`--engine auto` took Clique headers for plain Ethereum ones, so `--validators` on a
    Clique chain failed with "ethash blocks carry no validator seals"."""
    assert consensus.engine_of(GOERLI_ONE) == "clique"
    assert consensus.engine_of(GOERLI_GENESIS) == "clique"
    out = Outcome()
    check_block(out, GOERLI_ONE, Trusted(chain_id=5, registry="0x",
                                         validators=(GOERLI_SIGNER,)))
    assert out.ok, out.verdicts
    # An Ethereum header (extraData at most 32 bytes, or difficulty 0 after the merge).
    assert consensus.engine_of({**GOERLI_ONE, "extraData": "0x" + "00" * 32}) == "ethash"
    assert consensus.engine_of({**GOERLI_ONE, "difficulty": "0x0"}) == "ethash"


def test_clique_signers_are_listed_in_address_order_as_geth_lists_them() -> None:
    """By the addresses' bytes, not their checksummed strings: 0xFe9e… sorts before
    0xb97e… as a string (upper case first) but after it as an address (a real
    two-signer network's test caught it against `clique_getSigners`)."""
    low = "b97ea52f31f0569fdcaa3c8c9c6bc9c8501fcf21"
    high = "fe9e366cbdcd1496d579fab02c7502cb5496c4a9"
    checkpoint = {**GOERLI_GENESIS, "extraData": "0x" + "00" * 32 + high + low + "00" * 65}
    assert [a.lower() for a in consensus.clique_signers(checkpoint, [])] == ["0x" + low,
                                                                          "0x" + high]


def test_clique_signer_votes_are_followed_from_the_checkpoint() -> None:
    """EIP-225's votes: two of three signers add a fourth, which may then seal; two of
    the four dropping one are not enough (more than half is three), three are."""
    start = KEYS[:3]
    chain = _clique_chain(start, [(0, 3, True), (1, 3, True), (3, None, False), (2, None, False)])
    assert consensus.clique_signers(chain[0], chain[1:2]) == sorted(VALIDATORS[:3], key=str.lower)
    assert consensus.clique_signers(chain[0], chain[1:3]) == sorted(VALIDATORS, key=str.lower)
    assert consensus.clique_signers(chain[0], chain[1:]) == sorted(VALIDATORS, key=str.lower)
    # The block sealed by the added signer passes against the followed set, not genesis's.
    followed = consensus.clique_signers(chain[0], chain[1:3])
    assert consensus.check_seals(chain[3], "clique", followed).ok
    assert not consensus.check_seals(chain[3], "clique",
                                     consensus.genesis_validators(chain[0], "clique")).ok
    # A drop: two votes of four are not more than half, the third passes it; a vote
    # repeated by the same signer counts once.
    drop = _clique_chain(KEYS[:4], [(0, 2, False), (1, 2, False), (3, None, False),
                                    (0, 2, False), (2, None, False), (3, 2, False)])
    assert consensus.clique_signers(drop[0], drop[1:6]) == sorted(VALIDATORS, key=str.lower)
    assert consensus.clique_signers(drop[0], drop[1:]) == sorted(
        [VALIDATORS[0], VALIDATORS[1], VALIDATORS[3]])
    # A vote to add a signer already in the set changes nothing.
    assert consensus.clique_signers(drop[0], _clique_chain(KEYS[:4], [(0, 1, True)])[1:]) \
        == sorted(VALIDATORS, key=str.lower)


@pytest.mark.parametrize("case", ["stranger", "twice in a row", "dropped then sealing",
                                  "broken link", "no vote nonce", "checkpoint set"])
def test_clique_signer_replay_refuses_an_inconsistent_chain(case: str) -> None:
    start = KEYS[:3]
    if case == "stranger":  # a key that is no signer seals block 2
        chain, message = _clique_chain(start, [(0, None, False), (4, None, False)]), \
            "not a signer then"
    elif case == "twice in a row":  # with three signers, one may seal every other block
        chain, message = _clique_chain(start, [(0, None, False), (0, None, False)]), \
            "sealed one of the 1 blocks before"
    elif case == "dropped then sealing":
        chain, message = _clique_chain(start, [(0, 2, False), (1, 2, False), (2, None, False)]), \
            "not a signer then"
    elif case == "broken link":
        chain = _clique_chain(start, [(0, None, False), (1, None, False)])
        chain[2] = {**chain[2], "parentHash": "0x" + "11" * 32}
        message = "does not follow block 1"
    elif case == "no vote nonce":
        chain = _clique_chain(start, [(0, None, False)])
        header = {**chain[1], "nonce": "0x0000000000000001"}
        extra = bytes.fromhex(header["extraData"][2:])[:-65]
        digest = keccak(rlp.encode(_fields(header, extra)))
        header["extraData"] = _hex(extra + KEYS[0].sign_msg_hash(digest).to_bytes())
        chain[1] = header
        message = "carries no vote nonce"
    else:  # epoch 3: block 3 is a checkpoint, which lists the signers before the drop
        chain = _clique_chain(start, [(0, 2, False), (1, 2, False), (0, None, False)], epoch=3)
        with pytest.raises(consensus.ConsensusError, match="checkpoint 3 lists another"):
            consensus.clique_signers(chain[0], chain[1:], epoch=3)
        # Epoch 2: block 1's vote is dropped at the checkpoint (block 2), so block 3's
        # vote counts alone and the set stays; without the checkpoint the two pass.
        steps = [(0, 2, False), (1, None, False), (2, 2, False)]
        chain = _clique_chain(start, steps, epoch=2)
        assert consensus.clique_signers(chain[0], chain[1:], epoch=2) == sorted(
            VALIDATORS[:3], key=str.lower)
        chain = _clique_chain(start, steps)
        assert consensus.clique_signers(chain[0], chain[1:]) == sorted(VALIDATORS[:2])
        return
    with pytest.raises(consensus.ConsensusError, match=message):
        consensus.clique_signers(chain[0], chain[1:])


def test_verify_follows_clique_votes_read_from_a_node() -> None:
    """`--validators checkpoint`: the headers from the last checkpoint, read from a
    JSON-RPC node serving a Clique chain (block 2 adds a signer, who seals block 3), give
    the set that sealed the proven block; `genesis` gives the set before the vote."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from couponchain.cli.verify_io import validator_set

    chain = _clique_chain(KEYS[:3], [(0, 3, True), (1, 3, True), (3, None, False)])

    class Node(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            calls = json.loads(self.rfile.read(int(self.headers["content-length"])))
            body = json.dumps([{"jsonrpc": "2.0", "id": c["id"],
                                "result": chain[int(c["params"][0], 16)]} for c in calls]).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Node)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        engine, followed = validator_set("checkpoint", "auto", url, chain[3])
        assert (engine, list(followed)) == ("clique", sorted(VALIDATORS))
        out = Outcome()
        check_block(out, chain[3], Trusted(chain_id=5, registry="0x", engine=engine,
                                           validators=followed))
        assert out.ok, out.verdicts
        _, at_genesis = validator_set("genesis", "auto", url, chain[3])
        assert not consensus.check_seals(chain[3], "clique", at_genesis).ok
        with pytest.raises(SystemExit) as refused:  # a BFT chain has no Clique votes
            validator_set("checkpoint", "qbft", url, chain[3])
        assert refused.value.code == 2
    finally:
        server.shutdown()
        server.server_close()
