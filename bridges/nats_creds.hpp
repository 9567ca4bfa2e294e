#pragma once

// A NATS credentials file (NATS_CREDS): the user's JWT and nkey seed, read
// the way nats.c and the Go client read them. The NATS link signs the
// server's nonce with them itself (nats_link.cpp says why).

#include <string>
#include <string_view>

#include <caf/expected.hpp>

namespace orch {

/// What a credentials file holds. The seed is a secret: it is wiped when
/// the object goes and appears in no message.
struct nats_creds {
  std::string jwt;
  std::string seed;

  nats_creds() = default;
  nats_creds(const nats_creds&) = delete;
  nats_creds& operator=(const nats_creds&) = delete;
  nats_creds(nats_creds&&) = default;
  nats_creds& operator=(nats_creds&&) = default;
  ~nats_creds();
};

/// Reads the sections of `text`: a line framed by dashes ("-----BEGIN NATS
/// USER JWT-----"), the value on the next line (blank lines allowed before
/// the closing frame), a closing frame. The first section is the JWT, the
/// second the user's seed (it starts "SU"). An error says which is missing,
/// never what the file holds.
caf::expected<nats_creds> parse_nats_creds(std::string_view text);

/// Reads and parses the file at `path`; errors name the file.
caf::expected<nats_creds> read_nats_creds(const std::string& path);

} // namespace orch
