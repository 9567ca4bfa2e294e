#pragma once

// An HTTP/1.x response as a client reads it off a connection, in pieces of
// any size: the status line, the headers a JSON API's client needs
// (Content-Length, Transfer-Encoding, Connection, Retry-After), and the body,
// framed by Content-Length, by the chunked coding, or by the connection's
// end (RFC 9112 §6.3). Interim 1xx responses are skipped. Pure code, no
// sockets: bridges/http_transport.cpp feeds it, tests/fuzz/http_reply.cpp
// fuzzes it.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "bridges/http_outcome.hpp"

namespace orch {

class http_reply_parser {
public:
  enum class result {
    /// The response is not complete yet.
    more,
    /// The response is complete.
    done,
    /// The bytes are not an HTTP/1.x response, or the body is larger than
    /// the limit (too_large()); error() says what.
    failed,
  };

  explicit http_reply_parser(size_t max_body = max_reply_bytes);

  /// Forgets the last response: the next byte starts a new one.
  void reset();

  /// Reads bytes of the response. `used` is how many were part of it
  /// (fewer than `size` only when it returns done or failed).
  result feed(const char* data, size_t size, size_t& used);

  /// The connection ended: completes a body that runs to the connection's
  /// end, fails anything else that had begun.
  result finish();

  /// Whether any byte of a response came.
  bool started() const {
    return started_;
  }

  /// The status code (of the final response, once headers are read).
  int status() const {
    return status_;
  }

  /// Seconds from a Retry-After header with a number, else -1.
  long retry_after() const {
    return retry_after_;
  }

  /// Whether the connection may carry the next request (done only).
  bool keep_alive() const {
    return keep_alive_;
  }

  /// Whether it failed for a body over the limit.
  bool too_large() const {
    return too_large_;
  }

  std::string& body() {
    return body_;
  }

  const std::string& error() const {
    return error_;
  }

private:
  enum class state {
    status_line,
    headers,
    body_length,
    body_to_end,
    chunk_size,
    chunk_data,
    chunk_data_end,
    trailers,
    complete,
    broken,
  };

  result fail(std::string why);
  /// Appends up to `n` bytes to the body, within the limit.
  bool take_body(const char* data, size_t n);
  /// A whole line (without CR LF) in the state that reads lines.
  result on_line(std::string_view line);
  result on_status_line(std::string_view line);
  result on_header(std::string_view line);
  /// After the empty line that ends the headers.
  result on_headers_end();

  size_t max_body_;
  state state_ = state::status_line;
  bool started_ = false;
  int status_ = 0;
  int minor_version_ = 1;
  long retry_after_ = -1;
  bool keep_alive_ = true;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
  bool chunked_ = false;
  bool other_coding_ = false;
  bool has_length_ = false;
  bool too_large_ = false;
  uint64_t length_ = 0;
  /// Body bytes (or chunk bytes) still to come.
  uint64_t remaining_ = 0;
  /// A line read in part, and the headers' size so far.
  std::string line_;
  size_t header_bytes_ = 0;
  std::string body_;
  std::string error_;
};

} // namespace orch
