// gridcased's log: spdlog, one logger per component ("server", "api",
// "kafka", "signing", ...) over one sink, as text or as JSON lines.
//
// A JSON line is one object with stable field names:
//   {"time":"2026-12-07T18:23:21.123Z","level":"info","component":"kafka",
//    "message":"..."}
// ("time" in UTC, milliseconds; "level" one of trace, debug, info,
// warning, error, critical), escaped by a JSON library, so a message holding quotes,
// newlines or bytes that are not UTF-8 stays one valid line.
//
// Nothing personal is logged (docs/security.md): messages carry ids of
// partitions, units and operations, codes and the engine's own words, never
// what a submission says about a person.
#ifndef GRIDCASE_SERVICES_LOGGING_LOGGING_H_
#define GRIDCASE_SERVICES_LOGGING_LOGGING_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "spdlog/formatter.h"
#include "spdlog/logger.h"

namespace gridcase::logging {

enum class Format { kText, kJson };

// "text" or "json"; INVALID_ARGUMENT otherwise, naming what is allowed.
absl::Status ParseFormat(const std::string& text, Format* out);

// Sets the format and level of every logger, existing and future. `level`
// is one of spdlog's names; INVALID_ARGUMENT otherwise.
absl::Status Configure(Format format, const std::string& level);

// The logger of `component`, made on first use over the default logger's
// sinks. Thread-safe; the reference stays valid for the process's life.
spdlog::logger& Component(const std::string& component);

// The JSON-lines formatter (exposed for tests).
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

}  // namespace gridcase::logging

#endif  // GRIDCASE_SERVICES_LOGGING_LOGGING_H_
