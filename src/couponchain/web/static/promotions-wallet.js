// The consumer's wallet (/wallet): promotion coupons, a consent QR to show at
// the till (with its countdown), transfers, a coupon's path, and payouts with
// a Withdraw button. Helpers come from promotions.js. A consent names the
// merchant it is for (or any merchant, when the holder picks that) and the
// largest order it covers; the contract refuses every other till and amount.
"use strict";

(() => {
const { REFRESH_MS, ccc, toUnits, json, problemText, show, cell, link, button, when, newKey,
        signedIn, word } = window.CouponChainPromotions;
const wallet = { me: null, coupons: "", countdown: null, withdrawKey: null, merchants: null };

function stopConsent() {
  clearInterval(wallet.countdown);
  wallet.countdown = null;
  $("consent-section").hidden = true;
}

function tickConsent(expiry) {
  const left = expiry - Math.floor(Date.now() / 1000);
  const qr = $("consent-qr");
  if (left > 0) {
    $("consent-countdown").textContent =
      `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    return;
  }
  clearInterval(wallet.countdown);
  $("consent-countdown").textContent = t("expired — show a new code");
  $("consent-countdown").classList.add("error");
  qr.classList.add("expired");
}

async function merchants() {
  if (!wallet.merchants) wallet.merchants = (await api("/v1/merchants?limit=500")).items;
  return wallet.merchants;
}

// The holder chooses who may use the consent and for how much, then sees the QR.
async function consentForm(coupon, item) {
  if (item.querySelector(".consent-form")) return;
  const form = document.createElement("form");
  form.className = "inline consent-form";
  const merchant = document.createElement("select");
  merchant.className = "consent-merchant";
  merchant.setAttribute("aria-label", t("for merchant"));
  merchant.append(new Option(t("choose the merchant"), ""));
  try {
    for (const m of await merchants()) merchant.append(new Option(m.name, m.id));
  } catch (error) {
    show($("wallet-result"), t("No merchants: {error}", { error: problemText(error) }), true);
  }
  merchant.append(new Option(t("any merchant"), "any"));
  merchant.required = true;
  const max = document.createElement("input");
  max.className = "consent-max";
  max.required = true;
  max.inputMode = "decimal";
  max.placeholder = t("largest order, CCC");
  max.setAttribute("aria-label", t("largest order, CCC"));
  const go = document.createElement("button");
  go.type = "submit";
  go.textContent = t("Show QR");
  form.append(merchant, max, go);
  form.onsubmit = (event) => {
    event.preventDefault();
    showConsent(coupon, merchant.value, max.value);
  };
  item.appendChild(form);
  merchant.focus();
}

function ownKey() {
  if (!window.deviceKey || !window.deviceKey.address()) {
    throw new Error(t("your account signs with its own key, which is not in this browser: " +
                      "restore it on the device key page (/keys/device)"));
  }
  return window.deviceKey;
}

async function showConsent(coupon, merchant, max) {
  const box = $("wallet-result");
  try {
    const body = { merchant, max_order_amount: toUnits(max, "max_order_amount") };
    // A holder with its own key signs the consent in this browser (device-key.js);
    // the server signs a custodial holder's.
    const c = wallet.me.custody === "own"
      ? await ownKey().consent(coupon.id, body)
      : await api(`/v1/promotion-coupons/${coupon.id}/consent`,
                  { method: "POST", body: json(body) });
    stopConsent();
    $("consent-merchant").textContent = c.merchant ? (c.merchant_name || c.merchant)
                                                   : t("any merchant");
    $("consent-max").textContent = ccc(c.max_order_amount);
    $("consent-qr").src = c.qr_svg;
    $("consent-qr").classList.remove("expired");
    $("consent-countdown").classList.remove("error");
    $("consent-coupon").textContent = "#" + c.coupon_id;
    $("consent-code").textContent = c.code;
    $("consent-section").hidden = false;
    box.hidden = true;
    tickConsent(c.expiry);
    wallet.countdown = setInterval(() => tickConsent(c.expiry), 1000);
    $("consent-section").scrollIntoView({ block: "start" });
  } catch (error) {
    show(box, t("No consent code: {error}", { error: problemText(error) }), true);
  }
}

function transferForm(coupon, item) {
  if (item.querySelector("form")) return;
  const form = document.createElement("form");
  form.className = "inline";
  const to = document.createElement("input");
  to.required = true;
  to.maxLength = 42;
  to.placeholder = t("consumer id or 0x address");
  to.setAttribute("aria-label", t("transfer to"));
  const send = document.createElement("button");
  send.type = "submit";
  send.textContent = t("Send");
  form.append(to, send);
  form.onsubmit = async (event) => {
    event.preventDefault();
    const box = $("wallet-result");
    show(box, t("Passing coupon #{id} on, on chain…", { id: coupon.id }));
    try {
      // A holder with its own key signs the transfer in this browser (device-key.js).
      if (wallet.me.custody === "own") {
        await ownKey().transferCoupon(coupon.id, to.value.trim(), newKey());
      } else {
        await api(`/v1/promotion-coupons/${coupon.id}/transfer`, {
          method: "POST", headers: { "Idempotency-Key": newKey() },
          body: JSON.stringify({ to: to.value.trim() }) });
      }
      show(box, t("Coupon #{id} now belongs to {to}.", { id: coupon.id, to: to.value.trim() }));
      refreshCoupons();
    } catch (error) {
      show(box, t("Not transferred: {error}", { error: problemText(error) }), true);
    }
  };
  item.appendChild(form);
  to.focus();
}

async function showPath(coupon) {
  try {
    const detail = await api("/v1/promotion-coupons/" + coupon.id);
    $("path-coupon").textContent = "#" + coupon.id;
    const body = $("path-rows");
    body.replaceChildren();
    for (const p of detail.path) {
      const row = document.createElement("tr");
      cell(row, when(p.at), "when");
      cell(row, word(p.action));
      cell(row, p.by_name || p.by);
      cell(row, p.amount === null ? "" : ccc(p.amount), "amount");
      body.appendChild(row);
    }
    $("path-section").hidden = false;
    $("path-section").scrollIntoView({ block: "nearest" });
  } catch (error) {
    show($("wallet-result"), t("No path: {error}", { error: problemText(error) }), true);
  }
}

function renderCoupons(coupons) {
  const list = $("wallet-coupons");
  list.replaceChildren();
  $("wallet-empty").hidden = coupons.length > 0;
  for (const c of coupons) {
    const item = document.createElement("li");
    item.dataset.id = c.id;
    const head = document.createElement("p");
    head.append(link("/promotion-coupons/" + c.id, "#" + c.id),
                " · " + t("round {id}", { id: c.round_id }) + " · " + word(c.status),
                c.issuer_name ? " · " + t("from {issuer}", { issuer: c.issuer_name }) : "",
                c.pool !== null ? " · " + t("pool {amount}", { amount: ccc(c.pool) }) : "");
    item.appendChild(head);
    const actions = document.createElement("p");
    actions.className = "actions";
    if (c.status === "active") {
      actions.append(button(t("Show consent QR"), () => consentForm(c, item), "consent-button"),
                     button(t("Transfer"), () => transferForm(c, item), "secondary"));
    }
    actions.append(button(t("Path"), () => showPath(c), "secondary"));
    item.appendChild(actions);
    list.appendChild(item);
  }
}

async function refreshCoupons() {
  const page = await api("/v1/promotion-coupons?limit=500&holder=" +
                         encodeURIComponent(wallet.me.id));
  const seen = JSON.stringify(page.coupons);
  if (seen === wallet.coupons) return; // keep open transfer forms while nothing changed
  wallet.coupons = seen;
  renderCoupons(page.coupons);
}

async function refreshPayouts() {
  const p = await api("/v1/payouts/me");
  $("payout-claimable").textContent = ccc(p.total_claimable);
  $("payout-balance").textContent = ccc(p.token_balance);
  $("withdraw").disabled = BigInt(p.total_claimable) === 0n;
  const body = $("payout-rows");
  body.replaceChildren();
  for (const e of p.entries) {
    const row = document.createElement("tr");
    cell(row, when(e.at), "when");
    const why = cell(row, word(e.part));
    if (e.source === "promotions" && e.reference) {
      why.append(" " + t("of"), " ", link("/promotion-coupons/" + e.reference, "#" + e.reference));
    } else if (e.reference) {
      why.append(" " + e.reference);
    }
    cell(row, ccc(e.amount), "amount");
    body.appendChild(row);
  }
}

function setUpWithdraw() {
  $("withdraw").onclick = async () => {
    const box = $("withdraw-result");
    $("withdraw").disabled = true;
    show(box, t("Withdrawing on chain…"));
    wallet.withdrawKey = wallet.withdrawKey || newKey(); // a retry withdraws once
    try {
      // An account with its own key signs the withdrawal in this browser (device-key.js);
      // the contract pays the signer only.
      const w = wallet.me.custody === "own"
        ? await ownKey().withdrawPayout(wallet.withdrawKey)
        : await api("/v1/payouts/me/withdraw", {
          method: "POST", headers: { "Idempotency-Key": wallet.withdrawKey } });
      wallet.withdrawKey = null;
      show(box, t("Withdrew {amount}; you now hold {balance}.",
                  { amount: ccc(w.total), balance: ccc(w.token_balance) }));
    } catch (error) {
      if (error.problem && error.problem.status) wallet.withdrawKey = null;
      show(box, t("Not withdrawn: {error}", { error: problemText(error) }), true);
    }
    refreshPayouts().catch(() => {});
  };
}

async function startWallet() {
  const me = await signedIn("wallet", ["consumer", "merchant", "terminal", "platform"],
                            t("participants"));
  if (!me) return;
  wallet.me = me;
  showCustody($("wallet-custody"), me);
  $("consent-close").onclick = stopConsent;
  setUpWithdraw();
  if (me.role !== "consumer") $("coupons-section").hidden = true;
  const loop = async () => {
    try {
      await refreshPayouts();
      if (me.role === "consumer") await refreshCoupons();
    } catch (error) {
      show($("wallet-result"), t("Could not refresh: {error}", { error: problemText(error) }), true);
    }
    setTimeout(loop, REFRESH_MS);
  };
  loop();
}

document.addEventListener("DOMContentLoaded", () => {
  if ($("wallet")) startWallet();
});
})();
