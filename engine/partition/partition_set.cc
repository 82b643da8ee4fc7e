#include "engine/partition/partition_set.h"

#include <algorithm>

#include "absl/strings/str_join.h"
#include "engine/storage/data_dir.h"

namespace gridcase {
namespace {

// Runs fn(0..count-1) on up to one thread per core, side by side.
template <typename Fn>
void SideBySide(size_t count, Fn fn) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < count;) fn(i);
  };
  const size_t threads = std::min<size_t>(count, std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::thread> more;
  for (size_t t = 1; t < threads; ++t) more.emplace_back(work);
  work();
  for (auto& t : more) t.join();
}

}  // namespace

uint64_t Fnv1a64(absl::string_view s) {
  uint64_t h = 14695981039346656037ULL;
  for (char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

absl::StatusOr<std::unique_ptr<PartitionSet>> PartitionSet::Open(
    const std::string& data_dir, uint32_t count, const PartitionSetOptions& options) {
  std::vector<absl::StatusOr<std::unique_ptr<PartitionStore>>> stores(count);
  SideBySide(count, [&](size_t i) {
    stores[i] = PartitionStore::Open(PartitionDir(data_dir, static_cast<uint32_t>(i)),
                                     PartitionId(static_cast<uint32_t>(i)), options.store);
  });
  std::vector<std::string> refusals;
  absl::Status first_refusal;
  for (auto& store : stores) {
    if (store.ok()) continue;
    if (first_refusal.ok()) first_refusal = store.status();
    refusals.emplace_back(store.status().message());
  }
  if (!first_refusal.ok()) {
    return absl::Status(first_refusal.code(), absl::StrJoin(refusals, "\n"));
  }
  std::unique_ptr<PartitionSet> set(new PartitionSet());
  for (auto& store : stores) {
    (*store)->KeepRecentRecords(options.recent_records_bytes);
    // Every submission checks its event id in each partition and reads its
    // case: filters of the ids each partition holds answer most of these
    // checks (new ids, new cases) without a read.
    (*store)->KeepIdFilters();
    // Supervisors' listings, holders and overdue tasks: in memory, so that
    // no index row is written in the synced batch.
    (*store)->KeepCaseIndex();
    set->parts_.push_back(Part{std::move(*store), nullptr});
  }
  return set;
}

PartitionSet::~PartitionSet() { Stop(); }

absl::Status PartitionSet::StartSequencers(const Clock* clock, const CaseLogic* logic,
                                           CommitListener* listener,
                                           const SequencerOptions& options) {
  for (auto& part : parts_) {
    auto seq = Sequencer::Start(part.store.get(), clock, logic, listener, options);
    if (!seq.ok()) return seq.status();
    part.sequencer = std::move(*seq);
  }
  return absl::OkStatus();
}

void PartitionSet::StartScanAtOpen() {
  {
    absl::MutexLock lock(&open_scan_mu_);
    open_scan_done_ = false;
  }
  for (auto& part : parts_) part.store->StartFillingCaseIndex();
  // Partitions side by side, one per core: parsing every stored case
  // state for the case index is most of it (about 340,000 cases/s a core).
  open_scan_ = std::thread([this] {
    SideBySide(parts_.size(),
               [this](size_t i) { parts_[i].store->ScanStored(open_scan_stop_).IgnoreError(); });
    absl::MutexLock lock(&open_scan_mu_);
    open_scan_done_ = true;
  });
}

void PartitionSet::WaitForScanAtOpen() {
  absl::MutexLock lock(&open_scan_mu_);
  open_scan_mu_.Await(absl::Condition(&open_scan_done_));
}

void PartitionSet::Stop() {
  open_scan_stop_.store(true);
  if (open_scan_.joinable()) open_scan_.join();
  for (auto& p : parts_) {
    if (p.sequencer) p.sequencer->Stop();
  }
}

std::vector<const PartitionStore*> PartitionSet::stores() const {
  std::vector<const PartitionStore*> out;
  for (const auto& p : parts_) out.push_back(p.store.get());
  return out;
}

bool PartitionSet::MayHaveEventIdElsewhere(absl::string_view event_id, PartitionId home) const {
  for (const auto& p : parts_) {
    if (p.store->id() != home && p.store->MayHaveEventId(event_id)) return true;
  }
  return false;
}

absl::Status PartitionSet::CheckEventIdElsewhere(const v1::Event& event, PartitionId home) const {
  for (const auto& p : parts_) {
    if (p.store->id() == home || !p.store->MayHaveEventId(event.event_id())) continue;
    auto found = p.store->FindEventId(event.event_id());
    if (!found.ok()) return found.status();
    if (!found->has_value()) continue;
    auto prior = p.store->ReadRecord(**found);
    if (!prior.ok()) return prior.status();
    return EventIdConflict(*prior);
  }
  return absl::OkStatus();
}

}  // namespace gridcase
