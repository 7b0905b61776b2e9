"""Revert reasons out of JSON-RPC errors."""

from __future__ import annotations

import re

import eth_abi

from couponchain.chain.rpc import RpcError

_ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
_QUOTED = re.compile(r"reverted with reason string '(.*)'", re.S)


def revert_reason(error: RpcError) -> str:
    """The contract's revert string, or a readable description of the failure."""
    data = error.data
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        raw = bytes.fromhex(data[2:])
        if raw[:4] == _ERROR_SELECTOR:
            try:
                return str(eth_abi.decode(["string"], raw[4:])[0])
            except Exception:  # noqa: BLE001 - malformed revert data: fall through
                pass
        if raw == b"":
            return "reverted without a reason"
    match = _QUOTED.search(error.rpc_message)
    if match:
        return match.group(1)
    return error.rpc_message or "reverted"
