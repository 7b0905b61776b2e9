"""Block hashes and seals of proof-of-authority chains: Clique, QBFT and IBFT 2.0
(no I/O).

`verify` recomputes the hash of the block it proves against. On an
Ethereum-style chain (and on Clique) that is keccak256(rlp(header)). BFT engines
put the committed seals (and the round) inside `extraData`, where they differ
between copies of the same block, so the hash the chain uses is computed over a
re-encoded `extraData` (the rules as Hyperledger Besu publishes them):

- QBFT: `extraData` is rlp([vanity, validators, vote, round, seals]) with the
  vote an empty list when there is none and the round a scalar. The block hash
  uses rlp([vanity, validators, vote, 0, []]); each committed seal signs the
  hash of the header with rlp([vanity, validators, vote, round, []]).
- IBFT 2.0: the same fields, the vote an empty string when there is none and the
  round four bytes. The block hash uses rlp([vanity, validators, vote]); a seal
  signs rlp([vanity, validators, vote, round]).
- Clique: `extraData` is vanity (32 bytes), the signer list on epoch blocks, and
  the signer's 65-byte seal. The block hash is the plain one; the signer signs
  the hash of the header with the seal cut off.
- The genesis block's `extraData` is hashed as it is in every engine.

Seals are checked against a validator set the user gives (or reads from the
genesis header's `extraData`): QBFT and IBFT 2.0 need distinct committers from
the set, at least ceil(2n/3) of n (Besu's quorum); a Clique block needs its
signer in the set. A Clique set changed by votes is followed from the last
checkpoint (`clique_signers`); a BFT set changed since genesis is not: blocks
sealed by validators added later fail, which is the safe side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from couponchain.chain.proofs import Rlp, header_hash, rlp_decode, rlp_encode

ENGINES = ("ethash", "clique", "qbft", "ibft2")
#: The mixHash every QBFT and IBFT 2.0 header carries ("...ctical byzantine fault tolerance").
BFT_MIX_HASH = "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
CLIQUE_VANITY, CLIQUE_SEAL = 32, 65


class ConsensusError(ValueError):
    """A header that does not follow its engine's format."""


@dataclass(frozen=True)
class Seals:
    """Who sealed a block, and whether that is enough."""

    signers: list[str]
    required: int
    valid: list[str]
    ok: bool
    note: str


def engine_of(header: Mapping[str, Any], stated: str = "auto") -> str:
    """The engine to hash `header` with: `stated`, or guessed from the header (a BFT
    mixHash, then IBFT 2.0 when the round is four bytes; Clique when the extraData
    leaves room for a seal; else the plain Ethereum rule)."""
    if stated != "auto":
        if stated not in ENGINES:
            raise ConsensusError(f"unknown consensus engine {stated!r}; one of "
                                 + ", ".join(ENGINES))
        return stated
    if str(header.get("mixHash", "")).lower() == BFT_MIX_HASH:
        fields = _bft_fields(header)
        return "ibft2" if len(fields) == 5 and isinstance(fields[3], bytes) \
            and len(fields[3]) == 4 else "qbft"
    # Vanity, whole signer addresses and a seal at a Clique difficulty: no Ethereum
    # mainnet header looks like this (its extraData is at most 32 bytes).
    extra = _hex(header.get("extraData", "0x"))
    if len(extra) >= CLIQUE_VANITY + CLIQUE_SEAL \
            and (len(extra) - CLIQUE_VANITY - CLIQUE_SEAL) % 20 == 0 \
            and int(str(header.get("difficulty", "0x0")), 16) in (1, 2):
        return "clique"
    return "ethash"


def block_hash(header: Mapping[str, Any], engine: str) -> bytes:
    """The block hash as the engine computes it."""
    if engine in ("ethash", "clique") or int(str(header.get("number", "0x0")), 16) == 0:
        return header_hash(header)
    return header_hash({**header, "extraData": "0x" + _bft_extra(header, engine,
                                                                 for_seal=False).hex()})


def seal_hash(header: Mapping[str, Any], engine: str) -> bytes:
    """The hash each seal of the header signs (Clique: the signer's; BFT: each
    committed seal)."""
    if engine == "clique":
        extra = _hex(header["extraData"])
        if len(extra) < CLIQUE_VANITY + CLIQUE_SEAL:
            raise ConsensusError("Clique extraData is shorter than vanity and seal")
        return header_hash({**header, "extraData": "0x" + extra[:-CLIQUE_SEAL].hex()})
    if engine in ("qbft", "ibft2"):
        return header_hash({**header, "extraData": "0x" + _bft_extra(header, engine,
                                                                     for_seal=True).hex()})
    raise ConsensusError(f"{engine} blocks carry no validator seals")


def signers(header: Mapping[str, Any], engine: str) -> list[str]:
    """The addresses that sealed the header (Clique: one; BFT: one per committed seal)."""
    from eth_keys import keys
    from eth_keys.exceptions import BadSignature, ValidationError

    digest = seal_hash(header, engine)
    raw = [_hex(header["extraData"])[-CLIQUE_SEAL:]] if engine == "clique" else [
        s for s in _seals(_bft_fields(header)) if isinstance(s, bytes)]
    found: list[str] = []
    for signature in raw:
        try:
            sig = keys.Signature(signature[:64] + bytes([signature[64] % 27 if signature[64] >= 27
                                                         else signature[64]]))
            found.append(sig.recover_public_key_from_msg_hash(digest).to_checksum_address())
        except (BadSignature, ValidationError, IndexError) as exc:
            raise ConsensusError(f"a seal is not a recoverable signature: {exc}") from None
    return found


def quorum(validators: int) -> int:
    """Committed seals a BFT block needs out of `validators` (ceil(2n/3))."""
    return -(-2 * validators // 3)


def check_seals(header: Mapping[str, Any], engine: str, validators: Sequence[str]) -> Seals:
    """Whether enough of `validators` sealed the header."""
    members = {v.lower() for v in validators}
    found = signers(header, engine)
    valid = sorted({s for s in found if s.lower() in members})
    if engine == "clique":
        required = 1
        ok = len(found) == 1 and bool(valid)
        note = "" if ok else f"signed by {found[0] if found else 'nobody'}, not a validator"
        return Seals(found, required, valid, ok, note)
    required = quorum(len(members))
    distinct = len({s.lower() for s in found}) == len(found)
    ok = distinct and len(valid) >= required and len(valid) == len(found)
    note = "" if ok else (
        "a validator sealed twice" if not distinct else
        f"{len(valid)} of {len(found)} seals are by the given validators; {required} of "
        f"{len(members)} needed")
    return Seals(found, required, valid, ok, note)


def genesis_validators(genesis: Mapping[str, Any], engine: str) -> list[str]:
    """The validator set the genesis header's extraData names."""
    extra = _hex(genesis["extraData"])
    if engine == "clique":
        listed = extra[CLIQUE_VANITY:-CLIQUE_SEAL]
        if len(listed) % 20:
            raise ConsensusError("Clique genesis extraData does not list whole addresses")
        return [to_checksum_address(listed[i:i + 20]) for i in range(0, len(listed), 20)]
    if engine in ("qbft", "ibft2"):
        fields = _bft_fields(genesis)
        listed_bft = fields[1] if len(fields) > 1 else None
        if not isinstance(listed_bft, list) or not all(
                isinstance(a, bytes) and len(a) == 20 for a in listed_bft):
            raise ConsensusError("BFT genesis extraData names no validator list")
        return [to_checksum_address(a) for a in listed_bft if isinstance(a, bytes)]
    raise ConsensusError(f"{engine} chains have no validator set")


#: Clique's default epoch: every EPOCH-th block is a checkpoint whose extraData lists the
#: signers, and which drops every pending vote.
CLIQUE_EPOCH = 30_000
_VOTE_ADD, _VOTE_DROP = "0x" + "ff" * 8, "0x" + "00" * 8


def clique_signers(checkpoint: Mapping[str, Any], headers: Sequence[Mapping[str, Any]],
                   epoch: int = CLIQUE_EPOCH) -> list[str]:
    """The signers that may seal the block after `headers` (the headers that follow the
    checkpoint block `checkpoint`, in order): the checkpoint's list, changed by each
    header's vote as Clique applies them (EIP-225, go-ethereum's `Snapshot.apply`): a
    header votes to add (`nonce` 0xff..ff) or drop (0x00..00) its `miner`; a signer's
    new vote on an address replaces its old one; a vote that would change nothing is
    not counted; more than half of the signers passes it, which drops the votes on that
    address (and, for a dropped signer, the votes it cast); a checkpoint drops all votes
    and must list the current signers. Raises ConsensusError for a header that does not
    follow the one before, is sealed by no signer of its height or by one that sealed
    one of the last n/2 blocks, or carries another nonce."""
    if int(str(checkpoint["number"]), 16) % epoch:
        raise ConsensusError(f"block {int(str(checkpoint['number']), 16)} is not a Clique "
                             f"checkpoint (epoch {epoch})")
    current = {a.lower() for a in genesis_validators(checkpoint, "clique")}
    votes: list[tuple[str, str, bool]] = []  # (signer, address, add), in order
    tally: dict[str, list[Any]] = {}  # address -> [add, votes]
    recents: dict[int, str] = {}
    parent = checkpoint
    for header in headers:
        number = int(str(header["number"]), 16)
        if number != int(str(parent["number"]), 16) + 1 or str(header["parentHash"]).lower() \
                != "0x" + block_hash(parent, "clique").hex():
            raise ConsensusError(f"block {number} does not follow block {number - 1}")
        if number % epoch == 0:
            votes, tally = [], {}
            if {a.lower() for a in genesis_validators(header, "clique")} != current:
                raise ConsensusError(f"checkpoint {number} lists another signer set")
        limit = len(current) // 2 + 1
        recents.pop(number - limit, None)
        signer = signers(header, "clique")[0].lower()
        if signer not in current:
            raise ConsensusError(f"block {number} is sealed by {signer}, not a signer then")
        if signer in recents.values():
            raise ConsensusError(f"block {number}: {signer} sealed one of the {limit - 1} "
                                 "blocks before")
        recents[number] = signer
        address, nonce = str(header["miner"]).lower(), str(header["nonce"]).lower()
        if nonce not in (_VOTE_ADD, _VOTE_DROP):
            raise ConsensusError(f"block {number} carries no vote nonce ({nonce})")
        add = nonce == _VOTE_ADD
        for vote in votes:
            if vote[:2] == (signer, address):
                _uncast(tally, vote)
                votes.remove(vote)
                break
        if (address in current) != add:  # a vote that would change the set counts
            counted = tally.setdefault(address, [add, 0])
            if counted[0] == add:
                counted[1] += 1
                votes.append((signer, address, add))
        passed = tally.get(address)
        if passed is not None and passed[1] > len(current) // 2:
            if passed[0]:
                current.add(address)
            else:
                current.discard(address)
                recents.pop(number - (len(current) // 2 + 1), None)
                for vote in [v for v in votes if v[0] == address]:
                    _uncast(tally, vote)
                    votes.remove(vote)
            votes = [v for v in votes if v[1] != address]
            tally.pop(address, None)
        parent = header
    # In address order, as geth lists them (a checksummed string sorts by its case).
    return sorted((to_checksum_address(a) for a in current), key=str.lower)


def _uncast(tally: dict[str, list[Any]], vote: tuple[str, str, bool]) -> None:
    counted = tally.get(vote[1])
    if counted is not None and counted[0] == vote[2]:
        counted[1] -= 1
        if not counted[1]:
            del tally[vote[1]]


def _hex(value: Any) -> bytes:
    text = str(value)
    return bytes.fromhex(text[2:] if text.startswith("0x") else text)


def _bft_fields(header: Mapping[str, Any]) -> list[Rlp]:
    try:
        decoded = rlp_decode(_hex(header.get("extraData", "0x")))
    except (ValueError, IndexError) as exc:
        raise ConsensusError(f"BFT extraData is not RLP: {exc}") from None
    if not isinstance(decoded, list) or len(decoded) < 3:
        raise ConsensusError("BFT extraData is not a list of vanity, validators, vote, ...")
    return decoded


def _seals(fields: list[Rlp]) -> list[Rlp]:
    seals = fields[4] if len(fields) > 4 else []
    if not isinstance(seals, list):
        raise ConsensusError("BFT extraData's committed seals are not a list")
    return seals


def _bft_extra(header: Mapping[str, Any], engine: str, for_seal: bool) -> bytes:
    fields = _bft_fields(header)
    if len(fields) < 4:
        raise ConsensusError("BFT extraData has no round")
    vanity, validators, vote, round_ = fields[:4]
    if engine == "qbft":
        return rlp_encode([vanity, validators, vote, round_ if for_seal else b"", []])
    return rlp_encode([vanity, validators, vote, round_] if for_seal
                      else [vanity, validators, vote])
