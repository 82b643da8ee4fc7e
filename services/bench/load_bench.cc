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
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/common/latency_histogram.h"
#include "engine/common/time.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/util/json_util.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "services/bench/baselines.h"
#include "services/bench/load.h"
#include "services/bench/read_bench.h"
#include "services/bench/wuhan_day.h"

namespace gridcase::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

void PrintResult(const std::string& label, const PhaseResult& r) {
  std::printf(
      "  %-22s %10.0f /s over %.2f s   ack p50 %6.2f ms  p99 %6.2f ms  p999 %6.2f ms   "
      "errors: %s\n",
      label.c_str(), r.rate, r.seconds, r.p50, r.p99, r.p999, r.errors.c_str());
}

// What the server wrote and the CPU it used between two GetServerStats.
struct ServerDelta {
  // A latency histogram's difference, summed over partitions.
  struct Histogram {
    std::vector<uint64_t> upper_us, count;
    void AddDifference(const v1::LatencyHistogram& before, const v1::LatencyHistogram& after) {
      if (upper_us.empty()) {
        upper_us.assign(after.upper_bound_us().begin(), after.upper_bound_us().end());
        count.assign(upper_us.size(), 0);
      }
      for (int i = 0; i < after.count_size() && static_cast<size_t>(i) < count.size(); ++i) {
        count[i] += after.count(i) - (i < before.count_size() ? before.count(i) : 0);
      }
    }
    void Add(const Histogram& o) {
      if (upper_us.empty()) {
        *this = o;
        return;
      }
      for (size_t i = 0; i < count.size() && i < o.count.size(); ++i) count[i] += o.count[i];
    }
    // The bucket bound where the share q of the durations is reached, in ms.
    double QuantileMs(double q) const {
      return static_cast<double>(LatencyHistogram::Quantile(upper_us, count, q)) / 1000;
    }
  };
  uint64_t groups = 0, submissions = 0, bytes = 0, records = 0, deferred = 0, cpu_us = 0;
  double seconds = 0;
  Histogram queued, write, answered;

  static ServerDelta Between(const v1::ServerStats& before, const v1::ServerStats& after,
                             double seconds) {
    ServerDelta d;
    for (int i = 0; i < after.partitions_size() && i < before.partitions_size(); ++i) {
      d.groups += after.partitions(i).groups() - before.partitions(i).groups();
      d.submissions += after.partitions(i).submissions() - before.partitions(i).submissions();
      d.bytes += after.partitions(i).batch_bytes() - before.partitions(i).batch_bytes();
      d.records += after.partitions(i).records() - before.partitions(i).records();
      d.deferred +=
          after.partitions(i).submissions_deferred() - before.partitions(i).submissions_deferred();
      d.queued.AddDifference(before.partitions(i).queued(), after.partitions(i).queued());
      d.write.AddDifference(before.partitions(i).write(), after.partitions(i).write());
      d.answered.AddDifference(before.partitions(i).answered(), after.partitions(i).answered());
    }
    d.cpu_us = after.cpu_micros() - before.cpu_micros();
    d.seconds = seconds;
    return d;
  }
  void Add(const ServerDelta& o) {
    groups += o.groups;
    submissions += o.submissions;
    bytes += o.bytes;
    records += o.records;
    deferred += o.deferred;
    cpu_us += o.cpu_us;
    seconds += o.seconds;
    queued.Add(o.queued);
    write.Add(o.write);
    answered.Add(o.answered);
  }
  void Print() const {
    if (submissions == 0 || groups == 0) return;
    std::printf(
        "  %-22s %llu submissions in %llu synced groups (%.1f per group), %.2f records "
        "and %.0f bytes per submission\n",
        "server:", static_cast<unsigned long long>(submissions),
        static_cast<unsigned long long>(groups), static_cast<double>(submissions) / groups,
        static_cast<double>(records) / submissions, static_cast<double>(bytes) / submissions);
    std::printf(
        "  %-22s %llu submissions (%.3f%%) had their event id read in another "
        "partition, on a router thread\n",
        "off the callback thread:", static_cast<unsigned long long>(deferred),
        100.0 * static_cast<double>(deferred) / submissions);
    std::printf("  %-22s %.1f us per submission (%.2f cores busy on average)\n",
                "server CPU:", static_cast<double>(cpu_us) / submissions,
                static_cast<double>(cpu_us) / 1e6 / std::max(1e-9, seconds));
    // Bucket bounds: at most about a fifth above the true value.
    std::printf(
        "  %-22s queued p50 %.2f p99 %.2f ms; synced write p50 %.2f p99 %.2f ms; "
        "answered p50 %.2f p99 %.2f p999 %.2f ms\n",
        "server latency:", queued.QuantileMs(0.5), queued.QuantileMs(0.99), write.QuantileMs(0.5),
        write.QuantileMs(0.99), answered.QuantileMs(0.5), answered.QuantileMs(0.99),
        answered.QuantileMs(0.999));
  }
};

// The raw RocksDB baseline, writing groups shaped like the server's over
// the whole run, and each mode's rate against it.
void CompareWithRaw(const LoadOptions& options, const ServerDelta& total, int server_partitions,
                    const std::vector<std::string>& modes,
                    std::map<std::string, PhaseResult>& results) {
  const uint64_t groups = total.groups, submissions = total.submissions, bytes = total.bytes;
  if (submissions == 0 || groups == 0) return;
  const uint32_t partitions =
      options.raw_partitions ? options.raw_partitions : static_cast<uint32_t>(server_partitions);
  const size_t group = std::max<size_t>(1, submissions / groups);
  const size_t per = std::max<size_t>(1, bytes / submissions);
  std::fprintf(stderr, "  raw rocksdb: %u databases, groups of %zu x %zu bytes, synced...\n",
               partitions, group, per);
  const RawResult raw = RawBaseline(options.raw_dir, partitions, group, per, options.raw_seconds);
  std::printf("  %-22s %10.0f /s   (%u databases, synced groups of %zu x %zu bytes, in %s)\n",
              "raw rocksdb", raw.rate, partitions, group, per, options.raw_dir.c_str());
  for (const auto& mode : modes) {
    std::printf("  %-22s %10.2f x raw\n", ("ratio " + mode).c_str(),
                results[mode].rate / std::max(1.0, raw.rate));
  }
}

// A run whose submissions failed measured the failures, not the engine:
// say so in the exit status, not only in the table. (The baselines' own
// failures show in their lines.)
int FailedStatus(const std::vector<std::string>& modes,
                 std::map<std::string, PhaseResult>& results) {
  int status = 0;
  for (const auto& mode : modes) {
    if (results[mode].errors_total == 0) continue;
    std::fprintf(stderr, "error: the gridcase %s phase had %llu failed submissions; measured: %s\n",
                 mode.c_str(), static_cast<unsigned long long>(results[mode].errors_total),
                 results[mode].errors.c_str());
    status = 1;
  }
  return status;
}

int Run(const LoadOptions& o) {
  const std::string run = absl::StrFormat("b%x", static_cast<uint64_t>(WallMicros()));
  LoadOptions options = o;
  if (options.seed == 0) options.seed = WallMicros();
  const Source source(options, run);
  const std::vector<std::string> modes = options.mode == "both"
                                             ? std::vector<std::string>{"unary", "stream"}
                                             : std::vector<std::string>{options.mode};
  std::printf(
      "gridcase-bench: %s, %d in flight (%d channels / %d streams), %s, %g s after "
      "%g s warm-up, %d grids\n",
      options.mode.c_str(), options.in_flight, options.channels, options.streams,
      options.rate > 0 ? absl::StrFormat("%.0f submissions/s", options.rate).c_str()
                       : "as fast as possible",
      options.duration_s, options.warmup_s, options.day.grids);
  security::ClientTlsOptions stats_tls = options.tls;
  if (!options.stats_cert_path.empty()) {
    stats_tls.cert_path = options.stats_cert_path;
    stats_tls.key_path = options.stats_key_path;
  }
  auto first = ServerStats(options.server, stats_tls);
  if (!first.ok()) {
    std::fprintf(stderr, "error: cannot reach gridcased at %s: %s\n", options.server.c_str(),
                 std::string(first.status().message()).c_str());
    return 3;
  }
  // The server's counts over each phase (its warm-up included), and over
  // all of them for the raw baseline.
  std::map<std::string, ServerDelta> server;
  ServerDelta total;
  std::map<std::string, PhaseResult> results, echo_results;
  v1::ServerStats before = *first;
  for (const auto& mode : modes) {
    const auto started = Clock::now();
    results[mode] = RunPhase("gridcase " + mode, options.server, mode, options, source);
    auto after = ServerStats(options.server, stats_tls);
    if (!after.ok()) {
      std::fprintf(stderr, "error: server stats after the %s phase: %s\n", mode.c_str(),
                   std::string(after.status().message()).c_str());
      return 3;
    }
    server[mode] = ServerDelta::Between(before, *after, Seconds(Clock::now() - started));
    total.Add(server[mode]);
    before = *std::move(after);
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
    server[mode].Print();
  }
  if (options.baselines) CompareWithRaw(options, total, first->partitions_size(), modes, results);
  return FailedStatus(modes, results);
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

// Opens `case_id` with `events` events over one stream. 0, or the exit
// status of a failure (said on stderr).
int FillTimelineCase(const std::shared_ptr<grpc::Channel>& channel, const std::string& target,
                     const std::string& run, const std::string& case_id, int events) {
  auto submit = v1::EventService::NewStub(channel);
  grpc::ClientContext ctx;
  auto stream = submit->SubmitStream(&ctx);
  for (int i = 0; i < events; ++i) {
    v1::StreamSubmitRequest r;
    v1::StreamSubmission* s = r.add_submissions();
    s->set_request_id(static_cast<uint64_t>(i + 1));
    v1::Event* e = s->mutable_submit()->mutable_event();
    e->set_event_id(absl::StrCat(run, "-", i));
    e->set_case_id(case_id);
    *e->mutable_occurred_at() = WholeSeconds(WallMicros());
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
      if (!stream->Read(&first)) break;  // the stream failed: Finish says why
      if (first.answers_size() != 1 || !first.answers(0).has_accepted()) {
        std::fprintf(
            stderr, "error: the first event was refused: %s\n",
            first.answers_size() == 1 ? first.answers(0).refused().message().c_str() : "no answer");
        return 1;
      }
    }
  }
  stream->WritesDone();
  v1::StreamSubmitResponse response;
  int refused = 0;
  while (stream->Read(&response)) {
    for (const auto& answer : response.answers()) refused += answer.has_refused();
  }
  if (const grpc::Status st = stream->Finish(); !st.ok()) {
    std::fprintf(stderr, "error: %s at %s: %s\n",
                 st.error_code() == grpc::StatusCode::UNAVAILABLE ? "cannot reach gridcased"
                                                                  : "the stream failed",
                 target.c_str(), st.error_message().c_str());
    return st.error_code() == grpc::StatusCode::UNAVAILABLE ? 3 : 1;
  }
  if (refused > 0) {
    std::fprintf(stderr, "error: %d submissions refused\n", refused);
    return 1;
  }
  return 0;
}

// Reads the first timeline page of `case_id` `reads` times and prints the
// latencies.
int TimeTimelineReads(const std::shared_ptr<grpc::Channel>& channel, const std::string& case_id,
                      int reads) {
  auto cases = v1::CaseService::NewStub(channel);
  std::vector<double> ms;
  size_t records = 0;
  // A page of 1,000 records is some 12,000 small objects: parsed onto an
  // arena, the messages are a pointer bump each and freed all at once by
  // Reset (strings longer than 15 bytes still get their buffers from
  // malloc in protobuf 3.21). The arena's first block is ours and outlives
  // Reset, so every read after the first parses into memory already mapped.
  std::vector<char> first_block(4 << 20);
  google::protobuf::ArenaOptions arena_options;
  arena_options.initial_block = first_block.data();
  arena_options.initial_block_size = first_block.size();
  google::protobuf::Arena arena(arena_options);
  for (int i = 0; i < reads; ++i) {
    v1::GetTimelineRequest request;
    request.set_case_id(case_id);
    request.set_page_size(1000);
    arena.Reset();
    auto* page = google::protobuf::Arena::CreateMessage<v1::GetTimelineResponse>(&arena);
    grpc::ClientContext c;
    const auto start = Clock::now();
    const grpc::Status st = cases->GetTimeline(&c, request, page);
    ms.push_back(Seconds(Clock::now() - start) * 1000);
    if (!st.ok()) {
      std::fprintf(stderr, "error: %s\n", st.error_message().c_str());
      return 1;
    }
    records = static_cast<size_t>(page->records_size());
  }
  std::sort(ms.begin(), ms.end());
  auto q = [&](double p) {
    return ms[std::min(ms.size() - 1, static_cast<size_t>(p * ms.size()))];
  };
  std::printf(
      "timeline of a case with %zu records (one page), %d reads: p50 %.3f ms  p99 %.3f ms  "
      "max %.3f ms\n",
      records, reads, q(0.5), q(0.99), ms.back());
  return 0;
}

// A case with `events` records, then its timeline read `reads` times.
int Timeline(const std::string& target, const security::ClientTlsOptions& tls, int events,
             int reads) {
  auto channel = BenchChannel(target, tls, /*own_connection=*/false);
  const std::string run = absl::StrFormat("t%x", static_cast<uint64_t>(WallMicros()));
  const std::string case_id = "timeline-" + run;
  if (int status = FillTimelineCase(channel, target, run, case_id, events); status != 0) {
    return status;
  }
  return TimeTimelineReads(channel, case_id, reads);
}

// How to reach a server that speaks TLS (also GRIDCASE_CA, _CERT, _KEY,
// _SERVER_NAME).
void AddTlsOptions(CLI::App& app, security::ClientTlsOptions* tls) {
  app.add_option("--ca", tls->ca_path, "CA bundle of the server's certificate: speak TLS");
  app.add_option("--cert", tls->cert_path, "client certificate (mutual TLS)");
  app.add_option("--key", tls->key_path, "the client certificate's private key");
  app.add_option("--server-name", tls->server_name,
                 "name the server's certificate carries, when not the host of --server");
}

// The options of a load run (the main command).
void AddLoadOptions(CLI::App& app, LoadOptions* o) {
  app.add_option("--server", o->server, "gridcased address")->capture_default_str();
  AddTlsOptions(app, &o->tls);
  app.add_option("--stats-cert", o->stats_cert_path,
                 "certificate to read the server's counters with (an operator's), when the "
                 "submitting caller may not");
  app.add_option("--stats-key", o->stats_key_path, "the --stats-cert certificate's private key");
  app.add_option("--mode", o->mode, "unary, stream or both")->capture_default_str();
  app.add_option("--in-flight", o->in_flight, "submissions outstanding at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 65536));
  app.add_option("--channels", o->channels, "unary: gRPC channels (connections)")
      ->capture_default_str()
      ->check(CLI::Range(1, 65536));
  app.add_option("--streams", o->streams, "stream: SubmitStream calls")
      ->capture_default_str()
      ->check(CLI::Range(1, 65536));
  app.add_option("--batch", o->batch,
                 "stream: submissions per message at most (what the window has room for and "
                 "is due; 1: a message each)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));  // the server takes at most 1024 per message
  app.add_option("--duration", o->duration_s, "seconds measured")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 86400.0));
  app.add_option("--warmup", o->warmup_s, "seconds before measuring")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  app.add_option("--rate", o->rate, "submissions/s, open loop (0: as fast as possible)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e7));
  app.add_option("--grids", o->day.grids, "grids of the city")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--residents-per-grid", o->day.residents_per_grid)
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--abnormal", o->day.abnormal_share, "share of fever readings >= 37.3 C")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--raw-seconds", o->raw_seconds, "how long the raw RocksDB baseline writes")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  app.add_flag("!--no-baselines", o->baselines, "skip the echo and raw RocksDB baselines");
  app.add_option("--raw-dir", o->raw_dir,
                 "where the raw RocksDB baseline writes (the server's disk)")
      ->capture_default_str();
  app.add_option("--seed", o->seed, "random seed (0: from the time)");
}

}  // namespace
}  // namespace gridcase::bench

int main(int argc, char** argv) {
  using gridcase::bench::LoadOptions;
  LoadOptions o;
  CLI::App app{
      "gridcase-bench: load a running gridcased with a Wuhan day, beside an echo and a "
      "raw RocksDB baseline"};
  app.require_subcommand(0, 1);
  app.footer(
      "Exit status: 0 a clean run; 1 submissions failed (the results say how many, by status, "
      "with the first message of each); 2 a usage error; 3 the server could not be reached.");
  gridcase::bench::AddLoadOptions(app, &o);
  int grids = 13001;
  std::string out = "wuhan-directory.jsonl";
  CLI::App* dir_cmd = app.add_subcommand(
      "directory", "Write the Wuhan directory (districts to grids, workers, cadres) as JSON lines");
  dir_cmd->add_option("--grids", grids)->capture_default_str();
  dir_cmd->add_option("--out", out)->capture_default_str();
  int events = 1000, reads = 2000;
  CLI::App* timeline_cmd = app.add_subcommand(
      "timeline",
      "Open a case with --events events (and the records its workflow derives from them), "
      "then time --reads reads of its first timeline page");
  timeline_cmd->add_option("--server", o.server, "gridcased address")->capture_default_str();
  gridcase::bench::AddTlsOptions(*timeline_cmd, &o.tls);
  timeline_cmd->add_option("--events", events)
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  timeline_cmd->add_option("--reads", reads)->capture_default_str()->check(CLI::Range(1, 10000000));
  gridcase::bench::ReadBenchOptions reads_options;
  CLI::App* read_cmd = app.add_subcommand(
      "get-case",
      "Open --cases cases, then GetCase at --rate reads/s (open loop) for --duration s; latency "
      "percentiles counted from when each read was due");
  read_cmd->add_option("--server", reads_options.server, "gridcased address")
      ->capture_default_str();
  gridcase::bench::AddTlsOptions(*read_cmd, &reads_options.tls);
  read_cmd->add_option("--rate", reads_options.rate)
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1e6));
  read_cmd->add_option("--duration", reads_options.duration_s)
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  read_cmd->add_option("--warmup", reads_options.warmup_s, "seconds read at the rate, unmeasured")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  read_cmd->add_option("--cases", reads_options.cases)
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  read_cmd->add_option("--readers", reads_options.threads)
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // CLI11's own codes are not ours
  }
  if (dir_cmd->parsed()) return gridcase::bench::WriteDirectory(grids, out);
  if (read_cmd->parsed()) {
    gridcase::security::ClientTlsFromEnvironment(&reads_options.tls);
    return gridcase::bench::GetCaseAtRate(reads_options);
  }
  gridcase::security::ClientTlsFromEnvironment(&o.tls);
  if (timeline_cmd->parsed()) return gridcase::bench::Timeline(o.server, o.tls, events, reads);
  if (o.mode != "unary" && o.mode != "stream" && o.mode != "both") {
    std::fprintf(stderr, "error: --mode: unary, stream or both\n");
    return 2;
  }
  return gridcase::bench::Run(o);
}
