#pragma once

// The proofs nodes and orchestrators exchange before any placement:
// HMAC-SHA256 with NODE_SECRET (libcrypto), hex-encoded. The secret stays
// inside the function; actors only see proofs.

#include <string>

#include "actors/nodes.hpp"

namespace orch {

/// A prover for `secret` (nullptr when the secret is empty).
node_prover make_node_prover(const std::string& secret);

} // namespace orch
