"""What the gateway carries: operations (`Call`) and the evidence of their outcome
(`OpResult`, with the transaction's decoded `Event`s)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from couponchain.chain.rpc import RpcClient

__all__ = ["Call", "Event", "OpResult", "ReceiptEvents"]


@dataclass(frozen=True)
class Call:
    """One operation for the chain.

    Operations of one account with equal (`contract`, `function`, `fixed`) and an
    `item` are merged: the call becomes `function(*fixed, *columns)` where each
    column is the list of the items' values at that position. Without an `item`
    the call is sent alone as `function(*fixed)`; with `init_code` it deploys a
    contract.
    """

    contract: str
    function: str
    fixed: tuple[Any, ...] = ()
    item: tuple[Any, ...] | None = None
    kind: str = ""
    init_code: bytes | None = None

    @property
    def group(self) -> Hashable:
        if self.item is None or self.init_code is not None:
            return id(self)
        return (self.contract, self.function, _freeze(self.fixed))


def _freeze(value: Any) -> Hashable:
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


@dataclass(frozen=True)
class Event:
    """A decoded event from a transaction's receipt."""

    contract: str
    name: str
    args: dict[str, Any]
    log_index: int


class ReceiptEvents:
    """A receipt's events, decoded on first use and shared by the batch's items."""

    def __init__(self, rpc: RpcClient, decode: Callable[[dict[str, Any]], list[Event]],
                 receipt: dict[str, Any]) -> None:
        self._rpc = rpc
        self._decode = decode
        self._receipt = receipt
        self._events: asyncio.Task[list[Event]] | None = None

    async def get(self) -> list[Event]:
        # One fetch and one decoding per transaction, however many of its
        # operations ask at once.
        if self._events is None:
            self._events = asyncio.ensure_future(self._load())
        return await asyncio.shield(self._events)

    async def _load(self) -> list[Event]:
        receipt = self._receipt
        if "logs" not in receipt:  # confirmed from the send reply: fetch the logs now
            receipt = await self._rpc.call("eth_getTransactionReceipt", receipt["transactionHash"])
        return self._decode(receipt)


@dataclass(frozen=True)
class OpResult:
    """Evidence of an applied operation."""

    tx_hash: str
    block_number: int
    block_timestamp: int
    item_index: int
    receipt_events: ReceiptEvents
    contract_address: str | None = None

    async def events(self) -> list[Event]:
        """Every decoded event of the transaction that carried this operation."""
        return await self.receipt_events.get()
