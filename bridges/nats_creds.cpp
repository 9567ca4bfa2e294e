#include "bridges/nats_creds.hpp"

#include <fstream>
#include <iterator>
#include <vector>

#include "messages/ascii.hpp"
#include "messages/messages.hpp"

namespace orch {

namespace {

/// Overwrites a string's bytes before it is released.
void wipe(std::string& s) {
  for (auto& c : s)
    reinterpret_cast<volatile char&>(c) = '\0';
  s.clear();
}

/// A frame line: it ends with "---" and has "---" before that.
bool is_frame(std::string_view line) {
  if (line.size() < 6 || line.substr(line.size() - 3) != "---")
    return false;
  return line.substr(0, line.size() - 3).find("---") != std::string_view::npos;
}

} // namespace

nats_creds::~nats_creds() {
  wipe(seed);
}

caf::expected<nats_creds> parse_nats_creds(std::string_view text) {
  std::vector<std::string_view> lines;
  for (size_t at = 0; at <= text.size();) {
    auto end = text.find('\n', at);
    if (end == std::string_view::npos)
      end = text.size();
    lines.push_back(trim_space(text.substr(at, end - at)));
    at = end + 1;
  }
  std::vector<std::string_view> values;
  for (size_t i = 0; i < lines.size() && values.size() < 2; ++i) {
    if (!is_frame(lines[i]) || i + 1 >= lines.size())
      continue;
    auto value = lines[i + 1];
    auto j = i + 2;
    while (j < lines.size() && lines[j].empty())
      ++j;
    if (j < lines.size() && is_frame(lines[j]) && !value.empty()
        && !is_frame(value)) {
      values.push_back(value);
      i = j;
    }
  }
  if (values.empty())
    return caf::make_error(ec::invalid_config,
                           "holds no user JWT (a value framed by "
                           "-----BEGIN NATS USER JWT----- lines)");
  if (values.size() < 2 || values[1].substr(0, 2) != "SU")
    return caf::make_error(ec::invalid_config,
                           "holds no user nkey seed (a value starting with "
                           "SU, framed by -----BEGIN USER NKEY SEED----- "
                           "lines, after the JWT)");
  nats_creds out;
  out.jwt = std::string{values[0]};
  out.seed = std::string{values[1]};
  return out;
}

caf::expected<nats_creds> read_nats_creds(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return caf::make_error(ec::invalid_config,
                           "NATS_CREDS file " + path + " cannot be read");
  std::string text{std::istreambuf_iterator<char>{in},
                   std::istreambuf_iterator<char>{}};
  auto out = parse_nats_creds(text);
  wipe(text);
  if (!out)
    return caf::make_error(ec::invalid_config,
                           "NATS_CREDS file " + path + " "
                             + detail_of(out.error()));
  return out;
}

} // namespace orch
