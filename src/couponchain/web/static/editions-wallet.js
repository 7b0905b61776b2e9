// Limited-edition coupons in the consumer's wallet (/wallet, issue 24): the coupons
// held (GET /v1/customers/me/edition-coupons, paged), each with its status, validity
// in the reader's time zone, price in display units and its public proof page; a
// "Show at the till" QR (a code the holder's key signs, valid a few minutes, that the
// till's scanner reads; an own-key holder signs it here with the device key) and a transfer to another consumer's customer number.
// Helpers come from promotions.js.
"use strict";

(() => {
const { REFRESH_MS, ccc, problemText, show, link, button, when, newKey, json, word } =
  window.CouponChainPromotions;
const held = { me: null, seen: "", cursor: null, rows: [], countdown: null, shown: null };

function stopCode() {
  clearInterval(held.countdown);
  held.countdown = null;
  held.shown = null;
  $("edition-code-section").hidden = true;
}

function tick(expiry) {
  const left = expiry - Math.floor(Date.now() / 1000);
  if (left > 0) {
    $("edition-code-countdown").textContent =
      `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    return;
  }
  clearInterval(held.countdown);
  $("edition-code-countdown").textContent = t("expired — show a new code");
  $("edition-code-countdown").classList.add("error");
  $("edition-code-qr").classList.add("expired");
}

function ownKey() {
  if (!window.deviceKey || !window.deviceKey.address()) {
    throw new Error(t("your account signs with its own key, which is not in this browser: " +
                      "restore it on the device key page (/keys/device)"));
  }
  return window.deviceKey;
}

async function showCode(coupon) {
  const box = $("editions-result");
  try {
    // A holder with its own key signs the code in this browser (device-key.js); the
    // server signs a custodial holder's.
    const c = held.me.custody === "own"
      ? await ownKey().editionCode(coupon.serial)
      : await api(`/v1/coupons/${encodeURIComponent(coupon.serial)}/redemption-code`,
                  { method: "POST", body: json({}) });
    stopCode();
    held.shown = coupon.serial;
    $("edition-code-title").textContent = `${coupon.brand} · ${coupon.title}`;
    $("edition-code-serial").textContent = c.serial;
    $("edition-code-qr").src = c.qr_svg;
    $("edition-code-qr").classList.remove("expired");
    $("edition-code-countdown").classList.remove("error");
    $("edition-code-text").textContent = c.code;
    $("edition-code-section").hidden = false;
    box.hidden = true;
    tick(c.expiry);
    held.countdown = setInterval(() => tick(c.expiry), 1000);
    $("edition-code-section").scrollIntoView({ block: "start" });
  } catch (error) {
    show(box, t("No code: {error}", { error: problemText(error) }), true);
  }
}

function transferForm(coupon, item) {
  if (item.querySelector("form")) return;
  const form = document.createElement("form");
  form.className = "inline edition-transfer";
  const to = document.createElement("input");
  to.required = true;
  to.maxLength = 64;
  to.autocomplete = "off";
  to.placeholder = t("their customer number");
  to.setAttribute("aria-label", t("give to (their customer number, shown in their wallet)"));
  const send = document.createElement("button");
  send.type = "submit";
  send.textContent = t("Give");
  form.append(to, send);
  form.onsubmit = async (event) => {
    event.preventDefault();
    const box = $("editions-result");
    const receiver = window.CouponChainPicker.value(to);
    show(box, t("Giving {serial} away, on chain…", { serial: coupon.serial }));
    try {
      const r = await api(`/v1/coupons/${encodeURIComponent(coupon.serial)}/transfer`, {
        method: "POST", headers: { "Idempotency-Key": newKey() }, body: json({ to: receiver }) });
      // The customer number in groups of four, as the receiver's wallet shows it.
      const to = String(r.coupon.owner_id || receiver).replace(/(.{4})(?=.)/g, "$1 ");
      show(box, t("{serial} now belongs to customer {to}.", { serial: coupon.serial, to }));
      if (held.shown === coupon.serial) stopCode();
      await refresh(true);
    } catch (error) {
      show(box, t("Not given: {error}", { error: problemText(error) }), true);
    }
  };
  item.appendChild(form);
  to.focus();
}

function render() {
  const list = $("edition-coupons");
  list.replaceChildren();
  $("editions-empty").hidden = held.rows.length > 0;
  for (const c of held.rows) {
    const item = document.createElement("li");
    item.dataset.serial = c.serial;
    const head = document.createElement("p");
    const title = document.createElement("strong");
    title.textContent = c.title;
    head.append(title, " · " + c.brand + " · ", word(c.status));
    const facts = document.createElement("p");
    facts.className = "note";
    facts.append(
      t("Valid {from} – {until}", { from: when(c.valid_from), until: when(c.valid_until) }),
      " · " + t("paid {amount}", { amount: ccc(c.price_paid) }) + " · ",
      link("/coupons/" + encodeURIComponent(c.serial), t("{serial}: public proof", { serial: c.serial })));
    item.append(head, facts);
    if (c.status === "active") {
      const actions = document.createElement("p");
      actions.className = "actions";
      actions.append(button(t("Show at the till"), () => showCode(c), "edition-show"),
                     button(t("Give to someone"), () => transferForm(c, item), "secondary"));
      item.appendChild(actions);
    }
    list.appendChild(item);
  }
  $("editions-more").hidden = held.cursor === null;
}

// The first page, again every few seconds (kept while nothing changed, so an open
// transfer form stays); "More" appends the next pages.
async function refresh(force) {
  const page = await api("/v1/customers/me/edition-coupons?limit=50");
  const seen = JSON.stringify(page.coupons);
  if (!force && seen === held.seen) return;
  held.seen = seen;
  held.rows = page.coupons;
  held.cursor = page.next_cursor;
  render();
}

async function more() {
  const page = await api("/v1/customers/me/edition-coupons?limit=50&cursor=" + held.cursor);
  held.rows.push(...page.coupons);
  held.cursor = page.next_cursor;
  render();
}

async function start() {
  const me = await whoAmI();
  if (!me || me.role !== "consumer") return;
  held.me = me;
  $("editions-section").hidden = false;
  $("edition-code-close").onclick = stopCode;
  $("editions-more").onclick = () => more().catch((error) =>
    show($("editions-result"), problemText(error), true));
  const loop = async () => {
    try { await refresh(false); } catch (error) {
      show($("editions-result"), t("Could not refresh: {error}", { error: problemText(error) }), true);
    }
    setTimeout(loop, REFRESH_MS);
  };
  loop();
}

document.addEventListener("DOMContentLoaded", () => {
  if ($("editions-section")) start();
});
})();
