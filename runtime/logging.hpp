#pragma once

#include <string>

#include <caf/error.hpp>

namespace orch {

/// Sets up the default spdlog logger on stderr: `format` is "text" or "json"
/// (one JSON object per line), `level` a spdlog level name.
caf::error setup_logging(const std::string& level, const std::string& format);

} // namespace orch
