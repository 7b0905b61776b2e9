// The merchant's marketing editors on /inbox: reporting rules (kept on chain,
// versioned), the webhook, and the marketing info the public storefront shows.
// $(), api() and whoAmI() come from app.js (loaded first; all deferred).
// Every check is the server's: its errors are shown as "field: detail".
"use strict";

(() => {
// The documented catalogue (couponchain.domain.indicators.Indicator), in its order.
const CATALOGUE = [
  ["page_views", t("Page views")], ["unique_visitors", t("Unique visitors")],
  ["visits_by_method", t("Visits by access method")], ["new_visitors", t("New visitors")],
  ["returning_visitors", t("Returning visitors")], ["coupon_claims", t("Coupon claims")],
  ["redemptions", t("Redemptions")], ["purchases", t("Purchases")],
  ["conversion_rate", t("Conversion rate (purchases / visitors)")],
  ["redemption_rate", t("Redemption rate (redemptions / claims)")],
  ["top_operations", t("Top operations")],
];
const NOT_SCALAR = new Set(["visits_by_method", "top_operations"]);
const OPERATORS = [">=", ">", "<=", "<"];
const MAX_RULES = 16;
// The merchant's own indicators (names), loaded with the rules.
let OWN = [];

function newKey() {
  return crypto.randomUUID ? crypto.randomUUID() : Date.now() + "-" + Math.random();
}

function problemText(error) {
  const field = error.problem && error.problem.field;
  return field && !error.message.startsWith(field) ? `${field}: ${error.message}` : error.message;
}

function show(box, text, failed) {
  box.hidden = false;
  box.classList.toggle("error", Boolean(failed));
  box.textContent = text;
}

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function options(select, pairs, chosen) {
  for (const [value, label] of pairs) select.add(new Option(label, value));
  if (chosen !== undefined && chosen !== null) select.value = String(chosen);
  return select;
}

// ---------------------------------------------------------------- rules

// One rule as a fieldset; `rule` is the stored JSON (or undefined for a new one).
function ruleFieldset(rule) {
  const n = document.querySelectorAll("#rules-list fieldset").length;
  const set = el("fieldset", { className: "rule" });
  set.append(el("legend", { textContent: t("Rule {number}", { number: n + 1 }) }));
  const picked = new Set(rule ? rule.indicators : []);
  const boxes = el("div", { className: "indicators" });
  for (const [name, label] of CATALOGUE) {
    const box = el("input", { type: "checkbox", value: name, checked: picked.has(name) });
    box.dataset.indicator = name;
    boxes.append(el("label", {}, box, " " + label));
  }
  const custom = new Set(rule && rule.custom ? rule.custom : []);
  for (const name of OWN) {  // the merchant's own: their hash goes on chain with the rule
    const box = el("input", { type: "checkbox", value: name, checked: custom.has(name) });
    box.dataset.custom = name;
    boxes.append(el("label", { className: "own" }, box, " " + name));
  }
  set.append(boxes);

  const c = rule ? rule.condition : { type: "periodic", every_minutes: 60 };
  const type = options(el("select", { className: "rule-type" }),
                       [["periodic", t("periodic")], ["threshold", t("threshold")]], c.type);
  set.append(el("label", {}, t("Condition") + " ", type));

  const hours = c.type === "periodic" && c.every_minutes % 60 === 0;
  const every = el("input", { className: "rule-every", inputMode: "numeric", required: false,
                              value: c.type === "periodic" ? (hours ? c.every_minutes / 60 : c.every_minutes) : 1 });
  const unit = options(el("select", { className: "rule-unit" }),
                       [["minutes", t("minutes")], ["hours", t("hours")]], hours ? "hours" : "minutes");
  // The first period's start, on chain with the rule (empty: the next boundary).
  const from = el("input", { className: "rule-from", placeholder: "2026-12-08T00:00:00Z",
                             value: c.type === "periodic" && c.starts_at
                               ? new Date(c.starts_at * 1000).toISOString().replace(".000Z", "Z") : "" });
  const periodic = el("div", { className: "inline rule-periodic" }, t("Every") + " ", every, unit,
                      el("label", { className: "inline" }, t("from (UTC, optional)") + " ", from));

  const indicator = options(el("select", { className: "rule-indicator" }),
                            CATALOGUE.filter(([n]) => !NOT_SCALAR.has(n)));
  if (OWN.length) {  // a threshold on one of the merchant's own (value "custom:<name>")
    const group = el("optgroup", { label: t("Your indicators") });
    for (const name of OWN) group.append(new Option(name, "custom:" + name));
    indicator.append(group);
  }
  indicator.value = c.custom ? "custom:" + c.custom : c.indicator || "unique_visitors";
  const op = options(el("select", { className: "rule-op" }), OPERATORS.map((o) => [o, o]), c.op);
  const value = el("input", { className: "rule-value", value: c.value ?? "",
                              placeholder: t("100, 1/4, 0.25 or 25%") });
  const windowMinutes = el("input", { className: "rule-window", inputMode: "numeric",
                                      value: c.window_minutes ?? 60, placeholder: t("all history") });
  const threshold = el("div", { className: "stack rule-threshold" },
    el("div", { className: "inline" }, indicator, op, value),
    el("label", { className: "inline" },
       ...tParts("over the last {minutes} minutes", { minutes: windowMinutes })));

  const remove = el("button", { type: "button", className: "secondary rule-remove",
                                textContent: t("Remove this rule") });
  remove.onclick = () => { set.remove(); renumber(); };
  const sync = () => {
    periodic.hidden = type.value !== "periodic";
    threshold.hidden = type.value !== "threshold";
  };
  type.onchange = sync;
  sync();
  set.append(periodic, threshold, remove);
  return set;
}

function renumber() {
  document.querySelectorAll("#rules-list fieldset legend")
    .forEach((legend, i) => { legend.textContent = t("Rule {number}", { number: i + 1 }); });
  $("rule-add").disabled = document.querySelectorAll("#rules-list fieldset").length >= MAX_RULES;
}

// A whole number when the text is one, else the text (the server names the field).
function number(text) {
  return /^\s*\d+\s*$/.test(text) ? Number(text) : text;
}

function ruleFrom(set) {
  const indicators = [...set.querySelectorAll("input[data-indicator]:checked")]
    .map((b) => b.value);
  const custom = [...set.querySelectorAll("input[data-custom]:checked")].map((b) => b.value);
  const q = (cls) => set.querySelector("." + cls).value;
  if (q("rule-type") === "periodic") {
    const key = q("rule-unit") === "hours" ? "every_hours" : "every_minutes";
    const condition = { type: "periodic", [key]: number(q("rule-every")) };
    const from = q("rule-from").trim();
    if (from !== "") {  // a date the browser cannot read goes as typed: the server names it
      const ms = Date.parse(from);
      condition.starts_at = Number.isNaN(ms) ? from : Math.floor(ms / 1000);
    }
    return custom.length ? { indicators, custom, condition } : { indicators, condition };
  }
  const condition = { type: "threshold", op: q("rule-op"), value: number(q("rule-value")) };
  const compared = q("rule-indicator");
  if (compared.startsWith("custom:")) {
    // The compared indicator is reported too: its definition's hash goes on chain.
    condition.custom = compared.slice("custom:".length);
    if (!custom.includes(condition.custom)) custom.push(condition.custom);
  } else {
    condition.indicator = compared;
  }
  if (q("rule-window").trim() !== "") condition.window_minutes = number(q("rule-window"));
  return custom.length ? { indicators, custom, condition } : { indicators, condition };
}

function summary(rule) {
  const c = rule.condition;
  const when = c.type === "periodic"
    ? t("every {minutes} min", { minutes: c.every_minutes }) + (c.starts_at
      ? " " + t("from {when}", { when: new Date(c.starts_at * 1000).toISOString() }) : "")
    : c.window_minutes
      ? t("when {indicator} {op} {value} over {minutes} min",
          { indicator: c.custom || c.indicator, op: c.op, value: c.value,
            minutes: c.window_minutes })
      : t("when {indicator} {op} {value} over all history",
          { indicator: c.custom || c.indicator, op: c.op, value: c.value });
  return `${rule.indicators.concat(rule.custom || []).join(", ")} — ${when}`;
}

function renderRules(data) {
  const current = data.history[0];
  $("rules-version").textContent = current
    ? t("Version {version}, set at {when} (block {block}).",
        { version: data.version, when: localTime(current.set_at), block: current.block_number })
    : t("Version 0: no rules yet. Pick indicators and a condition, then save.");
  // The transaction and the rules hash for an auditor, behind toggles (issue 24).
  if (current) {
    $("rules-version").append(" ", auditDetails(current.tx_hash, t("transaction")), " ",
                              auditDetails(data.rules_hash, t("rules hash")));
  }
  const list = $("rules-list");
  list.replaceChildren();
  const rules = data.rules ? data.rules.rules : [];
  for (const rule of rules.length ? rules : [undefined]) list.append(ruleFieldset(rule));
  renumber();
  $("rules-history").replaceChildren(...data.history.map((v) => el("tr", {},
    el("td", { textContent: String(v.version) }), el("td", { textContent: localTime(v.set_at) }),
    el("td", { textContent: v.rules.rules.map(summary).join("; ") || t("no rules") }))));
}

function setUpRules(me) {
  const load = async () => {
    OWN = (await api(`/v1/merchants/${me.id}/indicators`)).indicators.map((i) => i.name);
    renderRules(await api(`/v1/merchants/${me.id}/reporting-rules`));
  };
  document.addEventListener("indicators-changed", load);
  $("rule-add").onclick = () => { $("rules-list").append(ruleFieldset()); renumber(); };
  $("rules-form").onsubmit = async (event) => {
    event.preventDefault();
    const box = $("rules-result");
    const rules = [...document.querySelectorAll("#rules-list fieldset")].map(ruleFrom);
    show(box, t("Saving the rules on chain…"));
    try {
      const saved = await api(`/v1/merchants/${me.id}/reporting-rules`, {
        method: "PUT", body: JSON.stringify({ rules }), headers: { "Idempotency-Key": newKey() },
      });
      show(box, t("Saved version {version}: {count} rule(s).",
                  { version: saved.version, count: rules.length }));
      await load();
    } catch (error) {
      show(box, t("Not saved: {error}", { error: problemText(error) }), true);
    }
  };
  return load();
}

// ---------------------------------------------------------------- webhook

function setUpWebhook(me) {
  $("webhook-form").onsubmit = async (event) => {
    event.preventDefault();
    const box = $("webhook-result");
    const body = { url: $("webhook-url").value.trim() };
    if ($("webhook-secret").value) body.secret = $("webhook-secret").value;
    try {
      const hook = await api(`/v1/merchants/${me.id}/webhook`, {
        method: "PUT", body: JSON.stringify(body),
      });
      $("webhook-secret").value = "";
      box.hidden = false;
      box.classList.remove("error");
      box.replaceChildren(...tParts(
        "Reports go to {url}. Signing secret, shown once — keep it now: {secret}",
        { url: hook.url,
          secret: el("code", { id: "webhook-shown-secret", textContent: hook.secret }) }));
    } catch (error) {
      show(box, t("Not saved: {error}", { error: problemText(error) }), true);
    }
  };
}

// ---------------------------------------------------------------- marketing info

function day(iso) {
  return iso ? iso.slice(0, 10) : "";
}

function fillInfo(data) {
  const c = data.current;
  $("info-version").textContent = c
    ? t("Version {version} of {versions}, published at {when}.",
        { version: c.version, versions: data.history.length, when: localTime(c.updated_at) })
    : t("Nothing published yet.");
  if (c) $("info-version").append(" ", auditDetails(c.tx_hash, t("transaction")));
  $("info-history").replaceChildren(...data.history.map((v) => el("tr", {},
    el("td", { textContent: String(v.version) }), el("td", { textContent: v.headline }),
    el("td", { textContent: localTime(v.updated_at) }))));
  if (!c) {
    const today = new Date();
    $("info-from").value = today.toISOString().slice(0, 10);
    today.setMonth(today.getMonth() + 1);
    $("info-until").value = today.toISOString().slice(0, 10);
    return;
  }
  $("info-headline").value = c.headline;
  $("info-description").value = c.description || "";
  $("info-segment").value = c.target_segment || "";
  $("info-discount-type").value = c.discount ? c.discount.type : "";
  $("info-discount-value").value = c.discount ? c.discount.value : "";
  $("info-discount-min").value = c.discount ? c.discount.min_order_amount : "";
  $("info-from").value = day(c.valid_from);
  $("info-until").value = day(c.valid_until);
}

function infoBody() {
  const body = {
    headline: $("info-headline").value, description: $("info-description").value,
    target_segment: $("info-segment").value,
    valid_from: $("info-from").value + "T00:00:00Z", valid_until: $("info-until").value + "T23:59:59Z",
  };
  const type = $("info-discount-type").value;
  if (type) {
    body.discount = { type, value: number($("info-discount-value").value) };
    if ($("info-discount-min").value.trim()) body.discount.min_order_amount = number($("info-discount-min").value);
  }
  return body;
}

function setUpInfo(me) {
  const path = `/v1/merchants/${me.id}/marketing-info`;
  $("info-form").onsubmit = async (event) => {
    event.preventDefault();
    const box = $("info-result");
    show(box, t("Publishing on chain…"));
    try {
      const done = await api(path, { method: "PUT", body: JSON.stringify(infoBody()),
                                     headers: { "Idempotency-Key": newKey() } });
      box.replaceChildren(t("Published version {version}.", { version: done.version }) + " ",
        el("a", { id: "info-storefront", href: `/merchants/${me.id}/storefront`,
                  textContent: t("See it on your storefront") }));
      fillInfo(await api(path));
    } catch (error) {
      show(box, t("Not published: {error}", { error: problemText(error) }), true);
    }
  };
  return api(path).then(fillInfo);
}

document.addEventListener("DOMContentLoaded", async () => {
  const me = await whoAmI();
  if (!me || me.role !== "merchant") return;
  setUpWebhook(me);
  await Promise.all([setUpRules(me), setUpInfo(me)]);
});
})();
