// Till limits on the platform's console (/promotions, issue 24): pick a merchant,
// see its till limit, what its tills topped up and what is left, and set a new
// limit in CCC. Helpers come from promotions.js and money.js.
"use strict";

(() => {
const { ccc, toUnits, json, problemText, show, newKey } = window.CouponChainPromotions;

async function showLimit() {
  const id = $("till-limit-merchant").value;
  if (!id) return;
  try {
    const l = await api(`/v1/merchants/${encodeURIComponent(id)}/till-limit`);
    $("till-limit-now").textContent = t("Limit {limit}; topped up {credited}; left {left}.",
      { limit: ccc(l.limit), credited: ccc(l.credited), left: ccc(l.remaining) });
  } catch (error) {
    $("till-limit-now").textContent = problemText(error);
  }
}

async function startTillLimits() {
  const me = await whoAmI();
  if (!me || me.role !== "platform") return;
  const select = $("till-limit-merchant");
  const page = await api("/v1/merchants?limit=500");
  for (const m of page.items) select.add(new Option(m.name, m.id));
  select.onchange = showLimit;
  showLimit();
  $("till-limit-form").onsubmit = async (event) => {
    event.preventDefault();
    const box = $("till-limit-result");
    try {
      const body = { limit: toUnits($("till-limit-value").value, "limit", t("New till limit")) };
      show(box, t("Setting the till limit on chain…"));
      const l = await api(`/v1/merchants/${encodeURIComponent(select.value)}/till-limit`, {
        method: "PUT", headers: { "Idempotency-Key": newKey() }, body: json(body) });
      show(box, t("Till limit of {merchant} set to {limit}; {left} left.",
                  { merchant: l.merchant_name, limit: ccc(l.limit), left: ccc(l.remaining) }));
      $("till-limit-value").value = "";
      showLimit();
    } catch (error) {
      show(box, t("Till limit not set: {error}", { error: problemText(error) }), true);
    }
  };
}

document.addEventListener("DOMContentLoaded", () => {
  if ($("till-limits-section")) startTillLimits();
});
})();
