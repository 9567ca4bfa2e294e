#include "messages/work_report.hpp"

#include <nlohmann/json.hpp>

#include "messages/json_codec.hpp"
#include "messages/messages.hpp"

namespace orch {

caf::expected<work_report> decode_work_report(std::string_view body) {
  using json = nlohmann::json;
  auto doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return caf::make_error(ec::invalid_argument,
                           "the body must be a JSON object");
  work_report out;
  auto str = [&](const char* k, std::string& x) {
    if (auto i = doc.find(k); i != doc.end() && i->is_string())
      x = i->get<std::string>();
  };
  str("task_id", out.task_id);
  str("worker_id", out.worker_id);
  if (is_blank(out.task_id) || is_blank(out.worker_id))
    return caf::make_error(ec::invalid_argument,
                           "task_id and worker_id are required strings");
  if (auto r = doc.find("result"); r != doc.end())
    out.result = compact_json(*r);
  if (auto e = doc.find("error"); e != doc.end()) {
    if (!e->is_string())
      return caf::make_error(ec::invalid_argument, "error must be a string");
    if (!is_blank(e->get<std::string>()))
      out.error = e->get<std::string>();
  }
  return out;
}

} // namespace orch
