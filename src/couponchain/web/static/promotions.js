// Promotion coupons: helpers shared by the promotion pages, and the platform's
// console (/promotions). Uses api(), $() and whoAmI() from app.js (loaded
// first; the scripts are deferred). Amounts travel in the credit token's
// smallest unit; BigInt keeps them exact.
"use strict";

(() => {
const REFRESH_MS = 3000;

function newKey() {
  return crypto.randomUUID ? crypto.randomUUID() : Date.now() + "-" + Math.random();
}

// Amounts in the token's display unit, both ways: the shared helpers of money.js
// (loaded by base.html), under the names these pages have always used.
const { fieldError } = window.CouponChainMoney;
const ccc = (units) => window.CouponChainMoney.formatAmount(units);
const toUnits = (text, field, label) => window.CouponChainMoney.parseAmount(text, field, label);

function wholeNumber(text, field) {
  if (!/^\s*\d+\s*$/.test(String(text))) throw fieldError(field, t("must be a whole number"));
  return BigInt(String(text).trim());
}

// JSON with BigInts written as plain integers (JSON.stringify refuses them).
function json(body) {
  return JSON.stringify(body, (_k, v) => (typeof v === "bigint" ? "bigint:" + v : v))
    .replace(/"bigint:(\d+)"/g, "$1");
}

// The API's problem details name the offending field (e.g. "shares").
function problemText(error) {
  const field = error.problem && error.problem.field;
  return field && !error.message.startsWith(field) ? `${field}: ${error.message}` : error.message;
}

function show(box, text, failed) {
  box.hidden = false;
  box.classList.toggle("error", Boolean(failed));
  box.textContent = text;
}

function cell(row, value, className) {
  const td = document.createElement("td");
  if (value instanceof Node) td.appendChild(value); else td.textContent = String(value);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function link(href, text) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}

function button(text, onclick, className) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.onclick = onclick;
  if (className) b.className = className;
  return b;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" }) : "";
}

async function allRounds() {
  const rounds = [];
  let cursor = null;
  do {
    const page = await api("/v1/promotion-rounds?limit=500" +
                           (cursor === null ? "" : "&cursor=" + cursor));
    rounds.push(...page.rounds);
    cursor = page.next_cursor;
  } while (cursor !== null && rounds.length < 5000);
  return rounds;
}

// Gate a page on the signed-in role; returns the participant or null.
async function signedIn(prefix, roles, what) {
  const me = await whoAmI();
  if (me && roles.includes(me.role)) {
    $(prefix).hidden = false;
    return me;
  }
  const note = $(prefix + "-signin");
  note.hidden = false;
  if (me) {
    note.textContent = t("This page is for {who}; you are signed in as a {role}.",
                         { who: what, role: roleName(me.role) });
  }
  return null;
}

// Words the read models keep in English (statuses, path steps, payout parts), in the
// page's language; the same list as templates/words.html.
const WORDS = {
  active: t("active"), redeemed: t("redeemed"), voided: t("voided"), sold: t("sold"),
  transferred: t("transferred"), issued: t("issued"), granted: t("granted"),
  written_off: t("written off"), reversed: t("reversed"), distributed: t("distributed"),
  open: t("open"), sold_out: t("sold out"), closed: t("closed"), platform: t("platform"),
  issuer: t("issuer"), redeemer: t("redeemer"), holder: t("holder"),
  earlier: t("earlier holders"), withdrawal: t("withdrawal"), promoter: t("promoter"),
  originator: t("originator"), dust: t("rounding dust"), awarded: t("awarded"),
  claimed: t("claimed"), revoked: t("revoked"),
};
function word(key) {
  return Object.prototype.hasOwnProperty.call(WORDS, key) ? WORDS[key] : key.replace(/_/g, " ");
}

// ---------------------------------------------------------------- console

const SHARES = ["platform", "issuer", "redeemer", "holder", "earlier"];
const cons = { merchants: [], rounds: [], selected: null, pending: null };

function addTurnoverRow(merchant, label) {
  if ([...document.querySelectorAll("#turnover-rows input")]
      .some((i) => i.dataset.merchant === merchant)) return;
  const row = document.createElement("tr");
  cell(row, label);
  const input = document.createElement("input");
  input.dataset.merchant = merchant;
  input.inputMode = "decimal";
  input.placeholder = "0.00";
  input.setAttribute("aria-label", t("declared turnover of {merchant}", { merchant: label }));
  cell(row, input);
  $("turnover-rows").appendChild(row);
}

async function loadMerchants() {
  const page = await api("/v1/merchants?limit=500");
  cons.merchants = page.items;
  for (const m of page.items) addTurnoverRow(m.id, `${m.name} (${m.id})`);
  $("allocate-merchant").innerHTML = "";
  for (const m of page.items) $("allocate-merchant").add(new Option(`${m.name} (${m.id})`, m.id));
}

function sharesSum() {
  const sum = SHARES.reduce((s, k) => s + Number($("s-" + k).value || 0), 0);
  $("shares-sum").textContent = t("{sum} of 10,000", { sum: sum.toLocaleString("en") });
  $("shares-sum").classList.toggle("error", sum !== 10000);
}

function readRound() {
  const turnover = [];
  for (const input of document.querySelectorAll("#turnover-rows input")) {
    if (!input.value.trim()) continue;
    turnover.push({ merchant: input.dataset.merchant,
                    amount: toUnits(input.value, "turnover of " + input.dataset.merchant) });
  }
  const shares = {};
  for (const k of SHARES) shares[k] = Number(wholeNumber($("s-" + k).value, "shares." + k));
  const period = {};
  if ($("ev-from").value.trim()) period.from_block = Number(wholeNumber($("ev-from").value, "from block"));
  if ($("ev-to").value.trim()) period.to_block = Number(wholeNumber($("ev-to").value, "to block"));
  return {
    evaluation: { period, turnover, consumers: wholeNumber($("ev-consumers").value, "consumers") },
    formula: {
      base_per_merchant: wholeNumber($("f-base").value, "base per merchant"),
      turnover_per_coupon: toUnits($("f-turnover").value, "turnover per coupon"),
      per_consumer: wholeNumber($("f-consumer").value, "per consumer"),
      max_total: wholeNumber($("f-max").value, "max total"),
    },
    incentive_bps: Number(wholeNumber($("r-incentive").value, "incentive")),
    shares,
    rollback_window_seconds: Number(wholeNumber($("r-window").value, "rollback window")),
    consent_lifetime_seconds: Number(wholeNumber($("r-consent").value, "consent lifetime")),
  };
}

function turnoverSum(pairs) {
  return pairs.reduce((sum, [, amount]) => sum + BigInt(amount), 0n);
}

function previewTerms(p, body) {
  const ev = p.inputs;
  const rows = [
    [t("Period (blocks)"), `${ev.period.from_block}–${ev.period.to_block}`],
    [t("Measured: merchants registered"), ev.measured.turnover.length],
    [t("Measured: consumers registered"), ev.measured.consumers],
    [t("Measured: turnover"), ccc(turnoverSum(ev.measured.turnover))],
    [t("Declared: turnover"), ccc(turnoverSum(ev.declared.turnover))],
    [t("Declared: consumers"), ev.declared.consumers],
    [t("Measured-inputs hash (goes on chain)"), ev.measured.hash],
    [t("Merchants settled in"), p.merchants],
    [t("Merchant part"), t("{part} ({each} each)",
                           { part: p.merchant_part, each: body.formula.base_per_merchant })],
    [t("Turnover part"), t("{part} (one per {amount})",
                           { part: p.turnover_part, amount: ccc(body.formula.turnover_per_coupon) })],
    [t("Consumer part"), t("{part} ({each} each)",
                           { part: p.consumer_part, each: body.formula.per_consumer })],
    [t("Capped at the maximum"), p.clipped ? t("yes") : t("no")],
    [t("Incentive"), t("{rate} % of each order", { rate: body.incentive_bps / 100 })],
    [t("Pool split"), SHARES.map((k) => `${word(k)} ${body.shares[k] / 100} %`).join(" · ")],
    [t("Rollback window"), `${body.rollback_window_seconds} s`],
    [t("Inputs hash (goes on chain)"), p.inputs_hash],
  ];
  const table = $("preview-terms");
  table.replaceChildren();
  for (const [k, v] of rows) {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.textContent = k;
    tr.appendChild(th);
    cell(tr, v);
    table.appendChild(tr);
  }
}

function forgetPreview() {
  cons.pending = null;
  $("preview").hidden = true;
}

function setUpRoundForm() {
  sharesSum();
  $("round-form").addEventListener("input", (e) => {
    if (e.target.id.startsWith("s-")) sharesSum();
    forgetPreview(); // a changed input needs a new preview before opening
  });
  $("turnover-add").onclick = () => {
    const who = $("turnover-extra").value.trim();
    if (who) addTurnoverRow(who, who);
    $("turnover-extra").value = "";
  };
  $("preview-cancel").onclick = forgetPreview;
  $("round-form").onsubmit = async (event) => {
    event.preventDefault();
    forgetPreview();
    const box = $("round-result");
    show(box, t("Evaluating…"));
    try {
      const body = readRound();
      const p = await api("/v1/promotion-rounds:evaluate", { method: "POST", body: json(body) });
      box.hidden = true;
      $("preview-total").textContent = Number(p.total).toLocaleString("en");
      previewTerms(p, body);
      cons.pending = { body, key: newKey(), total: p.total };
      $("preview").hidden = false;
      $("open-round").focus();
    } catch (error) {
      show(box, t("Cannot preview: {error}", { error: problemText(error) }), true);
    }
  };
  $("open-round").onclick = async () => {
    const pending = cons.pending;
    if (!pending) return;
    const box = $("round-result");
    show(box, t("Opening the round on chain…"));
    $("open-round").disabled = true;
    try {
      const r = await api("/v1/promotion-rounds", {
        method: "POST", body: json(pending.body), headers: { "Idempotency-Key": pending.key } });
      forgetPreview();
      show(box, t("Opened round #{id}: {total} coupons (ids {first}–{last}) in block {block}.",
        { id: r.id, total: r.total, first: r.first_coupon_id, last: r.last_coupon_id,
          block: r.block_number }));
      await refreshRounds();
      selectRound(r.id);
    } catch (error) {
      show(box, t("Not opened: {error}", { error: problemText(error) }), true);
    } finally {
      $("open-round").disabled = false;
    }
  };
}

function renderRounds() {
  const body = $("rounds-rows");
  body.replaceChildren();
  $("rounds-empty").hidden = cons.rounds.length > 0;
  for (const r of [...cons.rounds].reverse()) {
    const row = document.createElement("tr");
    row.dataset.id = r.id;
    row.classList.toggle("current", r.id === cons.selected);
    cell(row, button("#" + r.id, () => selectRound(r.id), "link"));
    cell(row, `${r.first_coupon_id}–${r.last_coupon_id}`);
    for (const k of ["total", "allocated", "granted", "written_off", "distributed"]) {
      cell(row, r[k], "count-" + k);
    }
    cell(row, `${r.incentive_bps / 100} %`);
    cell(row, `${r.rollback_window_seconds} s`);
    body.appendChild(row);
  }
}

async function refreshRounds() {
  cons.rounds = await allRounds();
  renderRounds();
  if (cons.selected !== null) await showAllocations();
}

async function showAllocations() {
  const id = cons.selected;
  const r = await api("/v1/promotion-rounds/" + id);
  if (id !== cons.selected) return;
  const body = $("allocations-rows");
  body.replaceChildren();
  for (const a of r.allocations) {
    const row = document.createElement("tr");
    cell(row, a.merchant_name ? `${a.merchant_name} (${a.merchant_id})` : a.merchant);
    cell(row, a.allocated, "count-allocated");
    cell(row, a.granted, "count-granted");
    cell(row, a.remaining, "count-remaining");
    body.appendChild(row);
  }
  $("allocations-note").textContent =
    t("{left} of {total} coupons not allocated yet.", { left: r.total - r.allocated, total: r.total })
    + " " + (r.period
      ? t("Evaluated over blocks {from}–{to}; measured-inputs hash {hash} (check it: couponchain check-round {id}).",
          { from: r.period.from_block, to: r.period.to_block, hash: r.measured_hash, id: r.id })
      : t("All inputs of this round were declared; none was measured from the ledger."));
}

function selectRound(id) {
  cons.selected = id;
  $("round-selected").hidden = false;
  $("round-selected-id").textContent = "#" + id;
  renderRounds();
  showAllocations().catch((e) => { $("allocations-note").textContent = problemText(e); });
}

function setUpAllocate() {
  $("allocate-form").onsubmit = async (event) => {
    event.preventDefault();
    const box = $("allocate-result");
    show(box, t("Allocating on chain…"));
    try {
      const count = wholeNumber($("allocate-count").value, "count");
      const merchant = $("allocate-merchant").value;
      await api(`/v1/promotion-rounds/${cons.selected}/allocations`, {
        method: "POST", headers: { "Idempotency-Key": newKey() },
        body: json({ allocations: [{ merchant, count }] }) });
      show(box, t("Allocated {count} coupons of round #{round} to {merchant}.",
                  { count, round: cons.selected, merchant }));
      await refreshRounds();
    } catch (error) {
      show(box, t("Not allocated: {error}", { error: problemText(error) }), true);
    }
  };
}

async function startConsole() {
  const me = await signedIn("promo-console", ["platform"], t("the platform"));
  if (!me) return;
  setUpRoundForm();
  setUpAllocate();
  loadMerchants().catch((e) => show($("round-result"), t("Merchants: {error}", { error: problemText(e) }), true));
  const loop = async () => {
    try { await refreshRounds(); } catch (e) { $("rounds-empty").textContent = problemText(e); }
    setTimeout(loop, REFRESH_MS);
  };
  loop();
}

// Shared with promotions-till.js and promotions-wallet.js (loaded after this file).
window.CouponChainPromotions = { REFRESH_MS, ccc, toUnits, wholeNumber, fieldError, json,
                                 problemText, show, cell, link, button, when, newKey,
                                 allRounds, signedIn, word };
document.addEventListener("DOMContentLoaded", () => {
  if ($("promo-console")) startConsole();
});
})();
