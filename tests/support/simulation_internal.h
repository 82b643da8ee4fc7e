// The seeded simulation's insides (simulation.h is its face): the model's
// types, the file systems it stacks under the engine, and the driver, whose
// member functions live in three files by what they do:
//   simulation.cc        the engine (open, reopen, submit), a run, the
//                        public entry points
//   simulation_model.cc  the reference model (fold, predict, plan what the
//                        engine writes by itself) and the checks against it
//   simulation_steps.cc  the seeded generators and the steps
// For those files only.
#ifndef GRIDCASE_TESTS_SUPPORT_SIMULATION_INTERNAL_H_
#define GRIDCASE_TESTS_SUPPORT_SIMULATION_INTERNAL_H_

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
#include "tests/support/simulation.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase::testing::sim {

namespace fs = std::filesystem;
using google::protobuf::util::MessageDifferencer;

inline constexpr uint32_t kPartitions = 2;
inline constexpr int64_t kMillisecondUs = 1000;
inline constexpr int64_t kSecondUs = 1000 * kMillisecondUs;
inline constexpr int64_t kMinuteUs = 60 * kSecondUs;
inline constexpr int64_t kHourUs = 60 * kMinuteUs;
inline constexpr int64_t kDayUs = 24 * kHourUs;
inline constexpr int64_t kStartUs = kFeb22EveningUs;
inline constexpr int64_t kJumpLimitUs = kMinuteUs;
inline constexpr char kTopic[] = "sim-in";
inline constexpr int kSources = 2;
inline constexpr char kWatch[] = "sim-watch";
inline constexpr size_t kTraceSteps = 30;

// The simulation's own workflow: a resident watched until reached, with a
// deadline renewed by its own expiry and a ladder that climbs by itself.
// Versions differ in their hours.
inline std::string WatchWorkflow(uint32_t version, int ping_hours) {
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

inline EngineOptions OptionsFor(const std::string& data_dir, rocksdb::Env* env) {
  EngineOptions options;
  options.data_dir = data_dir;
  options.partitions = kPartitions;
  options.env = env;
  options.clock_jump_limit_us = kJumpLimitUs;
  options.id_check_threads = 1;
  return options;
}

inline v1::Actor Admin() {
  v1::Actor a;
  a.set_id("admin-sim");
  a.set_kind(v1::ACTOR_KIND_PERSON);
  return a;
}

inline std::string Diff(const google::protobuf::Message& want,
                        const google::protobuf::Message& got) {
  std::string out;
  MessageDifferencer d;
  d.ReportDifferencesToString(&out);
  d.Compare(want, got);
  if (out.size() > 600) out = out.substr(0, 600) + "...";
  return out;
}

inline std::string Describe(const v1::Event& e) {
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
  // A record the engine wrote outside the cases the model folds (the
  // directory's, a deployment's): the partition's last position and
  // recorded time, which the next record's time is held at.
  void NoteRecord(const v1::Record& record);

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
  // By partition, of the last record the model knows: the engine holds
  // recorded time at it when the wall clock is behind.
  std::map<uint32_t, int64_t> last_recorded_;
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

}  // namespace gridcase::testing::sim

#endif  // GRIDCASE_TESTS_SUPPORT_SIMULATION_INTERNAL_H_
