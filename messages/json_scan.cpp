#include "messages/json_scan.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "messages/json_codec.hpp"

namespace orch {

namespace json_scan {

namespace {

bool is_hex(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
         || (c >= 'A' && c <= 'F');
}

/// The code unit of the `\uXXXX` escape at `in[i]`, or -1.
long unicode_escape(std::string_view in, size_t i) {
  if (i + 6 > in.size() || in[i] != '\\' || in[i + 1] != 'u')
    return -1;
  long unit = 0;
  for (size_t k = 2; k < 6; ++k) {
    auto c = static_cast<unsigned char>(in[i + k]);
    if (!is_hex(c))
      return -1;
    unit = unit * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  }
  return unit;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

/// Where scan_string puts a string's text when it is only checked.
struct discard {
  void append(const char*, size_t) {
  }
  void push_back(char) {
  }
};

/// Writes through a pointer into room its user made.
struct raw_sink {
  char* at;
  void append(const char* x, size_t n) {
    std::memcpy(at, x, n);
    at += n;
  }
  void push_back(char c) {
    *at++ = c;
  }
};

/// Appends code point `cp` to `out` as UTF-8.
template<class Out>
void append_utf8(Out& out, unsigned long cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

/// Checks the string literal at `in[i]` (a quote) and moves `i` past it,
/// putting its text, escapes decoded, into `out` (a std::string, or
/// `discard` to check only): skip_string and read_string are this with
/// either. False when it is not a valid one (RFC 8259: no control
/// characters, valid escapes with surrogates in pairs, valid UTF-8).
template<class Out>
bool scan_string(std::string_view in, size_t& i, Out& out) {
  ++i;
  while (i < in.size()) {
    // A run without escapes, copied at once.
    auto run = plain_run(in, i);
    out.append(in.data() + i, run - i);
    i = run;
    if (i == in.size())
      return false;
    auto c = static_cast<unsigned char>(in[i]);
    if (c == '"') {
      ++i;
      return true;
    }
    if (c < 0x20)
      return false;
    if (c >= 0x80) {
      auto len = utf8_sequence(in, i);
      if (len == 0)
        return false;
      out.append(in.data() + i, len);
      i += len;
      continue;
    }
    // A backslash: plain_run stops at nothing else.
    if (i + 1 >= in.size())
      return false;
    auto e = in[i + 1];
    switch (e) {
      case '"':
      case '\\':
      case '/': out.push_back(e); break;
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'u': {
        auto unit = unicode_escape(in, i);
        if (unit < 0 || (unit >= 0xDC00 && unit <= 0xDFFF))
          return false;
        auto cp = static_cast<unsigned long>(unit);
        if (unit >= 0xD800 && unit <= 0xDBFF) {
          // A high surrogate needs its low one right after.
          auto low = unicode_escape(in, i + 6);
          if (low < 0xDC00 || low > 0xDFFF)
            return false;
          cp = 0x10000 + ((cp - 0xD800) << 10)
               + static_cast<unsigned long>(low - 0xDC00);
          i += 6;
        }
        append_utf8(out, cp);
        i += 6;
        continue;
      }
      default: return false;
    }
    i += 2;
  }
  return false;
}

} // namespace

size_t utf8_sequence(std::string_view in, size_t i) {
  auto c = static_cast<unsigned char>(in[i]);
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    lo = c == 0xE0 ? 0xA0 : 0x80;
    hi = c == 0xED ? 0x9F : 0xBF;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    lo = c == 0xF0 ? 0x90 : 0x80;
    hi = c == 0xF4 ? 0x8F : 0xBF;
  }
  if (len == 0 || i + len > in.size())
    return 0;
  for (size_t k = 1; k < len; ++k) {
    auto b = static_cast<unsigned char>(in[i + k]);
    if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF))
      return 0;
  }
  return len;
}

bool skip_string(std::string_view in, size_t& i) {
  discard nothing;
  return scan_string(in, i, nothing);
}

bool skip_number(std::string_view in, size_t& i) {
  auto digits = [&] {
    auto start = i;
    while (i < in.size() && is_digit(in[i]))
      ++i;
    return i > start;
  };
  if (in[i] == '-')
    ++i;
  if (i < in.size() && in[i] == '0')
    ++i;
  else if (!digits())
    return false;
  if (i < in.size() && in[i] == '.') {
    ++i;
    if (!digits())
      return false;
  }
  if (i < in.size() && (in[i] == 'e' || in[i] == 'E')) {
    ++i;
    if (i < in.size() && (in[i] == '+' || in[i] == '-'))
      ++i;
    if (!digits())
      return false;
  }
  return true;
}

void skip_space(std::string_view in, size_t& i) {
  if (i == 0 && in.substr(0, 3) == "\xEF\xBB\xBF")
    i = 3;
  while (i < in.size()
         && (in[i] == ' ' || in[i] == '\t' || in[i] == '\n' || in[i] == '\r'))
    ++i;
}

bool read_string(std::string_view in, size_t& i, std::string& out) {
  // Checked and measured first, then decoded through a pointer into room
  // made once: the decoded text is never longer than the literal (an
  // append per run and the string's growth by doubling were a model
  // reply's costliest part).
  auto end = i;
  if (!skip_string(in, end))
    return false;
  out.resize(end - i);
  raw_sink sink{out.data()};
  scan_string(in, i, sink);
  out.resize(static_cast<size_t>(sink.at - out.data()));
  return true;
}

bool read_string_view(std::string_view in, size_t& i, std::string& buf,
                      std::string_view& out) {
  // A run of plain characters that ends at the closing quote is the text.
  auto start = i + 1;
  auto run = plain_run(in, start);
  if (run < in.size() && in[run] == '"') {
    out = in.substr(start, run - start);
    i = run + 1;
    return true;
  }
  if (!read_string(in, i, buf))
    return false;
  out = buf;
  return true;
}

bool check_value(std::string_view in, size_t& i) {
  // A string or a number (most values a reader skips) without the
  // machinery for containers.
  if (i < in.size()) {
    if (in[i] == '"')
      return skip_string(in, i);
    if (in[i] == '-' || is_digit(in[i]))
      return skip_number(in, i);
  }
  // The containers open around the current position: '{' or '['. No
  // recursion, so any depth is fine; a string holds the first 15 without
  // allocating (a vector allocated three times for a chat completion).
  std::string open;
  enum { value, key, after } state = value;
  for (;;) {
    if (state == after && open.empty())
      return true;
    skip_space(in, i);
    if (state == key) {
      if (i == in.size() || in[i] != '"' || !skip_string(in, i))
        return false;
      skip_space(in, i);
      if (i == in.size() || in[i] != ':')
        return false;
      ++i;
      state = value;
      continue;
    }
    if (state == after) {
      if (i == in.size())
        return false;
      auto c = in[i++];
      if (c == ',') {
        state = open.back() == '{' ? key : value;
      } else if (c == (open.back() == '{' ? '}' : ']')) {
        open.pop_back();
      } else {
        return false;
      }
      continue;
    }
    // A value.
    if (i == in.size())
      return false;
    auto c = in[i];
    state = after;
    if (c == '{' || c == '[') {
      ++i;
      skip_space(in, i);
      if (i < in.size() && in[i] == (c == '{' ? '}' : ']')) {
        ++i;
        continue;
      }
      open.push_back(c);
      state = c == '{' ? key : value;
    } else if (c == '"') {
      if (!skip_string(in, i))
        return false;
    } else if (c == '-' || is_digit(c)) {
      if (!skip_number(in, i))
        return false;
    } else {
      bool literal = false;
      for (std::string_view word : {"true", "false", "null"})
        if (in.substr(i, word.size()) == word) {
          i += word.size();
          literal = true;
          break;
        }
      if (!literal)
        return false;
    }
  }
}

} // namespace json_scan

bool is_json(std::string_view in) {
  // A byte order mark may lead, as nlohmann's parser allows (skip_space
  // takes it at the start).
  size_t i = 0;
  json_scan::skip_space(in, i);
  if (!json_scan::check_value(in, i))
    return false;
  json_scan::skip_space(in, i);
  return i == in.size();
}

} // namespace orch
