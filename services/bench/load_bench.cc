// gridcase-bench: drives a running gridcased over gRPC with a Wuhan day's
// events and prints throughput and acknowledgement latency, side by side
// with two baselines measured in the same run on the same machine:
//
//   echo  the same gRPC service code answering at once, no engine (an
//         in-process server on a loopback port), same messages, same
//         concurrency: what gRPC alone allows;
//   raw   RocksDB WriteBatches with sync=true, one database and thread per
//         partition, with the group sizes and bytes per submission the
//         server reported for the run: what the disk alone allows.
//
// Subcommands: run (the default), directory (the Wuhan directory as JSON
// lines, for `gridcase directory import`), timeline (read latency of a
// case with 1,000 records).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/json_util.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "rocksdb/db.h"
#include "services/api/event_service.h"
#include "services/bench/wuhan_day.h"

namespace gridcase::bench {
namespace {

using Clock = std::chrono::steady_clock;

int64_t WallMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Latencies and outcomes of one measured phase. Thread-safe.
class Recorder {
 public:
  void Ok(int64_t latency_us) {
    std::lock_guard<std::mutex> lock(mu_);
    if (measuring_) latencies_.push_back(static_cast<int32_t>(std::min<int64_t>(latency_us, INT32_MAX)));
    ++acked_total_;
  }
  void Error(grpc::StatusCode code) {
    std::lock_guard<std::mutex> lock(mu_);
    if (measuring_) ++errors_[code];
    ++errors_total_;
  }
  void StartMeasuring() {
    std::lock_guard<std::mutex> lock(mu_);
    measuring_ = true;
    latencies_.clear();
    errors_.clear();
    started_ = Clock::now();
  }
  // Stops measuring; returns the acknowledgements per second measured.
  double StopMeasuring() {
    std::lock_guard<std::mutex> lock(mu_);
    measuring_ = false;
    seconds_ = Seconds(Clock::now() - started_);
    std::sort(latencies_.begin(), latencies_.end());
    return static_cast<double>(latencies_.size()) / seconds_;
  }
  uint64_t acked_total() const {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_total_;
  }
  uint64_t errors_total() const {
    std::lock_guard<std::mutex> lock(mu_);
    return errors_total_;
  }
  // After StopMeasuring.
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
    for (const auto& [code, n] : errors_) {
      absl::StrAppend(&out, out.empty() ? "" : ", ", n, " x code ", static_cast<int>(code));
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  bool measuring_ = false;
  Clock::time_point started_;
  double seconds_ = 0;
  std::vector<int32_t> latencies_;
  std::map<grpc::StatusCode, uint64_t> errors_;
  uint64_t acked_total_ = 0, errors_total_ = 0;
};

struct LoadOptions {
  std::string server = "127.0.0.1:7070";
  std::string mode = "both";  // unary, stream, both
  int in_flight = 512;
  int channels = 2;
  int streams = 2;
  double duration_s = 20;
  double warmup_s = 3;
  double rate = 0;  // submissions/s; 0: as fast as possible
  bool baselines = true;
  std::string raw_dir = "/tmp";
  uint32_t raw_partitions = 0;  // 0: as the server has
  WuhanDayOptions day;
  int64_t seed = 0;  // 0: from the time
};

// Shared by the load loops: the next request, by a generator per thread.
class Source {
 public:
  Source(const LoadOptions& o, const std::string& run) : options_(o), run_(run) {}
  WuhanDay Generator(int n) const {
    return WuhanDay(options_.day, absl::StrCat(run_, "-", n),
                    static_cast<uint64_t>(options_.seed) * 7919 + static_cast<uint64_t>(n));
  }

 private:
  const LoadOptions options_;
  const std::string run_;
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

 private:
  const double rate_;
  const Clock::time_point start_;
  std::atomic<uint64_t> issued_{0};
};

// Unary submissions with `in_flight` outstanding, over `channels` channels.
class UnaryLoad {
 public:
  UnaryLoad(const std::string& target, const LoadOptions& o, const Source& source,
            Recorder* recorder)
      : options_(o), source_(source), recorder_(recorder), pacer_(o.rate) {
    for (int c = 0; c < o.channels; ++c) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection per channel
      stubs_.push_back(v1::EventService::NewStub(
          grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args)));
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
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return outstanding_ == 0; });
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
    std::mutex my_mu;
    std::condition_variable my_cv;
    while (!stop_) {
      {
        std::unique_lock<std::mutex> lock(my_mu);
        my_cv.wait(lock, [&] { return mine < window || stop_; });
        if (stop_) break;
        ++mine;
      }
      auto* call = new Call;
      call->request = day.Next(WallMicros());
      call->sent = pacer_.Next();
      call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++outstanding_;
      }
      stubs_[static_cast<size_t>(c)]->async()->Submit(
          &call->context, &call->request, &call->response,
          [this, call, &mine, &my_mu, &my_cv](grpc::Status status) {
            const auto latency =
                std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - call->sent);
            if (status.ok()) {
              recorder_->Ok(latency.count());
            } else {
              recorder_->Error(status.error_code());
            }
            delete call;
            {
              // Notified under the lock: once it is released the issuing
              // thread may return, and `mine` be gone.
              std::lock_guard<std::mutex> lock(my_mu);
              --mine;
              my_cv.notify_one();
            }
            std::lock_guard<std::mutex> lock(mu_);
            --outstanding_;
            cv_.notify_all();
          });
    }
    // Wait for this channel's calls: they refer to `mine`.
    std::unique_lock<std::mutex> lock(my_mu);
    my_cv.wait(lock, [&] { return mine == 0; });
  }

  const LoadOptions options_;
  const Source& source_;
  Recorder* const recorder_;
  Pacer pacer_;
  std::vector<std::unique_ptr<v1::EventService::Stub>> stubs_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  int outstanding_ = 0;
};

// Submissions on bidirectional streams, `in_flight / streams` outstanding
// on each. A writer and a reader thread per stream.
class StreamLoad {
 public:
  StreamLoad(const std::string& target, const LoadOptions& o, const Source& source,
             Recorder* recorder)
      : options_(o), source_(source), recorder_(recorder), pacer_(o.rate) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    channel_ = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
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
      st->cv.notify_all();
      st->writer.join();
      st->reader.join();
      const grpc::Status status = st->rw->Finish();
      if (!status.ok()) recorder_->Error(status.error_code());
    }
  }

 private:
  struct Stream {
    std::unique_ptr<v1::EventService::Stub> stub;
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReaderWriter<v1::StreamSubmitRequest, v1::StreamSubmitResponse>>
        rw;
    std::mutex mu;
    std::condition_variable cv;
    std::map<uint64_t, Clock::time_point> sent;  // guarded by mu
    std::thread writer, reader;
  };

  void Write(Stream* st, int s) {
    WuhanDay day = source_.Generator(1000 + s);
    const size_t window = static_cast<size_t>(std::max(1, options_.in_flight / options_.streams));
    for (uint64_t id = 1; !stop_; ++id) {
      {
        std::unique_lock<std::mutex> lock(st->mu);
        st->cv.wait(lock, [&] { return st->sent.size() < window || stop_; });
        if (stop_) break;
      }
      v1::StreamSubmitRequest request;
      request.set_request_id(id);
      *request.mutable_submit() = day.Next(WallMicros());
      const auto due = pacer_.Next();
      {
        std::lock_guard<std::mutex> lock(st->mu);
        st->sent[id] = due;
      }
      if (!st->rw->Write(request)) break;
    }
    st->rw->WritesDone();
  }

  void Read(Stream* st) {
    v1::StreamSubmitResponse response;
    while (st->rw->Read(&response)) {
      Clock::time_point sent;
      {
        std::lock_guard<std::mutex> lock(st->mu);
        auto it = st->sent.find(response.request_id());
        if (it == st->sent.end()) continue;
        sent = it->second;
        st->sent.erase(it);
      }
      st->cv.notify_one();
      if (response.has_accepted()) {
        recorder_->Ok(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - sent).count());
      } else {
        recorder_->Error(static_cast<grpc::StatusCode>(response.refused().code()));
      }
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

struct PhaseResult {
  double rate = 0;  // acknowledged submissions per second
  double p50 = 0, p99 = 0, p999 = 0;
  uint64_t acked = 0;
  std::string errors;
};

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
  bool measuring = false;
  uint64_t last_acked = 0;
  auto last = start;
  while (Clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::seconds(1));  // progress, once a second
    const auto now = Clock::now();
    if (!measuring && now >= measure_at) {
      recorder.StartMeasuring();
      measuring = true;
    }
    const uint64_t acked = recorder.acked_total();
    std::fprintf(stderr, "  %-16s %5.1f s  %9.0f acked/s  errors %llu%s\n", label.c_str(),
                 Seconds(now - start), (acked - last_acked) / Seconds(now - last),
                 static_cast<unsigned long long>(recorder.errors_total()),
                 measuring ? "" : "  (warm-up)");
    last_acked = acked;
    last = now;
  }
  PhaseResult r;
  r.rate = recorder.StopMeasuring();
  if (unary) unary->Stop();
  if (stream) stream->Stop();
  r.p50 = recorder.Percentile(0.50);
  r.p99 = recorder.Percentile(0.99);
  r.p999 = recorder.Percentile(0.999);
  r.acked = recorder.acked();
  r.errors = recorder.ErrorsText();
  return r;
}

void PrintResult(const std::string& label, const PhaseResult& r) {
  std::printf("  %-22s %10.0f /s   ack p50 %6.2f ms  p99 %6.2f ms  p999 %6.2f ms   errors: %s\n",
              label.c_str(), r.rate, r.p50, r.p99, r.p999, r.errors.c_str());
}

// The echo baseline's server: gridcased's own EventService code, answering
// every submission at once.
class EchoServer {
 public:
  explicit EchoServer(size_t stream_in_flight_max)
      : service_(
            [this](v1::SubmitRequest request, SubmitCallback done) {
              v1::SubmitResponse response;
              response.set_event_id(request.event().event_id());
              response.set_case_id(request.event().case_id());
              response.set_position(++position_);
              response.set_case_version(1);
              response.mutable_recorded_at()->set_seconds(WallMicros() / 1000000);
              std::move(done)(std::move(response));
            },
            stream_in_flight_max) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~EchoServer() { server_->Shutdown(std::chrono::system_clock::now()); }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  std::atomic<uint64_t> position_{0};
  api::EventServiceImpl service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

absl::StatusOr<v1::ServerStats> ServerStats(const std::string& target) {
  auto stub = v1::AdminService::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::ServerStats stats;
  const grpc::Status st = stub->GetServerStats(&context, {}, &stats);
  if (!st.ok()) return absl::UnavailableError(st.error_message());
  return stats;
}

struct RawResult {
  double rate = 0;  // submissions/s
  size_t group = 0;
  size_t bytes = 0;
};

// RocksDB alone: `partitions` databases, a thread each writing WriteBatches
// of `group` values of `bytes` with sync=true, for `seconds`.
RawResult RawBaseline(const std::string& dir, uint32_t partitions, size_t group, size_t bytes,
                      double seconds) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(dir) / absl::StrCat("gridcase-bench-raw-", ::getpid());
  fs::remove_all(root);
  std::error_code ec;
  fs::create_directories(root, ec);
  std::atomic<uint64_t> written{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (uint32_t p = 0; p < partitions; ++p) {
    threads.emplace_back([&, p] {
      rocksdb::Options options;
      options.create_if_missing = true;
      rocksdb::DB* raw = nullptr;
      auto s = rocksdb::DB::Open(options, (root / absl::StrCat("p", p)).string(), &raw);
      if (!s.ok()) {
        std::fprintf(stderr, "raw baseline: %s\n", s.ToString().c_str());
        return;
      }
      std::unique_ptr<rocksdb::DB> db(raw);
      std::mt19937_64 rng(p);
      std::string value(bytes, 'x');
      rocksdb::WriteOptions wo;
      wo.sync = true;
      for (uint64_t key = 0; !stop; ) {
        rocksdb::WriteBatch batch;
        for (size_t i = 0; i < group; ++i, ++key) {
          for (size_t j = 0; j < value.size(); j += 8) value[j] = static_cast<char>(rng());
          char k[8];
          for (int b = 0; b < 8; ++b) k[b] = static_cast<char>(key >> (56 - 8 * b));
          batch.Put(rocksdb::Slice(k, 8), value);
        }
        if (!db->Write(wo, &batch).ok()) break;
        written += group;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));  // the measured span
  const uint64_t n = written.load();
  stop = true;
  for (auto& t : threads) t.join();
  fs::remove_all(root);
  return {static_cast<double>(n) / seconds, group, bytes};
}

int Run(const LoadOptions& o) {
  const std::string run = absl::StrFormat("b%x", static_cast<uint64_t>(WallMicros()));
  LoadOptions options = o;
  if (options.seed == 0) options.seed = WallMicros();
  const Source source(options, run);
  const std::vector<std::string> modes =
      options.mode == "both" ? std::vector<std::string>{"unary", "stream"}
                             : std::vector<std::string>{options.mode};
  std::printf("gridcase-bench: %s, %d in flight (%d channels / %d streams), %s, %.0f s after "
              "%.0f s warm-up, %d grids\n",
              options.mode.c_str(), options.in_flight, options.channels, options.streams,
              options.rate > 0 ? absl::StrFormat("%.0f submissions/s", options.rate).c_str()
                               : "as fast as possible",
              options.duration_s, options.warmup_s, options.day.grids);
  auto before = ServerStats(options.server);
  if (!before.ok()) {
    std::fprintf(stderr, "error: cannot reach gridcased at %s: %s\n", options.server.c_str(),
                 std::string(before.status().message()).c_str());
    return 3;
  }
  std::map<std::string, PhaseResult> results, echo_results;
  for (const auto& mode : modes) {
    results[mode] = RunPhase("gridcase " + mode, options.server, mode, options, source);
  }
  auto after = ServerStats(options.server);
  uint64_t groups = 0, submissions = 0, bytes = 0, records = 0;
  if (after.ok()) {
    for (int i = 0; i < after->partitions_size(); ++i) {
      groups += after->partitions(i).groups() - before->partitions(i).groups();
      submissions += after->partitions(i).submissions() - before->partitions(i).submissions();
      bytes += after->partitions(i).batch_bytes() - before->partitions(i).batch_bytes();
      records += after->partitions(i).records() - before->partitions(i).records();
    }
  }
  if (options.baselines) {
    EchoServer echo(1024);
    for (const auto& mode : modes) {
      echo_results[mode] = RunPhase("echo " + mode, echo.address(), mode, options, source);
    }
  }
  std::printf("\nresults (acknowledged submissions per second; latency from send to answer)\n");
  for (const auto& mode : modes) {
    PrintResult("gridcase " + mode, results[mode]);
    if (options.baselines) {
      PrintResult("echo " + mode, echo_results[mode]);
      std::printf("  %-22s %10.2f x echo\n", ("ratio " + mode).c_str(),
                  results[mode].rate / std::max(1.0, echo_results[mode].rate));
    }
  }
  if (submissions > 0 && groups > 0) {
    std::printf("  server: %llu submissions in %llu synced groups (%.1f per group), %.2f records "
                "and %.0f bytes per submission\n",
                static_cast<unsigned long long>(submissions), static_cast<unsigned long long>(groups),
                static_cast<double>(submissions) / groups,
                static_cast<double>(records) / submissions,
                static_cast<double>(bytes) / submissions);
  }
  if (options.baselines && submissions > 0 && groups > 0) {
    const uint32_t partitions = options.raw_partitions
                                    ? options.raw_partitions
                                    : static_cast<uint32_t>(after->partitions_size());
    const size_t group = std::max<size_t>(1, submissions / groups);
    const size_t per = std::max<size_t>(1, bytes / submissions);
    std::fprintf(stderr, "  raw rocksdb: %u databases, groups of %zu x %zu bytes, synced...\n",
                 partitions, group, per);
    const RawResult raw = RawBaseline(options.raw_dir, partitions, group, per, 5);
    std::printf("  %-22s %10.0f /s   (%u databases, synced groups of %zu x %zu bytes, in %s)\n",
                "raw rocksdb", raw.rate, partitions, group, per, options.raw_dir.c_str());
    for (const auto& mode : modes) {
      std::printf("  %-22s %10.2f x raw\n", ("ratio " + mode).c_str(),
                  results[mode].rate / std::max(1.0, raw.rate));
    }
  }
  return 0;
}

int WriteDirectory(int grids, const std::string& out_path) {
  std::ofstream out(out_path);
  if (!out) {
    std::fprintf(stderr, "error: cannot write %s\n", out_path.c_str());
    return 2;
  }
  size_t n = 0;
  for (const auto& entry : WuhanDirectory(grids)) {
    std::string line;
    google::protobuf::util::JsonPrintOptions json;
    (void)google::protobuf::util::MessageToJsonString(entry, &line, json);
    out << line << "\n";
    ++n;
  }
  std::fprintf(stderr, "%zu directory entries for %d grids written to %s\n", n, grids,
               out_path.c_str());
  return 0;
}

// A case with `events` records, then its timeline read `reads` times.
int Timeline(const std::string& target, int events, int reads) {
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  auto submit = v1::EventService::NewStub(channel);
  auto cases = v1::CaseService::NewStub(channel);
  const std::string run = absl::StrFormat("t%x", static_cast<uint64_t>(WallMicros()));
  const std::string case_id = "timeline-" + run;
  grpc::ClientContext ctx;
  auto stream = submit->SubmitStream(&ctx);
  for (int i = 0; i < events; ++i) {
    v1::StreamSubmitRequest r;
    r.set_request_id(static_cast<uint64_t>(i + 1));
    v1::Event* e = r.mutable_submit()->mutable_event();
    e->set_event_id(absl::StrCat(run, "-", i));
    e->set_case_id(case_id);
    e->mutable_occurred_at()->set_seconds(WallMicros() / 1000000);
    e->mutable_actor()->set_id(WorkerId(0));
    e->set_grid_id(GridId(0));
    if (i == 0) {
      e->mutable_screening_check()->set_category(v1::CATEGORY_CLOSE_CONTACT);
    } else {
      e->mutable_note()->set_text(absl::StrCat("visit ", i, ": at home, no symptoms"));
    }
    if (!stream->Write(r)) break;
    if (i == 0) {  // the case must exist before the notes
      v1::StreamSubmitResponse first;
      if (!stream->Read(&first) || !first.has_accepted()) {
        std::fprintf(stderr, "error: the first event was refused\n");
        return 1;
      }
    }
  }
  stream->WritesDone();
  v1::StreamSubmitResponse response;
  int refused = 0;
  while (stream->Read(&response)) refused += response.has_refused();
  if (!stream->Finish().ok() || refused > 0) {
    std::fprintf(stderr, "error: %d submissions refused\n", refused);
    return 1;
  }
  std::vector<double> ms;
  size_t records = 0;
  for (int i = 0; i < reads; ++i) {
    v1::GetTimelineRequest request;
    request.set_case_id(case_id);
    request.set_page_size(1000);
    v1::GetTimelineResponse page;
    grpc::ClientContext c;
    const auto start = Clock::now();
    const grpc::Status st = cases->GetTimeline(&c, request, &page);
    ms.push_back(Seconds(Clock::now() - start) * 1000);
    if (!st.ok()) {
      std::fprintf(stderr, "error: %s\n", st.error_message().c_str());
      return 1;
    }
    records = static_cast<size_t>(page.records_size());
  }
  std::sort(ms.begin(), ms.end());
  auto q = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<size_t>(p * ms.size()))]; };
  std::printf("timeline of a case with %zu records (one page), %d reads: p50 %.3f ms  p99 %.3f ms  "
              "max %.3f ms\n",
              records, reads, q(0.5), q(0.99), ms.back());
  return 0;
}

}  // namespace
}  // namespace gridcase::bench

int main(int argc, char** argv) {
  using gridcase::bench::LoadOptions;
  LoadOptions o;
  CLI::App app{"gridcase-bench: load a running gridcased with a Wuhan day, beside an echo and a "
               "raw RocksDB baseline"};
  app.require_subcommand(0, 1);
  auto add_server = [&](CLI::App* cmd) {
    cmd->add_option("--server", o.server, "gridcased address")->capture_default_str();
  };
  add_server(&app);
  app.add_option("--mode", o.mode, "unary, stream or both")->capture_default_str();
  app.add_option("--in-flight", o.in_flight, "submissions outstanding at once")
      ->capture_default_str();
  app.add_option("--channels", o.channels, "unary: gRPC channels (connections)")
      ->capture_default_str();
  app.add_option("--streams", o.streams, "stream: SubmitStream calls")->capture_default_str();
  app.add_option("--duration", o.duration_s, "seconds measured")->capture_default_str();
  app.add_option("--warmup", o.warmup_s, "seconds before measuring")->capture_default_str();
  app.add_option("--rate", o.rate, "submissions/s, open loop (0: as fast as possible)")
      ->capture_default_str();
  app.add_option("--grids", o.day.grids, "grids of the city")->capture_default_str();
  app.add_option("--residents-per-grid", o.day.residents_per_grid)->capture_default_str();
  app.add_option("--abnormal", o.day.abnormal_share, "share of fever readings >= 37.3 C")
      ->capture_default_str();
  app.add_flag("!--no-baselines", o.baselines, "skip the echo and raw RocksDB baselines");
  app.add_option("--raw-dir", o.raw_dir,
                 "where the raw RocksDB baseline writes (the server's disk)")
      ->capture_default_str();
  app.add_option("--seed", o.seed, "random seed (0: from the time)");
  int grids = 13001;
  std::string out = "wuhan-directory.jsonl";
  CLI::App* dir_cmd = app.add_subcommand(
      "directory", "Write the Wuhan directory (districts to grids, workers, cadres) as JSON lines");
  dir_cmd->add_option("--grids", grids)->capture_default_str();
  dir_cmd->add_option("--out", out)->capture_default_str();
  int events = 1000, reads = 2000;
  CLI::App* timeline_cmd = app.add_subcommand(
      "timeline", "Open a case with --events records, then time --reads timeline reads");
  add_server(timeline_cmd);
  timeline_cmd->add_option("--events", events)->capture_default_str();
  timeline_cmd->add_option("--reads", reads)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (dir_cmd->parsed()) return gridcase::bench::WriteDirectory(grids, out);
  if (timeline_cmd->parsed()) return gridcase::bench::Timeline(o.server, events, reads);
  if (o.mode != "unary" && o.mode != "stream" && o.mode != "both") {
    std::fprintf(stderr, "error: --mode: unary, stream or both\n");
    return 2;
  }
  return gridcase::bench::Run(o);
}
