// Prize write-off: helpers shared by the prize pages, and the merchant's
// campaign console (/prizes). Uses api(), $() and whoAmI() from app.js and
// the helpers of promotions.js (both loaded first; the scripts are deferred).
"use strict";

(() => {
const { show, problemText, cell, link, newKey, signedIn, when } = window.CouponChainPromotions;

// ------------------------------------------------------------ shared helpers

const PREFIX = "CCPZ2.";
const CODE_LENGTH = 246;  // PREFIX + base64url of 180 bytes (domain/prize_codes.py)
const MAX_LIFETIME = 30;
const CLOCK_SKEW = 5;

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function uint(bytes) {
  return bytes.reduce((n, b) => n * 256n + BigInt(b), 0n);
}

// The fields of a prize code, or an Error saying why it is not one. The
// signature is not checked here: that needs secp256k1, which the server does.
function parseCode(text) {
  const code = String(text).trim();
  if (!code.startsWith(PREFIX)) {
    return new Error(t("a prize code starts with {prefix}", { prefix: PREFIX }));
  }
  if (code.length !== CODE_LENGTH) {
    return new Error(t("a prize code has {count} characters", { count: CODE_LENGTH }));
  }
  const body = code.slice(PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(body)) return new Error(t("a prize code is base64url"));
  const binary = atob(body.replace(/-/g, "+").replace(/_/g, "/"));
  const raw = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  const awardId = uint(raw.slice(0, 8));
  if (awardId === 0n) return new Error(t("award id 0 does not exist"));
  const issuedAt = Number(uint(raw.slice(28, 33)));
  return { code, awardId: String(awardId), consumer: "0x" + hex(raw.slice(8, 28)),
           issuedAt, lifetime: raw[33], expiry: issuedAt + raw[33],
           nonce: String(uint(raw.slice(34, 42))), keyId: hex(raw.slice(42, 46)) };
}

// True when a request never got an answer (offline, server unreachable).
function isNetworkError(error) {
  return !error.problem && (error instanceof TypeError || !navigator.onLine);
}

window.CouponChainPrizes = { PREFIX, MAX_LIFETIME, CLOCK_SKEW, parseCode, isNetworkError };

// ------------------------------------------------------------ merchant console

const con = { campaigns: [], prizes: new Map() };

function addPrizeRow(name, quantity) {
  const row = document.createElement("div");
  row.className = "inline prize-row";
  row.innerHTML = '<input class="prize-name" required maxlength="32">' +
    '<input class="prize-quantity" type="number" min="1" step="1" required>';
  const nameInput = row.querySelector(".prize-name");
  nameInput.placeholder = t("Mug");
  nameInput.setAttribute("aria-label", t("prize name"));
  const quantityInput = row.querySelector(".prize-quantity");
  quantityInput.placeholder = t("quantity");
  quantityInput.setAttribute("aria-label", t("quantity"));
  row.querySelector(".prize-name").value = name || "";
  row.querySelector(".prize-quantity").value = quantity || "";
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "secondary";
  remove.textContent = t("Remove");
  remove.onclick = () => { if ($("prize-rows").children.length > 1) row.remove(); };
  row.appendChild(remove);
  $("prize-rows").appendChild(row);
}

function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
         `T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function renderTerminals(terminals) {
  const boxes = $("terminal-boxes");
  boxes.replaceChildren();
  $("terminals-empty").hidden = terminals.length > 0;
  for (const terminal of terminals) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = terminal.id;
    box.className = "terminal-box";
    label.append(box, ` ${terminal.name} `);
    const id = document.createElement("code");
    id.textContent = terminal.id;
    label.appendChild(id);
    boxes.appendChild(label);
  }
  $("pc-all").onchange = () => boxes.querySelectorAll("input")
    .forEach((b) => { b.disabled = $("pc-all").checked; });
}

const CAMPAIGN_STATUS = { upcoming: t("upcoming"), open: t("claims open"), ended: t("ended") };

// A row of the campaigns list (lists.js pages, filters and exports it).
function campaignRow(c) {
  const row = document.createElement("tr");
  row.dataset.id = c.id;
  row.dataset.status = c.status;
  cell(row, link("/prizes/" + c.id, `#${c.id} ${c.title}`));
  cell(row, `${when(c.starts_at)} – ${when(c.ends_at)}`, "when");
  cell(row, CAMPAIGN_STATUS[c.status] || c.status, "campaign-status");
  cell(row, `${c.claimed} / ${c.awarded}`, "amount");
  return row;
}

// The award form's campaign choice (the newest campaigns), and the list again.
function renderCampaigns(campaigns) {
  $("campaigns-empty").hidden = campaigns.length > 0;
  if (con.list) con.list.reload();
  const select = $("aw-campaign");
  const chosen = select.value;
  select.replaceChildren(...campaigns.map((c) => new Option(`#${c.id} ${c.title}`, c.id)));
  if (chosen && campaigns.some((c) => String(c.id) === chosen)) select.value = chosen;
}

async function loadPrizes() {
  const id = $("aw-campaign").value;
  const select = $("aw-prize");
  if (!id) { select.replaceChildren(); return; }
  const c = await api("/v1/prize-campaigns/" + id);
  const chosen = select.value;
  select.replaceChildren(...c.prizes.map((p) =>
    new Option(t("{prize} — {left} of {quantity} to award",
                 { prize: p.name, left: p.unawarded, quantity: p.quantity }), p.index)));
  if (chosen && c.prizes.some((p) => String(p.index) === chosen)) select.value = chosen;
}

async function refreshConsole() {
  const data = await api("/prizes/console.json");
  con.campaigns = data.campaigns;
  renderCampaigns(data.campaigns);
  return data;
}

function campaignBody() {
  const prizes = [...document.querySelectorAll("#prize-rows .prize-row")].map((r) => ({
    name: r.querySelector(".prize-name").value.trim(),
    quantity: Number(r.querySelector(".prize-quantity").value) }));
  const all = $("pc-all").checked;
  const body = { title: $("pc-title").value.trim(), prizes, all_terminals: all,
                 terminals: all ? [] : [...document.querySelectorAll(".terminal-box:checked")]
                   .map((b) => b.value),
                 ends_at: new Date($("pc-ends").value).toISOString(),
                 per_consumer_limit: Number($("pc-limit").value) };
  if ($("pc-starts").value) body.starts_at = new Date($("pc-starts").value).toISOString();
  return body;
}

function setUpConsoleForms() {
  addPrizeRow("", "");
  $("add-prize").onclick = () => addPrizeRow("", "");
  $("pc-ends").value = localInput(new Date(Date.now() + 7 * 86400 * 1000));
  $("campaign-form").onsubmit = async (event) => {
    event.preventDefault();
    const box = $("campaign-result");
    show(box, t("Creating the campaign on chain…"));
    try {
      const c = await api("/v1/prize-campaigns", { method: "POST", body: JSON.stringify(
        campaignBody()), headers: { "Idempotency-Key": newKey() } });
      show(box, "");
      box.append(t("Created campaign #{id} “{title}” (block {block}). ",
                   { id: c.id, title: c.title, block: c.block_number }),
                 link("/prizes/" + c.id, t("Open its live dashboard")));
      await refreshConsole();
      $("aw-campaign").value = String(c.id);
      await loadPrizes();
    } catch (error) {
      show(box, t("Not created: {error}", { error: problemText(error) }), true);
    }
  };
  $("aw-campaign").onchange = () => loadPrizes().catch(() => {});
  $("award-form").onsubmit = async (event) => {
    event.preventDefault();
    const box = $("award-result");
    const consumers = window.CouponChainPicker.values($("aw-consumers"));
    const index = Number($("aw-prize").value);
    if (!consumers.length) { show(box, t("Pick at least one winner."), true); return; }
    show(box, consumers.length === 1
      ? t("Awarding {count} prize on chain…", { count: consumers.length })
      : t("Awarding {count} prizes on chain…", { count: consumers.length }));
    try {
      const a = await api(`/v1/prize-campaigns/${$("aw-campaign").value}/awards`, {
        method: "POST", headers: { "Idempotency-Key": newKey() },
        body: JSON.stringify({ awards: consumers.map((c) => ({ consumer: c, prize_index: index })) }) });
      const ids = a.awards.map((x) => "#" + x.id);
      show(box, t("Awarded {count} × {prize}: award {ids} (block {block}). The winners see " +
                  "their code on “My prizes”.",
                  { count: a.awarded, prize: a.awards[0].prize_name, block: a.block_number,
                    ids: ids.length > 3 ? ids[0] + " … " + ids[ids.length - 1] : ids.join(", ") }));
      window.CouponChainPicker.clear($("aw-consumers"));
      await refreshConsole();
      await loadPrizes();
    } catch (error) {
      show(box, t("Not awarded: {error}", { error: problemText(error) }), true);
    }
  };
}

async function startConsole() {
  const me = await signedIn("prizes", ["merchant"], t("merchants"));
  if (!me) return;
  con.list = makeList({ id: "campaigns", url: () => "/v1/prize-campaigns", rows: "campaigns",
                        render: campaignRow });
  setUpConsoleForms();
  try {
    const data = await refreshConsole();
    renderTerminals(data.terminals);
    await loadPrizes();
  } catch (error) {
    show($("campaign-result"), t("Campaigns: {error}", { error: problemText(error) }), true);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  if ($("prizes")) startConsole();
});
})();
