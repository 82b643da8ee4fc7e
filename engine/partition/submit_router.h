// Routes a submission to its case's sequencer, first making sure its event
// id was not used in another partition (PartitionSet::CheckEventIdElsewhere).
//
// That check costs a RocksDB read wherever another partition's id filter
// cannot rule the id out: until the scan at open has filled the filters,
// and on a filter's false positive. Submit() is called on gRPC callback
// threads, which must not block, so such a submission is handed to a
// worker thread that reads, then queues it to the sequencer; the caller's
// thread only consults the filters in memory. Order per case is kept:
// while a case has a submission with a worker, its later submissions go
// through the same worker (one per case, by hash), behind it.
//
// Thread-safety: every method may be called from any thread.
#ifndef GRIDCASE_ENGINE_PARTITION_SUBMIT_ROUTER_H_
#define GRIDCASE_ENGINE_PARTITION_SUBMIT_ROUTER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "engine/partition/partition_set.h"
#include "engine/partition/sequencer.h"

namespace gridcase {

class SubmitRouter {
 public:
  // `partitions` must outlive the router, its sequencers started. Each of
  // `workers` threads holds at most `queue_capacity` submissions; beyond
  // that they are refused with RESOURCE_EXHAUSTED, as a full sequencer
  // refuses them.
  SubmitRouter(PartitionSet* partitions, size_t workers, size_t queue_capacity);
  ~SubmitRouter();  // Stop()s

  // Queues a validated submission to partition `home`'s sequencer once its
  // event id is known not to be another partition's; `done` is called
  // exactly once, as Sequencer::Submit calls it, or with the
  // ALREADY_EXISTS of an id used elsewhere, or the failure to look.
  void Submit(v1::SubmitRequest request, PartitionId home, SubmitCallback done);

  // Submits what the workers hold (each checked as usual), refuses what
  // comes after with UNAVAILABLE, and joins the workers. Before the
  // sequencers stop. Idempotent.
  void Stop();

  // Submissions handed to a worker since the router started: in all, and
  // those for partition `home`. (The cost of never blocking a callback
  // thread, reported by GetServerStats.)
  uint64_t deferred() const;
  uint64_t deferred(PartitionId home) const {
    return deferred_[home.value()].load(std::memory_order_relaxed);
  }

 private:
  struct Job {
    v1::SubmitRequest request;
    PartitionId home;
    SubmitCallback done;
  };
  // The loop of worker thread `worker`.
  void Run(size_t worker);
  void Check(Job job) const;

  PartitionSet* const partitions_;
  const size_t queue_capacity_;
  std::vector<std::atomic<uint64_t>> deferred_;  // by home partition
  // Submissions with a worker, over all: while 0, none is looked up below.
  std::atomic<uint64_t> held_{0};
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Submissions held, by case.
  absl::flat_hash_map<std::string, size_t> cases_ ABSL_GUARDED_BY(mu_);
  // One queue per worker thread; a case always goes to the same one.
  std::vector<std::deque<Job>> queues_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_PARTITION_SUBMIT_ROUTER_H_
