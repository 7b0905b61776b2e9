// The holder's page (/holdings): units per product and batch, rebates (as a
// promoter and as a holder of earlier units, settled or pending), a signed
// promotion link as QR and copyable URL, and payouts with a Withdraw button.
// Helpers come from promotions.js and referrals.js.
"use strict";

(() => {
const { REFRESH_MS, ccc, problemText, show, cell, link, button, when, newKey,
        signedIn } = window.CouponChainPromotions;
const { STATUS, answered } = window.CouponChainReferrals;
const page = { me: null, shown: "", withdrawKey: null };

function line(...parts) {
  const p = document.createElement("p");
  p.append(...parts);
  return p;
}

function units(h) {
  const parts = h.units_by_batch.map((u) => `batch ${u.batch} × ${u.units}`);
  return `${h.units} unit${h.units === 1 ? "" : "s"}` +
    (parts.length ? ` (${parts.join(", ")})` : "");
}

function rebateText(r, sales) {
  return `Rebates ${ccc(r.total)}: as promoter ${ccc(r.promoter)} from ${sales} ` +
    `sale${sales === 1 ? "" : "s"}; as holder ${ccc(r.holder)} (settled ` +
    `${ccc(r.holder_settled)}, pending ${ccc(r.holder_pending)})`;
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
           ` · batch ${p.current_batch} ${STATUS[c.status] || ""}`),
      line(units(p)));
    const rebates = line(rebateText(p.rebates, p.promoted_sales));
    rebates.className = "rebates";
    item.appendChild(rebates);
    const actions = document.createElement("p");
    actions.className = "actions";
    if (page.me.role === "consumer" && p.units > 0) {
      actions.append(button("Make my promotion link", () => makeLink(p), "link-button"));
      if (!p.may_promote) {
        const note = document.createElement("span");
        note.className = "note";
        note.textContent = `usable once batch ${p.current_batch + 1} opens`;
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
      ? "Buyers can use it now."
      : "It works once the next batch opens (you hold units of the current batch only).";
    $("link-section").hidden = false;
    $("link-section").scrollIntoView({ block: "start" });
  } catch (error) {
    show(box, "No link: " + problemText(error), true);
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
  $("link-copied").textContent = "Copied to the clipboard.";
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
    cell(row, e.reference ? `${e.part}, ${e.reference}` : e.part);
    cell(row, ccc(e.amount), "amount");
    body.appendChild(row);
  }
}

function setUpWithdraw() {
  $("ref-withdraw").onclick = async () => {
    const box = $("ref-withdraw-result");
    $("ref-withdraw").disabled = true;
    show(box, "Withdrawing on chain…");
    page.withdrawKey = page.withdrawKey || newKey(); // a retry withdraws once
    try {
      const w = await api("/v1/payouts/me/withdraw", {
        method: "POST", headers: { "Idempotency-Key": page.withdrawKey } });
      page.withdrawKey = null;
      show(box, `Withdrew ${ccc(w.total)}; you now hold ${ccc(w.token_balance)}.`);
    } catch (error) {
      if (answered(error)) page.withdrawKey = null;
      show(box, "Not withdrawn: " + problemText(error), true);
    }
    refreshPayouts().catch(() => {});
    refreshHoldings().catch(() => {});
  };
}

async function startHoldings() {
  const me = await signedIn("holdings", ["consumer"], "consumers holding units");
  if (!me) return;
  page.me = me;
  $("link-copy").onclick = copyLink;
  $("link-close").onclick = () => { $("link-section").hidden = true; };
  setUpWithdraw();
  const loop = async () => {
    try {
      await Promise.all([refreshHoldings(), refreshPayouts()]);
    } catch (error) {
      show($("holdings-result"), "Could not refresh: " + problemText(error), true);
    }
    setTimeout(loop, REFRESH_MS);
  };
  loop();
}

document.addEventListener("DOMContentLoaded", () => {
  if ($("holdings")) startHoldings();
});
})();
