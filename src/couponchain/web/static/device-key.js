// A consumer's own chain key, made and kept on this device (issue 23).
//
// The key is generated here (@noble/curves secp256k1, from the browser's CSPRNG),
// and stored only encrypted: AES-256-GCM under a key derived from the person's
// passphrase with PBKDF2-SHA-256 (600,000 iterations, 16-byte random salt), in
// localStorage as JSON. The backup it exports is that same encrypted JSON, so a
// backup file is as safe as the passphrase. Unlocked, the key lives in this
// page's memory only and signs EIP-712 messages (device-key-eip712.js); nothing
// here ever sends it anywhere: the server gets the address and signatures.
//
// Classic page scripts use it through window.deviceKey (this module runs after
// app.js, whose t() and api() it uses).
import { addressOf, newPrivateKey, signTyped } from "/static/device-key-eip712.js";

const STORE = "couponchain.device-key";
const ITERATIONS = 600000;
const FORMAT = "couponchain-device-key-v1";

let unlocked = null; // { address, privateKey } while this page holds the key

// JSON with BigInts written as plain numbers (token amounts exceed 2**53).
function jsonBody(body) {
  return JSON.stringify(body, (_k, v) => (typeof v === "bigint" ? "bigint:" + v : v))
    .replace(/"bigint:(\d+)"/g, "$1");
}

function b64(bytes) { return btoa(String.fromCharCode(...bytes)); }
function unb64(text) { return Uint8Array.from(atob(text), (c) => c.charCodeAt(0)); }

async function wrappingKey(passphrase, salt, iterations) {
  const material = await crypto.subtle.importKey(
    "raw", new TextEncoder().encode(passphrase), "PBKDF2", false, ["deriveKey"]);
  return crypto.subtle.deriveKey({ name: "PBKDF2", hash: "SHA-256", salt, iterations },
                                 material, { name: "AES-GCM", length: 256 }, false,
                                 ["encrypt", "decrypt"]);
}

async function seal(privateKey, passphrase) {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const address = addressOf(privateKey);
  const key = await wrappingKey(passphrase, salt, ITERATIONS);
  // The address is the additional data: a backup whose address was edited fails to open.
  const sealed = new Uint8Array(await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(address) }, key, privateKey));
  return { format: FORMAT, address, kdf: "PBKDF2-SHA-256", iterations: ITERATIONS,
           salt: b64(salt), iv: b64(iv), ciphertext: b64(sealed) };
}

async function open(stored, passphrase) {
  if (!stored || stored.format !== FORMAT) throw new Error(t("not a CouponChain device key backup"));
  let plain;
  try {
    const key = await wrappingKey(passphrase, unb64(stored.salt), stored.iterations);
    plain = new Uint8Array(await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: unb64(stored.iv),
        additionalData: new TextEncoder().encode(stored.address) },
      key, unb64(stored.ciphertext)));
  } catch {
    throw new Error(t("wrong passphrase (or a damaged backup)"));
  }
  if (addressOf(plain) !== stored.address) throw new Error(t("the backup's address does not match its key"));
  return plain;
}

function stored() {
  try { return JSON.parse(localStorage.getItem(STORE)); } catch { return null; }
}

function checkPassphrase(passphrase) {
  if (String(passphrase).length < 8) throw new Error(t("the passphrase needs at least 8 characters"));
}

// The device's key address, or null when this browser holds none.
function address() {
  const s = stored();
  return s ? s.address : null;
}

async function create(passphrase) {
  checkPassphrase(passphrase);
  const privateKey = newPrivateKey();
  localStorage.setItem(STORE, JSON.stringify(await seal(privateKey, passphrase)));
  unlocked = { address: addressOf(privateKey), privateKey };
  return unlocked.address;
}

async function unlock(passphrase) {
  const s = stored();
  if (!s) throw new Error(t("this browser holds no device key"));
  unlocked = { address: s.address, privateKey: await open(s, passphrase) };
  return unlocked.address;
}

function lock() { unlocked = null; }

// The encrypted backup as text (what localStorage holds): safe to keep anywhere.
function exportBackup() {
  const s = stored();
  if (!s) throw new Error(t("this browser holds no device key"));
  return JSON.stringify(s, null, 1);
}

async function importBackup(text, passphrase) {
  let backup;
  try { backup = JSON.parse(text); } catch { throw new Error(t("not a CouponChain device key backup")); }
  const privateKey = await open(backup, passphrase);
  localStorage.setItem(STORE, JSON.stringify(backup));
  unlocked = { address: backup.address, privateKey };
  return backup.address;
}

// Asks for the passphrase in a dialog of the page (once per page) and unlocks.
function askPassphrase() {
  if (unlocked) return Promise.resolve(unlocked.address);
  return new Promise((resolve, reject) => {
    const dialog = document.createElement("dialog");
    dialog.id = "device-key-dialog";
    const form = document.createElement("form");
    form.className = "stack";
    const label = document.createElement("label");
    label.htmlFor = "device-key-passphrase";
    label.textContent = t("Passphrase of your device key ({address}…)",
                          { address: (address() || "").slice(0, 10) });
    const input = document.createElement("input");
    input.type = "password";
    input.id = "device-key-passphrase";
    input.autocomplete = "current-password";
    const error = document.createElement("p");
    error.className = "error";
    error.hidden = true;
    const ok = document.createElement("button");
    ok.type = "submit";
    ok.textContent = t("Unlock and sign");
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "secondary";
    cancel.textContent = t("Cancel");
    form.append(label, input, error, ok, cancel);
    dialog.append(form);
    document.body.append(dialog);
    const close = () => { dialog.close(); dialog.remove(); };
    cancel.onclick = () => { close(); reject(new Error(t("not signed: cancelled"))); };
    form.onsubmit = async (event) => {
      event.preventDefault();
      try {
        const unlockedAddress = await unlock(input.value);
        close();
        resolve(unlockedAddress);
      } catch (e) {
        error.textContent = e.message;
        error.hidden = false;
      }
    };
    dialog.showModal();
    input.focus();
  });
}

// The signature (0x hex) of an EIP-712 message by the device key (asks to unlock).
async function sign(typed) {
  await askPassphrase();
  return signTyped(typed, unlocked.privateKey);
}

// Switches the signed-in consumer's account to this device key.
async function register() {
  const me = await askPassphrase();
  const message = await api("/v1/participants/me/own-key/message?address=" + me);
  const typed = message.typed_data;
  return api("/v1/participants/me/own-key", {
    method: "PUT",
    body: jsonBody({ address: me, expiry: BigInt(typed.message.expiry),
                           signature: signTyped(typed, unlocked.privateKey) }),
  });
}

// A consent code for a promotion coupon, signed here; same answer as POST .../consent.
async function consent(couponId, request) {
  const asked = await api(`/v1/promotion-coupons/${couponId}/consent-request`, {
    method: "POST", body: jsonBody(request) });
  const signature = await sign(asked.typed_data);
  const m = asked.typed_data.message;
  return api(`/v1/promotion-coupons/${couponId}/signed-consent`, {
    method: "POST",
    body: jsonBody({ nonce: String(m.nonce), expiry: BigInt(m.expiry), merchant: m.merchant,
                     max_order_amount: BigInt(m.max_amount), signature }),
  });
}

// A limited-edition coupon's till code (CCE1), its Redemption signed here; same answer as
// POST /v1/coupons/{serial}/redemption-code. Only a Redemption in the editions domain is
// signed: the server cannot get anything else signed through this button.
async function editionCode(serial) {
  const base = `/v1/coupons/${encodeURIComponent(serial)}`;
  const asked = await api(base + "/redemption-code-request", { method: "POST", body: "{}" });
  const typed = asked.typed_data;
  if (typed.primaryType !== "Redemption" || typed.domain.name !== "CouponChain Editions") {
    throw new Error(t("the code the server prepared is not a coupon redemption"));
  }
  const signature = await sign(typed);
  const m = typed.message;
  return api(base + "/signed-redemption-code", {
    method: "POST", body: jsonBody({ nonce: String(m.nonce), expiry: BigInt(m.expiry), signature }),
  });
}

// A purchase signed here (intent and the exact permit that pays it), relayed by the
// server; same answer as POST .../purchases. `idempotencyKey` makes a retry buy once.
async function purchase(productId, request, idempotencyKey) {
  const asked = await api(`/v1/products/${productId}/purchase-intents`, {
    method: "POST", body: jsonBody(request) });
  const signature = await sign(asked.intent);
  const permitSignature = await sign(asked.permit);
  const m = asked.intent.message;
  const body = { quantity: BigInt(m.quantity), batch: BigInt(m.batch),
                 max_price: BigInt(m.max_price), nonce: String(m.nonce),
                 expiry: BigInt(m.expiry), signature, permit_signature: permitSignature };
  if (request.link) body.link = request.link;
  return api(`/v1/products/${productId}/signed-purchases`, {
    method: "POST", body: jsonBody(body),
    headers: idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {},
  });
}

// A promotion coupon passed on: the CouponTransfer is signed here and relayed by the
// server to promotions.transfer_signed; same answer as POST .../transfer.
async function transferCoupon(couponId, to, idempotencyKey) {
  const asked = await api(`/v1/promotion-coupons/${couponId}/transfer-request`, {
    method: "POST", body: jsonBody({ to }) });
  const signature = await sign(asked.typed_data);
  const m = asked.typed_data.message;
  return api(`/v1/promotion-coupons/${couponId}/signed-transfer`, {
    method: "POST",
    body: jsonBody({ to, nonce: String(m.nonce), expiry: BigInt(m.expiry), signature }),
    headers: idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {},
  });
}

// Credit sent to a participant or an address: an EIP-3009 TransferWithAuthorization of
// exactly `amount` (a BigInt, smallest unit) to exactly that recipient, signed here; the
// server relays it with token.transferWithAuthorization and cannot send it elsewhere.
async function sendCredit(to, amount, idempotencyKey) {
  const asked = await api("/v1/credit-transfers/authorization-request", {
    method: "POST", body: jsonBody({ to, amount }) });
  const m = asked.typed_data.message;
  const same = (a, b) => String(a).toLowerCase() === String(b).toLowerCase();
  const forAddress = !/^0x[0-9a-fA-F]{40}$/.test(to) || same(to, m.to);
  if (asked.typed_data.primaryType !== "TransferWithAuthorization"
      || BigInt(m.value) !== BigInt(amount) || !same(m.from, unlockedOrStoredAddress())
      || !same(m.to, asked.to) || !forAddress) {
    throw new Error(t("the transfer the server prepared is not for this recipient, amount and key"));
  }
  const signature = await sign(asked.typed_data);
  return api("/v1/credit-transfers", {
    method: "POST",
    body: jsonBody({ to, amount, deadline: BigInt(m.validBefore), nonce: m.nonce, signature }),
    headers: idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {},
  });
}

// Promotion payouts paid to this account: Withdraw(account, deadline) is signed here and
// relayed by the server to promotions.withdraw_for, which pays the signer only; same answer
// as POST /v1/payouts/me/withdraw.
async function withdrawPayout(idempotencyKey) {
  const asked = await api("/v1/payouts/me/withdraw-request", { method: "POST" });
  const m = asked.typed_data.message;
  if (asked.typed_data.primaryType !== "Withdraw"
      || String(m.account).toLowerCase() !== String(unlockedOrStoredAddress()).toLowerCase()) {
    throw new Error(t("the withdrawal the server prepared is not for your key"));
  }
  const signature = await sign(asked.typed_data);
  return api("/v1/payouts/me/signed-withdraw", {
    method: "POST", body: jsonBody({ deadline: BigInt(m.deadline), signature }),
    headers: idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {},
  });
}

function unlockedOrStoredAddress() {
  return unlocked ? unlocked.address : address();
}

window.deviceKey = { address, create, unlock, lock, exportBackup, importBackup, askPassphrase,
                     sign, register, consent, editionCode, purchase, transferCoupon, sendCredit, withdrawPayout,
                     isUnlocked: () => unlocked !== null };
window.dispatchEvent(new Event("device-key-ready"));
