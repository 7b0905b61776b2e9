// Limited-edition coupons at the till (/promotions/merchant, issue 24). The till's one
// scanner (promotions-till.js) hands a holder's redemption code (CCE1.…) here: the
// till asks what it redeems (POST /v1/edition-codes/check: the holder signed it, it
// has not expired, the coupon is this merchant's), shows brand, title, serial and
// holder, and redeems only when the cashier presses Redeem.
"use strict";

window.CouponChainEditionTill = (() => {
const PREFIX = "CCE1.";
let pending = null;  // { code, key }: the code shown, and its redemption's Idempotency-Key

function promotions() { return window.CouponChainPromotions; }

function clear() {
  pending = null;
  $("edition-redeem").hidden = true;
  $("er-result").hidden = true;
}

function fill(shown) {
  const { ccc, when, word } = promotions();
  const c = shown.coupon;
  $("er-title").textContent = c.edition.title;
  $("er-brand").textContent = c.edition.brand;
  $("er-serial").textContent = c.serial;
  $("er-holder").textContent = shown.holder_name || t("a customer");
  $("er-status").textContent = word(c.status);
  $("er-paid").textContent = ccc(c.price_paid);
  $("er-valid").textContent = t("{from} – {until}", { from: when(c.edition.valid_from),
                                                      until: when(c.edition.valid_until) });
  $("er-redeem").hidden = c.status !== "active";
}

// Take a scanned, photographed or typed text: true when it is an edition code (then
// shown here, whatever the check answers), false for anything else.
async function take(code, source) {
  const text = String(code).trim();
  if (!text.startsWith(PREFIX)) return false;
  const { problemText, show } = promotions();
  $("wo-code").value = "";
  $("scan-status").textContent = t("Read a limited-edition coupon code from {source}.",
                                   { source: source || t("the keyboard") });
  $("scan-status").classList.remove("error");
  pending = { code: text, key: promotions().newKey() };
  $("edition-redeem").hidden = false;
  $("er-facts").hidden = true;
  show($("er-result"), t("Checking the code…"));
  try {
    const shown = await api("/v1/edition-codes/check", {
      method: "POST", body: promotions().json({ code: text }) });
    fill(shown);
    $("er-facts").hidden = false;
    $("er-result").hidden = true;
    $("er-redeem").focus();
  } catch (error) {
    show($("er-result"), t("Not redeemable: {error}", { error: problemText(error) }), true);
  }
  return true;
}

async function redeem() {
  if (!pending) return;
  const { problemText, show, link } = promotions();
  $("er-redeem").disabled = true;
  show($("er-result"), t("Redeeming on chain…"));
  try {
    const r = await api("/v1/edition-codes/redeem", {
      method: "POST", headers: { "Idempotency-Key": pending.key },
      body: promotions().json({ code: pending.code }) });
    fill({ coupon: r.coupon, holder_name: $("er-holder").textContent });
    show($("er-result"), "");
    $("er-result").append(t("Redeemed {serial}. ", { serial: r.coupon.serial }),
                          link("/coupons/" + encodeURIComponent(r.coupon.serial),
                               t("coupon page")));
    pending = null;
  } catch (error) {
    show($("er-result"), t("Not redeemed: {error}", { error: problemText(error) }), true);
  }
  $("er-redeem").disabled = false;
}

document.addEventListener("DOMContentLoaded", () => {
  if (!$("edition-redeem")) return;
  $("er-redeem").onclick = redeem;
  $("er-cancel").onclick = clear;
});

return { take, PREFIX };
})();
