// A store terminal's prize page (/terminal): read a prize code (camera, photo,
// hardware scanner), show every claim condition, confirm the claim. Offline,
// a code is checked here (format, signing key id, expiry) and queued in
// localStorage with the local scan time; the queue is sent to
// /v1/prize-claims:sync when the connection is back, and every item's result
// (claimed, duplicate with the winning terminal, refused) is shown.
"use strict";

(() => {
const { show, problemText, cell, when, newKey, signedIn } = window.CouponChainPromotions;
const { MAX_LIFETIME, CLOCK_SKEW, parseCode, isNetworkError } = window.CouponChainPrizes;
const SIGNER_KEY = "couponchain.prizeSigner";
const SYNC_BATCH = 500;  // SYNC_MAX of the API
const LABELS = { signature: t("Signature"), not_expired: t("Not expired"),
                 not_claimed: t("Not claimed yet"), terminal_eligible: t("Terminal eligible"),
                 inside_window: t("Inside the claim window"),
                 per_consumer_limit: t("Per-consumer limit"), stock_left: t("Stock left"),
                 winner_signed: t("Signed by the winner"),
                 format: t("Prize code format"), signing_key: t("Signing key"),
                 lifetime: t("Lifetime") };
// The statuses of a synced claim, in the page's language.
const SYNC_STATUSES = { claimed: t("claimed"), duplicate: t("duplicate"), refused: t("refused") };
const term = { me: null, scan: null, syncing: false };

// ------------------------------------------------------------ offline queue

const queueKey = () => "couponchain.prizeQueue." + term.me.id;
const queue = () => JSON.parse(localStorage.getItem(queueKey()) || "[]");

function saveQueue(items) {
  localStorage.setItem(queueKey(), JSON.stringify(items));
  $("queue-count").textContent = String(items.length);
  const list = $("queue-items");
  list.replaceChildren(...items.map((q) => {
    const li = document.createElement("li");
    li.textContent = t("Award #{id}, scanned {when} — waiting to sync",
                       { id: q.award_id, when: when(q.scanned_at) });
    return li;
  }));
}

function enqueue(code, awardId) {
  const items = queue();
  if (items.some((q) => q.code === code)) return false;
  items.push({ code, award_id: awardId, scanned_at: new Date().toISOString() });
  saveQueue(items);
  return true;
}

function syncRow(item, result) {
  const row = document.createElement("tr");
  row.className = "sync-" + result.status;
  cell(row, "#" + (result.award_id || item.award_id));
  cell(row, when(item.scanned_at), "when");
  const verdict = cell(row, "");
  const strong = document.createElement("strong");
  strong.textContent = SYNC_STATUSES[result.status] || result.status;
  verdict.append(strong, " — " + result.reason);
  $("sync-rows").prepend(row);
}

// Send the queue; items leave it only once the server gave each a result.
async function sync() {
  const items = queue();
  if (!items.length || term.syncing) return;
  term.syncing = true;
  const box = $("sync-result");
  show(box, items.length === 1 ? t("Syncing {count} queued claim…", { count: items.length })
                               : t("Syncing {count} queued claims…", { count: items.length }));
  const counts = { claimed: 0, duplicate: 0, refused: 0 };
  try {
    for (let start = 0; start < items.length; start += SYNC_BATCH) {
      const batch = items.slice(start, start + SYNC_BATCH);
      const out = await api("/v1/prize-claims:sync", {
        method: "POST", headers: { "Idempotency-Key": newKey() },
        body: JSON.stringify({ claims: batch.map((q) => ({ code: q.code,
                                                           scanned_at: q.scanned_at })) }) });
      for (const r of out.results) {
        counts[r.status] += 1;
        syncRow(batch[r.index], r);
      }
      $("sync-table").hidden = false;
      const sent = new Set(batch.map((q) => q.code));
      saveQueue(queue().filter((q) => !sent.has(q.code)));
    }
    show(box, t("Synced: {claimed} claimed, {duplicate} duplicate, {refused} refused.", counts),
         counts.duplicate + counts.refused > 0);
  } catch (error) {
    show(box, isNetworkError(error)
      ? t("Still offline; the queue is kept: {error}", { error: problemText(error) })
      : t("Not synced; the queue is kept: {error}", { error: problemText(error) }), true);
  } finally {
    term.syncing = false;
  }
}

// ------------------------------------------------------------ verdicts

function renderVerdict(title, info, conditions, claimable) {
  $("verdict").hidden = false;
  $("verdict-title").textContent = title;
  $("verdict").classList.toggle("ok", claimable);
  const table = $("claim-info");
  table.replaceChildren(...info.map(([k, v]) => {
    const row = document.createElement("tr");
    const th = document.createElement("th");
    th.textContent = k;
    row.appendChild(th);
    cell(row, v);
    return row;
  }));
  $("conditions").replaceChildren(...conditions.map((c) => {
    const li = document.createElement("li");
    li.dataset.name = c.name;
    li.className = c.ok === true ? "ok" : c.ok === false ? "failed" : "unchecked";
    const mark = document.createElement("span");
    mark.className = "mark";
    mark.textContent = c.ok === true ? "✓" : c.ok === false ? "✗" : "–";
    const name = document.createElement("strong");
    name.textContent = LABELS[c.name] || c.name;
    li.append(mark, " ", ...tParts("{condition}: {reason}", { condition: name, reason: c.reason }));
    return li;
  }));
  $("confirm-claim").hidden = !claimable;
  $("confirm-claim").disabled = !claimable;
  $("claim-result").hidden = true;
}

function scanned(s) {
  term.scan = s;
  const info = [[t("Prize"), s.prize ? s.prize.name : t("unknown")],
                [t("Campaign"), s.campaign ? `#${s.campaign.id} ${s.campaign.title}` : t("unknown")],
                [t("Award"), "#" + s.code.award_id], [t("Consumer"), s.code.consumer],
                [t("Code valid until"), when(s.code.expires_at)]];
  renderVerdict(s.claimable ? t("Ready to hand out") : t("Do not hand out"), info, s.conditions,
                s.claimable);
  if (s.claimable) $("confirm-claim").focus();
}

// Checks a terminal can make without the server, the signature included when
// prize-signature.js could load (it needs the published key, kept from the last
// time the terminal was online).
function checkOffline(text) {
  const p = parseCode(text);
  if (p instanceof Error) {
    return { parsed: null, conditions: [{ name: "format", ok: false, reason: p.message }] };
  }
  const signer = JSON.parse(localStorage.getItem(SIGNER_KEY) || "null");
  const now = Date.now() / 1000;
  const conditions = [{ name: "format", ok: true, reason: t("a CCPZ2 prize code") }];
  conditions.push(signer ? { name: "signing_key", ok: signer.address.slice(2, 10).toLowerCase()
                               === p.keyId, reason: t("key id {id}; published key {key}…",
                               { id: p.keyId, key: signer.address.slice(0, 10) }) }
                         : { name: "signing_key", ok: null,
                             reason: t("no published key known yet") });
  conditions.push({ name: "lifetime", ok: p.lifetime <= MAX_LIFETIME,
                    reason: t("{lifetime} s (at most {max} s)",
                              { lifetime: p.lifetime, max: MAX_LIFETIME }) });
  const fresh = now >= p.issuedAt - CLOCK_SKEW && now < p.expiry + CLOCK_SKEW;
  conditions.push({ name: "not_expired", ok: fresh, reason: fresh
    ? t("valid until {when}", { when: when(new Date(p.expiry * 1000).toISOString()) })
    : (now < p.issuedAt - CLOCK_SKEW ? t("issued in the future: check this terminal's clock")
                                     : t("code expired: ask for the fresh one")) });
  if (window.prizeSignature && signer) {
    conditions.push({ name: "signature", ...window.prizeSignature.verify(text, signer.address) });
  } else {
    conditions.push({ name: "signature", ok: null, reason: t("checked by the server at sync") });
  }
  return { parsed: p, conditions };
}

function queueOffline(text, why) {
  const { parsed, conditions } = checkOffline(text);
  const ok = parsed !== null && conditions.every((c) => c.ok !== false);
  const info = parsed ? [[t("Award"), "#" + parsed.awardId], [t("Consumer"), parsed.consumer],
                         [t("Why offline"), why]] : [[t("Why offline"), why]];
  let title = t("Offline: not queued");
  if (ok) title = enqueue(parsed.code, parsed.awardId) ? t("Offline: claim queued")
                                                      : t("Offline: already queued");
  renderVerdict(title, info, conditions, false);
  $("scan-status").textContent = ok ? t("Queued; it is sent when the connection is back.") : "";
}

async function check(text) {
  const code = text.trim();
  if (!code) return;
  term.scan = null;
  term.code = code;
  $("scan-status").textContent = t("Checking…");
  $("scan-status").classList.remove("error");
  try {
    scanned(await api("/v1/prize-scans", { method: "POST", body: JSON.stringify({ code }),
                                           headers: { "Idempotency-Key": newKey() } }));
    $("scan-status").textContent = "";
  } catch (error) {
    if (isNetworkError(error)) { queueOffline(code, t("no connection to the server")); return; }
    renderVerdict(t("Not a prize code"), [], [{ name: "format", ok: false,
                                             reason: problemText(error) }], false);
    $("scan-status").textContent = "";
  }
}

// The claim is stored when answered; the chain records it a moment later.
async function followClaim(claim, box, handOut) {
  let c = claim;
  for (let i = 0; i < 40 && c.status === "pending"; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    if (box.dataset.claim !== String(claim.id)) return;  // the next claim took the box
    try {
      c = await api(`/v1/prize-claims/${claim.id}`);
    } catch (error) {
      return;  // offline again: the claim is stored, the chain catches up by itself
    }
  }
  if (box.dataset.claim !== String(claim.id)) return;
  if (c.status === "recorded") {
    show(box, t("{claim}, recorded on chain in block {block}.",
                { claim: handOut, block: c.block_number }));
  } else if (c.status === "refused") {
    show(box, t("{claim}; the prizes contract refused it: {refusal}",
                { claim: handOut, refusal: c.refusal }), true);
  } else {
    show(box, t("{claim}; the chain has not recorded it yet (it will be retried).",
                { claim: handOut }));
  }
}

async function confirmClaim() {
  const s = term.scan;
  if (!s) return;
  $("confirm-claim").disabled = true;
  const box = $("claim-result");
  show(box, t("Recording the claim…"));
  try {
    const c = await api("/v1/prize-claims", { method: "POST", body: JSON.stringify(
      { scan_id: s.scan_id }), headers: { "Idempotency-Key": newKey() } });
    const handOut = t("Claimed: hand out the {prize} (award #{id})",
                      { prize: c.prize_name, id: c.award_id });
    show(box, t("{claim}; recording it on chain…", { claim: handOut }));
    box.dataset.claim = c.id;
    followClaim(c, box, handOut);
    $("confirm-claim").hidden = true;
    $("pz-code").value = "";
  } catch (error) {
    if (isNetworkError(error)) {
      const queued = enqueue(term.code, String(s.code.award_id));
      show(box, queued ? t("The connection dropped: the claim is queued and sent later.")
                       : t("The connection dropped and this code was not queued."), !queued);
    } else {
      show(box, t("Not claimed: {error}", { error: problemText(error) }), true);
    }
  }
}

// ------------------------------------------------------------ reading codes

// What the scanner (qr-scanner.js) read: into the code field, then checked.
async function take(code, source) {
  $("pz-code").value = code;
  $("scan-status").textContent = t("Read a code from {source}.", { source });
  await check(code);
  return true;
}

function setUpScanning() {
  // Offline, a photo is decoded in the browser (BarcodeDetector) when it can be.
  const scanner = window.CouponChainScanner.create({
    camera: $("camera"), video: $("camera-video"), status: () => $("scan-status"), take,
    prompt: t("Hold the customer's prize code in front of the camera…"), isNetworkError });
  $("camera-start").onclick = () => scanner.start();
  $("camera-stop").onclick = () => scanner.stop();
  $("photo-input").onchange = () => scanner.readPhoto($("photo-input"));
  // A hardware scanner types the code and presses Enter, which submits the form.
  $("scan-form").onsubmit = (event) => { event.preventDefault(); check($("pz-code").value); };
  $("confirm-claim").onclick = confirmClaim;
  $("scan-next").onclick = () => {
    $("verdict").hidden = true;
    $("pz-code").value = "";
    $("pz-code").focus();
  };
  $("sync-now").onclick = sync;
}

function network() {
  $("net-state").textContent = navigator.onLine ? t("online") : t("offline");
  $("net-state").classList.toggle("status-written_off", !navigator.onLine);
}

async function startTerminal() {
  const me = await signedIn("terminal", ["terminal", "merchant"], t("terminals and merchants"));
  if (!me) return;
  term.me = me;
  $("terminal-name").textContent = me.name + (me.role === "merchant"
    ? " (" + roleName("merchant") + ")" : "");
  setUpScanning();
  saveQueue(queue());
  network();
  window.addEventListener("offline", network);
  window.addEventListener("online", () => { network(); sync(); });
  // Keep the published signing key for offline checks.
  api("/v1/prize-codes/signer").then((s) => localStorage.setItem(SIGNER_KEY, JSON.stringify(
    { address: s.address, key_id: s.key_id }))).catch(() => {});
  if (navigator.onLine) sync();
  $("pz-code").focus();
}

document.addEventListener("DOMContentLoaded", () => {
  if ($("terminal")) startTerminal();
});
})();
