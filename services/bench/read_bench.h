// gridcase-bench get-case: GetCase at a fixed rate (open loop), the
// latency of each read counted from when it was due, so that a server
// falling behind shows in the figures rather than slowing the client.
#ifndef GRIDCASE_SERVICES_BENCH_READ_BENCH_H_
#define GRIDCASE_SERVICES_BENCH_READ_BENCH_H_

#include <string>

#include "services/security/tls.h"

namespace gridcase::bench {

struct ReadBenchOptions {
  std::string server = "127.0.0.1:7070";
  security::ClientTlsOptions tls;
  double rate = 1000;  // reads per second
  double duration_s = 10;
  double warmup_s = 2;  // read at the rate first, unmeasured
  int cases = 1000;     // opened first, then read at random
  int threads = 8;      // readers, each keeping its share of the schedule
};

// Opens the cases, reads them; prints the percentiles. 0 when every read
// was answered, 1 otherwise, 3 when the server cannot be reached.
int GetCaseAtRate(const ReadBenchOptions& options);

}  // namespace gridcase::bench

#endif  // GRIDCASE_SERVICES_BENCH_READ_BENCH_H_
