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
#include "engine/storage/data_dir.h"
#include "engine/audit/rebuild.h"
#include "engine/audit/refold.h"
#include "engine/common/wire.h"
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
  return absl::InvalidArgumentError(
      "page_token: not a token this server issued for this request");
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

Engine::Engine(const EngineOptions& options, const Clock* clock)
    : options_(options), clock_(clock) {}

// The case logic, plus the engine's own look at what was committed.
class Engine::ObservedLogic final : public CaseLogic {
 public:
  ObservedLogic(std::unique_ptr<CaseLogic> inner, Engine* engine)
      : inner_(std::move(inner)), engine_(engine) {}
  absl::Status Process(v1::Record record, std::optional<v1::CaseState>* state,
                       std::vector<v1::Record>* out) const override {
    return inner_->Process(std::move(record), state, out);
  }
  void Apply(const v1::Record& record, v1::CaseState* state) const override {
    inner_->Apply(record, state);
  }
  void OnCommitted(const v1::Record& record) const override {
    inner_->OnCommitted(record);
    engine_->NotifyCommitted(record);
  }

 private:
  std::unique_ptr<CaseLogic> inner_;
  Engine* const engine_;
};

void Engine::SetDeadlineListener(std::function<void(int64_t due_us)> listener) {
  std::lock_guard<std::mutex> lock(listener_mu_);
  deadline_listener_ = std::move(listener);
}

void Engine::NotifyCommitted(const v1::Record& record) {
  commit_generation_.fetch_add(1);
  if (commit_waiters_.load() > 0) {
    std::lock_guard<std::mutex> lock(commit_mu_);
    commit_cv_.notify_all();
  }
  if (!record.event().has_deadline_set()) return;
  const auto& due = record.event().deadline_set().due_at();
  std::lock_guard<std::mutex> lock(listener_mu_);
  if (deadline_listener_) deadline_listener_(due.seconds() * 1000000 + due.nanos() / 1000);
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Open(
    const EngineOptions& options, const Clock* clock,
    CaseLogicFactory make_logic) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("data directory: not set");
  }
  if (options.partitions > kPartitionsMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("partitions: at most ", kPartitionsMax));
  }
  auto count = ResolvePartitions(options.data_dir, options.partitions);
  if (!count.ok()) return count.status();

  std::unique_ptr<Engine> engine(new Engine(options, clock));
  std::unique_ptr<CaseLogic> logic =
      make_logic ? make_logic(&engine->registry_, &engine->directory_)
                 : std::make_unique<workflow::WorkflowLogic>(&engine->registry_,
                                                             &engine->directory_);
  engine->logic_ = std::make_unique<ObservedLogic>(std::move(logic), engine.get());
  engine->options_.partitions = *count;
  // Partitions are independent: open them side by side (after a crash each
  // replays its write-ahead log).
  std::vector<absl::StatusOr<std::unique_ptr<PartitionStore>>> stores(*count);
  {
    std::vector<std::thread> openers;
    std::atomic<uint32_t> next{0};
    const uint32_t threads = std::max(1u, std::min(*count, std::thread::hardware_concurrency()));
    for (uint32_t t = 0; t < threads; ++t) {
      openers.emplace_back([&] {
        for (uint32_t i; (i = next.fetch_add(1)) < *count;) {
          stores[i] = PartitionStore::Open(
              PartitionDir(options.data_dir, i), PartitionId(i),
              {.env = options.env,
               .memtable_huge_page_size = options.memtable_huge_page_size});
        }
      });
    }
    for (auto& t : openers) t.join();
  }
  // Every partition that refuses says why: a damaged disk seldom damages
  // one partition alone.
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
  for (auto& store : stores) {
    (*store)->KeepRecentRecords(options.recent_records_bytes);
    // Every submission checks its event id in each partition and reads its
    // case: filters of the ids each partition holds answer most of these
    // checks (new ids, new cases) without a read.
    (*store)->KeepIdFilters();
    // Supervisors' listings, holders and overdue tasks: in memory, so that
    // no index row is written in the synced batch.
    (*store)->KeepCaseIndex();
    engine->parts_.push_back(Part{std::move(*store), nullptr});
  }
  if (auto st = engine->LoadEngineCases(); !st.ok()) return st;
  if (auto st = engine->UpgradeCaseStates(); !st.ok()) return st;
  // Every partition is at this build's format now: the marker says so too.
  if (auto st = RefreshMarkerFormat(options.data_dir, *count); !st.ok()) return st;
  for (auto& part : engine->parts_) {
    auto seq = Sequencer::Start(part.store.get(), clock, engine->logic_.get(),
                                options.sequencer);
    if (!seq.ok()) return seq.status();
    part.sequencer = std::move(*seq);
  }
  // Filled in the background: serving need not wait for it. A scan that
  // fails leaves that partition's filters and index unused, so checks keep
  // reading RocksDB and listings walk it (where the failure, if it lasts,
  // surfaces).
  engine->open_scan_done_ = false;
  for (auto& part : engine->parts_) part.store->StartFillingCaseIndex();
  // Partitions side by side, one per core: parsing every stored case
  // state for the case index is most of it (about 340,000 cases/s a core).
  engine->open_scan_ = std::thread([e = engine.get()] {
    std::atomic<size_t> next{0};
    auto scan = [e, &next] {
      for (size_t i; (i = next.fetch_add(1)) < e->parts_.size();) {
        e->parts_[i].store->ScanStored(e->open_scan_stop_).IgnoreError();
      }
    };
    std::vector<std::thread> more;
    const size_t threads = std::min<size_t>(e->parts_.size(),
                                            std::max(1u, std::thread::hardware_concurrency()));
    for (size_t t = 1; t < threads; ++t) more.emplace_back(scan);
    scan();
    for (auto& t : more) t.join();
    std::lock_guard<std::mutex> lock(e->open_scan_mu_);
    e->open_scan_done_ = true;
    e->open_scan_cv_.notify_all();
  });
  return engine;
}

absl::Status Engine::UpgradeCaseStates() {
  for (auto& part : parts_) {
    PartitionStore& store = *part.store;
    if (store.stored_format() >= keys::kFormatVersion) continue;
    auto say = [this](const std::string& m) {
      if (options_.on_upgrade) options_.on_upgrade(m);
    };
    say(absl::StrCat("partition ", store.id().value(), ": storage format ",
                     store.stored_format(), " to ", keys::kFormatVersion,
                     ": folding every case again from the log"));
    const auto start = std::chrono::steady_clock::now();
    auto cases = RefoldCases(&store, *logic_);
    if (!cases.ok()) return cases.status();
    if (auto st = store.RecordFormat(keys::kFormatVersion); !st.ok()) return st;
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    say(absl::StrFormat("partition %u: %u cases folded again in %.1f s", store.id().value(),
                        *cases, took.count()));
  }
  return absl::OkStatus();
}

void Engine::WaitForScanAtOpen() {
  std::unique_lock<std::mutex> lock(open_scan_mu_);
  open_scan_cv_.wait(lock, [this] { return open_scan_done_; });
}

absl::Status Engine::LoadEngineCases() {
  const PartitionStore& home = *parts_[PartitionOf(kDirectoryCaseId).value()].store;
  auto st = home.ForEachRecordOfCases(kDirectoryCaseId, [&](const v1::Record& r) {
    if (r.event().case_id() != kDirectoryCaseId) return absl::OkStatus();  // a longer id
    if (auto entry = EntryOf(r.event())) {
      directory_.Apply(*entry, r.recorded_at().seconds() * 1000000 + r.recorded_at().nanos() / 1000);
    }
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  std::vector<const PartitionStore*> stores;
  for (const auto& p : parts_) stores.push_back(p.store.get());
  return LoadDeployments(stores, &registry_);
}

Engine::~Engine() { Stop(); }

void Engine::Stop() {
  open_scan_stop_.store(true);
  if (open_scan_.joinable()) open_scan_.join();
  {
    std::lock_guard<std::mutex> lock(commit_mu_);
    stopping_ = true;
  }
  commit_cv_.notify_all();
  for (auto& p : parts_) {
    if (p.sequencer) p.sequencer->Stop();
  }
}

std::vector<SequencerStats> Engine::Stats() const {
  std::vector<SequencerStats> out;
  for (const auto& p : parts_) out.push_back(p.sequencer->stats());
  return out;
}

PartitionId Engine::PartitionOf(absl::string_view case_id) const {
  return PartitionId(static_cast<uint32_t>(Fnv1a64(case_id) % parts_.size()));
}

absl::Status Engine::CheckEventIdElsewhere(const v1::Event& event,
                                           PartitionId home) const {
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

void Engine::Submit(v1::SubmitRequest request, SubmitCallback done) {
  if (auto st = ValidateEvent(request.event(), options_.limits, clock_->NowMicros());
      !st.ok()) {
    std::move(done)(st);
    return;
  }
  const PartitionId home = PartitionOf(request.event().case_id());
  if (parts_.size() > 1) {
    if (auto st = CheckEventIdElsewhere(request.event(), home); !st.ok()) {
      std::move(done)(st);
      return;
    }
  }
  parts_[home.value()].sequencer->Submit(std::move(request), std::move(done));
}

PartitionId Engine::RouteOf(const absl::StatusOr<v1::SubmitRequest>& request) const {
  if (request.ok() && IsValidId(request->event().case_id(), options_.limits.id_bytes_max)) {
    return PartitionOf(request->event().case_id());
  }
  return PartitionId(0);
}

void Engine::SubmitFromStream(absl::StatusOr<v1::SubmitRequest> request, StreamOrigin origin,
                              SubmitCallback done) {
  const PartitionId route = RouteOf(request);
  absl::Status refusal = request.status();
  if (refusal.ok()) {
    refusal = ValidateEvent(request->event(), options_.limits, clock_->NowMicros());
  }
  if (refusal.ok() && parts_.size() > 1) refusal = CheckEventIdElsewhere(request->event(), route);
  if (!refusal.ok() && !IsDecidedRefusal(refusal)) {
    std::move(done)(refusal);  // could not look: nothing decided
    return;
  }
  parts_[route.value()].sequencer->SubmitFromStream(
      request.ok() ? std::move(*request) : v1::SubmitRequest(), std::move(refusal),
      std::move(origin), std::move(done));
}

absl::Status Engine::StreamOffsets(PartitionId p, const std::string& source_prefix,
                                   std::map<std::string, int64_t>* out) const {
  std::vector<std::pair<std::string, std::string>> rows;
  const std::string prefix = keys::StreamOffsetKey(source_prefix);
  if (auto st = parts_[p.value()].store->ScanMeta(prefix, SIZE_MAX, &rows); !st.ok()) return st;
  for (const auto& [key, value] : rows) {
    if (value.size() != 8) return absl::DataLossError("a stream offset is not 8 bytes");
    (*out)[key.substr(keys::kMetaStreamOffsetPrefix.size())] =
        static_cast<int64_t>(keys::DecodeFixed64Be(value));
  }
  return absl::OkStatus();
}

absl::Status Engine::DeadLetters(PartitionId p, size_t limit,
                                 std::vector<std::pair<std::string, v1::DeadLetter>>* out) const {
  std::vector<std::pair<std::string, std::string>> rows;
  if (auto st = parts_[p.value()].store->ScanMeta(keys::kMetaDeadLetterPrefix, limit, &rows);
      !st.ok()) {
    return st;
  }
  for (auto& [key, value] : rows) {
    v1::DeadLetter letter;
    if (!letter.ParseFromString(value)) return absl::DataLossError("a dead letter does not parse");
    out->emplace_back(std::move(key), std::move(letter));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Engine::CountDeadLetters(PartitionId p) const {
  return parts_[p.value()].store->CountMeta(keys::kMetaDeadLetterPrefix);
}

absl::Status Engine::RemoveDeadLetters(PartitionId p, const std::vector<std::string>& keys) {
  PartitionStore& store = *parts_[p.value()].store;
  rocksdb::WriteBatch batch;
  for (const auto& key : keys) {
    if (!absl::StartsWith(key, keys::kMetaDeadLetterPrefix)) {
      return absl::InvalidArgumentError("not a dead letter's key");
    }
    batch.Delete(store.cf(keys::Cf::kMeta), key);
  }
  return store.Write(&batch);
}

absl::StatusOr<std::optional<std::string>> Engine::ReadExt(PartitionId p,
                                                           const std::string& name) const {
  return parts_[p.value()].store->ReadMeta(absl::StrCat(keys::kMetaExtPrefix, name));
}

absl::Status Engine::WriteExt(PartitionId p, const std::string& name, const std::string& value) {
  PartitionStore& store = *parts_[p.value()].store;
  rocksdb::WriteBatch batch;
  batch.Put(store.cf(keys::Cf::kMeta), absl::StrCat(keys::kMetaExtPrefix, name), value);
  return store.Write(&batch);
}

absl::StatusOr<v1::CaseState> Engine::GetCase(absl::string_view case_id) const {
  if (auto st = CheckCaseId(case_id); !st.ok()) return st;
  auto state = parts_[PartitionOf(case_id).value()].store->ReadCase(case_id);
  if (!state.ok()) return state.status();
  if (!state->has_value()) {
    return absl::NotFoundError(absl::StrCat("case ", case_id, " does not exist"));
  }
  return std::move(**state);
}

absl::StatusOr<v1::GetTimelineResponse> Engine::GetTimeline(
    const v1::GetTimelineRequest& request) const {
  auto wire = GetTimelineWire(request);
  if (!wire.ok()) return wire.status();
  v1::GetTimelineResponse out;
  if (!out.ParseFromString(*wire)) {
    return absl::DataLossError(absl::StrCat("a stored record of case ", request.case_id(),
                                            " does not parse"));
  }
  return out;
}

absl::StatusOr<std::string> Engine::GetTimelineWire(const v1::GetTimelineRequest& request) const {
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
  const PartitionStore& store = *parts_[PartitionOf(case_id).value()].store;
  auto state = store.ReadCase(case_id);
  if (!state.ok()) return state.status();
  if (!state->has_value()) {
    return absl::NotFoundError(absl::StrCat("case ", case_id, " does not exist"));
  }
  // A Record is stored as its serialized bytes, which are what the
  // response's `repeated Record records = 1` carries on the wire.
  std::string out;
  uint64_t last_version = 0;
  bool more = false;
  auto st = store.VisitTimeline(
      case_id, CaseVersion(after), PageSize(request.page_size()),
      [&](CaseVersion version, absl::string_view record) {
        wire::AppendLengthDelimited(1, record, &out);
        last_version = version.value();
        return absl::OkStatus();
      },
      &more);
  if (!st.ok()) return st;
  if (more && last_version > 0) {
    wire::AppendLengthDelimited(2, absl::StrCat(kTimelineTokenPrefix, last_version), &out);
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

absl::StatusOr<v1::ListCasesResponse> Engine::ListCases(
    const v1::ListCasesRequest& request) const {
  std::string after;
  if (!request.page_token().empty()) {
    if (request.page_token().rfind(kCasesTokenPrefix, 0) != 0) return BadToken();
    after = request.page_token().substr(1);
    if (auto st = CheckCaseId(after); !st.ok()) return BadToken();
  }
  CaseFilter filter{request.stage(), request.category(), request.grid_id(),
                    request.assignee()};
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
  for (const auto& p : parts_) {
    std::vector<v1::CaseState> part;
    bool part_more = false;
    absl::Status st;
    if (request.overdue()) {
      st = OverdueOf(*p.store, filter, grids, !request.area().empty(), after, limit, &part,
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
        st = p.store->ListCases(in_grid, after, limit, &of_grid, &grid_more);
        if (!st.ok()) break;
        part_more = part_more || grid_more;
        std::move(of_grid.begin(), of_grid.end(), std::back_inserter(part));
      }
    } else {
      st = p.store->ListCases(filter, after, limit, &part, &part_more);
    }
    if (!st.ok()) return st;
    more = more || part_more;
    std::move(part.begin(), part.end(), std::back_inserter(all));
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return a.case_id() < b.case_id();
  });
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
