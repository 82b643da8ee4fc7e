#include "services/bench/load.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace gridcase::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Latencies and outcomes of one phase. What is answered within the
// measured window [from, to) counts, by the time of its answer, so that
// the window is exactly the one asked for whenever the main thread wakes.
// Thread-safe.
class Recorder {
 public:
  // Before it is set, nothing is measured (only counted for progress).
  void SetWindow(Clock::time_point from, Clock::time_point to) {
    absl::MutexLock lock(&mu_);
    from_ = from;
    to_ = to;
  }
  void Ok(int64_t latency_us, Clock::time_point at) {
    const auto us = static_cast<int32_t>(std::min<int64_t>(latency_us, INT32_MAX));
    absl::MutexLock lock(&mu_);
    if (InWindow(at)) latencies_.push_back(us);
    interval_.push_back(us);
    ++acked_total_;
  }
  // The latency p99 and maximum since the last call, in ms (0 when none
  // was acknowledged): for progress, so that a stall shows when it happens.
  std::pair<double, double> TakeInterval() {
    std::vector<int32_t> interval;
    {
      absl::MutexLock lock(&mu_);
      interval.swap(interval_);
    }
    if (interval.empty()) return {0, 0};
    const size_t i99 = std::min(interval.size() - 1, interval.size() * 99 / 100);
    std::nth_element(interval.begin(), interval.begin() + static_cast<ptrdiff_t>(i99),
                     interval.end());
    const int32_t p99 = interval[i99];
    const int32_t max =
        *std::max_element(interval.begin() + static_cast<ptrdiff_t>(i99), interval.end());
    return {p99 / 1000.0, max / 1000.0};
  }
  // A submission that failed, answered at `at`.
  void Error(grpc::StatusCode code, const std::string& message, Clock::time_point at) {
    absl::MutexLock lock(&mu_);
    if (InWindow(at)) Count(code, message, 1);
    ++errors_total_;
  }
  // A stream that ended in error, with `unanswered` submissions it never
  // answered: counted whenever it happened, since its end decides what
  // the run measured.
  void StreamFailed(grpc::StatusCode code, const std::string& message, uint64_t unanswered) {
    absl::MutexLock lock(&mu_);
    Count(code, "the stream ended: " + message, std::max<uint64_t>(1, unanswered));
    errors_total_ += std::max<uint64_t>(1, unanswered);
  }
  uint64_t acked_total() const {
    absl::MutexLock lock(&mu_);
    return acked_total_;
  }
  uint64_t errors_total() const {
    absl::MutexLock lock(&mu_);
    return errors_total_;
  }

  // The rest once the load has stopped (no answer is pending).
  void Finish() { std::sort(latencies_.begin(), latencies_.end()); }
  double seconds() const { return Seconds(to_ - from_); }
  double rate() const { return static_cast<double>(latencies_.size()) / seconds(); }
  double Percentile(double q) const {
    if (latencies_.empty()) return 0;
    const size_t i = std::min(latencies_.size() - 1,
                              static_cast<size_t>(q * static_cast<double>(latencies_.size())));
    return latencies_[i] / 1000.0;
  }
  uint64_t acked() const { return latencies_.size(); }
  std::string ErrorsText() const {
    if (errors_.empty()) return "none";
    std::string out;
    // gRPC's codes are absl's, number for number.
    for (const auto& [code, error] : errors_) {
      absl::StrAppend(&out, out.empty() ? "" : "; ", error.first, " x ",
                      absl::StatusCodeToString(static_cast<absl::StatusCode>(code)),
                      " (the first: \"", error.second, "\")");
    }
    return out;
  }

 private:
  bool InWindow(Clock::time_point at) const { return at >= from_ && at < to_; }
  void Count(grpc::StatusCode code, const std::string& message, uint64_t n) {
    auto& [count, first] = errors_[code];
    if (count == 0) first = message;
    count += n;
  }

  mutable absl::Mutex mu_;
  Clock::time_point from_ = Clock::time_point::max(), to_ = Clock::time_point::max();
  std::vector<int32_t> latencies_;
  std::vector<int32_t> interval_;  // since the last TakeInterval
  // By code: how many, and the first one's message.
  std::map<grpc::StatusCode, std::pair<uint64_t, std::string>> errors_;
  uint64_t acked_total_ = 0, errors_total_ = 0;
};

// Paces an open-loop load: when `rate` > 0, the time the n-th request is due.
class Pacer {
 public:
  explicit Pacer(double rate) : rate_(rate), start_(Clock::now()) {}
  // Blocks until the next request is due; returns when it was due (for
  // latency: a late send does not hide the delay).
  Clock::time_point Next() {
    if (rate_ <= 0) return Clock::now();
    const uint64_t n = issued_.fetch_add(1);
    const auto due = start_ + std::chrono::nanoseconds(static_cast<int64_t>(1e9 * n / rate_));
    std::this_thread::sleep_until(due);
    return due;
  }
  // The next request's due time, if it is due already (never blocks); for
  // a writer that sends what is due in one message. As fast as possible:
  // always now.
  std::optional<Clock::time_point> NextIfDue() {
    if (rate_ <= 0) return Clock::now();
    uint64_t n = issued_.load();
    const auto due = start_ + std::chrono::nanoseconds(static_cast<int64_t>(1e9 * n / rate_));
    if (due > Clock::now() || !issued_.compare_exchange_strong(n, n + 1)) return std::nullopt;
    return due;
  }

 private:
  const double rate_;
  const Clock::time_point start_;
  std::atomic<uint64_t> issued_{0};
};

}  // namespace

std::shared_ptr<grpc::Channel> BenchChannel(const std::string& target,
                                            const security::ClientTlsOptions& tls,
                                            bool own_connection) {
  auto credentials = security::ClientCredentials(tls);
  if (!credentials.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(credentials.status().message()).c_str());
    std::exit(2);
  }
  grpc::ChannelArguments args = security::ClientChannelArguments(tls);
  if (own_connection) args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, *credentials, args);
}

namespace {

// Unary submissions with `in_flight` outstanding, over `channels` channels.
class UnaryLoad {
 public:
  UnaryLoad(const std::string& target, const LoadOptions& o, const Source& source,
            Recorder* recorder)
      : options_(o), source_(source), recorder_(recorder), pacer_(o.rate) {
    for (int c = 0; c < o.channels; ++c) {  // a connection per channel
      stubs_.push_back(v1::EventService::NewStub(BenchChannel(target, o.tls, true)));
    }
  }

  void Start() {
    // One issuing thread per channel keeps `in_flight / channels` calls out.
    for (int c = 0; c < options_.channels; ++c) {
      threads_.emplace_back([this, c] { Issue(c); });
    }
  }
  void Stop() {
    stop_ = true;
    cv_.SignalAll();
    for (auto& t : threads_) t.join();
    absl::MutexLock lock(&mu_);
    while (!(outstanding_ == 0)) cv_.Wait(&mu_);
  }

 private:
  struct Call {
    grpc::ClientContext context;
    v1::SubmitRequest request;
    v1::SubmitResponse response;
    Clock::time_point sent;
  };

  void Issue(int c) {
    WuhanDay day = source_.Generator(c);
    const int window = std::max(1, options_.in_flight / options_.channels);
    int mine = 0;
    absl::Mutex my_mu;
    absl::CondVar my_cv;
    while (!stop_) {
      {
        absl::MutexLock lock(&my_mu);
        while (!(mine < window || stop_)) my_cv.Wait(&my_mu);
        if (stop_) break;
        ++mine;
      }
      auto* call = new Call;
      call->request = day.Next(WallMicros());
      call->sent = pacer_.Next();
      call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      {
        absl::MutexLock lock(&mu_);
        ++outstanding_;
      }
      stubs_[static_cast<size_t>(c)]->async()->Submit(
          &call->context, &call->request, &call->response,
          [this, call, &mine, &my_mu, &my_cv](grpc::Status status) {
            const auto now = Clock::now();
            if (status.ok()) {
              recorder_->Ok(
                  std::chrono::duration_cast<std::chrono::microseconds>(now - call->sent).count(),
                  now);
            } else {
              recorder_->Error(status.error_code(), status.error_message(), now);
            }
            delete call;
            {
              // Notified under the lock: once it is released the issuing
              // thread may return, and `mine` be gone.
              absl::MutexLock lock(&my_mu);
              --mine;
              my_cv.Signal();
            }
            absl::MutexLock lock(&mu_);
            --outstanding_;
            cv_.SignalAll();
          });
    }
    // Wait for this channel's calls: they refer to `mine`.
    absl::MutexLock lock(&my_mu);
    while (!(mine == 0)) my_cv.Wait(&my_mu);
  }

  const LoadOptions options_;
  const Source& source_;
  Recorder* const recorder_;
  Pacer pacer_;
  std::vector<std::unique_ptr<v1::EventService::Stub>> stubs_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  absl::Mutex mu_;
  absl::CondVar cv_;
  int outstanding_ = 0;
};

// Submissions on bidirectional streams, `in_flight / streams` outstanding
// on each. A writer and a reader thread per stream.
class StreamLoad {
 public:
  StreamLoad(const std::string& target, const LoadOptions& o, const Source& source,
             Recorder* recorder)
      : options_(o), source_(source), recorder_(recorder), pacer_(o.rate) {
    channel_ = BenchChannel(target, o.tls, true);
  }

  void Start() {
    for (int s = 0; s < options_.streams; ++s) {
      streams_.push_back(std::make_unique<Stream>());
      Stream* st = streams_.back().get();
      st->stub = v1::EventService::NewStub(channel_);
      st->rw = st->stub->SubmitStream(&st->context);
      st->writer = std::thread([this, st, s] { Write(st, s); });
      st->reader = std::thread([this, st] { Read(st); });
    }
  }
  void Stop() {
    stop_ = true;
    for (auto& st : streams_) {
      st->cv.SignalAll();
      st->writer.join();
      st->reader.join();
      const grpc::Status status = st->rw->Finish();
      if (!status.ok()) {
        absl::MutexLock lock(&st->mu);
        recorder_->StreamFailed(status.error_code(), status.error_message(), st->sent.size());
      }
    }
  }

 private:
  struct Stream {
    std::unique_ptr<v1::EventService::Stub> stub;
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReaderWriter<v1::StreamSubmitRequest, v1::StreamSubmitResponse>> rw;
    absl::Mutex mu;
    absl::CondVar cv;
    std::map<uint64_t, Clock::time_point> sent ABSL_GUARDED_BY(mu);
    std::thread writer, reader;
  };

  // Sends what the window has room for, up to --batch submissions per
  // message: the first when it is due, then those already due with it.
  void Write(Stream* st, int s) {
    WuhanDay day = source_.Generator(1000 + s);
    const size_t window = static_cast<size_t>(std::max(1, options_.in_flight / options_.streams));
    const size_t batch = static_cast<size_t>(std::max(1, options_.batch));
    uint64_t id = 0;
    while (!stop_) {
      size_t room;
      {
        absl::MutexLock lock(&st->mu);
        while (!(st->sent.size() < window || stop_)) st->cv.Wait(&st->mu);
        if (stop_) break;
        room = std::min(batch, window - st->sent.size());
      }
      v1::StreamSubmitRequest request;
      std::vector<std::pair<uint64_t, Clock::time_point>> sent;
      for (size_t k = 0; k < room; ++k) {
        std::optional<Clock::time_point> due = k == 0 ? pacer_.Next() : pacer_.NextIfDue();
        if (!due) break;
        v1::StreamSubmission* submission = request.add_submissions();
        submission->set_request_id(++id);
        *submission->mutable_submit() = day.Next(WallMicros());
        sent.emplace_back(id, *due);
      }
      {
        absl::MutexLock lock(&st->mu);
        st->sent.insert(sent.begin(), sent.end());
      }
      if (!st->rw->Write(request)) break;
    }
    st->rw->WritesDone();
  }

  void Read(Stream* st) {
    v1::StreamSubmitResponse response;
    while (st->rw->Read(&response)) {
      const auto now = Clock::now();
      for (const v1::StreamAnswer& answer : response.answers()) {
        Clock::time_point sent;
        {
          absl::MutexLock lock(&st->mu);
          auto it = st->sent.find(answer.request_id());
          if (it == st->sent.end()) continue;
          sent = it->second;
          st->sent.erase(it);
        }
        if (answer.has_accepted()) {
          recorder_->Ok(std::chrono::duration_cast<std::chrono::microseconds>(now - sent).count(),
                        now);
        } else {
          recorder_->Error(static_cast<grpc::StatusCode>(answer.refused().code()),
                           answer.refused().message(), now);
        }
      }
      st->cv.Signal();
    }
  }

  const LoadOptions options_;
  const Source& source_;
  Recorder* const recorder_;
  Pacer pacer_;
  std::shared_ptr<grpc::Channel> channel_;
  std::vector<std::unique_ptr<Stream>> streams_;
  std::atomic<bool> stop_{false};
};

}  // namespace

int64_t WallMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Runs `mode` against `target` for warm-up plus duration, printing progress.
PhaseResult RunPhase(const std::string& label, const std::string& target, const std::string& mode,
                     const LoadOptions& o, const Source& source) {
  Recorder recorder;
  std::unique_ptr<UnaryLoad> unary;
  std::unique_ptr<StreamLoad> stream;
  if (mode == "unary") {
    unary = std::make_unique<UnaryLoad>(target, o, source, &recorder);
    unary->Start();
  } else {
    stream = std::make_unique<StreamLoad>(target, o, source, &recorder);
    stream->Start();
  }
  const auto start = Clock::now();
  const auto measure_at = start + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(o.warmup_s));
  const auto end = measure_at + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(o.duration_s));
  recorder.SetWindow(measure_at, end);
  // Progress once a second, until the end of the window.
  uint64_t last_acked = 0;
  auto last = start;
  for (auto tick = start + std::chrono::seconds(1); tick < end; tick += std::chrono::seconds(1)) {
    std::this_thread::sleep_until(tick);
    const auto now = Clock::now();
    const uint64_t acked = recorder.acked_total();
    const auto [p99, max] = recorder.TakeInterval();
    std::fprintf(stderr,
                 "  %-16s %5.1f s  %9.0f acked/s  p99 %7.2f ms  max %7.2f ms  errors %llu%s\n",
                 label.c_str(), Seconds(now - start), (acked - last_acked) / Seconds(now - last),
                 p99, max, static_cast<unsigned long long>(recorder.errors_total()),
                 now < measure_at ? "  (warm-up)" : "");
    last_acked = acked;
    last = now;
  }
  std::this_thread::sleep_until(end);
  if (unary) unary->Stop();
  if (stream) stream->Stop();
  recorder.Finish();
  PhaseResult r;
  r.rate = recorder.rate();
  r.p50 = recorder.Percentile(0.50);
  r.p99 = recorder.Percentile(0.99);
  r.p999 = recorder.Percentile(0.999);
  r.acked = recorder.acked();
  r.seconds = recorder.seconds();
  r.errors = recorder.ErrorsText();
  r.errors_total = recorder.errors_total();
  return r;
}

}  // namespace gridcase::bench
