/// @file
/// `llm_stub`: the project's OpenAI-compatible test server as a process.
///
///   llm_stub [--host 127.0.0.1] [--port P] [--latency-ms L] [--model M]
///
/// Prints exactly one line `{"port": N}` to stdout once listening and runs
/// until SIGTERM or SIGINT.

#include "tests/llm_stub/llm_stub.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <pthread.h>

namespace {

void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--host H] [--port P] [--latency-ms L] "
               "[--model M]\n",
               argv0);
}

/// Parses a non-negative integer no larger than `max`; -1 on error.
long parse_number(const char* s, long max) {
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (end == s || *end != '\0' || v < 0 || v > max)
    return -1;
  return v;
}

} // namespace

int main(int argc, char** argv) {
  orch::test::llm_stub_server::options opts;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      usage(argv[0]);
      return 0;
    }
    if (i + 1 >= argc) {
      usage(argv[0]);
      return 2;
    }
    const char* value = argv[++i];
    if (arg == "--host") {
      opts.host = value;
    } else if (arg == "--model") {
      opts.model = value;
    } else if (arg == "--port") {
      long v = parse_number(value, 65535);
      if (v < 0) {
        usage(argv[0]);
        return 2;
      }
      opts.port = static_cast<uint16_t>(v);
    } else if (arg == "--latency-ms") {
      long v = parse_number(value, 3600 * 1000);
      if (v < 0) {
        usage(argv[0]);
        return 2;
      }
      opts.latency_ms = static_cast<int>(v);
    } else {
      usage(argv[0]);
      return 2;
    }
  }

  // Block the shutdown signals before the loop thread exists so that it
  // inherits the mask and only sigwait() below receives them.
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  orch::test::llm_stub_server server{opts};
  if (!server.start()) {
    std::fprintf(stderr, "llm_stub: cannot listen on %s:%u\n",
                 opts.host.c_str(), static_cast<unsigned>(opts.port));
    return 1;
  }
  std::printf("{\"port\": %u}\n", static_cast<unsigned>(server.port()));
  std::fflush(stdout);

  int sig = 0;
  sigwait(&signals, &sig);
  server.stop();
  return 0;
}
