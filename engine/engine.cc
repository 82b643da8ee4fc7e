#include "engine/engine.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <iterator>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/audit/rebuild.h"
#include "engine/audit/refold.h"
#include "engine/common/file_modes.h"
#include "engine/common/time.h"
#include "engine/common/wire.h"
#include "engine/storage/data_dir.h"
#include "engine/workflow/follower.h"
#include "engine/workflow/logic.h"

namespace gridcase {
namespace {

constexpr char kTimelineTokenPrefix[] = "v";
constexpr char kCasesTokenPrefix[] = "c";

uint32_t PageSize(uint32_t requested) {
  if (requested == 0) return kPageSizeDefault;
  return std::min(requested, kPageSizeMax);
}

absl::Status CheckCaseId(absl::string_view case_id) {
  if (!IsValidId(case_id, ValidationLimits{}.id_bytes_max)) {
    return absl::InvalidArgumentError(
        "case_id: must be 1 to 128 bytes of printable ASCII without spaces");
  }
  return absl::OkStatus();
}

absl::Status BadToken() {
  return absl::InvalidArgumentError("page_token: not a token this server issued for this request");
}

}  // namespace

Engine::Engine(const EngineOptions& options, const Clock* clock)
    : options_(options), clock_(clock) {}

// What follows a durable record outside its case: the registry and the
// directory (the engine's own cases), then the engine's waiters and timers.
class Engine::CommitObserver final : public CommitListener {
 public:
  explicit CommitObserver(Engine* engine)
      : follower_(&engine->registry_, &engine->directory_), engine_(engine) {}
  void OnDurable(const v1::Record& record) override {
    follower_.OnDurable(record);
    engine_->NotifyCommitted(record);
  }

 private:
  workflow::EngineCaseFollower follower_;
  Engine* const engine_;
};

void Engine::NotifyCommitted(const v1::Record& record) {
  commit_generation_.fetch_add(1);
  if (commit_waiters_.load() > 0) {
    // Waiters' conditions are evaluated when the mutex is released.
    absl::MutexLock lock(&commit_mu_);
  }
  if (!record.event().has_deadline_set()) return;
  absl::MutexLock lock(&listener_mu_);
  if (deadline_listener_) deadline_listener_(Micros(record.event().deadline_set().due_at()));
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Open(const EngineOptions& options,
                                                     const Clock* clock,
                                                     CaseLogicFactory make_logic) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("data directory: not set");
  }
  if (options.partitions > kPartitionsMax) {
    return absl::InvalidArgumentError(absl::StrCat("partitions: at most ", kPartitionsMax));
  }
  auto count = ResolvePartitions(options.data_dir, options.partitions, options.env);
  if (!count.ok()) return count.status();
  if (auto st = CheckFileExposure(options.data_dir, Exposure::kOwnerOnly, "data directory");
      !st.ok()) {
    return st;
  }
  std::unique_ptr<Engine> engine(new Engine(options, clock));
  engine->options_.partitions = *count;
  if (auto st = engine->OpenPartitions(std::move(make_logic)); !st.ok()) return st;
  if (auto st = engine->Recover(); !st.ok()) return st;
  if (auto st = engine->StartServing(); !st.ok()) return st;
  return engine;
}

absl::Status Engine::OpenPartitions(CaseLogicFactory make_logic) {
  if (options_.disk_reserve_bytes > 0) {
    disk_ = std::make_unique<DiskSpaceGuard>(options_.data_dir, options_.disk_reserve_bytes);
    options_.sequencer.disk = disk_.get();
  }
  if (options_.clock_jump_limit_us > 0) {
    auto guard =
        ClockGuard::Open(clock_, options_.clock_jump_limit_us, ClockAnchorPath(options_.data_dir));
    if (!guard.ok()) return guard.status();
    clock_guard_ = std::move(*guard);
    options_.sequencer.clock_guard = clock_guard_.get();
  }
  logic_ = make_logic ? make_logic(registry_, directory_)
                      : std::make_unique<workflow::WorkflowLogic>(registry_, directory_);
  observer_ = std::make_unique<CommitObserver>(this);
  auto partitions = PartitionSet::Open(
      options_.data_dir, options_.partitions,
      {.store = {.env = options_.env, .memtable_huge_page_size = options_.memtable_huge_page_size},
       .recent_records_bytes = options_.recent_records_bytes});
  if (!partitions.ok()) return partitions.status();
  partitions_ = std::move(*partitions);
  PartitionSet* set = partitions_.get();
  staffing_ = std::make_unique<Staffing>(set, &directory_, clock_, options_.limits);
  auto access = AccessLog::Open(AccessLogDir(options_.data_dir), options_.env, clock_);
  if (!access.ok()) return access.status();
  access_ = std::move(*access);
  if (!options_.master_key.empty()) {
    const std::string dir = options_.data_dir + "/keys";
    if (auto st = CreatePrivateDirectory(dir); !st.ok()) return st;
    auto keys = privacy::KeyStore::Open(dir + "/subjects", options_.master_key, options_.env);
    if (!keys.ok()) return keys.status();
    keys_ = std::move(*keys);
    for (const PartitionStore* store : partitions_->stores()) {
      auto slot_max = KeySlotMax(*store);
      if (!slot_max.ok()) return slot_max.status();
      if (auto skipped = keys_->SkipSlotsThrough(*slot_max); !skipped.ok()) {
        return skipped.status();
      }
    }
    sealer_ = std::make_unique<privacy::RecordSealer>(keys_.get());
    options_.sequencer.sealer = sealer_.get();
  }
  streams_ = std::make_unique<StreamLedger>(set, clock_, options_.limits, sealer_.get(), &counts_);
  audit_ = std::make_unique<Auditor>(set, access_.get(), logic_.get(), &registry_, &directory_,
                                     clock_, options_.data_dir, sealer_.get(), options_.env);
  scrubber_ = std::make_unique<Scrubber>(set, clock_, options_.scrub);
  timers_ = std::make_unique<DeadlineTimers>(
      set, clock_,
      [this](DeadlineTimers::Listener listener) {
        absl::MutexLock lock(&listener_mu_);
        deadline_listener_ = std::move(listener);
      },
      clock_guard_.get());
  workflows_ = std::make_unique<Deployments>(set, &registry_, options_.limits);
  erasures_ = std::make_unique<Erasures>(set, keys_.get(), &directory_, clock_);
  return absl::OkStatus();
}

absl::Status Engine::Recover() {
  // What the engine's own cases hold: the directory, in log order, and
  // every workflow deployment, in version order.
  if (auto st = staffing_->LoadDirectory(sealer_.get()); !st.ok()) return st;
  if (auto st = workflows_->Load(); !st.ok()) return st;
  if (auto st = UpgradeCaseStates(); !st.ok()) return st;
  // An erasure whose record is durable but whose key outlived a crash.
  if (auto st = erasures_->FinishInterrupted(); !st.ok()) return st.status();
  // Every partition is at this build's format now: the marker says so too.
  return RefreshMarkerFormat(options_.data_dir, options_.partitions, options_.env);
}

absl::Status Engine::StartServing() {
  if (auto st =
          partitions_->StartSequencers(clock_, logic_.get(), observer_.get(), options_.sequencer);
      !st.ok()) {
    return st;
  }
  router_ = std::make_unique<SubmitRouter>(partitions_.get(), options_.id_check_threads,
                                           options_.sequencer.queue_capacity);
  partitions_->StartScanAtOpen();
  scrubber_->Start();
  return absl::OkStatus();
}

absl::Status Engine::UpgradeCaseStates() {
  for (uint32_t i = 0; i < partitions_->count(); ++i) {
    PartitionStore& store = partitions_->store(PartitionId(i));
    if (store.stored_format() >= keys::kFormatVersion) continue;
    auto say = [this](const std::string& m) {
      if (options_.on_upgrade) options_.on_upgrade(m);
    };
    say(absl::StrCat("partition ", store.id().value(), ": storage format ", store.stored_format(),
                     " to ", keys::kFormatVersion, ": folding every case again from the log"));
    const auto start = std::chrono::steady_clock::now();
    auto cases = RefoldCases(&store, *logic_);
    if (!cases.ok()) return cases.status();
    if (auto st = store.RecordFormat(keys::kFormatVersion); !st.ok()) return st;
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    say(absl::StrFormat("partition %u: %u cases folded again in %.1f s", store.id().value(), *cases,
                        took.count()));
  }
  return absl::OkStatus();
}

Engine::~Engine() { Stop(); }

void Engine::Stop() {
  // A scrub pass under way ends at its next step.
  if (scrubber_) scrubber_->Stop();
  // The router next: what it holds goes to the sequencers, which answer
  // everything queued as they stop.
  if (router_) router_->Stop();
  {
    absl::MutexLock lock(&commit_mu_);
    stopping_ = true;
  }
  if (partitions_) partitions_->Stop();
}

std::vector<absl::Status> Engine::WriteRefusals() const {
  // Fresh readings (each guard measures at most so often), so that health
  // follows a jump, or space freed, while no one writes.
  if (clock_guard_ != nullptr) clock_guard_->Now().IgnoreError();
  if (disk_ != nullptr) disk_->Check().IgnoreError();
  std::vector<absl::Status> out;
  for (uint32_t i = 0; i < partitions_->count(); ++i) {
    out.push_back(partitions_->sequencer(PartitionId(i)).refusing_writes());
  }
  return out;
}

absl::StatusOr<int64_t> Engine::AcceptClock() {
  if (clock_guard_ == nullptr) {
    return absl::FailedPreconditionError(
        "the server runs without a clock guard: nothing to accept");
  }
  return clock_guard_->Accept();
}

std::vector<PartitionStats> Engine::Stats() const {
  std::vector<PartitionStats> out;
  for (uint32_t i = 0; i < partitions_->count(); ++i) {
    PartitionStats stats;
    static_cast<SequencerStats&>(stats) = partitions_->sequencer(PartitionId(i)).stats();
    stats.deferred = router_->deferred(PartitionId(i));
    stats.refusing_writes = partitions_->sequencer(PartitionId(i)).refusing_writes();
    if (const CaseIndex* index = partitions_->store(PartitionId(i)).case_index()) {
      stats.case_index = CaseIndexStats{.ready = index->complete(),
                                        .cases = index->cases(),
                                        .bytes = index->bytes(),
                                        .filling = index->filling(),
                                        .problem = index->problem()};
    }
    stats.scrub = scrubber_->stats(PartitionId(i));
    out.push_back(std::move(stats));
  }
  return out;
}

void Engine::Submit(v1::SubmitRequest request, SubmitCallback answer) {
  SubmitCallback done = [counts = &counts_,
                         answer = std::move(answer)](absl::StatusOr<v1::SubmitResponse> r) mutable {
    counts->Count(SubmitSource::kClient, r.status().code());
    std::move(answer)(std::move(r));
  };
  if (auto st = ValidateEvent(request.event(), options_.limits, clock_->NowMicros()); !st.ok()) {
    std::move(done)(st);
    return;
  }
  const PartitionId home = PartitionOf(request.event().case_id());
  router_->Submit(std::move(request), home, std::move(done));
}

void Engine::AwaitCommit(uint64_t seen, std::chrono::milliseconds timeout) const {
  commit_waiters_.fetch_add(1);
  {
    absl::MutexLock lock(&commit_mu_);
    auto moved = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_) {
      return stopping_ || commit_generation_.load() != seen;
    };
    commit_mu_.AwaitWithTimeout(absl::Condition(&moved), absl::FromChrono(timeout));
  }
  commit_waiters_.fetch_sub(1);
}

absl::StatusOr<v1::CaseState> Engine::GetCase(absl::string_view case_id) const {
  if (auto st = CheckCaseId(case_id); !st.ok()) return st;
  auto state = partitions_->store(PartitionOf(case_id)).ReadCase(case_id);
  if (!state.ok()) return state.status();
  if (!state->has_value()) {
    return absl::NotFoundError(absl::StrCat("case ", case_id, " does not exist"));
  }
  return std::move(**state);
}

absl::Status ErasedCase(const v1::CaseState& state) {
  return absl::NotFoundError(
      absl::StrCat("case ", state.case_id(), " was erased at position ", state.erased_at()));
}

absl::Status Engine::OpenRecord(v1::Record* record) const {
  return privacy::OpenRecord(sealer_.get(), record);
}

absl::StatusOr<v1::GetTimelineResponse> Engine::GetTimeline(
    const v1::GetTimelineRequest& request) const {
  auto wire = GetTimelineWire(request);
  if (!wire.ok()) return wire.status();
  v1::GetTimelineResponse out;
  if (!out.ParseFromString(*wire)) {
    return absl::DataLossError(
        absl::StrCat("a stored record of case ", request.case_id(), " does not parse"));
  }
  return out;
}

absl::StatusOr<std::string> Engine::GetTimelineWire(const v1::GetTimelineRequest& request,
                                                    std::string* next_page_token) const {
  const std::string& case_id = request.case_id();
  if (auto st = CheckCaseId(case_id); !st.ok()) return st;
  uint64_t after = 0;
  if (!request.page_token().empty()) {
    const std::string& t = request.page_token();
    if (t.rfind(kTimelineTokenPrefix, 0) != 0) return BadToken();
    const char* begin = t.data() + 1;
    const char* end = t.data() + t.size();
    auto [ptr, ec] = std::from_chars(begin, end, after);
    if (ec != std::errc() || ptr != end) return BadToken();
  }
  const PartitionStore& store = partitions_->store(PartitionOf(case_id));
  auto state = store.ReadCase(case_id);
  if (!state.ok()) return state.status();
  if (!state->has_value()) {
    return absl::NotFoundError(absl::StrCat("case ", case_id, " does not exist"));
  }
  if ((*state)->erased_at() != 0) return ErasedCase(**state);
  // A Record is stored as its serialized bytes, which are what the
  // response's `repeated Record records = 1` carries on the wire; a sealed
  // one is opened first.
  std::string out;
  uint64_t last_version = 0;
  bool more = false;
  auto st = store.VisitTimeline(
      case_id, CaseVersion(after), PageSize(request.page_size()),
      [&](CaseVersion version, absl::string_view record) {
        last_version = version.value();
        if (sealer_ == nullptr) {
          wire::AppendLengthDelimited(1, record, &out);
          return absl::OkStatus();
        }
        v1::Record r;
        if (!r.ParseFromArray(record.data(), static_cast<int>(record.size()))) {
          return absl::DataLossError(absl::StrCat("a stored record of case ", case_id, " version ",
                                                  version.value(), " does not parse"));
        }
        if (!r.has_sealed()) {
          wire::AppendLengthDelimited(1, record, &out);
          return absl::OkStatus();
        }
        if (auto opened = privacy::OpenForReading(sealer_.get(), &r); !opened.ok()) return opened;
        wire::AppendLengthDelimited(1, r.SerializeAsString(), &out);
        return absl::OkStatus();
      },
      &more);
  if (!st.ok()) return st;
  std::string next;
  if (more && last_version > 0) next = absl::StrCat(kTimelineTokenPrefix, last_version);
  if (next_page_token != nullptr) {
    *next_page_token = std::move(next);
  } else if (!next.empty()) {
    wire::AppendLengthDelimited(2, next, &out);
  }
  return out;
}

absl::Status Engine::OverdueOf(const PartitionStore& store, const CaseFilter& filter,
                               const std::vector<std::string>& grids, bool by_area,
                               const std::string& after, size_t limit,
                               std::vector<v1::CaseState>* out, bool* more) const {
  std::vector<std::string> ids;
  if (auto st = store.OverdueCases(clock_->NowMicros(), &ids); !st.ok()) return st;
  for (const std::string& id : ids) {
    if (id <= after) continue;
    auto state = store.ReadCase(id);
    if (!state.ok()) return state.status();
    if (!state->has_value() || !filter.Matches(**state)) continue;
    if (by_area && !std::binary_search(grids.begin(), grids.end(), (*state)->grid_id())) continue;
    if (out->size() == limit) {
      *more = true;
      break;
    }
    out->push_back(std::move(**state));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::ListCasesResponse> Engine::ListCases(const v1::ListCasesRequest& request) const {
  std::string after;
  if (!request.page_token().empty()) {
    if (request.page_token().rfind(kCasesTokenPrefix, 0) != 0) return BadToken();
    after = request.page_token().substr(1);
    if (auto st = CheckCaseId(after); !st.ok()) return BadToken();
  }
  CaseFilter filter{request.stage(), request.category(), request.grid_id(), request.assignee()};
  const uint32_t limit = PageSize(request.page_size());
  std::vector<std::string> grids;  // the area's, when one is asked for
  if (!request.area().empty()) {
    grids = directory_.GridsUnder(request.area());
    if (grids.empty()) {
      return absl::NotFoundError(
          absl::StrCat("area: no unit ", request.area(), " with grids in the directory"));
    }
    if (!filter.grid_id.empty()) {
      const bool inside = std::binary_search(grids.begin(), grids.end(), filter.grid_id);
      grids = inside ? std::vector<std::string>{filter.grid_id} : std::vector<std::string>{};
    }
  }
  // Each partition yields its first `limit` matches after the token; the
  // page is the first `limit` of their union in case_id order.
  std::vector<v1::CaseState> all;
  bool more = false;
  for (const PartitionStore* store : partitions_->stores()) {
    std::vector<v1::CaseState> part;
    bool part_more = false;
    absl::Status st;
    if (request.overdue()) {
      st = OverdueOf(*store, filter, grids, !request.area().empty(), after, limit, &part,
                     &part_more);
    } else if (!request.area().empty()) {
      // Each grid yields its own first `limit`: sharing one vector would
      // let the first grids fill the page and pass over a later grid's
      // cases that sort before theirs.
      for (const std::string& grid : grids) {
        CaseFilter in_grid = filter;
        in_grid.grid_id = grid;
        std::vector<v1::CaseState> of_grid;
        bool grid_more = false;
        st = store->ListCases(in_grid, after, limit, &of_grid, &grid_more);
        if (!st.ok()) break;
        part_more = part_more || grid_more;
        std::move(of_grid.begin(), of_grid.end(), std::back_inserter(part));
      }
    } else {
      st = store->ListCases(filter, after, limit, &part, &part_more);
    }
    if (!st.ok()) return st;
    more = more || part_more;
    std::move(part.begin(), part.end(), std::back_inserter(all));
  }
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return a.case_id() < b.case_id(); });
  if (all.size() > limit) {
    all.resize(limit);
    more = true;
  }
  v1::ListCasesResponse out;
  for (auto& s : all) *out.add_cases() = std::move(s);
  if (more && out.cases_size() > 0) {
    out.set_next_page_token(
        absl::StrCat(kCasesTokenPrefix, out.cases(out.cases_size() - 1).case_id()));
  }
  return out;
}

}  // namespace gridcase
