"""Proof checking and CSV parsing of the editions capability, without a node."""

from __future__ import annotations

import pytest
import rlp
from eth_utils import keccak
from trie import HexaryTrie

from couponchain.api.routes.editions import parse_sales_csv
from couponchain.chain.proofs import ProofError, header_hash, verify_storage
from couponchain.errors import InvalidInput

#: Genesis block of the embedded node (Prague fields), as eth_getBlockByNumber returns it.
GENESIS = {
    "hash": "0x71b3ac634bbcff10119c62a03d34e8c59aa9905e74cf0ecb6a6da7cfa2ddc083",
    "parentHash": "0x" + "00" * 32,
    "sha3Uncles": "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347",
    "stateRoot": "0xc2b8dc215b5234bd853bb9c2895bb0c2c2642e81d4ed7c370cf716ca269d34e7",
    "transactionsRoot": "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
    "receiptsRoot": "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421",
    "number": "0x0", "gasUsed": "0x0", "gasLimit": "0xe8d4a51000", "extraData": "0x1234",
    "logsBloom": "0x" + "00" * 256, "timestamp": "0x6b026f8a", "difficulty": "0x0",
    "mixHash": "0x53c5ae3ce8eefbfad3aca77e5f4e1b19a949b04e2e5ce7a24fbb64422f14f0bf",
    "nonce": "0x0000000000000000", "baseFeePerGas": "0x0",
    "miner": "0x0000000000000000000000000000000000000000",
    "withdrawalsRoot": "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421",
    "blobGasUsed": "0x0", "excessBlobGas": "0x0", "parentBeaconBlockRoot": "0x" + "00" * 32,
    "requestsHash": "0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
}


def test_header_hash_matches_the_nodes_block_hash() -> None:
    assert "0x" + header_hash(GENESIS).hex() == GENESIS["hash"]
    forged = {**GENESIS, "stateRoot": "0x" + "11" * 32}
    assert "0x" + header_hash(forged).hex() != GENESIS["hash"]


def _storage_trie(values: dict[int, int]) -> HexaryTrie:
    trie = HexaryTrie({})
    for slot, value in values.items():
        trie[keccak(slot.to_bytes(32, "big"))] = rlp.encode(value)
    return trie


def _proof(trie: HexaryTrie, slot: int) -> list[str]:
    return ["0x" + rlp.encode(node).hex() for node in trie.get_proof(
        keccak(slot.to_bytes(32, "big")))]


def test_storage_proofs_prove_values_and_absence() -> None:
    trie = _storage_trie({1: 99, 2: 42, 7: 3})
    assert verify_storage(trie.root_hash, 2, _proof(trie, 2)) == 42
    assert verify_storage(trie.root_hash, 5, _proof(trie, 5)) == 0
    with pytest.raises(ProofError):  # another slot's proof
        verify_storage(trie.root_hash, 2, _proof(trie, 1))
    other = _storage_trie({1: 99, 2: 43, 7: 3})
    with pytest.raises(ProofError):
        verify_storage(trie.root_hash, 2, _proof(other, 2))


def test_csv_rows_are_parsed_with_defaults() -> None:
    sales = parse_sales_csv("buyer,order_ref,price,channel\nabc,R1,5,online\nxyz,R2,,\n")
    assert [(s.buyer, s.order_ref, s.price, s.channel) for s in sales] == [
        ("abc", "R1", 5, "online"), ("xyz", "R2", None, "offline")]


def test_csv_with_cr_line_ends_is_parsed() -> None:
    sales = parse_sales_csv("buyer,order_ref\rabc,R1\rxyz,R2\r")
    assert [(s.buyer, s.order_ref) for s in sales] == [("abc", "R1"), ("xyz", "R2")]


@pytest.mark.parametrize(("text", "field"), [
    ("buyer\nabc\n", "header"),
    ("buyer,order_ref,colour\nabc,R1,red\n", "header"),
    ("buyer,order_ref\nabc,R1\n,R2\n", "row 2.buyer"),
    ("buyer,order_ref,price\nabc,R1,-1\n", "row 1.price"),
    ("buyer,order_ref,channel\nabc,R1,fax\n", "row 1.channel"),
    ("buyer,order_ref\nabc,R1,extra\n", "row 1"),
    ("buyer,order_ref\n", "file"),
    # Found by the stateful OpenAPI test: a bare CR and an overlong field were 500s.
    ("\x1a\x10f\rx\n", "header"),
    ("buyer,order_ref\n" + "a" * 200_000 + ",R1\n", "file"),
])
def test_csv_errors_name_the_row_and_field(text: str, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_sales_csv(text)
    assert caught.value.field == field
