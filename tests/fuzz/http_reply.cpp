// HTTP/1.x replies as the LLM client's own transport reads them off a
// connection (bridges/http_reply.cpp). The first byte picks where the rest
// is cut in two. Properties: never crashes; the body stays within the
// limit; the reply parses the same whether its bytes come at once or in two
// pieces; a complete reply used no more bytes than it was given.

#include "bridges/http_reply.hpp"
#include "tests/fuzz/fuzz_util.hpp"

using namespace orch;

namespace {

constexpr size_t limit = 4096;

struct parsed {
  http_reply_parser::result r;
  size_t used = 0;
  int status = 0;
  long retry_after = -1;
  bool keep_alive = false;
  std::string body;
};

/// Feeds `text` in the pieces that start at `cuts`, then ends the
/// connection when the parser still wants more.
parsed parse(std::string_view text, size_t cut) {
  http_reply_parser p{limit};
  parsed out;
  size_t used = 0;
  out.r = p.feed(text.data(), cut, used);
  out.used = used;
  if (out.r == http_reply_parser::result::more) {
    out.r = p.feed(text.data() + cut, text.size() - cut, used);
    out.used += used;
  }
  if (out.r == http_reply_parser::result::more)
    out.r = p.finish();
  fuzz::require(p.body().size() <= limit, "body within the limit");
  out.status = p.status();
  out.retry_after = p.retry_after();
  out.keep_alive = p.keep_alive();
  out.body = p.body();
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  std::string_view text{reinterpret_cast<const char*>(data) + 1, size - 1};
  auto cut = static_cast<size_t>(data[0]) % (text.size() + 1);
  auto whole = parse(text, text.size());
  auto split = parse(text, cut);
  fuzz::require(whole.r == split.r, "same result split or whole");
  fuzz::require(whole.used <= text.size(), "used within the input");
  if (whole.r == http_reply_parser::result::done) {
    fuzz::require(whole.used == split.used, "same bytes used");
    fuzz::require(whole.status == split.status, "same status");
    fuzz::require(whole.retry_after == split.retry_after, "same Retry-After");
    fuzz::require(whole.keep_alive == split.keep_alive, "same keep-alive");
    fuzz::require(whole.body == split.body, "same body", whole.body);
    fuzz::require(whole.status >= 200, "a final status");
  }
  return 0;
}
