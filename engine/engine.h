// The engine: a fixed set of partitions, each a RocksDB database with one
// sequencer thread, behind one facade that routes by case.
//
//   data_dir/GRIDCASE          format version and partition count
//   data_dir/partition-NNN/    one RocksDB database per partition
//
// A case lives in partition fnv1a64(case_id) % partitions, for ever: the
// partition count is fixed when the data directory is created.
//
// Thread-safety: every public method may be called from any thread.
#ifndef GRIDCASE_ENGINE_ENGINE_H_
#define GRIDCASE_ENGINE_ENGINE_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "engine/case_logic.h"
#include "engine/clock.h"
#include "engine/sequencer.h"
#include "engine/store.h"
#include "engine/validate.h"
#include "gridcase/v1/service.pb.h"

namespace gridcase {

struct EngineOptions {
  std::string data_dir;
  // 0: the count stored in an existing data directory, or
  // kDefaultPartitions for a new one. Otherwise must equal the stored count.
  uint32_t partitions = 0;
  SequencerOptions sequencer;
  ValidationLimits limits;
  // Storage environment of every partition; nullptr is RocksDB's default
  // (real files, real fsync). Tests pass one that injects faults.
  rocksdb::Env* env = nullptr;
};

inline constexpr uint32_t kDefaultPartitions = 4;
inline constexpr uint32_t kPartitionsMax = 256;
inline constexpr uint32_t kPageSizeDefault = 100;
inline constexpr uint32_t kPageSizeMax = 1000;

// Stable across builds and machines (unlike std::hash or absl::Hash).
uint64_t Fnv1a64(absl::string_view s);

class Engine {
 public:
  // `clock` must outlive the engine. `logic` defaults to BuiltinCaseLogic.
  static absl::StatusOr<std::unique_ptr<Engine>> Open(
      const EngineOptions& options, const Clock* clock,
      std::unique_ptr<CaseLogic> logic = nullptr);
  ~Engine();

  // Validates and queues a submission; `done` is called exactly once (see
  // SubmitCallback). Refusals: INVALID_ARGUMENT (shape), ALREADY_EXISTS
  // (event_id reused with other content), FAILED_PRECONDITION (expected
  // version), NOT_FOUND (event needs an existing case), RESOURCE_EXHAUSTED
  // (queue full), UNAVAILABLE (stopping, storage failure).
  void Submit(v1::SubmitRequest request, SubmitCallback done);

  absl::StatusOr<v1::CaseState> GetCase(absl::string_view case_id) const;
  absl::StatusOr<v1::GetTimelineResponse> GetTimeline(
      const v1::GetTimelineRequest& request) const;
  absl::StatusOr<v1::ListCasesResponse> ListCases(
      const v1::ListCasesRequest& request) const;

  // Refuses new submissions, answers every queued one, stops the threads.
  // Idempotent; the destructor calls it.
  void Stop();

  uint32_t partition_count() const { return static_cast<uint32_t>(parts_.size()); }
  PartitionId PartitionOf(absl::string_view case_id) const;
  const std::string& data_dir() const { return options_.data_dir; }

 private:
  struct Part {
    std::unique_ptr<PartitionStore> store;
    std::unique_ptr<Sequencer> sequencer;
  };
  Engine(const EngineOptions& options, const Clock* clock,
         std::unique_ptr<CaseLogic> logic);
  // ALREADY_EXISTS when `event_id` was used in another partition than
  // `home` (necessarily for another case, since a case has one partition).
  absl::Status CheckEventIdElsewhere(const v1::Event& event, PartitionId home) const;

  EngineOptions options_;
  const Clock* const clock_;
  std::unique_ptr<CaseLogic> logic_;
  std::vector<Part> parts_;
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_ENGINE_H_
