"""Authorization: every write route of the API, tried by every role (issue 9).

The write routes are read from the application's own route table
(`app.routes`), so a new write route without an entry in `POLICY` fails
`test_every_write_route_has_a_policy`: coverage is every route by
construction. `test_role_endpoint_matrix` then sends each route's request as
each of nine callers, over HTTP, against objects owned by merchant A and
consumer 1 on the embedded node:

    anonymous, a forged key (merchant A's id, a made-up secret), platform,
    merchant A, merchant B (another merchant, with its own terminal),
    terminal of A, terminal of B, consumer 1, consumer 2

and checks the answer against the declared policy:

- `OK`: authorized, and the request (valid, on a fresh object) succeeds: 2xx;
- `AUTHORIZED`: authorized, but the outcome depends on the caller's own
  state (e.g. nothing to withdraw): 2xx, 409 or 422, never 401/403/404;
- `DENIED`: 403 (401 for the anonymous caller and the forged key, always);
- `HIDDEN`: 404, a refusal that does not confirm the object exists (a scan
  belongs to the terminal that made it).

Every caller gets a valid request for an object in a state where the allowed
callers succeed, so a refusal can only come from the authorization rules.
State-changing routes give each allowed caller a fresh object (pools made in
bulk at set-up); where an object is costly, the refused callers share one (a
refusal changes nothing). Every caller of a route sends the same
Idempotency-Key: a refused caller must not be handed the response stored for
an allowed one. One runtime serves the whole module (SQLite is enough: the
rules live in the services, above the database).
"""

from __future__ import annotations

import io
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import httpx
import pytest
import segno
from eth_account import Account
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from couponchain.api.app import create_app
from couponchain.domain.eip712 import sign_typed
from couponchain.runtime import Runtime
from tests.integration.conftest import make_settings
from tests.integration.session_authenticator import SoftAuthenticator

ANONYMOUS, FORGED, PLATFORM = "anonymous", "forged_key", "platform"
MERCHANT_A, MERCHANT_B = "merchant_a", "merchant_b"
TERMINAL_A, TERMINAL_B = "terminal_a", "terminal_b"
CONSUMER_1, CONSUMER_2 = "consumer_1", "consumer_2"
ROLES = (ANONYMOUS, FORGED, PLATFORM, MERCHANT_A, MERCHANT_B, TERMINAL_A, TERMINAL_B,
         CONSUMER_1, CONSUMER_2)
UNAUTHENTICATED = (ANONYMOUS, FORGED)
MERCHANTS = (MERCHANT_A, MERCHANT_B)
TERMINALS = (TERMINAL_A, TERMINAL_B)
SELLERS = (*MERCHANTS, *TERMINALS)
CONSUMERS = (CONSUMER_1, CONSUMER_2)
SIGNED_IN = tuple(r for r in ROLES if r not in UNAUTHENTICATED)
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ADMIN_KEY = "test-admin-key"


class Expect(Enum):
    """What a role gets from a route (see the module docstring)."""

    OK = "ok"
    AUTHORIZED = "authorized"
    DENIED = "denied"
    HIDDEN = "hidden"


def policy(ok: tuple[str, ...] = (), authorized: tuple[str, ...] = (),
           hidden: tuple[str, ...] = ()) -> dict[str, Expect]:
    """A route's row: the roles named are let in (or hidden from); the rest are denied."""
    row = dict.fromkeys(ROLES, Expect.DENIED)
    for roles, expect in ((ok, Expect.OK), (authorized, Expect.AUTHORIZED),
                          (hidden, Expect.HIDDEN)):
        for role in roles:
            assert role not in UNAUTHENTICATED, "a caller without a valid key writes nothing"
            row[role] = expect
    return row


#: The expected policy, one row per write route (method, path template).
POLICY: dict[tuple[str, str], dict[str, Expect]] = {
    # participants
    ("POST", "/v1/merchants"): policy(ok=(PLATFORM,)),
    # body: merchant_id = A; only A itself (issue 23: not even the platform key)
    ("POST", "/v1/terminals"): policy(ok=(MERCHANT_A,)),
    ("POST", "/v1/consumers"): policy(ok=(PLATFORM, *MERCHANTS)),
    # standing (issue 23): a merchant suspends, reinstates and unbinds its own terminals
    # (here terminals of A; the platform suspends merchants, not their terminals); the
    # platform pauses capabilities and hands its role to a new key.
    ("POST", "/v1/participants/{participant_id}/suspend"): policy(ok=(MERCHANT_A,)),
    ("POST", "/v1/participants/{participant_id}/reinstate"): policy(ok=(MERCHANT_A,)),
    ("POST", "/v1/terminals/{participant_id}/unbind"): policy(ok=(MERCHANT_A,)),
    ("POST", "/v1/capabilities/{capability}/pause"): policy(ok=(PLATFORM,)),
    ("POST", "/v1/capabilities/{capability}/unpause"): policy(ok=(PLATFORM,)),
    ("POST", "/v1/platform/transfer"): policy(ok=(PLATFORM,)),
    ("POST", "/v1/platform/transfer/accept"): policy(ok=(PLATFORM,)),
    ("POST", "/v1/platform/transfer/cancel"): policy(ok=(PLATFORM,)),
    # credentials: anyone makes keys and page sessions of its own; a key of terminal A
    # is revoked by itself, its merchant or the platform; to anyone else it does not exist.
    ("POST", "/v1/api-keys"): policy(ok=SIGNED_IN),
    ("DELETE", "/v1/api-keys/{key_id}"): policy(
        ok=(PLATFORM, MERCHANT_A, TERMINAL_A), hidden=(MERCHANT_B, TERMINAL_B, *CONSUMERS)),
    ("POST", "/v1/sessions"): policy(ok=SIGNED_IN),
    ("DELETE", "/v1/sessions/current"): policy(ok=SIGNED_IN),  # with a key: nothing to end
    # accounts for people (issue 24): one's own passkeys, recovery codes and sessions (a
    # passkey or session of consumer 1 does not exist for anyone else); a merchant's
    # invitation links, revoked by that merchant only.
    ("POST", "/v1/accounts/me/passkeys/options"): policy(ok=SIGNED_IN),
    ("POST", "/v1/accounts/me/passkeys"): policy(ok=SIGNED_IN),
    ("DELETE", "/v1/accounts/me/passkeys/{passkey_id}"): policy(
        ok=(CONSUMER_1,), hidden=tuple(r for r in SIGNED_IN if r != CONSUMER_1)),
    ("POST", "/v1/accounts/me/recovery-codes"): policy(ok=SIGNED_IN),
    ("DELETE", "/v1/accounts/me/sessions/{session_id}"): policy(
        ok=(CONSUMER_1,), hidden=tuple(r for r in SIGNED_IN if r != CONSUMER_1)),
    ("POST", "/v1/invitations"): policy(ok=MERCHANTS),
    ("DELETE", "/v1/invitations/{invitation_id}"): policy(
        ok=(MERCHANT_A,), hidden=tuple(r for r in SIGNED_IN if r != MERCHANT_A)),
    # editions (edition and coupons of merchant A, coupons held by consumer 1)
    ("POST", "/v1/editions"): policy(ok=MERCHANTS),  # each registers its own
    ("POST", "/v1/editions/{edition_id}/sales"): policy(ok=(MERCHANT_A, TERMINAL_A)),
    ("POST", "/v1/editions/{edition_id}/sales:bulk"): policy(ok=(MERCHANT_A, TERMINAL_A)),
    ("POST", "/v1/editions/{edition_id}/sales:import"): policy(ok=(MERCHANT_A, TERMINAL_A)),
    # issue 25: the edition's merchant only (not its terminals; the platform stops a
    # merchant or the contract through the registry, not one merchant's edition)
    ("POST", "/v1/editions/{edition_id}/pause"): policy(ok=(MERCHANT_A,)),
    ("POST", "/v1/editions/{edition_id}/resume"): policy(ok=(MERCHANT_A,)),
    ("POST", "/v1/editions/{edition_id}/extend"): policy(ok=(MERCHANT_A,)),
    ("POST", "/v1/coupons/{serial}/transfer"): policy(ok=(CONSUMER_1,)),
    ("POST", "/v1/coupons/{serial}/redeem"): policy(ok=(MERCHANT_A, TERMINAL_A)),
    ("POST", "/v1/coupons/{serial}/void"): policy(ok=(MERCHANT_A,)),
    # a holder's redemption code (issue 24): only the holder asks; only the edition's
    # merchant and its terminals read or redeem with it.
    ("POST", "/v1/coupons/{serial}/redemption-code"): policy(ok=(CONSUMER_1,)),
    ("POST", "/v1/edition-codes/check"): policy(ok=(MERCHANT_A, TERMINAL_A)),
    ("POST", "/v1/edition-codes/redeem"): policy(ok=(MERCHANT_A, TERMINAL_A)),
    # promotions (round of the platform; coupons granted by A, held by consumer 1)
    ("POST", "/v1/promotion-rounds:evaluate"): policy(ok=(PLATFORM,)),
    ("POST", "/v1/promotion-rounds"): policy(ok=(PLATFORM,)),
    ("POST", "/v1/promotion-rounds/{round_id}/allocations"): policy(ok=(PLATFORM,)),
    # Each merchant grants out of its own allocation (both have one).
    ("POST", "/v1/promotion-grants"): policy(ok=MERCHANTS),
    ("POST", "/v1/promotion-coupons/{coupon_id}/transfer"): policy(ok=(CONSUMER_1,)),
    ("POST", "/v1/promotion-coupons/{coupon_id}/consent"): policy(ok=(CONSUMER_1,)),
    # Written off by merchant A: only A and its terminals reverse it.
    ("POST", "/v1/promotion-coupons/{coupon_id}/write-off-reversal"): policy(
        ok=(MERCHANT_A, TERMINAL_A)),
    # Universal coupons: any merchant or terminal writes one off with the holder's consent.
    ("POST", "/v1/write-offs"): policy(ok=SELLERS),
    # Each merchant sets its own spending cap for incentives; nobody sets it for it.
    ("PUT", "/v1/merchants/{merchant_id}/incentive-cap"): policy(ok=(MERCHANT_A,)),
    # The bounds on every originator's rebate terms are the platform's alone.
    ("PUT", "/v1/rebate-bounds"): policy(ok=(PLATFORM,)),
    # payouts: everyone withdraws their own (nobody here has anything claimable: 409).
    ("POST", "/v1/payouts/me/withdraw"): policy(authorized=SIGNED_IN),
    ("POST", "/v1/credits"): policy(ok=(PLATFORM,)),
    # top-up at the till (issue 24): the platform sets each merchant's till limit; any
    # merchant or terminal credits a consumer out of its own merchant's limit.
    ("PUT", "/v1/merchants/{merchant_id}/till-limit"): policy(ok=(PLATFORM,)),
    ("POST", "/v1/till-credits"): policy(ok=SELLERS),
    # lookup by phone or e-mail (issue 24): a consumer registers and removes its own.
    ("PUT", "/v1/customers/me/lookup"): policy(ok=CONSUMERS),
    ("DELETE", "/v1/customers/me/lookup/{kind}"): policy(ok=CONSUMERS),
    # prizes (campaign of merchant A listing terminal A; awards of consumer 1)
    ("POST", "/v1/prize-campaigns"): policy(ok=MERCHANTS),  # each creates its own
    ("POST", "/v1/prize-campaigns/{campaign_id}/awards"): policy(ok=(MERCHANT_A,)),
    # As the contract rules: the campaign's merchant only (not the platform).
    ("POST", "/v1/prize-awards/{award_id}/revoke"): policy(ok=(MERCHANT_A,)),
    # Campaign changes (issue 27): the campaign's merchant only, as the contract rules.
    ("POST", "/v1/prize-campaigns/{campaign_id}/window"): policy(ok=(MERCHANT_A,)),
    ("POST", "/v1/prize-campaigns/{campaign_id}/stock"): policy(ok=(MERCHANT_A,)),
    ("POST", "/v1/prize-campaigns/{campaign_id}/terminals"): policy(ok=(MERCHANT_A,)),
    # A scan is a check: any merchant or terminal may scan; the conditions say
    # whether it may claim (another merchant's terminal: not eligible).
    ("POST", "/v1/prize-scans"): policy(ok=SELLERS),
    # Terminal A's scan: another caller that may claim at all gets 404.
    ("POST", "/v1/prize-claims"): policy(ok=(TERMINAL_A,),
                                         hidden=(MERCHANT_A, MERCHANT_B, TERMINAL_B)),
    # Each item is judged (B's items: refused as not eligible) in a 200 answer.
    ("POST", "/v1/prize-claims:sync"): policy(ok=SELLERS),
    # referrals (products of merchant A; consumer 1 holds units of batch 1)
    ("POST", "/v1/products"): policy(ok=MERCHANTS),  # each registers its own
    ("POST", "/v1/products/{product_id}/batches"): policy(ok=(MERCHANT_A,)),
    ("POST", "/v1/products/{product_id}/batches/current:close"): policy(ok=(MERCHANT_A,)),
    ("POST", "/v1/products/{product_id}/links"): policy(ok=(CONSUMER_1,)),  # holders only
    ("POST", "/v1/products/{product_id}/purchases"): policy(ok=CONSUMERS),
    # marketing (merchant A's settings; records naming merchant A's number)
    # Terminal B may submit logs, but of its own merchant only: these are refused (422).
    ("POST", "/v1/access-logs"): policy(ok=(PLATFORM, TERMINAL_A), authorized=(TERMINAL_B,)),
    ("PUT", "/v1/merchants/{merchant_id}/reporting-rules"): policy(ok=(MERCHANT_A,)),
    ("PUT", "/v1/merchants/{merchant_id}/webhook"): policy(ok=(MERCHANT_A,)),
    # notifications (issue 25): the merchant's own
    ("POST", "/v1/merchants/{merchant_id}/notifications:read"): policy(ok=(MERCHANT_A,)),
    ("PUT", "/v1/merchants/{merchant_id}/notification-settings"): policy(ok=(MERCHANT_A,)),
    ("PUT", "/v1/merchants/{merchant_id}/marketing-info"): policy(ok=(MERCHANT_A,)),
    # merchant-defined indicators (issue 27): merchant A defines its own; A and the
    # platform check and preview them over A's data.
    ("PUT", "/v1/merchants/{merchant_id}/indicators/{name}"): policy(ok=(MERCHANT_A,)),
    ("POST", "/v1/merchants/{merchant_id}/indicators:validate"): policy(
        ok=(PLATFORM, MERCHANT_A)),
    ("POST", "/v1/merchants/{merchant_id}/indicators:preview"): policy(
        ok=(PLATFORM, MERCHANT_A)),
    # scans: any participant decodes a photo; the key only keeps it from being public.
    ("POST", "/v1/qr-decodes"): policy(ok=SIGNED_IN),
    # self-custody (issue 23): a consumer switches to its own key (these consumers hold
    # coupons and credit already: refused, 409); platform and merchants create own-key
    # consumers as they create custodial ones. The signed-action routes serve consumers
    # holding their own key only: every caller here is custodial, so all are refused
    # (an own-key holder's success is tests/integration/test_custody.py's).
    ("PUT", "/v1/participants/me/own-key"): policy(authorized=CONSUMERS),
    ("POST", "/v1/consumers/own-key"): policy(ok=(PLATFORM, *MERCHANTS)),
    ("POST", "/v1/promotion-coupons/{coupon_id}/consent-request"): policy(),
    ("POST", "/v1/promotion-coupons/{coupon_id}/signed-consent"): policy(),
    ("POST", "/v1/coupons/{serial}/redemption-code-request"): policy(),
    ("POST", "/v1/coupons/{serial}/signed-redemption-code"): policy(),
    ("POST", "/v1/products/{product_id}/purchase-intents"): policy(),
    ("POST", "/v1/products/{product_id}/signed-purchases"): policy(),
    ("POST", "/v1/credit-transfers/authorization-request"): policy(),
    ("POST", "/v1/credit-transfers"): policy(),
    ("POST", "/v1/payouts/me/withdraw-request"): policy(),
    ("POST", "/v1/payouts/me/signed-withdraw"): policy(),
    ("POST", "/v1/promotion-coupons/{coupon_id}/transfer-request"): policy(),
    ("POST", "/v1/promotion-coupons/{coupon_id}/signed-transfer"): policy(),
}


#: Write routes that need no credential, by design, and where they are tested: the
#: ways in (a passkey ceremony or a recovery code is itself the credential).
PUBLIC_WRITES: dict[tuple[str, str], str] = {
    ("POST", "/v1/accounts/sign-up/options"): "test_sessions_passkeys",
    ("POST", "/v1/accounts/sign-up"): "test_sessions_passkeys",
    ("POST", "/v1/accounts/sign-in/options"): "test_sessions_passkeys",
    ("POST", "/v1/accounts/sign-in"): "test_sessions_passkeys",
    ("POST", "/v1/accounts/recover"): "test_sessions_passkeys",
}

#: Read routes whose answer is scoped to the caller, tried by every role like the
#: write routes (a read changes nothing, so every caller shares one object).
READ_POLICY: dict[tuple[str, str], dict[str, Expect]] = {
    # customer picker (issue 24): merchant A and its terminals search A's customers (not
    # the platform: the picker is a counter tool, not a directory); a consumer's own
    # customer number as a QR code.
    ("GET", "/v1/merchants/{merchant_id}/customers"): policy(ok=(MERCHANT_A, TERMINAL_A)),
    ("GET", "/v1/customers/me/qr.png"): policy(ok=CONSUMERS),
    # a consumer's own wallet movements and lookup registrations (issue 24).
    ("GET", "/v1/customers/me/movements"): policy(ok=CONSUMERS),
    ("GET", "/v1/customers/me/movements.csv"): policy(ok=CONSUMERS),
    ("GET", "/v1/customers/me/edition-coupons"): policy(ok=CONSUMERS),
    ("GET", "/v1/customers/me/lookup"): policy(ok=CONSUMERS),
    # notifications (issue 25): a merchant's own only (not its terminals, not the platform).
    ("GET", "/v1/merchants/{merchant_id}/notifications"): policy(ok=(MERCHANT_A,)),
    ("GET", "/v1/merchants/{merchant_id}/notifications/stream"): policy(ok=(MERCHANT_A,)),
    ("GET", "/v1/merchants/{merchant_id}/notification-settings"): policy(ok=(MERCHANT_A,)),
}


def write_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) of the app's route table that writes, under /v1."""
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        path, methods = route.path, route.methods or set()
        if path and path.startswith("/v1/"):
            found.update((m, path) for m in methods & WRITE_METHODS)
    return found


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


@dataclass
class Req:
    """One request of the matrix: the concrete path and its body."""

    path: str
    json: Any = None
    content: bytes | None = None
    content_type: str | None = None


@dataclass
class World:
    """The callers, the objects of merchant A and consumer 1, and pools of fresh ones."""

    api: httpx.AsyncClient
    who: dict[str, dict[str, Any]]
    edition_id: int = 0
    serials: list[str] = field(default_factory=list)
    round_id: int = 0
    promo_coupons: list[int] = field(default_factory=list)
    product_id: int = 0
    closed_product_id: int = 0
    open_product_id: int = 0
    campaign_id: int = 0
    awards: list[int] = field(default_factory=list)
    merchant_number: int = 0
    shared: dict[str, Any] = field(default_factory=dict)
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    #: What a route's requests changed that the next route must not see (a pause),
    #: undone before the next route runs, whatever the order.
    undo: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def headers(self, role: str) -> dict[str, str]:
        if role == ANONYMOUS:
            return {}
        if role == FORGED:  # merchant A's id with a made-up secret part
            return {"authorization": f"Bearer cc_{self.who[MERCHANT_A]['id']}_{'A' * 32}"}
        return {"authorization": f"Bearer {self.who[role]['api_key']}"}

    async def call(self, role: str, method: str, path: str, *, json: Any = None,
                   expect: int | None = None) -> dict[str, Any]:
        """A set-up request that must succeed (`expect`, or any 2xx)."""
        answer = await self.api.request(method, path, json=json, headers=self.headers(role))
        ok = answer.status_code == expect if expect else answer.is_success
        assert ok, f"set-up {method} {path} as {role}: {answer.status_code} {answer.text}"
        return answer.json()  # type: ignore[no-any-return]

    def unique(self, label: str) -> str:
        return f"{label}{next(self.counter)}"

    def round_body(self) -> dict[str, Any]:
        return {
            "evaluation": {"turnover": [{"merchant": self.who[MERCHANT_A]["id"],
                                         "amount": 1_000_000},
                                        {"merchant": self.who[MERCHANT_B]["id"],
                                         "amount": 1_000_000}], "consumers": 2},
            "formula": {"base_per_merchant": 50, "turnover_per_coupon": 100_000,
                        "per_consumer": 0, "max_total": 1_000_000},
            "incentive_bps": 0,
            "shares": {"platform": 1_000, "issuer": 2_000, "redeemer": 2_000,
                       "holder": 3_000, "earlier": 2_000},
            "rollback_window_seconds": 3_600, "consent_lifetime_seconds": 120,
        }

    # -- fresh objects ---------------------------------------------------------------

    def take(self, pool: list[Any], what: str) -> Any:
        assert pool, f"the pool of {what} is empty: make it larger at set-up"
        return pool.pop()

    async def consent_code(self, coupon_id: int) -> str:
        made = await self.call(CONSUMER_1, "POST",
                               f"/v1/promotion-coupons/{coupon_id}/consent",
                               json={"merchant": "any", "max_order_amount": 10**12},
                               expect=201)
        return made["code"]  # type: ignore[no-any-return]

    async def written_off_coupon(self) -> int:
        """A promotion coupon of consumer 1 that merchant A wrote off."""
        coupon_id = self.take(self.promo_coupons, "promotion coupons")
        await self.call(MERCHANT_A, "POST", "/v1/write-offs", expect=201, json={
            "code": await self.consent_code(coupon_id), "order_amount": 1_000})
        return coupon_id  # type: ignore[no-any-return]

    async def prize_code(self, award_id: int) -> str:
        got = await self.api.get(f"/v1/prize-awards/{award_id}/code",
                                 headers=self.headers(CONSUMER_1))
        assert got.status_code == 200, got.text
        return got.json()["code"]  # type: ignore[no-any-return]

    async def claimable_scan(self) -> str:
        """A fresh, claimable scan made by terminal A."""
        award_id = self.take(self.awards, "prize awards")
        scan = await self.call(TERMINAL_A, "POST", "/v1/prize-scans", expect=201,
                               json={"code": await self.prize_code(award_id)})
        assert scan["claimable"], scan
        return scan["scan_id"]  # type: ignore[no-any-return]


Builder = Callable[[World, str, Expect], Awaitable[Req]]
BUILDERS: dict[tuple[str, str], Builder] = {}


def builds(method: str, path: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        BUILDERS[(method, path)] = fn
        return fn
    return register


# -- participants -----------------------------------------------------------------------


@builds("POST", "/v1/merchants")
async def _merchant(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/merchants", {"name": w.unique("Merchant ")})


@builds("POST", "/v1/terminals")
async def _terminal(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/terminals", {"name": w.unique("Till "),
                                 "merchant_id": w.who[MERCHANT_A]["id"]})


@builds("POST", "/v1/consumers")
async def _consumer(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/consumers", {"name": w.unique("Consumer ")})


@builds("POST", "/v1/api-keys")
async def _api_key(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/api-keys", {"name": w.unique("key ")})


@builds("DELETE", "/v1/api-keys/{key_id}")
async def _revoke_key(w: World, role: str, expect: Expect) -> Req:
    async def spare() -> str:
        made = await w.call(TERMINAL_A, "POST", "/v1/api-keys", json={"name": "spare"})
        return made["id"]  # type: ignore[no-any-return]

    if expect is Expect.OK:
        return Req(f"/v1/api-keys/{await spare()}")
    if "key" not in w.shared:  # a refused revocation changes nothing
        w.shared["key"] = await spare()
    return Req(f"/v1/api-keys/{w.shared['key']}")


@builds("POST", "/v1/sessions")
async def _session(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/sessions")


@builds("DELETE", "/v1/sessions/current")
async def _sign_out(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/sessions/current")


# -- accounts (issue 24) ----------------------------------------------------------------


async def _passkey_of(w: World, role: str) -> str:
    """A new passkey of `role`, added through the API with a software authenticator."""
    begun = await w.call(role, "POST", "/v1/accounts/me/passkeys/options",
                         json={"name": w.unique("passkey ")})
    made = await w.call(role, "POST", "/v1/accounts/me/passkeys", json={
        "ceremony": begun["ceremony"],
        "credential": SoftAuthenticator("http://test").create(begun["options"])})
    return made["id"]  # type: ignore[no-any-return]


@builds("POST", "/v1/accounts/me/passkeys/options")
async def _passkey_options(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/accounts/me/passkeys/options", {"name": w.unique("passkey ")})


@builds("POST", "/v1/accounts/me/passkeys")
async def _passkey_add(w: World, role: str, expect: Expect) -> Req:
    if role in UNAUTHENTICATED:
        return Req("/v1/accounts/me/passkeys", {"ceremony": "0" * 32, "credential": {}})
    begun = await w.call(role, "POST", "/v1/accounts/me/passkeys/options",
                         json={"name": w.unique("passkey ")})
    return Req("/v1/accounts/me/passkeys", {
        "ceremony": begun["ceremony"],
        "credential": SoftAuthenticator("http://test").create(begun["options"])})


@builds("DELETE", "/v1/accounts/me/passkeys/{passkey_id}")
async def _passkey_remove(w: World, role: str, expect: Expect) -> Req:
    if expect is Expect.OK:
        return Req(f"/v1/accounts/me/passkeys/{await _passkey_of(w, CONSUMER_1)}")
    if "passkey" not in w.shared:  # a refused removal changes nothing
        w.shared["passkey"] = await _passkey_of(w, CONSUMER_1)
    return Req(f"/v1/accounts/me/passkeys/{w.shared['passkey']}")


@builds("POST", "/v1/accounts/me/recovery-codes")
async def _recovery_codes(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/accounts/me/recovery-codes")


@builds("DELETE", "/v1/accounts/me/sessions/{session_id}")
async def _session_end(w: World, role: str, expect: Expect) -> Req:
    async def session() -> str:
        opened = await w.call(CONSUMER_1, "POST", "/v1/sessions")
        w.api.cookies.clear()  # the matrix's callers use their keys, not this cookie
        return opened["id"]  # type: ignore[no-any-return]

    if expect is Expect.OK:
        return Req(f"/v1/accounts/me/sessions/{await session()}")
    if "session" not in w.shared:
        w.shared["session"] = await session()
    return Req(f"/v1/accounts/me/sessions/{w.shared['session']}")


@builds("POST", "/v1/invitations")
async def _invite(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/invitations", {"kind": "staff", "name": w.unique("Staff ")})


@builds("DELETE", "/v1/invitations/{invitation_id}")
async def _invitation_revoke(w: World, role: str, expect: Expect) -> Req:
    async def invitation() -> str:
        made = await w.call(MERCHANT_A, "POST", "/v1/invitations",
                            json={"kind": "terminal", "name": w.unique("Till ")})
        return made["id"]  # type: ignore[no-any-return]

    if expect is Expect.OK:
        return Req(f"/v1/invitations/{await invitation()}")
    if "invitation" not in w.shared:
        w.shared["invitation"] = await invitation()
    return Req(f"/v1/invitations/{w.shared['invitation']}")


# -- standing ---------------------------------------------------------------------------


async def _till_of_a(w: World, suspended: bool = False) -> str:
    till = await w.call(MERCHANT_A, "POST", "/v1/terminals", json={"name": w.unique("Till ")})
    if suspended:
        await w.call(MERCHANT_A, "POST", f"/v1/participants/{till['id']}/suspend",
                     json={"reason": "lost"})
    return till["id"]  # type: ignore[no-any-return]


async def _standing_target(w: World, expect: Expect, kind: str) -> str:
    """A fresh terminal of A for each allowed caller; one shared by the refused ones."""
    suspended = kind == "reinstate"
    if expect is Expect.OK:
        return await _till_of_a(w, suspended)
    if kind not in w.shared:
        w.shared[kind] = await _till_of_a(w, suspended)
    return w.shared[kind]  # type: ignore[no-any-return]


@builds("POST", "/v1/participants/{participant_id}/suspend")
async def _suspend(w: World, role: str, expect: Expect) -> Req:
    till = await _standing_target(w, expect, "suspend")
    return Req(f"/v1/participants/{till}/suspend", {"reason": "lost"})


@builds("POST", "/v1/participants/{participant_id}/reinstate")
async def _reinstate(w: World, role: str, expect: Expect) -> Req:
    till = await _standing_target(w, expect, "reinstate")
    return Req(f"/v1/participants/{till}/reinstate", {"reason": "found"})


@builds("POST", "/v1/terminals/{participant_id}/unbind")
async def _unbind(w: World, role: str, expect: Expect) -> Req:
    till = await _standing_target(w, expect, "unbind")
    return Req(f"/v1/terminals/{till}/unbind", {"reason": "retired"})


async def _running(w: World, capability: str) -> None:
    listed = (await w.api.get("/v1/capabilities")).json()["capabilities"]
    if next(c for c in listed if c["capability"] == capability)["paused"]:
        await w.call(PLATFORM, "POST", f"/v1/capabilities/{capability}/unpause", json={})


@builds("POST", "/v1/capabilities/{capability}/pause")
async def _pause(w: World, role: str, expect: Expect) -> Req:
    if expect is Expect.OK:
        await _running(w, "marketing")
        w.undo.append(lambda: _running(w, "marketing"))  # every other route needs it
    return Req("/v1/capabilities/marketing/pause", {"reason": "incident"})


@builds("POST", "/v1/capabilities/{capability}/unpause")
async def _unpause(w: World, role: str, expect: Expect) -> Req:
    if expect is Expect.OK:
        await _running(w, "marketing")
        await w.call(PLATFORM, "POST", "/v1/capabilities/marketing/pause",
                     json={"reason": "incident"})
        w.undo.append(lambda: _running(w, "marketing"))
    return Req("/v1/capabilities/marketing/unpause", {"reason": "fixed"})


@builds("POST", "/v1/platform/transfer")
async def _propose_platform(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/platform/transfer")


# Accepting rotates the platform's chain key for the rest of the module: every later
# platform write (credits, rounds, reports) then signs with the new key.
@builds("POST", "/v1/platform/transfer/accept")
async def _accept_platform(w: World, role: str, expect: Expect) -> Req:
    if expect is Expect.OK:
        await w.call(PLATFORM, "POST", "/v1/platform/transfer")
    return Req("/v1/platform/transfer/accept")


@builds("POST", "/v1/platform/transfer/cancel")
async def _cancel_platform(w: World, role: str, expect: Expect) -> Req:
    if expect is Expect.OK:
        await w.call(PLATFORM, "POST", "/v1/platform/transfer")
    return Req("/v1/platform/transfer/cancel")


# -- editions ---------------------------------------------------------------------------


@builds("POST", "/v1/editions")
async def _edition(w: World, role: str, expect: Expect) -> Req:
    now = time.time()
    return Req("/v1/editions", {
        "brand": "Tea", "title": "Matrix edition", "terms": "One cup per coupon.",
        "prefix": w.unique("MX"), "total_pieces": 10, "price": 0,
        "valid_from": iso(now - 60), "valid_until": iso(now + 86_400)})


@builds("POST", "/v1/editions/{edition_id}/sales")
async def _sale(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/editions/{w.edition_id}/sales",
               {"buyer": w.who[CONSUMER_1]["id"], "order_ref": w.unique("order-")})


@builds("POST", "/v1/editions/{edition_id}/sales:bulk")
async def _sales(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/editions/{w.edition_id}/sales:bulk", {"sales": [
        {"buyer": w.who[CONSUMER_1]["id"], "order_ref": w.unique("bulk-")}]})


@builds("POST", "/v1/editions/{edition_id}/sales:import")
async def _import(w: World, role: str, expect: Expect) -> Req:
    text = f"buyer,order_ref\n{w.who[CONSUMER_1]['id']},{w.unique('pos-')}\n"
    return Req(f"/v1/editions/{w.edition_id}/sales:import", content=text.encode(),
               content_type="text/csv")


async def _edition_paused(w: World, paused: bool) -> None:
    """Merchant A's matrix edition paused or not (the sale routes need it unpaused)."""
    shown = (await w.api.get(f"/v1/editions/{w.edition_id}")).json()
    if shown["paused"] != paused:
        await w.call(MERCHANT_A, "POST", f"/v1/editions/{w.edition_id}/"
                     f"{'pause' if paused else 'resume'}", json={"reason": "matrix set-up"})


@builds("POST", "/v1/editions/{edition_id}/pause")
async def _edition_pause(w: World, role: str, expect: Expect) -> Req:
    if expect is Expect.OK:
        await _edition_paused(w, False)
        w.undo.append(lambda: _edition_paused(w, False))
    return Req(f"/v1/editions/{w.edition_id}/pause", {"reason": "stock count"})


@builds("POST", "/v1/editions/{edition_id}/resume")
async def _edition_resume(w: World, role: str, expect: Expect) -> Req:
    if expect is Expect.OK:
        await _edition_paused(w, True)
        w.undo.append(lambda: _edition_paused(w, False))
    return Req(f"/v1/editions/{w.edition_id}/resume", {"reason": "counted"})


@builds("POST", "/v1/editions/{edition_id}/extend")
async def _edition_extend(w: World, role: str, expect: Expect) -> Req:
    # Later than any end it had: only ever widens the edition for the other routes.
    return Req(f"/v1/editions/{w.edition_id}/extend",
               {"valid_until": iso(time.time() + 40 * 86_400 + next(w.counter)),
                "reason": "runs longer"})


@builds("POST", "/v1/coupons/{serial}/transfer")
async def _coupon_transfer(w: World, role: str, expect: Expect) -> Req:
    serial = w.take(w.serials, "edition coupons")
    return Req(f"/v1/coupons/{serial}/transfer", {"to": w.who[CONSUMER_2]["id"]})


@builds("POST", "/v1/coupons/{serial}/redeem")
async def _redeem(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/coupons/{w.take(w.serials, 'edition coupons')}/redeem")


async def _edition_code(w: World, serial: str) -> str:
    made = await w.call(CONSUMER_1, "POST", f"/v1/coupons/{serial}/redemption-code", json={},
                        expect=201)
    return made["code"]  # type: ignore[no-any-return]


@builds("POST", "/v1/coupons/{serial}/redemption-code")
async def _redemption_code(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/coupons/{w.serials[0]}/redemption-code", {})  # changes nothing


@builds("POST", "/v1/edition-codes/check")
async def _edition_code_check(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/edition-codes/check", {"code": await _edition_code(w, w.serials[0])})


@builds("POST", "/v1/edition-codes/redeem")
async def _edition_code_redeem(w: World, role: str, expect: Expect) -> Req:
    if expect is Expect.OK:
        serial = w.take(w.serials, "edition coupons")
    else:  # a refusal changes nothing: the refused callers share one coupon
        serial = w.shared.setdefault("edition-code", w.take(w.serials, "edition coupons"))
    return Req("/v1/edition-codes/redeem", {"code": await _edition_code(w, serial)})


@builds("GET", "/v1/customers/me/edition-coupons")
async def _my_edition_coupons(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/customers/me/edition-coupons")


@builds("POST", "/v1/coupons/{serial}/void")
async def _void(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/coupons/{w.take(w.serials, 'edition coupons')}/void")


# -- promotions ---------------------------------------------------------------------------


@builds("POST", "/v1/promotion-rounds:evaluate")
async def _evaluate(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/promotion-rounds:evaluate", w.round_body())


@builds("POST", "/v1/promotion-rounds")
async def _round(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/promotion-rounds", w.round_body())


@builds("POST", "/v1/promotion-rounds/{round_id}/allocations")
async def _allocate(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/promotion-rounds/{w.round_id}/allocations",
               {"allocations": [{"merchant": w.who[MERCHANT_A]["id"], "count": 1}]})


@builds("POST", "/v1/promotion-grants")
async def _grant(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/promotion-grants", {"round_id": w.round_id,
                                        "grants": [{"consumer": w.who[CONSUMER_1]["id"]}]})


@builds("POST", "/v1/promotion-coupons/{coupon_id}/transfer")
async def _promo_transfer(w: World, role: str, expect: Expect) -> Req:
    coupon_id = w.take(w.promo_coupons, "promotion coupons")
    return Req(f"/v1/promotion-coupons/{coupon_id}/transfer", {"to": w.who[CONSUMER_2]["id"]})


@builds("POST", "/v1/promotion-coupons/{coupon_id}/consent")
async def _consent(w: World, role: str, expect: Expect) -> Req:
    if "consent" not in w.shared:  # asking for a consent changes nothing
        w.shared["consent"] = w.take(w.promo_coupons, "promotion coupons")
    return Req(f"/v1/promotion-coupons/{w.shared['consent']}/consent",
               {"merchant": "any", "max_order_amount": 1_000})


@builds("POST", "/v1/promotion-coupons/{coupon_id}/write-off-reversal")
async def _reverse(w: World, role: str, expect: Expect) -> Req:
    if expect is Expect.OK:
        coupon_id = await w.written_off_coupon()
    else:  # a refused attempt changes nothing: the denied roles share one
        if "reversal" not in w.shared:
            w.shared["reversal"] = await w.written_off_coupon()
        coupon_id = w.shared["reversal"]
    return Req(f"/v1/promotion-coupons/{coupon_id}/write-off-reversal")


@builds("POST", "/v1/write-offs")
async def _write_off(w: World, role: str, expect: Expect) -> Req:
    coupon_id = w.take(w.promo_coupons, "promotion coupons")
    return Req("/v1/write-offs", {"code": await w.consent_code(coupon_id),
                                  "order_amount": 1_000})


@builds("POST", "/v1/payouts/me/withdraw")
async def _withdraw(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/payouts/me/withdraw")


@builds("POST", "/v1/credits")
async def _credit(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/credits", {"to": w.who[CONSUMER_1]["id"], "amount": 1})


@builds("PUT", "/v1/merchants/{merchant_id}/till-limit")
async def _till_limit(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/merchants/{w.who[MERCHANT_A]['id']}/till-limit", {"limit": 5_000_000})


@builds("POST", "/v1/till-credits")
async def _till_credit(w: World, role: str, expect: Expect) -> Req:
    if expect is Expect.OK and "till limits" not in w.shared:  # both merchants' tills credit
        for merchant in MERCHANTS:
            await w.call(PLATFORM, "PUT", f"/v1/merchants/{w.who[merchant]['id']}/till-limit",
                         json={"limit": 10_000_000})
        w.shared["till limits"] = True
    return Req("/v1/till-credits", {"consumer": w.who[CONSUMER_1]["id"], "amount": 1})


# -- customer picker (issue 24; read routes) ---------------------------------------------


@builds("GET", "/v1/merchants/{merchant_id}/customers")
async def _customers(w: World, role: str, expect: Expect) -> Req:
    # Consumer 1 holds A's coupons: one of A's customers, found by name.
    return Req(f"/v1/merchants/{w.who[MERCHANT_A]['id']}/customers?q="
               f"{w.who[CONSUMER_1]['name']}")


@builds("GET", "/v1/customers/me/qr.png")
async def _customer_qr(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/customers/me/qr.png")


@builds("GET", "/v1/customers/me/movements")
async def _movements(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/customers/me/movements")


@builds("GET", "/v1/customers/me/movements.csv")
async def _movements_csv(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/customers/me/movements.csv")


@builds("GET", "/v1/customers/me/lookup")
async def _lookups(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/customers/me/lookup")


@builds("PUT", "/v1/customers/me/lookup")
async def _set_lookup(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/customers/me/lookup", {"email": f"{role.replace(' ', '-')}@example.com"})


@builds("DELETE", "/v1/customers/me/lookup/{kind}")
async def _remove_lookup(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/customers/me/lookup/email")


# -- notifications (issue 25) -----------------------------------------------------------


@builds("GET", "/v1/merchants/{merchant_id}/notifications")
async def _notifications(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/merchants/{w.who[MERCHANT_A]['id']}/notifications")


@builds("GET", "/v1/merchants/{merchant_id}/notifications/stream")
async def _notification_stream(w: World, role: str, expect: Expect) -> Req:
    # One second: the stream then ends, and the matrix reads its whole answer.
    return Req(f"/v1/merchants/{w.who[MERCHANT_A]['id']}/notifications/stream?seconds=1")


@builds("GET", "/v1/merchants/{merchant_id}/notification-settings")
async def _notification_settings(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/merchants/{w.who[MERCHANT_A]['id']}/notification-settings")


@builds("POST", "/v1/merchants/{merchant_id}/notifications:read")
async def _notifications_read(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/merchants/{w.who[MERCHANT_A]['id']}/notifications:read", {})


@builds("PUT", "/v1/merchants/{merchant_id}/notification-settings")
async def _notification_switches(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/merchants/{w.who[MERCHANT_A]['id']}/notification-settings",
               {"kinds": {"budget_low": True}})


# -- prizes -------------------------------------------------------------------------------


@builds("POST", "/v1/prize-campaigns")
async def _campaign(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/prize-campaigns", {
        "title": w.unique("Draw "), "prizes": [{"name": "Mug", "quantity": 5}],
        "all_terminals": True, "ends_at": iso(time.time() + 3_600)})


@builds("POST", "/v1/prize-campaigns/{campaign_id}/awards")
async def _award(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/prize-campaigns/{w.campaign_id}/awards",
               {"awards": [{"consumer": w.who[CONSUMER_1]["id"], "prize_index": 0}]})


@builds("POST", "/v1/prize-awards/{award_id}/revoke")
async def _revoke(w: World, role: str, expect: Expect) -> Req:
    if expect is Expect.OK:
        award_id = w.take(w.awards, "prize awards")
    else:  # refused: one unrevoked award serves every other role
        if "to_revoke" not in w.shared:
            w.shared["to_revoke"] = w.take(w.awards, "prize awards")
        award_id = w.shared["to_revoke"]
    return Req(f"/v1/prize-awards/{award_id}/revoke", {"reason": "entered twice"})


# Each change only widens the campaign (a later end, more stock, every terminal of A),
# so the other prize routes' requests stay valid whatever order they run in.
@builds("POST", "/v1/prize-campaigns/{campaign_id}/window")
async def _change_window(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/prize-campaigns/{w.campaign_id}/window",
               {"ends_at": iso(time.time() + 7_200), "reason": "runs longer"})


@builds("POST", "/v1/prize-campaigns/{campaign_id}/stock")
async def _change_stock(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/prize-campaigns/{w.campaign_id}/stock",
               {"prize_index": 0, "quantity": 1_000, "reason": "more arrived"})


@builds("POST", "/v1/prize-campaigns/{campaign_id}/terminals")
async def _change_terminals(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/prize-campaigns/{w.campaign_id}/terminals",
               {"all_terminals": True, "reason": "every till"})


@builds("POST", "/v1/prize-scans")
async def _scan(w: World, role: str, expect: Expect) -> Req:
    if "scanned" not in w.shared:  # scanning claims nothing: one award serves every role
        w.shared["scanned"] = w.take(w.awards, "prize awards")
    return Req("/v1/prize-scans", {"code": await w.prize_code(w.shared["scanned"])})


@builds("POST", "/v1/prize-claims")
async def _claim(w: World, role: str, expect: Expect) -> Req:
    if expect is Expect.OK:
        scan_id = await w.claimable_scan()
    else:
        if "scan" not in w.shared:
            w.shared["scan"] = await w.claimable_scan()
        scan_id = w.shared["scan"]
    return Req("/v1/prize-claims", {"scan_id": scan_id})


@builds("POST", "/v1/prize-claims:sync")
async def _sync(w: World, role: str, expect: Expect) -> Req:
    award_id = w.take(w.awards, "prize awards")
    return Req("/v1/prize-claims:sync", {"claims": [
        {"code": await w.prize_code(award_id), "scanned_at": iso(time.time())}]})


# -- referrals ----------------------------------------------------------------------------


@builds("POST", "/v1/products")
async def _product(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/products", {"name": w.unique("Song "), "description": "A recording.",
                                "price": 1_000, "circulation": 10})


@builds("POST", "/v1/products/{product_id}/batches")
async def _open_batch(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/products/{w.closed_product_id}/batches",
               {"price": 1_000, "circulation": 5, "rebate_bps": 0})


@builds("PUT", "/v1/rebate-bounds")
async def _rebate_bounds(w: World, role: str, expect: Expect) -> Req:
    # The deployment's own bounds: allowed, and nothing else in the matrix moves.
    return Req("/v1/rebate-bounds", {"max_rebate_bps": 3_000, "min_promoter_share_bps": 500,
                                     "max_promoter_share_bps": 5_000})


@builds("POST", "/v1/products/{product_id}/batches/current:close")
async def _close_batch(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/products/{w.open_product_id}/batches/current:close")


@builds("POST", "/v1/products/{product_id}/links")
async def _link(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/products/{w.product_id}/links", {})


@builds("POST", "/v1/products/{product_id}/purchases")
async def _purchase(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/products/{w.product_id}/purchases",
               {"quantity": 1, "batch": 1, "max_price": 1_000})


# -- self-custody -------------------------------------------------------------------------


async def _own_key_proof(w: World, role: str, participant_route: bool) -> dict[str, Any]:
    """A fresh key's valid `OwnKey` proof for `role` (any well-formed one for a caller
    without a key: it is refused before the proof is read)."""
    account = Account.create()
    path = "/v1/participants/me/own-key/message" if participant_route else "/v1/own-key/message"
    headers = w.headers(role) if participant_route and role not in UNAUTHENTICATED else {}
    if participant_route and role in UNAUTHENTICATED:
        return {"address": account.address, "expiry": int(time.time()) + 60,
                "signature": "0x" + "11" * 65}
    asked = await w.api.get(path, params={"address": account.address}, headers=headers)
    assert asked.status_code == 200, asked.text
    typed = asked.json()["typed_data"]
    return {"address": account.address, "expiry": typed["message"]["expiry"],
            "signature": "0x" + sign_typed(typed, account.key).hex()}


@builds("PUT", "/v1/participants/me/own-key")
async def _own_key(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/participants/me/own-key", await _own_key_proof(w, role, True))


@builds("POST", "/v1/consumers/own-key")
async def _own_key_consumer(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/consumers/own-key",
               {"name": w.unique("Own key "), **await _own_key_proof(w, role, False)})


@builds("POST", "/v1/promotion-coupons/{coupon_id}/consent-request")
async def _consent_request(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/promotion-coupons/{w.promo_coupons[0]}/consent-request",
               {"merchant": "any", "max_order_amount": 1_000})


@builds("POST", "/v1/promotion-coupons/{coupon_id}/signed-consent")
async def _signed_consent(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/promotion-coupons/{w.promo_coupons[0]}/signed-consent", {
        "nonce": "1", "expiry": int(time.time()) + 60, "merchant": "0x" + "00" * 20,
        "max_order_amount": 1_000, "signature": "0x" + "11" * 65})


@builds("POST", "/v1/coupons/{serial}/redemption-code-request")
async def _redemption_code_request(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/coupons/{w.serials[0]}/redemption-code-request", {})


@builds("POST", "/v1/coupons/{serial}/signed-redemption-code")
async def _signed_redemption_code(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/coupons/{w.serials[0]}/signed-redemption-code", {
        "nonce": "1", "expiry": int(time.time()) + 60, "signature": "0x" + "11" * 65})


@builds("POST", "/v1/products/{product_id}/purchase-intents")
async def _purchase_intent(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/products/{w.product_id}/purchase-intents",
               {"quantity": 1, "batch": 1, "max_price": 1_000})


@builds("POST", "/v1/products/{product_id}/signed-purchases")
async def _signed_purchase(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/products/{w.product_id}/signed-purchases", {
        "quantity": 1, "batch": 1, "max_price": 1_000, "nonce": "1",
        "expiry": int(time.time()) + 60, "signature": "0x" + "11" * 65,
        "permit_signature": "0x" + "11" * 65})


@builds("POST", "/v1/credit-transfers/authorization-request")
async def _credit_authorization(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/credit-transfers/authorization-request",
               {"to": "0x" + "22" * 20, "amount": 1})


@builds("POST", "/v1/credit-transfers")
async def _credit_transfer(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/credit-transfers", {"to": "0x" + "22" * 20, "amount": 1,
                                        "deadline": int(time.time()) + 60,
                                        "nonce": "0x" + "33" * 32,
                                        "signature": "0x" + "11" * 65})


@builds("POST", "/v1/payouts/me/withdraw-request")
async def _withdraw_request(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/payouts/me/withdraw-request", {})


@builds("POST", "/v1/payouts/me/signed-withdraw")
async def _signed_withdraw(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/payouts/me/signed-withdraw", {"deadline": int(time.time()) + 60,
                                                  "signature": "0x" + "11" * 65})


@builds("POST", "/v1/promotion-coupons/{coupon_id}/transfer-request")
async def _coupon_transfer_request(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/promotion-coupons/{w.promo_coupons[0]}/transfer-request",
               {"to": "0x" + "22" * 20})


@builds("POST", "/v1/promotion-coupons/{coupon_id}/signed-transfer")
async def _signed_coupon_transfer(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/promotion-coupons/{w.promo_coupons[0]}/signed-transfer", {
        "to": "0x" + "22" * 20, "nonce": "1", "expiry": int(time.time()) + 60,
        "signature": "0x" + "11" * 65})


# -- marketing ----------------------------------------------------------------------------


@builds("POST", "/v1/access-logs")
async def _access_logs(w: World, role: str, expect: Expect) -> Req:
    return Req("/v1/access-logs", {"records": [{
        "ip": "203.0.113.7", "time": int(time.time()) - 60, "merchant": w.merchant_number,
        "method": "app", "operation": "view"}]})


@builds("PUT", "/v1/merchants/{merchant_id}/reporting-rules")
async def _rules(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/merchants/{w.who[MERCHANT_A]['id']}/reporting-rules", {"rules": [
        {"indicators": ["page_views"], "condition": {"type": "periodic", "every_hours": 1}}]})


@builds("PUT", "/v1/merchants/{merchant_id}/webhook")
async def _webhook(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/merchants/{w.who[MERCHANT_A]['id']}/webhook",
               {"url": "http://127.0.0.1:9/hooks/reports"})


@builds("PUT", "/v1/merchants/{merchant_id}/incentive-cap")
async def _incentive_cap(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/merchants/{w.who[MERCHANT_A]['id']}/incentive-cap", {"cap": 1_000_000})


@builds("PUT", "/v1/merchants/{merchant_id}/marketing-info")
async def _info(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/merchants/{w.who[MERCHANT_A]['id']}/marketing-info", {
        "headline": "Spring tea week", "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": "2099-01-01T00:00:00Z"})


@builds("PUT", "/v1/merchants/{merchant_id}/indicators/{name}")
async def _indicator(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/merchants/{w.who[MERCHANT_A]['id']}/indicators/claim_rate",
               {"expression": "count(claims) / count(views)"})


@builds("POST", "/v1/merchants/{merchant_id}/indicators:validate")
async def _indicator_check(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/merchants/{w.who[MERCHANT_A]['id']}/indicators:validate",
               {"expression": "count(claims) / count(views)"})


@builds("POST", "/v1/merchants/{merchant_id}/indicators:preview")
async def _indicator_preview(w: World, role: str, expect: Expect) -> Req:
    return Req(f"/v1/merchants/{w.who[MERCHANT_A]['id']}/indicators:preview",
               {"expression": "count(claims) / count(views)"})


@builds("POST", "/v1/qr-decodes")
async def _qr(w: World, role: str, expect: Expect) -> Req:
    png = io.BytesIO()
    segno.make("CCP1.matrix", error="m").save(png, kind="png", scale=4)
    return Req("/v1/qr-decodes", content=png.getvalue(), content_type="image/png")


# -- fixtures -----------------------------------------------------------------------------


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient


@pytest.fixture(scope="module")
async def api(tmp_path_factory: pytest.TempPathFactory, node_url: str) -> AsyncIterator[Api]:
    """One runtime and API for the module (background loops off: nothing moves alone)."""
    tmp: Path = tmp_path_factory.mktemp("authorization")
    settings = make_settings(tmp, f"sqlite+aiosqlite:///{tmp / 'couponchain.db'}", node_url)
    settings = settings.model_copy(update={"distribute_interval": 0.0, "report_interval": 0.0,
                                           "webhook_allow_hosts": "127.0.0.1"})
    runtime = Runtime(settings)
    await runtime.start()
    app = create_app(runtime, manage_runtime=False)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://test", timeout=60) as client:
            yield Api(app, client)
    finally:
        await runtime.stop()


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    """Merchant A's objects (consumer 1 holding them) and pools of fresh ones."""
    w = World(api.client, {PLATFORM: {"api_key": ADMIN_KEY}})
    for role, name in ((MERCHANT_A, "Merchant A"), (MERCHANT_B, "Merchant B")):
        w.who[role] = await w.call(PLATFORM, "POST", "/v1/merchants", json={"name": name})
    for role, merchant in ((TERMINAL_A, MERCHANT_A), (TERMINAL_B, MERCHANT_B)):
        w.who[role] = await w.call(merchant, "POST", "/v1/terminals",
                                   json={"name": f"Till of {merchant}"})
    for role in CONSUMERS:
        w.who[role] = await w.call(PLATFORM, "POST", "/v1/consumers", json={"name": role})
        await w.call(PLATFORM, "POST", "/v1/credits",
                     json={"to": w.who[role]["id"], "amount": 10_000_000})
    c1 = w.who[CONSUMER_1]["id"]

    now = time.time()
    edition = await w.call(MERCHANT_A, "POST", "/v1/editions", json={
        "brand": "Tea", "title": "Edition of A", "terms": "One cup per coupon.",
        "prefix": "AUTHA", "total_pieces": 1_000, "price": 100,
        "valid_from": iso(now - 60), "valid_until": iso(now + 86_400)})
    w.edition_id = edition["id"]
    sold = await w.call(MERCHANT_A, "POST", f"/v1/editions/{w.edition_id}/sales:bulk", json={
        "sales": [{"buyer": c1, "order_ref": f"pool-{i}"} for i in range(50)]})
    w.serials = [c["serial"] for c in sold["coupons"]]

    opened = await w.call(PLATFORM, "POST", "/v1/promotion-rounds", json=w.round_body())
    w.round_id = opened["id"]  # 2 * 50 + 2,000,000 / 100,000 = 120 coupons
    await w.call(PLATFORM, "POST", f"/v1/promotion-rounds/{w.round_id}/allocations", json={
        "allocations": [{"merchant": w.who[MERCHANT_A]["id"], "count": 80},
                        {"merchant": w.who[MERCHANT_B]["id"], "count": 20}]})
    granted = await w.call(MERCHANT_A, "POST", "/v1/promotion-grants", json={
        "round_id": w.round_id, "grants": [{"consumer": c1, "count": 50}]})
    w.promo_coupons = list(granted["coupon_ids"])

    async def product(name: str, circulation: int) -> int:
        made = await w.call(MERCHANT_A, "POST", "/v1/products", json={
            "name": name, "description": f"{name}: a recording.", "price": 1_000,
            "circulation": circulation})
        return int(made["id"])

    w.product_id = await product("Song of A", 1_000)
    await w.call(CONSUMER_1, "POST", f"/v1/products/{w.product_id}/purchases",
                 json={"quantity": 1, "batch": 1, "max_price": 1_000})  # may promote
    w.closed_product_id = await product("Closed song of A", 5)
    await w.call(MERCHANT_A, "POST",
                 f"/v1/products/{w.closed_product_id}/batches/current:close")
    w.open_product_id = await product("Open song of A", 5)

    campaign = await w.call(MERCHANT_A, "POST", "/v1/prize-campaigns", json={
        "title": "Draw of A", "prizes": [{"name": "Mug", "quantity": 1_000}],
        "terminals": [w.who[TERMINAL_A]["id"]], "ends_at": iso(now + 7_200),
        "per_consumer_limit": 1_000})
    w.campaign_id = campaign["id"]
    awarded = await w.call(MERCHANT_A, "POST", f"/v1/prize-campaigns/{w.campaign_id}/awards",
                           json={"awards": [{"consumer": c1} for _ in range(26)]})
    w.awards = [a["id"] for a in awarded["awards"]]

    rules = (await api.client.get(
        f"/v1/merchants/{w.who[MERCHANT_A]['id']}/reporting-rules")).json()
    w.merchant_number = rules["merchant_number"]
    return w


# -- tests --------------------------------------------------------------------------------


async def test_every_write_route_has_a_policy(api: Api) -> None:
    routes = write_routes(api.app)
    assert len(routes) >= 30, "the route table was not read"
    missing = sorted(routes - POLICY.keys() - PUBLIC_WRITES.keys())
    assert not missing, f"write routes without an authorization policy: {missing}"
    stale = sorted((POLICY.keys() | PUBLIC_WRITES.keys()) - routes)
    assert not stale, f"policy rows for routes that no longer exist: {stale}"
    reads = {(m, r.path) for r in iter_route_contexts(api.app.routes) for m in r.methods or ()}
    stale_reads = sorted(READ_POLICY.keys() - reads)
    assert not stale_reads, f"read policy rows for routes that no longer exist: {stale_reads}"
    assert POLICY.keys() | READ_POLICY.keys() == BUILDERS.keys(), (
        "every policy row needs its request builder")


def _acceptable(role: str, expect: Expect, status: int) -> bool:
    if role in UNAUTHENTICATED:
        return status == 401
    if expect is Expect.OK:
        return 200 <= status < 300
    if expect is Expect.AUTHORIZED:
        return 200 <= status < 300 or status in (409, 422)
    if expect is Expect.HIDDEN:
        return status == 404
    return status == 403


@pytest.mark.parametrize("route", sorted(POLICY | READ_POLICY), ids=lambda r: f"{r[0]} {r[1]}")
async def test_role_endpoint_matrix(api: Api, world: World, route: tuple[str, str]) -> None:
    method, _template = route
    while world.undo:
        await world.undo.pop()()
    wrong: list[str] = []
    for role in ROLES:
        expect = (POLICY | READ_POLICY)[route][role]
        request = await BUILDERS[route](world, role, expect)
        # One Idempotency-Key for every caller of the route: a key is the caller's
        # own, so a refused caller never gets the response stored for another.
        headers = world.headers(role) | {"idempotency-key": f"matrix {method} {_template}"}
        if request.content_type:
            headers["content-type"] = request.content_type
        answer = await api.client.request(method, request.path, json=request.json,
                                          content=request.content, headers=headers)
        api.client.cookies.clear()  # a session cookie must not sign the next caller in
        if not _acceptable(role, expect, answer.status_code):
            wrong.append(f"{role}: expected {expect.value}, got {answer.status_code} "
                         f"{answer.text[:300]}")
    assert not wrong, f"{method} {_template}:\n  " + "\n  ".join(wrong)
