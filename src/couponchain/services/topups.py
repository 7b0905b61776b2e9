"""Top-up at a merchant's till (issue 24): a consumer pays the shop in cash or by
card, and the shop's till records the credit on chain.

The platform sets each merchant's till limit (`token.set_till_limit`): the most
that merchant's tills may credit in all, counting earlier credits, so raising a
limit from 500 to 800 CCC allows 300 CCC more. A merchant, or one of its
terminals acting for it, credits a consumer (`token.till_credit`): new tokens
for the consumer, counted against that merchant's limit; the contract refuses a
credit beyond what is left. The chain keeps the limit and what is left of it;
the read model (indexer/topups.py) lists every credit for the consumer's
wallet and the merchant's till.

Amounts are integers of the token's smallest unit here, as everywhere in the
API; the pages type and show them in CCC (web/money.py, static/money.js).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from couponchain.chain.gateway import Call, Gateway, OpResult
from couponchain.domain.op_keys import op_key
from couponchain.domain.roles import Role
from couponchain.domain.times import iso
from couponchain.errors import Conflict, ContractRevert, Forbidden, InvalidInput, NotFound
from couponchain.services.participant_names import names_by_address
from couponchain.services.participants import Caller, ParticipantService
from couponchain.store.db import Database
from couponchain.store.models import Participant, TillCredit, TillLimit
from couponchain.web.money import format_amount

#: The largest till limit and credit: far above any shop's takings, and far below
#: the token's uint256 supply, so no limit or sum of credits can overflow it.
MAX_AMOUNT = 2**128 - 1
#: A reference is the shop's own text (a receipt number), stored on chain in a bytes32.
REFERENCE_BYTES = 32
ZERO_REFERENCE = "0x" + "00" * REFERENCE_BYTES
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

View = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Merchant:
    """A merchant participant: its id, name and chain address."""

    id: str
    name: str
    address: str


def encode_reference(text: str | None) -> bytes:
    """The bytes32 of a shop's reference: its UTF-8 text, zero-padded on the right
    (readable on chain as it was typed); 32 zero bytes for none.

    Refuses, naming `reference`: text over 32 bytes in UTF-8, control characters
    (a NUL would be cut off when read back) and lone surrogates (no UTF-8 for them).
    """
    if text is None or not text.strip():
        return bytes(REFERENCE_BYTES)
    try:
        raw = text.strip().encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("must be Unicode text (a lone surrogate has no UTF-8)",
                           field="reference") from None
    if len(raw) > REFERENCE_BYTES:
        raise InvalidInput(f"must be at most {REFERENCE_BYTES} bytes in UTF-8",
                           field="reference")
    if _CONTROL.search(text.strip()):
        raise InvalidInput("must not contain control characters", field="reference")
    return raw.ljust(REFERENCE_BYTES, b"\0")


def decode_reference(value: str | bytes) -> str | None:
    """A reference as the shop typed it, from the bytes32 (0x hex or bytes); None for none."""
    raw = bytes.fromhex(value[2:]) if isinstance(value, str) else bytes(value)
    raw = raw.rstrip(b"\0")
    return raw.decode("utf-8", errors="replace") if raw else None


class TopUpService:
    """Till limits (set by the platform) and till credits (by merchants and terminals)."""

    def __init__(self, db: Database, gateway: Gateway, participants: ParticipantService,
                 indexer: Any, view: View) -> None:
        self.db = db
        self.gateway = gateway
        self.participants = participants
        self.indexer = indexer
        self.view = view

    # -- limits -----------------------------------------------------------------------

    async def limit(self, caller: Caller, merchant_id: str) -> dict[str, Any]:
        """A merchant's till limit, what its tills credited and what is left (read on
        chain). For the merchant, its terminals and the platform."""
        merchant = await self._merchant(merchant_id)
        if caller.role != Role.PLATFORM and caller.acts_for_merchant != merchant.id:
            raise Forbidden("a till limit is shown to its merchant, the merchant's "
                            "terminals and the platform")
        return await self._limit_of(merchant)

    async def set_limit(self, caller: Caller, merchant_id: str, limit: int,
                        idempotency_key: str | None) -> dict[str, Any]:
        """Set a merchant's till limit on chain (the platform only).

        The limit counts what the merchant's tills credited before: a limit at
        or below that stops further credits.
        """
        if caller.role != Role.PLATFORM:
            raise Forbidden("only the platform sets till limits")
        merchant = await self._merchant(merchant_id)
        if not 0 <= limit <= MAX_AMOUNT:
            raise InvalidInput(f"must be 0 to {MAX_AMOUNT}", field="limit")
        op = await self.gateway.submit(
            await self.participants.signer(caller.id),
            Call("token", "set_till_limit", fixed=(merchant.address, limit),
                 kind="set till limit"),
            op_key=op_key(caller.id, idempotency_key, "till-limit", merchant.id))
        await self.indexer.wait_for(op.block_number)
        return {**await self._limit_of(merchant), "tx_hash": op.tx_hash,
                "block_number": op.block_number}

    async def _limit_of(self, merchant: Merchant) -> dict[str, Any]:
        limit = int(await self.view("token", "till_limit", merchant.address))
        credited = int(await self.view("token", "till_credited", merchant.address))
        remaining = int(await self.view("token", "till_remaining", merchant.address))
        async with self.db.session() as s:
            row = await s.get(TillLimit, merchant.address)
        return {"merchant_id": merchant.id, "merchant_name": merchant.name,
                "merchant": merchant.address, "limit": limit, "credited": credited,
                "remaining": remaining, "set_at": None if row is None else iso(row.timestamp)}

    # -- credits ----------------------------------------------------------------------

    async def credit(self, caller: Caller, consumer: str, amount: int, reference: str | None,
                     idempotency_key: str | None) -> dict[str, Any]:
        """Credit `amount` to a consumer at the caller's till, out of the remaining
        till limit of the merchant the caller acts for.

        Refused before anything is signed when the amount is over what is left
        (409 naming `amount`); a credit racing another one to the last of the
        limit is refused the same way by the contract.
        """
        merchant_id = caller.acts_for_merchant
        if merchant_id is None:
            raise Forbidden("only a merchant or its terminal tops up at a till")
        if not 1 <= amount <= MAX_AMOUNT:
            raise InvalidInput(f"must be 1 to {MAX_AMOUNT}", field="amount")
        ref = encode_reference(reference)
        (address,) = await self.participants.addresses([consumer], ["consumer"], Role.CONSUMER)
        merchant = await self._merchant(merchant_id)
        key = op_key(caller.id, idempotency_key, "till-credit")
        # A retry of a credit that went through gets that credit back, not a refusal
        # because the first one used the limit up: only a fresh credit is checked.
        op = await self.gateway.outcome(key) if key else None
        if op is None:
            op = await self._submit_credit(caller, merchant, address, amount, ref, key)
        event = next(e for e in await op.events() if e.name == "TillCredited")
        await self.indexer.wait_for(op.block_number)
        names = await names_by_address(self.db, [address])
        return {
            "merchant_id": merchant.id, "merchant_name": merchant.name,
            "consumer": address, "consumer_name": names.get(address), "amount": amount,
            "remaining": int(event.args["remaining"]),
            "reference": decode_reference(ref), "operator": caller.address,
            "tx_hash": op.tx_hash, "block_number": op.block_number,
            "at": iso(op.block_timestamp),
        }

    async def _submit_credit(self, caller: Caller, merchant: Merchant, consumer: str,
                             amount: int, ref: bytes, key: str | None) -> OpResult:
        remaining = int(await self.view("token", "till_remaining", merchant.address))
        if amount > remaining:
            raise Conflict(_over_limit(amount, remaining), field="amount")
        try:
            return await self.gateway.submit(
                await self.participants.signer(caller.id),
                Call("token", "till_credit", fixed=(consumer, amount, ref), kind="till credit"),
                op_key=key)
        except ContractRevert as exc:
            if "till limit exceeded" not in exc.reason:
                raise
            left = int(await self.view("token", "till_remaining", merchant.address))
            raise Conflict(_over_limit(amount, left), field="amount") from exc

    # -- history ----------------------------------------------------------------------

    async def of_consumer(self, caller: Caller, limit: int = 50) -> dict[str, Any]:
        """The caller's own top-ups, newest first, with the merchant's name."""
        if caller.role != Role.CONSUMER:
            raise Forbidden("top-ups are credited to consumers: this account has none")
        rows = await self._credits(TillCredit.consumer == caller.address, limit)
        return {"consumer": caller.address,
                "token_balance": int(await self.view("token", "balanceOf", caller.address)),
                "top_ups": await self._public(rows)}

    async def of_merchant(self, caller: Caller, merchant_id: str,
                          limit: int = 50) -> dict[str, Any]:
        """A merchant's till limit and its tills' credits, newest first (shown to the
        merchant, its terminals and the platform)."""
        merchant = await self._merchant(merchant_id)
        if caller.role != Role.PLATFORM and caller.acts_for_merchant != merchant.id:
            raise Forbidden("a merchant's top-ups are shown to it, its terminals and "
                            "the platform")
        rows = await self._credits(TillCredit.merchant == merchant.address, limit)
        return {**await self._limit_of(merchant), "top_ups": await self._public(rows)}

    async def _credits(self, where: Any, limit: int) -> list[TillCredit]:
        async with self.db.session() as s:
            return list((await s.execute(select(TillCredit).where(where).order_by(
                TillCredit.block_number.desc(), TillCredit.log_index.desc()).limit(limit)
            )).scalars())

    async def _public(self, rows: list[TillCredit]) -> list[dict[str, Any]]:
        names = await names_by_address(
            self.db, [a for r in rows for a in (r.merchant, r.consumer, r.operator)])
        return [{
            "merchant": r.merchant, "merchant_name": names.get(r.merchant),
            "consumer": r.consumer, "consumer_name": names.get(r.consumer),
            "operator": r.operator, "operator_name": names.get(r.operator),
            "amount": int(r.amount), "remaining": int(r.remaining),
            "reference": decode_reference(r.reference), "tx_hash": r.tx_hash,
            "block_number": r.block_number, "at": iso(r.timestamp),
        } for r in rows]

    async def _merchant(self, merchant_id: str) -> Merchant:
        async with self.db.session() as s:
            row = await s.get(Participant, merchant_id)
        if row is None or row.role != Role.MERCHANT:
            raise NotFound(f"merchant {merchant_id} does not exist", field="merchant_id")
        return Merchant(row.id, row.name, row.address)


def _over_limit(amount: int, remaining: int) -> str:
    return (f"{format_amount(amount)} is over what is left of this merchant's till limit "
            f"({format_amount(remaining)}); the platform raises the limit")
