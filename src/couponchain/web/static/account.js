// The account page (/account): passkeys (add, remove), recovery codes (make a new
// set, shown once), signed-in browsers (sign one out) and, for a merchant, one-time
// invitation links for staff and tills. Uses $(), api(), t(), localTime() and
// whoAmI() from app.js and Passkeys from passkeys.js (all deferred, in order).
"use strict";

(() => {
function cell(text) {
  const td = document.createElement("td");
  if (text instanceof Node) td.append(text); else td.textContent = text;
  return td;
}

function button(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "secondary";
  b.textContent = label;
  b.onclick = onClick;
  return b;
}

function result(text, bad) {
  const box = $("account-result");
  box.textContent = text;
  box.hidden = !text;
  box.classList.toggle("error", !!bad);
}

function codeList(list, codes) {
  list.replaceChildren(...codes.map((code) => {
    const item = document.createElement("li");
    const text = document.createElement("code");
    text.textContent = code;
    item.append(text);
    return item;
  }));
}

const INVITED_AS = { staff: t("member of staff"), terminal: t("till") };
const STATES = { open: t("open"), used: t("used"), revoked: t("revoked"), expired: t("expired") };

async function load() {
  const account = await api("/v1/accounts/me");
  $("passkey-table").querySelector("tbody").replaceChildren(...account.passkeys.map((p) => {
    const row = document.createElement("tr");
    row.append(cell(p.name), cell(localTime(p.created_at)),
               cell(p.last_used_at ? localTime(p.last_used_at) : t("never")),
               cell(button(t("Remove"), () => removePasskey(p))));
    return row;
  }));
  $("recovery-left").textContent = t("{count} unused recovery codes.",
                                     { count: account.recovery_codes_left });
  $("session-table").querySelector("tbody").replaceChildren(...account.sessions.map((s) => {
    const row = document.createElement("tr");
    row.append(cell(s.name), cell(localTime(s.created_at)), cell(localTime(s.expires_at)),
               cell(s.current ? t("this browser")
                              : button(t("Sign out"), () => endSession(s))));
    return row;
  }));
  return account;
}

async function removePasskey(passkey) {
  if (!confirm(t("Remove the passkey {name}? It will no longer sign you in.",
                 { name: passkey.name }))) return;
  try {
    await api("/v1/accounts/me/passkeys/" + encodeURIComponent(passkey.id),
              { method: "DELETE" });
    result(t("Removed the passkey {name}.", { name: passkey.name }));
  } catch (error) {
    result(t("Could not remove it: {error}", { error: error.message }), true);
  }
  await load();
}

async function endSession(session) {
  try {
    await api("/v1/accounts/me/sessions/" + encodeURIComponent(session.id), { method: "DELETE" });
    result(t("That browser is signed out."));
  } catch (error) {
    result(t("Could not sign it out: {error}", { error: error.message }), true);
  }
  await load();
}

function setUpPasskeys() {
  $("passkey-add-form").onsubmit = async (event) => {
    event.preventDefault();
    try {
      await Passkeys.register("/v1/accounts/me/passkeys/options", "/v1/accounts/me/passkeys",
                              { name: $("passkey-name").value.trim() });
      result(t("Passkey added."));
      $("passkey-name").value = "";
      $("account-recovered").hidden = true;
    } catch (error) {
      result(t("No passkey added: {error}", { error: Passkeys.problem(error) }), true);
    }
    await load();
  };
  $("recovery-new").onclick = async () => {
    try {
      const made = await api("/v1/accounts/me/recovery-codes", { method: "POST" });
      codeList($("recovery-new-list"), made.recovery_codes);
      $("recovery-new-codes").hidden = false;
    } catch (error) {
      result(t("Could not make new codes: {error}", { error: error.message }), true);
    }
    await load();
  };
}

async function loadInvitations() {
  const found = await api("/v1/invitations");
  $("invite-table").querySelector("tbody").replaceChildren(...found.items.map((i) => {
    const row = document.createElement("tr");
    row.append(cell(i.name), cell(INVITED_AS[i.kind] || i.kind), cell(STATES[i.state] || i.state),
               cell(localTime(i.expires_at)),
               cell(i.state === "open" ? button(t("Revoke"), async () => {
                 await api("/v1/invitations/" + encodeURIComponent(i.id), { method: "DELETE" });
                 await loadInvitations();
               }) : ""));
    return row;
  }));
}

function setUpInvitations() {
  $("invitations").hidden = false;
  $("invite-form").onsubmit = async (event) => {
    event.preventDefault();
    try {
      const made = await api("/v1/invitations", { method: "POST", body: JSON.stringify(
        { kind: $("invite-kind").value, name: $("invite-name").value.trim() }) });
      $("invite-url").textContent = made.url;
      $("invite-made").hidden = false;
      $("invite-name").value = "";
    } catch (error) {
      result(t("No link made: {error}", { error: error.message }), true);
    }
    await loadInvitations();
  };
  loadInvitations().catch((error) => result(error.message, true));
}

document.addEventListener("DOMContentLoaded", async () => {
  if (!$("account")) return;
  const me = await whoAmI();
  if (!me) { $("account-signin").hidden = false; return; }
  $("account").hidden = false;
  $("account-recovered").hidden = !new URLSearchParams(location.search).has("recovered");
  setUpPasskeys();
  if (me.role === "merchant") setUpInvitations();
  try { await load(); } catch (error) { result(error.message, true); }
});
})();
