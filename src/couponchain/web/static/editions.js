// Merchant console: the merchant's editions with live counts, a sale form,
// CSV import of offline sales, a chart of sales over time, and pause, resume,
// extend and duplicate with a reason (issue 25), and voiding a sold coupon from
// its sales list, after a confirmation. Uses api() and
// $() from app.js and CouponChainCharts from charts.js (loaded first; all deferred).
"use strict";

const REFRESH_MS = 3000;
const CHART_MINUTES = 240;
const consoleState = { me: null, editions: [], selected: null };

function newKey() {
  return crypto.randomUUID ? crypto.randomUUID() : Date.now() + "-" + Math.random();
}

function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

// The API's problem details name the offending field (e.g. "row 3.buyer").
function problemText(error) {
  const field = error.problem && error.problem.field;
  return field && !error.message.startsWith(field) ? `${field}: ${error.message}` : error.message;
}

function show(box, text, failed) {
  box.hidden = false;
  box.classList.toggle("error", Boolean(failed));
  box.textContent = text;
}

function cell(row, value) {
  const td = document.createElement("td");
  td.textContent = String(value);
  row.appendChild(td);
  return td;
}

function renderEditions() {
  const body = $("editions-rows");
  body.replaceChildren();
  $("editions-empty").hidden = consoleState.editions.length > 0;
  for (const e of consoleState.editions) {
    const row = document.createElement("tr");
    row.dataset.id = e.id;
    row.classList.toggle("current", e.id === consoleState.selected);
    const name = cell(row, "");
    const pick = document.createElement("button");
    pick.className = "link";
    pick.textContent = `${e.prefix} · ${e.title}`;
    pick.onclick = () => select(e.id);
    const link = document.createElement("a");
    link.href = "/editions/" + e.id;
    link.textContent = t("public page");
    name.append(pick, " ", link);
    if (e.paused) {
      const tag = document.createElement("span");
      tag.className = "pill offline paused-tag";
      tag.textContent = t("paused");
      name.append(" ", tag);
    }
    for (const key of ["total_pieces", "sold", "redeemed", "voided", "remaining"]) {
      cell(row, e[key]).className = "count-" + key;
    }
    body.appendChild(row);
  }
}

function select(id) {
  consoleState.selected = id;
  const edition = consoleState.editions.find((e) => e.id === id);
  $("selected").hidden = !edition;
  if (edition) $("selected-name").textContent = `${edition.prefix} · ${edition.title}`;
  renderEditions();
  drawSales();
  if (edition) {
    consoleState.sales.reload();
    renderState(edition);
    loadChanges(id);
    const end = new Date(Date.parse(edition.valid_until) + 7 * 86400000);
    $("change-until").value = localInput(end);
  }
}

const CHANGE_WORDS = { paused: t("paused"), resumed: t("resumed"), extended: t("extended") };

// Paused or open, and until when; only the button that applies is offered.
function renderState(edition) {
  const end = localTime(edition.valid_until);
  $("edition-state").textContent = edition.paused
    ? t("Sales paused. Coupons sold stay valid until {end}.", { end })
    : t("Sales open until {end}.", { end });
  $("edition-state").classList.toggle("error", Boolean(edition.paused));
  $("pause-btn").hidden = Boolean(edition.paused);
  $("resume-btn").hidden = !edition.paused;
}

function renderChanges(changes) {
  const list = $("changes-list");
  list.replaceChildren();
  $("changes-empty").hidden = changes.length > 0;
  for (const c of changes) {
    const item = document.createElement("li");
    let text = `${localTime(c.at)} · ${CHANGE_WORDS[c.action] || c.action}`;
    if (c.action === "extended") {
      text += " " + t("to {end}", { end: localTime(c.valid_until) });
    }
    item.textContent = `${text} · ${c.reason || c.reason_hash}`;
    list.appendChild(item);
  }
}

async function loadChanges(id) {
  const shown = await api(`/v1/editions/${id}`).catch(() => null);
  if (shown && id === consoleState.selected) renderChanges(shown.changes);
}

// Pause, resume or extend the selected edition, with the reason typed.
async function changeEdition(action) {
  const box = $("change-result");
  const reason = $("change-reason").value.trim();
  if (!reason) {
    show(box, t("Not changed: give a reason for the change."), true);
    $("change-reason").focus();
    return;
  }
  const body = { reason };
  if (action === "extend") {
    if (!$("change-until").value) {
      show(box, t("Not changed: choose the new end."), true);
      return;
    }
    body.valid_until = new Date($("change-until").value).toISOString();
  }
  show(box, t("Recording on chain…"));
  try {
    const done = await api(`/v1/editions/${consoleState.selected}/${action}`, {
      method: "POST", headers: { "Idempotency-Key": newKey() }, body: JSON.stringify(body),
    });
    const edition = done.edition;
    const at = consoleState.editions.findIndex((e) => e.id === edition.id);
    if (at >= 0) consoleState.editions[at] = edition;
    const said = { block: done.block_number, end: localTime(edition.valid_until) };
    show(box, action === "pause" ? t("Sales paused in block {block}.", said)
      : action === "resume" ? t("Sales resumed in block {block}.", said)
        : t("Extended to {end} in block {block}.", said));
    $("change-reason").value = "";
    renderEditions();
    renderState(edition);
    renderChanges(edition.changes);
  } catch (error) {
    show(box, t("Not changed: {error}", { error: problemText(error) }), true);
  }
}

// A new edition like the selected one: the create form filled in, a new prefix to choose.
async function duplicateEdition() {
  const edition = await api(`/v1/editions/${consoleState.selected}`);
  $("ed-brand").value = edition.brand;
  $("ed-title").value = edition.title;
  $("ed-terms").value = edition.terms || "";
  $("ed-pieces").value = edition.total_pieces;
  $("ed-price").value = window.CouponChainMoney.inputValue(edition.price);
  const length = Date.parse(edition.valid_until) - Date.parse(edition.valid_from);
  const now = Date.now();
  $("ed-from").value = localInput(new Date(now - 5 * 60000));
  $("ed-until").value = localInput(new Date(now + Math.max(length, 86400000)));
  $("ed-prefix").value = "";
  show($("edition-result"), t("Copied from {prefix}: choose a new serial prefix, check " +
    "the dates, then create.", { prefix: edition.prefix }));
  $("create-section").scrollIntoView();
  $("ed-prefix").focus();
}

function setUpChanges() {
  $("pause-btn").onclick = () => changeEdition("pause");
  $("resume-btn").onclick = () => changeEdition("resume");
  $("extend-btn").onclick = () => changeEdition("extend");
  $("duplicate-btn").onclick = () => duplicateEdition();
  $("change-form").onsubmit = (event) => event.preventDefault();
}

const SALE_WORDS = { active: t("active"), redeemed: t("redeemed"), voided: t("voided"),
                     online: t("online"), offline: t("offline") };

// One row of the selected edition's sales list (lists.js does the filters and paging).
function saleRow(coupon) {
  const row = document.createElement("tr");
  const link = document.createElement("a");
  link.href = "/coupons/" + coupon.serial;
  link.textContent = coupon.serial;
  listCell(row, link);
  listCell(row, coupon.owner_name || coupon.owner_id || coupon.owner, "customer");
  listCell(row, SALE_WORDS[coupon.status] || coupon.status, "status");
  listCell(row, SALE_WORDS[coupon.channel] || coupon.channel);
  listCell(row, window.CouponChainMoney.formatAmount(coupon.price_paid));
  listCell(row, localTime(coupon.sold_at));
  voidAction(coupon, listCell(row, "", "actions"));
  return row;
}

// "Void…" beside an active coupon opens a second step under the list: "Void {serial}"
// or "Cancel" (POST /v1/coupons/{serial}/void; the API takes no reason, the chain
// records who voided it).
function voidAction(coupon, action) {
  if (coupon.status !== "active") return;
  const open = document.createElement("button");
  open.type = "button";
  open.className = "secondary void-open";
  open.textContent = t("Void…");
  open.setAttribute("aria-label", t("Void coupon {serial}", { serial: coupon.serial }));
  open.onclick = () => confirmVoid(coupon);
  action.append(open);
}

function confirmVoid(coupon) {
  const panel = $("void-confirm");
  const question = document.createElement("p");
  question.textContent = t("Void {serial}? It can no longer be redeemed or given away; " +
                           "this cannot be undone.", { serial: coupon.serial });
  const yes = document.createElement("button");
  yes.type = "button";
  yes.className = "void-yes";
  yes.textContent = t("Void {serial}", { serial: coupon.serial });
  const no = document.createElement("button");
  no.type = "button";
  no.className = "secondary";
  no.textContent = t("Cancel");
  no.onclick = () => { panel.hidden = true; };
  yes.onclick = async () => {
    const box = $("void-result");
    yes.disabled = true;
    show(box, t("Voiding {serial} on chain…", { serial: coupon.serial }));
    try {
      const done = await api(`/v1/coupons/${encodeURIComponent(coupon.serial)}/void`, {
        method: "POST", headers: { "Idempotency-Key": newKey() } });
      panel.hidden = true;
      show(box, t("Voided {serial} in block {block}.",
                  { serial: coupon.serial, block: done.block_number }));
      consoleState.sales.reload();
    } catch (error) {
      yes.disabled = false;
      show(box, t("Not voided: {error}", { error: problemText(error) }), true);
    }
  };
  const actions = document.createElement("p");
  actions.className = "actions";
  actions.append(yes, " ", no);
  panel.replaceChildren(question, actions);
  panel.hidden = false;
  $("void-result").hidden = true;
  panel.scrollIntoView({ block: "nearest" });
  yes.focus();
}

async function refreshEditions() {
  try {
    const page = await api("/v1/editions?limit=500&merchant=" +
                           encodeURIComponent(consoleState.me.id));
    consoleState.editions = page.editions;
    if (consoleState.selected === null && page.editions.length) {
      select(page.editions[page.editions.length - 1].id);
    } else {
      renderEditions();
      drawSales();
      const edition = page.editions.find((e) => e.id === consoleState.selected);
      if (edition) renderState(edition);
    }
  } catch (error) {
    $("editions-empty").hidden = false;
    $("editions-empty").textContent = t("Could not load editions: {error}", { error: error.message });
  }
  setTimeout(refreshEditions, REFRESH_MS);
}

// Cumulative coupons sold, one point per minute from the first sale to now.
async function drawSales() {
  const id = consoleState.selected;
  if (id === null) return;
  const timeline = await api(`/v1/editions/${id}/sales-timeline`).catch(() => null);
  if (!timeline || id !== consoleState.selected) return;
  const step = timeline.minute_seconds * 1000;
  const perMinute = new Map(timeline.points.map((p) => [Date.parse(p.at), p.sold]));
  const now = Math.floor(Date.now() / step) * step;
  const first = timeline.points.length ? Date.parse(timeline.points[0].at) : now;
  const start = Math.max(first, now - (CHART_MINUTES - 1) * step);
  let total = 0;
  for (const [at, sold] of perMinute) if (at < start) total += sold;
  const values = [], times = [];
  for (let at = start; at <= now; at += step) {
    total += perMinute.get(at) || 0;
    values.push(total);
    times.push(at / 1000);
  }
  CouponChainCharts.time($("sales-chart"), {
    kind: "line", x: times, integer: true,
    series: [{ label: t("coupons sold"), values }] });
  $("chart-note").textContent = timeline.points.length
    ? t("{total} sold in all; one point per minute since {start}.",
        { total, start: new Date(start).toLocaleString() })
    : t("No sales yet.");
}

function setUpCreate() {
  const now = new Date();
  $("ed-from").value = localInput(new Date(now.getTime() - 5 * 60000));
  $("ed-until").value = localInput(new Date(now.getTime() + 30 * 86400000));
  $("edition-form").onsubmit = async (event) => {
    event.preventDefault();
    const box = $("edition-result");
    let price;
    try {  // typed in the token's display unit (money.js); the API takes the smallest unit
      price = window.CouponChainMoney.parseAmount($("ed-price").value, "price", t("List price"));
    } catch (error) {
      show(box, t("Not created: {error}", { error: error.message }), true);
      return;
    }
    show(box, t("Registering on chain…"));
    try {
      const created = await api("/v1/editions", {
        method: "POST", headers: { "Idempotency-Key": newKey() },
        body: window.CouponChainMoney.json({
          brand: $("ed-brand").value, title: $("ed-title").value, terms: $("ed-terms").value,
          prefix: $("ed-prefix").value.trim().toUpperCase(),
          total_pieces: Number($("ed-pieces").value), price,
          valid_from: new Date($("ed-from").value).toISOString(),
          valid_until: new Date($("ed-until").value).toISOString(),
        }),
      });
      show(box, t("Registered edition #{id} ({prefix}, {pieces} pieces) in block {block}.",
        { id: created.id, prefix: created.prefix, pieces: created.total_pieces,
          block: created.block_number }));
      consoleState.editions.push(created);
      select(created.id);
    } catch (error) {
      show(box, t("Not created: {error}", { error: problemText(error) }), true);
    }
  };
}

function setUpSale() {
  $("sale-form").onsubmit = async (event) => {
    event.preventDefault();
    const box = $("sale-result");
    const body = { buyer: window.CouponChainPicker.value($("sale-buyer")),
                   channel: $("sale-channel").value,
                   order_ref: $("sale-order").value.trim() };
    try {
      if ($("sale-price").value.trim()) {
        body.price = window.CouponChainMoney.parseAmount($("sale-price").value, "price",
                                                         t("Price paid"));
      }
    } catch (error) {
      show(box, t("Not recorded: {error}", { error: error.message }), true);
      return;
    }
    show(box, t("Recording on chain…"));
    try {
      const sold = await api(`/v1/editions/${consoleState.selected}/sales`, {
        method: "POST", headers: { "Idempotency-Key": newKey() },
        body: window.CouponChainMoney.json(body),
      });
      const link = document.createElement("a");
      link.id = "sold-serial";
      link.href = "/coupons/" + sold.coupon.serial;
      link.textContent = sold.coupon.serial;
      show(box, "");
      box.append(...tParts("Sold {serial} to {owner} in block {block}.",
        { serial: link, owner: sold.coupon.owner_name || $("sale-buyer").value.trim(),
          block: sold.block_number }));
      $("sale-order").value = "";
    } catch (error) {
      show(box, t("Not recorded: {error}", { error: problemText(error) }), true);
    }
  };
}

function setUpImport() {
  $("import-form").onsubmit = async (event) => {
    event.preventDefault();
    const box = $("import-result");
    const file = $("import-file").files[0];
    if (!file) return;
    show(box, t("Importing {file}…", { file: file.name }));
    try {
      const done = await api(`/v1/editions/${consoleState.selected}/sales:import`, {
        method: "POST", body: await file.text(),
        headers: { "content-type": "text/csv", "Idempotency-Key": newKey() },
      });
      const serials = done.coupons.map((c) => c.serial);
      show(box, t("Imported {count} sales: {first} … {last}.", { count: done.recorded,
        first: serials[0], last: serials[serials.length - 1] }));
    } catch (error) {
      show(box, t("Nothing imported: {error}", { error: problemText(error) }), true);
    }
  };
}

document.addEventListener("DOMContentLoaded", async () => {
  if (!$("console")) return;
  const me = await whoAmI();
  if (!me || me.role !== "merchant") {
    $("console-signin").hidden = false;
    if (me) {
      $("console-signin").textContent = t("The console is for merchants; you are signed in " +
        "as a {role}.", { role: roleName(me.role) });
    }
    return;
  }
  consoleState.me = me;
  consoleState.sales = makeList({ id: "sales", rows: "coupons", render: saleRow,
                                  url: () => `/v1/editions/${consoleState.selected}/coupons` });
  $("console").hidden = false;
  setUpCreate();
  setUpSale();
  setUpImport();
  setUpChanges();
  refreshEditions();
});
