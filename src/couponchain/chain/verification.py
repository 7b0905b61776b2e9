"""What every `couponchain verify` check shares: the trust anchor, the block, the
pinned contract and the storage proofs (no I/O).

A check takes what the platform's API said (a proof answer and the JSON a person
is shown) and what a node the user trusts said (chain id, head, the proven
block), and records one `Verdict` per claim in an `Outcome`. Nothing the API
says is believed without a proof:

- the block (`check_block`): its hash is recomputed from the header; it must be
  the trusted node's block of that number and at most `max_age` blocks behind
  the node's head;
- the contract (`check_contract`): the registry address the user trusts is the
  anchor; a capability contract must be created by the account that created the
  registry (`create_address`: keccak256(rlp([deployer, nonce])), an address
  nobody else can put a contract at), and the proven account must be it;
- the storage (`prove_slots`): every slot is computed by the verifier (from the
  compiler's layout, `storage_layout`) and proven against the proven account's
  storage root; a slot without a valid proof is reported, never guessed.

The per-capability checks (`coupon_check`, `capability_check`) compare each
field of the JSON with a proven value, and list what storage does not hold.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_utils import keccak, to_checksum_address

from couponchain.chain.proofs import (
    ProofError,
    Verdict,
    rlp_encode,
    verify_account,
    verify_storage,
)
from couponchain.domain.edition_slots import slot_key


class CheckError(ValueError):
    """The input cannot be checked at all (e.g. a serial that is not PREFIX-NUMBER)."""


@dataclass(frozen=True)
class Trusted:
    """What the user trusts: the deployment's anchor and a node's answers."""

    chain_id: int
    registry: str
    #: The node's own chain id, head number and its block at the proof's number;
    #: None for a check without a node (which can never pass as VERIFIED).
    node_chain_id: int | None = None
    head: int | None = None
    block: Mapping[str, Any] | None = None
    max_age: int = 8
    #: How the chain hashes and seals blocks (`consensus.ENGINES`, or "auto"), and the
    #: validator set whose seals the proven block must carry (empty: seals not checked).
    engine: str = "auto"
    validators: tuple[str, ...] = ()


@dataclass
class Outcome:
    """The verdicts, and whether the check was anchored to a trusted node."""

    verdicts: list[Verdict] = field(default_factory=list)
    anchored: bool = False
    #: The proven storage values by slot name (None: no valid proof).
    proven: dict[str, int | None] = field(default_factory=dict)
    #: Fields shown by the platform that no proof covers (printed as NOT PROVEN).
    not_proven: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every check holds (anchored or not)."""
        return all(v.ok for v in self.verdicts)

    def add(self, claim: str, expected: Any, proven: Any, ok: bool | None = None,
            note: str = "") -> None:
        """Record one claim: `expected` is the proven value, `proven` what was shown."""
        self.verdicts.append(Verdict(claim, expected, proven,
                                     expected == proven if ok is None else ok, note))

    def same(self, claim: str, proven: Any, shown: Any) -> None:
        """Record a shown value against a proven one (addresses and hex compared
        case-insensitively; an unproven value never passes)."""
        if isinstance(proven, str) and isinstance(shown, str):
            self.add(claim, proven, shown, proven.lower() == shown.lower())
        else:
            self.add(claim, proven, shown, proven is not None and proven == shown)


def create_address(sender: str, nonce: int) -> str:
    """The address of the contract `sender` creates with its transaction `nonce`."""
    raw = bytes.fromhex(sender.removeprefix("0x"))
    nonce_bytes = nonce.to_bytes((nonce.bit_length() + 7) // 8, "big")
    return to_checksum_address(keccak(rlp_encode([raw, nonce_bytes]))[12:])


def iso(epoch: int | None) -> str | None:
    """A proven Unix time as the API prints it (None stays None)."""
    return None if epoch is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def address_of(word: int | None) -> str | None:
    """The checksummed address in the low 160 bits of a proven word."""
    if word is None:
        return None
    return to_checksum_address((word & (2**160 - 1)).to_bytes(20, "big"))


def word_hex(word: int | None) -> str | None:
    """A proven bytes32 as 0x-hex."""
    return None if word is None else "0x" + word.to_bytes(32, "big").hex()


def check_block(out: Outcome, block: Mapping[str, Any], trusted: Trusted) -> None:
    """The header hashes to its hash, is the trusted node's block of that number,
    and is at most `trusted.max_age` blocks behind the trusted head."""
    from couponchain.chain import consensus

    engine = "ethash"
    try:
        engine = consensus.engine_of(block, trusted.engine)
        computed = "0x" + consensus.block_hash(block, engine).hex()
    except (KeyError, ValueError, TypeError) as exc:
        computed = f"unhashable header: {exc}"
    out.add("block hash = keccak(rlp(header))" if engine in ("ethash", "clique")
            else f"block hash = {engine} hash of the header (seals and round excluded)",
            block.get("hash"), computed)
    if trusted.validators:
        _check_seals(out, block, engine, trusted.validators)
    if trusted.block is None:
        return
    out.add("chain id: the trusted node's is the anchor's", trusted.chain_id,
            trusted.node_chain_id)
    out.add("block is the trusted node's block of that number", trusted.block.get("hash"),
            block.get("hash"), trusted.block.get("hash") == block.get("hash")
            and trusted.block.get("stateRoot") == block.get("stateRoot"))
    number = int(block.get("number", "0x0"), 16)
    head = trusted.head if trusted.head is not None else number
    out.add(f"block is at most {trusted.max_age} blocks behind the trusted head ({head})",
            f">= {head - trusted.max_age}", number, head - number <= trusted.max_age,
            f"{head - number} blocks old")


def _check_seals(out: Outcome, block: Mapping[str, Any], engine: str,
                 validators: tuple[str, ...]) -> None:
    """The proven block carries enough seals of the validator set the user gave."""
    from couponchain.chain import consensus

    claim = f"block sealed by the given validators ({engine})"
    try:
        seals = consensus.check_seals(block, engine, validators)
    except (consensus.ConsensusError, KeyError, ValueError, TypeError) as exc:
        out.add(claim, f"{len(validators)} validators", None, False, str(exc))
        return
    out.add(claim, f"at least {seals.required} of {len(validators)}",
            f"{len(seals.valid)}: " + ", ".join(seals.valid), seals.ok, seals.note)


def check_contract(out: Outcome, proof: Mapping[str, Any], trusted: Trusted,
                   nonce_key: str = "nonce") -> bytes | None:
    """The proven storage root of the contract the anchor's deployer created with
    the deployment record's `nonce_key`, or None (with a failed verdict)."""
    contract = str(proof.get("contract", ""))
    deployment = proof.get("deployment") or {}
    try:
        deployer = str(deployment["deployer"])
        registry = create_address(deployer, int(deployment["registry_nonce"]))
        expected = create_address(deployer, int(deployment[nonce_key]))
    except (KeyError, TypeError, ValueError) as exc:
        out.add("contract is the one the trusted registry's deployer created", contract, None,
                False, f"no usable deployment record ({exc})")
        return None
    out.add("chain id: the answer's is the anchor's", trusted.chain_id, proof.get("chain_id"))
    out.add("registry is the trusted one (created by the deployer)", trusted.registry.lower(),
            registry.lower())
    out.add("contract is the one the trusted registry's deployer created", expected.lower(),
            contract.lower())
    account = proof.get("account") or {}
    out.add("proven account is that contract", contract.lower(),
            str(account.get("address")).lower())
    try:
        storage_root = verify_account(bytes.fromhex(str(proof["block"]["stateRoot"])[2:]),
                                      account)
    except (ProofError, ValueError, KeyError, TypeError) as exc:
        out.add("contract account in the state root", contract, None, False, str(exc))
        return None
    out.add("contract account in the state root", contract, account["address"], True)
    return storage_root


def prove_slots(out: Outcome, storage_root: bytes, slots: Mapping[str, int],
                storage: list[Mapping[str, Any]], what: str) -> None:
    """Prove each named slot from the answer's storage proofs (matched by the slot
    the verifier computed, never by name) into `out.proven`; one verdict for all."""
    proofs = {str(e.get("slot", e.get("key", ""))).lower(): e.get("proof") for e in storage
              if isinstance(e, Mapping)}
    for name, slot in slots.items():
        entry = proofs.get(slot_key(slot))
        try:
            out.proven[name] = None if not isinstance(entry, list) \
                else verify_storage(storage_root, slot, entry)
        except ProofError:
            out.proven[name] = None
    missing = sorted(n for n in slots if out.proven.get(n) is None)
    out.add(f"storage proofs hold for every slot of the {what} asked for", [], missing,
            note="no valid proof of " + ", ".join(missing) if missing else "")
