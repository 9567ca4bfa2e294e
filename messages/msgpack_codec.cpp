#include "messages/msgpack_codec.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <limits>
#include <map>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/error.hpp>

#include <msgpack.hpp>

#include "messages/wire_fields.hpp"

namespace orch {

namespace {

/// Deepest nesting of arrays and maps a decoder accepts.
constexpr size_t max_depth = 64;

using namespace wire;

// -- error paths --------------------------------------------------------------

// -- encoding -----------------------------------------------------------------

/// Appends the packer's output to a byte vector.
struct vector_sink {
  std::vector<char>& out;

  void write(const char* data, size_t size) {
    out.insert(out.end(), data, data + size);
  }
};

using packer = msgpack::packer<vector_sink>;

template<class T>
void pack_value(packer& pk, const T& x);

void pack_value(packer& pk, const std::string& x) {
  auto size = static_cast<uint32_t>(x.size());
  pk.pack_str(size);
  pk.pack_str_body(x.data(), size);
}

void pack_value(packer& pk, bool x) {
  if (x)
    pk.pack_true();
  else
    pk.pack_false();
}

void pack_value(packer& pk, int32_t x) {
  pk.pack_int32(x);
}

void pack_value(packer& pk, int64_t x) {
  pk.pack_int64(x);
}

void pack_value(packer& pk, double x) {
  pk.pack_double(x);
}

template<class T>
void pack_value(packer& pk, const std::vector<T>& xs) {
  pk.pack_array(static_cast<uint32_t>(xs.size()));
  for (auto& x : xs)
    pack_value(pk, x);
}

template<class V>
void pack_value(packer& pk, const std::map<std::string, V>& xs) {
  pk.pack_map(static_cast<uint32_t>(xs.size()));
  for (auto& [key, value] : xs) {
    pack_value(pk, key);
    pack_value(pk, value);
  }
}

/// Counts the fields of a struct for the map header.
class field_counter {
public:
  template<class T>
  void operator()(const char*, T&, need = need::optional) {
    ++count_;
  }

  void operator()(const char*, json_text, need = need::optional) {
    ++count_;
  }

  uint32_t count() const {
    return count_;
  }

private:
  uint32_t count_ = 0;
};

class msgpack_writer {
public:
  explicit msgpack_writer(packer& pk) : pk_(pk) {
    // nop
  }

  template<class T>
  void operator()(const char* name, T& x, need = need::optional) {
    pack_key(name);
    pack_value(pk_, x);
  }

  void operator()(const char* name, json_text x, need = need::optional) {
    pack_key(name);
    pack_value(pk_, x.text);
  }

private:
  void pack_key(std::string_view name) {
    auto size = static_cast<uint32_t>(name.size());
    pk_.pack_str(size);
    pk_.pack_str_body(name.data(), size);
  }

  packer& pk_;
};

/// Encodes one of the wire structs as a map keyed by field name.
template<class T>
void pack_value(packer& pk, const T& x) {
  static_assert(wire_name<T> != nullptr, "not a wire type");
  auto& obj = const_cast<T&>(x);
  field_counter counter;
  fields(counter, obj);
  pk.pack_map(counter.count());
  msgpack_writer writer{pk};
  fields(writer, obj);
}

// -- decoding -----------------------------------------------------------------

namespace mp = msgpack::type;

std::string got(const msgpack::object& x) {
  switch (x.type) {
    case mp::NIL: return "got nil";
    case mp::BOOLEAN: return "got boolean";
    case mp::POSITIVE_INTEGER:
    case mp::NEGATIVE_INTEGER: return "got integer";
    case mp::FLOAT32:
    case mp::FLOAT64: return "got float";
    case mp::STR: return "got string";
    case mp::BIN: return "got binary";
    case mp::ARRAY: return "got array";
    case mp::MAP: return "got map";
    case mp::EXT: return "got extension";
    default: return "got unknown type";
  }
}

std::string_view as_string_view(const msgpack::object& x) {
  return {x.via.str.ptr, x.via.str.size};
}

std::string render_double(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", x);
  return buf;
}

template<class Int>
constexpr const char* int_name() {
  return sizeof(Int) == 4 ? "int32" : "int64";
}

template<class Int>
[[noreturn]] void out_of_range(const std::string& number, const where& at) {
  fail(at, "number " + number + " out of " + int_name<Int>() + " range");
}

/// Reads an integer; integral floats such as 3.0 are accepted.
template<class Int>
Int to_integer(const msgpack::object& x, const where& at) {
  using limits = std::numeric_limits<Int>;
  switch (x.type) {
    case mp::POSITIVE_INTEGER:
      if (x.via.u64 > static_cast<uint64_t>(limits::max()))
        out_of_range<Int>(std::to_string(x.via.u64), at);
      return static_cast<Int>(x.via.u64);
    case mp::NEGATIVE_INTEGER:
      if constexpr (sizeof(Int) < sizeof(int64_t)) {
        if (x.via.i64 < limits::min())
          out_of_range<Int>(std::to_string(x.via.i64), at);
      }
      return static_cast<Int>(x.via.i64);
    case mp::FLOAT32:
    case mp::FLOAT64: {
      auto val = x.via.f64;
      if (!std::isfinite(val) || val != std::trunc(val))
        fail(at, "expected integer, got " + render_double(val));
      // -min() is a power of two and therefore exact as a double.
      auto bound = -static_cast<double>(limits::min());
      if (val < -bound || val >= bound)
        out_of_range<Int>(render_double(val), at);
      return static_cast<Int>(val);
    }
    default: fail(at, "expected integer, " + got(x));
  }
}

template<class T>
void from_value(const msgpack::object& x, const where& at, T& out);

void from_value(const msgpack::object& x, const where& at, std::string& out) {
  if (x.type != mp::STR)
    fail(at, "expected string, " + got(x));
  out.assign(x.via.str.ptr, x.via.str.size);
}

void from_value(const msgpack::object& x, const where& at, bool& out) {
  if (x.type != mp::BOOLEAN)
    fail(at, "expected boolean, " + got(x));
  out = x.via.boolean;
}

void from_value(const msgpack::object& x, const where& at, int32_t& out) {
  out = to_integer<int32_t>(x, at);
}

void from_value(const msgpack::object& x, const where& at, int64_t& out) {
  out = to_integer<int64_t>(x, at);
}

void from_value(const msgpack::object& x, const where& at, double& out) {
  switch (x.type) {
    case mp::POSITIVE_INTEGER: out = static_cast<double>(x.via.u64); break;
    case mp::NEGATIVE_INTEGER: out = static_cast<double>(x.via.i64); break;
    case mp::FLOAT32:
    case mp::FLOAT64: out = x.via.f64; break;
    default: fail(at, "expected number, " + got(x));
  }
}

template<class T>
void from_value(const msgpack::object& x, const where& at,
                std::vector<T>& out) {
  if (x.type != mp::ARRAY)
    fail(at, "expected array, " + got(x));
  auto& arr = x.via.array;
  out.clear();
  out.resize(arr.size);
  for (uint32_t i = 0; i < arr.size; ++i) {
    where here{&at, {}, i, true};
    from_value(arr.ptr[i], here, out[i]);
  }
}

template<class V>
void from_value(const msgpack::object& x, const where& at,
                std::map<std::string, V>& out) {
  if (x.type != mp::MAP)
    fail(at, "expected map, " + got(x));
  auto& kvs = x.via.map;
  out.clear();
  for (uint32_t i = 0; i < kvs.size; ++i) {
    auto& kv = kvs.ptr[i];
    if (kv.key.type != mp::STR)
      fail(at, "expected string key, " + got(kv.key));
    auto key = as_string_view(kv.key);
    where here{&at, key};
    from_value(kv.val, here, out[std::string{key}]);
  }
}

class msgpack_reader {
public:
  msgpack_reader(const msgpack::object_map& obj, const where& at)
      : obj_(obj), at_(at) {
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
      from_value(*val, here, x.text);
  }

private:
  /// Returns the value of `name` (the last one if repeated), or null when
  /// absent and optional. Keys that are not strings are ignored.
  const msgpack::object* lookup(std::string_view name, const where& here,
                                need n) const {
    const msgpack::object* result = nullptr;
    for (uint32_t i = 0; i < obj_.size; ++i) {
      auto& kv = obj_.ptr[i];
      if (kv.key.type == mp::STR && as_string_view(kv.key) == name)
        result = &kv.val;
    }
    if (result != nullptr && result->type != mp::NIL)
      return result;
    if (n == need::required)
      fail(here, "missing required field");
    return nullptr;
  }

  const msgpack::object_map& obj_;
  const where& at_;
};

/// Decodes one of the wire structs from a map keyed by field name.
template<class T>
void from_value(const msgpack::object& x, const where& at, T& out) {
  static_assert(wire_name<T> != nullptr, "not a wire type");
  if (x.type != mp::MAP)
    fail(at, "expected map, " + got(x));
  msgpack_reader reader{x.via.map, at};
  fields(reader, out);
}

} // namespace

// -- API ----------------------------------------------------------------------

template<class T>
caf::expected<T> from_msgpack(const char* data, size_t size) {
  std::string root = wire_name<T>;
  try {
    if (data == nullptr || size == 0)
      return failure(root + ": empty input");
    // Every element takes at least one byte and every map entry two, so no
    // honest length prefix exceeds these limits; they keep a forged prefix
    // from allocating more than the input could fill.
    msgpack::unpack_limit limits{size, size / 2, size, size, size, max_depth};
    size_t offset = 0;
    auto handle = msgpack::unpack(data, size, offset, nullptr, nullptr, limits);
    if (!handle.zone())
      return failure(root + ": malformed msgpack");
    auto& doc = handle.get();
    if (doc.type != mp::MAP)
      return failure(root + ": expected map, " + got(doc));
    if (offset != size)
      return failure(root + ": " + std::to_string(size - offset)
                     + " trailing bytes after the map");
    T result;
    from_value(doc, where{nullptr, root}, result);
    return result;
  } catch (const decode_error& e) {
    return failure(e.what);
  } catch (const msgpack::insufficient_bytes&) {
    return failure(root + ": truncated msgpack input");
  } catch (const msgpack::depth_size_overflow&) {
    return failure(root + ": msgpack nests deeper than "
                   + std::to_string(max_depth) + " levels");
  } catch (const msgpack::size_overflow&) {
    return failure(root + ": msgpack length prefix exceeds the input size");
  } catch (const msgpack::parse_error&) {
    return failure(root + ": malformed msgpack");
  } catch (const std::bad_alloc&) {
    return failure(root + ": out of memory");
  } catch (const std::exception& e) {
    return failure(root + ": invalid msgpack: " + e.what());
  } catch (...) {
    return failure(root + ": unknown error");
  }
}

template<class T>
caf::expected<T> from_msgpack(const std::vector<char>& bytes) {
  return from_msgpack<T>(bytes.data(), bytes.size());
}

#define ORCH_MSGPACK_API(type)                                                 \
  std::vector<char> to_msgpack(const type& x) {                                \
    std::vector<char> out;                                                     \
    vector_sink sink{out};                                                     \
    packer pk{sink};                                                           \
    pack_value(pk, x);                                                         \
    return out;                                                                \
  }                                                                            \
  template caf::expected<type> from_msgpack<type>(const char*, size_t);        \
  template caf::expected<type> from_msgpack<type>(const std::vector<char>&);

ORCH_WIRE_TYPES(ORCH_MSGPACK_API)

#undef ORCH_MSGPACK_API
#undef ORCH_WIRE_TYPES

} // namespace orch
