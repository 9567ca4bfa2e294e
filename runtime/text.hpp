#pragma once

// Text helpers of the command line.

#include <string>

namespace orch {

/// The first line of `text`, shortened to `max` characters with "...".
inline std::string first_line(const std::string& text, size_t max) {
  auto line = text.substr(0, text.find('\n'));
  return line.size() > max ? line.substr(0, max - 3) + "..." : line;
}

} // namespace orch
