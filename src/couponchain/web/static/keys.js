// The API keys page (/keys): list one's keys (never the keys themselves), create
// one (shown once), revoke one. Uses api(), $(), t() and whoAmI() from app.js
// (loaded first; all deferred).
"use strict";

const keysPage = { owner: "" };

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

const KEY_STATES = { active: t("active"), expired: t("expired"), revoked: t("revoked") };

async function listKeys() {
  const query = keysPage.owner ? "?participant=" + encodeURIComponent(keysPage.owner) : "";
  const body = $("keys-table").querySelector("tbody");
  try {
    const found = await api("/v1/api-keys" + query);
    body.replaceChildren(...found.items.map(keyRow));
    $("keys-result").hidden = true;
  } catch (error) {
    body.replaceChildren();
    showKeysResult(t("Could not list the keys: {error}", { error: error.message }), true);
  }
}

function keyRow(key) {
  const row = document.createElement("tr");
  row.dataset.id = key.id;
  for (const text of [key.name, key.prefix + "…", when(key.created_at), when(key.last_used_at),
                      when(key.expires_at), KEY_STATES[key.state] || key.state]) {
    const cell = document.createElement("td");
    cell.textContent = text;
    row.append(cell);
  }
  const action = document.createElement("td");
  if (key.state === "active") {
    const revoke = document.createElement("button");
    revoke.className = "revoke";
    revoke.textContent = t("Revoke");
    revoke.onclick = () => revokeKey(key);
    action.append(revoke);
  }
  row.append(action);
  return row;
}

async function revokeKey(key) {
  try {
    await api("/v1/api-keys/" + encodeURIComponent(key.id), { method: "DELETE" });
    showKeysResult(t("Revoked {name}: it no longer works.", { name: key.name }), false);
  } catch (error) {
    showKeysResult(t("Could not revoke: {error}", { error: error.message }), true);
    return;
  }
  await listKeys();
  // Revoking the key this page signed in with ends the session too.
  if (!(await whoAmI())) location.href = "/signin";
}

function showKeysResult(text, failed) {
  const box = $("keys-result");
  box.textContent = text;
  box.classList.toggle("error", failed);
  box.hidden = false;
}

function setUpKeys(me) {
  if (!me) { $("keys-signin").hidden = false; return; }
  $("keys").hidden = false;
  $("keys-owner-form").onsubmit = (event) => {
    event.preventDefault();
    keysPage.owner = $("keys-owner").value.trim();
    listKeys();
  };
  $("key-create-form").onsubmit = async (event) => {
    event.preventDefault();
    const body = { name: $("key-name").value.trim() };
    if ($("key-expires").value) body.expires_at = $("key-expires").value + "T00:00:00Z";
    if (keysPage.owner) body.participant = keysPage.owner;
    try {
      const made = await api("/v1/api-keys", { method: "POST", body: JSON.stringify(body) });
      $("key-created-value").textContent = made.api_key;
      $("key-created").hidden = false;
      $("key-create-form").reset();
    } catch (error) {
      showKeysResult(t("Could not create: {error}", { error: error.message }), true);
      return;
    }
    await listKeys();
  };
  listKeys();
}

document.addEventListener("DOMContentLoaded", async () => {
  if (!$("keys-table")) return;
  setUpKeys(await whoAmI());
});
