"""Reading the contracts a migration replaces, and naming the ones it deploys.

What every carry-over module (`migrate.py` and its `migrate_*.py` neighbours)
reads from the old contracts: views in batched `eth_call`s, and logs (raw, or
decoded with today's ABI; the views and events used are the same in every
release), plus the writer's protocol and the names new contracts are staged under.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from couponchain.chain import contracts
from couponchain.chain.gateway import Call, Gateway


class Steps(Protocol):
    """The migration's writer (`migrate._Steps`): sends as the platform, each
    write under a key of its own; `prefix` ends with the new version (`v2`)."""

    prefix: str

    async def send(self, name: str, call: Call, what: str) -> Any: ...


def staged(step: Steps, name: str) -> str:
    """The name the new contract `name` is registered under during the migration."""
    return f"{name}.{step.prefix.rsplit(':', 1)[-1]}"


async def views(gateway: Gateway, name: str, address: str, function: str,
                args: Sequence[tuple[Any, ...]]) -> list[Any]:
    """`function(*a)` of the contract at `address` (with today's ABI of `name`)
    for each `a`, read from the chain in batched requests."""
    code = contracts.load(name)
    out: list[Any] = []
    for i in range(0, len(args), 500):
        replies = await gateway.rpc.batch([
            ("eth_call", [{"to": address, "data": "0x" + code.encode_call(function, *a).hex()},
                          "latest"]) for a in args[i:i + 500]], strict=True)
        out.extend(code.decode_result(function, bytes.fromhex(str(r).removeprefix("0x")))
                   for r in replies)
    return out


async def raw_logs(gateway: Gateway, name: str, address: str,
                   event: str) -> list[dict[str, Any]]:
    """Every log of `event` the contract at `address` emitted, as the node gives it."""
    code = contracts.load(name)
    topic = next(t for t, e in code.events.items() if e.name == event)
    result: list[dict[str, Any]] = await gateway.rpc.call("eth_getLogs", {
        "address": address, "fromBlock": "0x0", "toBlock": "latest",
        "topics": ["0x" + topic.hex()]})
    return result


async def events(gateway: Gateway, name: str, address: str, event: str) -> list[dict[str, Any]]:
    """The arguments of every `event` the contract at `address` logged (the
    event's signature is the same in every release)."""
    code = contracts.load(name)
    out = []
    for entry in await raw_logs(gateway, name, address, event):
        decoded = code.decode_log([bytes.fromhex(t.removeprefix("0x")) for t in entry["topics"]],
                                  bytes.fromhex(entry["data"].removeprefix("0x")))
        assert decoded is not None
        out.append(decoded[1])
    return out
