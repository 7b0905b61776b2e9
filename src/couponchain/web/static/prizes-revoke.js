// The awards of a prize campaign on its dashboard (/prizes/{id}), searched,
// filtered, paged and exported by the shared list controls (lists.js), with a
// "Revoke" control beside each unclaimed one: it opens a reason field and asks
// for a confirmation before POST /v1/prize-awards/{id}/revoke. The reason is
// kept off chain (the contract's event has none) and shown with the award.
"use strict";

(() => {
const { show, problemText, cell, button, when, newKey } = window.CouponChainPromotions;
const STATUS = { awarded: t("awarded"), claimed: t("claimed"), revoked: t("revoked") };
const view = { canRevoke: false, list: null };  // the platform watches but does not revoke

function statusText(a) {
  if (a.status === "revoked" && a.revoked_reason) {
    return t("revoked: {reason}", { reason: a.revoked_reason });
  }
  if (a.status === "claimed" && a.claimed_at) {
    return t("claimed {when}", { when: when(a.claimed_at) });
  }
  return STATUS[a.status] || a.status;
}

// The second step: a reason, then "Confirm revocation" or "Cancel".
function openRevoke(a, action, campaignId) {
  const form = document.createElement("form");
  form.className = "revoke-form";
  const reason = document.createElement("input");
  reason.className = "revoke-reason";
  reason.required = true;
  reason.maxLength = 500;
  reason.placeholder = t("Reason (shown to the winner)");
  reason.setAttribute("aria-label", t("Reason for revoking award #{id}", { id: a.id }));
  const confirm = document.createElement("button");
  confirm.type = "submit";
  confirm.className = "confirm-revoke";
  confirm.textContent = t("Confirm revocation");
  const cancel = button(t("Cancel"), () => renderAction(a, action, campaignId), "secondary");
  form.append(reason, " ", confirm, " ", cancel);
  form.onsubmit = async (event) => {
    event.preventDefault();
    const box = $("awards-result");
    if (!reason.value.trim()) { show(box, t("Give a reason for the revocation."), true); return; }
    confirm.disabled = true;
    show(box, t("Revoking award #{id} on chain…", { id: a.id }));
    try {
      const done = await api(`/v1/prize-awards/${a.id}/revoke`, {
        method: "POST", body: JSON.stringify({ reason: reason.value.trim() }),
        headers: { "Idempotency-Key": newKey() } });
      show(box, t("Revoked award #{id} (block {block}); its prize went back to the stock.",
                  { id: a.id, block: done.block_number }));
      view.list.reload();
    } catch (error) {
      confirm.disabled = false;
      show(box, t("Not revoked: {error}", { error: problemText(error) }), true);
    }
  };
  action.replaceChildren(form);
  reason.focus();
}

function renderAction(a, action, campaignId) {
  action.replaceChildren();
  if (a.status === "awarded" && view.canRevoke) {
    action.append(button(t("Revoke"), () => openRevoke(a, action, campaignId), "revoke"));
  }
}

function awardRow(a, campaignId) {
  const row = document.createElement("tr");
  row.dataset.id = a.id;
  row.dataset.status = a.status;
  cell(row, `#${a.id}`);
  cell(row, a.prize_name || String(a.prize_index));
  // The winner's name, and the address for an auditor behind a toggle.
  const winner = cell(row, a.consumer_name || "", "address customer");
  winner.append(" ", auditDetails(a.consumer, t("winner")));
  cell(row, statusText(a), "award-status");
  renderAction(a, cell(row, ""), campaignId);
  return row;
}

document.addEventListener("DOMContentLoaded", () => {
  const dash = $("dash");
  if (!dash || !$("awards-rows")) return;
  // The dashboard reveals itself once the caller may watch it: list then.
  const start = () => whoAmI()
    .then((me) => { view.canRevoke = Boolean(me && me.role === "merchant"); })
    .then(() => {
      const id = dash.dataset.campaign;
      view.list = makeList({ id: "awards", url: () => `/v1/prize-campaigns/${id}/awards`,
                             rows: "awards", render: (a) => awardRow(a, id) });
      view.list.reload();
    })
    .catch((error) => show($("awards-result"), problemText(error), true));
  if (!dash.hidden) { start(); return; }
  const watch = new MutationObserver(() => {
    if (!dash.hidden) { watch.disconnect(); start(); }
  });
  watch.observe(dash, { attributes: true, attributeFilter: ["hidden"] });
});
})();
