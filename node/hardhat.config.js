// Hardhat configuration for CouponChain's embedded EVM node.
//
// couponchain's NodeSupervisor (src/couponchain/chain/node.py) runs
//   node node_modules/hardhat/internal/cli/cli.js --config hardhat.config.js \
//        node --hostname 127.0.0.1 --port PORT
// from this folder and passes the run's settings through the environment:
//   COUPONCHAIN_CHAIN_ID           chain id (default 31337)
//   COUPONCHAIN_GENESIS_TIMESTAMP  genesis block time (epoch seconds), for journal replays
// Run by hand (`node_modules/.bin/hardhat node`) it gives the same chain.
//
// Why each option (each checked against hardhat 2.29.1 with real transactions;
// tests/integration/test_node.py keeps the ones the gateway relies on):
// - allowBlocksWithSameTimestamp: automine makes one block per transaction;
//   without it every block needs a timestamp strictly after its parent, so at
//   thousands of tx/s the chain clock races ahead of the wall clock.
// - initialBaseFeePerGas 0 and a huge blockGasLimit: EIP-1559 raises the base
//   fee only when a block uses more than half the limit, which never happens
//   here, so the base fee stays 0 and transactions priced at 0 from accounts
//   holding no ether are accepted.
// - allowUnlimitedContractSize: large Vyper contracts deploy unchanged.
// - throwOnTransactionFailures true: a reverting transaction is mined either
//   way, and the error reply names its hash (data.txHash), so a hash reply means
//   mined and succeeded; the gateway then needs no receipt (see below).
// - loggingEnabled false: `hardhat node` would otherwise print every call.
// - hardfork: hardhat's default (osaka), as on Ethereum mainnet: EIP-7825 caps a
//   transaction's gas at 16,777,216 and the node refuses one asking for more,
//   whatever the block gas limit (hardhat lifts the cap only for the magic block
//   gas limit 2^53-1 that solidity-coverage uses). Batches must fit under it.
"use strict";

const chainId = Number.parseInt(process.env.COUPONCHAIN_CHAIN_ID ?? "31337", 10);
if (!Number.isSafeInteger(chainId) || chainId <= 0) {
  throw new Error(`COUPONCHAIN_CHAIN_ID must be a positive integer, got ${process.env.COUPONCHAIN_CHAIN_ID}`);
}

// Hardhat's JSON-RPC server answers a batch (a JSON array) with
// Promise.all over its members, so they reach the node concurrently and run
// in no fixed order: an evm_setNextBlockTimestamp meant for one transaction
// can land on another, and a later nonce can arrive first. The gateway relies
// on a batch running in order, so every request of one server is queued here
// and passed on only after the previous one answered. The node runs one
// request at a time anyway; the queue cost 5-20% of raw transfer throughput in
// a measurement on a busy 2-core machine (about 1,300-1,650 vs 1,330-2,000 tx/s).
const { JsonRpcHandler } = require("hardhat/internal/hardhat-network/jsonrpc/handler");
const handleOne = JsonRpcHandler.prototype._handleSingleRequest;
if (typeof handleOne !== "function") {
  throw new Error("couponchain: this hardhat version has no JsonRpcHandler._handleSingleRequest");
}
JsonRpcHandler.prototype._handleSingleRequest = function orderedSingleRequest(req) {
  const previous = this._couponchainQueue ?? Promise.resolve();
  const current = previous.then(() => handleOne.call(this, req));
  // _handleSingleRequest turns every failure into a JSON-RPC error response,
  // so the queue never holds a rejected promise; catch anyway to be safe.
  this._couponchainQueue = current.catch(() => undefined);
  return current;
};

const genesisEnv = process.env.COUPONCHAIN_GENESIS_TIMESTAMP;
const genesis = genesisEnv ? Number.parseInt(genesisEnv, 10) : undefined;

// The chain's clock is the wall clock. Hardhat fills in a missing initialDate
// with the time it resolves this config, and the node then starts its clock
// at that date when it creates the chain, which comes after loading the
// native node module and running the startup tasks: the chain runs behind the
// wall clock by those seconds for its whole life (measured: 4-9 s on a busy
// 2-core machine), so an expiry checked on chain (a reservation, a sales
// window) lapses that much later than the platform computed. Without a date
// the node takes its creation time, at zero offset. A replay's genesis date is
// kept: the reconciler pins every replayed block's time anyway.
const { EdrProviderWrapper } = require("hardhat/internal/hardhat-network/provider/provider");
const createChain = EdrProviderWrapper.create;
if (typeof createChain !== "function") {
  throw new Error("couponchain: this hardhat version has no EdrProviderWrapper.create");
}
if (genesis === undefined) {
  EdrProviderWrapper.create = function createChainOnTheWallClock(config, ...rest) {
    return createChain.call(this, { ...config, initialDate: undefined }, ...rest);
  };
}

module.exports = {
  networks: {
    hardhat: {
      chainId,
      allowBlocksWithSameTimestamp: true,
      initialBaseFeePerGas: 0,
      // EIP-1559 target is half of this; 10^12 is never reached.
      blockGasLimit: 1_000_000_000_000,
      allowUnlimitedContractSize: true,
      mining: { auto: true, interval: 0 },
      loggingEnabled: false,
      // A failed transaction is still mined, and the send reply is an error that
      // names the mined hash: the gateway reads each outcome from its send reply
      // instead of fetching receipts, whose logs cost the node as much as running.
      throwOnTransactionFailures: true,
      // The journal replays old blocks at their recorded timestamps; a fresh node
      // must start before the first of them.
      ...(genesis === undefined ? {} : { initialDate: new Date(genesis * 1000).toISOString() }),
    },
  },
};
