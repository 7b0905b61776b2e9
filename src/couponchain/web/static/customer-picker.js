// Customer picker (issue 24): a field where a merchant's staff type a customer's
// name (the merchant's own customers are searched: /v1/merchants/{id}/customers),
// paste or type the customer number shown in the wallet, or scan the wallet's QR
// code with the till's scanner (promotions-till.js hands a scanned customer
// number to `take`). The form then sends `value(input)`: the picked customer's
// number, or the text as typed (an id or an address still works).
// Markup: <input data-customer-picker> followed by
// <ul class="picker-matches" hidden> and <p class="note picker-picked">.
// A registered phone number or e-mail, typed exactly, finds its consumer too (the
// platform matches a keyed hash of it; services/customer_lookup.py).
// Many customers (the prize console's bulk winners box): the input also carries
// data-picker-multi="<id of a <ul class="picker-chosen">>"; each pick joins that
// list (removable), pasted customer numbers join it at once, and `values(input)`
// gives the picked numbers.
"use strict";

window.CouponChainPicker = (() => {
const NUMBER = /^[0-9a-f]{32}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const state = new WeakMap();  // input -> { picked, timer, asked, chosen }
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

function chosenList(input) {
  return document.getElementById(input.dataset.pickerMulti);
}

// The multi picker's list of winners: name and grouped number, each removable.
function renderChosen(input) {
  const s = state.get(input);
  const ul = chosenList(input);
  ul.replaceChildren();
  for (const [number, name] of s.chosen) {
    const item = document.createElement("li");
    const label = document.createElement("span");
    label.textContent = name;
    const small = document.createElement("small");
    small.textContent = NUMBER.test(number) ? grouped(number) : number;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "secondary";
    remove.textContent = t("Remove");
    remove.setAttribute("aria-label", t("Remove {name}", { name }));
    remove.onclick = () => { s.chosen.delete(number); renderChosen(input); };
    item.append(label, " ", small, " ", remove);
    ul.append(item);
  }
  ul.hidden = s.chosen.size === 0;
}

function pick(input, customer) {
  const s = state.get(input);
  const { list, note } = parts(input);
  list.hidden = true;
  list.replaceChildren();
  if (s.chosen) {
    s.chosen.set(customer.customer_number, customer.name);
    input.value = "";
    s.asked = null;
    renderChosen(input);
    note.textContent = t("{count} winners picked.", { count: s.chosen.size });
    return;
  }
  s.picked = customer.customer_number;
  input.value = customer.name;
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
  note.textContent = found.length || ADDRESS.test(text) ? "" : (number
    ? t("No customer has this number.")
    : t("None of this shop's customers is called that, and no customer registered this phone number or e-mail. A new customer shows the number in their wallet."));
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

// Several customer numbers or addresses pasted at once (a list of winners): each
// number is looked up for its name, an address joins as typed.
async function takeMany(input, tokens) {
  const s = state.get(input);
  input.value = "";
  const { note } = parts(input);
  // Joined at once (the form may be sent before the names come back), named after.
  const numbers = [];
  for (const token of tokens) {
    const number = numberIn(token);
    if (number) { numbers.push(number); if (!s.chosen.has(number)) s.chosen.set(number, grouped(number)); }
    else s.chosen.set(token, t("an outside wallet"));
  }
  renderChosen(input);
  const missing = [];
  for (const number of numbers) {
    try {
      const query = new URLSearchParams({ q: number, limit: "1" });
      const found = (await api(
        `/v1/merchants/${encodeURIComponent(merchant)}/customers?${query}`)).customers;
      if (found.length && s.chosen.has(number)) s.chosen.set(number, found[0].name);
      else if (!found.length) missing.push(grouped(number));
    } catch { missing.push(grouped(number)); }
  }
  renderChosen(input);
  note.textContent = missing.length
    ? t("No customer has these numbers: {numbers}", { numbers: missing.join(", ") })
    : t("{count} winners picked.", { count: s.chosen.size });
}

function onInput(input) {
  const s = state.get(input);
  if (s.chosen) {
    const tokens = input.value.split(/[\s,;]+/).filter(Boolean);
    if (tokens.length > 1 && tokens.every((x) => numberIn(x) || ADDRESS.test(x))) {
      clearTimeout(s.timer);
      takeMany(input, tokens);
      return;
    }
  }
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
    state.set(input, { picked: null, timer: null, asked: null,
                       chosen: input.dataset.pickerMulti ? new Map() : null });
    input.addEventListener("input", () => onInput(input));
    // In a list of winners, Enter picks the only match instead of sending the form,
    // and a pasted list (one a line: a text field would drop the line breaks) joins.
    if (input.dataset.pickerMulti) {
      input.addEventListener("paste", (event) => {
        const tokens = event.clipboardData.getData("text").split(/[\s,;]+/).filter(Boolean);
        if (tokens.length > 1 && tokens.every((x) => numberIn(x) || ADDRESS.test(x))) {
          event.preventDefault();
          takeMany(input, tokens);
        }
      });
      input.addEventListener("keydown", (event) => {
        if (event.key !== "Enter") return;
        event.preventDefault();
        const only = parts(input).list.querySelectorAll("button");
        if (only.length === 1) only[0].click();
      });
    }
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

// The multi picker's customers: the picked numbers (and addresses), in pick order;
// a single customer number or address still typed in the field counts too.
function values(input) {
  const s = state.get(input);
  const typed = input.value.trim();
  const extra = typed && (numberIn(typed) || ADDRESS.test(typed)) ? [numberIn(typed) || typed] : [];
  if (!s || !s.chosen) return input.value.split(/[\s,;]+/).filter(Boolean);
  return [...s.chosen.keys(), ...extra.filter((x) => !s.chosen.has(x))];
}

// Forgets the pick after the form was sent.
function clear(input) {
  const s = state.get(input);
  if (s) {
    s.picked = null; s.asked = null; clearTimeout(s.timer);
    if (s.chosen) { s.chosen.clear(); renderChosen(input); }
  }
  input.value = "";
  const { list, note } = parts(input);
  list.hidden = true;
  note.textContent = "";
}

document.addEventListener("DOMContentLoaded", attachAll);
return { value, values, take, clear, numberIn, grouped };
})();
