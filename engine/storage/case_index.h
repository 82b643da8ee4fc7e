// A partition's cases by stage, grid, assignee, assignee of an open task and
// due time of an open task, held in memory.
//
// The index answers the supervisors' listings (ListCases), who holds what
// (CasesHeldBy) and what is overdue. It is derived from the case states in
// the `cases` family and never written to RocksDB: as memtable rows inside
// each synced batch it cost about a quarter of the server's throughput (a
// search at a random place in a skiplist per row, docs/benchmarks.md).
// Here a change is a few 8-byte B-tree inserts: ids and values are interned
// once, and each index entry is (kind, value number, case number).
//
// It is filled twice over:
//   * the sequencer calls Set() for every case a group changed, after the
//     group's synced write and before answering, so a read that follows an
//     acknowledgement finds the change;
//   * a background scan at open calls AddScanned() for every stored case,
//     then MarkComplete(). A case the sequencer has already set is newer than
//     what the scan read, so AddScanned() leaves it alone.
// While the scan runs, queries wait for it (AwaitFilled): walking every
// stored case would take longer than the scan, and the directory's sweep at
// start asks who holds what for many people at once. A store whose index
// is not being filled (no scan started, or the scan failed or was stopped)
// walks its `cases` family instead.
//
// Interned ids and values are never freed: a partition's cases are never
// deleted, and their number bounds the memory (about 110–125 bytes a case).
//
// Thread-safety: every method may be called from any thread. Writers (the
// sequencer, the scan) take the lock exclusively, for one group or one case;
// readers share it, at most kChunk entries at a time, so that a large
// listing never holds the sequencer's answers back for long. A waiting
// writer goes before new readers (absl::Mutex), so queries cannot starve it.
#ifndef GRIDCASE_ENGINE_STORAGE_CASE_INDEX_H_
#define GRIDCASE_ENGINE_STORAGE_CASE_INDEX_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "gridcase/v1/case.pb.h"

namespace gridcase {

// Filters of a case listing; empty / unspecified fields match everything.
struct CaseFilter {
  std::string stage;
  v1::Category category = v1::CATEGORY_UNSPECIFIED;
  std::string grid_id;
  std::string assignee;

  bool Matches(const v1::CaseState& s) const;
};

// Strings numbered in the order first seen (from 1; 0 means "none"), kept
// in blocks that never move, so their views stay valid for the interner's
// life.
class Interner {
 public:
  Interner() { by_num_.emplace_back(); }
  Interner(const Interner&) = delete;
  Interner& operator=(const Interner&) = delete;

  // The number of `s`, numbering it if new.
  uint32_t Intern(absl::string_view s);
  // The number of `s`, or 0 when it was never interned.
  uint32_t Find(absl::string_view s) const {
    auto it = nums_.find(s);
    return it == nums_.end() ? 0 : it->second;
  }
  absl::string_view Get(uint32_t num) const { return by_num_[num]; }
  // Strings interned (numbers run from 1 to size()).
  size_t size() const { return by_num_.size() - 1; }
  size_t bytes() const;

 private:
  static constexpr size_t kBlockBytes = 64 << 10;
  std::vector<std::unique_ptr<char[]>> blocks_;
  size_t block_used_ = kBlockBytes;  // of blocks_.back()
  size_t block_bytes_ = 0;           // all blocks
  std::vector<absl::string_view> by_num_;
  absl::flat_hash_map<absl::string_view, uint32_t> nums_;
};

class CaseIndex {
 public:
  CaseIndex() = default;
  CaseIndex(const CaseIndex&) = delete;
  CaseIndex& operator=(const CaseIndex&) = delete;

  // The sequencer: these cases are now recorded as given.
  void Set(absl::Span<const v1::CaseState* const> states);
  void Set(const v1::CaseState& state) { Set({&state}); }
  // The scan at open: a case as stored when the scan began. False (and
  // nothing changes) when the case is already indexed.
  bool AddScanned(const v1::CaseState& state);
  // Before the scan at open starts: queries wait for it from now on.
  void StartFilling();
  // The scan has added every stored case: queries may use the index.
  void MarkComplete() { EndFilling(true, ""); }
  // The scan failed or was stopped (`why`): queries walk the stored cases.
  void MarkAbandoned(std::string why) { EndFilling(false, std::move(why)); }
  bool complete() const { return complete_.load(std::memory_order_acquire); }
  // Whether a scan is filling it now; why the last one gave up ("": it did not).
  bool filling() const;
  std::string problem() const;
  // Waits while a scan is filling the index; whether it is complete.
  bool AwaitFilled() const;

  // A listing filter with its values looked up once (see Resolve).
  struct Resolved {
    uint32_t stage = 0, grid = 0, assignee = 0;  // 0: not filtered on
    int category = 0;                            // 0: not filtered on
    bool none = false;                           // a value no indexed case has: nothing matches
  };
  Resolved Resolve(const CaseFilter& filter) const;

  // The ids of indexed cases that match `filter`, with case_id > after, in
  // case_id order: at most `limit` (`*truncated` tells whether more match).
  // nullopt when the filter names no stage, grid or assignee, or the
  // smallest of those sets is so large a share of the cases that walking
  // all of them in case_id order (asking Matches) finds a page sooner than
  // sorting the set.
  std::optional<std::vector<std::string>> Candidates(const CaseFilter& filter,
                                                     absl::string_view after, size_t limit,
                                                     bool* truncated) const;
  // Whether the case matches, as indexed; nullopt when it is not indexed.
  std::optional<bool> Matches(absl::string_view case_id, const Resolved& filter) const;

  // Cases whose assignee, or the assignee of one of whose open tasks, is
  // `person`, sorted.
  std::vector<std::string> HeldBy(absl::string_view person) const;
  // Cases with an open task due at or before `now_us`, sorted.
  std::vector<std::string> TaskDueBy(int64_t now_us) const;

  // Cases indexed.
  size_t cases() const;
  // Memory held, roughly (constant time: stats may ask at any moment).
  size_t bytes() const;

 private:
  // The kinds of member sets: a value's cases are a range of `members_`.
  enum Kind : uint64_t { kStage = 0, kGrid = 1, kAssignee = 2, kTaskAssignee = 3 };
  static constexpr int kKinds = 4;
  static uint64_t Key(Kind kind, uint32_t value, uint32_t case_num) {
    return (uint64_t{kind} << 62) | (uint64_t{value} << 32) | case_num;
  }
  // What one case is indexed under.
  struct Attrs {
    uint32_t stage = 0, grid = 0, assignee = 0;
    int32_t category = 0;
  };
  struct Tasks {
    std::vector<uint32_t> assignees;  // sorted, unique
    std::vector<int64_t> due_us;      // sorted, unique
  };

  void Replace(uint32_t case_num, const v1::CaseState& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Move(Kind kind, uint32_t from, uint32_t to, uint32_t case_num)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool AttrsMatch(uint32_t case_num, const Resolved& f) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  uint32_t Count(Kind kind, uint32_t value) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return value < counts_[kind].size() ? counts_[kind][value] : 0;
  }
  // Calls fn(case number) for each member of (kind, value), kChunk at a
  // time under the shared lock.
  template <typename Fn>
  void ForEachMember(Kind kind, uint32_t value, Fn fn) const;

  // Entries visited under one hold of the shared lock.
  static constexpr int kChunk = 1024;
  mutable absl::Mutex mu_;
  Interner cases_ ABSL_GUARDED_BY(mu_);
  Interner stages_ ABSL_GUARDED_BY(mu_);
  Interner grids_ ABSL_GUARDED_BY(mu_);
  Interner persons_ ABSL_GUARDED_BY(mu_);
  std::vector<Attrs> attrs_ ABSL_GUARDED_BY(mu_);  // by case number
  // Cases with open tasks.
  absl::flat_hash_map<uint32_t, Tasks> tasks_ ABSL_GUARDED_BY(mu_);
  size_t task_bytes_ ABSL_GUARDED_BY(mu_) = 0;              // held by tasks_' vectors
  absl::btree_set<uint64_t> members_ ABSL_GUARDED_BY(mu_);  // Key(kind, value, case)
  absl::btree_set<std::pair<int64_t, uint32_t>> due_ ABSL_GUARDED_BY(mu_);  // (task due, case)
  std::vector<uint32_t> counts_[kKinds] ABSL_GUARDED_BY(mu_);               // by kind, then value
  void EndFilling(bool complete, std::string why);
  std::atomic<bool> complete_{false};
  mutable absl::Mutex fill_mu_;
  mutable absl::CondVar fill_cv_;
  bool filling_ ABSL_GUARDED_BY(fill_mu_) = false;
  std::string problem_ ABSL_GUARDED_BY(fill_mu_);
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_STORAGE_CASE_INDEX_H_
