// A Wuhan day, generated: 13,001 grids under 1,001 communities, 143 streets
// and 13 districts, each grid with a worker and a paired cadre; and the
// day's events: screening checks, fever readings (a small share abnormal,
// so that workflows escalate), help requests and contact attempts, over
// many distinct residents.
#ifndef GRIDCASE_SERVICES_BENCH_WUHAN_DAY_H_
#define GRIDCASE_SERVICES_BENCH_WUHAN_DAY_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gridcase/v1/directory.pb.h"
#include "gridcase/v1/service.pb.h"

namespace gridcase::bench {

struct WuhanDayOptions {
  int grids = 13001;
  int residents_per_grid = 200;
  double abnormal_share = 0.02;  // of fever readings, at or above 37.3 °C
  // Shares of the mix (the rest: screening checks).
  double fever_share = 0.40;
  double help_share = 0.05;
  double contact_share = 0.05;
};

// The directory: units from the districts down, then people and pairings.
std::vector<v1::DirectoryEntry> WuhanDirectory(int grids);

std::string GridId(int grid);
std::string WorkerId(int grid);

// Thread-compatible: one generator per thread.
class WuhanDay {
 public:
  // `run` makes event ids unique to this run.
  WuhanDay(const WuhanDayOptions& options, const std::string& run, uint64_t seed);

  // The next submission, occurring at `now_us`.
  v1::SubmitRequest Next(int64_t now_us);

 private:
  int Pick(int n) { return static_cast<int>(rng_() % static_cast<uint64_t>(n)); }
  double Uniform() { return std::uniform_real_distribution<double>(0, 1)(rng_); }

  const WuhanDayOptions options_;
  const std::string run_;
  std::mt19937_64 rng_;
  uint64_t count_ = 0;
  // Residents this generator has screened: contact attempts go to them.
  std::vector<std::string> seen_;
};

}  // namespace gridcase::bench

#endif  // GRIDCASE_SERVICES_BENCH_WUHAN_DAY_H_
