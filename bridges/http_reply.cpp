#include "bridges/http_reply.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>

namespace orch {

namespace {

/// Longest header section (all lines) and longest chunk-size or trailer
/// line: a server that sends more is not one this client talks to.
constexpr size_t max_header_bytes = 64 * 1024;
constexpr size_t max_line_bytes = 8 * 1024;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size()
         && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
              auto lower = [](char c) {
                return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
              };
              return lower(x) == lower(y);
            });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

/// Calls `f` with each element of a comma-separated list, trimmed.
template<class F>
void each_token(std::string_view list, F f) {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = trim(list.substr(0, comma));
    if (!item.empty())
      f(item);
    if (comma == std::string_view::npos)
      break;
    list.remove_prefix(comma + 1);
  }
}

/// A decimal number of digits only, at most 2^62; false otherwise.
bool parse_decimal(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 18)
    return false;
  uint64_t x = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return false;
    x = x * 10 + static_cast<uint64_t>(c - '0');
  }
  out = x;
  return true;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

} // namespace

http_reply_parser::http_reply_parser(size_t max_body) : max_body_(max_body) {}

void http_reply_parser::reset() {
  state_ = state::status_line;
  started_ = false;
  status_ = 0;
  minor_version_ = 1;
  retry_after_ = -1;
  keep_alive_ = true;
  connection_close_ = false;
  connection_keep_alive_ = false;
  chunked_ = false;
  other_coding_ = false;
  has_length_ = false;
  too_large_ = false;
  length_ = 0;
  remaining_ = 0;
  line_.clear();
  header_bytes_ = 0;
  body_.clear();
  error_.clear();
}

http_reply_parser::result http_reply_parser::fail(std::string why) {
  state_ = state::broken;
  keep_alive_ = false;
  error_ = std::move(why);
  return result::failed;
}

bool http_reply_parser::take_body(const char* data, size_t n) {
  if (body_.size() + n > max_body_) {
    too_large_ = true;
    fail("the reply is larger than " + std::to_string(max_body_) + " bytes");
    return false;
  }
  body_.append(data, n);
  return true;
}

http_reply_parser::result http_reply_parser::feed(const char* data, size_t size,
                                                  size_t& used) {
  used = 0;
  if (size > 0)
    started_ = true;
  while (used < size) {
    switch (state_) {
      case state::complete: return result::done;
      case state::broken: return result::failed;
      case state::body_length:
      case state::chunk_data: {
        auto n
          = static_cast<size_t>(std::min<uint64_t>(remaining_, size - used));
        if (!take_body(data + used, n))
          return result::failed;
        used += n;
        remaining_ -= n;
        if (remaining_ == 0) {
          if (state_ == state::chunk_data) {
            state_ = state::chunk_data_end;
          } else {
            state_ = state::complete;
            return result::done;
          }
        }
        break;
      }
      case state::body_to_end: {
        if (!take_body(data + used, size - used))
          return result::failed;
        used = size;
        break;
      }
      default: {
        // A state that reads lines: up to the next LF.
        auto* start = data + used;
        auto* lf
          = static_cast<const char*>(std::memchr(start, '\n', size - used));
        auto n = lf ? static_cast<size_t>(lf - start) + 1 : size - used;
        auto limit = state_ == state::status_line || state_ == state::headers
                       ? max_header_bytes
                           - std::min(header_bytes_, max_header_bytes)
                       : max_line_bytes;
        if (line_.size() + n > limit)
          return fail("malformed HTTP reply: a header or chunk line is "
                      "too long");
        used += n;
        if (!lf) {
          line_.append(start, n);
          break;
        }
        std::string_view line;
        if (line_.empty()) {
          line = std::string_view{start, n - 1};
        } else {
          line_.append(start, n - 1);
          line = line_;
        }
        if (!line.empty() && line.back() == '\r')
          line.remove_suffix(1);
        if (state_ == state::status_line || state_ == state::headers)
          header_bytes_ += n;
        auto r = on_line(line);
        line_.clear();
        if (r != result::more)
          return r;
        if (state_ == state::complete)
          return result::done;
      }
    }
  }
  return state_ == state::complete ? result::done : result::more;
}

http_reply_parser::result http_reply_parser::on_line(std::string_view line) {
  switch (state_) {
    case state::status_line:
      // An empty line before a status line is skipped, as before a request.
      return line.empty() ? result::more : on_status_line(line);
    case state::headers:
      if (line.empty())
        return on_headers_end();
      return on_header(line);
    case state::chunk_size: {
      // hex digits, then optional extensions after ';'
      auto semi = line.find(';');
      auto digits = trim(line.substr(0, semi));
      if (digits.empty() || digits.size() > 15)
        return fail("malformed HTTP reply: a bad chunk size");
      uint64_t n = 0;
      for (char c : digits) {
        auto d = hex_digit(c);
        if (d < 0)
          return fail("malformed HTTP reply: a bad chunk size");
        n = n * 16 + static_cast<uint64_t>(d);
      }
      if (n == 0) {
        state_ = state::trailers;
      } else {
        if (body_.size() + n > max_body_) {
          too_large_ = true;
          return fail("the reply is larger than " + std::to_string(max_body_)
                      + " bytes");
        }
        remaining_ = n;
        state_ = state::chunk_data;
      }
      return result::more;
    }
    case state::chunk_data_end:
      if (!line.empty())
        return fail("malformed HTTP reply: a chunk runs past its size");
      state_ = state::chunk_size;
      return result::more;
    case state::trailers:
      if (line.empty())
        state_ = state::complete;
      return result::more;
    default: return fail("malformed HTTP reply");
  }
}

http_reply_parser::result
http_reply_parser::on_status_line(std::string_view line) {
  // HTTP/1.x SP 3DIGIT [SP reason]
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' '
      || (line.size() > 12 && line[12] != ' '))
    return fail("malformed HTTP reply: not an HTTP/1.x status line: '"
                + std::string{line.substr(0, 40)} + "'");
  if (line[7] != '0' && line[7] != '1')
    return fail("malformed HTTP reply: unsupported version");
  int code = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9')
      return fail("malformed HTTP reply: a bad status code");
    code = code * 10 + (line[i] - '0');
  }
  if (code < 100)
    return fail("malformed HTTP reply: a bad status code");
  minor_version_ = line[7] - '0';
  status_ = code;
  state_ = state::headers;
  return result::more;
}

http_reply_parser::result http_reply_parser::on_header(std::string_view line) {
  if (line.front() == ' ' || line.front() == '\t')
    return fail("malformed HTTP reply: a folded header line");
  auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0)
    return fail("malformed HTTP reply: a header line without a name");
  auto name = line.substr(0, colon);
  auto value = trim(line.substr(colon + 1));
  if (iequals(name, "content-length")) {
    uint64_t n = 0;
    if (!parse_decimal(value, n) || (has_length_ && n != length_))
      return fail("malformed HTTP reply: a bad Content-Length");
    has_length_ = true;
    length_ = n;
  } else if (iequals(name, "transfer-encoding")) {
    // The body is chunked when chunked is the last coding; any other
    // last coding runs to the connection's end.
    each_token(value, [&](std::string_view coding) {
      chunked_ = iequals(coding, "chunked");
      other_coding_ = !chunked_;
    });
  } else if (iequals(name, "connection")) {
    each_token(value, [&](std::string_view option) {
      if (iequals(option, "close"))
        connection_close_ = true;
      else if (iequals(option, "keep-alive"))
        connection_keep_alive_ = true;
    });
  } else if (iequals(name, "retry-after")) {
    uint64_t secs = 0;
    if (parse_decimal(value, secs))
      retry_after_ = static_cast<long>(std::min<uint64_t>(secs, 1u << 30));
  }
  return result::more;
}

http_reply_parser::result http_reply_parser::on_headers_end() {
  if (status_ >= 100 && status_ < 200) {
    if (status_ == 101)
      return fail("malformed HTTP reply: 101 Switching Protocols was not "
                  "asked for");
    // An interim response: the real one follows.
    auto seen = header_bytes_;
    reset();
    started_ = true;
    header_bytes_ = seen;
    return result::more;
  }
  keep_alive_ = minor_version_ >= 1
                  ? !connection_close_
                  : connection_keep_alive_ && !connection_close_;
  if (status_ == 204 || status_ == 304) {
    state_ = state::complete;
    return result::more;
  }
  if (chunked_) {
    state_ = state::chunk_size;
    return result::more;
  }
  if (other_coding_ || !has_length_) {
    // Framed by the connection's end: it cannot carry another request.
    keep_alive_ = false;
    state_ = state::body_to_end;
    return result::more;
  }
  if (length_ > max_body_) {
    too_large_ = true;
    return fail("the reply is larger than " + std::to_string(max_body_)
                + " bytes");
  }
  body_.reserve(static_cast<size_t>(length_));
  remaining_ = length_;
  state_ = length_ == 0 ? state::complete : state::body_length;
  return result::more;
}

http_reply_parser::result http_reply_parser::finish() {
  switch (state_) {
    case state::complete: return result::done;
    case state::body_to_end: state_ = state::complete; return result::done;
    case state::broken: return result::failed;
    case state::status_line:
      if (!started_)
        return fail("Empty reply from server");
      [[fallthrough]];
    default:
      return fail("the server closed the connection before the reply was "
                  "complete");
  }
}

} // namespace orch
