// The consumer's wallet movements and phone/e-mail lookup (/wallet, issue 24).
// Movements: /v1/customers/me/movements, newest first, a page at a time ("Older
// movements" follows next_cursor), filtered by date, downloadable as CSV; each row
// links to the coupon's or product's page and shows its transaction behind a
// toggle. Lookup: /v1/customers/me/lookup registers the phone number or e-mail a
// till may find the consumer by (only a keyed hash is stored).
// Helpers come from app.js and promotions.js.
"use strict";

(() => {
const { problemText, show, link } = window.CouponChainPromotions;
const PAGE = 25;
let cursor = null;

// What happened, in the reader's language.
function describe(m) {
  const who = m.counterparty_name || (m.counterparty ? t("an outside wallet") : "");
  const coupon = m.coupon ? (m.coupon.title
    ? t("{serial} ({title})", { serial: m.coupon.serial, title: m.coupon.title })
    : "#" + m.coupon.serial) : "";
  const texts = {
    top_up: () => t("Top-up at {shop}", { shop: who }),
    purchase: () => t("Bought {quantity} × {product}",
                      { quantity: m.product.quantity, product: m.product.name || "#" + m.product.id }),
    reward: () => t("Reward credited (claimable)"),
    rebate: () => t("Rebate credited (claimable)"),
    promoter_share: () => t("Promoter share credited (claimable)"),
    withdrawal: () => t("Rewards withdrawn to your balance"),
    promotion_granted: () => t("Promotion coupon {coupon} from {shop}", { coupon, shop: who }),
    promotion_received: () => t("Promotion coupon {coupon} received from {name}",
                                { coupon, name: who }),
    promotion_passed_on: () => t("Promotion coupon {coupon} passed on to {name}",
                                 { coupon, name: who }),
    promotion_written_off: () => t("Promotion coupon {coupon} used at {shop}",
                                   { coupon, shop: who }),
    promotion_reversed: () => t("Use of promotion coupon {coupon} reversed by {shop}",
                                { coupon, shop: who }),
    edition_bought: () => t("Coupon {coupon} bought at {shop} for {price}",
                            { coupon, shop: who || t("the shop"), price: m.price_text }),
    edition_received: () => t("Coupon {coupon} received from {name}", { coupon, name: who }),
    edition_passed_on: () => t("Coupon {coupon} passed on to {name}", { coupon, name: who }),
    edition_redeemed: () => t("Coupon {coupon} redeemed", { coupon }),
    edition_voided: () => t("Coupon {coupon} voided by the shop", { coupon }),
  };
  return (texts[m.kind] || (() => m.kind))();
}

function row(m) {
  const tr = document.createElement("tr");
  tr.dataset.kind = m.kind;
  const when = document.createElement("td");
  when.className = "when";
  when.textContent = localTime(m.at);
  const what = document.createElement("td");
  what.className = "movement-what";
  what.textContent = describe(m);
  if (m.reference && m.kind === "top_up") {
    const small = document.createElement("small");
    small.textContent = t("Receipt {reference}", { reference: m.reference });
    what.append(small);
  }
  const amount = document.createElement("td");
  amount.className = "amount" + (m.balance === "claimable" ? " claimable" : "");
  amount.textContent = m.amount_text || "";
  const evidence = document.createElement("td");
  if (m.evidence) {
    evidence.append(link(m.evidence, m.coupon ? t("Coupon page") : t("Product page")), " ");
  }
  evidence.append(auditDetails(m.tx_hash, t("Transaction")));
  tr.append(when, what, amount, evidence);
  return tr;
}

function filters() {
  const params = new URLSearchParams();
  if ($("movements-from").value) params.set("from", $("movements-from").value);
  if ($("movements-to").value) params.set("to", $("movements-to").value);
  return params;
}

async function load(more) {
  const params = filters();
  $("movements-csv").href = "/v1/customers/me/movements.csv" +
    (params.toString() ? "?" + params : "");
  params.set("limit", String(PAGE));
  if (more && cursor) params.set("cursor", cursor);
  const body = $("movement-rows");
  try {
    const page = await api("/v1/customers/me/movements?" + params);
    if (!more) body.replaceChildren();
    for (const m of page.movements) body.append(row(m));
    cursor = page.next_cursor;
    $("movements-more").hidden = !cursor;
    $("movements-empty").textContent = t("No movements in this period.");
    $("movements-empty").hidden = body.children.length > 0;
  } catch (error) {
    $("movements-empty").hidden = false;
    $("movements-empty").textContent = problemText(error);
  }
}

function lookupState(state) {
  $("lookup-state").textContent = state.phone && state.email
    ? t("Shops can find you by your phone number and your e-mail.")
    : state.phone ? t("Shops can find you by your phone number.")
    : state.email ? t("Shops can find you by your e-mail.")
    : t("Shops cannot find you by phone or e-mail.");
  $("lookup-remove-phone").hidden = !state.phone;
  $("lookup-remove-email").hidden = !state.email;
}

function startLookup() {
  const box = $("lookup-result");
  $("lookup-form").onsubmit = async (event) => {
    event.preventDefault();
    const body = {};
    if ($("lookup-phone").value.trim()) body.phone = $("lookup-phone").value.trim();
    if ($("lookup-email").value.trim()) body.email = $("lookup-email").value.trim();
    try {
      lookupState(await api("/v1/customers/me/lookup", { method: "PUT", body: JSON.stringify(body) }));
      $("lookup-phone").value = "";
      $("lookup-email").value = "";
      show(box, t("Saved. Only its fingerprint is kept."));
    } catch (error) {
      show(box, t("Not saved: {error}", { error: problemText(error) }), true);
    }
  };
  for (const kind of ["phone", "email"]) {
    $("lookup-remove-" + kind).onclick = async () => {
      try {
        lookupState(await api("/v1/customers/me/lookup/" + kind, { method: "DELETE" }));
        show(box, t("Removed."));
      } catch (error) {
        show(box, problemText(error), true);
      }
    };
  }
  api("/v1/customers/me/lookup").then(lookupState).catch(() => {});
}

async function start() {
  const me = await whoAmI();
  if (!me || me.role !== "consumer") return;
  $("movements-section").hidden = false;
  $("lookup-section").hidden = false;
  $("movements-filter").onsubmit = (event) => { event.preventDefault(); cursor = null; load(false); };
  $("movements-more").onclick = () => load(true);
  load(false);
  startLookup();
}

document.addEventListener("DOMContentLoaded", () => {
  if ($("movements-section")) start();
});
})();
