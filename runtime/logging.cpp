#include "runtime/logging.hpp"

#include <cctype>
#include <memory>

#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "messages/messages.hpp"

namespace orch {

namespace {

void append_escaped(spdlog::memory_buf_t& dest, spdlog::string_view_t x) {
  for (auto c : x) {
    switch (c) {
      case '"': dest.append(std::string_view{"\\\""}); break;
      case '\\': dest.append(std::string_view{"\\\\"}); break;
      case '\n': dest.append(std::string_view{"\\n"}); break;
      case '\r': dest.append(std::string_view{"\\r"}); break;
      case '\t': dest.append(std::string_view{"\\t"}); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          dest.append(std::string_view{buf});
        } else {
          dest.push_back(c);
        }
    }
  }
}

/// One JSON object per line: ts, level, logger, msg.
class json_formatter : public spdlog::formatter {
public:
  void format(const spdlog::details::log_msg& msg,
              spdlog::memory_buf_t& dest) override {
    using namespace std::chrono;
    auto t = system_clock::to_time_t(msg.time);
    auto ms = duration_cast<milliseconds>(msg.time.time_since_epoch()).count()
              % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char ts[80];
    std::snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                  tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    dest.append(std::string_view{"{\"ts\":\""});
    dest.append(std::string_view{ts});
    dest.append(std::string_view{"\",\"level\":\""});
    auto lvl = spdlog::level::to_string_view(msg.level);
    dest.append(lvl.data(), lvl.data() + lvl.size());
    dest.append(std::string_view{"\",\"logger\":\""});
    append_escaped(dest, msg.logger_name);
    dest.append(std::string_view{"\",\"msg\":\""});
    append_escaped(dest, msg.payload);
    dest.append(std::string_view{"\"}\n"});
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>();
  }
};

} // namespace

caf::error setup_logging(const std::string& level, const std::string& format) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    return caf::make_error(ec::invalid_config,
                           "LOG_LEVEL='" + level + "' is unknown");
  auto logger = spdlog::stderr_color_mt("orchestrator");
  logger->set_level(lvl);
  if (format == "json")
    logger->set_formatter(std::make_unique<json_formatter>());
  else
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_default_logger(logger);
  return caf::none;
}

} // namespace orch
