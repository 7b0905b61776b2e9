// Passkeys: sign up, sign in, recover and join by invitation, without an API key.
// Each ceremony asks the server for options (it keeps the challenge), hands them to
// the browser's authenticator (navigator.credentials), and sends the answer back;
// the server then sets the session cookies. Uses $(), api() and t() from app.js.
"use strict";

const Passkeys = (() => {
  function toBytes(text) {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }

  function toText(buffer) {
    let raw = "";
    for (const byte of new Uint8Array(buffer)) raw += String.fromCharCode(byte);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  const withIds = (list) => (list || []).map((c) => Object.assign({}, c, { id: toBytes(c.id) }));

  // WebAuthn's JSON options as the browser's API takes them (newer browsers parse them).
  function creationOptions(json) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    return Object.assign({}, json, {
      challenge: toBytes(json.challenge),
      user: Object.assign({}, json.user, { id: toBytes(json.user.id) }),
      excludeCredentials: withIds(json.excludeCredentials) });
  }

  function requestOptions(json) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    return Object.assign({}, json, { challenge: toBytes(json.challenge),
                                     allowCredentials: withIds(json.allowCredentials) });
  }

  // The credential as JSON for the server (its toJSON() where the browser has it).
  function answer(credential) {
    if (typeof credential.toJSON === "function") return credential.toJSON();
    const r = credential.response;
    const response = { clientDataJSON: toText(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toText(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = toText(r.authenticatorData);
      response.signature = toText(r.signature);
      if (r.userHandle) response.userHandle = toText(r.userHandle);
    }
    return { id: credential.id, rawId: toText(credential.rawId), type: credential.type,
             response, clientExtensionResults: credential.getClientExtensionResults() };
  }

  function supported() {
    return typeof window.PublicKeyCredential === "function" && !!navigator.credentials;
  }

  // A registration ceremony: begin at `optionsPath` with `body`, finish at `finishPath`.
  async function register(optionsPath, finishPath, body, extra = {}) {
    const begun = await api(optionsPath, { method: "POST", body: JSON.stringify(body) });
    const credential = await navigator.credentials.create(
      { publicKey: creationOptions(begun.options) });
    return api(finishPath, { method: "POST", body: JSON.stringify(
      Object.assign({ ceremony: begun.ceremony, credential: answer(credential) }, extra)) });
  }

  async function signIn() {
    const begun = await api("/v1/accounts/sign-in/options", { method: "POST" });
    const credential = await navigator.credentials.get(
      { publicKey: requestOptions(begun.options) });
    return api("/v1/accounts/sign-in", { method: "POST", body: JSON.stringify(
      { ceremony: begun.ceremony, credential: answer(credential) }) });
  }

  // What went wrong, for a person: a cancelled prompt is not an error message.
  function problem(error) {
    if (error && error.name === "NotAllowedError") {
      return t("The passkey prompt was closed or timed out. Try again.");
    }
    if (error && error.name === "InvalidStateError") {
      return t("This device already holds a passkey for this account.");
    }
    return (error && error.message) || String(error);
  }

  return { supported, register, signIn, problem };
})();

// Where to go once signed in: the page that sent the person here (data-next).
function nextPage() {
  const holder = document.querySelector("[data-next]");
  return (holder && holder.dataset.next) || "/me";
}

function say(id, text) {
  const box = $(id);
  box.textContent = text;
  box.hidden = !text;
}

// The recovery codes of a new account, shown once, then on to `next`.
function showRecoveryCodes(codes, next) {
  if (!codes || !codes.length) { location.href = next; return; }
  const list = $("recovery-code-list");
  list.replaceChildren(...codes.map((code) => {
    const item = document.createElement("li");
    const text = document.createElement("code");
    text.textContent = code;
    item.append(text);
    return item;
  }));
  $("recovery-codes").hidden = false;
  $("recovery-continue").onclick = () => { location.href = next; };
  $("recovery-continue").focus();
}

function setUpPasskeySignin() {
  const button = $("passkey-signin");
  if (!button) return;
  if (!Passkeys.supported()) {
    say("passkey-error", t("This browser cannot use passkeys: use a recovery code below."));
    button.disabled = true;
  }
  button.onclick = async () => {
    button.disabled = true;
    say("passkey-error", "");
    try {
      await Passkeys.signIn();
      location.href = nextPage();
    } catch (error) {
      say("passkey-error", t("Not signed in: {error}", { error: Passkeys.problem(error) }));
    } finally {
      button.disabled = false;
    }
  };
  $("recover-form").onsubmit = async (event) => {
    event.preventDefault();
    try {
      await api("/v1/accounts/recover", { method: "POST",
        body: JSON.stringify({ code: $("recover-code").value.trim() }) });
      location.href = "/account?recovered=1";
    } catch (error) {
      say("recover-error", t("Not signed in: {error}", { error: error.message }));
    }
  };
}

// Sign-up (a consumer) and joining by invitation (staff or a terminal) share the form.
function setUpSignup() {
  const form = $("signup-form");
  if (!form) return;
  const invitation = form.dataset.invitation || null;
  if (!Passkeys.supported()) {
    say("signup-error", t("This browser cannot make passkeys. Open this page on a phone or a computer that can."));
  }
  form.onsubmit = async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    say("signup-error", "");
    say("signup-status", t("Follow your device's prompt to make the passkey…"));
    try {
      const body = { name: $("signup-name").value.trim() };
      if (invitation) body.invitation = invitation;
      const done = await Passkeys.register("/v1/accounts/sign-up/options", "/v1/accounts/sign-up",
                                           body, { device: $("signup-device").value.trim() || null });
      say("signup-status", "");
      form.hidden = true;
      showRecoveryCodes(done.recovery_codes, nextPage());
    } catch (error) {
      say("signup-status", "");
      say("signup-error", t("No account made: {error}", { error: Passkeys.problem(error) }));
      button.disabled = false;
    }
  };
}

async function setUpJoin() {
  const box = $("join");
  if (!box) return;
  try {
    const invite = await api("/v1/invitations/" + encodeURIComponent(box.dataset.token));
    $("join-what").textContent = invite.kind === "staff"
      ? t("{merchant} invites you as a member of staff: your passkey will act for the shop.",
          { merchant: invite.merchant_name })
      : t("{merchant} invites this device as its till {name}.",
          { merchant: invite.merchant_name, name: invite.name });
    $("signup-name").value = invite.name;
    $("signup-form").hidden = false;
  } catch (error) {
    say("join-error", t("This invitation cannot be used: {error}", { error: error.message }));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  setUpPasskeySignin();
  setUpSignup();
  setUpJoin();
});
