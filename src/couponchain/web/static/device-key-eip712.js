// EIP-712 in the browser (issue 23): the digest of an eth_signTypedData_v4 message
// and its 65-byte (r, s, v) signature, v in {27, 28}, low s: the form the
// contracts (snekmate's ecdsa) and domain/consent.py's recover_typed accept.
// Only the field types CouponChain's messages use: address, bool, string, bytes,
// bytes32, uintN (numbers or decimal strings: 64-bit nonces and token amounts
// exceed a JavaScript number, so the API sends them as strings) and struct types.
// @noble/curves and @noble/hashes are installed with the embedded node and served
// under /vendor/ (see api/routes/pages.py: mount_static).
import { secp256k1 } from "@noble/curves/secp256k1";
import { keccak_256 } from "@noble/hashes/sha3";

const utf8 = new TextEncoder();

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromHex(text) {
  const clean = String(text).replace(/^0x/, "");
  if (clean.length % 2 || /[^0-9a-fA-F]/.test(clean)) throw new Error("not hex: " + text);
  return Uint8Array.from(clean.match(/../g) || [], (b) => parseInt(b, 16));
}

function word(value) {
  let n = BigInt(value);
  if (n < 0n || n >= 1n << 256n) throw new Error("value out of uint256 range: " + value);
  const out = new Uint8Array(32);
  for (let i = 31; i >= 0; i--) { out[i] = Number(n & 0xffn); n >>= 8n; }
  return out;
}

// The struct types `primary` refers to, itself first, then the others sorted by name.
function dependencies(primary, types, found = new Set()) {
  if (found.has(primary) || !types[primary]) return found;
  found.add(primary);
  for (const field of types[primary]) dependencies(field.type.replace(/\[\]$/, ""), types, found);
  return found;
}

function encodeType(primary, types) {
  const [first, ...rest] = dependencies(primary, types);
  return [first, ...rest.sort()].map((name) =>
    `${name}(${types[name].map((f) => `${f.type} ${f.name}`).join(",")})`).join("");
}

function encodeValue(type, value, types) {
  if (types[type]) return hashStruct(type, value, types);
  if (type === "string") return keccak_256(utf8.encode(value));
  if (type === "bytes") return keccak_256(fromHex(value));
  if (type === "address") return word(BigInt("0x" + toHex(fromHex(value))));
  if (type === "bool") return word(value ? 1 : 0);
  if (type === "bytes32") {
    const bytes = fromHex(value);
    if (bytes.length !== 32) throw new Error("bytes32 must be 32 bytes");
    return bytes;
  }
  if (/^uint\d+$/.test(type)) return word(value);
  throw new Error("unsupported EIP-712 type: " + type);
}

export function hashStruct(primary, data, types) {
  const fields = types[primary].map((f) => encodeValue(f.type, data[f.name], types));
  return keccak_256(concat(keccak_256(utf8.encode(encodeType(primary, types))), ...fields));
}

// keccak256(0x19 0x01 || domainSeparator || hashStruct(message)): what is signed.
export function typedDigest(typed) {
  return keccak_256(concat(Uint8Array.of(0x19, 0x01),
                           hashStruct("EIP712Domain", typed.domain, typed.types),
                           hashStruct(typed.primaryType, typed.message, typed.types)));
}

export function addressOf(privateKey) {
  const pub = secp256k1.getPublicKey(privateKey, false).slice(1);
  const hex = toHex(keccak_256(pub).slice(12));
  // EIP-55 checksum, so the address reads the same as the server's.
  const hash = toHex(keccak_256(utf8.encode(hex)));
  return "0x" + Array.from(hex, (c, i) => (parseInt(hash[i], 16) >= 8 ? c.toUpperCase() : c))
    .join("");
}

// The 0x-hex 65-byte signature of a typed message (noble signs low-s, RFC 6979).
export function signTyped(typed, privateKey) {
  const signature = secp256k1.sign(typedDigest(typed), privateKey);
  return "0x" + toHex(concat(signature.toCompactRawBytes(),
                             Uint8Array.of(27 + signature.recovery)));
}

export function newPrivateKey() {
  return secp256k1.utils.randomPrivateKey();
}
