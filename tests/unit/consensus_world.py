"""Block headers of proof-of-authority chains, built by the engines' published rules,
that the consensus tests share (`test_verify_consensus`, which checks `chain/consensus.py`
on them, and `test_proof_check_js`, which checks the browser's proof-consensus.js against
that module on the same headers).

Clique: real Görli headers, whose hashes are public, and vote chains sealed here by known
keys. QBFT and IBFT 2.0: a real QBFT genesis extraData and headers sealed here by four
known keys, encoded by the rules Besu publishes (the hashes computed with pyrlp, apart
from the module's own RLP encoder).
"""

from __future__ import annotations

from typing import Any

import rlp
from eth_keys import keys
from eth_utils import keccak

from couponchain.chain import consensus

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


def hex_of(data: bytes) -> str:
    return "0x" + data.hex()


def header_fields(header: dict[str, Any], extra: bytes) -> list[Any]:
    """The header's RLP fields (pyrlp), with `extra` as extraData."""
    def num(name: str) -> int:
        return int(header[name], 16)

    def raw(name: str) -> bytes:
        return bytes.fromhex(header[name][2:])
    return [raw("parentHash"), raw("sha3Uncles"), raw("miner"), raw("stateRoot"),
            raw("transactionsRoot"), raw("receiptsRoot"), raw("logsBloom"), num("difficulty"),
            num("number"), num("gasLimit"), num("gasUsed"), num("timestamp"), extra,
            raw("mixHash"), raw("nonce")]


def bft_header(engine: str, round_: int, sealers: list[keys.PrivateKey],
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
    digest = keccak(rlp.encode(header_fields(header, rlp.encode(for_seal))))
    seals = [k.sign_msg_hash(digest).to_bytes() for k in sealers]
    extra = rlp.encode([vanity, validators, vote, encoded_round, seals])
    return {**header, "extraData": hex_of(extra),
            "hash": hex_of(keccak(rlp.encode(header_fields(header, rlp.encode(on_chain)))))}


def clique_chain(signers: list[keys.PrivateKey], steps: list[tuple[int, int | None, bool]],
                  epoch: int = consensus.CLIQUE_EPOCH) -> list[dict[str, Any]]:
    """A Clique chain: a checkpoint (block 0) listing `signers`, then one block per step
    (sealer's index in KEYS, the index of the address voted on or None, add or drop),
    sealed by the rules (pyrlp hash of the header without its seal, an eth_keys signature)."""
    vanity, zero_seal = b"\x00" * 32, b"\x00" * 65
    listed = b"".join(bytes.fromhex(k.public_key.to_checksum_address()[2:]) for k in signers)
    checkpoint = {**GOERLI_GENESIS, "extraData": hex_of(vanity + listed + zero_seal)}
    chain = [checkpoint]
    for sealer, voted, add in steps:
        parent = chain[-1]
        extra = vanity + (listed if (len(chain)) % epoch == 0 else b"")
        header = {**GOERLI_ONE, "parentHash": hex_of(consensus.block_hash(parent, "clique")),
                  "number": hex(len(chain)),
                  "miner": "0x" + "00" * 20 if voted is None else VALIDATORS[voted]
                  if voted < 4 else KEYS[voted].public_key.to_checksum_address(),
                  "nonce": "0x" + ("ff" if add else "00") * 8}
        digest = keccak(rlp.encode(header_fields(header, extra)))
        header["extraData"] = hex_of(extra + KEYS[sealer].sign_msg_hash(digest).to_bytes())
        header["hash"] = hex_of(keccak(rlp.encode(header_fields(header, bytes.fromhex(
            header["extraData"][2:])))))
        chain.append(header)
    return chain
