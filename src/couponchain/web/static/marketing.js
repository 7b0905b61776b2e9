// The merchant's report inbox: the reports of the signed-in merchant and a
// chart of one scalar indicator across them (oldest to newest).
// $(), api(), whoAmI() and drawLine() come from app.js (loaded first; both deferred).
"use strict";

function scalar(value) {
  if (typeof value === "number") return value;
  if (value && typeof value === "object" && "numerator" in value) {
    return value.denominator ? value.numerator / value.denominator : null;
  }
  return null;
}

function shown(value) {
  if (value && typeof value === "object" && "numerator" in value) {
    return value.denominator ? value.numerator + "/" + value.denominator : "n/a";
  }
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function renderTable(reports) {
  const table = $("inbox-table");
  while (table.rows.length > 1) table.deleteRow(1);
  for (const r of reports) {
    const row = table.insertRow();
    const cells = [r.id, r.trigger, r.period_start + " – " + r.period_end,
      Object.entries(r.indicators).map(([k, v]) => k + ": " + shown(v)).join(" · "),
      r.status + (r.chain_report_id ? " (#" + r.chain_report_id + ")" : ""),
      r.delivery ? r.delivery.status + " after " + r.delivery.attempts + " attempt(s)" : "inbox only"];
    for (const value of cells) row.insertCell().textContent = value;
  }
  $("inbox-empty").hidden = reports.length > 0;
}

function renderChart(reports) {
  const select = $("inbox-indicator");
  const names = new Set();
  for (const r of reports) {
    for (const [k, v] of Object.entries(r.indicators)) if (scalar(v) !== null) names.add(k);
  }
  const chosen = select.value;
  select.replaceChildren(...[...names].sort().map((n) => new Option(n, n)));
  if (names.has(chosen)) select.value = chosen;
  const name = select.value;
  const values = reports.slice().reverse().map((r) => scalar(r.indicators[name]))
    .filter((v) => v !== null);
  drawLine($("inbox-chart"), values);
}

async function refreshInbox(me) {
  const page = await api("/v1/merchants/" + me.id + "/reports?limit=200");
  renderTable(page.reports);
  renderChart(page.reports);
  $("inbox-indicator").onchange = () => renderChart(page.reports);
}

document.addEventListener("DOMContentLoaded", async () => {
  const me = await whoAmI();
  if (!me || me.role !== "merchant") {
    $("inbox-signin").hidden = false;
    return;
  }
  $("inbox").hidden = false;
  await refreshInbox(me);
  setInterval(() => refreshInbox(me).catch(() => {}), 5000);
});
