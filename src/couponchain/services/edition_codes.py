"""Edition coupons in the consumer's wallet and at the till (issue 24).

The holder lists the edition coupons it holds, and asks for a short-lived
redemption code its custodial key signs (`domain/edition_codes.py`), or, when it
holds its own key, the `Redemption` typed data to sign in the browser
(static/device-key.js) and the code of what it signed; a merchant
or its terminal reads the code, sees what the coupon is, and redeems it. The
editions contract does not check the holder's consent (its `redeem_batch`
trusts the edition's merchant and terminals), so the code is checked here,
before the redemption is sent.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from couponchain.domain import edition_codes as rules
from couponchain.domain.edition_slots import CouponStatus, serial_text
from couponchain.domain.roles import Role
from couponchain.domain.times import iso
from couponchain.errors import Conflict, Forbidden, InvalidInput
from couponchain.services.listing import ListSpec, contains, exact
from couponchain.services.participants import OWN_KEY, Caller
from couponchain.services.self_custody_relay import json_safe
from couponchain.store.models import CouponRecord, EditionRecord, Participant
from couponchain.web import qr


def holdings_spec(db: Any) -> ListSpec:
    """The coupons one owner holds, by coupon id: searched by title or brand; by
    status; dated by sale. Each row carries what the wallet shows of its edition."""
    async def render(rows: Sequence[Any]) -> list[dict[str, Any]]:
        ids = {r.edition_id for r in rows}
        if not ids:
            return []
        async with db.session() as s:
            editions = {e.id: e for e in (await s.execute(
                select(EditionRecord).where(EditionRecord.id.in_(sorted(ids))))).scalars()}
            merchants = sorted({e.merchant for e in editions.values()})
            found = await s.execute(select(Participant.address, Participant.name)
                                    .where(Participant.address.in_(merchants)))
            names = {address: name for address, name in found.all()}
        out = []
        for r in rows:
            e = editions[r.edition_id]
            out.append({
                "serial": serial_text(e.prefix, r.serial), "coupon_id": r.id,
                "edition_id": e.id, "brand": e.brand, "title": e.title,
                "merchant_name": names.get(e.merchant),
                "status": CouponStatus(r.status).name.lower(),
                "price_paid": int(r.price), "list_price": int(e.price),
                "valid_from": iso(e.valid_from), "valid_until": iso(e.valid_until),
                "sold_at": iso(r.sold_at),
            })
        return out

    c, e = CouponRecord, EditionRecord
    return ListSpec(
        name="edition-coupons", key=c.id, render=render,
        search=(contains(e.title), contains(e.brand), exact(e.prefix, upper=True)),
        statuses={s.name.lower(): c.status == int(s) for s in CouponStatus if s.value},
        date=c.sold_at)


def holdings_base(owner: str) -> Any:
    """The rows `holdings_spec` pages: `owner`'s coupons, joined to their editions
    (the search reads the edition's title and brand)."""
    return (select(CouponRecord).join(EditionRecord, EditionRecord.id == CouponRecord.edition_id)
            .where(CouponRecord.owner == owner))


@dataclass(frozen=True)
class EditionCodes:
    """Issues holders' redemption codes and redeems with them; `editions` is the
    runtime's `EditionService` (reads and the redemption itself)."""

    rt: Any

    @property
    def _contract(self) -> str:
        return str(self.rt.gateway.contracts["editions"][0])

    async def _terms(self, caller: Caller, serial: str, lifetime: int
                     ) -> tuple[dict[str, Any], rules.Redemption]:
        """The coupon and a fresh `Redemption` for its holder to sign, after the checks
        every code gets (the caller holds it, it is active, its edition has not ended)."""
        if not 1 <= lifetime <= rules.MAX_LIFETIME:
            raise InvalidInput(f"must be 1 to {rules.MAX_LIFETIME} seconds",
                               field="lifetime_seconds")
        coupon = await self.rt.editions.coupon(serial)
        self._check_holder(caller, coupon)
        now = int(time.time())
        if now >= int(_epoch(coupon["edition"]["valid_until"])):
            raise Conflict("the coupon's edition has ended", field="serial")
        return coupon, rules.Redemption(coupon["coupon_id"], secrets.randbits(64),
                                        now + lifetime)

    @staticmethod
    def _check_holder(caller: Caller, coupon: dict[str, Any]) -> None:
        if coupon["owner"] != caller.address:
            raise Forbidden("only the coupon's holder may show it for redemption",
                            field="serial")
        if coupon["status"] != "active":
            raise Conflict(f"the coupon is {coupon['status']}", field="serial")

    @staticmethod
    def _answer(serial: str, redemption: rules.Redemption, signature: bytes) -> dict[str, Any]:
        code = rules.encode(redemption, signature)
        return {"serial": serial, "code": code, "expiry": redemption.expiry,
                "expires_at": iso(redemption.expiry), "qr_svg": qr.svg_data_uri(code)}

    async def issue(self, caller: Caller, serial: str,
                    lifetime: int = rules.DEFAULT_LIFETIME) -> dict[str, Any]:
        """A code for the holder to show at the till, signed by its custodial key."""
        coupon, redemption = await self._terms(caller, serial, lifetime)
        signer = await self.rt.participants.signer(caller.id)  # Forbidden for own keys
        return self._answer(coupon["serial"], redemption, rules.sign(
            redemption, self.rt.chain_id, self._contract, signer.key))

    async def _own_key(self, caller: Caller) -> None:
        custody = (await self.rt.participants.get(caller.id)).custody
        if caller.role != Role.CONSUMER or custody != OWN_KEY:
            raise Forbidden("this route is for consumers who sign with their own key; a "
                            "custodial account asks the server to sign instead",
                            field="custody")

    async def request(self, caller: Caller, serial: str,
                      lifetime: int = rules.DEFAULT_LIFETIME) -> dict[str, Any]:
        """The `Redemption` typed data a holder with its own key signs (static/device-key.js),
        on the same terms and in the same EIP-712 domain as a custodial code."""
        await self._own_key(caller)
        _coupon, redemption = await self._terms(caller, serial, lifetime)
        return {"typed_data": json_safe(rules.typed_data(redemption, self.rt.chain_id,
                                                         self._contract))}

    async def signed(self, caller: Caller, serial: str, *, nonce: int, expiry: int,
                     signature: bytes) -> dict[str, Any]:
        """The code of a `Redemption` the holder signed with its own key, once it passes
        the check the till will make (holder's signature, unexpired, at most
        `MAX_LIFETIME` ahead); same answer as `issue`."""
        await self._own_key(caller)
        coupon = await self.rt.editions.coupon(serial)
        self._check_holder(caller, coupon)
        redemption = rules.Redemption(coupon["coupon_id"], nonce, expiry)
        rules.check(redemption, signature, chain_id=self.rt.chain_id, contract=self._contract,
                    owner=caller.address, now=int(time.time()))
        return self._answer(coupon["serial"], redemption, signature)

    async def check(self, caller: Caller, code: str) -> dict[str, Any]:
        """What a code redeems, for the till to show before the cashier confirms:
        refused (naming `code`) unless the holder signed it and it is unexpired,
        and (Forbidden) unless the caller is the edition's merchant or its terminal."""
        merchant_id = caller.acts_for_merchant
        if merchant_id is None or caller.role not in (Role.MERCHANT, Role.TERMINAL):
            raise Forbidden("only a merchant or its terminals redeem coupons")
        redemption, signature = rules.decode(code)
        coupon = await self.rt.editions.coupon_by_id(redemption.coupon, history=True)
        rules.check(redemption, signature, chain_id=self.rt.chain_id, contract=self._contract,
                    owner=coupon["owner"], now=int(time.time()))
        if coupon["edition"]["merchant_id"] != merchant_id:
            raise Forbidden("this coupon is another merchant's: only its own tills redeem it",
                            field="code")
        holder = await self.rt.participants.get(coupon["owner_id"]) \
            if coupon["owner_id"] else None
        return {"coupon": coupon, "holder_name": holder.name if holder else None,
                "expires_at": iso(redemption.expiry)}

    async def redeem(self, caller: Caller, code: str,
                     idempotency_key: str | None) -> dict[str, Any]:
        """Redeem the coupon a checked code names (the contract refuses a second time)."""
        shown = await self.check(caller, code)
        return await self.rt.editions.redeem(  # type: ignore[no-any-return]
            caller, shown["coupon"]["serial"], idempotency_key)


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
