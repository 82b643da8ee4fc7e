#include "tests/support/simulation.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/audit/rebuild.h"
#include "engine/common/clock.h"
#include "engine/common/time.h"
#include "engine/domain/directory.h"
#include "engine/domain/stamper.h"
#include "engine/domain/validate.h"
#include "engine/engine.h"
#include "engine/partition/partition_set.h"
#include "engine/staffing/successor.h"
#include "engine/storage/data_dir.h"
#include "engine/storage/durable_mark.h"
#include "engine/storage/keys.h"
#include "engine/workflow/definition.h"
#include "engine/workflow/files.h"
#include "engine/workflow/logic.h"
#include "engine/workflow/registry.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "rocksdb/system_clock.h"
#include "services/kafka/ingest.h"
#include "tests/support/events.h"
#include "tests/support/fault_fs.h"
#include "tests/support/power_cut_fs.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase::testing {
namespace {

namespace fs = std::filesystem;
using google::protobuf::util::MessageDifferencer;

constexpr uint32_t kPartitions = 2;
constexpr int64_t kMillisecondUs = 1000;
constexpr int64_t kSecondUs = 1000 * kMillisecondUs;
constexpr int64_t kMinuteUs = 60 * kSecondUs;
constexpr int64_t kHourUs = 60 * kMinuteUs;
constexpr int64_t kDayUs = 24 * kHourUs;
constexpr int64_t kStartUs = kFeb22EveningUs;
constexpr int64_t kJumpLimitUs = kMinuteUs;
constexpr char kTopic[] = "sim-in";
constexpr int kSources = 2;
constexpr char kWatch[] = "sim-watch";
constexpr size_t kTraceSteps = 30;

// The simulation's own workflow: a resident watched until reached, with a
// deadline renewed by its own expiry and a ladder that climbs by itself.
// Versions differ in their hours.
std::string WatchWorkflow(uint32_t version, int ping_hours) {
  return absl::StrFormat(
      R"pb(
        name: "sim-watch"
        version: %d
        description: "A resident watched until reached"
        opens_on { event: "note" }
        initial_stage: "watch"
        escalation_ladder: [ "grid_worker", "cadre", "community_secretary" ]
        ladder_rungs { role: "grid_worker" after: "%dh" remind_before: "1h" }
        stages {
          name: "watch"
          on_enter { set_deadline { name: "ping" after: "%dh" } }
          on_exit { cancel_deadline: "ping" }
          rules {
            name: "pinged"
            on: "deadline:ping"
            then { set_deadline { name: "ping" after: "%dh" } }
          }
          rules {
            name: "noted"
            on: "note"
            then { set_deadline { name: "ping" after: "%dh" counts_from: COUNT_FROM_HAPPENED } }
          }
          rules {
            name: "missed"
            on: "contact_attempt"
            when: "contact_attempt.outcome != REACHED"
            then { open_task { name: "visit" role: "grid_worker" due: "2h" title: "Visit" } }
          }
          rules {
            name: "reached"
            on: "contact_attempt"
            when: "contact_attempt.outcome == REACHED"
            then { close_task: "visit" }
            then { move_to: "done" }
          }
        }
        stages {
          name: "done"
          terminal: true
          rules {
            name: "again"
            on: "note"
            then { move_to: "watch" }
          }
        }
      )pb",
      version, ping_hours + 3, ping_hours, ping_hours, ping_hours);
}

EngineOptions OptionsFor(const std::string& data_dir, rocksdb::Env* env) {
  EngineOptions options;
  options.data_dir = data_dir;
  options.partitions = kPartitions;
  options.env = env;
  options.clock_jump_limit_us = kJumpLimitUs;
  options.id_check_threads = 1;
  return options;
}

v1::Actor Admin() {
  v1::Actor a;
  a.set_id("admin-sim");
  a.set_kind(v1::ACTOR_KIND_PERSON);
  return a;
}

std::string Diff(const google::protobuf::Message& want, const google::protobuf::Message& got) {
  std::string out;
  MessageDifferencer d;
  d.ReportDifferencesToString(&out);
  d.Compare(want, got);
  if (out.size() > 600) out = out.substr(0, 600) + "...";
  return out;
}

std::string Describe(const v1::Event& e) {
  std::string type = "none";
  if (e.payload_case() != v1::Event::PAYLOAD_NOT_SET) {
    type = std::string(e.GetDescriptor()->FindFieldByNumber(e.payload_case())->name());
  }
  return absl::StrCat(e.event_id(), " ", type, " of ", e.case_id());
}

// The clock guard of the engine, as the model sees it (clock_guard.cc):
// its anchor, the anchor file, and whether a forward jump stands.
struct GuardModel {
  int64_t anchor_wall = 0;
  int64_t anchor_mono = 0;
  int64_t persisted_mono = 0;  // of this guard's last write of the file
  bool file = false;
  int64_t file_wall = 0;
  int64_t file_mono = 0;
  int64_t jumped = 0;
  uint64_t steps_back = 0;

  void Judge(int64_t wall, int64_t mono) {
    const int64_t skew = wall - (anchor_wall + (mono - anchor_mono));
    if (skew > kJumpLimitUs) {
      jumped = skew;
      return;
    }
    if (skew < -kJumpLimitUs) ++steps_back;
    jumped = 0;
    anchor_wall = wall;
    anchor_mono = mono;
  }
  void Persist(bool force) {
    if (jumped != 0) return;
    if (!force && anchor_mono - persisted_mono < kSecondUs) return;
    file = true;
    file_wall = anchor_wall;
    file_mono = anchor_mono;
    persisted_mono = anchor_mono;
  }
  // Now(): a reading.
  void Reading(int64_t wall, int64_t mono) {
    Judge(wall, mono);
    if (jumped == 0) Persist(false);
  }
  int64_t Accept(int64_t wall, int64_t mono) {
    const int64_t accepted = jumped;
    jumped = 0;
    anchor_wall = wall;
    anchor_mono = mono;
    Persist(true);
    return accepted;
  }
  // A new guard, opened on the anchor file.
  void Open(int64_t wall, int64_t mono) {
    persisted_mono = 0;
    jumped = 0;
    steps_back = 0;
    anchor_wall = wall;
    anchor_mono = mono;
    if (file) {
      anchor_wall = file_wall;
      anchor_mono = file_mono;
      Judge(wall, mono);
    }
    Persist(true);
  }
};

// A case as the model folds it.
struct ModelCase {
  PartitionId partition;
  std::optional<v1::CaseState> state;
  std::vector<v1::Record> records;
  uint64_t version() const { return state ? state->version() : 0; }
};

// An acknowledged client submission.
struct Sent {
  v1::Event event;
  v1::SubmitResponse response;
};

// What the model says a submission gets.
struct Expected {
  enum Kind { kAccept, kDuplicate, kRefuse } kind = kAccept;
  absl::StatusCode code = absl::StatusCode::kOk;
  v1::SubmitResponse original;
  bool version_conflict = false;  // refused for the expected version
  uint64_t current_version = 0;   // ... when the case was at this one
  bool validation = false;        // refused by validation
};

struct Answer {
  absl::StatusOr<v1::SubmitResponse> result;
  bool after_cut = false;
};

// One message of the ingest topic.
struct Message {
  int source = 0;
  int64_t offset = 0;
  std::string bytes;
};

// What the engine will write by itself in an operation (deadline expiries,
// hand-overs), case by case, in order.
struct Plan {
  std::map<std::string, std::vector<v1::SubmitRequest>> by_case;
  size_t fired = 0;
  size_t moved = 0;
  size_t move_requests = 0;  // submitted, whether or not taken
};

// An operation cut short: the engine may or may not have made it durable.
struct Uncertain {
  enum Kind { kNone, kSubmit, kIngest, kDeploy } kind = kNone;
  v1::SubmitRequest request;
  Expected expected;
  Message message;
  PartitionId route;
  uint32_t version = 0;
  std::string source;
};

// Cuts the power at the n-th append or sync of a write-ahead log (a
// partition's, or the access log's): the one operation of a single
// submission's group whose moment does not depend on what RocksDB does in
// the background (flushes and compactions never append to a log).
class WalCutFs final : public rocksdb::FileSystemWrapper {
 public:
  explicit WalCutFs(std::shared_ptr<PowerCutFs> power)
      : FileSystemWrapper(power), power_(std::move(power)) {}
  const char* Name() const override { return "WalCutFs"; }

  // 0: never.
  void CutAtWalOperation(uint64_t n) {
    seen_ = 0;
    at_ = n;
  }
  void Count() {
    const uint64_t at = at_;
    if (at != 0 && ++seen_ == at) power_->Cut();
  }

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    auto s = FileSystemWrapper::NewWritableFile(fname, opts, result, dbg);
    Wrap(fname, result);
    return s;
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override {
    auto s = FileSystemWrapper::ReopenWritableFile(fname, opts, result, dbg);
    Wrap(fname, result);
    return s;
  }
  rocksdb::IOStatus ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                      const rocksdb::FileOptions& opts,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override {
    auto s = FileSystemWrapper::ReuseWritableFile(fname, old_fname, opts, result, dbg);
    Wrap(fname, result);
    return s;
  }

 private:
  class File final : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile> file, WalCutFs* fs)
        : FSWritableFileOwnerWrapper(std::move(file)), fs_(fs) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* dbg) override {
      fs_->Count();
      return FSWritableFileOwnerWrapper::Append(data, o, dbg);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             const rocksdb::DataVerificationInfo& info,
                             rocksdb::IODebugContext* dbg) override {
      fs_->Count();
      return FSWritableFileOwnerWrapper::Append(data, o, info, dbg);
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      fs_->Count();
      return FSWritableFileOwnerWrapper::Sync(o, dbg);
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      fs_->Count();
      return FSWritableFileOwnerWrapper::Fsync(o, dbg);
    }

   private:
    WalCutFs* const fs_;
  };
  void Wrap(const std::string& fname, std::unique_ptr<rocksdb::FSWritableFile>* result) {
    if (*result != nullptr && absl::EndsWith(fname, ".log")) {
      *result = std::make_unique<File>(std::move(*result), this);
    }
  }

  const std::shared_ptr<PowerCutFs> power_;
  std::atomic<uint64_t> at_{0};
  std::atomic<uint64_t> seen_{0};
};

// The fault file system over another one (the power-cut one), not over
// the disk itself.
class StackedFaultFs final : public FaultFs {
 public:
  explicit StackedFaultFs(std::shared_ptr<rocksdb::FileSystem> base) { target_ = std::move(base); }
};

// RocksDB pauses a second on its system clock after a failed background
// flush (a flush into a disk fault, or a ghost's flush after a power cut)
// before its next attempt: here a millisecond, so that a run spends its
// time on what it checks. Nothing of the engine's reads this clock.
class ShortPauseClock final : public rocksdb::SystemClockWrapper {
 public:
  explicit ShortPauseClock(const std::shared_ptr<rocksdb::SystemClock>& base)
      : SystemClockWrapper(base) {}
  const char* Name() const override { return "ShortPauseClock"; }
  void SleepForMicroseconds(int micros) override {
    SystemClockWrapper::SleepForMicroseconds(std::min(micros, 1000));
  }
};

class SimulationEnv final : public rocksdb::EnvWrapper {
 public:
  explicit SimulationEnv(std::unique_ptr<rocksdb::Env> base) : EnvWrapper(std::move(base)) {
    system_clock_ = std::make_shared<ShortPauseClock>(system_clock_);
  }
  const char* Name() const override { return "SimulationEnv"; }
};

class Simulation {
 public:
  explicit Simulation(const SimulationOptions& options)
      : options_(options),
        rng_(options.seed * 0x9e3779b97f4a7c15ULL + 1),
        clock_(kStartUs),
        logic_(registry_, directory_) {}

  SimulationResult Run();

 private:
  // --- randomness
  uint64_t Below(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  int64_t Between(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(Below(static_cast<uint64_t>(hi - lo + 1)));
  }
  bool Chance(int percent) { return Below(100) < static_cast<uint64_t>(percent); }
  template <typename T>
  const T& OneOf(const std::vector<T>& v) {
    return v[Below(v.size())];
  }

  // --- failure and trace
  bool Fail(const std::string& what);
  bool failed() const { return !failure_.empty(); }
  void Trace(const std::string& line);

  // --- the engine
  std::string Data() const { return options_.work_dir + "/data"; }
  bool Open();
  bool Reopen(bool cut);
  PartitionId PartitionOf(const std::string& case_id) const {
    return PartitionId(static_cast<uint32_t>(Fnv1a64(case_id) % kPartitions));
  }
  int64_t Wall() const { return clock_.NowMicros(); }
  Answer SubmitAndWait(v1::SubmitRequest request);
  Answer IngestAndWait(absl::StatusOr<v1::SubmitRequest> request, StreamOrigin origin);
  absl::StatusOr<std::vector<v1::Record>> Timeline(const std::string& case_id);

  // --- the model
  ModelCase& Case(const std::string& id);
  absl::Status Fold(ModelCase* c, const v1::SubmitRequest& request, uint64_t position,
                    const google::protobuf::Timestamp& recorded_at, std::vector<v1::Record>* out);
  Expected Predict(const v1::SubmitRequest& request, bool validate);
  bool Accepted(const v1::SubmitRequest& request, const v1::SubmitResponse& response);
  // Takes the engine's next record of `case_id`, which must be `request`'s
  // event, into the model. `*taken` says whether it was there; `must`
  // makes its absence a failure.
  bool Take(const std::string& case_id, const v1::SubmitRequest& request, bool must, bool* taken);
  // Takes every record the plan says the engine wrote (each must be there).
  bool ApplyPlan(const Plan& plan);
  // What a round (FireDueDeadlines, then a hand-on) or an import's
  // hand-overs will write, folded on a copy of the model's states.
  using States = std::map<std::string, ModelCase>;
  States Snapshot() const;
  void PlanFire(States* states, int64_t now, std::set<std::string>* ids, Plan* plan);
  void PlanMoves(States* states, const Directory& directory, const std::string& person,
                 const std::string& reason, int64_t now, std::set<std::string>* ids, Plan* plan);
  void PlanOne(States* states, v1::SubmitRequest request, std::set<std::string>* ids, Plan* plan,
               bool expiry);
  bool ReadDirectoryRecords(const std::string& import_id, size_t entries);

  // --- checks
  bool CheckCase(const std::string& id);
  bool CheckGuard(const std::vector<absl::Status>& refusals);
  // A listing of cases (ListCases, a seeded filter, pages of a seeded
  // size) against the model's states.
  bool CheckListing();
  bool VerifyAll();
  bool VerifyLog(bool count);
  bool VerifyStreams();
  // Rebuilds the derived state of the data directory (the engine closed)
  // from its log, and compares.
  bool Rebuild();

  // --- steps
  bool Step();
  bool StepSubmit(bool cutting);
  bool DoSubmit(v1::SubmitRequest request, bool cutting, const std::string& what);
  bool StepIngest(bool cutting);
  bool StepClock(int kind);
  bool StepFixJump();
  bool StepRound();
  bool StepDeploy(bool cutting);
  bool StepImport();
  // A flush or a compaction of `partition` (-1: either).
  bool StepFlush(bool cutting, int partition = -1);
  bool StepCut();
  bool StepFault();
  bool Reading();
  bool ResolveUncertain();
  // A non-decided error while a fault is armed: the operation is
  // uncertain, and the partition needs a restart.
  bool AfterFault(Uncertain u);

  // --- generators
  v1::SubmitRequest GenerateSubmission(std::string* what);
  v1::Event GenerateEvent(const std::string& event_id, const std::string& case_id, bool opener);
  v1::Actor GenerateActor();
  std::string GridOf(const std::string& case_id) const;
  Message GenerateMessage(int source);

  const SimulationOptions options_;
  std::mt19937_64 rng_;
  FakeClock clock_;
  std::shared_ptr<PowerCutFs> power_;
  std::shared_ptr<WalCutFs> wal_cut_;
  std::shared_ptr<StackedFaultFs> faults_;
  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<Engine> engine_;
  bool fault_armed_ = false;

  // The model.
  workflow::Registry registry_;
  Directory directory_;
  workflow::WorkflowLogic logic_;
  std::map<std::string, ModelCase> cases_;
  std::map<std::string, Sent> ids_;                // client event ids acknowledged
  std::set<std::string> engine_ids_;               // expiries and hand-overs recorded
  std::vector<v1::SubmitRequest> sent_;            // every client submission made
  std::map<uint32_t, std::string> watch_sources_;  // sim-watch version -> source
  std::map<uint32_t, uint64_t> watch_positions_;   // ... -> its record's position
  size_t directory_records_ = 0;
  std::map<std::string, std::pair<int64_t, size_t>> imports_;  // id -> moment, entries
  std::vector<std::pair<std::string, std::vector<v1::DirectoryEntry>>> sent_imports_;
  std::vector<std::string> people_;  // ids that may act and hold cases
  int new_people_ = 0;
  GuardModel guard_;
  int64_t max_wall_ = kStartUs;
  std::map<uint32_t, int64_t> last_recorded_;  // by partition
  std::map<uint32_t, uint64_t> last_position_;
  bool handon_first_ = true;
  int64_t handon_checked_ = 0;
  // The ingest: the topic, the consumer's place, what the store decided.
  std::vector<Message> topic_[kSources];
  size_t next_[kSources] = {0, 0};
  std::map<uint32_t, std::map<std::string, int64_t>> offsets_;     // model: partition -> source
  std::map<uint32_t, std::map<std::string, int64_t>> decided_in_;  // the consumer's
  std::map<std::tuple<uint32_t, std::string, int64_t>, std::pair<int32_t, std::string>>
      dead_letters_;  // (partition, source, offset) -> code, original
  Uncertain uncertain_;
  bool forgot_ = false;  // kModelForgetsAnAck done

  int step_ = 0;
  std::string op_;
  std::deque<std::string> trace_;
  std::string failure_;
  SimulationStats stats_;
};

bool Simulation::Fail(const std::string& what) {
  if (!failure_.empty()) return false;
  failure_ = absl::StrCat("seed ", options_.seed, ", step ", step_, " (", op_, "): ", what,
                          "\nthe steps before it:\n");
  for (const std::string& line : trace_) absl::StrAppend(&failure_, "  ", line, "\n");
  absl::StrAppend(&failure_, "replay this seed alone: GRIDCASE_SIM_SEED=", options_.seed,
                  " build/tests/simulation_test --gtest_filter='SimulationTest.SeedsPass'");
  return false;
}

void Simulation::Trace(const std::string& line) {
  trace_.push_back(absl::StrCat(step_, ": ", line));
  if (trace_.size() > kTraceSteps) trace_.pop_front();
}

ModelCase& Simulation::Case(const std::string& id) {
  auto it = cases_.find(id);
  if (it == cases_.end()) {
    it = cases_.emplace(id, ModelCase{}).first;
    it->second.partition = PartitionOf(id);
  }
  return it->second;
}

std::string Simulation::GridOf(const std::string& case_id) const {
  return Fnv1a64(case_id) % 2 == 0 ? "jiangan-07-03" : "jiangan-07-04";
}

// --- the engine ------------------------------------------------------------

bool Simulation::Open() {
  auto engine = Engine::Open(OptionsFor(Data(), env_.get()), &clock_);
  if (!engine.ok())
    return Fail(absl::StrCat("the engine refused to open: ", engine.status().ToString()));
  engine_ = std::move(*engine);
  engine_->partitions().WaitForScanAtOpen();
  guard_.Open(Wall(), clock_.MonotonicMicros());
  handon_first_ = true;
  handon_checked_ = 0;
  decided_in_.clear();
  for (uint32_t p = 0; p < kPartitions; ++p) {
    std::map<std::string, int64_t> offsets;
    if (auto st = engine_->streams().StreamOffsets(PartitionId(p), kTopic, &offsets); !st.ok()) {
      return Fail(absl::StrCat("reading the stream offsets: ", st.ToString()));
    }
    decided_in_[p] = offsets;
    auto last = engine_->partitions().store(PartitionId(p)).ReadLastRecord();
    if (!last.ok())
      return Fail(absl::StrCat("reading the last record: ", last.status().ToString()));
    last_recorded_[p] = last->has_value() ? Micros((*last)->record.recorded_at()) : 0;
    last_position_[p] = last->has_value() ? (*last)->record.position() : 0;
  }
  return CheckGuard(engine_->WriteRefusals());
}

bool Simulation::Reopen(bool cut) {
  ++stats_.restarts;
  engine_.reset();
  if (cut) {
    power_->SetWriteBackSeed(rng_());
    power_->Restore();
    // What the disk holds after the cut, before anything writes to it: its
    // derived state must be the fold of its log.
    if (options_.rebuild_after_cuts && !Rebuild()) return false;
  }
  if (fault_armed_) {
    stats_.faults_injected += faults_->injected() > 0;
    faults_->Disarm();
    fault_armed_ = false;
  }
  // Meanwhile, while nothing runs: time passes (deadlines fall due while
  // the server is down), or the wall clock is stepped back or jumps.
  const uint64_t pick = Below(100);
  if (pick < 30) {
    clock_.AdvanceMicros(Between(kMinuteUs, 2 * kDayUs));
  } else if (pick < 36) {
    clock_.StepWallMicros(-Between(kSecondUs, 10 * kMinuteUs));
    ++stats_.steps_back;
  } else if (pick < 42) {
    clock_.StepWallMicros(Between(2 * kMinuteUs, kDayUs));
    ++stats_.jumps;
  }
  if (!Open()) return false;
  if (!ResolveUncertain()) return false;
  return VerifyAll();
}

Answer Simulation::SubmitAndWait(v1::SubmitRequest request) {
  std::promise<Answer> done;
  auto answer = done.get_future();
  engine_->Submit(std::move(request), [this, &done](absl::StatusOr<v1::SubmitResponse> r) {
    done.set_value(Answer{std::move(r), power_->is_cut()});
  });
  return answer.get();
}

Answer Simulation::IngestAndWait(absl::StatusOr<v1::SubmitRequest> request, StreamOrigin origin) {
  std::promise<Answer> done;
  auto answer = done.get_future();
  engine_->streams().SubmitFromStream(std::move(request), std::move(origin),
                                      [this, &done](absl::StatusOr<v1::SubmitResponse> r) {
                                        done.set_value(Answer{std::move(r), power_->is_cut()});
                                      });
  return answer.get();
}

absl::StatusOr<std::vector<v1::Record>> Simulation::Timeline(const std::string& case_id) {
  std::vector<v1::Record> out;
  v1::GetTimelineRequest req;
  req.set_case_id(case_id);
  req.set_page_size(kPageSizeMax);
  for (;;) {
    auto page = engine_->GetTimeline(req);
    if (absl::IsNotFound(page.status()) && out.empty()) return out;
    if (!page.ok()) return page.status();
    for (const v1::Record& r : page->records()) out.push_back(r);
    if (page->next_page_token().empty()) return out;
    req.set_page_token(page->next_page_token());
  }
}

// --- the model -------------------------------------------------------------

absl::Status Simulation::Fold(ModelCase* c, const v1::SubmitRequest& request, uint64_t position,
                              const google::protobuf::Timestamp& recorded_at,
                              std::vector<v1::Record>* out) {
  v1::Record record;
  *record.mutable_event() = request.event();
  record.set_submitted_by(request.submitted_by());
  RecordStamper stamper(c->partition.value(), Position(position), c->version(), recorded_at);
  stamper.StampSubmitted(&record);
  if (!c->state && !request.workflow().empty()) {
    record.mutable_workflow()->set_name(request.workflow());
  }
  return logic_.Process(std::move(record), &stamper, &c->state, out);
}

// The engine's order of checks: validation, the event id in another
// partition (the router), the clock guard (the sequencer's gate), the
// event id in the case's partition, the expected version, the case logic.
Expected Simulation::Predict(const v1::SubmitRequest& request, bool validate) {
  Expected out;
  const v1::Event& e = request.event();
  auto refuse = [&out](absl::StatusCode code) {
    out.kind = Expected::kRefuse;
    out.code = code;
    return out;
  };
  if (validate) {
    if (auto st = ValidateEvent(e, ValidationLimits{}, Wall()); !st.ok()) {
      out.validation = true;
      return refuse(st.code());
    }
  }
  auto known = ids_.find(e.event_id());
  if (known != ids_.end() &&
      PartitionOf(known->second.event.case_id()) != PartitionOf(e.case_id())) {
    return refuse(absl::StatusCode::kAlreadyExists);
  }
  if (guard_.jumped != 0) return refuse(absl::StatusCode::kUnavailable);
  if (known != ids_.end()) {
    if (!MessageDifferencer::Equals(known->second.event, e)) {
      return refuse(absl::StatusCode::kAlreadyExists);
    }
    out.kind = Expected::kDuplicate;
    out.original = known->second.response;
    return out;
  }
  const ModelCase& c = Case(e.case_id());
  if (request.has_expected_version() && request.expected_version() != c.version()) {
    out.version_conflict = true;
    out.current_version = c.version();
    return refuse(absl::StatusCode::kFailedPrecondition);
  }
  ModelCase copy{c.partition, c.state, {}};
  std::vector<v1::Record> records;
  const uint32_t p = c.partition.value();
  const int64_t recorded = std::max(last_recorded_[p], Wall());
  if (auto st = Fold(&copy, request, last_position_[p] + 1, FromMicros(recorded), &records);
      !st.ok()) {
    return refuse(st.code());
  }
  return out;
}

bool Simulation::Accepted(const v1::SubmitRequest& request, const v1::SubmitResponse& r) {
  const v1::Event& e = request.event();
  ModelCase& c = Case(e.case_id());
  const uint32_t p = c.partition.value();
  const int64_t recorded = Micros(r.recorded_at());
  if (r.case_id() != e.case_id() || r.event_id() != e.event_id() || r.partition() != p ||
      r.case_version() != c.version() + 1 || r.position() <= last_position_[p]) {
    return Fail(absl::StrCat("accepted ", Describe(e), " at partition ", r.partition(),
                             " position ", r.position(), " version ", r.case_version(),
                             "; the model expected partition ", p, ", version ", c.version() + 1,
                             ", a position after ", last_position_[p]));
  }
  // Recorded time: never before the clock's reading, never ahead of any
  // reading the engine took, never back within the partition.
  if (recorded < Wall() || recorded > max_wall_ || recorded < last_recorded_[p]) {
    return Fail(absl::StrCat("accepted ", Describe(e), " recorded at ", recorded,
                             ": the clock read ", Wall(), ", at most ", max_wall_,
                             ", and the partition's last record was recorded at ",
                             last_recorded_[p]));
  }
  if (options_.sabotage == Sabotage::kModelForgetsAnAck && !forgot_) {
    forgot_ = true;  // the mistake under test: this acknowledgement is not folded
    return true;
  }
  std::vector<v1::Record> out;
  if (auto st = Fold(&c, request, r.position(), r.recorded_at(), &out); !st.ok()) {
    return Fail(absl::StrCat("the engine accepted ", Describe(e),
                             "; the model refuses it: ", st.ToString()));
  }
  last_position_[p] = out.back().position();
  last_recorded_[p] = recorded;
  for (v1::Record& rec : out) c.records.push_back(std::move(rec));
  ids_[e.event_id()] = Sent{e, r};
  ++stats_.accepted;
  return true;
}

bool Simulation::Take(const std::string& case_id, const v1::SubmitRequest& request, bool must,
                      bool* taken) {
  *taken = false;
  ModelCase& c = Case(case_id);
  auto timeline = Timeline(case_id);
  if (!timeline.ok())
    return Fail(absl::StrCat("reading ", case_id, ": ", timeline.status().ToString()));
  const size_t have = c.records.size();
  if (timeline->size() <= have) {
    if (must) {
      return Fail(absl::StrCat("the engine never recorded ", Describe(request.event()),
                               " (the case stands at version ", timeline->size(), ")"));
    }
    return true;
  }
  const v1::Record& first = (*timeline)[have];
  if (first.caused_by() != 0 || !MessageDifferencer::Equals(first.event(), request.event())) {
    if (must) {
      return Fail(absl::StrCat("at version ", have + 1, " of ", case_id, " the model expected ",
                               Describe(request.event()), ", the engine has ",
                               Describe(first.event()), ": ",
                               Diff(request.event(), first.event())));
    }
    return true;
  }
  std::vector<v1::Record> out;
  if (auto st = Fold(&c, request, first.position(), first.recorded_at(), &out); !st.ok()) {
    return Fail(absl::StrCat("the engine recorded ", Describe(request.event()),
                             "; the model refuses it: ", st.ToString()));
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (have + i >= timeline->size()) {
      return Fail(absl::StrCat(case_id, ": the engine recorded ", Describe(request.event()),
                               " without all it leads to: version ", out[i].case_version(),
                               " is missing"));
    }
    if (!MessageDifferencer::Equals(out[i], (*timeline)[have + i])) {
      return Fail(absl::StrCat(
          case_id, " version ", out[i].case_version(),
          ": the engine's record differs from the model's: ", Diff(out[i], (*timeline)[have + i])));
    }
  }
  const uint32_t p = c.partition.value();
  last_position_[p] = std::max(last_position_[p], out.back().position());
  last_recorded_[p] = std::max(last_recorded_[p], Micros(out.back().recorded_at()));
  for (v1::Record& r : out) c.records.push_back(std::move(r));
  const v1::Event& e = request.event();
  if (e.has_deadline_expired()) {
    ++stats_.fired;
    if (Micros(first.recorded_at()) < Micros(e.deadline_expired().due_at())) {
      return Fail(
          absl::StrCat(Describe(e), " fired early: recorded at ", Micros(first.recorded_at())));
    }
  }
  if (e.has_holder_replaced()) ++stats_.handovers;
  if (e.actor().kind() == v1::ACTOR_KIND_SYSTEM) {
    engine_ids_.insert(e.event_id());
  } else {
    v1::SubmitResponse r;
    r.set_event_id(e.event_id());
    r.set_case_id(e.case_id());
    r.set_partition(first.partition());
    r.set_position(first.position());
    r.set_case_version(first.case_version());
    *r.mutable_recorded_at() = first.recorded_at();
    ids_[e.event_id()] = Sent{e, r};
  }
  *taken = true;
  return true;
}

bool Simulation::ApplyPlan(const Plan& plan) {
  for (const auto& [case_id, requests] : plan.by_case) {
    for (const v1::SubmitRequest& request : requests) {
      bool taken = false;
      if (!Take(case_id, request, /*must=*/true, &taken)) return false;
    }
  }
  return true;
}

Simulation::States Simulation::Snapshot() const {
  States out;
  for (const auto& [id, c] : cases_) out.emplace(id, ModelCase{c.partition, c.state, {}});
  return out;
}

void Simulation::PlanOne(States* states, v1::SubmitRequest request, std::set<std::string>* ids,
                         Plan* plan, bool expiry) {
  const std::string& id = request.event().event_id();
  if (ids->count(id) != 0) return;  // a duplicate: nothing written
  ModelCase& c = (*states)[request.event().case_id()];
  std::vector<v1::Record> out;
  const uint32_t p = c.partition.value();
  const int64_t recorded = std::max(last_recorded_[p], Wall());
  if (!Fold(&c, request, last_position_[p] + 1, FromMicros(recorded), &out).ok()) return;
  ids->insert(id);
  (expiry ? plan->fired : plan->moved) += 1;
  plan->by_case[request.event().case_id()].push_back(std::move(request));
}

// DeadlineTimers::FireDueDeadlines: the timer rows due by `now`, read per
// partition in key order (due, case, name), then stably sorted by due.
void Simulation::PlanFire(States* states, int64_t now, std::set<std::string>* ids, Plan* plan) {
  // The mistake under test: the model believes deadlines fall due a day later.
  const int64_t late = options_.sabotage == Sabotage::kModelDeadlinesLate ? kDayUs : 0;
  std::vector<std::tuple<int64_t, uint32_t, std::string, std::string>> due;
  for (const auto& [id, c] : *states) {
    if (!c.state) continue;
    for (const auto& d : c.state->deadlines()) {
      if (Micros(d.due_at()) + late <= now) {
        due.emplace_back(Micros(d.due_at()), c.partition.value(), id, d.name());
      }
    }
  }
  std::sort(due.begin(), due.end());
  for (const auto& [due_us, partition, case_id, name] : due) {
    // Fired only while still pending with that due time.
    const ModelCase& c = (*states)[case_id];
    const bool pending = std::any_of(c.state->deadlines().begin(), c.state->deadlines().end(),
                                     [&name = name, due = due_us](const auto& d) {
                                       return d.name() == name && Micros(d.due_at()) == due;
                                     });
    v1::SubmitRequest request;
    v1::Event* e = request.mutable_event();
    e->set_event_id(absl::StrCat(std::string(1, kReservedCasePrefix), "deadline~", case_id, "~",
                                 name, "~", due_us));
    e->set_case_id(case_id);
    *e->mutable_occurred_at() = FromMicros(due_us);
    e->mutable_actor()->set_id(kEngineActorId);
    e->mutable_actor()->set_kind(v1::ACTOR_KIND_SYSTEM);
    e->set_channel(v1::CHANNEL_SYSTEM);
    e->mutable_deadline_expired()->set_deadline(name);
    *e->mutable_deadline_expired()->mutable_due_at() = e->occurred_at();
    if (pending) PlanOne(states, std::move(request), ids, plan, /*expiry=*/true);
  }
}

// Staffing::ReassignHolder.
void Simulation::PlanMoves(States* states, const Directory& directory, const std::string& person_id,
                           const std::string& reason, int64_t now, std::set<std::string>* ids,
                           Plan* plan) {
  auto person = directory.FindPerson(person_id);
  if (!person) return;
  auto holds = [](const v1::CaseState& s, const std::string& who) {
    if (s.assignee() == who) return true;
    return std::any_of(s.open_tasks().begin(), s.open_tasks().end(),
                       [&](const auto& t) { return t.assignee() == who; });
  };
  std::vector<std::vector<std::pair<std::string, std::string>>> held(kPartitions);
  for (const auto& [id, c] : *states) {
    if (c.state && holds(*c.state, person_id)) {
      held[c.partition.value()].emplace_back(id, c.state->grid_id());
    }
  }
  std::map<std::string, size_t> load;
  if (std::any_of(held.begin(), held.end(), [](const auto& h) { return !h.empty(); })) {
    for (const std::string& w : WorkersToWeigh(directory, *person, now)) {
      size_t n = 0;
      for (const auto& [id, c] : *states) n += c.state && holds(*c.state, w);
      load[w] = n;
    }
  }
  std::vector<v1::SubmitRequest> moves;
  for (const auto& in_partition : held) {
    for (const auto& [case_id, grid] : in_partition) {
      auto to = ChooseSuccessor(directory, *person, grid, now, &load);
      if (!to) continue;
      v1::SubmitRequest request;
      v1::Event* e = request.mutable_event();
      e->set_event_id(absl::StrCat(std::string(1, kReservedCasePrefix), "move~", person_id, "~",
                                   case_id, "~", now));
      e->set_case_id(case_id);
      *e->mutable_occurred_at() = WholeSeconds(now);
      e->mutable_actor()->set_id(kEngineActorId);
      e->mutable_actor()->set_kind(v1::ACTOR_KIND_SYSTEM);
      e->set_grid_id(grid);
      e->set_channel(v1::CHANNEL_SYSTEM);
      auto* h = e->mutable_holder_replaced();
      h->set_from_person(person_id);
      h->set_to_person(to->person_id);
      h->set_to_role(to->role);
      h->set_reason(reason);
      moves.push_back(std::move(request));
    }
  }
  plan->move_requests += moves.size();
  for (auto& m : moves) PlanOne(states, std::move(m), ids, plan, /*expiry=*/false);
}

// The records of the directory case after those the model holds: each one
// of the import `import_id` (of `entries` entries), in order; folded into
// the model's directory.
bool Simulation::ReadDirectoryRecords(const std::string& import_id, size_t entries) {
  auto timeline = Timeline(kDirectoryCaseId);
  if (!timeline.ok())
    return Fail(absl::StrCat("reading the directory: ", timeline.status().ToString()));
  const size_t before = imports_.count(import_id) ? imports_[import_id].second : 0;
  size_t n = before;
  for (size_t i = directory_records_; i < timeline->size(); ++i) {
    const v1::Record& r = (*timeline)[i];
    ++n;
    const std::string want = absl::StrCat(kDirectoryCaseId, "~", import_id, "~", n);
    if (r.event().event_id() != want || n > entries) {
      return Fail(absl::StrCat("directory record ", i + 1, " is ", r.event().event_id(),
                               "; the model expected ", n > entries ? "none" : want));
    }
    ApplyDirectoryRecord(r, &directory_);
    if (auto entry = EntryOf(r.event()); entry && entry->has_person()) {
      people_.push_back(entry->person().person_id());
    }
    if (n == 1) imports_[import_id].first = Micros(r.event().occurred_at());
  }
  if (n != entries && n != before) {
    return Fail(absl::StrCat("import ", import_id, ": ", n - before, " directory records of ",
                             entries - before, " new entries"));
  }
  directory_records_ = timeline->size();
  if (n > before || !imports_.count(import_id)) imports_[import_id].second = n;
  return true;
}

// --- checks ----------------------------------------------------------------

bool Simulation::CheckCase(const std::string& id) {
  const ModelCase& c = Case(id);
  auto timeline = Timeline(id);
  if (!timeline.ok()) {
    return Fail(absl::StrCat("reading the timeline of ", id, ": ", timeline.status().ToString()));
  }
  const size_t n = std::min(timeline->size(), c.records.size());
  for (size_t i = 0; i < n; ++i) {
    if (!MessageDifferencer::Equals(c.records[i], (*timeline)[i])) {
      return Fail(absl::StrCat(id, " version ", i + 1,
                               ": the engine's record differs from the model's (lost, doubled "
                               "or out of place): ",
                               Diff(c.records[i], (*timeline)[i])));
    }
  }
  if (timeline->size() < c.records.size()) {
    const v1::Record& lost = c.records[timeline->size()];
    return Fail(absl::StrCat(id, ": lost: the timeline ends at version ", timeline->size(),
                             "; the model holds ", c.records.size(), ", the first missing is ",
                             Describe(lost.event()), " at position ", lost.position()));
  }
  if (timeline->size() > c.records.size()) {
    const v1::Record& extra = (*timeline)[c.records.size()];
    std::string why = "never acknowledged, or doubled";
    for (const auto& r : c.records) {
      if (r.event().event_id() == extra.event().event_id()) why = "doubled";
    }
    if (extra.event().has_deadline_expired()) {
      const int64_t due = Micros(extra.event().deadline_expired().due_at());
      bool pending = false;
      if (c.state) {
        for (const auto& d : c.state->deadlines()) {
          pending = pending || (d.name() == extra.event().deadline_expired().deadline() &&
                                Micros(d.due_at()) == due);
        }
      }
      why = pending ? absl::StrCat("a deadline fired before the model's due time (fired early)")
                    : "a deadline that was not pending fired (twice, or cancelled)";
    }
    return Fail(absl::StrCat(id, ": the engine has version ", c.records.size() + 1, ", ",
                             Describe(extra.event()), " at position ", extra.position(),
                             ", which the model does not: ", why));
  }
  auto state = engine_->GetCase(id);
  if (!c.state) {
    if (!absl::IsNotFound(state.status())) {
      return Fail(absl::StrCat(id, ": the model has no such case; the engine answers ",
                               state.ok() ? "a case" : state.status().ToString()));
    }
    return true;
  }
  if (!state.ok()) {
    return Fail(absl::StrCat("reading case ", id, ": ", state.status().ToString()));
  }
  if (!MessageDifferencer::Equals(*c.state, *state)) {
    return Fail(absl::StrCat(
        id, ": the engine's case state differs from the model's: ", Diff(*c.state, *state)));
  }
  return true;
}

bool Simulation::CheckGuard(const std::vector<absl::Status>& refusals) {
  for (uint32_t p = 0; p < refusals.size(); ++p) {
    const absl::Status& st = refusals[p];
    const bool jumped = !st.ok() && absl::StrContains(st.message(), "wall clock jumped");
    if (!st.ok() && !jumped) {
      return Fail(absl::StrCat("partition ", p, " refuses writes: ", st.ToString()));
    }
    if (jumped != (guard_.jumped != 0)) {
      return Fail(absl::StrCat("partition ", p, ": ", st.ok() ? "takes writes" : st.ToString(),
                               "; the model's clock guard says ",
                               guard_.jumped != 0 ? "jumped" : "good"));
    }
  }
  const ClockGuardStats g = engine_->clock_guard()->stats();
  if (g.jumped_us != guard_.jumped || g.steps_back != guard_.steps_back) {
    return Fail(absl::StrCat("clock guard: jumped ", g.jumped_us, " µs, ", g.steps_back,
                             " steps back; the model: ", guard_.jumped, " µs, ",
                             guard_.steps_back));
  }
  return true;
}

bool Simulation::CheckListing() {
  v1::ListCasesRequest req;
  static const char* kStages[] = {"screening", "isolation", "testing",
                                  "closed",    "watch",     "assigned"};
  const uint64_t pick = Below(100);
  if (pick < 20) {
    req.set_stage(kStages[Below(6)]);
  } else if (pick < 35) {
    req.set_assignee(OneOf(people_));
  } else if (pick < 50) {
    req.set_grid_id(Chance(50) ? "jiangan-07-03" : "jiangan-07-04");
  } else if (pick < 60) {
    req.set_category(static_cast<v1::Category>(Below(5)));
  } else if (pick < 75) {
    req.set_overdue(true);
  } else if (pick < 85) {
    req.set_area(Chance(50) ? "jiangan-07-c2" : "jiangan-07-04");
  }
  req.set_page_size(static_cast<uint32_t>(Between(1, 8)));
  const int64_t now = Wall();
  std::vector<std::string> want;
  for (const auto& [id, c] : cases_) {
    if (!c.state) continue;
    const v1::CaseState& st = *c.state;
    if (!req.stage().empty() && st.stage() != req.stage()) continue;
    if (req.category() != v1::CATEGORY_UNSPECIFIED && st.category() != req.category()) continue;
    if (!req.grid_id().empty() && st.grid_id() != req.grid_id()) continue;
    if (!req.assignee().empty() && st.assignee() != req.assignee()) continue;
    if (!req.area().empty() && !directory_.IsAtOrUnder(st.grid_id(), req.area())) continue;
    if (req.overdue()) {
      bool overdue = false;
      for (const auto& t : st.open_tasks()) {
        overdue = overdue || (t.has_due_at() && Micros(t.due_at()) <= now);
      }
      for (const auto& d : st.deadlines()) overdue = overdue || Micros(d.due_at()) <= now;
      if (!overdue) continue;
    }
    want.push_back(id);
  }
  std::vector<std::string> got;
  for (int pages = 0;; ++pages) {
    auto page = engine_->ListCases(req);
    if (!page.ok()) {
      return Fail(absl::StrCat("listing cases: ", page.status().ToString()));
    }
    for (const v1::CaseState& st : page->cases()) {
      got.push_back(st.case_id());
      auto it = cases_.find(st.case_id());
      if (it == cases_.end() || !it->second.state ||
          !MessageDifferencer::Equals(*it->second.state, st)) {
        return Fail(absl::StrCat("listing cases (", req.ShortDebugString(), "): ", st.case_id(),
                                 " is listed as the model does not hold it"));
      }
    }
    if (page->next_page_token().empty() || pages > 1000) break;
    req.set_page_token(page->next_page_token());
  }
  if (got != want) {
    req.clear_page_token();
    return Fail(absl::StrCat("listing cases (", req.ShortDebugString(), ") gives [",
                             absl::StrJoin(got, " "), "]; the model [", absl::StrJoin(want, " "),
                             "]"));
  }
  return true;
}

bool Simulation::Reading() {
  const std::vector<absl::Status> refusals = engine_->WriteRefusals();
  guard_.Reading(Wall(), clock_.MonotonicMicros());
  if (guard_.jumped == 0) max_wall_ = std::max(max_wall_, Wall());
  return CheckGuard(refusals);
}

bool Simulation::VerifyLog(bool count) {
  auto chains = engine_->audit().VerifyLog();
  if (!chains.ok()) return Fail(absl::StrCat("verifying the chains: ", chains.status().ToString()));
  for (size_t p = 0; p < chains->size(); ++p) {
    const ChainCheck& c = (*chains)[p];
    if (c.first_bad_position != 0) {
      return Fail(absl::StrCat("partition ", p, ": the chain breaks at position ",
                               c.first_bad_position, ": ", c.problem));
    }
  }
  // Every record of every partition belongs to a case the model knows, at
  // dense positions, recorded at times that never go back.
  std::map<std::string, size_t> per_case;
  uint64_t records = 0;
  for (uint32_t p = 0; p < kPartitions; ++p) {
    uint64_t expect = 1;
    int64_t recorded = 0;
    for (;;) {
      std::vector<v1::LogEntry> entries;
      if (auto st = engine_->streams().ReadLog(PartitionId(p), Position(expect), 1000, &entries);
          !st.ok()) {
        return Fail(absl::StrCat("reading the log of partition ", p, ": ", st.ToString()));
      }
      if (entries.empty()) break;
      for (const v1::LogEntry& e : entries) {
        const v1::Record& r = e.record();
        if (r.position() != expect) {
          return Fail(
              absl::StrCat("partition ", p, ": position ", r.position(), " follows ", expect - 1));
        }
        if (Micros(r.recorded_at()) < recorded) {
          return Fail(absl::StrCat("partition ", p, " position ", r.position(),
                                   " is recorded before the record ahead of it"));
        }
        recorded = Micros(r.recorded_at());
        ++per_case[r.event().case_id()];
        ++expect;
        ++records;
      }
    }
  }
  stats_.records = records;
  if (!count) return true;
  for (const auto& [id, n] : per_case) {
    size_t want = 0;
    if (id == kDirectoryCaseId) {
      want = directory_records_;
    } else if (workflow::IsEngineCase(id)) {
      const std::string name = id.substr(std::string(workflow::WorkflowCaseId("")).size());
      auto latest = registry_.Latest(name);
      want = latest ? latest->version() : 0;
    } else if (auto it = cases_.find(id); it != cases_.end()) {
      want = it->second.records.size();
    }
    if (n != want) {
      return Fail(absl::StrCat("the log holds ", n, " records of ", id, "; the model ", want));
    }
  }
  return true;
}

bool Simulation::VerifyStreams() {
  for (uint32_t p = 0; p < kPartitions; ++p) {
    std::map<std::string, int64_t> offsets;
    if (auto st = engine_->streams().StreamOffsets(PartitionId(p), kTopic, &offsets); !st.ok()) {
      return Fail(absl::StrCat("reading stream offsets: ", st.ToString()));
    }
    if (offsets != offsets_[p]) {
      std::string got, want;
      for (const auto& [s, o] : offsets) absl::StrAppend(&got, s, "=", o, " ");
      for (const auto& [s, o] : offsets_[p]) absl::StrAppend(&want, s, "=", o, " ");
      return Fail(absl::StrCat("partition ", p, " decided the ingest to [", got,
                               "]; the model to [", want, "]"));
    }
    std::vector<std::pair<std::string, v1::DeadLetter>> letters;
    if (auto st = engine_->streams().DeadLetters(PartitionId(p), 100000, &letters); !st.ok()) {
      return Fail(absl::StrCat("reading dead letters: ", st.ToString()));
    }
    size_t model = 0;
    for (const auto& [key, value] : dead_letters_) model += std::get<0>(key) == p;
    if (letters.size() != model) {
      return Fail(absl::StrCat("partition ", p, " holds ", letters.size(),
                               " dead letters; the model ", model));
    }
    for (const auto& [key, letter] : letters) {
      auto it = dead_letters_.find({p, letter.source(), letter.offset()});
      if (it == dead_letters_.end() || it->second.first != letter.code() ||
          it->second.second != letter.original()) {
        return Fail(absl::StrCat("partition ", p, ": dead letter ", letter.source(), " ",
                                 letter.offset(), " (code ", letter.code(),
                                 ") is not the model's"));
      }
    }
  }
  return true;
}

bool Simulation::Rebuild() {
  RebuildOptions rebuild;
  rebuild.data_dir = Data();
  rebuild.scratch_dir = options_.work_dir + "/rebuilt";
  std::error_code ec;
  fs::remove_all(rebuild.scratch_dir, ec);
  auto report = RebuildAndCompare(rebuild);
  if (!report.ok()) return Fail(absl::StrCat("rebuilding: ", report.status().ToString()));
  if (report->difference) {
    return Fail(absl::StrCat("a rebuild from the log differs from the live state: partition ",
                             report->difference->partition, " ", report->difference->family, " ",
                             report->difference->key));
  }
  ++stats_.rebuilds;
  return true;
}

bool Simulation::VerifyAll() {
  for (const auto& [id, c] : cases_) {
    if (!CheckCase(id)) return false;
  }
  if (!VerifyLog(/*count=*/true)) return false;
  // The earliest pending deadline, as the timers say and as the cases say.
  std::optional<int64_t> first;
  for (const auto& [id, c] : cases_) {
    if (!c.state) continue;
    for (const auto& d : c.state->deadlines()) {
      if (!first || Micros(d.due_at()) < *first) first = Micros(d.due_at());
    }
  }
  // Every timer row, as the cases' pending deadlines say.
  std::set<std::tuple<int64_t, std::string, std::string>> rows, pending;
  for (const auto& [id, c] : cases_) {
    if (!c.state) continue;
    for (const auto& d : c.state->deadlines()) pending.emplace(Micros(d.due_at()), id, d.name());
  }
  for (uint32_t p = 0; p < kPartitions; ++p) {
    std::vector<keys::TimerKey> timers;
    if (auto st = engine_->partitions()
                      .store(PartitionId(p))
                      .ReadDueTimers(std::numeric_limits<int64_t>::max(), SIZE_MAX, &timers);
        !st.ok()) {
      return Fail(absl::StrCat("reading the timers: ", st.ToString()));
    }
    for (const auto& t : timers) rows.emplace(t.due_us, t.case_id, t.deadline);
  }
  if (rows != pending) {
    return Fail(absl::StrCat("the timer rows (", rows.size(), ") are not the cases' pending ",
                             "deadlines (", pending.size(), ")"));
  }
  auto next = engine_->timers().NextDeadlineDueUs();
  if (!next.ok()) return Fail(absl::StrCat("reading the timers: ", next.status().ToString()));
  if (*next != first) {
    return Fail(absl::StrCat("the next timer is due at ", next->value_or(0),
                             "; the model's cases say ", first.value_or(0)));
  }
  if (!VerifyStreams()) return false;
  if (!CheckListing()) return false;
  // The registry and the directory.
  const auto deployed = engine_->workflows().ListWorkflows();
  const auto all = registry_.All();
  if (static_cast<size_t>(deployed.workflows_size()) != all.size()) {
    return Fail(absl::StrCat("the engine has ", deployed.workflows_size(),
                             " workflow versions; the model ", all.size()));
  }
  for (size_t i = 0; i < all.size(); ++i) {
    auto got = engine_->workflows().GetWorkflow(all[i]->name(), all[i]->version());
    if (!got.ok() || !MessageDifferencer::Equals(*got, all[i]->proto())) {
      return Fail(absl::StrCat("workflow ", all[i]->name(), " version ", all[i]->version(),
                               " differs from the model's"));
    }
  }
  const Directory& dir = engine_->staffing().directory();
  if (dir.person_count() != directory_.person_count() ||
      dir.unit_count() != directory_.unit_count()) {
    return Fail("the engine's directory holds other people or units than the model's");
  }
  for (const std::string& id : people_) {
    auto want = directory_.FindPerson(id);
    auto got = dir.FindPerson(id);
    if (!want || !got || want->availability != got->availability ||
        want->unavailable_from_us != got->unavailable_from_us ||
        want->unavailable_until_us != got->unavailable_until_us ||
        want->paired_with != got->paired_with || want->unit_id != got->unit_id) {
      return Fail(absl::StrCat("person ", id, " differs from the model's"));
    }
  }
  return CheckGuard(engine_->WriteRefusals());
}

// --- generators ------------------------------------------------------------

v1::Actor Simulation::GenerateActor() {
  v1::Actor a;
  if (Chance(20)) {
    a.set_id(absl::StrCat("tablet-", Below(3)));
    a.set_kind(v1::ACTOR_KIND_APP);
    return a;
  }
  a.set_id(OneOf(people_));
  a.set_kind(v1::ACTOR_KIND_PERSON);
  a.set_role(Chance(15) ? "designated_person"
                        : (absl::StartsWith(a.id(), "cadre") ? "cadre" : "grid_worker"));
  return a;
}

v1::Event Simulation::GenerateEvent(const std::string& event_id, const std::string& case_id,
                                    bool opener) {
  int64_t occurred = Wall();
  const uint64_t when = Below(100);
  if (when < 75) {
    occurred -= Between(0, 2 * kHourUs);
  } else if (when < 95) {
    occurred -= Between(2 * kHourUs, 3 * kDayUs);  // late: an offline phone
  } else {
    occurred += Between(0, 4 * kMinuteUs);  // a device clock slightly ahead
  }
  v1::Event e = BaseEvent(event_id, case_id, occurred);
  *e.mutable_actor() = GenerateActor();
  e.set_grid_id(GridOf(case_id));
  e.set_channel(static_cast<v1::Channel>(Between(1, 10)));
  const char kind = case_id[0];  // r(esident), h(elp), w(atch)
  const uint64_t pick = Below(100);
  if (kind == 'h') {
    if (opener ? pick < 90 : pick < 25) {
      e.mutable_help_request()->set_request_id(absl::StrCat("q", Below(3)));
      e.mutable_help_request()->set_kind(static_cast<v1::HelpKind>(Between(1, 5)));
    } else if (pick < 80) {
      e.mutable_help_fulfilled()->set_request_id(absl::StrCat("q", Below(3)));
    } else if (pick < 92) {
      e.mutable_help_cancelled()->set_request_id(absl::StrCat("q", Below(3)));
    } else {
      e.mutable_note()->set_text("asked again");
    }
    return e;
  }
  if (kind == 'w') {
    if (opener || pick < 50) {
      e.mutable_note()->set_text(absl::StrCat("seen at ", Below(24), "h"));
    } else {
      e.mutable_contact_attempt()->set_outcome(static_cast<v1::ContactOutcome>(Between(1, 3)));
    }
    return e;
  }
  static const double kCelsius[] = {36.4, 36.9, 37.2, 37.4, 37.9, 38.6};
  if (opener) {
    if (pick < 50) {
      e.mutable_fever_reading()->set_celsius(kCelsius[Below(6)]);
    } else if (pick < 80) {
      e.mutable_screening_check()->set_category(static_cast<v1::Category>(Below(5)));
    } else if (pick < 88) {
      e.mutable_clue_report()->set_description("coughing neighbour");
    } else if (pick < 95) {
      e.mutable_occupancy_evidence()->set_household_id("h-3-502");
      e.mutable_occupancy_evidence()->set_registered_empty(true);
      e.mutable_occupancy_evidence()->set_lights_on(Chance(70));
    } else {
      e.mutable_discharge()->set_hospital("hospital-1");  // opens nothing
    }
    return e;
  }
  if (pick < 28) {
    e.mutable_fever_reading()->set_celsius(kCelsius[Below(6)]);
  } else if (pick < 40) {
    e.mutable_screening_check()->set_category(static_cast<v1::Category>(Below(5)));
  } else if (pick < 45) {
    e.mutable_isolation_order()->set_kind(v1::ISOLATION_KIND_HOME);
  } else if (pick < 52) {
    e.mutable_test_ordered()->set_test_id(absl::StrCat("t", Below(3)));
  } else if (pick < 62) {
    e.mutable_test_result()->set_test_id(absl::StrCat("t", Below(3)));
    e.mutable_test_result()->set_outcome(Chance(60) ? v1::TEST_OUTCOME_NEGATIVE
                                                    : v1::TEST_OUTCOME_POSITIVE);
  } else if (pick < 66) {
    e.mutable_admission()->set_hospital("hospital-1");
  } else if (pick < 71) {
    e.mutable_discharge()->set_hospital("hospital-1");
  } else if (pick < 75) {
    e.mutable_isolation_released()->set_reason("fourteen days");
  } else if (pick < 85) {
    e.mutable_contact_attempt()->set_outcome(static_cast<v1::ContactOutcome>(Between(1, 3)));
  } else if (pick < 92) {
    e.mutable_reassignment()->set_to_assignee(OneOf(people_));
  } else {
    e.mutable_note()->set_text("called back");
  }
  return e;
}

v1::SubmitRequest Simulation::GenerateSubmission(std::string* what) {
  const std::string event_id = absl::StrCat("e", step_);
  const uint64_t pick = Below(100);
  if (pick < 10 && !sent_.empty()) {
    *what = "the same submission again";
    return OneOf(sent_);
  }
  if (pick < 14 && !ids_.empty()) {
    auto it = ids_.begin();
    std::advance(it, Below(ids_.size()));
    v1::SubmitRequest r;
    *r.mutable_event() = it->second.event;
    if (Chance(50)) {
      *what = "an event id again with other content";
      r.mutable_event()->set_channel(r.event().channel() == v1::CHANNEL_APP ? v1::CHANNEL_PHONE
                                                                            : v1::CHANNEL_APP);
    } else {
      *what = "an event id again for another case";
      r.mutable_event()->set_case_id(absl::StrCat("resident-", Below(9)));
      r.mutable_event()->set_grid_id(GridOf(r.event().case_id()));
    }
    return r;
  }
  static const char* kPools[] = {"resident-", "resident-", "help-", "watch-"};
  const std::string case_id = absl::StrCat(kPools[Below(4)], Below(pick < 60 ? 6 : 9));
  const bool exists = cases_.count(case_id) && cases_[case_id].state.has_value();
  v1::SubmitRequest r;
  *r.mutable_event() = GenerateEvent(event_id, case_id, !exists);
  if (pick >= 92) {
    *what = "input the engine must refuse";
    v1::Event* e = r.mutable_event();
    switch (Below(6)) {
      case 0:
        e->clear_payload();
        e->mutable_fever_reading()->set_celsius(377);
        break;
      case 1:
        e->clear_payload();
        break;
      case 2:
        e->set_case_id("~sim");
        break;
      case 3:
        e->set_event_id(event_id + "#1");
        break;
      case 4:
        e->mutable_actor()->set_kind(v1::ACTOR_KIND_SYSTEM);
        break;
      default:
        *e->mutable_occurred_at() = FromMicros(Wall() + kDayUs);
        break;
    }
    return r;
  }
  *what = exists ? "an event of a case" : "an event for a new case";
  if (!exists && Chance(15)) {
    static const char* kNames[] = {"sim-watch", "help-request", "epidemic-case", "sim-none"};
    r.set_workflow(kNames[Below(4)]);
  }
  if (Chance(25)) {
    const uint64_t v = cases_.count(case_id) ? cases_[case_id].version() : 0;
    if (Chance(75)) {
      r.set_expected_version(v);
      absl::StrAppend(what, ", expecting its version");
    } else {
      r.set_expected_version(v + 1 + Below(3));
      absl::StrAppend(what, ", expecting a wrong version");
    }
  }
  return r;
}

Message Simulation::GenerateMessage(int source) {
  Message m;
  m.source = source;
  m.offset = static_cast<int64_t>(topic_[source].size());
  const uint64_t pick = Below(100);
  if (pick < 8) {
    m.bytes = "{\"eventId\": \"broken";
    return m;
  }
  if (pick < 16 && !ids_.empty()) {  // an event already recorded, sent again by Kafka
    auto it = ids_.begin();
    std::advance(it, Below(ids_.size()));
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(it->second.event, &json);
    m.bytes = json;
    return m;
  }
  const std::string case_id =
      absl::StrCat(Chance(50) ? "resident-" : (Chance(50) ? "help-" : "watch-"), Below(6));
  const bool exists = cases_.count(case_id) && cases_[case_id].state.has_value();
  v1::Event e = GenerateEvent(absl::StrCat("k", step_), case_id, !exists);
  if (pick < 24) e.clear_event_id();  // the ingest names it by topic, partition, offset
  if (pick >= 24 && pick < 30) {
    e.clear_payload();
    e.mutable_fever_reading()->set_celsius(377);
  }
  if (pick >= 30 && pick < 40) {
    m.bytes = e.SerializeAsString();  // protobuf
    if (!m.bytes.empty() && m.bytes[0] == '{') m.bytes.clear();
    if (!m.bytes.empty()) return m;
  }
  (void)google::protobuf::util::MessageToJsonString(e, &m.bytes);
  return m;
}

// --- steps -----------------------------------------------------------------

bool Simulation::AfterFault(Uncertain u) {
  uncertain_ = std::move(u);
  return Reopen(/*cut=*/false);
}

bool Simulation::DoSubmit(v1::SubmitRequest request, bool cutting, const std::string& what) {
  const Expected want = Predict(request, /*validate=*/true);
  op_ = absl::StrCat("submit ", Describe(request.event()), ": ", what);
  if (request.has_expected_version()) absl::StrAppend(&op_, " (", request.expected_version(), ")");
  sent_.push_back(request);
  if (sent_.size() > 64) sent_.erase(sent_.begin());
  ++stats_.submissions;
  Answer a = SubmitAndWait(request);
  std::string outcome = a.result.ok() ? (a.result->duplicate() ? "duplicate" : "accepted")
                                      : a.result.status().ToString();
  if (outcome.size() > 120) outcome = outcome.substr(0, 120);
  Trace(absl::StrCat(op_, " -> ", outcome, a.after_cut ? " (after the cut)" : ""));
  const bool decided = a.result.ok() || IsDecidedRefusal(a.result.status());
  if (a.after_cut && cutting) {
    uncertain_.kind = Uncertain::kSubmit;
    uncertain_.request = request;
    uncertain_.expected = want;
    return true;
  }
  if (!decided && fault_armed_ && guard_.jumped == 0) {
    Uncertain u;
    u.kind = Uncertain::kSubmit;
    u.request = request;
    u.expected = want;
    return AfterFault(std::move(u));
  }
  if (!a.result.ok()) {
    if (want.kind != Expected::kRefuse || want.code != a.result.status().code()) {
      return Fail(
          absl::StrCat("refused ", a.result.status().ToString(), "; the model expected ",
                       want.kind == Expected::kRefuse
                           ? absl::StatusCodeToString(want.code)
                           : (want.kind == Expected::kDuplicate ? "a duplicate" : "acceptance")));
    }
    ++(absl::IsUnavailable(a.result.status()) ? stats_.unavailable : stats_.refused);
    stats_.invalid += want.validation;
    if (want.version_conflict) {
      // The refusal carries the case's current version.
      auto payload = a.result.status().GetPayload(kCurrentVersionPayload);
      if (!payload || std::string(*payload) != std::to_string(want.current_version)) {
        return Fail(absl::StrCat("a version conflict without the case's current version ",
                                 want.current_version));
      }
      ++stats_.conflicts;
    }
    return true;
  }
  if (a.result->duplicate()) {
    if (want.kind != Expected::kDuplicate) {
      return Fail("answered as a duplicate; the model expected otherwise");
    }
    v1::SubmitResponse original = want.original;
    original.set_duplicate(true);
    if (!MessageDifferencer::Equals(original, *a.result)) {
      return Fail(
          absl::StrCat("a duplicate not answered as the original: ", Diff(original, *a.result)));
    }
    ++stats_.duplicates;
    return true;
  }
  if (want.kind != Expected::kAccept) {
    return Fail(
        absl::StrCat("accepted at position ", a.result->position(), "; the model expected ",
                     want.kind == Expected::kDuplicate
                         ? "a duplicate"
                         : absl::StrCat("a refusal ", absl::StatusCodeToString(want.code))));
  }
  if (!Accepted(request, *a.result)) return false;
  return CheckCase(request.event().case_id());
}

bool Simulation::StepSubmit(bool cutting) {
  std::string what;
  v1::SubmitRequest request = GenerateSubmission(&what);
  return DoSubmit(std::move(request), cutting, what);
}

bool Simulation::StepIngest(bool cutting) {
  const int s = static_cast<int>(Below(kSources));
  if (next_[s] >= topic_[s].size()) topic_[s].push_back(GenerateMessage(s));
  const Message m = topic_[s][next_[s]];
  const std::string source = absl::StrCat(kTopic, "/", s);
  absl::StatusOr<v1::SubmitRequest> request =
      kafka::ParseMessage(m.bytes, "auto", kTopic, s, m.offset);
  const PartitionId route = engine_->streams().RouteOf(request);
  const PartitionId model_route =
      request.ok() && IsValidId(request->event().case_id(), ValidationLimits{}.id_bytes_max)
          ? PartitionOf(request->event().case_id())
          : PartitionId(0);
  op_ =
      absl::StrCat("ingest ", source, " offset ", m.offset,
                   request.ok() ? absl::StrCat(": ", Describe(request->event())) : ": unreadable");
  if (route != model_route) return Fail("the ingest routes the message elsewhere");
  // The consumer skips what the message's partition has decided.
  auto& decided_here = decided_in_[route.value()];
  if (auto it = decided_here.find(source); it != decided_here.end() && m.offset <= it->second) {
    Trace(absl::StrCat(op_, " -> skipped, decided before"));
    auto mine = offsets_[route.value()].find(source);
    if (mine == offsets_[route.value()].end() || mine->second < m.offset) {
      return Fail("the consumer skips a message the model never saw decided");
    }
    ++next_[s];
    return true;
  }
  // What the engine must decide.
  Expected want;
  absl::Status refusal = request.status();
  if (refusal.ok()) refusal = ValidateEvent(request->event(), ValidationLimits{}, Wall());
  if (refusal.ok()) {
    want = Predict(*request, /*validate=*/false);
    if (want.kind == Expected::kRefuse) refusal = absl::Status(want.code, "");
  }
  if (guard_.jumped != 0) {
    want.kind = Expected::kRefuse;
    want.code = absl::StatusCode::kUnavailable;
    refusal = absl::UnavailableError("");
  } else if (!refusal.ok()) {
    want.kind = Expected::kRefuse;
    want.code = refusal.code();
  }
  ++stats_.submissions;
  Answer a = IngestAndWait(request, StreamOrigin{source, m.offset, m.bytes});
  Trace(absl::StrCat(op_, " -> ",
                     a.result.ok() ? (a.result->duplicate() ? "duplicate" : "accepted")
                                   : a.result.status().ToString().substr(0, 100),
                     a.after_cut ? " (after the cut)" : ""));
  Uncertain u;
  u.kind = Uncertain::kIngest;
  u.request = request.ok() ? *request : v1::SubmitRequest();
  u.expected = want;
  u.message = m;
  u.route = route;
  if (a.after_cut && cutting) {
    uncertain_ = std::move(u);
    return true;
  }
  const bool decided = a.result.ok() || IsDecidedRefusal(a.result.status());
  if (!decided && fault_armed_ && guard_.jumped == 0) return AfterFault(std::move(u));
  if (!a.result.ok() && !decided) {
    if (want.code != absl::StatusCode::kUnavailable || !absl::IsUnavailable(a.result.status())) {
      return Fail(absl::StrCat("not decided: ", a.result.status().ToString()));
    }
    ++stats_.unavailable;
    return true;  // read again later
  }
  if (!a.result.ok()) {
    if (want.kind != Expected::kRefuse || want.code != a.result.status().code()) {
      return Fail(absl::StrCat(
          "dead-lettered with ", a.result.status().ToString(), "; the model expected ",
          want.kind == Expected::kRefuse ? absl::StatusCodeToString(want.code) : "no refusal"));
    }
    dead_letters_[{route.value(), source, m.offset}] = {
        static_cast<int32_t>(a.result.status().code()), m.bytes};
    ++stats_.dead_letters;
  } else if (a.result->duplicate()) {
    if (want.kind != Expected::kDuplicate) return Fail("a duplicate the model did not expect");
    ++stats_.duplicates;
  } else {
    if (want.kind != Expected::kAccept) return Fail("accepted; the model expected otherwise");
    if (!Accepted(*request, *a.result)) return false;
    if (!CheckCase(request->event().case_id())) return false;
  }
  offsets_[route.value()][source] = m.offset;
  decided_here[source] = m.offset;
  ++next_[s];
  ++stats_.ingested;
  return true;
}

bool Simulation::StepClock(int kind) {
  ++stats_.clock_moves;
  const uint64_t pick = Below(100);
  int64_t d = 0;
  switch (kind) {
    case 0:  // time passes
      d = pick < 40 ? Between(kSecondUs, 10 * kMinuteUs)
                    : (pick < 80 ? Between(10 * kMinuteUs, 6 * kHourUs)
                                 : Between(6 * kHourUs, 30 * kHourUs));
      clock_.AdvanceMicros(d);
      op_ = absl::StrCat("time passes: ", d / kSecondUs, " s");
      break;
    case 1:  // time sync steps the wall clock back
      d = Between(kSecondUs, 10 * kMinuteUs);
      clock_.StepWallMicros(-d);
      ++stats_.steps_back;
      op_ = absl::StrCat("wall clock stepped back ", d / kSecondUs, " s");
      break;
    default:  // a jump forward, beyond the guard's limit
      d = Between(2 * kMinuteUs, 2 * kDayUs);
      clock_.StepWallMicros(d);
      ++stats_.jumps;
      op_ = absl::StrCat("wall clock jumps forward ", d / kSecondUs, " s");
      break;
  }
  Trace(op_);
  return Reading();
}

bool Simulation::StepFixJump() {
  if (Chance(50)) {
    op_ = "an operator accepts the clock";
    auto accepted = engine_->AcceptClock();
    const int64_t want = guard_.Accept(Wall(), clock_.MonotonicMicros());
    Trace(op_);
    if (!accepted.ok() || *accepted != want) {
      return Fail(
          absl::StrCat("accepting the clock: ",
                       accepted.ok() ? std::to_string(*accepted) : accepted.status().ToString(),
                       "; the model: ", want));
    } else {
      ++stats_.jumps_accepted;
      max_wall_ = std::max(max_wall_, Wall());
    }
    return CheckGuard(engine_->WriteRefusals());
  }
  // Time sync puts the wall clock back near where it should be.
  const int64_t back = guard_.jumped + Between(-kJumpLimitUs / 2, kJumpLimitUs / 2);
  clock_.StepWallMicros(-back);
  op_ = absl::StrCat("time sync puts the clock back ", back / kSecondUs, " s");
  Trace(op_);
  return Reading();
}

bool Simulation::StepRound() {
  const int64_t now = Wall();
  op_ = "a scheduler round";
  Plan plan;
  States states = Snapshot();
  std::set<std::string> ids = engine_ids_;
  if (guard_.jumped == 0) PlanFire(&states, now, &ids, &plan);
  std::vector<std::string> people;
  if (handon_first_) {
    for (const Person& p : directory_.UnavailablePeople(now)) people.push_back(p.id);
  } else {
    people = directory_.BecomingUnavailable(handon_checked_, now);
  }
  const size_t fired_planned = plan.fired;
  if (guard_.jumped == 0) {
    for (const std::string& p : people) {
      PlanMoves(&states, directory_, p, "unavailable from now", now, &ids, &plan);
    }
  } else {
    // Nothing is written; the hand-on fails if it had anything to submit.
    Plan none;
    States copy = Snapshot();
    std::set<std::string> scratch = engine_ids_;
    for (const std::string& p : people) {
      PlanMoves(&copy, directory_, p, "unavailable from now", now, &scratch, &none);
    }
    plan.move_requests = none.move_requests;
  }
  auto fired = engine_->timers().FireDueDeadlines();
  auto moved = engine_->staffing().HandOnFromNewlyUnavailable();
  Trace(absl::StrCat(op_, " -> fired ",
                     fired.ok() ? std::to_string(*fired) : fired.status().ToString(), ", moved ",
                     moved.ok() ? std::to_string(*moved) : moved.status().ToString(),
                     "; the model: ", fired_planned, ", ", plan.moved));
  if (!fired.ok()) return Fail(absl::StrCat("firing deadlines: ", fired.status().ToString()));
  if (*fired != fired_planned) {
    return Fail(absl::StrCat(*fired, " deadlines fired; the model expected ", fired_planned));
  }
  const bool handon_fails = guard_.jumped != 0 && plan.move_requests > 0;
  if (moved.ok() == handon_fails) {
    return Fail(absl::StrCat("handing on: ", moved.ok() ? "done" : moved.status().ToString(),
                             "; the model expected ", handon_fails ? "a refusal" : "it done"));
  }
  if (moved.ok()) {
    if (*moved != plan.moved) {
      return Fail(absl::StrCat(*moved, " cases handed on; the model expected ", plan.moved));
    }
    handon_first_ = false;
    handon_checked_ = now;
  }
  if (!ApplyPlan(plan)) return false;
  for (const auto& [id, c] : cases_) {
    if (!CheckCase(id)) return false;
  }
  return true;
}

bool Simulation::StepDeploy(bool cutting) {
  const auto latest = registry_.Latest(kWatch);
  const uint32_t last = latest ? latest->version() : 0;
  const uint64_t pick = Below(100);
  uint32_t version = last + 1;
  std::string source;
  std::string what;
  if (pick < 50) {
    source = WatchWorkflow(version, static_cast<int>(Between(1, 6)));
    what = "the next version";
  } else if (pick < 70) {
    version = static_cast<uint32_t>(Between(1, last));
    source = watch_sources_[version];
    what = "a version again";
  } else if (pick < 80) {
    version = static_cast<uint32_t>(Between(1, last));
    source = WatchWorkflow(version, 7);
    what = "a version again, changed";
  } else if (pick < 90) {
    version = last + 2;
    source = WatchWorkflow(version, 2);
    what = "a version too far";
  } else {
    source =
        absl::StrFormat("name: \"%s\" version: %d initial_stage: \"nowhere\"", kWatch, version);
    what = "a definition that does not validate";
  }
  op_ = absl::StrCat("deploy sim-watch v", version, ": ", what);
  // The model's answer.
  auto def = workflow::Definition::Parse(source, "sim-watch.textproto");
  absl::StatusCode code = absl::StatusCode::kOk;
  bool duplicate = false;
  if (!def.ok()) {
    code = def.status().code();
  } else if (auto existing = registry_.Get(kWatch, version)) {
    if (MessageDifferencer::Equals(existing->proto(), (*def)->proto())) {
      duplicate = true;
    } else {
      code = absl::StatusCode::kAlreadyExists;
    }
  } else if (guard_.jumped != 0) {
    code = absl::StatusCode::kUnavailable;
  } else if (version != last + 1) {
    code = absl::StatusCode::kFailedPrecondition;
  }
  std::promise<std::pair<absl::StatusOr<v1::DeployWorkflowResponse>, bool>> done;
  auto answer = done.get_future();
  engine_->workflows().DeployWorkflow(source, "sim-watch.textproto", Admin(),
                                      [this, &done](absl::StatusOr<v1::DeployWorkflowResponse> r) {
                                        done.set_value({std::move(r), power_->is_cut()});
                                      });
  auto [r, after_cut] = answer.get();
  Trace(absl::StrCat(
      op_, " -> ",
      r.ok() ? (r->duplicate() ? "duplicate" : "deployed") : r.status().ToString().substr(0, 100)));
  Uncertain u;
  u.kind = Uncertain::kDeploy;
  u.version = version;
  u.source = source;
  if (after_cut && cutting) {
    if (code == absl::StatusCode::kOk && !duplicate) uncertain_ = std::move(u);
    return true;
  }
  if (!r.ok() && !IsDecidedRefusal(r.status()) && fault_armed_ && guard_.jumped == 0) {
    if (code != absl::StatusCode::kOk || duplicate) u.kind = Uncertain::kNone;
    return AfterFault(std::move(u));
  }
  if (!r.ok()) {
    if (r.status().code() != code) {
      return Fail(absl::StrCat("deploying: ", r.status().ToString(), "; the model expected ",
                               absl::StatusCodeToString(code)));
    }
    return true;
  }
  if (code != absl::StatusCode::kOk || r->duplicate() != duplicate) {
    return Fail(absl::StrCat("deployed (duplicate: ", r->duplicate(), "); the model expected ",
                             absl::StatusCodeToString(code), ", duplicate ", duplicate));
  }
  if (duplicate) {
    if (r->position() != watch_positions_[version]) {
      return Fail("a deployment again answered with another position");
    }
    return true;
  }
  if (auto st = registry_.Add(*def); !st.ok()) return Fail(st.ToString());
  watch_sources_[version] = source;
  watch_positions_[version] = r->position();
  ++stats_.deployments;
  return true;
}

bool Simulation::StepImport() {
  std::vector<v1::DirectoryEntry> entries;
  std::string import_id = absl::StrCat("import-", step_);
  const uint64_t pick = Below(100);
  std::string what;
  if (pick < 15 && !sent_imports_.empty()) {
    const auto& again = OneOf(sent_imports_);
    import_id = again.first;
    entries = again.second;
    what = "an import again";
  } else if (pick < 30) {
    v1::DirectoryEntry& e = entries.emplace_back();
    const bool cadre = Chance(30);
    const std::string id = absl::StrCat(cadre ? "cadre" : "worker", "-sim-", ++new_people_);
    e.mutable_person()->set_person_id(id);
    e.mutable_person()->set_name(absl::StrCat("Person ", new_people_));
    e.mutable_person()->set_role(cadre ? v1::ROLE_CADRE : v1::ROLE_GRID_WORKER);
    e.mutable_person()->set_unit_id(Chance(50) ? "jiangan-07-03" : "jiangan-07-04");
    what = "a new person";
  } else if (pick < 36) {
    v1::DirectoryEntry& e = entries.emplace_back();
    e.mutable_person()->set_person_id(absl::StrCat("worker-sim-x", step_));
    e.mutable_person()->set_role(v1::ROLE_GRID_WORKER);
    e.mutable_person()->set_unit_id("jiangan-99");
    what = "a person of a unit that does not exist";
  } else {
    const int n = static_cast<int>(Between(1, 2));
    what = "availability";
    for (int i = 0; i < n; ++i) {
      v1::DirectoryEntry& e = entries.emplace_back();
      auto* a = e.mutable_availability();
      a->set_person_id(OneOf(people_));
      const uint64_t k = Below(100);
      const int64_t now = Wall();
      if (k < 40) {
        a->set_availability(v1::AVAILABILITY_UNAVAILABLE);
      } else if (k < 55) {
        a->set_availability(v1::AVAILABILITY_UNAVAILABLE);
        *a->mutable_until() = WholeSeconds(now + Between(2 * kHourUs, 2 * kDayUs));
      } else if (k < 70) {
        a->set_availability(v1::AVAILABILITY_UNAVAILABLE);
        *a->mutable_from() = WholeSeconds(now + Between(kHourUs, kDayUs));
      } else if (k < 95) {
        a->set_availability(v1::AVAILABILITY_ON_DUTY);
      } else {
        a->set_availability(v1::AVAILABILITY_OFF_DUTY);
      }
      a->set_reason("sim");
    }
  }
  op_ = absl::StrCat("import ", import_id, ": ", what);
  // The model's answer (Staffing::ImportDirectory).
  const bool known = imports_.count(import_id) != 0;
  const int64_t moment = known ? imports_[import_id].first : Wall();
  auto scratch = directory_.Clone();
  absl::Status check;
  for (const auto& e : entries) {
    check = scratch->Check(e);
    if (!check.ok()) break;
    scratch->Apply(e, moment);
  }
  absl::StatusCode code = check.code();
  if (check.ok() && guard_.jumped != 0) code = absl::StatusCode::kUnavailable;
  const size_t before = known ? imports_[import_id].second : 0;
  auto result = engine_->staffing().ImportDirectory(entries, import_id, Admin());
  Trace(absl::StrCat(op_, " -> ",
                     result.ok()
                         ? absl::StrCat(result->written, " written, ", result->moved, " moved")
                         : result.status().ToString().substr(0, 100)));
  // The hand-overs it leads to, on the directory it leaves.
  auto plan_moves = [&](const Directory& dir) {
    Plan plan;
    States states = Snapshot();
    std::set<std::string> ids = engine_ids_;
    const int64_t now = Wall();
    for (const auto& e : entries) {
      if (!e.has_availability()) continue;
      auto person = dir.FindPerson(e.availability().person_id());
      if (!person || dir.IsAvailable(*person, now)) continue;
      PlanMoves(&states, dir, person->id, "unavailable", now, &ids, &plan);
    }
    return plan;
  };
  if (!result.ok()) {
    if (result.status().code() != code) {
      return Fail(absl::StrCat("importing: ", result.status().ToString(), "; the model expected ",
                               absl::StatusCodeToString(code)));
    }
    return true;
  }
  if (code != absl::StatusCode::kOk) {
    return Fail(absl::StrCat("imported; the model expected ", absl::StatusCodeToString(code)));
  }
  if (!known) sent_imports_.emplace_back(import_id, entries);
  if (!ReadDirectoryRecords(import_id, entries.size())) return false;
  if (result->written != entries.size() - std::min(before, entries.size())) {
    return Fail(absl::StrCat(result->written, " directory records written; the model expected ",
                             entries.size() - before));
  }
  const Plan plan = plan_moves(directory_);
  if (result->moved != plan.moved) {
    return Fail(absl::StrCat(result->moved, " cases handed on; the model expected ", plan.moved));
  }
  ++stats_.imports;
  if (!ApplyPlan(plan)) return false;
  for (const auto& [id, c] : cases_) {
    if (!CheckCase(id)) return false;
  }
  return true;
}

bool Simulation::StepFlush(bool cutting, int partition) {
  const uint32_t p =
      partition >= 0 ? static_cast<uint32_t>(partition) : static_cast<uint32_t>(Below(kPartitions));
  const bool compact = Chance(15);
  op_ = absl::StrCat(compact ? "compact" : "flush", " partition ", p);
  PartitionStore& store = engine_->partitions().store(PartitionId(p));
  absl::Status st = compact ? store.Compact() : store.Flush();
  Trace(absl::StrCat(op_, " -> ", st.ToString().substr(0, 100)));
  if (cutting) return true;
  if (!st.ok() && fault_armed_) return AfterFault(Uncertain{});
  if (!st.ok()) return Fail(absl::StrCat(op_, ": ", st.ToString()));
  return true;
}

// The power goes at a seeded moment: inside a submission, an ingest
// message or a deployment (at its write-ahead-log append, at its sync, or
// just after), inside a flush or a compaction (at any file operation), or
// right after a round or an import. Inside a single submission the moment
// is a function of the seed; what a flush does is durable already.
bool Simulation::StepCut() {
  ++stats_.cuts;
  const uint64_t pick = Below(100);
  const uint64_t ops = 1 + Below(pick < 75 ? 3 : 12);
  std::string where;
  bool ok = true;
  if (pick < 75) {
    wal_cut_->CutAtWalOperation(ops);
    where = absl::StrCat("at write-ahead-log operation ", ops, " of: ");
    if (pick < 50) {
      ok = StepSubmit(true);
    } else if (pick < 62) {
      ok = StepIngest(true);
    } else {
      ok = StepDeploy(true);
    }
    wal_cut_->CutAtWalOperation(0);
  } else if (pick < 85) {
    power_->CutAfter(ops);
    where = absl::StrCat("at file operation ", ops, " of: ");
    ok = StepFlush(true);
  } else {
    where = "right after: ";
    ok = Chance(60) ? StepRound() : StepImport();
  }
  if (!ok) return false;
  const std::string during = op_;
  op_ = absl::StrCat("power cut ", where, during);
  power_->Cut();
  Trace(op_);
  return Reopen(/*cut=*/true);
}

// A disk fault in one partition, for the operations that follow: for the
// write-ahead log's faults, one to four submissions, ingest messages or
// deployments (the first that meets it is uncertain, and the engine
// restarts on a sound disk; if none met it, it is taken away); for the
// faults of table files, the MANIFEST and the directory, a flush or a
// compaction of that partition, and then a restart on a sound disk
// whether or not it met the fault: RocksDB's background compactions may
// meet it first, when they will, and nothing that follows may depend on
// which. (Faults of reads are left to disk_fault_test for the same
// reason: a background compaction reading a table file would meet them
// at a moment no seed decides.)
bool Simulation::StepFault() {
  static const FaultTarget kTargets[] = {FaultTarget::kWalAppend, FaultTarget::kWalSync,
                                         FaultTarget::kTableWrite, FaultTarget::kManifestWrite,
                                         FaultTarget::kDirSync};
  FaultRule rule;
  rule.target = kTargets[Below(5)];
  rule.kind = Chance(50) ? FaultKind::kIoError : FaultKind::kNoSpace;
  rule.mode = Chance(60) ? FaultMode::kOnce : FaultMode::kFromNth;
  rule.nth = static_cast<uint64_t>(Between(2, 3));
  const uint32_t p = static_cast<uint32_t>(Below(kPartitions));
  rule.path_contains = fs::path(PartitionDir(Data(), p)).filename().string() + "/";
  std::ostringstream s;
  PrintTo(rule, &s);
  op_ = absl::StrCat("disk fault armed: ", s.str());
  Trace(op_);
  faults_->Arm(rule);
  fault_armed_ = true;
  ++stats_.faults_armed;
  if (rule.target != FaultTarget::kWalAppend && rule.target != FaultTarget::kWalSync) {
    if (!StepFlush(false, static_cast<int>(p))) return false;
    if (!fault_armed_) return true;  // the flush met it, and the engine restarted
    op_ = "restart after a disk fault";
    Trace(op_);
    return Reopen(/*cut=*/false);
  }
  const int ops = static_cast<int>(Between(1, 4));
  for (int i = 0; i < ops && fault_armed_ && !failed(); ++i) {
    const uint64_t pick = Below(100);
    if (pick < 70) {
      StepSubmit(false);
    } else if (pick < 85) {
      StepIngest(false);
    } else {
      StepDeploy(false);
    }
  }
  if (failed()) return false;
  if (!fault_armed_) return true;  // met, and the engine restarted
  if (faults_->injected() > 0) return Fail("a write-ahead-log fault was met and nothing showed it");
  faults_->Disarm();
  fault_armed_ = false;
  return true;
}

bool Simulation::ResolveUncertain() {
  Uncertain u = std::move(uncertain_);
  uncertain_ = Uncertain{};
  switch (u.kind) {
    case Uncertain::kNone:
      return true;
    case Uncertain::kSubmit: {
      if (u.expected.kind != Expected::kAccept) return true;
      bool taken = false;
      if (!Take(u.request.event().case_id(), u.request, /*must=*/false, &taken)) return false;
      ++(taken ? stats_.uncertain_kept : stats_.uncertain_lost);
      if (taken) ++stats_.accepted;
      return true;
    }
    case Uncertain::kIngest: {
      const std::string source = absl::StrCat(kTopic, "/", u.message.source);
      const auto& stored = decided_in_[u.route.value()];
      auto it = stored.find(source);
      const bool decided = it != stored.end() && it->second >= u.message.offset;
      bool taken = false;
      if (u.expected.kind == Expected::kAccept) {
        if (!Take(u.request.event().case_id(), u.request, /*must=*/false, &taken)) return false;
        if (taken != decided) {
          return Fail(absl::StrCat("after the restart the ingest message at offset ",
                                   u.message.offset, decided ? " is decided" : " is not decided",
                                   " but its event is ", taken ? "there" : "missing",
                                   ": the offset and the records are not written together"));
        }
      }
      if (decided) {
        if (u.expected.kind == Expected::kRefuse) {
          dead_letters_[{u.route.value(), source, u.message.offset}] = {
              static_cast<int32_t>(u.expected.code), u.message.bytes};
        }
        offsets_[u.route.value()][source] = u.message.offset;
        if (taken) ++stats_.accepted;
      }
      ++(decided ? stats_.uncertain_kept : stats_.uncertain_lost);
      return true;
    }
    case Uncertain::kDeploy: {
      auto got = engine_->workflows().GetWorkflow(kWatch, u.version);
      ++(got.ok() ? stats_.uncertain_kept : stats_.uncertain_lost);
      if (!got.ok()) return true;
      auto def = workflow::Definition::Parse(u.source, "sim-watch.textproto");
      if (!def.ok() || !MessageDifferencer::Equals((*def)->proto(), *got)) {
        return Fail("a deployment cut short came back with other content");
      }
      if (auto st = registry_.Add(*def); !st.ok()) return Fail(st.ToString());
      watch_sources_[u.version] = u.source;
      auto timeline = Timeline(workflow::WorkflowCaseId(kWatch));
      if (!timeline.ok() || timeline->size() < u.version) {
        return Fail("the deployment's record is missing");
      }
      watch_positions_[u.version] = (*timeline)[u.version - 1].position();
      ++stats_.deployments;
      return true;
    }
  }
  return true;
}

bool Simulation::Step() {
  // Time passes while the driver works, a little between any two steps
  // (a frozen clock would make instants repeat that never repeat).
  clock_.AdvanceMicros(Between(kMillisecondUs, kSecondUs / 2));
  if (!Reading()) return false;
  if (options_.sabotage == Sabotage::kUnsyncedDisk && step_ == 10) return StepCut();
  // While the clock stands jumped, an operator or time sync soon acts.
  if (guard_.jumped != 0 && Chance(35)) return StepFixJump();
  const uint64_t pick = Below(1000);
  if (pick < 400) return StepSubmit(false);
  if (pick < 480) return StepIngest(false);
  if (pick < 600) return StepClock(0);
  if (pick < 630) return StepClock(1);
  if (pick < 650) return StepClock(2);
  if (pick < 750) return StepRound();
  if (pick < 780) return StepDeploy(false);
  if (pick < 830) return StepImport();
  if (pick < 860) return StepFlush(false);
  if (pick < 900) return StepCut();
  if (pick < 930) return StepFault();
  if (pick < 950) {
    op_ = "restart";
    Trace(op_);
    return Reopen(/*cut=*/false);
  }
  if (Chance(50)) {
    op_ = "list cases";
    Trace(op_);
    return CheckListing();
  }
  if (cases_.empty()) return true;
  auto it = cases_.begin();
  std::advance(it, Below(cases_.size()));
  op_ = absl::StrCat("read ", it->first);
  Trace(op_);
  return CheckCase(it->first);
}

SimulationResult Simulation::Run() {
  SimulationResult result;
  op_ = "setting up";
  std::error_code ec;
  fs::create_directories(options_.work_dir, ec);
  fs::copy(options_.template_dir, Data(), fs::copy_options::recursive, ec);
  if (ec) {
    Fail(absl::StrCat("copying the template: ", ec.message()));
    result.failure = failure_;
    return result;
  }
  power_ = std::make_shared<PowerCutFs>(options_.work_dir + "/scratch");
  wal_cut_ = std::make_shared<WalCutFs>(power_);
  faults_ = std::make_shared<StackedFaultFs>(wal_cut_);
  env_ = std::make_unique<SimulationEnv>(EnvOver(faults_));
  // The template's clock anchor, as the guard that wrote it left it.
  guard_.file = true;
  guard_.file_wall = kStartUs;
  guard_.file_mono = 0;
  if (Open()) {
    // The model starts from what the template holds.
    const v1::ListWorkflowsResponse deployed = engine_->workflows().ListWorkflows();
    for (const auto& w : deployed.workflows()) {
      auto def =
          workflow::Definition::FromProto(*engine_->workflows().GetWorkflow(w.name(), w.version()));
      if (!def.ok() || !registry_.Add(*def).ok()) Fail("the template's workflows do not load");
      if (w.name() == kWatch) {
        watch_sources_[w.version()] = WatchWorkflow(w.version(), 2);
        watch_positions_[w.version()] =
            (*Timeline(workflow::WorkflowCaseId(kWatch)))[w.version() - 1].position();
      }
    }
    auto timeline = Timeline(kDirectoryCaseId);
    if (timeline.ok()) {
      for (const auto& r : *timeline) {
        ApplyDirectoryRecord(r, &directory_);
        if (auto e = EntryOf(r.event()); e && e->has_person()) {
          people_.push_back(e->person().person_id());
        }
      }
      directory_records_ = timeline->size();
      imports_["example"] = {
          timeline->empty() ? 0 : Micros(timeline->front().event().occurred_at()),
          timeline->size()};
    }
    if (options_.sabotage == Sabotage::kUnsyncedDisk) power_->SetHonourSyncs(false);
    if (!failed()) VerifyAll();
  }
  for (step_ = 1; step_ <= options_.steps && !failed(); ++step_) {
    ++stats_.steps;
    Step();
  }
  // The end: the clock put right, a last round, every check, the heads, and
  // a rebuild from the log.
  step_ = options_.steps + 1;
  if (!failed() && guard_.jumped != 0) {
    op_ = "the end: the clock accepted";
    auto accepted = engine_->AcceptClock();
    guard_.Accept(Wall(), clock_.MonotonicMicros());
    if (!accepted.ok()) Fail(accepted.status().ToString());
    max_wall_ = std::max(max_wall_, Wall());
  }
  if (!failed() && fault_armed_) {
    op_ = "the end: a restart on a sound disk";
    Reopen(/*cut=*/false);
  }
  if (!failed()) StepRound();
  op_ = "the end";
  if (!failed()) VerifyAll();
  if (!failed()) {
    for (uint32_t p = 0; p < kPartitions; ++p) {
      const auto [position, hash] =
          engine_->partitions().sequencer(PartitionId(p)).committed_head();
      result.heads.push_back(absl::StrCat(position.value(), ":", absl::BytesToHexString(hash)));
    }
  }
  engine_.reset();
  if (!failed() && options_.rebuild) Rebuild();
  stats_.runs = 1;
  result.failure = failure_;
  result.stats = stats_;
  return result;
}

}  // namespace

void SimulationStats::Add(const SimulationStats& o) {
  runs += o.runs;
  steps += o.steps;
  submissions += o.submissions;
  accepted += o.accepted;
  duplicates += o.duplicates;
  refused += o.refused;
  conflicts += o.conflicts;
  invalid += o.invalid;
  unavailable += o.unavailable;
  ingested += o.ingested;
  dead_letters += o.dead_letters;
  deployments += o.deployments;
  imports += o.imports;
  handovers += o.handovers;
  fired += o.fired;
  clock_moves += o.clock_moves;
  steps_back += o.steps_back;
  jumps += o.jumps;
  jumps_accepted += o.jumps_accepted;
  cuts += o.cuts;
  faults_armed += o.faults_armed;
  faults_injected += o.faults_injected;
  restarts += o.restarts;
  rebuilds += o.rebuilds;
  uncertain_kept += o.uncertain_kept;
  uncertain_lost += o.uncertain_lost;
  records += o.records;
}

std::string SimulationStats::ToString() const {
  return absl::StrCat(
      runs, " seeds, ", steps, " steps: ", submissions, " submissions (", accepted, " accepted, ",
      duplicates, " duplicates, ", refused, " refused of which ", conflicts,
      " version conflicts and ", invalid, " invalid, ", unavailable,
      " refused while the clock stood jumped), ", ingested, " ingest messages decided (",
      dead_letters, " dead letters), ", deployments, " deployments, ", imports,
      " directory imports, ", handovers, " hand-overs, ", fired, " deadlines fired, ", clock_moves,
      " clock moves (", steps_back, " back, ", jumps, " jumps, ", jumps_accepted, " accepted), ",
      cuts, " power cuts, ", faults_armed, " disk faults armed (", faults_injected, " fired), ",
      restarts, " restarts, ", rebuilds, " rebuilds compared; cut short: ", uncertain_kept,
      " found durable, ", uncertain_lost, " not; ", records, " records in the logs at the end");
}

absl::Status PrepareSimulationTemplate(const std::string& dir) {
  FakeClock clock(kStartUs);
  auto engine = Engine::Open(OptionsFor(dir, nullptr), &clock);
  if (!engine.ok()) return engine.status();
  auto files = workflow::ReadWorkflowDir(ShippedWorkflowDir());
  if (!files.ok()) return files.status();
  for (const auto& file : *files) {
    if (auto r = DeploySync(**engine, file.source, file.path); !r.ok()) return r.status();
  }
  if (auto r = DeploySync(**engine, WatchWorkflow(1, 2), "sim-watch.textproto"); !r.ok()) {
    return r.status();
  }
  auto imported = (*engine)->staffing().ImportDirectory(ExampleDirectory(), "example", Admin());
  if (!imported.ok()) return imported.status();
  for (uint32_t p = 0; p < kPartitions; ++p) {
    if (auto st = (*engine)->partitions().store(PartitionId(p)).Flush(); !st.ok()) return st;
  }
  return absl::OkStatus();
}

SimulationResult RunSimulation(const SimulationOptions& options) {
  return Simulation(options).Run();
}

}  // namespace gridcase::testing
