// Log lines a client can cause, passed on at a bounded rate.
//
// Protobuf logs through its own logger (to stderr by default) when it
// parses a message it must refuse, e.g. "String field 'gridcase.v1.Event.
// event_id' contains invalid UTF-8 data": once per request, so any client
// could fill the server's log. ProtobufLogRoute sends those lines through a
// LogLimiter to the server's own log instead. The lines name fields and
// types; protobuf never logs a message's bytes, and neither does this.
#ifndef GRIDCASE_SERVICES_API_LOG_LIMIT_H_
#define GRIDCASE_SERVICES_API_LOG_LIMIT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "engine/common/clock.h"
#include "google/protobuf/stubs/logging.h"

namespace gridcase::api {

enum class LogSeverity { kInfo, kWarning, kError };

// Passes at most `lines_max` lines per `interval_us` to a sink; the lines
// beyond are counted, and the first line passed on after their interval
// ended (or Flush) is preceded by one that says how many were suppressed.
// So at most lines_max + 1 lines reach the sink per interval. Thread-safe;
// the sink is called under the limiter's lock, one line at a time.
class LogLimiter {
 public:
  using Sink = std::function<void(LogSeverity, const std::string& line)>;

  // `source` names where the lines come from ("protobuf"); every line passed
  // on starts with it. `clock` must outlive the limiter.
  LogLimiter(const Clock* clock, std::string source, size_t lines_max, int64_t interval_us,
             Sink sink);
  // Flushes.
  ~LogLimiter();

  LogLimiter(const LogLimiter&) = delete;
  LogLimiter& operator=(const LogLimiter&) = delete;

  // Lines longer than kLineBytesMax are cut there.
  void Log(LogSeverity severity, const std::string& line);
  // Says how many lines were suppressed and not yet reported, if any.
  void Flush();

  static constexpr size_t kLineBytesMax = 512;

 private:
  void ReportSuppressed() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock* const clock_;
  const std::string source_;
  const size_t lines_max_;
  const int64_t interval_us_;
  const Sink sink_;
  absl::Mutex mu_;
  int64_t interval_start_us_ ABSL_GUARDED_BY(mu_) = 0;
  size_t passed_ ABSL_GUARDED_BY(mu_) = 0;        // in the current interval
  uint64_t suppressed_ ABSL_GUARDED_BY(mu_) = 0;  // not yet reported
  LogSeverity suppressed_severity_ ABSL_GUARDED_BY(mu_) = LogSeverity::kInfo;  // the worst
};

// While it exists, protobuf's log lines go to `limiter` instead of stderr.
// One at a time, made before and destroyed after any thread parses (protobuf's
// SetLogHandler is not thread-safe); `limiter` must outlive it.
class ProtobufLogRoute {
 public:
  explicit ProtobufLogRoute(LogLimiter* limiter);
  // Restores the handler protobuf had before.
  ~ProtobufLogRoute();

  ProtobufLogRoute(const ProtobufLogRoute&) = delete;
  ProtobufLogRoute& operator=(const ProtobufLogRoute&) = delete;

 private:
  google::protobuf::LogHandler* previous_ = nullptr;
};

}  // namespace gridcase::api

#endif  // GRIDCASE_SERVICES_API_LOG_LIMIT_H_
