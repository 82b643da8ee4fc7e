// The change feed: every record of the log, submitted and derived, published
// to a Kafka topic, keyed by case id.
//
// One thread reads each partition's log from its cursor and hands records
// to librdkafka's idempotent producer (acks=all, no delivery timeout: while
// Kafka is away, messages wait and are retried, in order). Records of one
// case share a key, hence a Kafka partition, and leave in log order, so
// consumers see each case in version order. A partition's published
// position advances only over records Kafka confirmed, contiguously, and is
// saved in the partition's meta ("ext/kafka_feed/TOPIC") a few times a
// second and at shutdown: a restart resumes after the last saved position.
// Nothing is skipped; after a crash the records between the saved and the
// confirmed position are sent again, recognisable by (case id, case
// version), which every message carries in its headers.
//
// The feed only reads the store: submissions never wait for it, and the
// lag (log position - published position) is in Status().
#ifndef GRIDCASE_SERVICES_KAFKA_FEED_H_
#define GRIDCASE_SERVICES_KAFKA_FEED_H_

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/engine.h"
#include "gridcase/v1/service.pb.h"
#include "services/kafka/kafka.h"

namespace RdKafka {
class Producer;
}

namespace gridcase::kafka {

// Message headers of the feed.
inline constexpr char kHeaderCaseId[] = "gridcase-case-id";
inline constexpr char kHeaderCaseVersion[] = "gridcase-case-version";
inline constexpr char kHeaderPartition[] = "gridcase-partition";
inline constexpr char kHeaderPosition[] = "gridcase-position";
inline constexpr char kHeaderEventType[] = "gridcase-event-type";
inline constexpr char kHeaderContentType[] = "content-type";

class ChangeFeed {
 public:
  // Starts publishing. `engine` must outlive the feed.
  static absl::StatusOr<std::unique_ptr<ChangeFeed>> Start(Engine* engine,
                                                           const KafkaOptions& options);
  ~ChangeFeed();

  // Stops reading, waits up to `grace` for what is in flight, saves the
  // published positions. Idempotent.
  void Stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

  // Per partition: log position, published position, lag, errors.
  std::vector<v1::FeedPartitionStatus> Status() const;

  // Waits until every partition's published position reaches `positions`
  // (by partition), or `timeout`. For tests and orderly hand-overs.
  bool AwaitPublished(const std::vector<uint64_t>& positions, std::chrono::milliseconds timeout);

  class Delivery;  // librdkafka's delivery-report callback

 private:
  struct Cursor {
    uint64_t next = 1;           // the next position to send
    uint64_t confirmed = 0;      // every position up to here is confirmed
    uint64_t saved = 0;          // as saved in meta
    std::deque<bool> in_flight;  // positions confirmed+1..next-1: delivered yet?
    std::string error;           // set: publishing of this partition stopped
  };
  ChangeFeed(Engine* engine, const KafkaOptions& options);
  void Run();
  // Sends what partition `p` has after its cursor; returns how many.
  size_t SendSome(uint32_t p);
  void Delivered(uint32_t partition, uint64_t position, const std::string& error);
  void SaveConfirmed(bool force);
  std::string MetaName() const { return "kafka_feed/" + options_.feed_topic; }

  Engine* const engine_;
  const KafkaOptions options_;
  std::unique_ptr<Delivery> delivery_;
  std::unique_ptr<RdKafka::Producer> producer_;
  mutable absl::Mutex mu_;  // guards cursors_ and fatal_ (the thread writes; Status reads)
  absl::CondVar published_cv_;
  std::vector<Cursor> cursors_;
  std::string fatal_;
  std::atomic<bool> stop_{false};
  bool stopped_ = false;
  std::chrono::steady_clock::time_point last_save_;
  std::thread thread_;
};

}  // namespace gridcase::kafka

#endif  // GRIDCASE_SERVICES_KAFKA_FEED_H_
