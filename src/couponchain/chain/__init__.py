"""Chain access: node supervisor, JSON-RPC client, contracts, keys, gateway, proofs."""
