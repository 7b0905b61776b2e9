// CouponChain pages. Signing in posts the API key once to /v1/sessions: the
// browser then holds a session cookie (HttpOnly: no script reads it) and a CSRF
// token cookie, sent back in X-CSRF-Token on every write. Nothing secret is kept
// in localStorage. No build step, no framework.
"use strict";

const $ = (id) => document.getElementById(id);

// The page's translations of the scripts' messages (msgid -> text), rendered by
// base.html from the message catalogue; empty in English.
const MESSAGES = (() => {
  try { return JSON.parse(document.getElementById("messages").textContent) || {}; }
  catch { return {}; }
})();

// A message in the page's language, its {name} placeholders filled from params.
// Babel extracts the msgids of t("...") calls, so pass a string literal.
function t(msgid, params) {
  const text = Object.prototype.hasOwnProperty.call(MESSAGES, msgid) ? MESSAGES[msgid] : msgid;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (all, name) =>
    (Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : all));
}

// Like t(), but as parts for Element.append(): a param may be a DOM node (a link).
function tParts(msgid, params) {
  return t(msgid).split(/(\{\w+\})/).filter((part) => part !== "").map((part) => {
    const name = /^\{(\w+)\}$/.exec(part);
    if (!name || !Object.prototype.hasOwnProperty.call(params, name[1])) return part;
    const value = params[name[1]];
    return value instanceof Node ? value : String(value);
  });
}

const ROLE_NAMES = { platform: t("platform"), merchant: t("merchant"), terminal: t("terminal"),
                     consumer: t("consumer") };
function roleName(role) {
  return ROLE_NAMES[role] || role;
}

// The language switch remembers the choice in a cookie that the server reads.
function setUpLanguages() {
  document.querySelectorAll("a[data-lang]").forEach((a) => {
    a.onclick = (event) => {
      event.preventDefault();
      document.cookie = "lang=" + a.dataset.lang + "; path=/; max-age=31536000; samesite=lax";
      const url = new URL(location.href);
      url.searchParams.delete("lang");
      location.href = url.toString();
    };
  });
}

// The CSRF token of this browser's session (a cookie scripts may read), or "".
function csrfToken() {
  const found = document.cookie.split("; ").find((c) => c.startsWith("cc_csrf="));
  return found ? decodeURIComponent(found.slice("cc_csrf=".length)) : "";
}

async function api(path, options = {}) {
  const headers = Object.assign({ "content-type": "application/json" }, options.headers || {});
  const method = (options.method || "GET").toUpperCase();
  if (!["GET", "HEAD", "OPTIONS"].includes(method) && csrfToken()) {
    headers["x-csrf-token"] = csrfToken();
  }
  const response = await fetch(path, Object.assign({ credentials: "same-origin" }, options,
                                                   { headers }));
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.detail || response.statusText);
    error.problem = body;
    throw error;
  }
  return body;
}

async function whoAmI() {
  if (!csrfToken()) return null; // no session cookie pair: not signed in
  try { return await api("/v1/participants/me"); } catch { return null; }
}

// Sign this browser in with an API key: the key goes to the server once, in
// exchange for a session cookie. True when the key was accepted.
async function signIn(key) {
  try {
    await api("/v1/sessions", { method: "POST", headers: { authorization: "Bearer " + key } });
    return true;
  } catch { return false; }
}

async function signOut() {
  try { await api("/v1/sessions/current", { method: "DELETE" }); } catch { /* gone already */ }
  location.href = "/";
}

// The navigation shows each role its own pages (data-roles on each link, see
// templates/nav.html); signed out, the links marked "anyone".
function showNav(me) {
  const role = me ? me.role : "anyone";
  for (const link of document.querySelectorAll("#site-nav a[data-roles]")) {
    link.hidden = !link.dataset.roles.split(" ").includes(role);
  }
}

// On a phone the navigation folds behind the Menu button (app.css shows the button).
function setUpMenu() {
  const toggle = $("menu-toggle");
  if (!toggle) return;
  toggle.onclick = () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    document.body.classList.toggle("menu-open", open);
  };
}

// "7 Dec 2026, 14:43" in the reader's language and time zone, from an ISO text or
// epoch seconds; "" for none. Every page writes its dates with this.
function localTime(value) {
  if (value === null || value === undefined || value === "") return "";
  const at = typeof value === "number" || /^\d+$/.test(String(value))
    ? new Date(Number(value) * 1000) : new Date(value);
  if (Number.isNaN(at.getTime())) return String(value);
  return at.toLocaleString(document.documentElement.lang || undefined,
                           { dateStyle: "medium", timeStyle: "short" });
}

// The server writes moments as <time datetime=… data-local> in UTC (web/display.py):
// rewritten here in local time, the UTC text kept as the tooltip.
function localizeTimes(root = document) {
  for (const el of root.querySelectorAll("time[data-local]")) {
    if (!el.title) el.title = el.textContent;
    el.textContent = localTime(el.dateTime);
  }
}

// An address or a hash for auditors, behind a toggle (as templates/people.html does):
// <details><summary>label</summary><code>value</code></details>.
function auditDetails(value, label) {
  const details = document.createElement("details");
  details.className = "audit";
  const summary = document.createElement("summary");
  summary.textContent = label || t("details");
  const code = document.createElement("code");
  code.textContent = value || "";
  details.append(summary, code);
  return details;
}

function showHeader(me) {
  showNav(me);
  if (!me) return;
  $("who").textContent = me.name + " (" + roleName(me.role) + ")";
  $("signin-link").hidden = true;
  if ($("signup-link")) $("signup-link").hidden = true;
  if ($("account-link")) $("account-link").hidden = false;
  if ($("keys-link")) $("keys-link").hidden = false;
  $("signout").hidden = false;
  $("signout").onclick = signOut;
}

const CREATABLE = { platform: ["merchant", "terminal", "consumer"], merchant: ["terminal", "consumer"] };

// The home page's demo tour: open a page signed in as the participant who uses it.
function setUpTour() {
  for (const link of document.querySelectorAll("a.act-as")) {
    link.onclick = async (event) => {
      event.preventDefault();
      await signIn(link.dataset.key);
      location.href = link.href;
    };
  }
}

function setUpSignin() {
  const form = $("signin-form");
  if (!form) return;
  form.onsubmit = async (event) => {
    event.preventDefault();
    const me = await signIn($("api-key").value.trim()) ? await whoAmI() : null;
    // Back to the page that sent the person to sign in (a promotion link, say).
    const next = form.closest("main").querySelector("[data-next]");
    if (me) { location.href = (next && next.dataset.next) || "/me"; return; }
    $("signin-error").textContent = t("This API key is not known here. Check it and try again.");
    $("signin-error").hidden = false;
  };
}

// Who holds a participant's chain key (issue 23): the server (custodial) or the
// participant (its own key, made on a device or in a wallet: /keys/device).
function showCustody(cell, me) {
  const link = document.createElement("a");
  link.href = "/keys/device";
  if (me.custody === "own") {
    link.textContent = t("your device key");
    cell.replaceChildren(...tParts("You do: you sign with your own key ({link}); the server " +
                                   "never sees it.", { link }));
  } else {
    link.textContent = t("hold your own key");
    cell.replaceChildren(...tParts("The platform, for you (custodial). Consumers may {link} " +
                                   "instead.", { link }));
  }
}

function setUpMe(me) {
  if (!$("me-table")) return;
  if (!me) { $("me-empty").hidden = false; return; }
  $("me-title").textContent = t("Hello, {name}", { name: me.name });
  $("me-role").textContent = roleName(me.role);
  $("me-name").textContent = me.name;
  $("me-address").textContent = me.address;
  $("me-merchant").textContent = me.merchant_id
    ? t("terminal of merchant {id}", { id: me.merchant_id }) : t("yes");
  if ($("me-custody")) showCustody($("me-custody"), me);
  $("me-table").hidden = false;
  const roles = CREATABLE[me.role];
  if (!roles) return;
  $("create-section").hidden = false;
  $("create-role").innerHTML = roles.map((r) => `<option value="${r}">${roleName(r)}</option>`).join("");
  $("create-form").onsubmit = async (event) => {
    event.preventDefault();
    const role = $("create-role").value;
    const result = $("create-result");
    result.hidden = false;
    result.textContent = t("Registering on chain…");
    try {
      const body = { name: $("create-name").value };
      if (role === "terminal" && me.role === "merchant") body.merchant_id = me.id;
      const created = await api("/v1/" + role + "s", {
        method: "POST", body: JSON.stringify(body),
        headers: { "Idempotency-Key": crypto.randomUUID() },
      });
      result.textContent = t("Created {role} {name} at {address} (block {block}). " +
        "API key, shown once: {key}", { role: roleName(created.role), name: created.name,
        address: created.address, block: created.block_number, key: created.api_key });
    } catch (error) {
      result.textContent = t("Could not create: {error}", { error: error.message });
    }
  };
}

const heads = [], headTimes = [];
async function refreshStatus() {
  if (!$("health")) return;
  try {
    const h = await api("/v1/health");
    $("h-status").textContent = h.status;
    $("h-head").textContent = h.chain_head;
    $("h-indexed").textContent = h.indexed_block;
    $("h-lag").textContent = h.indexer_lag;
    $("h-outbox").textContent = h.outbox_depth;
    $("h-restarts").textContent = h.node_restarts;
    heads.push(h.chain_head || 0);
    headTimes.push(Date.now() / 1000);
    if (heads.length > 120) { heads.shift(); headTimes.shift(); }
    CouponChainCharts.time($("head-chart"), {
      kind: "line", x: headTimes, integer: true,
      series: [{ label: t("chain head"), values: heads }] });
  } catch (error) {
    $("h-status").textContent = t("unreachable: {error}", { error: error.message });
  }
  setTimeout(refreshStatus, 2000);
}

document.addEventListener("DOMContentLoaded", async () => {
  localizeTimes();
  setUpLanguages();
  setUpMenu();
  setUpSignin();
  setUpTour();
  const me = await whoAmI();
  showHeader(me);
  setUpMe(me);
  refreshStatus();
});
