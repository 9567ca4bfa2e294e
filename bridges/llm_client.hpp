#pragma once

// The LLM HTTP bridge: a thread of its own that POSTs to http:// endpoints
// over its own HTTP/1.1 connections and to https:// ones through libcurl,
// behind an actor that speaks `llm_client_actor`. No scheduler thread ever
// waits on the network; replies come back as messages.

#include <cstdint>

#include <caf/fwd.hpp>

#include "actors/actors.hpp"

namespace orch {

/// Tuning of the LLM client.
struct llm_client_settings {
  /// Requests in flight per endpoint (scheme://host:port); more wait in a
  /// queue inside the bridge.
  int32_t max_per_endpoint = 4096;
  /// Attempts after the first on connection errors, 429 and 5xx.
  int32_t max_retries = 3;
  /// Backoff before retry n is base * 2^n, times a jitter in [0.5, 1.5),
  /// at most `backoff_max_ms`; a Retry-After header wins (up to the max).
  int32_t backoff_base_ms = 200;
  int32_t backoff_max_ms = 10'000;
  /// Consecutive failed attempts (connection errors, time-outs, 5xx) that
  /// open the circuit of an endpoint.
  int32_t breaker_threshold = 5;
  /// How long an open circuit fails fast before one probe may pass.
  int32_t breaker_cooldown_ms = 5'000;
  /// POSTs to http:// URLs through libcurl too, instead of the client's
  /// own HTTP/1.1 transport (for comparing the two; https:// always goes
  /// through libcurl).
  bool curl_for_http = false;
  /// Replies and requests gathered: after the client reads replies, it
  /// reads again no sooner than 1/`gather_share` of a model call's mean
  /// time later and at most `gather_max_us` later (0: at once, as before),
  /// while at least `gather_min_in_flight` calls are in flight. Requests
  /// made meanwhile go out at that read too: the client's thread sleeps
  /// through the window. Replies that come close together, and the
  /// requests their answers lead to, then wake the process once instead
  /// of once each: a wake-up costs a context switch per thread it reaches,
  /// which on this project's VMs is the client's largest cost at hundreds
  /// of calls in flight (README, benchmarks). It adds at most twice that
  /// share to a call's time (its request held, its reply held).
  int32_t gather_max_us = 2000;
  int32_t gather_share = 128;
  int32_t gather_min_in_flight = 32;
};

/// Spawns the LLM client: an actor in front of the HTTP transports, which
/// run on a thread of their own. The thread stops when the actor exits.
llm_client_actor spawn_llm_client(caf::actor_system& sys,
                                  llm_client_settings settings = {});

} // namespace orch
