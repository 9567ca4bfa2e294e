#include "messages/json_codec.hpp"
#include "messages/json_scan.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <map>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include <caf/error.hpp>

#include <nlohmann/json.hpp>

#include "messages/wire_fields.hpp"

namespace orch {

namespace {

// An ordered document keeps the field order of the structs on output and the
// key order of an embedded payload on the way through.
using json = nlohmann::ordered_json;

/// Deepest nesting of arrays and objects a decoder accepts.
constexpr size_t max_depth = 64;

using namespace wire;

// -- helpers ------------------------------------------------------------------

/// Returns whether arrays and objects in `text` nest deeper than `limit`.
/// Brackets inside strings do not count; unbalanced input is left to the
/// parser. Runs before parsing so that no deep document is ever built.
bool nests_deeper(std::string_view text, size_t limit) {
  size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (auto c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit)
        return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

bool blank_text(std::string_view text) {
  return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// -- encoding -----------------------------------------------------------------

template<class T>
json to_value(const T& x);

json to_value(const std::string& x) {
  return x;
}

json to_value(bool x) {
  return x;
}

json to_value(int32_t x) {
  return x;
}

json to_value(int64_t x) {
  return x;
}

json to_value(double x) {
  return x;
}

template<class T>
json to_value(const std::vector<T>& xs) {
  auto out = json::array();
  for (auto& x : xs)
    out.push_back(to_value(x));
  return out;
}

template<class V>
json to_value(const std::map<std::string, V>& xs) {
  auto out = json::object();
  for (auto& [key, value] : xs)
    out[key] = to_value(value);
  return out;
}

/// Embeds a payload holding an object or array as that value, anything else
/// (empty, plain text, scalars, too deep) as a string.
json embed_payload(const std::string& text) {
  auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos || (text[first] != '{' && text[first] != '['))
    return text;
  // The envelope itself takes one level.
  if (nests_deeper(text, max_depth - 1))
    return text;
  auto doc = json::parse(text, nullptr, false);
  if (doc.is_discarded())
    return text;
  return doc;
}

class json_writer {
public:
  explicit json_writer(json& out) : out_(out) {
    // nop
  }

  template<class T>
  void operator()(const char* name, T& x, need = need::optional) {
    out_[name] = to_value(x);
  }

  void operator()(const char* name, json_text x, need = need::optional) {
    out_[name] = embed_payload(x.text);
  }

private:
  json& out_;
};

/// Encodes one of the wire structs as an object.
template<class T>
json to_value(const T& x) {
  static_assert(wire_name<T> != nullptr, "not a wire type");
  auto out = json::object();
  json_writer writer{out};
  fields(writer, const_cast<T&>(x));
  return out;
}

// -- decoding -----------------------------------------------------------------

std::string got(const json& x) {
  return std::string{"got "} + x.type_name();
}

template<class Int>
constexpr const char* int_name() {
  return sizeof(Int) == 4 ? "int32" : "int64";
}

template<class Int>
[[noreturn]] void out_of_range(const json& x, const where& at) {
  fail(at, "number " + clip(compact_json(x)) + " out of " + int_name<Int>() + " range");
}

/// Reads an integer; integral floats such as 3.0 are accepted.
template<class Int>
Int to_integer(const json& x, const where& at) {
  using limits = std::numeric_limits<Int>;
  if (x.is_number_unsigned()) {
    auto val = x.get<uint64_t>();
    if (val > static_cast<uint64_t>(limits::max()))
      out_of_range<Int>(x, at);
    return static_cast<Int>(val);
  }
  if (x.is_number_integer()) {
    auto val = x.get<int64_t>();
    if constexpr (sizeof(Int) < sizeof(int64_t)) {
      if (val < limits::min() || val > limits::max())
        out_of_range<Int>(x, at);
    }
    return static_cast<Int>(val);
  }
  if (x.is_number_float()) {
    auto val = x.get<double>();
    if (!std::isfinite(val) || val != std::trunc(val))
      fail(at, "expected integer, got " + clip(compact_json(x)));
    // -min() is a power of two and therefore exact as a double.
    auto bound = -static_cast<double>(limits::min());
    if (val < -bound || val >= bound)
      out_of_range<Int>(x, at);
    return static_cast<Int>(val);
  }
  fail(at, "expected integer, " + got(x));
}

template<class T>
void from_value(const json& x, const where& at, T& out);

void from_value(const json& x, const where& at, std::string& out) {
  if (!x.is_string())
    fail(at, "expected string, " + got(x));
  out = x.get_ref<const std::string&>();
}

void from_value(const json& x, const where& at, bool& out) {
  if (!x.is_boolean())
    fail(at, "expected boolean, " + got(x));
  out = x.get<bool>();
}

void from_value(const json& x, const where& at, int32_t& out) {
  out = to_integer<int32_t>(x, at);
}

void from_value(const json& x, const where& at, int64_t& out) {
  out = to_integer<int64_t>(x, at);
}

void from_value(const json& x, const where& at, double& out) {
  if (!x.is_number())
    fail(at, "expected number, " + got(x));
  out = x.get<double>();
  // No wire keeps a negative zero apart (msgpack packs -0.0 as 0).
  if (out == 0)
    out = 0;
}

template<class T>
void from_value(const json& x, const where& at, std::vector<T>& out) {
  if (!x.is_array())
    fail(at, "expected array, " + got(x));
  out.clear();
  out.resize(x.size());
  for (size_t i = 0; i < out.size(); ++i) {
    where here{&at, {}, i, true};
    from_value(x[i], here, out[i]);
  }
}

template<class V>
void from_value(const json& x, const where& at, std::map<std::string, V>& out) {
  if (!x.is_object())
    fail(at, "expected object, " + got(x));
  out.clear();
  for (auto& [key, value] : x.items()) {
    where here{&at, key};
    from_value(value, here, out[key]);
  }
}

/// Stores an object or array payload as its JSON text, a string as is.
void read_payload(const json& x, const where& at, std::string& out) {
  if (x.is_string())
    out = x.get_ref<const std::string&>();
  else if (x.is_object() || x.is_array())
    out = compact_json(x);
  else
    fail(at, "expected object, array or string, " + got(x));
}

class json_reader {
public:
  json_reader(const json& obj, const where& at) : obj_(obj), at_(at) {
    // nop
  }

  template<class T>
  void operator()(const char* name, T& x, need n = need::optional) {
    where here{&at_, name};
    if (auto val = lookup(name, here, n))
      from_value(*val, here, x);
  }

  void operator()(const char* name, json_text x, need n = need::optional) {
    where here{&at_, name};
    if (auto val = lookup(name, here, n))
      read_payload(*val, here, x.text);
  }

private:
  /// Returns the value of `name`, or null when absent and optional.
  const json* lookup(const char* name, const where& here, need n) const {
    auto i = obj_.find(name);
    if (i != obj_.end() && !i->is_null())
      return &*i;
    if (n == need::required)
      fail(here, "missing required field");
    return nullptr;
  }

  const json& obj_;
  const where& at_;
};

/// Decodes one of the wire structs from an object.
template<class T>
void from_value(const json& x, const where& at, T& out) {
  static_assert(wire_name<T> != nullptr, "not a wire type");
  if (!x.is_object())
    fail(at, "expected object, " + got(x));
  json_reader reader{x, at};
  fields(reader, out);
}

/// Shortens an nlohmann error: drops the "[json.exception.parse_error.101] "
/// prefix and the "; last read: '...'" excerpt, which echoes raw (possibly
/// huge or binary) input; keeps the position and what was expected.
std::string parser_message(const char* what) {
  std::string_view msg{what};
  if (!msg.empty() && msg.front() == '[') {
    auto end = msg.find("] ");
    if (end != std::string_view::npos)
      msg.remove_prefix(end + 2);
  }
  auto excerpt = msg.find("; last read: '");
  if (excerpt == std::string_view::npos)
    return clip(msg, 200);
  std::string out{msg.substr(0, excerpt)};
  auto expected = msg.rfind("'; expected ");
  if (expected != std::string_view::npos && expected > excerpt)
    out += msg.substr(expected + 1);
  return out;
}

} // namespace

// -- API ----------------------------------------------------------------------

template<class T>
caf::expected<T> from_json(std::string_view text) {
  std::string root = wire_name<T>;
  try {
    if (blank_text(text))
      return failure(root + ": empty input");
    if (nests_deeper(text, max_depth))
      return failure(root + ": JSON nests deeper than "
                     + std::to_string(max_depth) + " levels");
    auto doc = json::parse(text.begin(), text.end());
    T result;
    from_value(doc, where{nullptr, root}, result);
    return result;
  } catch (const decode_error& e) {
    return failure(e.what);
  } catch (const json::exception& e) {
    return failure(root + ": invalid JSON: " + parser_message(e.what()));
  } catch (const std::bad_alloc&) {
    return failure(root + ": out of memory");
  } catch (const std::exception& e) {
    return failure(root + ": " + e.what());
  } catch (...) {
    return failure(root + ": unknown error");
  }
}

#define ORCH_JSON_API(type)                                                    \
  std::string to_json(const type& x) {                                         \
    return compact_json(to_value(x));                                          \
  }                                                                            \
  template caf::expected<type> from_json<type>(std::string_view);

ORCH_WIRE_TYPES(ORCH_JSON_API)

#undef ORCH_JSON_API
#undef ORCH_WIRE_TYPES

void append_json_string(std::string& out, std::string_view in) {
  out += '"';
  append_json_chars(out, in);
  out += '"';
}

void append_json_chars(std::string& out, std::string_view in) {
  static constexpr char hex[] = "0123456789abcdef";
  // Written through a pointer into room made ahead: an append per run and
  // a push per escaped character (a prompt has a new line every line) were
  // most of what a model request cost to write (callgrind,
  // llm_concurrency). `room(n)` makes n more bytes writable at `at`.
  // Most parts of a prompt (ids, names, one-line texts) have nothing to
  // escape: one append.
  auto first = json_scan::plain_run(in, 0);
  if (first == in.size()) {
    out.append(in.data(), in.size());
    return;
  }
  size_t at = out.size();
  out.resize(at + in.size() + in.size() / 8 + 8);
  auto room = [&](size_t n) {
    if (at + n > out.size())
      out.resize(std::max(at + n + in.size() / 8, 2 * out.size()));
  };
  size_t i = 0;
  while (i < in.size()) {
    // A run of characters that stay as they are, copied at once, and room
    // for what may follow it (an escape is at most 6 bytes).
    auto run = i == 0 ? first : json_scan::plain_run(in, i);
    room(run - i + 6);
    char* d = out.data();
    std::memcpy(d + at, in.data() + i, run - i);
    at += run - i;
    i = run;
    if (i == in.size())
      break;
    auto c = static_cast<unsigned char>(in[i]);
    if (c >= 0x80) {
      auto len = json_scan::utf8_sequence(in, i);
      if (len > 0) {
        std::memcpy(d + at, in.data() + i, len);
        at += len;
        i += len;
      } else {
        // U+FFFD for a byte that starts no valid UTF-8 sequence.
        d[at] = '\xEF';
        d[at + 1] = '\xBF';
        d[at + 2] = '\xBD';
        at += 3;
        ++i;
      }
      continue;
    }
    char e = 0;
    switch (c) {
      case '"': e = '"'; break;
      case '\\': e = '\\'; break;
      case '\n': e = 'n'; break;
      case '\r': e = 'r'; break;
      case '\t': e = 't'; break;
      case '\b': e = 'b'; break;
      case '\f': e = 'f'; break;
      default: break;
    }
    d[at] = '\\';
    if (e != 0) {
      d[at + 1] = e;
      at += 2;
    } else {
      // Any other control character (plain_run stops only at these).
      d[at + 1] = 'u';
      d[at + 2] = '0';
      d[at + 3] = '0';
      d[at + 4] = hex[c >> 4];
      d[at + 5] = hex[c & 0xF];
      at += 6;
    }
    ++i;
  }
  out.resize(at);
}

} // namespace orch
