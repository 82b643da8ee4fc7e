#include "engine/engine.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <cctype>
#include <charconv>
#include <map>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/workflow/logic.h"
#include "google/protobuf/util/message_differencer.h"

namespace gridcase {
namespace {

namespace fs = std::filesystem;

constexpr char kMarkerFile[] = "GRIDCASE";
constexpr char kTimelineTokenPrefix[] = "v";
constexpr char kCasesTokenPrefix[] = "c";

absl::Status FsError(const std::string& what, const std::error_code& ec) {
  return absl::UnavailableError(absl::StrCat(what, ": ", ec.message()));
}

// Writes `contents` to `path` durably: a temporary file, fsync, rename,
// fsync of the directory.
absl::Status WriteFileDurably(const fs::path& path, const std::string& contents) {
  const fs::path tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("creating ", tmp.string()));
  const bool ok = ::write(fd, contents.data(), contents.size()) ==
                      static_cast<ssize_t>(contents.size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return absl::UnavailableError(absl::StrCat("writing ", tmp.string()));
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return FsError(absl::StrCat("renaming ", tmp.string()), ec);
  const int dfd = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return absl::OkStatus();
}

// Reads or creates data_dir/GRIDCASE and returns the partition count.
absl::StatusOr<uint32_t> ResolvePartitions(const fs::path& dir, uint32_t wanted) {
  const fs::path marker = dir / kMarkerFile;
  std::error_code ec;
  if (!fs::exists(marker, ec)) {
    const uint32_t n = wanted == 0 ? kDefaultPartitions : wanted;
    if (!fs::is_empty(dir, ec)) {
      return absl::FailedPreconditionError(absl::StrCat(
          dir.string(), " is not empty and is not a gridcase data directory (no ",
          kMarkerFile, " file)"));
    }
    if (auto st = WriteFileDurably(
            marker, absl::StrFormat("gridcase data directory\nformat %d\npartitions %d\n",
                                    keys::kFormatVersion, n));
        !st.ok()) {
      return st;
    }
    return n;
  }
  std::ifstream in(marker);
  std::string line;
  uint32_t stored = 0;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key;
    words >> key;
    if (key == "partitions") words >> stored;
  }
  if (stored == 0 || stored > kPartitionsMax) {
    return absl::DataLossError(absl::StrCat(marker.string(),
                                            " names no valid partition count"));
  }
  if (wanted != 0 && wanted != stored) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir.string(), " was created with ", stored, " partitions; it cannot be opened with ",
        wanted, " (cases are placed by partition count)"));
  }
  return stored;
}

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

// "community_secretary" for ROLE_COMMUNITY_SECRETARY: the rung names the
// workflows use.
std::string ShortRoleName(v1::Role role) {
  std::string name = v1::Role_Name(role).substr(5);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
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
  const fs::path dir(options.data_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return FsError(absl::StrCat("creating ", dir.string()), ec);
  auto count = ResolvePartitions(dir, options.partitions);
  if (!count.ok()) return count.status();

  std::unique_ptr<Engine> engine(new Engine(options, clock));
  std::unique_ptr<CaseLogic> logic =
      make_logic ? make_logic(&engine->registry_, &engine->directory_)
                 : std::make_unique<workflow::WorkflowLogic>(&engine->registry_,
                                                             &engine->directory_);
  engine->logic_ = std::make_unique<ObservedLogic>(std::move(logic), engine.get());
  engine->options_.partitions = *count;
  for (uint32_t i = 0; i < *count; ++i) {
    const std::string pdir = (dir / absl::StrFormat("partition-%03d", i)).string();
    auto store = PartitionStore::Open(pdir, PartitionId(i), options.env);
    if (!store.ok()) return store.status();
    engine->parts_.push_back(Part{std::move(*store), nullptr});
  }
  if (auto st = engine->LoadEngineCases(); !st.ok()) return st;
  for (auto& part : engine->parts_) {
    auto seq = Sequencer::Start(part.store.get(), clock, engine->logic_.get(),
                                options.sequencer);
    if (!seq.ok()) return seq.status();
    part.sequencer = std::move(*seq);
  }
  return engine;
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
  std::vector<v1::WorkflowDefinition> deployed;
  for (const auto& p : parts_) {
    auto st = p.store->ForEachRecordOfCases(
        workflow::WorkflowCaseId(""), [&](const v1::Record& r) {
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
                                              proto.version(), " does not validate: ",
                                              def.status().message()));
    }
    if (auto st = registry_.Add(*def); !st.ok()) {
      return absl::DataLossError(absl::StrCat("stored workflows: ", st.message()));
    }
  }
  return absl::OkStatus();
}

Engine::~Engine() { Stop(); }

void Engine::Stop() {
  for (auto& p : parts_) {
    if (p.sequencer) p.sequencer->Stop();
  }
}

PartitionId Engine::PartitionOf(absl::string_view case_id) const {
  return PartitionId(static_cast<uint32_t>(Fnv1a64(case_id) % parts_.size()));
}

absl::Status Engine::CheckEventIdElsewhere(const v1::Event& event,
                                           PartitionId home) const {
  for (const auto& p : parts_) {
    if (p.store->id() == home) continue;
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

void Engine::DeployWorkflow(const std::string& source, const std::string& file_name,
                            const v1::Actor& actor, DeployCallback done) {
  auto def = workflow::Definition::Parse(source, file_name.empty() ? "definition" : file_name);
  if (!def.ok()) {
    std::move(done)(def.status());
    return;
  }
  if (!IsValidId(actor.id(), options_.limits.id_bytes_max)) {
    std::move(done)(absl::InvalidArgumentError(
        "actor.id: who deploys is required (1 to 128 bytes of printable ASCII)"));
    return;
  }
  const v1::WorkflowDefinition& proto = (*def)->proto();
  const std::string case_id = workflow::WorkflowCaseId(proto.name());
  // A deployment is identified by its definition, whoever deploys it: the
  // same version with the same content again is a duplicate.
  if (auto existing = registry_.Get(proto.name(), proto.version())) {
    if (!google::protobuf::util::MessageDifferencer::Equals(existing->proto(), proto)) {
      std::move(done)(absl::AlreadyExistsError(absl::StrCat(
          "workflow ", proto.name(), " version ", proto.version(),
          " is already deployed with different content; give the new definition version ",
          registry_.Latest(proto.name())->version() + 1)));
      return;
    }
    const PartitionStore& store = *parts_[PartitionOf(case_id).value()].store;
    auto position = store.FindEventId(workflow::DeploymentEventId(proto.name(), proto.version()));
    if (!position.ok()) {
      std::move(done)(position.status());
      return;
    }
    v1::DeployWorkflowResponse out;
    out.set_name(proto.name());
    out.set_version(proto.version());
    out.set_position(position->has_value() ? (*position)->value() : 0);
    out.set_duplicate(true);
    std::move(done)(std::move(out));
    return;
  }
  v1::SubmitRequest request;
  v1::Event* e = request.mutable_event();
  e->set_event_id(workflow::DeploymentEventId(proto.name(), proto.version()));
  e->set_case_id(case_id);
  // The deployment's identity is its content: a retry of the same version
  // must compare equal, so occurred_at is not the wall clock.
  e->mutable_occurred_at()->set_seconds(0);
  *e->mutable_actor() = actor;
  e->set_channel(v1::CHANNEL_SYSTEM);
  *e->mutable_workflow_deployed()->mutable_definition() = proto;
  request.set_expected_version(proto.version() - 1);
  const std::string name = proto.name();
  const uint32_t version = proto.version();
  auto latest = registry_.Latest(name);
  parts_[PartitionOf(case_id).value()].sequencer->Submit(
      std::move(request),
      [done = std::move(done), name, version, latest_version = latest ? latest->version() : 0u](
          absl::StatusOr<v1::SubmitResponse> r) mutable {
        if (!r.ok()) {
          if (r.status().code() == absl::StatusCode::kFailedPrecondition) {
            std::move(done)(absl::FailedPreconditionError(absl::StrCat(
                "workflow ", name, ": version ", version, " is not the next version (the "
                "latest deployed is ", latest_version, "; deploy version ", latest_version + 1,
                ")")));
          } else if (r.status().code() == absl::StatusCode::kAlreadyExists) {
            std::move(done)(absl::AlreadyExistsError(absl::StrCat(
                "workflow ", name, " version ", version,
                " is already deployed with different content; give the new definition "
                "version ", latest_version + 1)));
          } else {
            std::move(done)(r.status());
          }
          return;
        }
        v1::DeployWorkflowResponse out;
        out.set_name(name);
        out.set_version(version);
        out.set_position(r->position());
        out.set_duplicate(r->duplicate());
        std::move(done)(std::move(out));
      });
}

v1::ListWorkflowsResponse Engine::ListWorkflows() const {
  v1::ListWorkflowsResponse out;
  for (const auto& def : registry_.All()) {
    auto* w = out.add_workflows();
    w->set_name(def->name());
    w->set_version(def->version());
    w->set_description(def->proto().description());
    for (const auto& o : def->proto().opens_on()) w->add_opens_on(o.event());
    for (const auto& s : def->proto().stages()) w->add_stages(s.name());
  }
  return out;
}

absl::StatusOr<v1::WorkflowDefinition> Engine::GetWorkflow(const std::string& name,
                                                           uint32_t version) const {
  auto def = version == 0 ? registry_.Latest(name) : registry_.Get(name, version);
  if (def == nullptr) {
    return absl::NotFoundError(version == 0
                                   ? absl::StrCat("no workflow named ", name, " is deployed")
                                   : absl::StrCat("workflow ", name, " has no version ", version));
  }
  return def->proto();
}

absl::StatusOr<Engine::ImportResult> Engine::ImportDirectory(
    const std::vector<v1::DirectoryEntry>& entries, const std::string& import_id,
    const v1::Actor& actor) {
  if (!IsValidId(actor.id(), options_.limits.id_bytes_max)) {
    return absl::InvalidArgumentError("actor.id: who imports is required");
  }
  if (!IsValidId(import_id, 64)) {
    return absl::InvalidArgumentError("import_id: 1 to 64 bytes of printable ASCII required");
  }
  std::lock_guard<std::mutex> import_lock(import_mu_);
  auto scratch = directory_.Clone();
  const int64_t now_us = clock_->NowMicros();
  for (size_t i = 0; i < entries.size(); ++i) {
    if (auto st = scratch->Check(entries[i]); !st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("entry ", i + 1, ": ", st.message(),
                                                     "; nothing was imported"));
    }
    scratch->Apply(entries[i], now_us);
  }
  struct Wait {
    std::mutex mu;
    std::condition_variable cv;
    size_t pending = 0;
    size_t written = 0;
    absl::Status error;
  } wait;
  wait.pending = entries.size();
  Sequencer& sequencer = *parts_[PartitionOf(kDirectoryCaseId).value()].sequencer;
  for (size_t i = 0; i < entries.size(); ++i) {
    v1::SubmitRequest request;
    v1::Event* e = request.mutable_event();
    e->set_event_id(absl::StrCat(kDirectoryCaseId, "~", import_id, "~", i + 1));
    e->set_case_id(kDirectoryCaseId);
    e->mutable_occurred_at()->set_seconds(now_us / 1000000);
    *e->mutable_actor() = actor;
    e->set_channel(v1::CHANNEL_SYSTEM);
    SetPayload(entries[i], e);
    sequencer.Submit(std::move(request), [&wait](absl::StatusOr<v1::SubmitResponse> r) {
      std::lock_guard<std::mutex> lock(wait.mu);
      if (r.ok()) {
        wait.written += !r->duplicate();
      } else if (wait.error.ok() && r.status().code() != absl::StatusCode::kAlreadyExists) {
        wait.error = r.status();
      }
      if (--wait.pending == 0) wait.cv.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(wait.mu);
    wait.cv.wait(lock, [&wait] { return wait.pending == 0; });
    if (!wait.error.ok()) return wait.error;
  }
  ImportResult result;
  result.written = wait.written;
  for (const auto& e : entries) {
    if (!e.has_availability()) continue;
    auto person = directory_.FindPerson(e.availability().person_id());
    if (!person || directory_.IsAvailable(*person, clock_->NowMicros())) continue;
    auto moved = ReassignHolder(person->id, e.availability().reason().empty()
                                                ? "unavailable"
                                                : e.availability().reason());
    if (!moved.ok()) return moved.status();
    result.moved += *moved;
  }
  return result;
}

absl::StatusOr<size_t> Engine::ReassignHolder(const std::string& person_id,
                                              const std::string& reason) {
  const int64_t now_us = clock_->NowMicros();
  auto person = directory_.FindPerson(person_id);
  if (!person) {
    return absl::NotFoundError(absl::StrCat("no person ", person_id, " in the directory"));
  }
  // Candidates: the paired partner, then the grid's available workers by
  // load (cases held), then up the ladder for the case's grid.
  std::map<std::string, size_t> load;
  auto load_of = [&](const std::string& id) -> absl::StatusOr<size_t> {
    if (auto it = load.find(id); it != load.end()) return it->second;
    std::vector<std::string> held;
    for (const auto& p : parts_) {
      if (auto st = p.store->CasesHeldBy(id, &held); !st.ok()) return st;
    }
    return load[id] = held.size();
  };
  auto target = [&](const std::string& grid_id)
      -> absl::StatusOr<std::pair<std::string, std::string>> {
    if (!person->paired_with.empty()) {
      auto partner = directory_.FindPerson(person->paired_with);
      if (partner && directory_.IsAvailable(*partner, now_us)) {
        return std::make_pair(partner->id, std::string(partner->role == v1::ROLE_CADRE
                                                           ? "cadre"
                                                           : "grid_worker"));
      }
    }
    if (person->role == v1::ROLE_GRID_WORKER || person->role == v1::ROLE_CADRE) {
      std::string best;
      size_t best_load = 0;
      for (const auto& p : directory_.PeopleOf(person->unit_id)) {
        if (p.id == person->id || p.role != v1::ROLE_GRID_WORKER ||
            !directory_.IsAvailable(p, now_us)) {
          continue;
        }
        auto l = load_of(p.id);
        if (!l.ok()) return l.status();
        if (best.empty() || *l < best_load) {
          best = p.id;
          best_load = *l;
        }
      }
      if (!best.empty()) {
        ++load[best];
        return std::make_pair(best, std::string("grid_worker"));
      }
    }
    for (v1::Role r : {v1::ROLE_COMMUNITY_SECRETARY, v1::ROLE_STREET_OFFICER,
                       v1::ROLE_DISTRICT_OFFICER}) {
      if (r <= person->role) continue;  // only upwards
      if (auto holder = directory_.Resolve(r, grid_id, now_us); holder && *holder != person->id) {
        return std::make_pair(*holder, ShortRoleName(r));
      }
    }
    return std::make_pair(std::string(), std::string());
  };

  struct Wait {
    std::mutex mu;
    std::condition_variable cv;
    size_t pending = 0;
    size_t moved = 0;
    absl::Status error;
  } wait;
  std::vector<std::vector<std::pair<v1::SubmitRequest, SubmitCallback>>> bundles(parts_.size());
  for (size_t i = 0; i < parts_.size(); ++i) {
    std::vector<std::string> held;
    if (auto st = parts_[i].store->CasesHeldBy(person_id, &held); !st.ok()) return st;
    std::sort(held.begin(), held.end());
    for (const std::string& case_id : held) {
      auto state = parts_[i].store->ReadCase(case_id);
      if (!state.ok()) return state.status();
      if (!state->has_value()) continue;
      auto to = target((*state)->grid_id());
      if (!to.ok()) return to.status();
      // Nobody available anywhere up the chain: the case stays where it is,
      // and the staffing report lists it as held by someone unavailable.
      if (to->first.empty()) continue;
      v1::SubmitRequest request;
      v1::Event* e = request.mutable_event();
      e->set_event_id(absl::StrCat(std::string(1, kReservedCasePrefix), "move~", person_id, "~",
                                   case_id, "~", now_us));
      e->set_case_id(case_id);
      e->mutable_occurred_at()->set_seconds(now_us / 1000000);
      e->mutable_actor()->set_id("gridcase");
      e->mutable_actor()->set_kind(v1::ACTOR_KIND_SYSTEM);
      e->set_grid_id((*state)->grid_id());
      e->set_channel(v1::CHANNEL_SYSTEM);
      auto* h = e->mutable_holder_replaced();
      h->set_from_person(person_id);
      h->set_to_person(to->first);
      h->set_to_role(to->second);
      h->set_reason(reason);
      bundles[i].emplace_back(std::move(request), [&wait](absl::StatusOr<v1::SubmitResponse> r) {
        std::lock_guard<std::mutex> lock(wait.mu);
        if (r.ok()) {
          wait.moved += !r->duplicate();
        } else if (wait.error.ok() && r.status().code() != absl::StatusCode::kFailedPrecondition) {
          wait.error = r.status();  // FAILED_PRECONDITION: moved meanwhile
        }
        if (--wait.pending == 0) wait.cv.notify_all();
      });
      ++wait.pending;
    }
  }
  if (wait.pending == 0) return 0;
  for (size_t i = 0; i < parts_.size(); ++i) parts_[i].sequencer->SubmitBundle(std::move(bundles[i]));
  std::unique_lock<std::mutex> lock(wait.mu);
  wait.cv.wait(lock, [&wait] { return wait.pending == 0; });
  if (!wait.error.ok()) return wait.error;
  return wait.moved;
}

absl::StatusOr<v1::Workload> Engine::Workload(const std::string& person) const {
  const int64_t now_us = clock_->NowMicros();
  v1::Workload out;
  out.set_person_id(person);
  std::vector<std::string> ids;
  for (const auto& p : parts_) {
    std::vector<std::string> held;
    if (auto st = p.store->CasesHeldBy(person, &held); !st.ok()) return st;
    for (const std::string& id : held) {
      auto state = p.store->ReadCase(id);
      if (!state.ok()) return state.status();
      if (!state->has_value()) continue;
      out.set_cases(out.cases() + ((*state)->assignee() == person));
      for (const auto& t : (*state)->open_tasks()) {
        if (t.assignee() != person) continue;
        out.set_open_tasks(out.open_tasks() + 1);
        const int64_t due = t.due_at().seconds() * 1000000 + t.due_at().nanos() / 1000;
        out.set_overdue_tasks(out.overdue_tasks() + (t.has_due_at() && due <= now_us));
      }
      ids.push_back(id);
    }
  }
  std::sort(ids.begin(), ids.end());
  for (auto& id : ids) out.add_case_ids(std::move(id));
  return out;
}

absl::StatusOr<v1::StaffingReport> Engine::StaffingReport(const std::string& area) const {
  const int64_t now_us = clock_->NowMicros();
  v1::StaffingReport out;
  std::vector<std::string> grids;
  if (!area.empty()) {
    grids = directory_.GridsUnder(area);
    if (grids.empty()) {
      return absl::NotFoundError(absl::StrCat("area: no unit ", area, " with grids in the directory"));
    }
  }
  auto in_area = [&](const std::string& grid) {
    return area.empty() || std::binary_search(grids.begin(), grids.end(), grid);
  };
  for (const std::string& grid : area.empty() ? directory_.AllGrids() : grids) {
    if (!directory_.HasAvailable(grid, v1::ROLE_GRID_WORKER, now_us)) {
      out.add_grids_without_available_worker(grid);
    }
  }
  for (const Person& person : directory_.UnavailablePeople(now_us)) {
    for (const auto& p : parts_) {
      std::vector<std::string> held;
      if (auto st = p.store->CasesHeldBy(person.id, &held); !st.ok()) return st;
      for (const std::string& id : held) {
        auto state = p.store->ReadCase(id);
        if (!state.ok()) return state.status();
        if (!state->has_value() || !in_area((*state)->grid_id())) continue;
        auto* stranded = out.add_stranded();
        stranded->set_case_id(id);
        stranded->set_holder(person.id);
        stranded->set_grid_id((*state)->grid_id());
      }
    }
  }
  return out;
}

absl::StatusOr<size_t> Engine::HandOnFromNewlyUnavailable() {
  std::lock_guard<std::mutex> lock(handoff_mu_);
  const int64_t now_us = clock_->NowMicros();
  std::vector<std::string> people;
  if (handoff_checked_us_ == 0) {
    // The first round after start sweeps everyone unavailable: the moves of
    // an import that were cut short by a crash (a partition's bundle is
    // atomic, the set of partitions is not) are completed here.
    for (const Person& p : directory_.UnavailablePeople(now_us)) people.push_back(p.id);
  } else {
    people = directory_.BecomingUnavailable(handoff_checked_us_, now_us);
  }
  size_t moved = 0;
  for (const std::string& person : people) {
    auto n = ReassignHolder(person, "unavailable from now");
    if (!n.ok()) return n.status();
    moved += *n;
  }
  handoff_checked_us_ = now_us;
  return moved;
}

absl::StatusOr<size_t> Engine::FireDueDeadlines(size_t limit) {
  const int64_t now_us = clock_->NowMicros();
  std::vector<keys::TimerKey> due;
  for (const auto& p : parts_) {
    if (auto st = p.store->ReadDueTimers(now_us, limit, &due); !st.ok()) return st;
  }
  std::stable_sort(due.begin(), due.end(),
                   [](const auto& a, const auto& b) { return a.due_us < b.due_us; });
  if (due.size() > limit) due.resize(limit);

  struct Wait {
    std::mutex mu;
    std::condition_variable cv;
    size_t pending = 0;
    size_t fired = 0;
    absl::Status error;
  } wait;
  wait.pending = due.size();
  for (const auto& t : due) {
    v1::SubmitRequest request;
    v1::Event* e = request.mutable_event();
    e->set_event_id(absl::StrCat(std::string(1, kReservedCasePrefix), "deadline~", t.case_id,
                                 "~", t.deadline, "~", t.due_us));
    e->set_case_id(t.case_id);
    e->mutable_occurred_at()->set_seconds(t.due_us / 1000000);
    e->mutable_occurred_at()->set_nanos(static_cast<int32_t>(t.due_us % 1000000) * 1000);
    e->mutable_actor()->set_id("gridcase");
    e->mutable_actor()->set_kind(v1::ACTOR_KIND_SYSTEM);
    e->set_channel(v1::CHANNEL_SYSTEM);
    e->mutable_deadline_expired()->set_deadline(t.deadline);
    *e->mutable_deadline_expired()->mutable_due_at() = e->occurred_at();
    parts_[PartitionOf(t.case_id).value()].sequencer->Submit(
        std::move(request), [&wait](absl::StatusOr<v1::SubmitResponse> r) {
          std::lock_guard<std::mutex> lock(wait.mu);
          if (r.ok()) {
            wait.fired += !r->duplicate();
          } else if (r.status().code() != absl::StatusCode::kFailedPrecondition &&
                     r.status().code() != absl::StatusCode::kResourceExhausted) {
            // FAILED_PRECONDITION: cancelled or moved since it was read.
            // RESOURCE_EXHAUSTED: the partition is busy; the row stays and
            // the next round fires it. Anything else is an error to report.
            wait.error = r.status();
          }
          if (--wait.pending == 0) wait.cv.notify_all();
        });
  }
  std::unique_lock<std::mutex> lock(wait.mu);
  wait.cv.wait(lock, [&wait] { return wait.pending == 0; });
  if (!wait.error.ok()) return wait.error;
  return wait.fired;
}

absl::StatusOr<std::optional<int64_t>> Engine::NextDeadlineDueUs() const {
  std::optional<int64_t> first;
  for (const auto& p : parts_) {
    auto t = p.store->ReadFirstTimer();
    if (!t.ok()) return t.status();
    if (t->has_value() && (!first || (*t)->due_us < *first)) first = (*t)->due_us;
  }
  return first;
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
  std::vector<v1::Record> records;
  bool more = false;
  if (auto st = store.ReadTimeline(case_id, CaseVersion(after),
                                   PageSize(request.page_size()), &records, &more);
      !st.ok()) {
    return st;
  }
  v1::GetTimelineResponse out;
  for (auto& r : records) *out.add_records() = std::move(r);
  if (more && out.records_size() > 0) {
    out.set_next_page_token(absl::StrCat(
        kTimelineTokenPrefix, out.records(out.records_size() - 1).case_version()));
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
      for (const std::string& grid : grids) {
        CaseFilter in_grid = filter;
        in_grid.grid_id = grid;
        bool grid_more = false;
        st = p.store->ListCases(in_grid, after, limit, &part, &grid_more);
        if (!st.ok()) break;
        part_more = part_more || grid_more;
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
