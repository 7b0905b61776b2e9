// The merchant's own indicators on /inbox: define, check and preview one, list
// them with their definition hashes. $(), api(), t() and whoAmI() come from
// app.js (loaded first; all deferred). Every check is the server's: a refusal
// is shown beside the field it names ("name" or "expression").
"use strict";

(() => {
const FIELDS = { name: "indicator-name", expression: "indicator-expression" };

function clearErrors() {
  for (const id of Object.values(FIELDS)) {
    $(id + "-error").hidden = true;
    $(id).removeAttribute("aria-invalid");
  }
}

// The server's problem beside its field; true when it named one of ours.
function showProblem(error) {
  const field = error.problem && error.problem.field;
  const id = FIELDS[field];
  if (!id) return false;
  const box = $(id + "-error");
  box.textContent = error.message;
  box.hidden = false;
  $(id).setAttribute("aria-invalid", "true");
  $(id).focus();
  return true;
}

function say(text, failed) {
  const box = $("indicator-result");
  box.hidden = false;
  box.classList.toggle("error", Boolean(failed));
  box.textContent = text;
}

// A value as the API gives it: a number, a fraction, a table, or null (undefined).
function shown(value) {
  if (value === null) return t("undefined (a denominator counted 0)");
  if (typeof value === "object" && "numerator" in value) {
    return `${value.value} (${value.numerator}/${value.denominator})`;
  }
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function row(item) {
  const tr = document.createElement("tr");
  for (const text of [item.name, item.expression]) {
    const td = document.createElement("td");
    td.textContent = text;
    tr.append(td);
  }
  const td = document.createElement("td");
  td.append(auditDetails(item.definition_hash, t("definition hash")));
  tr.append(td);
  return tr;
}

async function setUp(me) {
  const base = `/v1/merchants/${me.id}/indicators`;
  const load = async () => {
    const data = await api(base);
    $("indicator-list").replaceChildren(...data.indicators.map(row));
  };
  $("indicator-preview").onclick = async () => {
    clearErrors();
    say(t("Checking…"));
    try {
      const got = await api(`${base}:preview`, { method: "POST",
        body: JSON.stringify({ expression: $("indicator-expression").value }) });
      say(t("Value from {start} to {end}: {value}",
            { start: got.start, end: got.end, value: shown(got.value) }));
    } catch (error) {
      if (showProblem(error)) $("indicator-result").hidden = true;
      else say(t("Not checked: {error}", { error: error.message }), true);
    }
  };
  $("indicator-form").onsubmit = async (event) => {
    event.preventDefault();
    clearErrors();
    const name = $("indicator-name").value.trim();
    if (!name) {
      showProblem({ problem: { field: "name" }, message: t("Give the indicator a name.") });
      return;
    }
    try {
      const saved = await api(`${base}/${encodeURIComponent(name)}`, { method: "PUT",
        body: JSON.stringify({ expression: $("indicator-expression").value }) });
      say(t("Saved {name}. Tick it in a rule to report it.", { name: saved.name }));
      await load();
      document.dispatchEvent(new CustomEvent("indicators-changed"));
    } catch (error) {
      if (showProblem(error)) $("indicator-result").hidden = true;
      else say(t("Not saved: {error}", { error: error.message }), true);
    }
  };
  $("indicator-form").dataset.ready = "1";  // handlers set: the form may be used
  api("/v1/indicators/language").then((lang) => {
    $("indicator-language").textContent = JSON.stringify(lang, null, 2);
  });
  await load();
}

document.addEventListener("DOMContentLoaded", async () => {
  const me = await whoAmI();
  if (!me || me.role !== "merchant") return;
  await setUp(me);
});
})();
