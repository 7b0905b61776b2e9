// The holder's page (/holdings): units per product and batch, rebates (as a
// promoter and as a holder of earlier units, settled or pending), a signed
// promotion link as QR and copyable URL, and payouts with a Withdraw button.
// Helpers come from promotions.js and referrals.js.
"use strict";

(() => {
const { REFRESH_MS, ccc, problemText, show, cell, link, button, when, newKey,
        signedIn, word } = window.CouponChainPromotions;
const { STATUS, answered } = window.CouponChainReferrals;
const page = { me: null, shown: "", withdrawKey: null };

function line(...parts) {
  const p = document.createElement("p");
  p.append(...parts);
  return p;
}

function units(h) {
  const parts = h.units_by_batch.map((u) => t("batch {batch} × {units}",
                                              { batch: u.batch, units: u.units }));
  return (h.units === 1 ? t("{count} unit", { count: h.units })
                        : t("{count} units", { count: h.units })) +
    (parts.length ? ` (${parts.join(", ")})` : "");
}

function rebateText(r, sales) {
  const params = { total: ccc(r.total), promoter: ccc(r.promoter), sales, holder: ccc(r.holder),
                   settled: ccc(r.holder_settled), pending: ccc(r.holder_pending) };
  return sales === 1
    ? t("Rebates {total}: as promoter {promoter} from {sales} sale; as holder {holder} " +
        "(settled {settled}, pending {pending})", params)
    : t("Rebates {total}: as promoter {promoter} from {sales} sales; as holder {holder} " +
        "(settled {settled}, pending {pending})", params);
}

function renderHoldings(h) {
  const list = $("holdings-list");
  list.replaceChildren();
  $("holdings-empty").hidden = h.products.length > 0;
  $("holdings-total").textContent = ccc(h.total_rebates);
  for (const p of h.products) {
    const item = document.createElement("li");
    item.dataset.id = p.id;
    const c = p.current || {};
    item.append(
      line(link("/products/" + p.id, `${p.name} (#${p.id})`),
           " · " + t("batch {batch}", { batch: p.current_batch }) + ` ${STATUS[c.status] || ""}`),
      line(units(p)));
    const rebates = line(rebateText(p.rebates, p.promoted_sales));
    rebates.className = "rebates";
    item.appendChild(rebates);
    const actions = document.createElement("p");
    actions.className = "actions";
    if (page.me.role === "consumer" && p.units > 0) {
      actions.append(button(t("Make my promotion link"), () => makeLink(p), "link-button"));
      if (!p.may_promote) {
        const note = document.createElement("span");
        note.className = "note";
        note.textContent = t("usable once batch {batch} opens", { batch: p.current_batch + 1 });
        actions.append(note);
      }
    }
    item.appendChild(actions);
    list.appendChild(item);
  }
}

async function makeLink(product) {
  const box = $("holdings-result");
  try {
    const l = await api(`/v1/products/${product.id}/links`, { method: "POST", body: "{}" });
    box.hidden = true;
    $("link-product").textContent = `${l.product_name} (#${l.product_id})`;
    $("link-qr").src = l.qr_svg;
    $("link-url").value = l.url;
    $("link-copied").textContent = "";
    $("link-expiry").textContent = new Date(l.expiry * 1000).toLocaleString();
    $("link-usable").textContent = l.usable_now
      ? t("Buyers can use it now.")
      : t("It works once the next batch opens (you hold units of the current batch only).");
    $("link-section").hidden = false;
    $("link-section").scrollIntoView({ block: "start" });
  } catch (error) {
    show(box, t("No link: {error}", { error: problemText(error) }), true);
  }
}

async function copyLink() {
  const input = $("link-url");
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    input.select(); // older browsers, or no clipboard permission
    document.execCommand("copy");
  }
  $("link-copied").textContent = t("Copied to the clipboard.");
}

async function refreshHoldings() {
  const h = await api("/v1/holdings/me");
  const seen = JSON.stringify(h);
  if (seen === page.shown) return;
  page.shown = seen;
  renderHoldings(h);
}

async function refreshPayouts() {
  const p = await api("/v1/payouts/me");
  $("ref-claimable").textContent = ccc(p.total_claimable);
  $("ref-balance").textContent = ccc(p.token_balance);
  $("ref-withdraw").disabled = BigInt(p.total_claimable) === 0n;
  const body = $("ref-payout-rows");
  body.replaceChildren();
  for (const e of p.entries) {
    const row = document.createElement("tr");
    cell(row, when(e.at), "when");
    cell(row, e.reference ? `${word(e.part)}, ${e.reference}` : word(e.part));
    cell(row, ccc(e.amount), "amount");
    body.appendChild(row);
  }
}

function setUpWithdraw() {
  $("ref-withdraw").onclick = async () => {
    const box = $("ref-withdraw-result");
    $("ref-withdraw").disabled = true;
    show(box, t("Withdrawing on chain…"));
    page.withdrawKey = page.withdrawKey || newKey(); // a retry withdraws once
    try {
      const w = await api("/v1/payouts/me/withdraw", {
        method: "POST", headers: { "Idempotency-Key": page.withdrawKey } });
      page.withdrawKey = null;
      show(box, t("Withdrew {amount}; you now hold {balance}.",
                  { amount: ccc(w.total), balance: ccc(w.token_balance) }));
    } catch (error) {
      if (answered(error)) page.withdrawKey = null;
      show(box, t("Not withdrawn: {error}", { error: problemText(error) }), true);
    }
    refreshPayouts().catch(() => {});
    refreshHoldings().catch(() => {});
  };
}

async function startHoldings() {
  const me = await signedIn("holdings", ["consumer"], t("consumers holding units"));
  if (!me) return;
  page.me = me;
  $("link-copy").onclick = copyLink;
  $("link-close").onclick = () => { $("link-section").hidden = true; };
  setUpWithdraw();
  const loop = async () => {
    try {
      await Promise.all([refreshHoldings(), refreshPayouts()]);
    } catch (error) {
      show($("holdings-result"), t("Could not refresh: {error}", { error: problemText(error) }), true);
    }
    setTimeout(loop, REFRESH_MS);
  };
  loop();
}

document.addEventListener("DOMContentLoaded", () => {
  if ($("holdings")) startHoldings();
});
})();
