"""Storage proofs of the platform's contracts, for verifiers (`couponchain verify`).

The platform answers with EIP-1186 proofs of the slots a verifier asks for, at
the block its read models have reached (so the JSON it serves and the proof
agree), with the block header and the deployment record that ties the contract
to the registry: the deployer and its transaction nonce for the registry and
for the contract. The verifier computes the slots and checks everything; the
platform is trusted for nothing here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from couponchain.errors import Conflict, InvalidInput
from couponchain.store.models import Deployment

if TYPE_CHECKING:
    from couponchain.runtime import Runtime

#: The contracts a proof may be asked of (the token's balances are not shown as
#: a number any verifier checks).
PROVABLE = ("registry", "editions", "promotions", "prizes", "referrals", "marketing")
#: Slots in one answer: the largest check (a referral holding over many batches)
#: stays well below it, and one answer stays a few hundred kB.
MAX_SLOTS = 64


class StorageProofs:
    """Proofs of storage slots of one of the platform's contracts."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._deployed: dict[str, dict[str, Any]] = {}

    async def prove(self, contract: str, slots: list[str]) -> dict[str, Any]:
        """`eth_getProof` of `slots` (0x 32-byte keys) of `contract` at the indexed block."""
        if contract not in PROVABLE:
            raise InvalidInput(f"no provable contract named {contract!r}; one of "
                               + ", ".join(PROVABLE), field="contract")
        if not 1 <= len(slots) <= MAX_SLOTS:
            raise InvalidInput(f"between 1 and {MAX_SLOTS} slots", field="slots")
        for slot in slots:
            if len(slot) != 66 or not slot.startswith("0x") \
                    or any(c not in "0123456789abcdefABCDEF" for c in slot[2:]):
                raise InvalidInput(f"{slot!r} is not a 32-byte 0x-hex storage key",
                                   field="slots")
        address = self.rt.addresses[contract]
        block_tag = hex(self.rt.indexer.indexed)
        block, proof = await self.rt.rpc.batch([
            ("eth_getBlockByNumber", [block_tag, False]),
            ("eth_getProof", [address, slots, block_tag]),
        ])
        if not isinstance(block, dict) or not isinstance(proof, dict):
            raise Conflict("the chain node could not prove this block; try again")
        header = {k: v for k, v in block.items()
                  if k not in ("transactions", "uncles", "withdrawals", "size",
                               "totalDifficulty")}
        return {
            "contract_name": contract, "contract": address, "chain_id": self.rt.chain_id,
            "block": header, "deployment": await self._deployment(contract),
            "account": {k: proof[k] for k in ("address", "balance", "nonce", "codeHash",
                                              "storageHash", "accountProof")},
            "storage": [{"slot": slot.lower(), "key": entry["key"], "value": entry["value"],
                         "proof": entry["proof"]}
                        for slot, entry in zip(slots, proof["storageProof"], strict=True)],
        }

    async def _deployment(self, name: str) -> dict[str, Any]:
        """The deployer of the registry and of `name`, with its nonce for each."""
        if name not in self._deployed:
            async with self.rt.db.session() as s:
                rows = {d.name: d for d in (await s.execute(select(Deployment).where(
                    Deployment.chain_id == self.rt.chain_id))).scalars()}
            txs = await self.rt.rpc.batch([("eth_getTransactionByHash", [rows[n].tx_hash])
                                           for n in ("registry", name)])
            if not all(isinstance(tx, dict) for tx in txs):
                raise Conflict("the chain node does not know the deployment; try again")
            if txs[0]["from"].lower() != txs[1]["from"].lower():
                raise Conflict(f"the registry and {name} have different deployers")
            self._deployed[name] = {
                "chain_id": self.rt.chain_id, "registry": rows["registry"].address,
                "deployer": txs[0]["from"], "registry_nonce": int(txs[0]["nonce"], 16),
                "name": name, "nonce": int(txs[1]["nonce"], 16),
            }
        return self._deployed[name]
