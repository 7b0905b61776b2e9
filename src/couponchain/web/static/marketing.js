// The merchant's report inbox: the reports of the signed-in merchant (searched,
// filtered, paged and exported by the shared list controls of lists.js), a bar
// chart of one scalar indicator across them (oldest to newest) and a report's
// detail with its chain evidence. marketing-editor.js adds the rules, webhook
// and marketing-info editors to the same page.
// $(), api() and whoAmI() come from app.js (loaded first; all deferred).
"use strict";

const CHART_BARS = 30; // the latest reports that fit the chart
// The words of the read models (report triggers and statuses, webhook deliveries), in
// the page's language; indicator names stay as the catalogue spells them.
const REPORT_WORDS = {
  periodic: t("periodic"), threshold: t("threshold"), pending: t("pending"),
  published: t("published"), delivered: t("delivered"), failed: t("failed"),
};

function reportWord(key) {
  return Object.prototype.hasOwnProperty.call(REPORT_WORDS, key) ? REPORT_WORDS[key] : key;
}

// "delivered after 2 attempt(s)", "… at <time>" when it was delivered.
function deliveryText(d) {
  const status = reportWord(d.status);
  return d.delivered_at
    ? t("{status} after {attempts} attempt(s) at {when}",
        { status, attempts: d.attempts, when: d.delivered_at })
    : t("{status} after {attempts} attempt(s)", { status, attempts: d.attempts });
}

function scalar(value) {
  if (typeof value === "number") return value;
  if (value && typeof value === "object" && "numerator" in value) {
    return value.denominator ? value.numerator / value.denominator : null;
  }
  return null;
}

// An indicator's value as people read it: a ratio as a percentage, a list of
// [name, count] pairs as "name count, …", never raw JSON.
function shown(value) {
  if (value === null || value === undefined) return t("n/a");
  if (typeof value === "number") return value.toLocaleString();
  if (typeof value === "object" && "numerator" in value) {
    if (!value.denominator) return t("n/a");
    const share = (100 * value.numerator) / value.denominator;
    return `${share.toLocaleString(undefined, { maximumFractionDigits: 1 })} % ` +
      `(${value.numerator}/${value.denominator})`;
  }
  if (Array.isArray(value)) {
    return value.map((item) => (Array.isArray(item) ? item.map(shown).join(" ") : shown(item)))
      .join(", ") || t("none");
  }
  if (typeof value === "object") {
    return Object.entries(value).map(([k, v]) => `${indicatorName(k)} ${shown(v)}`).join(", ");
  }
  return String(value);
}

// An indicator's key ("conversion_rate") as words ("conversion rate").
function indicatorName(key) {
  return String(key).replace(/_/g, " ");
}

// A row of the reports list (lists.js searches, filters, pages and exports it).
function reportRow(r) {
  const row = document.createElement("tr");
  row.dataset.id = r.id;
  row.dataset.status = r.status;
  const cells = [reportWord(r.trigger), localTime(r.period_start) + " – " + localTime(r.period_end),
    Object.entries(r.indicators).map(([k, v]) => indicatorName(k) + ": " + shown(v)).join(" · "),
    reportWord(r.status) + (r.chain_report_id ? " (#" + r.chain_report_id + ")" : ""),
    r.delivery ? t("{status} after {attempts} attempt(s)",
                   { status: reportWord(r.delivery.status), attempts: r.delivery.attempts })
               : t("inbox only")];
  const open = document.createElement("button");
  open.type = "button";
  open.className = "link";
  open.textContent = "#" + r.id;
  open.onclick = () => showReport(r.id);
  row.insertCell().appendChild(open);
  for (const value of cells) row.insertCell().textContent = value;
  return row;
}

function renderChart(reports) {
  const select = $("inbox-indicator");
  const names = new Set();
  for (const r of reports) {
    for (const [k, v] of Object.entries(r.indicators)) if (scalar(v) !== null) names.add(k);
  }
  const chosen = select.value;
  select.replaceChildren(...[...names].sort().map((n) => new Option(indicatorName(n), n)));
  if (names.has(chosen)) select.value = chosen;
  const name = select.value;
  const points = reports.slice(0, CHART_BARS).reverse()
    .map((r) => ({ id: r.id, value: scalar(r.indicators[name]) }))
    .filter((p) => p.value !== null && p.value !== undefined);
  // Bars rather than a line: one report is already worth a chart.
  CouponChainCharts.categories($("inbox-chart"), { labels: points.map((p) => "#" + p.id),
    series: [{ label: indicatorName(name), values: points.map((p) => p.value) }] });
  $("inbox-chart-note").textContent = points.length
    ? t("{indicator} in the last {count} report(s): {values}",
        { indicator: indicatorName(name), count: points.length, values: points.map((p) => p.value).join(", ") })
    : t("Nothing to chart yet.");
}

async function showReport(id) {
  const r = await api("/v1/reports/" + id);
  $("report-detail").hidden = false;
  $("report-id").textContent = r.id;
  const ok = $("report-reproduced");
  ok.textContent = r.reproduced ? t("✓ recomputed from the anchored logs: same hash")
                                : t("✗ the recomputed hash differs");
  ok.className = r.reproduced ? "verified" : "error";
  $("report-onchain").textContent = r.onchain_hash || t("not yet published");
  $("report-recomputed").textContent = r.recomputed_hash;
  $("report-chain").textContent = r.chain_report_id
    ? t("report #{id}, block {block}", { id: r.chain_report_id, block: r.block_number })
    : reportWord(r.status);
  if (r.chain_report_id) $("report-chain").append(" ", auditDetails(r.tx_hash, t("transaction")));
  const d = r.delivery;
  $("report-delivery").textContent = d ? deliveryText(d) : t("no webhook: inbox only");
  $("report-attempts").replaceChildren(...(d ? d.log : []).map((a) => {
    const li = document.createElement("li");
    li.textContent = `${localTime(a.at)} → ` +
      (a.status_code ? "HTTP " + a.status_code : t("no answer")) + (a.error ? ` (${a.error})` : "");
    return li;
  }));
  $("report-json").textContent = JSON.stringify(JSON.parse(r.json), null, 2);
  $("report-detail").scrollIntoView({ block: "nearest" });
}

const inbox = { list: null, seen: null };

// The chart from the newest reports; the list again when a report came or changed
// (unless the reader paged on in it).
async function refreshInbox(me) {
  const page = await api("/v1/merchants/" + me.id + "/reports?limit=200");
  renderChart(page.reports);
  $("inbox-indicator").onchange = () => renderChart(page.reports);
  $("inbox-empty").hidden = page.reports.length > 0;
  const seen = JSON.stringify(page.reports.map((r) => [r.id, r.status, r.delivery && r.delivery.status]));
  if (seen !== inbox.seen && !inbox.list.pagedOn()) {
    inbox.seen = seen;
    inbox.list.reload();
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  const me = await whoAmI();
  if (!me || me.role !== "merchant") {
    $("inbox-signin").hidden = false;
    if (me) {
      $("inbox-signin").textContent = t("This page is for {who}; you are signed in as a {role}.",
                                        { who: t("merchants"), role: roleName(me.role) });
    }
    return;
  }
  $("inbox").hidden = false;
  $("inbox-storefront").href = "/merchants/" + me.id + "/storefront";
  inbox.list = makeList({ id: "reports", url: () => `/v1/merchants/${me.id}/reports`,
                          rows: "reports", render: reportRow });
  await refreshInbox(me);
  setInterval(() => refreshInbox(me).catch(() => {}), 5000);
});
