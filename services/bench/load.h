// The load side of gridcase-bench: Wuhan-day submissions sent to an
// EventService (gridcased's, or the echo baseline's) over unary calls or
// streams, with their throughput and acknowledgement latency.
#ifndef GRIDCASE_SERVICES_BENCH_LOAD_H_
#define GRIDCASE_SERVICES_BENCH_LOAD_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "services/bench/wuhan_day.h"
#include "services/security/tls.h"

namespace gridcase::bench {

// The wall clock in µs (for occurred_at).
int64_t WallMicros();

struct LoadOptions {
  std::string server = "127.0.0.1:7070";
  std::string mode = "both";  // unary, stream, both
  int in_flight = 512;
  int channels = 2;
  int streams = 2;
  int batch = 64;  // stream: submissions per message at most
  double duration_s = 20;
  double warmup_s = 3;
  double rate = 0;  // submissions/s; 0: as fast as possible
  bool baselines = true;
  std::string raw_dir = "/tmp";
  uint32_t raw_partitions = 0;  // 0: as the server has
  double raw_seconds = 5;       // how long the raw baseline writes
  WuhanDayOptions day;
  int64_t seed = 0;                // 0: from the time
  security::ClientTlsOptions tls;  // TLS when a CA is given (--ca, GRIDCASE_CA)
  // Who reads the server's counters (GetServerStats: an operator's right);
  // when no certificate is given, the caller that submits.
  std::string stats_cert_path;
  std::string stats_key_path;
};

// A channel to `target`, TLS as `tls` says; `own_connection`: one TCP
// connection of its own. Exits with a message when a TLS file is bad: the
// bench cannot run without its connection.
std::shared_ptr<grpc::Channel> BenchChannel(const std::string& target,
                                            const security::ClientTlsOptions& tls,
                                            bool own_connection);

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

struct PhaseResult {
  double rate = 0;     // acknowledged submissions per second
  double seconds = 0;  // measured
  double p50 = 0, p99 = 0, p999 = 0;
  uint64_t acked = 0;
  std::string errors;         // those answered within the window, and failed streams
  uint64_t errors_total = 0;  // warm-up and the rest of the phase included
};

// Runs `mode` against `target` for warm-up plus duration, printing progress.
PhaseResult RunPhase(const std::string& label, const std::string& target, const std::string& mode,
                     const LoadOptions& o, const Source& source);

}  // namespace gridcase::bench

#endif  // GRIDCASE_SERVICES_BENCH_LOAD_H_
