// Top-up at the till (/promotions/merchant, issue 24): the cashier takes the
// customer's cash or card payment and records the credit on chain, out of the
// till limit the platform set for the shop. The amount is typed in CCC and sent
// in the smallest unit; what is left of the limit and the latest top-ups are
// shown beside the form. Helpers come from promotions.js and money.js.
"use strict";

(() => {
const { REFRESH_MS, ccc, toUnits, json, problemText, show, cell, newKey } =
  window.CouponChainPromotions;
const topup = { merchant: null, key: null, sent: null };

function renderTopUps(rows) {
  const body = $("topups-rows");
  body.replaceChildren();
  $("topups-empty").hidden = rows.length > 0;
  for (const r of rows) {
    const row = document.createElement("tr");
    cell(row, localTime(r.at), "when");
    cell(row, r.consumer_name || t("a customer"));
    cell(row, ccc(r.amount), "amount");
    cell(row, r.reference || "");
    body.appendChild(row);
  }
}

async function refreshTopUps() {
  const m = await api(`/v1/merchants/${encodeURIComponent(topup.merchant)}/till-credits?limit=20`);
  $("topup-remaining").textContent = ccc(m.remaining);
  $("topup-limit").textContent = m.limit
    ? t("(limit {limit}, {credited} topped up so far)",
        { limit: ccc(m.limit), credited: ccc(m.credited) })
    : t("(the platform has set no till limit for this shop yet)");
  $("topup-submit").disabled = BigInt(m.remaining) === 0n;
  renderTopUps(m.top_ups);
}

function setUpForm() {
  $("topup-form").onsubmit = async (event) => {
    event.preventDefault();
    const box = $("topup-result");
    try {
      const body = { consumer: window.CouponChainPicker.value($("topup-customer")),
                     amount: toUnits($("topup-amount").value, "amount", t("Amount paid")) };
      const reference = $("topup-reference").value.trim();
      if (reference) body.reference = reference;
      // One key per top-up: a retry after a lost answer credits once, a new one anew.
      const text = json(body);
      if (topup.sent !== text) { topup.key = newKey(); topup.sent = text; }
      show(box, t("Topping up on chain…"));
      const r = await api("/v1/till-credits", {
        method: "POST", headers: { "Idempotency-Key": topup.key }, body: text });
      topup.sent = null;
      show(box, t("Topped up {amount} for {customer}. Left of the till limit: {left}.",
                  { amount: ccc(r.amount), customer: r.consumer_name || body.consumer,
                    left: ccc(r.remaining) }));
      window.CouponChainPicker.clear($("topup-customer"));
      $("topup-amount").value = "";
      $("topup-reference").value = "";
      await refreshTopUps();
    } catch (error) {
      if (error.problem && error.problem.status) topup.sent = null;  // answered: a fresh key next
      show(box, t("Not topped up: {error}", { error: problemText(error) }), true);
    }
  };
}

async function startTopUps() {
  const me = await whoAmI();
  if (!me || !["merchant", "terminal"].includes(me.role)) return;
  topup.merchant = me.role === "merchant" ? me.id : me.merchant_id;
  setUpForm();
  const loop = async () => {
    try { await refreshTopUps(); } catch (e) { $("topups-empty").textContent = problemText(e); }
    setTimeout(loop, REFRESH_MS + 2000);
  };
  loop();
}

document.addEventListener("DOMContentLoaded", () => {
  if ($("topup-section")) startTopUps();
});
})();
