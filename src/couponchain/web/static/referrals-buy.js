// Buying units: the purchase page a promotion link opens (/products/{id}/buy)
// and batch 1 on a product's public page (/products/{id}). The purchase page
// asks the API to verify the link (signature, chain, contract, expiry, the
// promoter's earlier units) and shows what it vouches for before it offers a
// Buy button; a link that fails shows why, in red, and nothing to buy.
"use strict";

(() => {
const { ccc, wholeNumber, json, problemText, show, newKey } = window.CouponChainPromotions;
const { STATUS, percent, who, answered } = window.CouponChainReferrals;
const buy = { product: null, link: null, price: 0n, left: 0, key: null, me: null,
              promoter: null, onSignedIn: null, balance: null };

// The link itself from what was pasted or passed: its text, or a URL carrying it.
function linkText(raw) {
  const text = (raw || "").trim();
  try {
    const inner = new URL(text, location.origin).searchParams.get("link");
    if (inner) return inner.trim();
  } catch { /* not a URL: the link's text */ }
  return text;
}

function showTotal() {
  const box = $("buy-total");
  let total = null;
  try {
    const q = wholeNumber($("buy-quantity").value, "quantity");
    total = buy.price * q;
    box.textContent = ccc(total);
    box.classList.toggle("error", q < 1n || q > BigInt(buy.left));
  } catch {
    box.textContent = "—";
  }
  gateOnBalance(total);
}

// The Buy button is not offered as usable when the credit cannot pay the total (issue
// 24: it showed at balance 0); the note says where credit comes from.
function gateOnBalance(total) {
  const button = $("buy-button");
  if (!button) return;
  let note = $("buy-short");
  if (!note) {
    note = document.createElement("p");
    note.id = "buy-short";
    note.className = "error";
    note.hidden = true;
    const wallet = document.createElement("a");
    wallet.href = "/wallet";
    wallet.textContent = t("your wallet");
    note.append(...tParts("Your credit is not enough for this purchase. Top up at a shop's " +
                          "till: give the cashier the customer number shown in {wallet}.",
                          { wallet }));
    button.before(note);
  }
  const short = buy.balance !== null && total !== null && total > buy.balance;
  note.hidden = !short;
  button.disabled = short;
}

async function showBalance() {
  try {
    const p = await api("/v1/payouts/me");
    buy.balance = BigInt(p.token_balance);
    $("buy-balance").textContent = ccc(p.token_balance);
  } catch (error) {
    $("buy-balance").textContent = problemText(error);
  }
  showTotal();
}

// Offer the Buy form to a consumer; tell anyone else what to do instead.
function offer(me, notSignedIn) {
  const box = $("buy-result");
  buy.me = me;
  if (!me) { notSignedIn(); return; }
  if (me.role !== "consumer") {
    show(box, t("Only consumers buy products; you are signed in as a {role}.",
                { role: roleName(me.role) }), true);
    return;
  }
  if (buy.promoter && me.address.toLowerCase() === buy.promoter.toLowerCase()) {
    show(box, t("link.promoter: this is your own link; self-referral is not allowed."), true);
    return;
  }
  if (buy.left < 1) {
    show(box, t("No units are on sale right now."), true);
    return;
  }
  $("buy-quantity").max = String(buy.left);
  $("buy-form").hidden = false;
  showTotal();
  showBalance();
}

function ownKey() {
  if (!window.deviceKey || !window.deviceKey.address()) {
    throw new Error(t("your account signs with its own key, which is not in this browser: " +
                      "restore it on the device key page (/keys/device)"));
  }
  return window.deviceKey;
}

function setUpBuyForm(after) {
  $("buy-quantity").addEventListener("input", showTotal);
  $("buy-form").onsubmit = async (event) => {
    event.preventDefault();
    const box = $("buy-result");
    const button = $("buy-button");
    button.disabled = true;
    show(box, t("Buying on chain…"));
    try {
      // What the page showed: a batch closed and reopened meanwhile refuses the purchase.
      const body = { quantity: wholeNumber($("buy-quantity").value, "quantity"),
                     batch: buy.batch, max_price: buy.price };
      if (buy.link) body.link = buy.link;
      buy.key = buy.key || newKey(); // a retry after a lost answer buys once
      // A buyer holding its own key signs the purchase here (intent and the exact
      // permit that pays it, device-key.js); the server relays it.
      const r = buy.me && buy.me.custody === "own"
        ? await ownKey().purchase(buy.product, body, buy.key)
        : await api(`/v1/products/${buy.product}/purchases`, {
          method: "POST", body: json(body), headers: { "Idempotency-Key": buy.key } });
      buy.key = null;
      const params = { quantity: r.quantity, batch: r.batch, amount: ccc(r.amount),
                       held: r.units_held, block: r.block_number, promoter: buy.promoterName,
                       earned: ccc(r.promoter_amount), holders: ccc(r.holders_amount) };
      const bought = r.quantity === 1
        ? t("Bought {quantity} unit of batch {batch} for {amount}", params)
        : t("Bought {quantity} units of batch {batch} for {amount}", params);
      const through = r.promoter
        ? t("; {promoter} earned {earned} and earlier holders {holders}", params) : "";
      show(box, bought + through + t(". You now hold {held} (block {block}).", params));
      await after(r);
    } catch (error) {
      if (answered(error) || !error.problem) buy.key = null;
      show(box, t("Not bought: {error}", { error: problemText(error) }), true);
      if (error.problem && error.problem.field === "batch" && buy.refresh) {
        buy.key = null;
        buy.refresh().catch(() => {});  // show the new terms the buyer may accept
      }
    } finally {
      button.disabled = false;
      showBalance();
    }
  };
}

// ------------------------------------------------------------ link purchase

function fill(id, text) {
  $(id).textContent = text;
}

function showVerified(v) {
  const p = v.product, c = p.current;
  buy.promoter = v.promoter.address;
  buy.promoterName = who(v.promoter.name, v.promoter.id, v.promoter.address);
  buy.price = BigInt(c ? c.price : 0);
  buy.batch = c ? c.batch : 0;
  buy.left = c && c.status === "open" ? c.remaining : 0;
  fill("buy-verified-what", t("{product}, promoted by {promoter}",
                              { product: p.name, promoter: v.promoter.name || v.promoter.address }));
  fill("buy-product-name", p.name);
  fill("buy-product", `${p.name} (#${p.id})`);
  fill("buy-promoter", `${buy.promoterName} · ${v.promoter.address}`);
  fill("buy-originator", `${who(p.originator_name, p.originator_id)} · ${p.originator}`);
  fill("buy-chain", p.chain_id);
  fill("buy-contract", p.contract);
  fill("buy-hash", p.content_hash);
  fill("buy-tx", p.registered_tx);
  fill("buy-batch", c ? t("batch {batch}: {status}, {left} of {units} units left, rebate {rate}",
                          { batch: c.batch, status: STATUS[c.status], left: c.remaining,
                            units: c.circulation, rate: percent(c.rebate_bps) }) : t("none"));
  fill("buy-price", ccc(buy.price));
  // The batch's own terms, fixed when the originator opened it: what this purchase splits by.
  fill("buy-rebate", c ? t("{rate} of the price", { rate: percent(c.rebate_bps) }) : t("none"));
  fill("buy-share", c ? t("{share} to the promoter, the rest to holders of earlier batches",
                          { share: percent(c.promoter_share_bps) }) : t("none"));
  fill("buy-expiry", new Date(v.expiry * 1000).toLocaleString());
  $("buy-checking").hidden = true;
  $("buy-verified").hidden = false;
}

function refuse(error) {
  $("buy-checking").hidden = true;
  $("buy-verified").hidden = true;
  const form = $("buy-form");
  if (form) form.remove(); // nothing to pay through a link that failed
  const box = $("buy-invalid");
  box.hidden = false;
  box.textContent = t("✗ This link did not verify; do not pay through it. {error}",
                      { error: problemText(error) });
}

async function verify() {
  return api(`/v1/products/${buy.product}/links/${encodeURIComponent(buy.link)}`);
}

function setUpSignin() {
  $("buy-signin-form").onsubmit = async (event) => {
    event.preventDefault();
    const me = await signIn($("buy-api-key").value.trim()) ? await whoAmI() : null;
    if (!me) {
      $("buy-signin-error").textContent = t("This API key is not known here.");
      $("buy-signin-error").hidden = false;
      return;
    }
    showHeader(me);
    $("buy-signin").hidden = true;
    offer(me, () => {});
  };
}

async function startLinkPurchase() {
  const root = $("buy");
  buy.product = root.dataset.product;
  buy.link = linkText(root.dataset.link);
  let verified;
  try {
    verified = await verify();
  } catch (error) {
    refuse(error);
    return;
  }
  showVerified(verified);
  buy.refresh = async () => showVerified(await verify());
  setUpSignin();
  setUpBuyForm(async () => {
    try { showVerified(await verify()); } catch (error) { refuse(error); }
  });
  offer(await whoAmI(), () => { $("buy-signin").hidden = false; });
}

// ------------------------------------------------------------ batch 1 purchase

async function startBatchOne() {
  const root = $("product-buy");
  buy.product = root.dataset.product;
  buy.price = BigInt(root.dataset.price);
  buy.batch = Number(root.dataset.batch);
  buy.left = Number(root.dataset.left);
  setUpBuyForm(async (r) => {
    buy.left -= r.quantity;
    $("buy-quantity").max = String(buy.left);
    if (buy.left < 1) $("buy-form").hidden = true;
  });
  const me = await whoAmI();
  offer(me, () => { $("product-buy-signin").hidden = false; });
}

document.addEventListener("DOMContentLoaded", () => {
  if ($("buy")) startLinkPurchase();
  else if ($("product-buy")) startBatchOne();
});
})();
