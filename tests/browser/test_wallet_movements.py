"""The wallet's movements and the bulk-winners picker in a real browser (issue 24), at
1280 px in English and 390 px in zh-CN: a consumer topped up at a till and granted
nothing else reads the top-up in the movement list (the shop's name, the amount in
CCC, the receipt, the transaction behind a toggle), registers an e-mail for the till's
search; a merchant picks two winners in the prize console's bulk box, one of its
customers by name and one first-time customer by the exact e-mail she registered,
and awards them on chain."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.browser.screenshots import SHOTS
from tests.browser.signin import ADMIN, fits, ok, signed_in_page

CCC = 1_000_000
VIEWPORTS = {1280: {"width": 1280, "height": 900}, 390: {"width": 390, "height": 844}}
SAYS = {
    "en": {"top_up": "Top-up at Corner Tea", "receipt": "Receipt R-7",
           "email": "Shops can find you by your e-mail.", "awarded": "Awarded 2 × Mug",
           "picked": "2 winners picked."},
    "zh_CN": {"top_up": "在 Corner Tea 充值", "receipt": "小票 R-7",
              "email": "商家可以通过你的电子邮箱找到你。", "awarded": "已发放 2 × Mug",
              "picked": "已选 2 位中奖者。"},
}


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


async def _shop(url: str) -> dict[str, Any]:
    """A shop with a till and a prize campaign; Mei Chen topped up there, Lin Wu never."""
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=ADMIN) as client:
        shop = ok(await client.post("/v1/merchants", json={"name": "Corner Tea"}))
        till = ok(await client.post("/v1/terminals", json={"name": "Front till"},
                                    headers=auth(shop)))
        mei, lin = [ok(await client.post("/v1/consumers", json={"name": n}))
                    for n in ("Mei Chen", "Lin Wu")]
        ok(await client.put(f"/v1/merchants/{shop['id']}/till-limit", json={"limit": 100 * CCC}))
        credited = ok(await client.post("/v1/till-credits", headers=auth(till), json={
            "consumer": mei["id"], "amount": 5 * CCC, "reference": "R-7"}))
        campaign = ok(await client.post("/v1/prize-campaigns", headers=auth(shop), json={
            "title": "Winter draw", "prizes": [{"name": "Mug", "quantity": 5}],
            "terminals": [till["id"]], "ends_at": _iso(time.time() + 3_600),
            "per_consumer_limit": 2}))
    return {"shop": shop, "mei": mei, "lin": lin, "campaign": campaign,
            "top_up_tx": credited["tx_hash"]}


@pytest.mark.parametrize(("width", "lang"), [(1280, "en"), (390, "zh_CN")])
async def test_wallet_movements_and_the_bulk_winners_picker(
    site: tuple[str, Runtime], browser: Browser, width: int, lang: str
) -> None:
    url, _runtime = site
    says = SAYS[lang]
    tag = lang.replace("_", "-")
    w = await _shop(url)
    email = f"lin.{width}@example.com"
    SHOTS.mkdir(parents=True, exist_ok=True)

    # Mei's wallet: the top-up in the movements, its transaction behind a toggle.
    wallet = await signed_in_page(browser, url, w["mei"]["api_key"], "/wallet",
                                  VIEWPORTS[width], lang)
    top_up = wallet.locator("#movement-rows tr[data-kind=top_up]")
    await expect(top_up).to_have_count(1)
    await expect(top_up).to_contain_text(says["top_up"])
    await expect(top_up).to_contain_text(says["receipt"])
    await expect(top_up.locator("td.amount")).to_have_text("+5.000000 CCC")
    tx = top_up.locator("details.audit code")
    await expect(tx).to_be_hidden()
    await top_up.locator("details.audit summary").click()
    await expect(tx).to_be_visible()
    await expect(tx).to_have_text(w["top_up_tx"])
    # A date filter with nothing in it, then back; the CSV link follows the filter.
    await wallet.fill("#movements-from", "2001-01-01")
    await wallet.fill("#movements-to", "2001-01-02")
    await wallet.click("#movements-filter button[type=submit]")
    await expect(wallet.locator("#movements-empty")).to_be_visible()
    assert (await wallet.get_attribute("#movements-csv", "href") or "").endswith(
        "from=2001-01-01&to=2001-01-02")
    await wallet.fill("#movements-from", "")
    await wallet.fill("#movements-to", "")
    await wallet.click("#movements-filter button[type=submit]")
    await expect(top_up).to_have_count(1)
    await wallet.locator("#movements-section").screenshot(
        path=str(SHOTS / f"wallet-movements-{width}-{tag}.png"))
    await fits(wallet, width)

    # Lin registers her e-mail for the till's search, in her wallet.
    lins = await signed_in_page(browser, url, w["lin"]["api_key"], "/wallet",
                                VIEWPORTS[width], lang)
    await lins.fill("#lookup-email", email.upper())
    await lins.click("#lookup-form button[type=submit]")
    await expect(lins.locator("#lookup-state")).to_have_text(says["email"])
    await expect(lins.locator("#lookup-remove-email")).to_be_visible()
    await fits(lins, width)

    # The prize console's bulk box: Mei by name (a customer), Lin by her exact e-mail
    # (never here), then awarded on chain.
    console = await signed_in_page(browser, url, w["shop"]["api_key"], "/prizes",
                                   VIEWPORTS[width], lang)
    await expect(console.locator("#aw-campaign option")).not_to_have_count(0)
    await console.select_option("#aw-campaign", str(w["campaign"]["id"]))
    await expect(console.locator("#aw-prize option")).not_to_have_count(0)
    box = console.locator("#aw-consumers")
    await box.fill("Lin")
    await expect(console.locator("#aw-picked")).not_to_have_text("")  # not her shop: no match
    await expect(console.locator("#aw-matches button")).to_have_count(0)
    await box.fill("mei")
    await console.locator("#aw-matches button", has_text="Mei Chen").click()
    await box.fill(email)
    await console.locator("#aw-matches button", has_text="Lin Wu").click()
    winners = console.locator("#aw-winners li")
    await expect(winners).to_have_count(2)
    await expect(console.locator("#aw-picked")).to_have_text(says["picked"])
    await expect(box).to_have_value("")
    await console.screenshot(path=str(SHOTS / f"prizes-bulk-picker-{width}-{tag}.png"),
                             full_page=True)
    await fits(console, width)
    await console.click("#award-form button[type=submit]")
    await expect(console.locator("#award-result")).to_contain_text(says["awarded"],
                                                                   timeout=30_000)
    await expect(winners).to_have_count(0)
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        awards = ok(await client.get(f"/v1/prize-campaigns/{w['campaign']['id']}/awards",
                                     headers=auth(w["shop"])))["awards"]
    assert sorted(a["consumer"] for a in awards) == sorted(
        [w["mei"]["address"], w["lin"]["address"]])
