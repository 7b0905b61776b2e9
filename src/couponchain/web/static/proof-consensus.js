// Block hashes and seals of proof-of-authority chains (Clique, QBFT, IBFT 2.0) in
// the browser: chain/consensus.py is the reference, this is the same rule set, so
// the page badge and `couponchain verify --engine/--validators` agree on a header
// (tests/unit/test_proof_check_js.py runs both on the same headers). No I/O.
//
// - Ethereum (dev node, geth, anvil) and Clique: keccak256(rlp(header)).
// - QBFT: extraData is rlp([vanity, validators, vote, round, seals]); the block
//   hash uses rlp([vanity, validators, vote, 0, []]), each committed seal signs
//   the header with rlp([vanity, validators, vote, round, []]).
// - IBFT 2.0: the hash uses rlp([vanity, validators, vote]), a seal signs
//   rlp([vanity, validators, vote, round]).
// - Clique: the signer signs the header with extraData's last 65 bytes cut off.
// - The genesis block is hashed as it is in every engine.
// Seals are checked against a validator set the person gives: a BFT block needs
// distinct committers, all validators, at least ceil(2n/3) of n; a Clique block
// needs its signer in the set.
import { secp256k1 } from "@noble/curves/secp256k1";
import { ProofError, bytesToHex, headerHash, hexToBytes, keccakHex, rlpDecode, rlpEncode }
  from "./proof-check.js";

export const ENGINES = ["ethash", "clique", "qbft", "ibft2"];
// The mixHash every QBFT and IBFT 2.0 header carries ("...ctical byzantine fault tolerance").
export const BFT_MIX_HASH = "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365";
const VANITY = 32;
const SEAL = 65;

// The engine to hash `block` with: `stated`, or guessed from the header as
// consensus.engine_of guesses (a BFT mixHash, IBFT 2.0 when the round is four
// bytes; Clique when extraData holds vanity, whole signer addresses and a seal at a
// Clique difficulty, which no Ethereum mainnet header can: its extraData is at most
// 32 bytes; else the plain Ethereum rule).
export function engineOf(block, stated = "auto") {
  if (stated !== "auto") {
    if (!ENGINES.includes(stated)) throw new ProofError(`unknown consensus engine ${stated}`);
    return stated;
  }
  if (String(block.mixHash || "").toLowerCase() === BFT_MIX_HASH) {
    const fields = bftFields(block);
    return fields.length === 5 && fields[3] instanceof Uint8Array && fields[3].length === 4
      ? "ibft2" : "qbft";
  }
  const extra = hexToBytes(block.extraData || "0x");
  const difficulty = BigInt(block.difficulty || "0x0");
  if (extra.length >= VANITY + SEAL && (extra.length - VANITY - SEAL) % 20 === 0
      && (difficulty === 1n || difficulty === 2n)) return "clique";
  return "ethash";
}

// The block hash as the engine computes it, as "0x…".
export function blockHash(block, engine) {
  if (engine === "ethash" || engine === "clique" || BigInt(block.number) === 0n) {
    return headerHash(block);
  }
  return headerHash({ ...block, extraData: "0x" + bytesToHex(bftExtra(block, engine, false)) });
}

// The hash each seal of the header signs (Clique: the signer's; BFT: each committed seal).
export function sealHash(block, engine) {
  if (engine === "clique") {
    const extra = hexToBytes(block.extraData);
    if (extra.length < VANITY + SEAL) {
      throw new ProofError("Clique extraData is shorter than vanity and seal");
    }
    return headerHash({ ...block, extraData: "0x" + bytesToHex(extra.slice(0, -SEAL)) });
  }
  if (engine === "qbft" || engine === "ibft2") {
    return headerHash({ ...block, extraData: "0x" + bytesToHex(bftExtra(block, engine, true)) });
  }
  throw new ProofError(`${engine} blocks carry no validator seals`);
}

// The checksum-free lower-case address that signed `digest` ("0x…" hex) with a
// 65-byte [r, s, v] seal (v 0/1 or 27/28).
function recover(digest, seal) {
  if (seal.length !== SEAL) throw new ProofError("a seal is not a recoverable signature");
  const v = seal[64] >= 27 ? seal[64] % 27 : seal[64];
  try {
    const point = secp256k1.Signature.fromCompact(seal.slice(0, 64)).addRecoveryBit(v)
      .recoverPublicKey(hexToBytes(digest));
    return "0x" + keccakHex(point.toRawBytes(false).slice(1)).slice(24);
  } catch (error) {
    throw new ProofError(`a seal is not a recoverable signature: ${error.message}`);
  }
}

// The addresses that sealed the header (Clique: one; BFT: one per committed seal).
export function signers(block, engine) {
  const digest = sealHash(block, engine);
  const raw = engine === "clique" ? [hexToBytes(block.extraData).slice(-SEAL)]
    : seals(bftFields(block)).filter((s) => s instanceof Uint8Array);
  return raw.map((seal) => recover(digest, seal));
}

// Committed seals a BFT block needs out of `n` validators (ceil(2n/3)).
export function quorum(n) {
  return Math.ceil((2 * n) / 3);
}

// Whether enough of `validators` sealed the header:
// { signers, required, valid, ok, note } (addresses in lower case).
export function checkSeals(block, engine, validators) {
  const members = new Set(validators.map((v) => v.toLowerCase()));
  const found = signers(block, engine);
  const valid = [...new Set(found.filter((s) => members.has(s)))].sort();
  if (engine === "clique") {
    const ok = found.length === 1 && valid.length === 1;
    return { signers: found, required: 1, valid, ok,
      note: ok ? "" : `signed by ${found[0] || "nobody"}, not a validator` };
  }
  const required = quorum(members.size);
  const distinct = new Set(found).size === found.length;
  const ok = distinct && valid.length >= required && valid.length === found.length;
  const note = ok ? "" : !distinct ? "a validator sealed twice"
    : `${valid.length} of ${found.length} seals are by the given validators; ${required} of `
      + `${members.size} needed`;
  return { signers: found, required, valid, ok, note };
}

// The validator set the genesis header's extraData names (lower case).
export function genesisValidators(genesis, engine) {
  const extra = hexToBytes(genesis.extraData);
  if (engine === "clique") {
    const listed = extra.slice(VANITY, extra.length - SEAL);
    if (extra.length < VANITY + SEAL || listed.length % 20) {
      throw new ProofError("Clique genesis extraData does not list whole addresses");
    }
    return Array.from({ length: listed.length / 20 },
      (_, i) => "0x" + bytesToHex(listed.slice(20 * i, 20 * i + 20)));
  }
  if (engine === "qbft" || engine === "ibft2") {
    const listed = bftFields(genesis)[1];
    if (!Array.isArray(listed)
        || !listed.every((a) => a instanceof Uint8Array && a.length === 20)) {
      throw new ProofError("BFT genesis extraData names no validator list");
    }
    return listed.map((a) => "0x" + bytesToHex(a));
  }
  throw new ProofError(`${engine} chains have no validator set`);
}

// Blocks between Clique checkpoints (go-ethereum's default epoch).
export const CLIQUE_EPOCH = 30000;
const VOTE_ADD = "0x" + "ff".repeat(8);
const VOTE_DROP = "0x" + "00".repeat(8);

// The Clique signers that may seal the block after `headers` (the headers that follow
// the checkpoint block `checkpoint`, in order), lower case in address order, as
// consensus.clique_signers lists them (and geth): the checkpoint's list changed by
// each header's vote (EIP-225, go-ethereum's Snapshot.apply). A header votes to add
// (nonce 0xff..ff) or drop (0x00..00) its miner; a signer's new vote on an address
// replaces its old one; a vote that would change nothing is not counted; more than
// half of the signers passes it, which drops the votes on that address (and, for a
// dropped signer, the votes it cast); a checkpoint drops all votes and must list the
// current signers. Throws ProofError, with consensus.py's messages, for a header that
// does not follow the one before, is sealed by no signer of its height or by one that
// sealed one of the last n/2 blocks, or carries another nonce.
export function cliqueSigners(checkpoint, headers, epoch = CLIQUE_EPOCH) {
  const numberOf = (header) => Number(BigInt(header.number));
  if (numberOf(checkpoint) % epoch) {
    throw new ProofError(`block ${numberOf(checkpoint)} is not a Clique checkpoint (epoch ${epoch})`);
  }
  const listed = (header) => genesisValidators(header, "clique").map((a) => a.toLowerCase());
  const current = new Set(listed(checkpoint));
  let votes = [];  // { signer, address, add }, in order
  let tally = new Map();  // address -> { add, count }
  const recents = new Map();  // block number -> signer
  const uncast = (vote) => {
    const counted = tally.get(vote.address);
    if (counted && counted.add === vote.add && !--counted.count) tally.delete(vote.address);
  };
  let parent = checkpoint;
  for (const header of headers) {
    const number = numberOf(header);
    if (number !== numberOf(parent) + 1
        || String(header.parentHash).toLowerCase() !== blockHash(parent, "clique")) {
      throw new ProofError(`block ${number} does not follow block ${number - 1}`);
    }
    if (number % epoch === 0) {
      votes = [];
      tally = new Map();
      const named = new Set(listed(header));
      if (named.size !== current.size || [...named].some((a) => !current.has(a))) {
        throw new ProofError(`checkpoint ${number} lists another signer set`);
      }
    }
    const limit = Math.floor(current.size / 2) + 1;
    recents.delete(number - limit);
    const signer = signers(header, "clique")[0];
    if (!current.has(signer)) {
      throw new ProofError(`block ${number} is sealed by ${signer}, not a signer then`);
    }
    if ([...recents.values()].includes(signer)) {
      throw new ProofError(`block ${number}: ${signer} sealed one of the ${limit - 1} blocks before`);
    }
    recents.set(number, signer);
    const address = String(header.miner).toLowerCase();
    const nonce = String(header.nonce).toLowerCase();
    if (nonce !== VOTE_ADD && nonce !== VOTE_DROP) {
      throw new ProofError(`block ${number} carries no vote nonce (${nonce})`);
    }
    const add = nonce === VOTE_ADD;
    const earlier = votes.findIndex((v) => v.signer === signer && v.address === address);
    if (earlier >= 0) {
      uncast(votes[earlier]);
      votes.splice(earlier, 1);
    }
    if (current.has(address) !== add) {  // a vote that would change the set counts
      if (!tally.has(address)) tally.set(address, { add, count: 0 });
      const counted = tally.get(address);
      if (counted.add === add) {
        counted.count += 1;
        votes.push({ signer, address, add });
      }
    }
    const passed = tally.get(address);
    if (passed && passed.count > Math.floor(current.size / 2)) {
      if (passed.add) current.add(address);
      else {
        current.delete(address);
        recents.delete(number - (Math.floor(current.size / 2) + 1));
        for (const vote of votes.filter((v) => v.signer === address)) {
          uncast(vote);
          votes.splice(votes.indexOf(vote), 1);
        }
      }
      votes = votes.filter((v) => v.address !== address);
      tally.delete(address);
    }
    parent = header;
  }
  // In address order: lower-case hex of equal length sorts as the addresses' bytes.
  return [...current].sort();
}

function bftFields(block) {
  let decoded;
  try {
    decoded = rlpDecode(hexToBytes(block.extraData || "0x"));
  } catch (error) {
    throw new ProofError(`BFT extraData is not RLP: ${error.message}`);
  }
  if (!Array.isArray(decoded) || decoded.length < 3) {
    throw new ProofError("BFT extraData is not a list of vanity, validators, vote, ...");
  }
  return decoded;
}

function seals(fields) {
  const found = fields.length > 4 ? fields[4] : [];
  if (!Array.isArray(found)) throw new ProofError("BFT extraData's committed seals are not a list");
  return found;
}

function bftExtra(block, engine, forSeal) {
  const fields = bftFields(block);
  if (fields.length < 4) throw new ProofError("BFT extraData has no round");
  const [vanity, validators, vote, round] = fields;
  if (engine === "qbft") {
    return rlpEncode([vanity, validators, vote, forSeal ? round : new Uint8Array(), []]);
  }
  return rlpEncode(forSeal ? [vanity, validators, vote, round] : [vanity, validators, vote]);
}
