// Checks a prize code's signature in the page, so a terminal without a connection
// still refuses forged codes (domain/prize_codes.py is the reference: EIP-191
// personal_sign over SIGNING_TAG + the code's first 115 bytes, low s only; the
// winner's claim signature inside them is the server's and the contract's check).
// The curve arithmetic is @noble/curves, installed with the embedded node by
// scripts/setup and served under /vendor/; where it is missing the page keeps
// the server's check at sync. Its reasons are shown on the page: t() is app.js's
// (a global of that classic script, loaded before this module runs).
import { secp256k1 } from "@noble/curves/secp256k1";
import { keccak_256 } from "@noble/hashes/sha3";

const SIGNING_TAG = new TextEncoder().encode("CouponChain prize code v2\0");
const BODY = 115;  // fields, claim lifetime and the winner's signature: what the platform signs
const SIGNATURE = 65;
const CODE_BYTES = BODY + SIGNATURE;

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// keccak256 of the EIP-191 "Ethereum Signed Message" of `message`.
function personalHash(message) {
  const prefix = new TextEncoder().encode(`\x19Ethereum Signed Message:\n${message.length}`);
  return keccak_256(concat(prefix, message));
}

// The address that signed a code's raw bytes (the platform's signature), or an Error.
function recoverSigner(raw) {
  if (raw.length !== CODE_BYTES) {
    return new Error(t("a prize code has {count} bytes", { count: CODE_BYTES }));
  }
  const body = raw.slice(0, BODY);
  const sig = raw.slice(BODY, BODY + SIGNATURE);
  const v = sig[64];
  if (v !== 27 && v !== 28) return new Error(t("signature v must be 27 or 28"));
  let signature;
  try {
    signature = secp256k1.Signature.fromCompact(sig.slice(0, 64)).addRecoveryBit(v - 27);
  } catch (error) {
    return new Error(t("signature r or s out of range"));
  }
  if (signature.hasHighS()) return new Error(t("malleable signature (high s)"));
  try {
    const key = signature.recoverPublicKey(personalHash(concat(SIGNING_TAG, body)));
    return "0x" + hex(keccak_256(key.toRawBytes(false).slice(1)).slice(12));
  } catch (error) {
    return new Error(t("unrecoverable signature"));
  }
}

// { ok, reason } for a code's text against the published signer address.
function verify(text, signerAddress) {
  const body = String(text).trim().slice("CCPZ2.".length);
  const binary = atob(body.replace(/-/g, "+").replace(/_/g, "/"));
  const signer = recoverSigner(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
  if (signer instanceof Error) return { ok: false, reason: signer.message };
  if (signer.toLowerCase() !== signerAddress.toLowerCase()) {
    return { ok: false, reason: t("signed by {signer}…, not the published key",
                                  { signer: signer.slice(0, 10) }) };
  }
  return { ok: true, reason: t("signed by the platform's code key (checked in this terminal)") };
}

window.prizeSignature = { verify, recoverSigner };
