#include "engine/audit/rebuild.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "engine/audit/partition_replay.h"
#include "engine/domain/directory.h"
#include "engine/storage/chain.h"
#include "engine/storage/data_dir.h"
#include "engine/workflow/logic.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"

namespace gridcase {
namespace {

namespace fs = std::filesystem;
using keys::Cf;

absl::string_view View(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

std::string Printable(absl::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[5];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

std::string PositionText(absl::string_view value) {
  if (value.size() != 8) return absl::StrCat("(not a position: ", Printable(value), ")");
  return absl::StrCat("position ", keys::DecodeFixed64Be(value));
}

// The key of a derived row in words, and the case it belongs to.
void DescribeKey(Cf cf, absl::string_view key, RebuildDifference* d) {
  d->key = Printable(key);
  switch (cf) {
    case Cf::kCases:
      d->case_id = std::string(key);
      break;
    case Cf::kCaseEvents: {
      const size_t zero = key.find('\0');
      if (zero == absl::string_view::npos || key.size() != zero + 9) break;
      d->case_id = std::string(key.substr(0, zero));
      d->key = absl::StrCat(d->case_id, " version ", keys::DecodeFixed64Be(key.substr(zero + 1)));
      break;
    }
    case Cf::kTimers:
      if (auto t = keys::DecodeTimerKey(key)) {
        d->case_id = t->case_id;
        d->key =
            absl::StrCat("deadline ", t->deadline, " of ", t->case_id, " due ",
                         google::protobuf::util::TimeUtil::ToString(
                             google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(t->due_us)));
      }
      break;
    case Cf::kDedup:
      d->key = absl::StrCat("event_id ", Printable(key));
      break;
    default:
      break;
  }
}

std::string DescribeValue(Cf cf, absl::string_view value) {
  switch (cf) {
    case Cf::kCases: {
      v1::CaseState s;
      if (!s.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
        return absl::StrCat("(does not parse: ", value.size(), " bytes)");
      }
      return s.ShortDebugString();
    }
    case Cf::kCaseEvents:
    case Cf::kDedup:
      return PositionText(value);
    default:
      return value.empty() ? "(present)" : Printable(value);
  }
}

// Equal rows: the same bytes, or for case states the same message (a map
// field may serialize in another order).
bool SameValue(Cf cf, absl::string_view a, absl::string_view b) {
  if (a == b) return true;
  if (cf != Cf::kCases) return false;
  v1::CaseState x, y;
  return x.ParseFromArray(a.data(), static_cast<int>(a.size())) &&
         y.ParseFromArray(b.data(), static_cast<int>(b.size())) &&
         google::protobuf::util::MessageDifferencer::Equals(x, y);
}

std::optional<RebuildDifference> CompareFamily(const PartitionStore& live,
                                               const PartitionStore& rebuilt, Cf cf) {
  auto a = live.NewIterator(cf);
  auto b = rebuilt.NewIterator(cf);
  a->SeekToFirst();
  b->SeekToFirst();
  auto differ = [&](absl::string_view key, const rocksdb::Iterator* l, const rocksdb::Iterator* r) {
    RebuildDifference d;
    d.partition = live.id().value();
    d.family = keys::CfName(cf);
    DescribeKey(cf, key, &d);
    if (l) d.live = DescribeValue(cf, View(l->value()));
    if (r) d.rebuilt = DescribeValue(cf, View(r->value()));
    if (cf == Cf::kDedup && d.case_id.empty()) {
      const rocksdb::Iterator* either = l ? l : r;
      if (either->value().size() == 8) {
        auto rec = live.ReadRecord(Position(keys::DecodeFixed64Be(View(either->value()))));
        if (rec.ok()) d.case_id = rec->event().case_id();
      }
    }
    return d;
  };
  while (a->Valid() || b->Valid()) {
    if (a->Valid() && b->Valid() && a->key() == b->key()) {
      if (!SameValue(cf, View(a->value()), View(b->value()))) {
        return differ(View(a->key()), a.get(), b.get());
      }
      a->Next();
      b->Next();
    } else if (!b->Valid() || (a->Valid() && a->key().compare(b->key()) < 0)) {
      return differ(View(a->key()), a.get(), nullptr);
    } else {
      return differ(View(b->key()), nullptr, b.get());
    }
  }
  if (!a->status().ok() || !b->status().ok()) {
    RebuildDifference d;
    d.partition = live.id().value();
    d.family = keys::CfName(cf);
    d.key = "(unreadable)";
    d.live = a->status().ToString();
    d.rebuilt = b->status().ToString();
    return d;
  }
  return std::nullopt;
}

}  // namespace

absl::Status LoadDeployments(const std::vector<const PartitionStore*>& stores,
                             workflow::Registry* registry) {
  std::vector<v1::WorkflowDefinition> deployed;
  for (const PartitionStore* store : stores) {
    auto st = store->ForEachRecordOfCases(workflow::WorkflowCaseId(""), [&](const v1::Record& r) {
      if (r.event().has_workflow_deployed()) {
        deployed.push_back(r.event().workflow_deployed().definition());
      }
      return absl::OkStatus();
    });
    if (!st.ok()) return st;
  }
  std::sort(deployed.begin(), deployed.end(), [](const auto& a, const auto& b) {
    return std::make_pair(a.name(), a.version()) < std::make_pair(b.name(), b.version());
  });
  for (const auto& proto : deployed) {
    auto def = workflow::Definition::FromProto(proto);
    if (!def.ok()) {
      return absl::DataLossError(absl::StrCat("stored workflow ", proto.name(), " v",
                                              proto.version(),
                                              " does not validate: ", def.status().message()));
    }
    if (auto st = registry->Add(*def); !st.ok()) {
      return absl::DataLossError(absl::StrCat("stored workflows: ", st.message()));
    }
  }
  return absl::OkStatus();
}

namespace {

// Replays every partition into its scratch twin, side by side (partitions
// are independent), reporting progress every quarter second.
absl::Status ReplayAll(const PartitionStores& live, const PartitionStores& rebuilt,
                       const CaseLogic& logic, const std::function<void(uint64_t)>& progress,
                       RebuildReport* report) {
  const auto start = std::chrono::steady_clock::now();
  const uint32_t count = static_cast<uint32_t>(live.size());
  std::atomic<uint64_t> replayed{0};
  std::atomic<uint32_t> next{0};
  std::vector<absl::StatusOr<ReplayCounts>> results(count, ReplayCounts{});
  const unsigned workers = std::max(1u, std::min(count, std::thread::hardware_concurrency()));
  std::vector<std::future<void>> running;
  for (unsigned w = 0; w < workers; ++w) {
    running.push_back(std::async(std::launch::async, [&] {
      for (uint32_t i; (i = next.fetch_add(1)) < count;) {
        results[i] = ReplayPartition(*live[i], rebuilt[i].get(), logic, &replayed);
      }
    }));
  }
  for (auto& f : running) {
    while (f.wait_for(std::chrono::milliseconds(250)) != std::future_status::ready) {
      progress(replayed.load(std::memory_order_relaxed));
    }
  }
  report->replay_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (auto& r : results) {
    if (!r.ok()) return r.status();
    report->records += r->records;
    report->cases += r->cases;
  }
  return absl::OkStatus();
}

// The first difference between live and rebuilt derived rows, if any.
void CompareAll(const PartitionStores& live, const PartitionStores& rebuilt,
                RebuildReport* report) {
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < live.size() && !report->difference; ++i) {
    for (Cf cf : {Cf::kCaseEvents, Cf::kDedup, Cf::kCases, Cf::kTimers}) {
      report->difference = CompareFamily(*live[i], *rebuilt[i], cf);
      if (report->difference) break;
    }
  }
  report->compare_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

absl::StatusOr<RebuildReport> RebuildAndCompare(const RebuildOptions& options) {
  auto count = ReadPartitionCount(options.data_dir);
  if (!count.ok()) return count.status();
  RebuildProgress progress;
  if (options.scratch_dir.empty()) return absl::InvalidArgumentError("scratch directory: not set");
  std::error_code ec;
  if (fs::exists(options.scratch_dir, ec) && !fs::is_empty(options.scratch_dir, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat(options.scratch_dir, " is not empty: rebuild into an empty directory"));
  }
  auto live = OpenSourcePartitions(options.data_dir, *count, &progress.total);
  if (!live.ok()) return live.status();
  auto rebuilt = OpenEmptyPartitions(options.scratch_dir, *count);
  if (!rebuilt.ok()) return rebuilt.status();

  std::vector<const PartitionStore*> sources;
  for (const auto& store : *live) sources.push_back(store.get());
  workflow::Registry registry;
  if (auto st = LoadDeployments(sources, &registry); !st.ok()) return st;
  Directory directory;  // replay never consults it: only deciding does
  const workflow::WorkflowLogic logic(registry, directory);

  RebuildReport report;
  report.partitions = *count;
  auto report_progress = [&](const char* phase, uint64_t replayed) {
    if (!options.progress) return;
    progress.phase = phase;
    progress.replayed = replayed;
    options.progress(progress);
  };
  if (auto st = ReplayAll(
          *live, *rebuilt, logic, [&](uint64_t n) { report_progress("replaying", n); }, &report);
      !st.ok()) {
    return st;
  }
  report_progress("comparing", report.records);
  CompareAll(*live, *rebuilt, &report);
  return report;
}

}  // namespace gridcase
