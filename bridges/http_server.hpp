#pragma once

// The HTTP bridge (cpp-httplib from Debian): a server on its own threads for
// the operational endpoints of `serve`. Routes are plain functions supplied
// by the runtime; no httplib type leaves this file pair.

#include <functional>
#include <map>
#include <memory>
#include <string>

#include <caf/expected.hpp>

namespace orch {

/// A request as the routes see it.
struct http_request {
  std::string method;
  std::string path;
  std::map<std::string, std::string> query;
  std::string body;
};

/// What a route answers.
struct http_response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

/// A route: answers one method and path.
using http_route = std::function<http_response(const http_request&)>;

/// A running HTTP server; stops when destroyed.
class http_server {
public:
  virtual ~http_server() = default;
  /// The port it listens on (useful with port 0).
  virtual int port() const = 0;
  /// Stops listening and joins its threads.
  virtual void stop() = 0;
};

struct http_settings {
  std::string host = "0.0.0.0";
  /// 0 picks a free port.
  int port = 8080;
  /// Largest request body accepted; bigger ones get 413.
  size_t max_body = 1 << 20;
};

/// Starts serving `routes` ("GET /healthz" -> route). Unknown paths get
/// 404, known paths with another method 405, bodies over the limit 413, a
/// route that throws 500; every error body is JSON {"error": "..."}.
caf::expected<std::unique_ptr<http_server>>
start_http_server(const http_settings& settings,
                  std::map<std::string, http_route> routes);

/// A JSON error body {"error": text}.
std::string json_error(const std::string& text);

} // namespace orch
