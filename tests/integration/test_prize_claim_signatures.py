"""A prize claim carries its winner's signature to the chain (issue 23), through the API
on the embedded node: the shown code, the scan, the offline sync and the recorder."""

from __future__ import annotations

import base64
import time

import httpx
from eth_account import Account

from couponchain.chain.gateway import Call
from couponchain.domain import prize_claim_consent as claim_consent
from couponchain.domain import prize_codes
from couponchain.errors import ContractRevert
from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.integration.prizes_world import (
    award_prize,
    failed_conditions,
    iso,
    prize_code,
    prize_world,
    scan_code,
    settled_scan,
    start_campaign,
)


async def test_the_shown_code_carries_the_winners_signature_to_the_chain(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await prize_world(client)
    campaign = await start_campaign(client, w)
    (award_id,) = await award_prize(client, w, campaign["id"], (w.ann, 0))
    got = (await client.get(f"/v1/prize-awards/{award_id}/code", headers=auth(w.ann))).json()
    parsed = prize_codes.parse_code(got["code"])
    claim = claim_consent.PrizeClaimConsent(award=award_id, campaign=campaign["id"],
                                            merchant=w.shop["address"],
                                            expiry=parsed.claim_expiry)
    # The signature is ann's, over this award, campaign and merchant, checkable by anyone.
    claim_consent.check_claim(claim, parsed.claim_signature, chain_id=runtime.chain_id,
                              contract=runtime.prizes.prizes_address,
                              consumer=w.ann["address"], now=int(time.time()))
    assert got["claim_signature_expires_at"] == iso(parsed.claim_expiry).replace("+00:00", "Z")
    scan = await scan_code(client, w.till, got["code"])
    assert scan["claimable"] and scan["conditions"][-1]["name"] == "winner_signed"
    claimed = await client.post("/v1/prize-claims", json={"scan_id": scan["scan_id"]},
                                headers=auth(w.till))
    assert claimed.status_code == 201, claimed.text
    done = await settled_scan(client, w.till, claimed.json())
    assert done["status"] == "recorded" and done["tx_hash"], done


async def test_the_merchant_cannot_mark_an_award_claimed_without_the_winner(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    """The finding: the merchant (whose key the platform holds) sent `claim_batch_at`
    for any award and the contract recorded it. Now the contract refuses it."""
    w = await prize_world(client)
    campaign = await start_campaign(client, w)
    (award_id,) = await award_prize(client, w, campaign["id"], (w.ann, 0))
    merchant = await runtime.participants.signer(w.shop["id"])
    expiry = int(time.time()) + 600
    stranger = Account.create()
    for signature in (bytes(65), claim_consent.sign_claim(
            claim_consent.PrizeClaimConsent(award=award_id, campaign=campaign["id"],
                                            merchant=w.shop["address"], expiry=expiry),
            runtime.chain_id, runtime.prizes.prizes_address, stranger.key)):
        try:
            await runtime.gateway.submit(merchant, Call(
                "prizes", "claim_batch_at",
                fixed=([award_id], [w.ann["address"]], [w.till["address"]], [expiry],
                       [signature]), kind="claim prize"))
        except ContractRevert as refused:
            assert refused.reason in ("prizes: claim not signed by the consumer",
                                      "ecdsa: invalid signature"), refused.reason
        else:
            raise AssertionError("the contract recorded a claim the winner did not sign")
    award = (await client.get(f"/v1/prize-awards/{award_id}")).json()
    assert award["status"] == "awarded"


async def test_a_code_whose_winner_signature_was_swapped_is_refused(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await prize_world(client)
    campaign = await start_campaign(client, w, per_consumer_limit=3)
    a1, a2 = await award_prize(client, w, campaign["id"], (w.ann, 0), (w.ann, 0))
    first, second = await prize_code(client, w.ann, a1), await prize_code(client, w.ann, a2)
    # Ann's signature for her second award, spliced into her first award's code and
    # re-signed with the platform's key (as an insider with that key could): the
    # scan refuses it, so nothing reaches the chain.
    raw = bytearray(base64.urlsafe_b64decode(first[len(prize_codes.PREFIX):]))
    raw[50:115] = base64.urlsafe_b64decode(second[len(prize_codes.PREFIX):])[50:115]
    body = bytes(raw[:115])
    signature = runtime.prizes.code_signer.sign_message(prize_codes.signable(body)).signature
    spliced = prize_codes.encode_code(body + bytes(signature))
    scan = await scan_code(client, w.till, spliced)
    assert list(failed_conditions(scan)) == ["winner_signed"], scan["conditions"]
    assert "not signed by the award's consumer" in failed_conditions(scan)["winner_signed"]
    refused = await client.post("/v1/prize-claims", json={"scan_id": scan["scan_id"]},
                                headers=auth(w.till))
    assert refused.status_code == 409 and "winner_signed" in refused.json()["detail"]


async def test_an_offline_sync_carries_the_signature_and_is_recorded(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await prize_world(client)
    campaign = await start_campaign(client, w)
    (award_id,) = await award_prize(client, w, campaign["id"], (w.ann, 0))
    code = await prize_code(client, w.ann, award_id)
    synced = await client.post("/v1/prize-claims:sync", headers=auth(w.till2), json={
        "claims": [{"code": code, "scanned_at": iso(time.time())}]})
    assert synced.status_code == 200, synced.text
    (result,) = synced.json()["results"]
    assert result["status"] == "claimed", result
    done = await settled_scan(client, w.till2, result["claim"])
    assert done["status"] == "recorded", done
    award = (await client.get(f"/v1/prize-awards/{award_id}")).json()
    assert award["status"] == "claimed" and award["claim_tx"] == done["tx_hash"]
