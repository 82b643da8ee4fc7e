#include "services/api/log_limit.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace gridcase::api {

LogLimiter::LogLimiter(const Clock* clock, std::string source, size_t lines_max,
                       int64_t interval_us, Sink sink)
    : clock_(clock),
      source_(std::move(source)),
      lines_max_(lines_max),
      interval_us_(interval_us),
      sink_(std::move(sink)),
      interval_start_us_(clock->NowMicros()) {}

LogLimiter::~LogLimiter() { Flush(); }

void LogLimiter::Log(LogSeverity severity, const std::string& line) {
  absl::MutexLock lock(&mu_);
  const int64_t now_us = clock_->NowMicros();
  if (now_us - interval_start_us_ >= interval_us_) {
    ReportSuppressed();
    interval_start_us_ = now_us;
    passed_ = 0;
  }
  if (passed_ >= lines_max_) {
    ++suppressed_;
    suppressed_severity_ = std::max(suppressed_severity_, severity);
    return;
  }
  ++passed_;
  sink_(severity, absl::StrCat(source_, ": ",
                               line.size() > kLineBytesMax ? line.substr(0, kLineBytesMax) : line));
}

void LogLimiter::Flush() {
  absl::MutexLock lock(&mu_);
  ReportSuppressed();
}

void LogLimiter::ReportSuppressed() {
  if (suppressed_ == 0) return;
  sink_(suppressed_severity_, absl::StrCat(source_, ": ", suppressed_, " more ", source_,
                                           " messages like these suppressed (at most ", lines_max_,
                                           " every ", interval_us_ / 1000000, " s are logged)"));
  suppressed_ = 0;
  suppressed_severity_ = LogSeverity::kInfo;
}

namespace {

// Protobuf's handler is a plain function: it reaches the limiter through
// this pointer, set while a ProtobufLogRoute exists.
std::atomic<LogLimiter*> protobuf_limiter{nullptr};

void ToLimiter(google::protobuf::LogLevel level, const char* filename, int line,
               const std::string& message) {
  LogLimiter* limiter = protobuf_limiter.load();
  if (limiter == nullptr) return;
  limiter->Log(level == google::protobuf::LOGLEVEL_INFO      ? LogSeverity::kInfo
               : level == google::protobuf::LOGLEVEL_WARNING ? LogSeverity::kWarning
                                                             : LogSeverity::kError,
               message);
}

}  // namespace

ProtobufLogRoute::ProtobufLogRoute(LogLimiter* limiter) {
  protobuf_limiter.store(limiter);
  previous_ = google::protobuf::SetLogHandler(&ToLimiter);
}

ProtobufLogRoute::~ProtobufLogRoute() {
  google::protobuf::SetLogHandler(previous_);
  protobuf_limiter.store(nullptr);
}

}  // namespace gridcase::api
