"""Reaching the platform's contracts through the trusted registry, for commands that
call them on the user's node instead of proving their storage (`check-round`).

`couponchain verify` pins each contract it proves to the registry the user trusts
(`verification.check_contract`). A command that calls a contract with `eth_call`
or reads its logs needs the same anchor before it asks anything: the address of
each contract it uses is computed from the deployment record (the deployer and
its nonces, `GET /v1/proofs/{name}`), and used only when the registry address
derived from that deployer is the one the user trusts. The addresses the API
lists in `GET /v1/health` are compared with the computed ones and never used: an
address the trusted registry's deployer did not create is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from couponchain.cli.common import _fail
from couponchain.cli.verify_io import Http, anchor, api_json, rpc_call

#: Any slot does: the proofs answer is asked for only for its deployment record.
_ANY_SLOT = "0x" + "00" * 32


@dataclass
class Pinned:
    """The contracts' addresses reached through the trusted registry, or the failed checks."""

    chain_id: int
    registry: str
    addresses: dict[str, str] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)


def pin_contracts(http: Http, base: str, rpc: str, names: tuple[str, ...],
                  health: dict[str, Any], registry: str | None, trust_file: Path) -> Pinned:
    """Each of `names` at the address the trusted registry's deployer created it,
    checked on the trusted node (`rpc`); `failed` names each refused contract."""
    (node_chain,) = rpc_call(rpc, [("eth_chainId", [])], "the chain id")
    try:
        chain_id = int(str(node_chain), 16)
    except ValueError:
        _fail(f"{rpc} is not an Ethereum JSON-RPC node (no chain id)")
        raise AssertionError from None
    named = health.get("trust_anchor") if isinstance(health.get("trust_anchor"), dict) else {}
    trusted = anchor(trust_file, chain_id, registry,
                     {"deployment": {"registry": (named or {}).get("registry", "")}})
    pinned = Pinned(chain_id=chain_id, registry=trusted, addresses={"registry": trusted})
    contracts = health.get("contracts")
    listed: dict[str, Any] = contracts if isinstance(contracts, dict) else {}
    if str(listed.get("registry", trusted)).lower() != trusted.lower():
        pinned.failed.append(f"registry: the API names {listed['registry']}, not the trusted "
                             f"{trusted}")
    for name in names:
        if name == "registry":
            continue
        answer = api_json(http, base, f"/v1/proofs/{name}?slots={_ANY_SLOT}",
                          f"unknown contract {name}")
        problem = _derive(name, answer, chain_id, trusted)
        if problem:
            pinned.failed.append(f"{name}: {problem}")
            continue
        address = _created(answer)
        shown = listed.get(name)
        if isinstance(shown, str) and shown.lower() != address.lower():
            pinned.failed.append(f"{name}: the API names {shown}, an address the trusted "
                                 f"registry's deployer did not create ({address} is)")
            continue
        pinned.addresses[name] = address
    codes = rpc_call(rpc, [("eth_getCode", [a, "latest"]) for a in pinned.addresses.values()],
                     "the contracts' code")
    for (name, address), code in zip(pinned.addresses.items(), codes, strict=True):
        if not isinstance(code, str) or code in ("0x", ""):
            pinned.failed.append(f"{name}: no contract at {address} on the trusted node")
    return pinned


def _derive(name: str, answer: dict[str, Any], chain_id: int, trusted: str) -> str:
    """Why the deployment record of `name` does not tie it to the trusted registry ('' if
    it does)."""
    from couponchain.chain.verification import create_address

    deployment = answer.get("deployment") or {}
    if answer.get("chain_id") != chain_id:
        return f"the API's deployment is on chain {answer.get('chain_id')}, the node's is " \
               f"{chain_id}"
    if deployment.get("name") != name:
        return f"the deployment record names {deployment.get('name')!r}, not {name!r}"
    try:
        registry = create_address(str(deployment["deployer"]), int(deployment["registry_nonce"]))
        _created(answer)
    except (KeyError, TypeError, ValueError) as exc:
        return f"no usable deployment record ({exc})"
    if registry.lower() != trusted.lower():
        return (f"its deployer {deployment['deployer']} did not create the trusted registry "
                f"{trusted} (it created {registry})")
    return ""


def _created(answer: dict[str, Any]) -> str:
    from couponchain.chain.verification import create_address

    deployment = answer["deployment"]
    return create_address(str(deployment["deployer"]), int(deployment["nonce"]))
