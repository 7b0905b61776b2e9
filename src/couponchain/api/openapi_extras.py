"""What the generated OpenAPI document lacks for people trying the API in /docs:
the API key as a security scheme, and example bodies for the main writes.

FastAPI documents `get_auth`'s `Authorization` header as a plain header parameter,
which OpenAPI says tools ignore (Swagger UI's "Authorize" never fills it).
`describe` replaces it, on every operation that takes it, by the `apiKey` scheme
(HTTP bearer), so "Authorize" sends `Authorization: Bearer <key>` on each call, and
adds `EXAMPLES` to the request bodies, by operation (`"POST /v1/editions"`), as
`links.py` does for links. The examples are valid against their schemas (with
made-up ids: the call answers 404 until they are replaced by real ones).
"""

from __future__ import annotations

from typing import Any

#: The security scheme's name in the document.
SCHEME = "apiKey"
SECURITY_SCHEME = {
    "type": "http", "scheme": "bearer", "bearerFormat": "API key",
    "description": "An API key (`cc_…`), made under POST /v1/api-keys or by "
                   "`couponchain keys`; sent as `Authorization: Bearer <key>`.",
}
_T0, _T1 = "2027-01-01T09:00:00Z", "2027-03-31T18:00:00Z"
#: Participant ids as the platform makes them (32 hex digits); an address works too.
_CONSUMER, _MERCHANT = "9c1f0e5a7b3d4e2f8a6b1c0d9e8f7a6b", "3e8a1f4c6b2d4a9e8f7c5b1a0d2e3f4c"

#: Example request bodies by operation: (summary, body).
EXAMPLES: dict[str, tuple[str, dict[str, Any]]] = {
    "POST /v1/merchants": ("A merchant", {"name": "Lotus Tea House"}),
    "POST /v1/consumers": ("A consumer", {"name": "Mei Chen"}),
    "POST /v1/terminals": ("A till of the calling merchant", {"name": "Front counter"}),
    "POST /v1/api-keys": ("A key for the shop's back office",
                          {"name": "back office", "expires_at": _T1}),
    "POST /v1/credits": ("Credit 25 CCC (6 decimals) to a consumer",
                         {"to": _CONSUMER, "amount": 25_000_000}),
    "POST /v1/till-credits": ("20 CCC paid in cash at the till, with the receipt number",
                              {"consumer": _CONSUMER, "amount": 20_000_000,
                               "reference": "receipt 0042"}),
    "POST /v1/editions": ("500 numbered gift cards at 88 CCC", {
        "brand": "Lotus Tea House", "title": "Spring tea gift card",
        "terms": "One pot of tea of your choice, in store, once.", "prefix": "LOTUS",
        "total_pieces": 500, "price": 88_000_000, "valid_from": _T0, "valid_until": _T1}),
    "POST /v1/editions/{edition_id}/sales": ("An online sale at the list price", {
        "buyer": _CONSUMER, "channel": "online", "order_ref": "web-10042"}),
    "POST /v1/promotion-rounds": ("A round measured from the ledger up to now", {
        "evaluation": {}, "formula": {"base_per_merchant": 10, "turnover_per_coupon": 1_000_000,
                                      "per_consumer": 1, "max_total": 10_000},
        "incentive_bps": 300,
        "shares": {"platform": 1000, "issuer": 3000, "redeemer": 3000, "holder": 2000,
                   "earlier": 1000},
        "rollback_window_seconds": 600}),
    "POST /v1/promotion-grants": ("Two coupons to one consumer",
                                  {"round_id": 1, "grants": [{"consumer": _CONSUMER, "count": 2}]}),
    "POST /v1/promotion-coupons/{coupon_id}/consent": ("Consent for one shop, up to 50 CCC", {
        "merchant": _MERCHANT, "max_order_amount": 50_000_000, "lifetime_seconds": 120}),
    "POST /v1/write-offs": ("A consent code read at the till, on a 42 CCC order", {
        "code": "CCP2.<the consent code the holder shows>", "order_amount": 42_000_000}),
    "POST /v1/prize-campaigns": ("A week of prizes at every till", {
        "title": "Spring lucky draw", "prizes": [{"name": "Tea tin", "quantity": 20},
                                                 {"name": "Cup", "quantity": 100}],
        "all_terminals": True, "starts_at": _T0, "ends_at": "2027-01-08T09:00:00Z",
        "per_consumer_limit": 1}),
    "POST /v1/prize-campaigns/{campaign_id}/awards": (
        "The first prize to one consumer", {"awards": [{"consumer": _CONSUMER, "prize_index": 0}]}),
    "POST /v1/products": ("A product sold in batches", {
        "name": "Oolong 100 g", "description": "Single-estate oolong, 100 g tin.",
        "price": 12_000_000, "circulation": 1000}),
    "POST /v1/products/{product_id}/purchases": ("Two of the current batch, at most 12 CCC each",
                                                 {"quantity": 2, "batch": 1,
                                                  "max_price": 12_000_000}),
}


def _operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{method.upper()} {path}", op)
            for path, ops in document.get("paths", {}).items()
            for method, op in ops.items() if isinstance(op, dict)]


def describe(document: dict[str, Any]) -> dict[str, Any]:
    """Add the API key scheme and the example bodies to `document`, in place."""
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SCHEME] = SECURITY_SCHEME
    for name, operation in _operations(document):
        params = operation.get("parameters", [])
        kept = [p for p in params
                if not (p.get("in") == "header" and p.get("name", "").lower() == "authorization")]
        if len(kept) != len(params):
            operation["security"] = [{SCHEME: []}]
            if kept:
                operation["parameters"] = kept
            else:
                del operation["parameters"]
        if name in EXAMPLES:
            summary, body = EXAMPLES[name]
            media = operation["requestBody"]["content"]["application/json"]
            media["examples"] = {"example": {"summary": summary, "value": body}}
    return document


def missing_examples(document: dict[str, Any]) -> list[str]:
    """The operations of `EXAMPLES` the document does not have (a renamed route)."""
    present = {name for name, _ in _operations(document)}
    return sorted(set(EXAMPLES) - present)
