#pragma once

// The body of a worker's report on a leased task in the HTTP worker pull
// API (POST /work/complete, POST /work/failed): outside bytes, decoded here.

#include <string>
#include <string_view>

#include <caf/expected.hpp>

namespace orch {

/// A worker's report on a task it leased.
struct work_report {
  std::string task_id;
  std::string worker_id;
  /// `result` as compact JSON text ("{}" when absent).
  std::string result = "{}";
  /// `error` ("failed by the worker" when absent or blank).
  std::string error = "failed by the worker";
};

/// Decodes a JSON object with `task_id` and `worker_id` (strings, not
/// blank), an optional `result` (any JSON) and an optional `error` (a
/// string). Never throws; an `ec::invalid_argument` error says what is
/// wrong.
caf::expected<work_report> decode_work_report(std::string_view body);

} // namespace orch
