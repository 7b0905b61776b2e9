// The merchant's or terminal's promotion till (/promotions/merchant): grant
// coupons, read consent codes (camera, photo, hardware scanner), write off,
// reverse, a chart of write-offs, and the merchant's incentive cap (set by the
// merchant; what is left is shown to its terminals too). Helpers come from
// promotions.js.
"use strict";

(() => {
const { REFRESH_MS, ccc, toUnits, wholeNumber, fieldError, json, problemText, show, cell, link,
        button, when, newKey, allRounds, signedIn, word } = window.CouponChainPromotions;
const CHART_MINUTES = 60;

// scanFor: "topup" while the top-up form's scan button or photo asked for a code.
const till = { me: null, merchant: null, windows: new Map(), armed: new Set(),
               scanFor: null, cameraHome: null };

function scanStatus() {
  return $(till.scanFor === "topup" ? "topup-picked" : "scan-status");
}

// Where a code read by the camera or from a photo goes: a customer number (the
// wallet's QR code) to the top-up's customer picker, anything else to the
// write-off's consent code field. True when the code was taken.
function deliver(code, source) {
  const picker = window.CouponChainPicker;
  if (picker && picker.take($("topup-customer"), code)) {
    $("topup-amount").focus();
    return true;
  }
  if (till.scanFor === "topup") {
    scanFailed(t("That QR code is not a customer number; the wallet shows it under Top-ups."));
    return false;
  }
  if (deliverEdition(code, source)) return true;  // a limited-edition coupon's code
  $("wo-code").value = code;
  $("scan-status").textContent = t("Read a consent code from {source}.", { source });
  $("scan-status").classList.remove("error");
  (($("wo-amount").value.trim()) ? $("write-off-form").querySelector("button[type=submit]")
                                 : $("wo-amount")).focus();
  return true;
}

// The till's one scanner (qr-scanner.js): its camera view moves beside the form
// it reads for, and what it reads goes where `deliver` says.
let scanner = null;

function scanFailed(text) {
  scanner.failed(text);
}

function startCamera(forWhat = null) {
  scanner.stop();
  till.scanFor = forWhat;
  if (forWhat === "topup") $("topup-camera-slot").append($("camera"));
  else till.cameraHome.parent.insertBefore($("camera"), till.cameraHome.next);
  return scanner.start();
}

function readPhoto(input, forWhat) {
  till.scanFor = forWhat;
  return scanner.readPhoto(input);
}

// One scanner for both forms: the write-off's consent codes and the top-up's
// customer numbers.
function setUpScanning() {
  scanner = window.CouponChainScanner.create({
    camera: $("camera"), video: $("camera-video"), status: scanStatus, take: deliver,
    prompt: t("Hold the customer's QR code in front of the camera…") });
  till.cameraHome = { parent: $("camera").parentNode, next: $("camera").nextSibling };
  $("camera-start").onclick = () => startCamera();
  $("camera-stop").onclick = () => scanner.stop();
  $("photo-input").onchange = () => readPhoto($("photo-input"), null);
  $("topup-scan").onclick = () => startCamera("topup");
  $("topup-photo").onchange = () => readPhoto($("topup-photo"), "topup");
  // A hardware scanner types the code and presses Enter.
  $("wo-code").addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    if (deliverEdition($("wo-code").value, t("the keyboard"))) return;
    if ($("wo-amount").value.trim()) $("write-off-form").requestSubmit();
    else $("wo-amount").focus();
  });
}

// A limited-edition coupon's code typed or pasted into the consent field goes to the
// edition panel (editions-till.js) instead of the write-off. True when it did.
function deliverEdition(text, source) {
  const editions = window.CouponChainEditionTill;
  if (!editions || !String(text).trim().startsWith(editions.PREFIX)) return false;
  editions.take(text, source);
  return true;
}

function setUpWriteOff() {
  $("write-off-form").onsubmit = async (event) => {
    event.preventDefault();
    if (deliverEdition($("wo-code").value, t("the keyboard"))) return;
    const box = $("write-off-result");
    show(box, t("Writing off on chain…"));
    try {
      const body = { code: $("wo-code").value.trim(),
                     order_amount: toUnits($("wo-amount").value, "order_amount") };
      const w = await api("/v1/write-offs", {
        method: "POST", headers: { "Idempotency-Key": newKey() }, body: json(body) });
      show(box, "");
      const strong = document.createElement("strong");
      strong.id = "wo-incentive";
      strong.textContent = ccc(w.incentive);
      box.append(...tParts("Written off coupon #{id} for an order of {order}. Incentive " +
                           "charged: {incentive} into its pool (pool {pool}). ",
                           { id: w.coupon_id, order: ccc(w.order_amount), incentive: strong,
                             pool: ccc(w.pool) }),
                 w.reversible_until && Date.parse(w.reversible_until) > Date.now()
                   ? t("Reversible until {when}. ", { when: when(w.reversible_until) })
                   : t("Final. "),
                 link("/promotion-coupons/" + w.coupon_id, t("coupon page")));
      $("wo-code").value = "";
      $("wo-amount").value = "";
      $("wo-code").focus();
      refreshTill();
    } catch (error) {
      show(box, t("Not written off: {error}", { error: problemText(error) }), true);
    }
  };
}

async function reverse(coupon, b) {
  if (!till.armed.has(coupon.id)) {  // a second click confirms: no blocking dialog at a till
    till.armed.add(coupon.id);
    b.textContent = t("Confirm reversal");
    return;
  }
  till.armed.delete(coupon.id);
  b.disabled = true;
  const box = $("write-off-result");
  try {
    const r = await api(`/v1/promotion-coupons/${coupon.id}/write-off-reversal`, {
      method: "POST", headers: { "Idempotency-Key": newKey() } });
    show(box, t("Reversed the write-off of coupon #{id}; it is back with its holder and " +
                "{amount} was refunded.",
                { id: coupon.id, amount: ccc(r.coupon.path[r.coupon.path.length - 1].amount) }));
  } catch (error) {
    show(box, t("Not reversed: {error}", { error: problemText(error) }), true);
  }
  refreshTill();
}

function renderWriteOffs(rows) {
  const body = $("write-offs-rows");
  body.replaceChildren();
  $("write-offs-empty").hidden = rows.length > 0;
  for (const c of rows) {
    const row = document.createElement("tr");
    cell(row, link("/promotion-coupons/" + c.id, "#" + c.id))
      .append(document.createElement("br"), word(c.status));
    cell(row, when(c.written_off_at), "when");
    const money = cell(row, ccc(c.order_amount), "amount");
    money.append(document.createElement("br"), t("pool {amount}", { amount: ccc(c.pool) }));
    const window_ = till.windows.get(c.round_id) || 0;
    const open = c.status === "written_off" &&
      Date.parse(c.written_off_at) + window_ * 1000 > Date.now();
    const label = till.armed.has(c.id) ? t("Confirm reversal") : t("Reverse");
    cell(row, open ? button(label, (e) => reverse(c, e.target), "secondary") : "");
    body.appendChild(row);
  }
}

// Write-offs per minute over the last hour, as bars; the note sums incentives.
async function drawTimeline() {
  const line = await api("/v1/write-offs/timeline?merchant=" + encodeURIComponent(till.merchant));
  const step = line.minute_seconds * 1000;
  const now = Math.floor(Date.now() / step) * step;
  const per = new Map(line.points.map((p) => [Date.parse(p.at), p]));
  const values = [], times = [];
  let count = 0, incentives = 0n;
  for (let at = now - (CHART_MINUTES - 1) * step; at <= now; at += step) {
    values.push(per.has(at) ? per.get(at).write_offs : 0);
    times.push(at / 1000);
  }
  for (const p of line.points) { count += p.write_offs; incentives += BigInt(p.incentives); }
  CouponChainCharts.time($("write-off-chart"), {
    integer: true, x: times, series: [{ label: t("write-offs per minute"), values }] });
  $("write-off-chart-note").textContent = count
    ? t("{count} standing write-offs in all, {amount} of incentives charged.",
        { count, amount: ccc(incentives) })
    : t("No write-offs yet.");
}

async function refreshGrantRounds() {
  const select = $("grant-round");
  const chosen = select.value;
  const rounds = till.rounds.slice(-20).reverse();
  const details = await Promise.all(rounds.map((r) => api("/v1/promotion-rounds/" + r.id)));
  select.innerHTML = "";
  for (const d of details) {
    const mine = d.allocations.find((a) => a.merchant_id === till.me.id);
    if (mine && mine.remaining > 0) {
      select.add(new Option(t("Round #{id} — {left} left", { id: d.id, left: mine.remaining }), d.id));
    }
  }
  if (!select.options.length) select.add(new Option(t("no allocation left"), ""));
  if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
}

async function refreshCap() {
  const c = await api(`/v1/merchants/${encodeURIComponent(till.merchant)}/incentive-cap`);
  $("cap-value").textContent = c.cap === null ? t("not set (write-offs that charge an " +
                                                  "incentive are refused)") : ccc(c.cap);
  $("cap-left").textContent = ccc(c.left);
}

function setUpCap() {
  $("cap-form").hidden = false;
  $("cap-form").onsubmit = async (event) => {
    event.preventDefault();
    const box = $("cap-result");
    show(box, t("Setting the cap on chain…"));
    try {
      const body = { cap: toUnits($("cap-input").value, "cap") };
      const c = await api(`/v1/merchants/${encodeURIComponent(till.merchant)}/incentive-cap`, {
        method: "PUT", headers: { "Idempotency-Key": newKey() }, body: json(body) });
      show(box, t("Cap set to {cap}; {left} left.", { cap: ccc(c.cap), left: ccc(c.left) }));
      $("cap-input").value = "";
      await refreshCap();
    } catch (error) {
      show(box, t("Cap not set: {error}", { error: problemText(error) }), true);
    }
  };
}

async function refreshTill() {
  await refreshCap();
  till.rounds = await allRounds();
  for (const r of till.rounds) till.windows.set(r.id, r.rollback_window_seconds);
  const page = await api("/v1/write-offs?limit=50&merchant=" + encodeURIComponent(till.merchant));
  renderWriteOffs(page.write_offs);
  await drawTimeline();
  if (till.me.role === "merchant") await refreshGrantRounds();
}

function setUpGrant() {
  $("grant-section").hidden = false;
  $("grant-form").onsubmit = async (event) => {
    event.preventDefault();
    const box = $("grant-result");
    show(box, t("Granting on chain…"));
    try {
      const body = { round_id: Number($("grant-round").value), grants: [{
        consumer: window.CouponChainPicker.value($("grant-consumer")),
        count: Number(wholeNumber($("grant-count").value, "count")) }] };
      if (!body.round_id) throw fieldError("round_id", t("this merchant has no allocation left"));
      const g = await api("/v1/promotion-grants", {
        method: "POST", headers: { "Idempotency-Key": newKey() }, body: json(body) });
      const ids = g.coupon_ids;
      const params = { count: g.granted, consumer: $("grant-consumer").value.trim(),
                       ids: "#" + ids[0] + (ids.length > 1 ? ` … #${ids[ids.length - 1]}` : ""),
                       block: g.block_number };
      show(box, g.granted === 1
        ? t("Granted {count} coupon to {consumer}: {ids} (block {block}).", params)
        : t("Granted {count} coupons to {consumer}: {ids} (block {block}).", params));
      refreshTill();
    } catch (error) {
      show(box, t("Not granted: {error}", { error: problemText(error) }), true);
    }
  };
}

async function startTill() {
  const me = await signedIn("till", ["merchant", "terminal"], t("merchants and their terminals"));
  if (!me) return;
  till.me = me;
  till.merchant = me.role === "merchant" ? me.id : me.merchant_id;
  const merchant = me.role === "merchant" ? me
    : await api("/v1/participants/" + encodeURIComponent(till.merchant)).catch(() => null);
  $("till-merchant").textContent = merchant ? merchant.name : till.merchant;
  if (me.role === "terminal") {
    $("till-merchant").append(" " + t("(terminal {name})", { name: me.name }));
  }
  setUpScanning();
  setUpWriteOff();
  if (me.role === "merchant") { setUpGrant(); setUpCap(); }
  const loop = async () => {
    try { await refreshTill(); } catch (e) { $("write-offs-empty").textContent = problemText(e); }
    setTimeout(loop, REFRESH_MS + 1000);
  };
  loop();
}

document.addEventListener("DOMContentLoaded", () => {
  if ($("till")) startTill();
});
})();
