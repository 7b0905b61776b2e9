// Peer-to-peer batch sales: helpers shared by the product pages, and the
// originator's console (/products). Uses api(), $() and whoAmI() from app.js
// and the helpers of promotions.js (both loaded first; the scripts are
// deferred). Amounts travel in the credit token's smallest unit; BigInt keeps
// them exact, and the chart alone turns them into floating point.
"use strict";

(() => {
const { REFRESH_MS, ccc, toUnits, wholeNumber, json, problemText, show, cell, button, when,
        newKey, signedIn } = window.CouponChainPromotions;
const STATUS = { open: t("open"), sold_out: t("sold out"), closed: t("closed") };
const COLORS = { revenue: "#0b6bcb", rebates: "#e07b00", text: "#5b6475", grid: "#e3e6ea" };

// "12.5 %" from 1250 basis points.
function percent(bps) {
  return `${(Number(bps) / 100).toLocaleString("en", { maximumFractionDigits: 2 })} %`;
}

// "Ann (c_12…)" or the address when the participant is not known here.
function who(name, id, address) {
  if (name) return id ? `${name} (${id})` : name;
  return id || address || "";
}

// A participant id or address cut to fit a table cell; the whole one is its tooltip.
function short(text) {
  const span = document.createElement("span");
  span.textContent = text && text.length > 14 ? `${text.slice(0, 6)}…${text.slice(-4)}` : text;
  span.title = text || "";
  return span;
}

// A definite answer from the API (not a lost connection): a retry needs a new key.
function answered(error) {
  return Boolean(error.problem && error.problem.status);
}

// Revenue and rebates per batch as side-by-side bars; hovering a batch names both
// amounts exactly (the bars' heights alone are floating point).
function drawSales(canvas, batches) {
  const drawn = (k) => batches.map((b) => Number(BigInt(b[k])) / 1e6); // drawing only
  const names = { revenue: t("revenue"), rebates: t("rebates") };
  CouponChainCharts.categories(canvas, {
    labels: batches.map((b) => t("Batch {batch}", { batch: b.batch })),
    series: ["revenue", "rebates"].map((k) => ({
      label: names[k], values: drawn(k), colour: COLORS[k], text: batches.map((b) => ccc(b[k])) })) });
}

// ---------------------------------------------------------------- console

const cons = { me: null, products: [], selected: null, shown: "", cap: 0, direct: 0,
               productKey: null, batchKey: null, closeKey: null };

function renderProducts() {
  const body = $("products-rows");
  body.replaceChildren();
  $("products-empty").hidden = cons.products.length > 0;
  for (const p of [...cons.products].reverse()) {
    const row = document.createElement("tr");
    row.dataset.id = p.id;
    row.classList.toggle("current", p.id === cons.selected);
    cell(row, button(`${p.name} (#${p.id})`, () => selectProduct(p.id), "link"));
    const c = p.current || {};
    cell(row, p.current_batch, "count-batch");
    cell(row, ccc(c.price), "amount");
    cell(row, `${c.sold} / ${c.circulation}`, "count-sold");
    cell(row, STATUS[c.status] || "", "count-status");
    cell(row, p.units_sold, "count-units");
    body.appendChild(row);
  }
}

async function refreshProducts() {
  const page = await api("/v1/products?limit=500&originator=" + encodeURIComponent(cons.me.id));
  cons.products = page.products;
  renderProducts();
  if (cons.selected !== null) await showProduct();
}

function renderBatches(d) {
  const body = $("batches-rows");
  body.replaceChildren();
  for (const b of d.batches) {
    const row = document.createElement("tr");
    row.dataset.batch = b.batch;
    cell(row, b.batch);
    cell(row, ccc(b.price), "amount");
    cell(row, `${b.sold} / ${b.circulation}`, "count-sold");
    cell(row, percent(b.rebate_bps), "count-rebate");
    cell(row, percent(b.promoter_share_bps), "count-share");
    cell(row, STATUS[b.status], "count-status");
    cell(row, ccc(b.revenue), "amount count-revenue");
    cell(row, ccc(b.rebates), "amount count-rebates");
    cell(row, ccc(b.originator_paid), "amount");
    body.appendChild(row);
  }
  const sum = d.totals;
  const params = { revenue: ccc(sum.revenue), rebates: ccc(sum.rebates),
                   promoters: ccc(sum.promoter_paid), holders: ccc(sum.holders_paid),
                   me: ccc(sum.originator_paid), dust: ccc(sum.dust) };
  $("batches-totals").textContent = BigInt(sum.dust) > 0n
    ? t("Revenue {revenue} · rebates paid {rebates} (promoters {promoters}, earlier holders " +
        "{holders}) · to me {me} (incl. rounding dust {dust}).", params)
    : t("Revenue {revenue} · rebates paid {rebates} (promoters {promoters}, earlier holders " +
        "{holders}) · to me {me}.", params);
}

function renderSales(purchases) {
  const body = $("sales-rows");
  body.replaceChildren();
  $("sales-empty").hidden = purchases.length > 0;
  for (const s of purchases) {
    const row = document.createElement("tr");
    cell(row, when(s.at), "when");
    cell(row, s.batch);
    cell(row, short(s.buyer_id || s.buyer));
    cell(row, s.quantity);
    cell(row, ccc(s.amount), "amount");
    cell(row, s.promoter ? short(s.promoter_id || s.promoter) : "—");
    cell(row, ccc(s.rebate), "amount");
    body.appendChild(row);
  }
}

function renderControls(d) {
  const c = d.current;
  const open = c && c.status === "open";
  $("close-section").hidden = !open;
  $("batch-form").hidden = open;
  if (open) {
    $("close-batch-no").textContent = c.batch;
    $("close-left").textContent = c.remaining;
  } else {
    $("batch-next-no").textContent = d.current_batch + 1;
  }
}

async function showProduct() {
  const id = cons.selected;
  const [d, sales] = await Promise.all([api("/v1/products/" + id),
                                        api(`/v1/products/${id}/purchases?limit=20`)]);
  if (id !== cons.selected) return;
  const seen = JSON.stringify([d, sales]);
  if (seen === cons.shown) return; // nothing changed: keep the chart and the forms as they are
  cons.shown = seen;
  $("product-selected-name").textContent = `${d.name} (#${d.id})`;
  $("product-selected-page").href = "/products/" + d.id;
  renderBatches(d);
  renderSales(sales.purchases);
  renderControls(d);
  drawSales($("sales-chart"), d.batches);
}

function selectProduct(id) {
  if (cons.selected !== id) cons.shown = "";
  cons.selected = id;
  $("product-selected").hidden = false;
  $("close-confirm").hidden = true;
  renderProducts();
  showProduct().catch((e) => show($("batch-result"), problemText(e), true));
}

function setUpProductForm() {
  $("product-form").onsubmit = async (event) => {
    event.preventDefault();
    const box = $("product-result");
    show(box, t("Registering the product on chain…"));
    try {
      const body = {
        name: $("product-name").value.trim(),
        description: $("product-description").value,
        price: toUnits($("product-price").value, "price"),
        circulation: wholeNumber($("product-circulation").value, "circulation"),
      };
      cons.productKey = cons.productKey || newKey(); // a retry registers once
      const p = await api("/v1/products", {
        method: "POST", body: json(body), headers: { "Idempotency-Key": cons.productKey } });
      cons.productKey = null;
      show(box, t("Registered product #{id} “{name}” in block {block}: batch 1 has {units} " +
        "units at {price}.", { id: p.id, name: p.name, block: p.block_number,
                               units: p.current.circulation, price: ccc(p.current.price) }));
      $("product-form").reset();
      await refreshProducts();
      selectProduct(p.id);
    } catch (error) {
      if (answered(error) || !error.problem) cons.productKey = null;
      show(box, t("Not registered: {error}", { error: problemText(error) }), true);
    }
  };
}

function rebateNote() {
  const bps = Number($("batch-rebate").value || 0);
  const share = Number($("batch-share").value || 0);
  $("batch-rebate-note").textContent =
    t("Each sale pays {rate} of its price as rebate: {direct} of it to the promoter whose " +
      "link sold it, the rest to every unit of the earlier batches.",
      { rate: percent(bps), direct: percent(share) });
  $("batch-rebate-note").classList.toggle(
    "error", bps > cons.cap || share < cons.minShare || share > cons.maxShare);
}

function setUpBatchControls() {
  $("batch-rebate").addEventListener("input", rebateNote);
  $("batch-share").addEventListener("input", rebateNote);
  rebateNote();
  $("batch-form").onsubmit = async (event) => {
    event.preventDefault();
    const box = $("batch-result");
    const id = cons.selected;
    show(box, t("Opening the batch on chain…"));
    try {
      const body = {
        price: toUnits($("batch-price").value, "price"),
        circulation: wholeNumber($("batch-circulation").value, "circulation"),
        rebate_bps: Number(wholeNumber($("batch-rebate").value, "rebate_bps")),
        promoter_share_bps: Number(wholeNumber($("batch-share").value, "promoter_share_bps")),
      };
      cons.batchKey = cons.batchKey || newKey();
      const p = await api(`/v1/products/${id}/batches`, {
        method: "POST", body: json(body), headers: { "Idempotency-Key": cons.batchKey } });
      cons.batchKey = null;
      const c = p.current;
      show(box, t("Opened batch {batch} of #{id}: {units} units at {price}, rebate {rate}, " +
        "{share} of it to the promoter (block {block}).",
        { batch: c.batch, id: p.id, units: c.circulation, price: ccc(c.price),
          rate: percent(c.rebate_bps), share: percent(c.promoter_share_bps),
          block: p.block_number }));
      $("batch-price").value = "";
      $("batch-circulation").value = "";
      await refreshProducts();
    } catch (error) {
      if (answered(error) || !error.problem) cons.batchKey = null;
      show(box, t("Not opened: {error}", { error: problemText(error) }), true);
    }
  };
  $("close-batch").onclick = () => { $("close-confirm").hidden = false; };
  $("close-confirm").onclick = async () => {
    const box = $("batch-result");
    $("close-confirm").hidden = true;
    show(box, t("Closing the batch on chain…"));
    try {
      cons.closeKey = cons.closeKey || newKey();
      const p = await api(`/v1/products/${cons.selected}/batches/current:close`, {
        method: "POST", headers: { "Idempotency-Key": cons.closeKey } });
      cons.closeKey = null;
      show(box, t("Closed batch {batch} of #{id} with {sold} of {units} units sold; you may " +
        "open the next batch now.", { batch: p.current.batch, id: p.id, sold: p.current.sold,
                                      units: p.current.circulation }));
      await refreshProducts();
    } catch (error) {
      if (answered(error)) cons.closeKey = null;
      show(box, t("Not closed: {error}", { error: problemText(error) }), true);
    }
  };
}

async function startConsole() {
  const me = await signedIn("ref-console", ["merchant"], t("originators (merchants)"));
  if (!me) return;
  cons.me = me;
  cons.cap = Number($("ref-console").dataset.maxRebateBps);
  cons.minShare = Number($("ref-console").dataset.minShareBps);
  cons.maxShare = Number($("ref-console").dataset.maxShareBps);
  setUpProductForm();
  setUpBatchControls();
  const loop = async () => {
    try {
      await refreshProducts();
      if (cons.selected === null && cons.products.length) {
        selectProduct(cons.products[cons.products.length - 1].id);
      }
    } catch (e) {
      $("products-empty").hidden = false;
      $("products-empty").textContent = problemText(e);
    }
    setTimeout(loop, REFRESH_MS);
  };
  loop();
}

// Shared with referrals-buy.js and referrals-holdings.js (loaded after this file).
window.CouponChainReferrals = { STATUS, percent, who, answered, drawSales };
document.addEventListener("DOMContentLoaded", () => {
  if ($("ref-console")) startConsole();
});
})();
