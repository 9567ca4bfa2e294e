// Bodies of the HTTP worker pull API (POST /work/complete, /work/failed).
// Properties: never throws or crashes; an accepted report has non-blank ids,
// a result that is JSON and a non-blank error text.

#include <nlohmann/json.hpp>

#include "messages/messages.hpp"
#include "messages/work_report.hpp"
#include "tests/fuzz/fuzz_util.hpp"

using namespace orch;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body{reinterpret_cast<const char*>(data), size};
  auto r = decode_work_report(body);
  if (!r) {
    fuzz::require(code_of(r.error()) == ec::invalid_argument,
                  "a bad body is an invalid argument");
    return 0;
  }
  fuzz::require(!is_blank(r->task_id) && !is_blank(r->worker_id),
                "ids are not blank");
  fuzz::require(!nlohmann::json::parse(r->result, nullptr, false)
                   .is_discarded(),
                "the result is JSON", r->result);
  fuzz::require(!is_blank(r->error), "the error says something");
  return 0;
}
