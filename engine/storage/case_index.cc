#include "engine/storage/case_index.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "engine/common/check.h"
#include "engine/common/time.h"

namespace gridcase {
namespace {

// A broken invariant of the index: queries would answer wrongly from here on.
[[noreturn]] void Broken(const char* what, absl::string_view case_id) {
  GC_UNREACHABLE("case index: ", what, " (case ", case_id, ")");
}

size_t VectorBytes(const std::vector<uint32_t>& a, const std::vector<int64_t>& b) {
  return a.capacity() * sizeof(uint32_t) + b.capacity() * sizeof(int64_t);
}

template <typename T>
void SortUnique(std::vector<T>* v) {
  std::sort(v->begin(), v->end());
  v->erase(std::unique(v->begin(), v->end()), v->end());
}

// Calls gone(x) for each x of `before` missing from `now`, then came(x)
// for each x of `now` missing from `before` (both sorted). Generic: the
// callbacks' own lock requirements are checked where they are written, and
// their callers hold what they need.
template <typename T, typename Gone, typename Came>
void Diff(const std::vector<T>& before, const std::vector<T>& now, Gone gone,
          Came came) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  for (const T& x : before) {
    if (!std::binary_search(now.begin(), now.end(), x)) gone(x);
  }
  for (const T& x : now) {
    if (!std::binary_search(before.begin(), before.end(), x)) came(x);
  }
}

}  // namespace

bool CaseFilter::Matches(const v1::CaseState& s) const {
  return (stage.empty() || s.stage() == stage) &&
         (category == v1::CATEGORY_UNSPECIFIED || s.category() == category) &&
         (grid_id.empty() || s.grid_id() == grid_id) &&
         (assignee.empty() || s.assignee() == assignee);
}

uint32_t Interner::Intern(absl::string_view s) {
  if (uint32_t found = Find(s)) return found;
  // Values are at most 30 bits wide in an index key (case_index.h).
  if (by_num_.size() >= (size_t{1} << 30)) Broken("more than 2^30 distinct strings", s);
  if (block_used_ + s.size() > kBlockBytes || blocks_.empty()) {
    const size_t size = std::max(kBlockBytes, s.size());
    blocks_.push_back(std::make_unique<char[]>(size));
    block_bytes_ += size;
    block_used_ = 0;
  }
  char* at = blocks_.back().get() + block_used_;
  if (!s.empty()) std::memcpy(at, s.data(), s.size());
  block_used_ += s.size();
  const absl::string_view kept(at, s.size());
  const auto num = static_cast<uint32_t>(by_num_.size());
  by_num_.push_back(kept);
  nums_.emplace(kept, num);
  return num;
}

size_t Interner::bytes() const {
  return block_bytes_ + by_num_.capacity() * sizeof(absl::string_view) +
         nums_.capacity() * (sizeof(std::pair<absl::string_view, uint32_t>) + 1);
}

void CaseIndex::StartFilling() {
  absl::MutexLock lock(&fill_mu_);
  filling_ = true;
}

void CaseIndex::EndFilling(bool complete, std::string why) {
  absl::MutexLock lock(&fill_mu_);
  filling_ = false;
  problem_ = std::move(why);
  complete_.store(complete, std::memory_order_release);
  fill_cv_.SignalAll();
}

bool CaseIndex::filling() const {
  absl::MutexLock lock(&fill_mu_);
  return filling_;
}

std::string CaseIndex::problem() const {
  absl::MutexLock lock(&fill_mu_);
  return problem_;
}

bool CaseIndex::AwaitFilled() const {
  if (complete()) return true;
  absl::MutexLock lock(&fill_mu_);
  while (filling_) fill_cv_.Wait(&fill_mu_);
  return complete();
}

void CaseIndex::Set(absl::Span<const v1::CaseState* const> states) {
  absl::MutexLock lock(&mu_);
  for (const v1::CaseState* s : states) Replace(cases_.Intern(s->case_id()), *s);
}

bool CaseIndex::AddScanned(const v1::CaseState& state) {
  absl::MutexLock lock(&mu_);
  if (cases_.Find(state.case_id()) != 0) return false;
  Replace(cases_.Intern(state.case_id()), state);
  return true;
}

void CaseIndex::Move(Kind kind, uint32_t from, uint32_t to, uint32_t case_num) {
  if (from == to) return;
  std::vector<uint32_t>& counts = counts_[kind];
  if (from != 0) {
    if (members_.erase(Key(kind, from, case_num)) != 1) {
      Broken("a case is missing from a set it belongs to", cases_.Get(case_num));
    }
    --counts[from];
  }
  if (to != 0) {
    members_.insert(Key(kind, to, case_num));
    if (counts.size() <= to) counts.resize(to + 1);
    ++counts[to];
  }
}

void CaseIndex::Replace(uint32_t case_num, const v1::CaseState& s) {
  if (attrs_.size() <= case_num) attrs_.resize(case_num + 1);
  Attrs& a = attrs_[case_num];
  Attrs n;
  n.stage = stages_.Intern(s.stage());  // every case has one, even ""
  n.grid = s.grid_id().empty() ? 0 : grids_.Intern(s.grid_id());
  n.assignee = s.assignee().empty() ? 0 : persons_.Intern(s.assignee());
  n.category = static_cast<int32_t>(s.category());
  Move(kStage, a.stage, n.stage, case_num);
  Move(kGrid, a.grid, n.grid, case_num);
  Move(kAssignee, a.assignee, n.assignee, case_num);
  a = n;

  Tasks t;
  for (const auto& task : s.open_tasks()) {
    if (task.has_due_at()) t.due_us.push_back(Micros(task.due_at()));
    if (!task.assignee().empty()) t.assignees.push_back(persons_.Intern(task.assignee()));
  }
  SortUnique(&t.assignees);
  SortUnique(&t.due_us);
  auto it = tasks_.find(case_num);
  static const Tasks kNone;
  const Tasks& old = it == tasks_.end() ? kNone : it->second;
  Diff(
      old.assignees, t.assignees,
      [&](uint32_t p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { Move(kTaskAssignee, p, 0, case_num); },
      [&](uint32_t p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { Move(kTaskAssignee, 0, p, case_num); });
  Diff(
      old.due_us, t.due_us,
      [&](int64_t due) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        if (due_.erase({due, case_num}) != 1) {
          Broken("a task due time is missing", cases_.Get(case_num));
        }
      },
      [&](int64_t due) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        due_.insert({due, case_num});
      });
  if (it != tasks_.end()) task_bytes_ -= VectorBytes(old.assignees, old.due_us);
  if (t.assignees.empty() && t.due_us.empty()) {
    if (it != tasks_.end()) tasks_.erase(it);
    return;
  }
  task_bytes_ += VectorBytes(t.assignees, t.due_us);
  if (it != tasks_.end()) {
    it->second = std::move(t);
  } else {
    tasks_.emplace(case_num, std::move(t));
  }
}

CaseIndex::Resolved CaseIndex::Resolve(const CaseFilter& filter) const {
  absl::ReaderMutexLock lock(&mu_);
  Resolved r;
  r.category = static_cast<int>(filter.category);
  auto find = [&r](const Interner& in, const std::string& value, uint32_t* num) {
    if (value.empty()) return;
    *num = in.Find(value);
    if (*num == 0) r.none = true;
  };
  // An empty stage filters nothing, though "" is a stage cases may have.
  find(stages_, filter.stage, &r.stage);
  find(grids_, filter.grid_id, &r.grid);
  find(persons_, filter.assignee, &r.assignee);
  return r;
}

bool CaseIndex::AttrsMatch(uint32_t case_num, const Resolved& f) const {
  const Attrs& a = attrs_[case_num];
  return !f.none && (f.stage == 0 || a.stage == f.stage) &&
         (f.category == 0 || a.category == f.category) && (f.grid == 0 || a.grid == f.grid) &&
         (f.assignee == 0 || a.assignee == f.assignee);
}

template <typename Fn>
void CaseIndex::ForEachMember(Kind kind, uint32_t value, Fn fn) const {
  const uint64_t last = Key(kind, value, UINT32_MAX);
  for (uint64_t from = Key(kind, value, 0);;) {
    absl::ReaderMutexLock lock(&mu_);
    auto it = members_.lower_bound(from);
    for (int n = 0; it != members_.end() && *it <= last && n < kChunk; ++it, ++n) {
      fn(static_cast<uint32_t>(*it));
    }
    if (it == members_.end() || *it > last) return;
    from = *it;
  }
}

std::optional<std::vector<std::string>> CaseIndex::Candidates(const CaseFilter& filter,
                                                              absl::string_view after, size_t limit,
                                                              bool* truncated) const {
  *truncated = false;
  const Resolved f = Resolve(filter);
  if (f.none) return std::vector<std::string>();
  std::optional<std::pair<Kind, uint32_t>> best;
  {
    absl::ReaderMutexLock lock(&mu_);
    // The smallest set the filter names.
    for (auto [kind, value] :
         {std::pair{kAssignee, f.assignee}, std::pair{kGrid, f.grid}, std::pair{kStage, f.stage}}) {
      if (value != 0 && (!best || Count(kind, value) < Count(best->first, best->second))) {
        best = std::pair{kind, value};
      }
    }
    if (!best) return std::nullopt;
    // Sorting n members against walking about limit * N / n cases: sort
    // while n² stays within a small multiple of limit * N.
    const uint64_t n = Count(best->first, best->second);
    const uint64_t all = cases_.size();
    if (n > 4096 && n * n > 16 * (uint64_t{limit} + 1) * all) return std::nullopt;
  }
  // Views into the interner stay valid after the lock is let go.
  std::vector<absl::string_view> ids;
  ForEachMember(best->first, best->second, [&](uint32_t num) ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    const absl::string_view id = cases_.Get(num);
    if (id > after && AttrsMatch(num, f)) ids.push_back(id);
  });
  if (ids.size() > limit) {
    std::nth_element(ids.begin(), ids.begin() + limit, ids.end());
    ids.resize(limit);
    *truncated = true;
  }
  std::sort(ids.begin(), ids.end());
  return std::vector<std::string>(ids.begin(), ids.end());
}

std::optional<bool> CaseIndex::Matches(absl::string_view case_id, const Resolved& filter) const {
  absl::ReaderMutexLock lock(&mu_);
  const uint32_t num = cases_.Find(case_id);
  if (num == 0) return std::nullopt;
  return AttrsMatch(num, filter);
}

std::vector<std::string> CaseIndex::HeldBy(absl::string_view person) const {
  uint32_t p;
  {
    absl::ReaderMutexLock lock(&mu_);
    p = persons_.Find(person);
  }
  if (p == 0) return {};
  std::vector<absl::string_view> ids;
  auto add = [&](uint32_t num) ABSL_SHARED_LOCKS_REQUIRED(mu_) { ids.push_back(cases_.Get(num)); };
  ForEachMember(kAssignee, p, add);
  ForEachMember(kTaskAssignee, p, add);
  SortUnique(&ids);
  return std::vector<std::string>(ids.begin(), ids.end());
}

std::vector<std::string> CaseIndex::TaskDueBy(int64_t now_us) const {
  std::vector<absl::string_view> ids;
  for (std::pair<int64_t, uint32_t> from{INT64_MIN, 0};;) {
    absl::ReaderMutexLock lock(&mu_);
    auto it = due_.lower_bound(from);
    for (int n = 0; it != due_.end() && it->first <= now_us && n < kChunk; ++it, ++n) {
      ids.push_back(cases_.Get(it->second));
    }
    if (it == due_.end() || it->first > now_us) break;
    from = *it;
  }
  SortUnique(&ids);
  return std::vector<std::string>(ids.begin(), ids.end());
}

size_t CaseIndex::cases() const {
  absl::ReaderMutexLock lock(&mu_);
  return cases_.size();
}

size_t CaseIndex::bytes() const {
  absl::ReaderMutexLock lock(&mu_);
  // B-tree nodes hold their keys with about a quarter to spare.
  size_t b = cases_.bytes() + stages_.bytes() + grids_.bytes() + persons_.bytes() +
             attrs_.capacity() * sizeof(Attrs) + members_.size() * 10 + due_.size() * 20 +
             tasks_.capacity() * (sizeof(uint32_t) + sizeof(Tasks) + 1) + task_bytes_;
  for (const auto& c : counts_) b += c.capacity() * sizeof(uint32_t);
  return b;
}

}  // namespace gridcase
