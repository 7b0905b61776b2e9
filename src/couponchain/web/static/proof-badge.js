// The proof badge of the coupon and edition pages, computed in the browser.
//
// The server renders no verdict. This module reads the platform's proof of one
// coupon (/v1/coupons/{serial}/proof) and its JSON, asks a chain node the person
// chooses for its chain id, its head and the proven block, runs proof-check.js,
// then compares every number the page shows (elements marked data-proof) with
// the proven value. The badge says which node it asked, what it proved, what it
// could not, and names the check that failed. The registry address is trusted
// on first use (saved in this browser), with a loud warning when the platform
// later publishes another. t() is app.js's (a classic script that runs first).
import { checkCoupon, decodeCouponWord, decodeString, iso, keccakHex, parseSerial }
  from "/static/proof-check.js";
import { CLIQUE_EPOCH, cliqueSigners, engineOf, genesisValidators }
  from "/static/proof-consensus.js";

const NODE_KEY = "couponchain.node";
const VALIDATORS_KEY = "couponchain.validators";
const SEALED_ENGINES = ["clique", "qbft", "ibft2"];
const REGISTRY_KEY = "couponchain.registry.";
const MAX_AGE = 8;  // blocks, as `couponchain verify --max-age-blocks`
const TIMEOUT_MS = 15000;
// Headers asked for in one JSON-RPC batch, and at most this many through the platform's
// relay (one request a header) when following Clique votes.
const HEADERS_PER_BATCH = 1000;
const RELAY_HEADERS = 256;

// Check names as the page says them (proof-check.js names them in English).
const CLAIMS = {
  "chain id: the node's is the anchor's": t("the node's chain is the published chain"),
  "block hash = keccak(rlp(header))": t("block hash = keccak(rlp(header))"),
  "block is the node's block of that number": t("the block is the node's block of that number"),
  "block is recent": t("the block is at most 8 blocks behind the node's head"),
  "chain id: the answer's is the anchor's": t("the answer's chain is the published chain"),
  "registry is the trusted one (created by the deployer)": t("the registry is the one you trust"),
  "contract is the one the trusted registry's deployer created":
    t("the contract is the one the trusted registry's deployer created"),
  "proven account is that contract": t("the proven account is that contract"),
  "contract account in the state root": t("the contract's account proof"),
  "storage proofs hold for every slot of the serial asked for":
    t("the storage proofs of this serial's slots"),
  "prefix names the edition proven": t("the serial's prefix names the edition proven"),
  "answer is about the serial asked for": t("the answer is about this serial"),
  "coupon id is the serial asked for": t("the coupon id is this serial's"),
  "terms shown hash to the proven content_hash": t("the terms hash to the proven hash"),
};

function claimName(claim) {
  if (CLAIMS[claim]) return CLAIMS[claim];
  const engine = /\((\w+)\)$/.exec(claim)?.[1] || "";
  if (claim.startsWith("block sealed by the given validators")) {
    return t("the block is sealed by the validators entered ({engine})", { engine });
  }
  if (claim.startsWith("block hash = ")) {  // a BFT engine's hash: seals and round excluded
    return t("block hash = the {engine} hash of the header", { engine: claim.split(" ")[3] });
  }
  if (claim.startsWith("json ")) return t("the API's {field}", { field: claim.slice(5) });
  return claim;
}

class CouldNotCheck extends Error {}

async function getJson(url, options = {}) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
  try {
    const response = await fetch(url, { ...options, signal: abort.signal });
    const text = await response.text();
    return { status: response.status, body: JSON.parse(text) };
  } finally {
    clearTimeout(timer);
  }
}

// The platform's three answers; CouldNotCheck naming what is missing.
async function fromPlatform(serial) {
  const path = `/v1/coupons/${encodeURIComponent(serial)}`;
  try {
    const [health, proof, coupon] = await Promise.all(
      ["/v1/health", `${path}/proof`, path].map((url) => getJson(url)));
    for (const answer of [health, proof, coupon]) {
      if (answer.status !== 200) {
        throw new CouldNotCheck(t("the platform could not give the proof (HTTP {status}): {detail}",
          { status: answer.status, detail: answer.body.detail || "" }));
      }
    }
    return { anchor: health.body.trust_anchor || {}, proof: proof.body, coupon: coupon.body };
  } catch (error) {
    if (error instanceof CouldNotCheck) throw error;
    throw new CouldNotCheck(t("the platform's API did not answer ({error})", { error: error.message }));
  }
}

// The node's chain id, head and block at `number`; CouldNotCheck when it cannot tell.
// The platform's relay answers the same three calls to a GET (/v1/node-relay?block=).
async function fromNode(url, number, relay) {
  const calls = [["eth_chainId", []], ["eth_blockNumber", []],
    ["eth_getBlockByNumber", [number, false]]]
    .map(([method, params], id) => ({ jsonrpc: "2.0", id, method, params }));
  let answer;
  try {
    answer = relay ? await getJson(`${url}?block=${encodeURIComponent(number)}`)
      : await getJson(url, { method: "POST", body: JSON.stringify(calls),
        headers: { "content-type": "application/json" } });
  } catch (error) {
    // A browser tells unreachable and CORS-refused apart to nobody, scripts included.
    throw new CouldNotCheck(error instanceof SyntaxError
      ? t("{node} is not a chain node (it did not answer JSON-RPC)", { node: url })
      : t("the node {node} did not answer: unreachable, or it refuses requests from web pages (CORS)",
        { node: url }));
  }
  const replies = Array.isArray(answer.body) ? answer.body : [];
  const result = (id) => replies.find((r) => r && r.id === id)?.result;
  if (!result(0) || !result(1)) {
    throw new CouldNotCheck(t("{node} is not a chain node (it did not answer JSON-RPC)", { node: url }));
  }
  if (!result(2)) {
    throw new CouldNotCheck(t("the node {node} has no block {number}", { node: url, number: Number(number) }));
  }
  return { chainId: Number(result(0)), head: Number(result(1)), block: result(2) };
}

// The node's headers of blocks `numbers`, in order: JSON-RPC batches from a node, one
// GET a header through the platform's relay; CouldNotCheck when one is missing.
async function headersFromNode(url, numbers, relay) {
  if (relay) {
    if (numbers.length > RELAY_HEADERS) {
      throw new CouldNotCheck(t("following the Clique votes reads {count} headers: enter a node of your own below (the platform's relay gives at most {most})",
        { count: numbers.length, most: RELAY_HEADERS }));
    }
    const found = [];
    for (const n of numbers) found.push((await fromNode(url, "0x" + n.toString(16), true)).block);
    return found;
  }
  const found = [];
  for (let i = 0; i < numbers.length; i += HEADERS_PER_BATCH) {
    const calls = numbers.slice(i, i + HEADERS_PER_BATCH).map((n, id) => (
      { jsonrpc: "2.0", id, method: "eth_getBlockByNumber", params: ["0x" + n.toString(16), false] }));
    let answer;
    try {
      answer = await getJson(url, { method: "POST", body: JSON.stringify(calls),
        headers: { "content-type": "application/json" } });
    } catch (error) {
      throw new CouldNotCheck(t("the node {node} did not answer: unreachable, or it refuses requests from web pages (CORS)",
        { node: url }));
    }
    const replies = Array.isArray(answer.body) ? answer.body : [];
    for (const call of calls) {
      const header = replies.find((r) => r && r.id === call.id)?.result;
      if (!header) {
        throw new CouldNotCheck(t("the node {node} has no block {number}",
          { node: url, number: Number(call.params[0]) }));
      }
      found.push(header);
    }
  }
  return found;
}

// The Clique signers of `block`: the last checkpoint's list before it, with the votes
// of every header since applied (cliqueSigners), all headers from the node, as
// `verify --validators checkpoint[:EPOCH]` follows them.
async function checkpointSigners(entered, block, nodeUrl, relay) {
  const engine = engineOf(block);
  const epochText = entered.split(":")[1] ?? "";
  if (engine !== "clique") {
    throw new CouldNotCheck(t("checkpoint follows Clique signer votes; this chain is {engine}",
      { engine }));
  }
  if (!/^\d*$/.test(epochText) || (epochText && Number(epochText) < 1)) {
    throw new CouldNotCheck(t("the epoch after checkpoint: is not a number of at least 1: {epoch}",
      { epoch: epochText }));
  }
  const epoch = epochText ? Number(epochText) : CLIQUE_EPOCH;
  const proven = Number(BigInt(block.number));
  const last = Math.max(proven - 1, 0);
  const first = last - (last % epoch);
  const numbers = Array.from({ length: Math.max(proven, 1) - first }, (_, i) => first + i);
  const headers = await headersFromNode(nodeUrl, numbers, relay);
  try {
    return cliqueSigners(headers[0], headers.slice(1), epoch);
  } catch (error) {
    throw new CouldNotCheck(t("cannot follow the Clique signer votes from checkpoint {first} to block {number} at {node}: {error}",
      { first, number: proven, node: nodeUrl, error: error.message }));
  }
}

// The validator set entered under the badge: addresses, "genesis" (read from the
// node's block 0, as `verify --validators genesis`) or "checkpoint[:EPOCH]" (Clique
// votes followed, as `verify --validators checkpoint`); [] when none was entered.
async function validatorSet(text, block, nodeUrl, relay) {
  const entered = text.trim();
  if (!entered) return [];
  if (/^checkpoint(:|$)/i.test(entered)) {
    return checkpointSigners(entered.toLowerCase(), block, nodeUrl, relay);
  }
  if (entered.toLowerCase() === "genesis") {
    const genesis = await fromNode(nodeUrl, "0x0", relay);
    try {
      return genesisValidators(genesis.block, engineOf(block));
    } catch (error) {
      throw new CouldNotCheck(t("the genesis block of {node} names no validator set ({error})",
        { node: nodeUrl, error: error.message }));
    }
  }
  const listed = entered.split(/[\s,]+/).filter(Boolean);
  const bad = listed.find((a) => !/^0x[0-9a-fA-F]{40}$/.test(a));
  if (bad) {
    throw new CouldNotCheck(t("the validators entered are not addresses (0x and 40 hex digits): {bad}",
      { bad }));
  }
  return listed;
}

// What the badge says of the block's seals: checked against the validators entered,
// or plainly not checked on a chain whose blocks carry seals.
function sealLine(outcome, validators, number) {
  const engine = outcome.engine;
  if (validators.length) {
    const sealed = outcome.verdicts.find((v) => v.claim.startsWith("block sealed by"));
    return sealed?.ok ? t("Block {number} is sealed by the validators entered ({engine}): {count} of {total}.",
      { number, engine, count: sealed.proven.split(":")[0], total: validators.length }) : null;
  }
  if (!SEALED_ENGINES.includes(engine)) return null;
  return t("Seals not checked ({engine}): no validator set was entered below, so that the chain's validators sealed block {number} is NOT PROVEN.",
    { engine, number });
}

// The registry address trusted for this chain (trust on first use), and a warning.
function trustedRegistry(anchor) {
  const key = REGISTRY_KEY + anchor.chain_id;
  const saved = localStorage.getItem(key);
  const published = String(anchor.registry || "");
  if (!saved) {
    localStorage.setItem(key, published);
    return { registry: published, note: { address: published, text: t("First check in this browser: trusting the registry the platform publishes (saved here). Compare its address with the one the platform publishes elsewhere.") } };
  }
  if (saved.toLowerCase() !== published.toLowerCase()) {
    return { registry: saved, changed: published, warning: t("WARNING: the platform now publishes registry {published}, but this browser trusted {saved}. The check uses {saved}. Do not trust the new address unless the platform announced the change.", { published, saved }) };
  }
  return { registry: saved, note: { address: saved, text: t("The registry trusted in this browser since its first check.") } };
}

// What the page shows for each proven value (data-proof names), as text.
function expectedTexts(serial, proven, editionId) {
  const word = proven.coupon ? decodeCouponWord(proven.coupon) : null;
  const string = (name, words) => decodeString(proven[`${name}_length`],
    Array.from({ length: words }, (_, i) => proven[`${name}_${i}`]));
  const words = { active: t("active"), redeemed: t("redeemed"), voided: t("voided") };
  return {
    serial, edition_id: String(editionId), owner: word?.owner,
    status: word ? words[word.status] || word.status : undefined,
    cap: String(proven.cap), sold: String(proven.sold), redeemed: String(proven.redeemed),
    voided: String(proven.voided),
    price: window.CouponChainMoney.formatAmount(proven.price),  // as the page shows money
    valid_from: iso(proven.valid_from), valid_until: iso(proven.valid_until),
    brand: string("brand", 2), title: string("title", 4), prefix: string("prefix", 1),
    merchant: "0x" + proven.merchant.toString(16).padStart(40, "0"),
    content_hash: "0x" + proven.content_hash.toString(16).padStart(64, "0"),
  };
}

// Compares each data-proof element with the proven value; marks it; returns failures.
function checkShown(expected) {
  const failed = [];
  const proven = [];
  for (const el of document.querySelectorAll("[data-proof]")) {
    const name = el.dataset.proof;
    const label = el.dataset.label || el.closest("tr")?.querySelector("th")?.textContent || name;
    const shown = el.textContent.trim();
    let ok;
    let want = expected[name];
    if (el.localName === "time") {
      // A moment (web/display.py's `when`): its datetime is the proven one, and its text
      // is that moment as app.js writes it in the reader's time zone.
      localizeTimes(el.parentElement);
      ok = Boolean(want) && el.dateTime === want && el.textContent.trim() === localTime(want);
    } else if (name === "terms") {  // the terms shown must hash to the proven content hash
      want = expected.content_hash;
      ok = "0x" + keccakHex(new TextEncoder().encode(el.textContent)) === want;
    } else {
      ok = want !== undefined && want !== null && shown.toLowerCase() === String(want).toLowerCase();
    }
    el.classList.remove("proven", "disproven");
    el.classList.add(ok ? "proven" : "disproven");
    // Addresses and hashes are named, not written out: people read the badge (the
    // values stay on the page, behind their details toggles, for an auditor).
    const opaque = name === "terms" || /^0x[0-9a-f]{40,}$/i.test(shown);
    if (ok) proven.push(opaque ? label : `${label} ${shown}`);
    else {
      const otherTerms = t("other terms");  // (babel extracts no t() nested in another's args)
      failed.push(t("the page shows {label} = {shown}, the chain says {proven}",
        { label, shown: name === "terms" ? "…" : shown, proven: name === "terms" ? otherTerms : want }));
    }
  }
  return { failed, proven: [...new Set(proven)] };
}

function unprovenLabels() {
  const labels = [];
  for (const el of document.querySelectorAll("[data-unproven]")) {
    labels.push(el.dataset.unproven);
    if (el.querySelector(".unproven-tag")) continue;
    const tag = document.createElement("span");
    tag.className = "unproven-tag";
    tag.textContent = t("not proven");
    (el.tagName === "TR" ? el.querySelector("th") : el).append(tag);
  }
  return labels;
}

function show(badge, state, headline, lines) {
  badge.className = `badge ${state}`;
  badge.querySelector("#badge-state").textContent = headline;
  const details = badge.querySelector("#badge-details");
  details.replaceChildren(...lines.filter(Boolean).map((line) => {
    const p = document.createElement("p");
    if (typeof line === "string") p.textContent = line;
    else { p.textContent = line.text; p.className = line.className || ""; }
    if (line.address) p.append(" ", auditDetails(line.address, t("address")));  // for auditors
    return p;
  }));
}

// The serial the person asked for: from the address bar, not from the page's HTML
// (on an edition page, the newest coupon, whose proven number must be the sold count).
function askedSerial(badge) {
  const match = /^\/coupons\/([^/]+)$/.exec(location.pathname);
  if (match) return decodeURIComponent(match[1]);
  const query = new URLSearchParams(location.search).get("serial");
  if (location.pathname === "/coupons" && query) return query.trim().toUpperCase();
  return badge.dataset.serial;
}

// Each check renders only while it is the newest ("Check again" during a check).
let newest = 0;

async function run(badge) {
  const mine = ++newest;
  const render = (...args) => { if (mine === newest) show(badge, ...args); };
  const serial = askedSerial(badge);
  const chosen = localStorage.getItem(NODE_KEY) || badge.dataset.defaultNode || "";
  const relay = !chosen;
  const nodeUrl = chosen || new URL(badge.dataset.relay, location.href).href;
  const published = chosen && chosen === badge.dataset.defaultNode;
  const nodeName = relay ? t("the platform's node, via the platform (not an independent check)")
    : published ? t("the node the platform publishes, {node}", { node: chosen })
      : t("your node {node}", { node: chosen });
  render("checking", t("checking the proofs against {node}…", { node: nodeName }), []);
  const notProven = t("Not proven (shown by the platform, not held in the contract's storage): {items}.",
    { items: unprovenLabels().join(", ") });
  try {
    const { anchor, proof, coupon } = await fromPlatform(serial);
    const trust = trustedRegistry(anchor);
    const node = await fromNode(nodeUrl, proof.block.number, relay);
    const validators = await validatorSet(localStorage.getItem(VALIDATORS_KEY) || "",
      proof.block, nodeUrl, relay);
    const outcome = checkCoupon(serial, proof, coupon, { chainId: Number(anchor.chain_id),
      registry: trust.registry, maxAge: MAX_AGE, node, validators });
    const failed = outcome.verdicts.filter((v) => !v.ok).map((v) => claimName(v.claim));
    const number = Number(BigInt(proof.block.number));
    const editionPage = /^\/editions\/(\d+)/.exec(location.pathname);
    let shown = { failed: [], proven: [] };
    if (!failed.length) {
      if (editionPage && (String(proof.edition_id) !== editionPage[1]
          || parseSerial(serial)[1] !== outcome.proven.sold)) {
        failed.push(t("the coupon checked is this edition's newest"));
      }
      shown = checkShown(expectedTexts(serial, outcome.proven, proof.edition_id));
    }
    const warning = trust.warning ? { text: trust.warning, className: "error banner" } : null;
    const all = [...failed, ...shown.failed];
    if (all.length) {
      render("failed", t("NOT verified ✗ — failed: {checks}", { checks: all.join("; ") }),
        [warning, t("Checked against block {number} of {node}.", { number, node: nodeName }),
          trust.note, sealLine(outcome, validators, number), notProven]);
      return;
    }
    const age = node.head - number;
    render(relay || published ? "partial" : "verified",
      relay || published ? t("verified ✓ against the platform's own node only: not independent")
        : t("verified ✓"),
      [warning,
        t("Proven against block {number} of {node} ({age} blocks behind its head {head}): {items}.",
          { number, node: nodeName, age, head: node.head, items: shown.proven.join(", ") }),
        t("Also proven, with coupon {serial}: its edition, owner, status and sale time, and the edition's declared data.", { serial }),
        sealLine(outcome, validators, number), trust.note, notProven,
        relay || published ? t("For an independent check, enter a node of your own below.") : null]);
  } catch (error) {
    if (error instanceof CouldNotCheck) {
      render("unchecked", t("could not check: {reason}", { reason: error.message }),
        [notProven]);
    } else {  // a field missing or of the wrong type: the answer is not a proof
      render("failed", t("NOT verified ✗ — the platform's answer is not a coupon proof ({error})",
        { error: error.message }), [notProven]);
    }
  }
}

function start() {
  const badge = document.getElementById("proof-badge");
  if (!badge) return;
  const form = badge.querySelector("#badge-node");
  const field = badge.querySelector("#badge-node-url");
  const validators = badge.querySelector("#badge-validators");
  field.value = localStorage.getItem(NODE_KEY) || badge.dataset.defaultNode || "";
  validators.value = localStorage.getItem(VALIDATORS_KEY) || "";
  form.hidden = false;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const url = field.value.trim();
    if (url && url !== badge.dataset.defaultNode) localStorage.setItem(NODE_KEY, url);
    else localStorage.removeItem(NODE_KEY);
    if (validators.value.trim()) localStorage.setItem(VALIDATORS_KEY, validators.value.trim());
    else localStorage.removeItem(VALIDATORS_KEY);
    run(badge);
  });
  run(badge);
}

start();
