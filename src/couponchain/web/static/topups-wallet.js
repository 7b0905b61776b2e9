// The consumer's top-ups in the wallet (/wallet, issue 24): the customer number a
// cashier scans (as a QR code) or types at the till, and every credit a shop's till made, newest first,
// with the shop's name. Helpers come from promotions.js and money.js.
"use strict";

(() => {
const { REFRESH_MS, ccc, problemText, cell } = window.CouponChainPromotions;

function render(rows) {
  const body = $("wallet-topup-rows");
  body.replaceChildren();
  $("wallet-topups-empty").hidden = rows.length > 0;
  for (const r of rows) {
    const row = document.createElement("tr");
    cell(row, localTime(r.at), "when");
    cell(row, r.operator_name && r.operator_name !== r.merchant_name
      ? t("{shop} ({till})", { shop: r.merchant_name, till: r.operator_name })
      : (r.merchant_name || t("a shop")));
    cell(row, "+" + ccc(r.amount), "amount");
    cell(row, r.reference || "");
    body.appendChild(row);
  }
}

async function startTopUps() {
  const me = await whoAmI();
  if (!me || me.role !== "consumer") { $("topups-section").hidden = true; return; }
  // In groups of four, easier to read out at a counter; the till accepts it so.
  $("topup-number").textContent = me.id.replace(/(.{4})(?=.)/g, "$1 ");
  $("customer-qr").src = "/v1/customers/me/qr.png";
  const loop = async () => {
    try {
      render((await api("/v1/till-credits/me?limit=50")).top_ups);
    } catch (e) {
      $("wallet-topups-empty").hidden = false;
      $("wallet-topups-empty").textContent = problemText(e);
    }
    setTimeout(loop, REFRESH_MS + 2000);
  };
  loop();
}

document.addEventListener("DOMContentLoaded", () => {
  if ($("topups-section")) startTopUps();
});
})();
