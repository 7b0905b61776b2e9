"""OpenAPI links: how a client chains the operations, an answer's id into the next call.

The table below is written once, by operation (`"POST /v1/editions"`), and
`add_links` puts each entry on its source operation's success response in the
generated document, naming the target by its operationId. Clients read them as
documentation; schemathesis' stateful phase follows them to build call sequences
(create an edition, sell a coupon of it, redeem that coupon, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The answer's body, as a runtime expression prefix.
R = "$response.body#"
#: The request's body, as a runtime expression prefix.
Q = "$request.body#"


@dataclass(frozen=True)
class Link:
    """One way on from an operation's success answer to `target`."""

    name: str
    target: str
    parameters: dict[str, str] = field(default_factory=dict)
    body: Any = None
    description: str = ""

    def openapi(self, operation_id: str) -> dict[str, Any]:
        """The OpenAPI Link Object."""
        out: dict[str, Any] = {"operationId": operation_id}
        if self.parameters:
            out["parameters"] = dict(self.parameters)
        if self.body is not None:
            out["requestBody"] = self.body
        if self.description:
            out["description"] = self.description
        return out


def _merchant_scoped(merchant: str) -> list[Link]:
    """A merchant's marketing operations, from an expression giving its id."""
    p = {"path.merchant_id": merchant}
    return [
        Link("SetReportingRules", "PUT /v1/merchants/{merchant_id}/reporting-rules", p),
        Link("GetReportingRules", "GET /v1/merchants/{merchant_id}/reporting-rules", p),
        Link("SetWebhook", "PUT /v1/merchants/{merchant_id}/webhook", p),
        Link("ListReports", "GET /v1/merchants/{merchant_id}/reports", p),
        Link("GetActivity", "GET /v1/merchants/{merchant_id}/activity", p),
        Link("PublishMarketingInfo", "PUT /v1/merchants/{merchant_id}/marketing-info", p),
        Link("GetMarketingInfo", "GET /v1/merchants/{merchant_id}/marketing-info", p),
    ]


def _participant(pointer: str) -> Link:
    return Link("GetParticipant", "GET /v1/participants/{participant_id}",
                {"path.participant_id": f"{R}{pointer}"})


def _edition(pointer: str) -> list[Link]:
    p = {"path.edition_id": f"{R}{pointer}"}
    return [
        Link("GetEdition", "GET /v1/editions/{edition_id}", p),
        Link("GetSalesTimeline", "GET /v1/editions/{edition_id}/sales-timeline", p),
        Link("RecordSale", "POST /v1/editions/{edition_id}/sales", p),
        Link("PauseEdition", "POST /v1/editions/{edition_id}/pause", p),
        Link("ResumeEdition", "POST /v1/editions/{edition_id}/resume", p),
        Link("ExtendEdition", "POST /v1/editions/{edition_id}/extend", p),
    ]


def _coupon(pointer: str, *, ops: tuple[str, ...] = ("get", "proof", "transfer", "redeem",
                                                      "void")) -> list[Link]:
    """An edition coupon's operations, from the pointer to its serial."""
    p = {"path.serial": f"{R}{pointer}"}
    named = {"get": ("GetCoupon", "GET /v1/coupons/{serial}"),
             "proof": ("GetCouponProof", "GET /v1/coupons/{serial}/proof"),
             "transfer": ("TransferCoupon", "POST /v1/coupons/{serial}/transfer"),
             "redeem": ("RedeemCoupon", "POST /v1/coupons/{serial}/redeem"),
             "void": ("VoidCoupon", "POST /v1/coupons/{serial}/void")}
    return [Link(*named[op], p) for op in ops]


def _promotion_coupon(pointer: str, *, ops: tuple[str, ...] = (
        "get", "consent", "transfer", "reverse")) -> list[Link]:
    """A promotion coupon's operations, from the pointer to its id."""
    p = {"path.coupon_id": f"{R}{pointer}"}
    named = {"get": ("GetPromotionCoupon", "GET /v1/promotion-coupons/{coupon_id}"),
             "consent": ("MakeConsent", "POST /v1/promotion-coupons/{coupon_id}/consent"),
             "transfer": ("TransferPromotionCoupon",
                          "POST /v1/promotion-coupons/{coupon_id}/transfer"),
             "reverse": ("ReverseWriteOff",
                         "POST /v1/promotion-coupons/{coupon_id}/write-off-reversal")}
    return [Link(*named[op], p) for op in ops]


def _round(pointer: str) -> list[Link]:
    return [
        Link("GetRound", "GET /v1/promotion-rounds/{round_id}",
             {"path.round_id": f"{R}{pointer}"}),
        Link("Allocate", "POST /v1/promotion-rounds/{round_id}/allocations",
             {"path.round_id": f"{R}{pointer}"}),
        Link("Grant", "POST /v1/promotion-grants", body={"round_id": f"{R}{pointer}"}),
    ]


def _product(pointer: str) -> list[Link]:
    p = {"path.product_id": f"{R}{pointer}"}
    # A purchase names the batch and price the buyer saw: the answer's current batch.
    seen = pointer.rsplit("/", 1)[0] + "/current"
    return [
        Link("GetProduct", "GET /v1/products/{product_id}", p),
        Link("Purchase", "POST /v1/products/{product_id}/purchases", p,
             body={"batch": f"{R}{seen}/batch", "max_price": f"{R}{seen}/price"}),
        Link("ListPurchases", "GET /v1/products/{product_id}/purchases", p),
        Link("MakePromotionLink", "POST /v1/products/{product_id}/links", p),
        Link("OpenBatch", "POST /v1/products/{product_id}/batches", p),
        Link("CloseBatch", "POST /v1/products/{product_id}/batches/current:close", p),
    ]


def _campaign(pointer: str) -> list[Link]:
    p = {"path.campaign_id": f"{R}{pointer}"}
    return [
        Link("GetCampaign", "GET /v1/prize-campaigns/{campaign_id}", p),
        Link("Award", "POST /v1/prize-campaigns/{campaign_id}/awards", p),
        Link("GetCampaignStats", "GET /v1/prize-campaigns/{campaign_id}/stats", p),
        Link("ListCampaignAwards", "GET /v1/prize-awards",
             {"query.campaign_id": f"{R}{pointer}"}),
        Link("ChangeCampaignWindow", "POST /v1/prize-campaigns/{campaign_id}/window", p),
        Link("ChangeCampaignStock", "POST /v1/prize-campaigns/{campaign_id}/stock", p),
        Link("ChangeCampaignTerminals", "POST /v1/prize-campaigns/{campaign_id}/terminals", p),
        Link("ListCampaignChanges", "GET /v1/prize-campaigns/{campaign_id}/changes", p),
    ]


def _award(pointer: str) -> list[Link]:
    p = {"path.award_id": f"{R}{pointer}"}
    return [
        Link("GetAward", "GET /v1/prize-awards/{award_id}", p),
        Link("GetAwardCode", "GET /v1/prize-awards/{award_id}/code", p),
    ]


#: Source operation -> the links on its success answer.
LINKS: dict[str, list[Link]] = {
    # participants
    "POST /v1/merchants": [
        _participant("/id"),
        Link("CreateTerminal", "POST /v1/terminals", body={"merchant_id": f"{R}/id"}),
        Link("ListEditions", "GET /v1/editions", {"query.merchant": f"{R}/id"}),
        Link("ListProducts", "GET /v1/products", {"query.originator": f"{R}/id"}),
        Link("ListWriteOffs", "GET /v1/write-offs", {"query.merchant": f"{R}/id"}),
        *_merchant_scoped(f"{R}/id"),
    ],
    "GET /v1/merchants": [_participant("/items/0/id"),
                          *_merchant_scoped(f"{R}/items/0/id")],
    "POST /v1/terminals": [_participant("/id")],
    "POST /v1/consumers": [
        _participant("/id"),
        Link("ListPromotionCoupons", "GET /v1/promotion-coupons", {"query.holder": f"{R}/id"}),
        Link("ListPrizeAwards", "GET /v1/prize-awards", {"query.consumer": f"{R}/id"}),
        Link("IssueCredit", "POST /v1/credits", body={"to": f"{R}/id"}),
    ],
    "GET /v1/participants/me": [_participant("/id")],
    # editions
    "POST /v1/editions": [
        *_edition("/id"),
        Link("RecordSales", "POST /v1/editions/{edition_id}/sales:bulk",
             {"path.edition_id": f"{R}/id"}),
        Link("ImportSales", "POST /v1/editions/{edition_id}/sales:import",
             {"path.edition_id": f"{R}/id"}),
    ],
    "GET /v1/editions": _edition("/editions/0/id"),
    "GET /v1/editions/{edition_id}": [
        Link("RecordSale", "POST /v1/editions/{edition_id}/sales",
             {"path.edition_id": f"{R}/id"})],
    "POST /v1/editions/{edition_id}/sales": [*_coupon("/coupon/serial"),
                                             *_edition("/coupon/edition_id")[:1]],
    "POST /v1/editions/{edition_id}/sales:bulk": [
        *_coupon("/coupons/0/serial", ops=("get", "transfer", "redeem", "void")),
        *_edition("/edition_id")[:1]],
    "POST /v1/editions/{edition_id}/sales:import": [
        *_coupon("/coupons/0/serial", ops=("get", "redeem")), *_edition("/edition_id")[:1]],
    "GET /v1/coupons/{serial}": [*_coupon("/serial", ops=("proof", "transfer", "redeem", "void")),
                                 *_edition("/edition_id")[:1]],
    "POST /v1/coupons/{serial}/transfer": _coupon("/coupon/serial",
                                                  ops=("get", "transfer", "redeem", "void")),
    "POST /v1/coupons/{serial}/redeem": _coupon("/coupon/serial", ops=("get", "proof", "void")),
    "POST /v1/coupons/{serial}/void": _coupon("/coupon/serial", ops=("get", "redeem")),
    # promotions
    "POST /v1/promotion-rounds:evaluate": [
        Link("OpenRound", "POST /v1/promotion-rounds", body="$request.body",
             description="open the round just previewed")],
    "POST /v1/promotion-rounds": _round("/id"),
    "GET /v1/promotion-rounds": _round("/rounds/0/id"),
    "GET /v1/promotion-rounds/{round_id}": _round("/id")[1:],
    "POST /v1/promotion-rounds/{round_id}/allocations": _round("/id")[::2],
    "POST /v1/promotion-grants": [
        *_promotion_coupon("/coupon_ids/0", ops=("get", "consent", "transfer")),
        _round("/round_id")[0],
        Link("ListHolderCoupons", "GET /v1/promotion-coupons",
             {"query.holder": f"{R}/ranges/0/consumer"}),
    ],
    "GET /v1/promotion-coupons": _promotion_coupon("/coupons/0/id", ops=("get", "consent")),
    "GET /v1/promotion-coupons/{coupon_id}": _promotion_coupon("/id", ops=("consent",)),
    "POST /v1/promotion-coupons/{coupon_id}/transfer": _promotion_coupon(
        "/coupon/id", ops=("get", "consent")),
    "POST /v1/promotion-coupons/{coupon_id}/consent": [
        Link("WriteOff", "POST /v1/write-offs", body={"code": f"{R}/code"},
             description="the merchant writes the coupon off with the code shown"),
        *_promotion_coupon("/coupon_id", ops=("get",)),
    ],
    "POST /v1/write-offs": [
        *_promotion_coupon("/coupon_id", ops=("get", "reverse")),
        Link("ListWriteOffs", "GET /v1/write-offs", {"query.merchant": f"{R}/merchant"}),
        Link("GetWriteOffTimeline", "GET /v1/write-offs/timeline",
             {"query.merchant": f"{R}/merchant"}),
    ],
    "GET /v1/write-offs": _promotion_coupon("/write_offs/0/id", ops=("get", "reverse")),
    "POST /v1/promotion-coupons/{coupon_id}/write-off-reversal": _promotion_coupon(
        "/coupon/id", ops=("get", "consent")),
    # payouts
    "GET /v1/payouts/me": [Link("Withdraw", "POST /v1/payouts/me/withdraw")],
    # referrals
    "POST /v1/products": _product("/id"),
    "GET /v1/products": _product("/products/0/id")[:1],
    "POST /v1/products/{product_id}/batches": _product("/id"),
    "POST /v1/products/{product_id}/batches/current:close": [
        p for p in _product("/id") if p.name in ("GetProduct", "OpenBatch")],
    "POST /v1/products/{product_id}/purchases": [
        p for p in _product("/product_id") if p.name in ("GetProduct", "ListPurchases",
                                                         "MakePromotionLink")],
    "POST /v1/products/{product_id}/links": [
        Link("VerifyPromotionLink", "GET /v1/products/{product_id}/links/{link}",
             {"path.product_id": f"{R}/product_id", "path.link": f"{R}/link"}),
        Link("PurchaseThroughLink", "POST /v1/products/{product_id}/purchases",
             {"path.product_id": f"{R}/product_id"},
             body={"link": f"{R}/link", "batch": f"{R}/current/batch",
                   "max_price": f"{R}/current/price"},
             description="a buyer pays through the promoter's link"),
    ],
    # prizes
    "POST /v1/prize-campaigns": _campaign("/id"),
    "POST /v1/prize-campaigns/{campaign_id}/awards": [*_award("/awards/0/id"),
                                                      *_campaign("/campaign_id")[::2]],
    "GET /v1/prize-awards": _award("/awards/0/id"),
    "GET /v1/prize-awards/{award_id}/code": [
        Link("ScanCode", "POST /v1/prize-scans", body={"code": f"{R}/code"},
             description="the terminal scans the code the consumer shows"),
        Link("SyncOfflineClaim", "POST /v1/prize-claims:sync",
             body={"claims": [{"code": f"{R}/code", "scanned_at": f"{R}/issued_at"}]},
             description="an offline terminal scanned the code and syncs later"),
        _award("/award_id")[0],
    ],
    "POST /v1/prize-scans": [
        Link("Claim", "POST /v1/prize-claims", body={"scan_id": f"{R}/scan_id"},
             description="the terminal confirms a successful scan"),
        _award("/code/award_id")[0],
    ],
    "POST /v1/prize-claims": [
        Link("GetClaim", "GET /v1/prize-claims/{claim_id}", {"path.claim_id": f"{R}/id"}),
        _award("/award_id")[0],
        _campaign("/campaign_id")[2],
    ],
    "POST /v1/prize-claims:sync": [
        Link("GetClaim", "GET /v1/prize-claims/{claim_id}",
             {"path.claim_id": f"{R}/results/0/claim/id"}),
        _award("/results/0/award_id")[0],
    ],
    "GET /v1/prize-claims/{claim_id}": [_award("/award_id")[0],
                                        _campaign("/campaign_id")[0]],
    # marketing
    "POST /v1/access-logs": [
        Link("GetLogProof", "GET /v1/access-logs/{batch_id}/proof/{index}",
             {"path.batch_id": f"{R}/batch_id", "path.index": "0"})],
    "PUT /v1/merchants/{merchant_id}/reporting-rules": [
        link for link in _merchant_scoped("$request.path.merchant_id")
        if link.name in ("GetReportingRules", "ListReports")],
    "PUT /v1/merchants/{merchant_id}/marketing-info": [
        link for link in _merchant_scoped("$request.path.merchant_id")
        if link.name in ("GetMarketingInfo", "GetActivity")],
    "PUT /v1/merchants/{merchant_id}/webhook": [
        link for link in _merchant_scoped("$request.path.merchant_id")
        if link.name == "ListReports"],
    "GET /v1/merchants/{merchant_id}/reports": [
        Link("GetReport", "GET /v1/reports/{report_id}",
             {"path.report_id": f"{R}/reports/0/id"})],
}


def _success(responses: dict[str, Any]) -> str:
    (code,) = [c for c in responses if c.startswith("2")]
    return code


def add_links(document: dict[str, Any], links: dict[str, list[Link]] | None = None) -> int:
    """Put `links` (default: `LINKS`) on the success answers in `document`.

    Returns how many were added. An entry naming an operation the document lacks
    raises KeyError: a renamed route must not leave a dangling link behind.
    """
    table = LINKS if links is None else links
    paths = document["paths"]
    operation_ids = {f"{method.upper()} {path}": op["operationId"]
                     for path, ops in paths.items() for method, op in ops.items()}
    added = 0
    for source, entries in table.items():
        method, path = source.split(" ", 1)
        responses = paths[path][method.lower()]["responses"]
        response = responses[_success(responses)]
        out = response.setdefault("links", {})
        for link in entries:
            if link.name in out:
                raise ValueError(f"links: {source} has two links named {link.name}")
            out[link.name] = link.openapi(operation_ids[link.target])
            added += 1
    return added
