#include "bridges/node_auth.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace orch {

node_prover make_node_prover(const std::string& secret) {
  if (secret.empty())
    return nullptr;
  return [secret](const std::string& message) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(message.data()),
         message.size(), mac, &len);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (unsigned int i = 0; i < len; ++i) {
      out += hex[mac[i] >> 4];
      out += hex[mac[i] & 0xf];
    }
    return out;
  };
}

} // namespace orch
