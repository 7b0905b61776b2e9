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
from eth_keys import keys
from eth_utils import keccak

from couponchain.chain import consensus
from couponchain.chain.coupon_check import check_receipts
from couponchain.chain.verification import Outcome, Trusted, check_block

ZERO32 = "0x" + "00" * 32
EMPTY_ROOT = "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
EMPTY_UNCLES = "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"
GOERLI_SIGNER = "0xe0a2Bd4258D2768837BAa26A28fE71Dc079f84c7"
GOERLI_GENESIS = {
    "parentHash": ZERO32, "sha3Uncles": EMPTY_UNCLES, "miner": "0x" + "00" * 20,
    "stateRoot": "0x5d6cded585e73c4e322c30c2f782a336316f17dd85a4863b9d838d2d4b8b3008",
    "transactionsRoot": EMPTY_ROOT, "receiptsRoot": EMPTY_ROOT, "logsBloom": "0x" + "00" * 256,
    "difficulty": "0x1", "number": "0x0", "gasLimit": "0xa00000", "gasUsed": "0x0",
    "timestamp": "0x5c51a607",
    "extraData": "0x22466c6578692069732061207468696e6722202d204166726900000000000000"
                 + GOERLI_SIGNER[2:].lower() + "00" * 65,
    "mixHash": ZERO32, "nonce": "0x0000000000000000",
    "hash": "0xbf7e331f7f7c1dd2e05159666b3bf8bc7a8a3a9eb1d518969eab529dd9b88c1a",
}
GOERLI_ONE = {
    **GOERLI_GENESIS, "parentHash": GOERLI_GENESIS["hash"], "difficulty": "0x2",
    "number": "0x1", "gasLimit": "0x9fd801", "timestamp": "0x5c530ffd",
    "extraData": "0x506172697479205465636820417574686f7269747900000000000000000000002bbf88"
                 "6181970654ed46e3fae0ded41ee53fec702c47431988a7ae80e6576f3552684f069af80b"
                 "a11d36327aaf846d470526e4a1c461601b2fd4ebdcdc2b734a01",
    "hash": "0x8f5bab218b6bb34476f51ca588e9f4553a3a7ce5e13a66c660a5283e97e9a85a",
}
#: A QBFT network's published genesis extraData: rlp([vanity, 4 validators, [], 0, []]).
QBFT_GENESIS_EXTRA = (
    "0xf87aa00000000000000000000000000000000000000000000000000000000000000000f85494ad4ea9b4"
    "83fb8a4ed177186174ba44a41c2f36c3943e5fee8e8cb007611d6e8bab73b1368a1098674094018f86e2"
    "2cc26e0318e7c00c3a738df1e5f183ac947366f751aa0fcf4d457dc52bdc9d5cd750533943c080c0")
KEYS = [keys.PrivateKey(bytes([i]) * 32) for i in range(1, 6)]
VALIDATORS = [k.public_key.to_checksum_address() for k in KEYS[:4]]


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


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


def _fields(header: dict[str, Any], extra: bytes) -> list[Any]:
    """The header's RLP fields (pyrlp), with `extra` as extraData."""
    def num(name: str) -> int:
        return int(header[name], 16)

    def raw(name: str) -> bytes:
        return bytes.fromhex(header[name][2:])
    return [raw("parentHash"), raw("sha3Uncles"), raw("miner"), raw("stateRoot"),
            raw("transactionsRoot"), raw("receiptsRoot"), raw("logsBloom"), num("difficulty"),
            num("number"), num("gasLimit"), num("gasUsed"), num("timestamp"), extra,
            raw("mixHash"), raw("nonce")]


def _bft_header(engine: str, round_: int, sealers: list[keys.PrivateKey],
                base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A block-7 header of a four-validator chain sealed by `sealers` at `round_`, by
    Besu's published encoding; its `hash` is computed here with pyrlp."""
    header = {**GOERLI_GENESIS, "number": "0x7", "difficulty": "0x1",
              "mixHash": consensus.BFT_MIX_HASH, "miner": VALIDATORS[0], **(base or {})}
    vanity = b"\x00" * 32
    validators = [bytes.fromhex(v[2:]) for v in VALIDATORS]
    if engine == "qbft":
        vote: Any = []
        encoded_round: Any = round_
        on_chain = [vanity, validators, vote, 0, []]
        for_seal = [vanity, validators, vote, encoded_round, []]
    else:
        vote, encoded_round = b"", round_.to_bytes(4, "big")
        on_chain = [vanity, validators, vote]
        for_seal = [vanity, validators, vote, encoded_round]
    digest = keccak(rlp.encode(_fields(header, rlp.encode(for_seal))))
    seals = [k.sign_msg_hash(digest).to_bytes() for k in sealers]
    extra = rlp.encode([vanity, validators, vote, encoded_round, seals])
    return {**header, "extraData": _hex(extra),
            "hash": _hex(keccak(rlp.encode(_fields(header, rlp.encode(on_chain)))))}


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


def _clique_chain(signers: list[keys.PrivateKey], steps: list[tuple[int, int | None, bool]],
                  epoch: int = consensus.CLIQUE_EPOCH) -> list[dict[str, Any]]:
    """A Clique chain: a checkpoint (block 0) listing `signers`, then one block per step
    (sealer's index in KEYS, the index of the address voted on or None, add or drop),
    sealed by the rules (pyrlp hash of the header without its seal, an eth_keys signature)."""
    vanity, zero_seal = b"\x00" * 32, b"\x00" * 65
    listed = b"".join(bytes.fromhex(k.public_key.to_checksum_address()[2:]) for k in signers)
    checkpoint = {**GOERLI_GENESIS, "extraData": _hex(vanity + listed + zero_seal)}
    chain = [checkpoint]
    for sealer, voted, add in steps:
        parent = chain[-1]
        extra = vanity + (listed if (len(chain)) % epoch == 0 else b"")
        header = {**GOERLI_ONE, "parentHash": _hex(consensus.block_hash(parent, "clique")),
                  "number": hex(len(chain)),
                  "miner": "0x" + "00" * 20 if voted is None else VALIDATORS[voted]
                  if voted < 4 else KEYS[voted].public_key.to_checksum_address(),
                  "nonce": "0x" + ("ff" if add else "00") * 8}
        digest = keccak(rlp.encode(_fields(header, extra)))
        header["extraData"] = _hex(extra + KEYS[sealer].sign_msg_hash(digest).to_bytes())
        header["hash"] = _hex(keccak(rlp.encode(_fields(header, bytes.fromhex(
            header["extraData"][2:])))))
        chain.append(header)
    return chain


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
