#include "runtime/provision.hpp"

#include <chrono>
#include <cstdio>
#include <thread>

#include <spdlog/spdlog.h>

#include "bridges/nats_consumers.hpp"
#include "bridges/nats_link.hpp"
#include "runtime/serve.hpp"

namespace orch {

int run_provision(const config& cfg, int timeout_seconds) {
  auto until = std::chrono::steady_clock::now()
               + std::chrono::seconds(timeout_seconds);
  auto consumers = default_consumers();
  std::string last;
  for (;;) {
    auto link = nats_connect(nats_settings_of(cfg, false));
    caf::error err;
    if (!link)
      err = std::move(link.error());
    else if (!(err = ensure_streams(**link)))
      err = ensure_consumers(**link, consumers);
    if (!err) {
      std::printf("provisioned the streams and %zu durables on %s\n",
                  consumers.size(), redact_url(cfg.nats_url).c_str());
      return 0;
    }
    last = render(err);
    if (std::chrono::steady_clock::now() >= until)
      break;
    spdlog::warn("provision cannot finish yet: {}", last);
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
  std::fprintf(stderr, "orchestrator: provision failed after %d s: %s\n",
               timeout_seconds, last.c_str());
  return 1;
}

} // namespace orch
