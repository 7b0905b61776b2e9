// Adjusting a running prize campaign from its dashboard (/prizes/{id}): move the
// window's end, set a prize's stock, change the eligible terminals. Each form
// posts to /v1/prize-campaigns/{id}/window|stock|terminals with a reason (kept
// off chain; the contract's event records its hash) and shows the answer or the
// problem naming its field and rule. Only the campaign's merchant sees the forms.
"use strict";

(() => {
const { show, problemText, newKey } = window.CouponChainPromotions;

function list(text) {
  return text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

async function send(campaignId, what, body, done) {
  const box = $("adjust-result");
  show(box, t("Recording the change on chain…"));
  try {
    const answer = await api(`/v1/prize-campaigns/${campaignId}/${what}`, {
      method: "POST", body: JSON.stringify(body), headers: { "Idempotency-Key": newKey() } });
    show(box, done(answer) + " " + t("(block {block})", { block: answer.block_number }));
    await renderChanges(campaignId);
    return answer;
  } catch (error) {
    show(box, t("Not changed: {error}", { error: problemText(error) }), true);
    return null;
  }
}

async function renderChanges(campaignId) {
  const { changes } = await api(`/v1/prize-campaigns/${campaignId}/changes`);
  const body = $("changes-rows");
  body.replaceChildren();
  const kinds = { window: t("Window"), stock: t("Stock"), terminals: t("Terminals") };
  for (const c of changes) {
    const row = document.createElement("tr");
    for (const text of [c.requested_at.replace("T", " ").replace("Z", ""), kinds[c.kind],
                        c.reason]) {
      const td = document.createElement("td");
      td.textContent = text;
      row.appendChild(td);
    }
    body.appendChild(row);
  }
  $("changes-empty").hidden = changes.length > 0;
}

function wire(campaignId, campaign) {
  const select = $("adjust-prize");
  select.replaceChildren();
  for (const p of campaign.prizes) {
    const option = document.createElement("option");
    option.value = String(p.index);
    option.textContent = `${p.name} (${p.quantity})`;
    select.appendChild(option);
  }
  $("adjust-all").checked = campaign.all_terminals;
  $("window-form").onsubmit = async (event) => {
    event.preventDefault();
    const ends = new Date($("adjust-ends").value);
    if (Number.isNaN(ends.getTime())) {
      show($("adjust-result"), t("Choose the new end of the window."), true);
      return;
    }
    await send(campaignId, "window", { ends_at: ends.toISOString(),
                                       reason: $("window-reason").value },
               (a) => t("The window now ends at {when}.", { when: a.campaign.ends_at }));
  };
  $("stock-form").onsubmit = async (event) => {
    event.preventDefault();
    await send(campaignId, "stock", { prize_index: Number(select.value),
                                      quantity: Number($("adjust-quantity").value),
                                      reason: $("stock-reason").value },
               (a) => t("The stock is now {count}.",
                        { count: a.campaign.prizes[Number(select.value)].quantity }));
  };
  $("terminals-form").onsubmit = async (event) => {
    event.preventDefault();
    await send(campaignId, "terminals", { add: list($("adjust-add").value),
                                          remove: list($("adjust-remove").value),
                                          all_terminals: $("adjust-all").checked,
                                          reason: $("terminals-reason").value },
               (a) => t("{count} terminals are listed now.",
                        { count: a.campaign.terminals.length }));
  };
}

document.addEventListener("DOMContentLoaded", () => {
  const dash = $("dash");
  if (!dash || !$("adjust")) return;
  const campaignId = dash.dataset.campaign;
  const start = () => Promise.all([whoAmI(), api(`/v1/prize-campaigns/${campaignId}`)])
    .then(([me, campaign]) => {
      if (!me || me.role !== "merchant" || me.address !== campaign.merchant) return;
      $("adjust").hidden = false;
      wire(campaignId, campaign);
      return renderChanges(campaignId);
    })
    .catch((error) => show($("adjust-result"), problemText(error), true));
  if (!dash.hidden) { start(); return; }
  const watch = new MutationObserver(() => {
    if (!dash.hidden) { watch.disconnect(); start(); }
  });
  watch.observe(dash, { attributes: true, attributeFilter: ["hidden"] });
});
})();
