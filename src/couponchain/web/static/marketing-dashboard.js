// The merchant's marketing dashboard: visits over time stacked by access
// method, totals per method and the funnel visit → claim → redeem → purchase,
// all from GET /v1/merchants/{id}/activity (DuckDB over the anchored logs).
// Each chart (charts.js) carries data-points (what it drew) and a note with the
// numbers, for readers of the page and for the tests.
// $(), api() and whoAmI() come from app.js (loaded first; all deferred).
"use strict";

const COLOURS = { browser: "#0b6bcb", desktop: "#7a4cc2", app: "#1f9d63" };
const DAY = 86400 * 1000;
// The read model's words (access methods, funnel steps, bucket sizes), in the page's
// language; the English notes keep the API's words.
const DASH_WORDS = {
  browser: t("browser"), desktop: t("desktop"), app: t("app"), visit: t("visit"),
  claim: t("claim"), redeem: t("redeem"), purchase: t("purchase"), hour: t("hour"), day: t("day"),
};

function dashWord(key) {
  return Object.prototype.hasOwnProperty.call(DASH_WORDS, key) ? DASH_WORDS[key] : key;
}

// Visits per bucket on a time axis, stacked by access method (charts.js).
function drawVisits(canvas, visits, methods) {
  CouponChainCharts.time(canvas, {
    stacked: true, integer: true, x: visits.map((v) => Date.parse(v.at) / 1000),
    series: methods.map((m) => ({ label: dashWord(m), colour: COLOURS[m],
                                  values: visits.map((v) => v[m]) })) });
}

// One bar per row, each with its count and share as the hover text.
function drawHorizontal(canvas, rows, label) {
  CouponChainCharts.categories(canvas, {
    integer: true, labels: rows.map((r) => r.name),
    series: [{ label, values: rows.map((r) => r.value), colour: rows[0] && rows[0].colour,
               text: rows.map((r) => r.text) }] });
}

function percent(part, whole) {
  return whole ? (Math.round((part / whole) * 1000) / 10) + " %" : t("n/a");
}

function render(a) {
  const methods = Object.keys(a.by_method);
  $("dash-range").textContent =
    t("{start} – {end}: {records} records, per {bucket}",
      { start: a.start, end: a.end, records: a.records.toLocaleString(), bucket: dashWord(a.bucket) });
  $("dash-legend").replaceChildren(...methods.map((m) => {
    const span = document.createElement("span");
    span.textContent = "■ " + dashWord(m) + " ";
    span.style.color = COLOURS[m];
    return span;
  }));
  drawVisits($("dash-visits"), a.visits, methods);
  const busiest = a.visits.reduce((best, v) => {
    const n = methods.reduce((s, m) => s + v[m], 0);
    return n > best.n ? { at: v.at, n } : best;
  }, { at: null, n: 0 });
  $("dash-visits-note").textContent = a.records
    ? t("{count} bucket(s) of one {bucket}; busiest {at} with {records} records.",
        { count: a.visits.length, bucket: dashWord(a.bucket), at: busiest.at,
          records: busiest.n.toLocaleString() })
    : t("No access logs in this window yet.");
  drawHorizontal($("dash-methods"), methods.map((m) => ({
    name: dashWord(m), value: a.by_method[m], colour: COLOURS[m],
    text: `${a.by_method[m].toLocaleString()} (${percent(a.by_method[m], a.records)})` })),
    t("records"));
  $("dash-methods-note").textContent = methods.map((m) => `${dashWord(m)}: ${a.by_method[m]}`)
    .join(", ");
  const visitors = a.funnel[0].visitors;
  drawHorizontal($("dash-funnel"), a.funnel.map((s) => ({
    name: dashWord(s.step), value: s.visitors, colour: "#0b6bcb",
    text: `${s.visitors.toLocaleString()} (${percent(s.visitors, visitors)})` })),
    t("visitors"));
  $("dash-funnel-note").textContent = a.funnel.map((s) => `${dashWord(s.step)}: ${s.visitors}`)
    .join(" → ");
  // Counted from indexed contract events, not from what terminals logged.
  const chain = a.chain_events;
  $("dash-chain-prizes").textContent = chain.prize_claims.toLocaleString();
  $("dash-chain-redemptions").textContent = chain.edition_redemptions.toLocaleString();
  $("dash-chain-write-offs").textContent = chain.promotion_write_offs.toLocaleString();
}

async function load(me, latestEnd) {
  const days = $("dash-window").value;
  let query = "";
  if (days && latestEnd) {
    const end = new Date(latestEnd);
    const start = new Date(end.getTime() - Number(days) * DAY);
    query = `?start=${start.toISOString()}&end=${end.toISOString()}`;
  }
  const a = await api(`/v1/merchants/${me.id}/activity${query}`);
  render(a);
  return a;
}

document.addEventListener("DOMContentLoaded", async () => {
  const me = await whoAmI();
  if (!me || me.role !== "merchant") {
    $("dash-signin").hidden = false;
    if (me) {
      $("dash-signin").textContent = t("This page is for {who}; you are signed in as a {role}.",
                                       { who: t("merchants"), role: roleName(me.role) });
    }
    return;
  }
  $("dash").hidden = false;
  $("dash-storefront").href = "/merchants/" + me.id + "/storefront";
  const first = await load(me, null);
  $("dash-window").onchange = () => load(me, first.end).catch((e) => {
    $("dash-range").textContent = t("Could not load: {error}", { error: e.message });
  });
});
