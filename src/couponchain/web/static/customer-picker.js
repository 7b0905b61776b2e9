// Customer picker (issue 24): a field where a merchant's staff type a customer's
// name (the merchant's own customers are searched: /v1/merchants/{id}/customers),
// paste or type the customer number shown in the wallet, or scan the wallet's QR
// code with the till's scanner (promotions-till.js hands a scanned customer
// number to `take`). The form then sends `value(input)`: the picked customer's
// number, or the text as typed (an id or an address still works).
// Markup: <input data-customer-picker> followed by
// <ul class="picker-matches" hidden> and <p class="note picker-picked">.
"use strict";

window.CouponChainPicker = (() => {
const NUMBER = /^[0-9a-f]{32}$/;
const state = new WeakMap();  // input -> { picked, timer, asked }
let merchant = null;

// The customer number in a typed or scanned text (groups and upper case allowed), or null.
function numberIn(text) {
  const compact = String(text).replace(/[\s-]/g, "").toLowerCase();
  return NUMBER.test(compact) ? compact : null;
}

// "1a2b 3c4d …": the number in groups of four, as the wallet shows it.
function grouped(number) {
  return number.replace(/(.{4})(?=.)/g, "$1 ");
}

function parts(input) {
  const form = input.closest("form") || document;
  return { list: form.querySelector(".picker-matches"),
           note: form.querySelector(".picker-picked") };
}

function pick(input, customer) {
  const s = state.get(input);
  s.picked = customer.customer_number;
  input.value = customer.name;
  const { list, note } = parts(input);
  list.hidden = true;
  list.replaceChildren();
  note.textContent = t("Customer: {name} (number {number})",
                       { name: customer.name, number: grouped(customer.customer_number) });
}

async function search(input, text) {
  const s = state.get(input);
  const asked = (s.asked = text);
  const { list, note } = parts(input);
  let found;
  try {
    const query = new URLSearchParams({ q: text, limit: "8" });
    found = (await api(`/v1/merchants/${encodeURIComponent(merchant)}/customers?${query}`))
      .customers;
  } catch (error) {
    if (s.asked === asked) note.textContent = error.message;
    return;
  }
  if (s.asked !== asked) return;  // the cashier typed on meanwhile
  list.replaceChildren();
  const number = numberIn(text);
  if (number && found.length === 1) { pick(input, found[0]); return; }
  // An address is sent as typed (an outside wallet may buy): no "not found" for it.
  note.textContent = found.length || /^0x[0-9a-fA-F]{40}$/.test(text) ? "" : (number
    ? t("No customer has this number.")
    : t("None of this shop's customers is called that. A new customer shows the number in their wallet."));
  for (const c of found) {
    const item = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "secondary";
    b.textContent = c.name;
    const small = document.createElement("small");
    small.textContent = grouped(c.customer_number);
    b.append(" ", small);
    b.onclick = () => pick(input, c);
    item.append(b);
    list.append(item);
  }
  list.hidden = found.length === 0;
}

function onInput(input) {
  const s = state.get(input);
  s.picked = null;
  clearTimeout(s.timer);
  const text = input.value.trim();
  const { list, note } = parts(input);
  note.textContent = "";
  if (text.length < 2 || !merchant) { list.hidden = true; return; }
  s.timer = setTimeout(() => search(input, text), 250);
}

// Attaches the picker to every `input[data-customer-picker]` of the page once the
// caller is known to act for a merchant (its own id, or a terminal's merchant).
async function attachAll() {
  const inputs = document.querySelectorAll("input[data-customer-picker]");
  if (!inputs.length) return;
  const me = await whoAmI();
  if (!me || !["merchant", "terminal"].includes(me.role)) return;
  merchant = me.role === "merchant" ? me.id : me.merchant_id;
  for (const input of inputs) {
    state.set(input, { picked: null, timer: null, asked: null });
    input.addEventListener("input", () => onInput(input));
  }
}

// What a form sends for the customer: the picked number, else the typed text
// (a customer number in groups is sent compact).
function value(input) {
  const s = state.get(input);
  if (s && s.picked) return s.picked;
  const text = input.value.trim();
  return numberIn(text) || text;
}

// A scanned text for `input`: true (and the customer looked up) when it is a
// customer number, false when it is something else (a consent code).
function take(input, text) {
  const number = numberIn(text);
  if (!number || !state.has(input)) return false;
  input.value = number;
  state.get(input).picked = number;
  search(input, number);
  return true;
}

// Forgets the pick after the form was sent.
function clear(input) {
  const s = state.get(input);
  if (s) { s.picked = null; s.asked = null; clearTimeout(s.timer); }
  input.value = "";
  const { list, note } = parts(input);
  list.hidden = true;
  note.textContent = "";
}

document.addEventListener("DOMContentLoaded", attachAll);
return { value, take, clear, numberIn, grouped };
})();
