#include "services/cli/stats.h"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>

#include "absl/strings/str_format.h"
#include "engine/common/latency_histogram.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "services/cli/output.h"

namespace gridcase::cli {
namespace {

using gridcase::v1::LatencyHistogram;
using gridcase::v1::PartitionStats;
using gridcase::v1::ServerStats;

int Fetch(const GlobalOptions& options, ServerStats* out) {
  return CallUnary<gridcase::v1::AdminService>(options,
                                               &gridcase::v1::AdminService::Stub::GetServerStats,
                                               gridcase::v1::GetServerStatsRequest(), out);
}

// `after` minus `before`, bucket by bucket (same bounds on one server).
void Subtract(const LatencyHistogram& before, LatencyHistogram* after) {
  for (int i = 0; i < after->count_size() && i < before.count_size(); ++i) {
    after->set_count(i, after->count(i) - before.count(i));
  }
}

// What happened between two snapshots of one server.
ServerStats Difference(const ServerStats& before, ServerStats after) {
  after.set_cpu_micros(after.cpu_micros() - before.cpu_micros());
  for (int i = 0; i < after.partitions_size() && i < before.partitions_size(); ++i) {
    const PartitionStats& b = before.partitions(i);
    PartitionStats* a = after.mutable_partitions(i);
    a->set_groups(a->groups() - b.groups());
    a->set_records(a->records() - b.records());
    a->set_submissions(a->submissions() - b.submissions());
    a->set_batch_bytes(a->batch_bytes() - b.batch_bytes());
    // The case index fields are levels, not counts: those of `after` stand.
    Subtract(b.queued(), a->mutable_queued());
    Subtract(b.write(), a->mutable_write());
    Subtract(b.answered(), a->mutable_answered());
  }
  return after;
}

void Accumulate(const LatencyHistogram& h, LatencyHistogram* total) {
  if (total->upper_bound_us_size() == 0) {
    *total = h;
    return;
  }
  for (int i = 0; i < total->count_size() && i < h.count_size(); ++i) {
    total->set_count(i, total->count(i) + h.count(i));
  }
}

// The bound of the bucket where the share `q` is reached, as milliseconds;
// "-" when nothing was timed.
std::string QuantileMs(const LatencyHistogram& h, double q) {
  const uint64_t us = gridcase::LatencyHistogram::Quantile(h.upper_bound_us(), h.count(), q);
  return us == 0 ? "-" : absl::StrFormat("%.2f", static_cast<double>(us) / 1000);
}

std::vector<std::string> Row(const std::string& name, const PartitionStats& p) {
  return {name,
          std::to_string(p.submissions()),
          std::to_string(p.groups()),
          p.groups() == 0 ? "-"
                          : absl::StrFormat("%.1f", static_cast<double>(p.submissions()) /
                                                        static_cast<double>(p.groups())),
          std::to_string(p.records()),
          std::to_string(p.batch_bytes()),
          QuantileMs(p.queued(), 0.99),
          QuantileMs(p.write(), 0.5),
          QuantileMs(p.write(), 0.99),
          QuantileMs(p.answered(), 0.5),
          QuantileMs(p.answered(), 0.99)};
}

}  // namespace

int RunStats(const GlobalOptions& options, double interval_seconds) {
  ServerStats stats;
  if (int code = Fetch(options, &stats); code != kExitOk) return code;
  if (interval_seconds > 0) {
    std::this_thread::sleep_for(std::chrono::duration<double>(interval_seconds));
    ServerStats after;
    if (int code = Fetch(options, &after); code != kExitOk) return code;
    stats = Difference(stats, std::move(after));
  }
  if (!options.table) {
    std::cout << ToJson(stats, /*compact=*/false) << "\n";
    return kExitOk;
  }
  std::cout << (interval_seconds > 0 ? absl::StrFormat("over %.1f s", interval_seconds)
                                     : std::string("since the server started"))
            << " (latencies in ms, quantiles as bucket bounds)\n";
  Table table({"PARTITION", "SUBMISSIONS", "GROUPS", "PER_GROUP", "RECORDS", "BYTES", "QUEUED_P99",
               "WRITE_P50", "WRITE_P99", "ANSWERED_P50", "ANSWERED_P99"});
  PartitionStats total;
  for (const PartitionStats& p : stats.partitions()) {
    table.AddRow(Row(std::to_string(p.partition()), p));
    total.set_submissions(total.submissions() + p.submissions());
    total.set_groups(total.groups() + p.groups());
    total.set_records(total.records() + p.records());
    total.set_batch_bytes(total.batch_bytes() + p.batch_bytes());
    Accumulate(p.queued(), total.mutable_queued());
    Accumulate(p.write(), total.mutable_write());
    Accumulate(p.answered(), total.mutable_answered());
  }
  table.AddRow(Row("all", total));
  table.Print(std::cout);
  uint64_t indexed = 0, index_bytes = 0;
  int filling = 0;
  for (const PartitionStats& p : stats.partitions()) {
    indexed += p.indexed_cases();
    index_bytes += p.case_index_bytes();
    filling += p.case_index_filling() ? 1 : 0;
  }
  std::cout << absl::StrFormat("case index: %d cases, %.1f MiB", indexed,
                               static_cast<double>(index_bytes) / (1 << 20));
  if (filling > 0) std::cout << absl::StrFormat(" (%d partitions still filling it)", filling);
  std::cout << "\n";
  for (const PartitionStats& p : stats.partitions()) {
    if (p.case_index_problem().empty()) continue;
    std::cout << absl::StrFormat(
        "partition %d: no case index (%s); listings walk every stored case\n", p.partition(),
        p.case_index_problem());
  }
  uint64_t scrubbed = 0, scrub_problems = 0;
  for (const PartitionStats& p : stats.partitions()) {
    scrubbed += p.scrub().passes() > 0 ? 1 : 0;
    if (p.scrub().running()) {
      std::cout << absl::StrFormat("partition %d: scrub under way, %.1f MiB read\n", p.partition(),
                                   static_cast<double>(p.scrub().running_bytes()) / (1 << 20));
    }
    if (p.scrub().problem().empty()) continue;
    ++scrub_problems;
    std::cout << absl::StrFormat("SCRUB FOUND DAMAGE: %s\n", p.scrub().problem());
  }
  if (scrubbed > 0 && scrub_problems == 0) {
    std::cout << absl::StrFormat("scrub: %d of %d partitions checked, nothing found\n", scrubbed,
                                 stats.partitions_size());
  }
  for (const PartitionStats& p : stats.partitions()) {
    if (p.accepting_writes()) continue;
    std::cout << absl::StrFormat("partition %d REFUSES WRITES: %s\n", p.partition(),
                                 p.refusing_writes());
  }
  if (stats.disk_reserve_bytes() > 0) {
    std::cout << absl::StrFormat("disk: %.0f MiB free, reserve %.0f MiB\n",
                                 static_cast<double>(stats.disk_free_bytes()) / (1 << 20),
                                 static_cast<double>(stats.disk_reserve_bytes()) / (1 << 20));
  }
  uint64_t deferred = 0;
  for (const PartitionStats& p : stats.partitions()) deferred += p.submissions_deferred();
  std::cout << absl::StrFormat(
      "event ids read in another partition, off the callback thread: %d submissions\n", deferred);
  const double cpu_s = static_cast<double>(stats.cpu_micros()) / 1e6;
  std::cout << absl::StrFormat("server CPU: %.2f s", cpu_s);
  if (interval_seconds > 0) {
    std::cout << absl::StrFormat(" (%.2f cores busy)", cpu_s / interval_seconds);
    if (total.submissions() > 0) {
      std::cout << absl::StrFormat(", %.0f submissions/s, %.1f us per submission",
                                   static_cast<double>(total.submissions()) / interval_seconds,
                                   cpu_s * 1e6 / static_cast<double>(total.submissions()));
    }
  }
  std::cout << "\n";
  return kExitOk;
}

}  // namespace gridcase::cli
