// Standing on the role home (issue 23): a merchant suspends, reinstates and
// unbinds its terminals; the platform suspends and reinstates merchants and
// pauses capabilities. Each button is one registry transaction with the reason
// typed above its table. Uses $, t, api and whoAmI from app.js.
"use strict";

const STANDING_NAMES = { active: t("active"), suspended: t("suspended"), unbound: t("unbound") };
const CAPABILITY_NAMES = { editions: t("limited editions"), promotions: t("promotion coupons"),
                           referrals: t("batch sales"), prizes: t("prizes"),
                           marketing: t("marketing") };

function standingLabel(row) {
  if (row.standing === "active" && row.merchant_standing === "suspended") {
    return t("inactive: its merchant is suspended");
  }
  return STANDING_NAMES[row.standing] || row.standing;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  return td;
}

function button(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.onclick = onClick;
  return b;
}

// Sends one change; shows the outcome (or the problem's detail) under the table.
async function change(section, path, needsReason, done) {
  const result = $(section + "-result");
  const reason = $(section + "-reason").value.trim();
  result.hidden = false;
  if (needsReason && !reason) {
    result.textContent = t("Give a reason first: it is published on chain with the change.");
    return;
  }
  result.textContent = t("Recording on chain…");
  try {
    const body = await api(path, { method: "POST", body: JSON.stringify({ reason }),
                                   headers: { "Idempotency-Key": crypto.randomUUID() } });
    result.textContent = t("Done in block {block}.", { block: body.block_number });
    await done();
  } catch (error) {
    result.textContent = t("Refused: {error}", { error: error.message });
  }
}

function participantRow(section, row, actions) {
  const tr = document.createElement("tr");
  tr.dataset.id = row.id;
  const address = document.createElement("td");
  address.append(auditDetails(row.address));
  tr.append(cell(row.name), address, cell(standingLabel(row)), cell(row.standing_reason));
  const td = document.createElement("td");
  td.append(...actions);
  tr.append(td);
  return tr;
}

async function showTerminals(me) {
  const page = await api("/v1/merchants/" + me.id + "/terminals?limit=500");
  const body = document.querySelector("#terminals-table tbody");
  const refresh = () => showTerminals(me);
  body.replaceChildren(...page.items.map((row) => {
    const actions = [];
    const base = "/v1/participants/" + row.id;
    if (row.standing === "active") {
      actions.push(button(t("Suspend"), () => change("terminals", base + "/suspend", true, refresh)));
    }
    if (row.standing === "suspended") {
      actions.push(button(t("Reinstate"),
                          () => change("terminals", base + "/reinstate", false, refresh)));
    }
    if (row.standing !== "unbound") {
      actions.push(button(t("Unbind for good"),
                          () => change("terminals", "/v1/terminals/" + row.id + "/unbind", true,
                                       refresh)));
    }
    return participantRow("terminals", row, actions);
  }));
  $("terminals-section").hidden = false;
}

async function showMerchants() {
  const page = await api("/v1/merchants?limit=500");
  const body = document.querySelector("#merchants-table tbody");
  body.replaceChildren(...page.items.map((row) => {
    const base = "/v1/participants/" + row.id;
    const action = row.standing === "active"
      ? button(t("Suspend"), () => change("merchants", base + "/suspend", true, showMerchants))
      : button(t("Reinstate"), () => change("merchants", base + "/reinstate", false,
                                             showMerchants));
    return participantRow("merchants", row, [action]);
  }));
  $("merchants-section").hidden = false;
}

async function showCapabilities() {
  const listed = await api("/v1/capabilities");
  const body = document.querySelector("#capabilities-table tbody");
  body.replaceChildren(...listed.capabilities.map((row) => {
    const tr = document.createElement("tr");
    tr.dataset.capability = row.capability;
    const base = "/v1/capabilities/" + row.capability;
    const action = row.paused
      ? button(t("Unpause"), () => change("capabilities", base + "/unpause", false,
                                           showCapabilities))
      : button(t("Pause"), () => change("capabilities", base + "/pause", true, showCapabilities));
    const td = document.createElement("td");
    td.append(action);
    tr.append(cell(CAPABILITY_NAMES[row.capability] || row.capability),
              cell(row.paused ? t("paused") : t("running")), cell(row.reason), td);
    return tr;
  }));
  $("capabilities-section").hidden = false;
}

document.addEventListener("DOMContentLoaded", async () => {
  if (!$("terminals-section")) return;
  const me = await whoAmI();
  if (!me) return;
  try {
    if (me.role === "merchant") await showTerminals(me);
    if (me.role === "platform") await Promise.all([showMerchants(), showCapabilities()]);
  } catch { /* the sections stay hidden when the API cannot answer */ }
});
