#include "services/logging/logging.h"

#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "spdlog/pattern_formatter.h"
#include "spdlog/spdlog.h"

namespace gridcase::logging {
namespace {

constexpr char kTextPattern[] = "%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v";

// Held while a component's logger is looked up or made, so that two
// threads asking for a new one at once do not both register it.
absl::Mutex& ComponentsMutex() {
  static auto* mu = new absl::Mutex();
  return *mu;
}

std::string UtcTime(spdlog::log_clock::time_point at) {
  const auto since = at.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since - seconds);
  const std::time_t t = seconds.count();
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof(out), "%.*s.%03dZ", static_cast<int>(n), buf,
                static_cast<int>(millis.count()));
  return out;
}

}  // namespace

absl::Status ParseFormat(const std::string& text, Format* out) {
  if (text == "text") {
    *out = Format::kText;
  } else if (text == "json") {
    *out = Format::kJson;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--log-format ", text, ": expected text or json"));
  }
  return absl::OkStatus();
}

absl::Status Configure(Format format, const std::string& level) {
  const spdlog::level::level_enum parsed = spdlog::level::from_str(level);
  // from_str answers "off" for any name it does not know.
  if (parsed == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--log-level ", level, ": expected trace, debug, info, warn, error, critical or off"));
  }
  {
    // The default logger is the server's own component.
    absl::MutexLock lock(&ComponentsMutex());
    if (spdlog::default_logger()->name() != "server") {
      spdlog::set_default_logger(spdlog::default_logger()->clone("server"));
    }
  }
  if (format == Format::kJson) {
    spdlog::set_formatter(std::make_unique<JsonFormatter>());
  } else {
    spdlog::set_formatter(std::make_unique<spdlog::pattern_formatter>(kTextPattern));
  }
  spdlog::set_level(parsed);
  return absl::OkStatus();
}

spdlog::logger& Component(const std::string& component) {
  absl::MutexLock lock(&ComponentsMutex());
  if (auto existing = spdlog::get(component)) return *existing;
  auto logger = spdlog::default_logger()->clone(component);
  spdlog::register_logger(logger);
  return *logger;  // the registry keeps it
}

void JsonFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  nlohmann::ordered_json line;
  line["time"] = UtcTime(msg.time);
  line["level"] = std::string(spdlog::level::to_string_view(msg.level).data(),
                              spdlog::level::to_string_view(msg.level).size());
  line["component"] = msg.logger_name.size() == 0
                          ? std::string("server")
                          : std::string(msg.logger_name.data(), msg.logger_name.size());
  line["message"] = std::string(msg.payload.data(), msg.payload.size());
  // Bytes that are not UTF-8 become U+FFFD rather than fail the line.
  const std::string text =
      line.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
  dest.append(text.data(), text.data() + text.size());
  dest.push_back('\n');
}

std::unique_ptr<spdlog::formatter> JsonFormatter::clone() const {
  return std::make_unique<JsonFormatter>();
}

}  // namespace gridcase::logging
