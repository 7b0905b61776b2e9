"""The shared list mechanism on prize campaigns, awards, claims and marketing
reports (issue 25): search, status and date filters, cursor paging and the CSV
export, over the real chain and read models, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import httpx

from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.integration import marketing_world as mk
from tests.integration.prizes_world import (
    award_prize,
    prize_code,
    prize_world,
    scan_code,
    settled_scan,
    start_campaign,
)


def _day(offset: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() + offset * 86400))


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _csv(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


async def _pages(client: httpx.AsyncClient, url: str, key: str, headers: dict[str, str],
                 **params: Any) -> list[dict[str, Any]]:
    """Every row of a list, page by page, checking each page's size."""
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        got = await client.get(url, headers=headers,
                               params={**params, **({"cursor": cursor} if cursor else {})})
        assert got.status_code == 200, got.text
        body = got.json()
        assert len(body[key]) <= params.get("limit", 100)
        rows += body[key]
        cursor = body["next_cursor"]
        if cursor is None:
            return rows


async def test_campaigns_awards_and_claims_lists(client: httpx.AsyncClient) -> None:
    w = await prize_world(client)
    first = await start_campaign(client, w, title="Summer draw")
    later = await start_campaign(client, w, title="Autumn raffle",
                                 starts_at=_iso(time.time() + 7200),
                                 ends_at=_iso(time.time() + 9000))
    me = auth(w.shop)

    # Campaigns: newest first, the merchant's own; search, status, dates, CSV.
    mine = await _pages(client, "/v1/prize-campaigns", "campaigns", me, limit=1)
    assert [c["id"] for c in mine] == [later["id"], first["id"]]
    assert [c["status"] for c in mine] == ["upcoming", "open"]
    assert mine[0]["merchant_name"] == "Tea House"
    rival = await _pages(client, "/v1/prize-campaigns", "campaigns", auth(w.rival))
    assert rival == []
    assert [c["id"] for c in await _pages(client, "/v1/prize-campaigns", "campaigns", me,
                                          q="summer")] == [first["id"]]
    assert [c["id"] for c in await _pages(client, "/v1/prize-campaigns", "campaigns", me,
                                          q=f"#{later['id']}")] == [later["id"]]
    assert [c["id"] for c in await _pages(client, "/v1/prize-campaigns", "campaigns", me,
                                          status="open")] == [first["id"]]
    assert await _pages(client, "/v1/prize-campaigns", "campaigns", me, status="ended") == []
    assert await _pages(client, "/v1/prize-campaigns", "campaigns", me,
                        **{"from": _day(1)}) == []
    everyone = await _pages(client, "/v1/prize-campaigns", "campaigns", {},
                            q="tea house", **{"from": _day(0), "to": _day(0)})
    assert {c["id"] for c in everyone} == {first["id"], later["id"]}  # the platform
    assert (await client.get("/v1/prize-campaigns", headers=auth(w.ann))).status_code == 403
    exported = _csv(await client.get("/v1/prize-campaigns", headers=me,
                                     params={"status": "upcoming", "format": "csv"}))
    assert [(r["id"], r["title"], r["status"]) for r in exported] == [
        (str(later["id"]), "Autumn raffle", "upcoming")]

    # Awards: Ann twice, Bob and Cy once; Bob's is claimed, Cy's revoked.
    ids = await award_prize(client, w, first["id"], (w.ann, 0), (w.bob, 0), (w.cy, 1), (w.ann, 0))
    ann1, bob1, cy1, ann2 = ids
    scan = await scan_code(client, w.till, await prize_code(client, w.bob, bob1))
    made = await client.post("/v1/prize-claims", json={"scan_id": scan["scan_id"]},
                             headers=auth(w.till))
    assert made.status_code == 201, made.text
    assert (await settled_scan(client, w.till, made.json()))["status"] == "recorded"
    revoked = await client.post(f"/v1/prize-awards/{cy1}/revoke", headers=me,
                                json={"reason": "duplicate entry"})
    assert revoked.status_code == 200, revoked.text

    url = f"/v1/prize-campaigns/{first['id']}/awards"
    assert [a["id"] for a in await _pages(client, url, "awards", me, limit=3)] == ids
    anns = await _pages(client, url, "awards", me, q="ann")
    assert [a["id"] for a in anns] == [ann1, ann2]
    assert {a["consumer_name"] for a in anns} == {"Ann"}
    assert [a["id"] for a in await _pages(client, url, "awards", me, q=w.bob["address"])] \
        == [bob1]
    assert [a["id"] for a in await _pages(client, url, "awards", me, status="claimed")] \
        == [bob1]
    assert [a["id"] for a in await _pages(client, url, "awards", me, status="revoked")] \
        == [cy1]
    assert len(await _pages(client, url, "awards", me, to=_day(0))) == 4
    assert await _pages(client, url, "awards", me, to=_day(-1)) == []
    rows = _csv(await client.get(url, headers=me, params={"status": "awarded",
                                                          "format": "csv"}))
    assert [(r["id"], r["consumer_name"], r["status"]) for r in rows] == [
        (str(ann1), "Ann", "awarded"), (str(ann2), "Ann", "awarded")]
    assert (await client.get(url, headers=auth(w.rival))).status_code == 403
    # A consumer's own awards take the same filters.
    own = await _pages(client, "/v1/prize-awards", "awards", auth(w.ann),
                       consumer=w.ann["id"], limit=1)
    assert [a["id"] for a in own] == [ann1, ann2]
    assert await _pages(client, "/v1/prize-awards", "awards", {}, consumer=w.ann["id"],
                        status="claimed") == []

    # Claims: newest first; the old `before` still pages.
    scan = await scan_code(client, w.till2, await prize_code(client, w.ann, ann1))
    second = await client.post("/v1/prize-claims", json={"scan_id": scan["scan_id"]},
                               headers=auth(w.till2))
    assert second.status_code == 201, second.text
    await settled_scan(client, w.till2, second.json())
    url = f"/v1/prize-campaigns/{first['id']}/claims"
    claims = await _pages(client, url, "claims", me, limit=1)
    assert [c["award_id"] for c in claims] == [ann1, bob1]
    assert claims[0]["terminal_name"] == "Till 2" and claims[1]["consumer_name"] == "Bob"
    older = (await client.get(url, headers=me, params={"before": claims[0]["id"]})).json()
    assert [c["award_id"] for c in older["claims"]] == [bob1]
    assert [c["award_id"] for c in await _pages(client, url, "claims", me, q="till 1")] \
        == [bob1]
    assert [c["award_id"] for c in await _pages(client, url, "claims", me, q="ann")] \
        == [ann1]
    assert len(await _pages(client, url, "claims", me, status="recorded")) == 2
    assert await _pages(client, url, "claims", me, status="offline") == []
    assert await _pages(client, url, "claims", me, **{"from": _day(1)}) == []
    rows = _csv(await client.get(url, headers=me, params={"q": "Bob", "format": "csv"}))
    assert [(r["award_id"], r["terminal_name"], r["status"]) for r in rows] == [
        (str(bob1), "Till 1", "recorded")]
    assert rows[0]["tx_hash"].startswith("0x")
    bad = await client.get(url, headers=me, params={"status": "lost"})
    assert bad.status_code == 422 and bad.json()["field"] == "status"


async def test_reports_list(client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await mk.marketing_world(client)
    await mk.set_rules(client, w, [{"indicators": ["unique_visitors"],
                                    "condition": {"type": "threshold",
                                                  "indicator": "unique_visitors", "op": ">=",
                                                  "value": 2, "window_minutes": 60}}])
    now = mk.T + mk.HOUR
    await mk.ingest_logs(client, w.till, [mk.record(w.number, f"10.1.0.{i}", now - 50 + i)
                                          for i in range(2)])
    (one,) = await runtime.marketing.tick(now)
    assert await runtime.marketing.tick(now + 2 * mk.HOUR) == []  # below again: re-armed
    later = now + 2 * mk.HOUR + 60
    await mk.ingest_logs(client, w.till, [mk.record(w.number, f"10.2.0.{i}", later - 30 + i)
                                          for i in range(2)])
    (two,) = await runtime.marketing.tick(later)
    url = f"/v1/merchants/{w.shop['id']}/reports"
    me = auth(w.shop)

    both = await _pages(client, url, "reports", me, limit=1)
    assert [r["id"] for r in both] == [two, one]  # newest first
    shouted = "0x" + both[1]["report_hash"][2:].upper()  # a hash matches in either case
    assert [r["id"] for r in await _pages(client, url, "reports", me, q=shouted)] == [one]
    assert [r["id"] for r in await _pages(client, url, "reports", me, q=f"#{two}")] == [two]
    assert len(await _pages(client, url, "reports", me, status="published")) == 2
    assert await _pages(client, url, "reports", me, status="failed") == []
    day_one = time.strftime("%Y-%m-%d", time.gmtime(now))
    day_two = time.strftime("%Y-%m-%d", time.gmtime(later))
    assert day_one != day_two
    assert [r["id"] for r in await _pages(client, url, "reports", me, to=day_one)] == [one]
    assert [r["id"] for r in await _pages(client, url, "reports", me,
                                          **{"from": day_two})] == [two]
    rows = _csv(await client.get(url, headers=me, params={"from": day_two, "format": "csv"}))
    assert [(r["id"], r["trigger"], r["status"]) for r in rows] == [
        (str(two), "threshold", "published")]
    assert rows[0]["indicators"].startswith("{")  # nested values are JSON in a cell
    assert (await client.get(url, headers=auth(w.other))).status_code == 403
    assert (await client.get(url, params={"status": "sent"})).json()["field"] == "status"
