// Checks a limited-edition coupon's storage proofs in the browser, as
// `couponchain verify` does (chain/coupon_check.py is the reference; this is the
// same check, line for line, so a page and the CLI agree). No I/O here: the
// page component (proof-badge.js) fetches the API's answers and a node's.
//
// Nothing the platform says is believed without a proof: the block is the
// chosen node's and recent, the contract is the one the trusted registry's
// deployer created, every storage slot is computed here from the serial asked
// for, each value is proven by a Merkle-Patricia walk from the block's state
// root, and every field of the coupon's JSON is compared with the proven value.
// keccak256 is @noble/hashes (installed with the embedded node, served under
// /vendor/); the RLP decoder and the trie walk are below.
import { keccak_256 } from "@noble/hashes/sha3";
import { blockHash, checkSeals, engineOf } from "./proof-consensus.js";

// The editions contract's base storage slots (`vyper -f layout editions.vy`);
// tests/unit/test_proof_check_js.py keeps them equal to the compiler's layout.
export const LAYOUT = { editions: 1n, coupons: 2n, byPrefix: 3n };
// Slot offsets of the Edition struct's members (domain/edition_slots.py).
const OFFSETS = {
  merchant: 0n, cap: 1n, sold: 2n, voided: 3n, redeemed: 4n, price: 5n, valid_from: 6n,
  valid_until: 7n, content_hash: 8n, sales_digest: 9n, brand: 10n, title: 13n, prefix: 18n,
};
// Declared members proven besides the counters: [name, slots] (a String is its
// length slot, then its data slots).
const DECLARED = [["price", 1], ["valid_from", 1], ["valid_until", 1], ["content_hash", 1],
  ["brand", 3], ["title", 5], ["prefix", 2]];
const MAX_SERIAL = 2n ** 32n - 1n;
const STATUSES = ["none", "active", "redeemed", "voided"];
const CHANNELS = { 1: "online", 2: "offline" };
// keccak256(rlp(b"")): the root of an empty trie.
const BLANK_ROOT = "56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421";
// Header fields in RLP order; the optional ones exist from the fork that added them.
const HEADER_FIELDS = ["parentHash", "sha3Uncles", "miner", "stateRoot", "transactionsRoot",
  "receiptsRoot", "logsBloom", "difficulty", "number", "gasLimit", "gasUsed", "timestamp",
  "extraData", "mixHash", "nonce"];
const OPTIONAL_FIELDS = ["baseFeePerGas", "withdrawalsRoot", "blobGasUsed", "excessBlobGas",
  "parentBeaconBlockRoot", "requestsHash"];
const INT_FIELDS = new Set(["difficulty", "number", "gasLimit", "gasUsed", "timestamp",
  "baseFeePerGas", "blobGasUsed", "excessBlobGas"]);
// A trie node nests a few lists at most; a forged one nested deeper is refused.
const MAX_RLP_DEPTH = 16;

export class ProofError extends Error {}

export function hexToBytes(text) {
  const digits = String(text).replace(/^0x/, "");
  if (digits.length % 2 || /[^0-9a-fA-F]/.test(digits)) throw new ProofError(`not hex: ${text}`);
  return Uint8Array.from(digits.match(/../g) || [], (pair) => parseInt(pair, 16));
}

export function bytesToHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

// A non-negative integer as big-endian bytes without leading zeros (0 is empty).
function intBytes(value) {
  const digits = BigInt(value).toString(16);
  return value === 0n || value === 0 ? new Uint8Array() : hexToBytes(digits.length % 2 ? "0" + digits : digits);
}

export function word(value) {
  return hexToBytes(BigInt(value).toString(16).padStart(64, "0"));
}

export function keccakHex(bytes) {
  return bytesToHex(keccak_256(bytes));
}

// RLP of bytes and (nested) arrays of them.
export function rlpEncode(item) {
  if (item instanceof Uint8Array) {
    if (item.length === 1 && item[0] < 0x80) return item;
    return concat(rlpLength(item.length, 0x80), item);
  }
  const payload = concat(...item.map(rlpEncode));
  return concat(rlpLength(payload.length, 0xc0), payload);
}

function rlpLength(length, offset) {
  if (length < 56) return Uint8Array.of(offset + length);
  const size = intBytes(BigInt(length));
  return concat(Uint8Array.of(offset + 55 + size.length), size);
}

// The item RLP-encoded in all of `data`: a Uint8Array or an array of items.
export function rlpDecode(data) {
  const [item, end] = rlpItem(data, 0, 0);
  if (end !== data.length) throw new ProofError("trailing bytes after an RLP item");
  return item;
}

function rlpItem(data, pos, depth) {
  if (depth > MAX_RLP_DEPTH) throw new ProofError("RLP lists nested too deep");
  if (pos >= data.length) throw new ProofError("truncated RLP");
  const prefix = data[pos];
  if (prefix < 0x80) return [data.slice(pos, pos + 1), pos + 1];
  let start;
  let length;
  if (prefix < 0xb8 || (prefix >= 0xc0 && prefix < 0xf8)) {
    start = pos + 1;
    length = prefix - (prefix < 0xc0 ? 0x80 : 0xc0);
  } else {  // a long string or list: the length's own length first
    const size = prefix - (prefix < 0xc0 ? 0xb7 : 0xf7);
    start = pos + 1 + size;
    length = Number(BigInt("0x0" + bytesToHex(data.slice(pos + 1, start))));
  }
  const end = start + length;
  if (end > data.length) throw new ProofError("truncated RLP");
  if (prefix < 0xc0) return [data.slice(start, end), end];
  const items = [];
  while (start < end) {
    const [child, next] = rlpItem(data, start, depth + 1);
    items.push(child);
    start = next;
  }
  if (start !== end) throw new ProofError("an RLP list overruns its length");
  return [items, end];
}

// keccak256(rlp(header)) from a JSON-RPC block's fields, as "0x…".
export function headerHash(block) {
  const names = [...HEADER_FIELDS];
  for (const name of OPTIONAL_FIELDS) {  // the present ones form a prefix of the list
    if (block[name] === undefined || block[name] === null) break;
    names.push(name);
  }
  const fields = names.map((name) => {
    if (block[name] === undefined) throw new ProofError(`the header has no ${name}`);
    return INT_FIELDS.has(name) ? intBytes(BigInt(block[name])) : hexToBytes(block[name]);
  });
  return "0x" + keccakHex(rlpEncode(fields));
}

// The value stored under keccak256(key) in the trie whose root is `root` (empty
// when the proof shows it absent). Each node is looked up by the keccak256 of its
// bytes, starting from the root, so only nodes the root commits to are read.
export function trieGet(root, key, proof) {
  const nodes = new Map();
  for (const text of proof) {
    const raw = hexToBytes(text);
    nodes.set(keccakHex(raw), raw);
  }
  let path = keccakHex(key);  // nibbles as hex digits
  if (bytesToHex(root) === BLANK_ROOT) return new Uint8Array();
  let ref = root;
  for (;;) {
    let node;
    if (Array.isArray(ref)) {  // a node under 32 bytes, embedded in its parent
      node = ref;
    } else if (ref.length === 32) {
      const raw = nodes.get(bytesToHex(ref));
      if (raw === undefined) throw new ProofError("a node on the key's path is missing");
      node = rlpDecode(raw);
      if (!Array.isArray(node)) throw new ProofError("a node is not an RLP list");
    } else if (ref.length === 0) {  // an empty branch slot: nothing under this key
      return new Uint8Array();
    } else {
      throw new ProofError("a malformed node reference");
    }
    if (node.length === 17) {  // branch
      if (!path) return value(node[16]);
      ref = node[parseInt(path[0], 16)];
      path = path.slice(1);
    } else if (node.length === 2) {  // leaf or extension, its path hex-prefix encoded
      if (!(node[0] instanceof Uint8Array) || !node[0].length) {
        throw new ProofError("a malformed node path");
      }
      const digits = bytesToHex(node[0]);
      const flag = parseInt(digits[0], 16);
      if (flag > 3 || (!(flag & 1) && digits[1] !== "0")) {
        throw new ProofError("a malformed node path");
      }
      const nibbles = flag & 1 ? digits.slice(1) : digits.slice(2);
      if (flag & 2) return nibbles === path ? value(node[1]) : new Uint8Array();  // leaf
      if (!path.startsWith(nibbles)) return new Uint8Array();
      ref = node[1];
      path = path.slice(nibbles.length);
    } else {
      throw new ProofError("a node is neither a branch nor a leaf");
    }
  }
}

function value(item) {
  if (!(item instanceof Uint8Array)) throw new ProofError("a value is not a byte string");
  return item;
}

// The proven storage root of an eth_getProof account, or ProofError.
export function verifyAccount(stateRoot, account) {
  const encoded = trieGet(hexToBytes(stateRoot), hexToBytes(account.address),
    account.accountProof);
  if (!encoded.length) throw new ProofError("the account does not exist in this state");
  const fields = rlpDecode(encoded);
  if (fields.length !== 4 || !fields.every((f) => f instanceof Uint8Array)) {
    throw new ProofError("the proven account is not [nonce, balance, storage root, code hash]");
  }
  const [nonce, balance, storageRoot, codeHash] = fields;
  const asInt = (b) => BigInt("0x0" + bytesToHex(b));
  if (asInt(nonce) !== BigInt(account.nonce) || asInt(balance) !== BigInt(account.balance)
      || bytesToHex(storageRoot) !== bytesToHex(hexToBytes(account.storageHash))
      || bytesToHex(codeHash) !== bytesToHex(hexToBytes(account.codeHash))) {
    throw new ProofError("the account fields differ from the proven account");
  }
  return storageRoot;
}

// The proven value of a storage slot (0n when absent), or ProofError.
export function verifyStorage(storageRoot, slot, proof) {
  const encoded = trieGet(storageRoot, word(slot), proof);
  if (!encoded.length) return 0n;
  const item = rlpDecode(encoded);
  if (!(item instanceof Uint8Array)) throw new ProofError("the proven value is not bytes");
  return BigInt("0x0" + bytesToHex(item));
}

// The slot of `key` in a Vyper 0.4 HashMap at `base`: keccak256(base . key).
export function mappingSlot(base, key) {
  return BigInt("0x" + keccakHex(concat(word(base), word(key))));
}

// (prefix, number) of "PREFIX-NUMBER", or null.
export function parseSerial(serial) {
  const at = serial.lastIndexOf("-");
  const prefix = serial.slice(0, at);
  const number = serial.slice(at + 1);
  // eslint-disable-next-line no-control-regex
  if (at < 1 || !/^[\x00-\x7f]+$/.test(prefix) || !/^[0-9]+$/.test(number)) return null;
  const n = BigInt(number);
  return n >= 1n && n <= MAX_SERIAL ? [prefix, n] : null;
}

export function couponId(editionId, number) {
  return (BigInt(editionId) << 32n) | number;
}

// Every slot the check proves, by name, computed from the serial asked for
// (domain/edition_slots.verification_slots).
export function verificationSlots(editionId, number, prefix, layout = LAYOUT) {
  const base = mappingSlot(layout.editions, BigInt(editionId));
  const slots = {};
  for (const name of ["merchant", "cap", "sold", "voided", "redeemed", "sales_digest"]) {
    slots[name] = base + OFFSETS[name];
  }
  slots.coupon = mappingSlot(layout.coupons, couponId(editionId, number));
  for (const [name, count] of DECLARED) {
    const first = base + OFFSETS[name];
    if (count === 1) { slots[name] = first; continue; }
    slots[`${name}_length`] = first;
    for (let i = 0; i < count - 1; i += 1) slots[`${name}_${i}`] = first + 1n + BigInt(i);
  }
  const prefixKey = BigInt("0x" + keccakHex(new TextEncoder().encode(prefix)));
  slots.edition_by_prefix = mappingSlot(layout.byPrefix, prefixKey);
  return slots;
}

// The address `sender` creates with its transaction `nonce`: keccak256(rlp([sender, nonce])).
export function createAddress(sender, nonce) {
  return "0x" + keccakHex(rlpEncode([hexToBytes(sender), intBytes(BigInt(nonce))])).slice(24);
}

export function decodeCouponWord(w) {
  return {
    owner: "0x" + (w & (2n ** 160n - 1n)).toString(16).padStart(40, "0"),
    status: STATUSES[Number((w >> 160n) & 0xffn)] ?? "unknown",
    channel: CHANNELS[Number((w >> 168n) & 0xffn)] ?? null,
    soldAt: w >> 176n,
  };
}

// A Vyper storage String from its length and data words (null when it does not fit).
export function decodeString(length, words) {
  if (length > BigInt(32 * words.length)) return null;
  const data = concat(...words.map(word)).slice(0, Number(length));
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(data);
  } catch (error) {
    return null;
  }
}

export function iso(epoch) {
  return epoch === null || epoch === undefined ? null
    : new Date(Number(epoch) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

const lower = (v) => (v === null || v === undefined ? v : String(v).toLowerCase());
const str = (v) => (v === null || v === undefined ? v : String(v));

// One verdict per check: { claim, expected, proven, ok, note }, and the engine the
// block was hashed with. `trusted` is { chainId, registry, maxAge, node: { chainId,
// head, block }, engine ("auto" when absent), validators (addresses; empty: seals
// not checked) }.
export function checkCoupon(serial, proof, coupon, trusted) {
  const out = { verdicts: [], proven: {}, engine: null };
  const add = (claim, expected, proven, ok, note = "") => out.verdicts.push(
    { claim, expected, proven, ok: ok === undefined ? expected === proven : ok, note });
  const parsed = parseSerial(serial);
  if (!parsed) {
    add("answer is about the serial asked for", serial, null, false);
    return out;
  }
  const [prefix, number] = parsed;
  out.engine = checkBlock(add, proof.block, trusted);
  const storageRoot = checkContract(add, proof, trusted);
  if (storageRoot === null) return out;
  const editionId = BigInt(proof.edition_id);
  const slots = verificationSlots(editionId, number, prefix);
  const proofs = new Map(proof.storage.map((e) => [lower(e.slot), e.proof]));
  const missing = [];
  for (const [name, slot] of Object.entries(slots)) {
    const entry = proofs.get("0x" + bytesToHex(word(slot)));
    try {
      out.proven[name] = entry === undefined ? null : verifyStorage(storageRoot, slot, entry);
    } catch (error) {
      if (!(error instanceof ProofError)) throw error;
      out.proven[name] = null;
    }
    if (out.proven[name] === null) missing.push(name);
  }
  add("storage proofs hold for every slot of the serial asked for", "", missing.join(", "),
    missing.length === 0);
  // The serial asked for names the edition (its prefix) and the coupon (its number).
  add("prefix names the edition proven", editionId, out.proven.edition_by_prefix,
    out.proven.edition_by_prefix === editionId);
  add("answer is about the serial asked for", serial, proof.serial);
  add("coupon id is the serial asked for", couponId(editionId, number).toString(),
    String(proof.coupon_id));
  checkJson(add, serial, editionId, coupon, out.proven);
  return out;
}

// The block's hash as its engine computes it (proof-consensus.js), the seals of the
// validators given (none given: not checked, and the badge says so), and the node's
// block of that number, recent. Returns the engine.
function checkBlock(add, block, trusted) {
  let computed;
  let engine = "ethash";
  try {
    engine = engineOf(block, trusted.engine || "auto");
    computed = blockHash(block, engine);
  } catch (error) {
    computed = `unhashable header: ${error.message}`;
  }
  const node = trusted.node;
  add("chain id: the node's is the anchor's", trusted.chainId, node.chainId);
  add(engine === "ethash" || engine === "clique" ? "block hash = keccak(rlp(header))"
    : `block hash = ${engine} hash of the header (seals and round excluded)`,
  lower(node.block?.hash), computed);
  const validators = trusted.validators || [];
  if (validators.length) {
    const claim = `block sealed by the given validators (${engine})`;
    try {
      const seals = checkSeals(block, engine, validators);
      add(claim, `at least ${seals.required} of ${validators.length}`,
        `${seals.valid.length}: ${seals.valid.join(", ")}`, seals.ok, seals.note);
    } catch (error) {
      if (!(error instanceof ProofError)) throw error;
      add(claim, `${validators.length} validators`, null, false, error.message);
    }
  }
  add("block is the node's block of that number", lower(node.block?.hash), lower(block.hash),
    lower(node.block?.hash) === lower(block.hash)
    && lower(node.block?.stateRoot) === lower(block.stateRoot));
  const number = Number(BigInt(block.number));
  add("block is recent", node.head - trusted.maxAge, number, node.head - number <= trusted.maxAge,
    `${node.head - number}`);
  return engine;
}

function checkContract(add, proof, trusted) {
  const contract = lower(proof.contract ?? "");
  const deployment = proof.deployment || {};
  let registry;
  let editions;
  try {
    registry = createAddress(deployment.deployer, deployment.registry_nonce);
    editions = createAddress(deployment.deployer, deployment.editions_nonce);
  } catch (error) {
    add("contract is the one the trusted registry's deployer created", contract, null, false,
      "no usable deployment record");
    return null;
  }
  add("chain id: the answer's is the anchor's", trusted.chainId, Number(proof.chain_id));
  add("registry is the trusted one (created by the deployer)", lower(trusted.registry),
    registry);
  add("contract is the one the trusted registry's deployer created", editions, contract);
  add("proven account is that contract", contract, lower(proof.account?.address));
  try {
    const root = verifyAccount(proof.block.stateRoot, proof.account);
    add("contract account in the state root", contract, contract, true);
    return root;
  } catch (error) {
    add("contract account in the state root", contract, null, false, error.message);
    return null;
  }
}

// Each field of the coupon's JSON against the proven value.
function checkJson(add, serial, editionId, coupon, proven) {
  const decoded = proven.coupon ? decodeCouponWord(proven.coupon) : null;
  const edition = coupon.edition || {};
  add("json serial", serial, coupon.serial);
  add("json edition_id", editionId.toString(), String(coupon.edition_id));
  add("json owner", decoded ? decoded.owner : null, lower(coupon.owner ?? ""));
  add("json status", decoded ? decoded.status : "none", coupon.status);
  add("json channel", decoded ? decoded.channel : null, coupon.channel ?? null);
  add("json sold_at", decoded ? iso(decoded.soldAt) : null, coupon.sold_at ?? null);
  const merchant = proven.merchant;
  add("json edition.merchant", merchant === null || merchant === undefined ? null
    : "0x" + merchant.toString(16).padStart(40, "0"), lower(edition.merchant));
  for (const [name, key] of [["total_pieces", "cap"], ["sold", "sold"], ["voided", "voided"],
    ["redeemed", "redeemed"], ["price", "price"]]) {
    add(`json edition.${name}`, str(proven[key]), str(edition[name]));
  }
  for (const name of ["valid_from", "valid_until"]) {
    add(`json edition.${name}`, iso(proven[name]), edition[name] ?? null);
  }
  for (const [name, words] of [["brand", 2], ["title", 4], ["prefix", 1]]) {
    const length = proven[`${name}_length`];
    const data = Array.from({ length: words }, (_, i) => proven[`${name}_${i}`]);
    const text = length === null || length === undefined || data.some((w) => w == null) ? null
      : decodeString(length, data);
    add(`json edition.${name}`, text, edition[name] ?? null);
  }
  const content = proven.content_hash;
  const contentHex = content == null ? null : "0x" + bytesToHex(word(content));
  add("json edition.content_hash", contentHex, lower(edition.content_hash));
  const terms = typeof edition.terms === "string"
    ? "0x" + keccakHex(new TextEncoder().encode(edition.terms)) : null;
  add("terms shown hash to the proven content_hash", contentHex, terms);
}
