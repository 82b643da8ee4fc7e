// The ingest: events read from a Kafka topic, each decided exactly once.
//
// A consumer in a group reads the ingest topic. Each message becomes a
// submission through Engine::SubmitFromStream: the same validation and
// idempotency as gRPC, and the message's offset written in the same
// WriteBatch as what it led to (its records, or a dead letter when refused).
// Kafka's committed offsets are not trusted for this; on every assignment
// the consumer seeks from what the store says:
//
//   * "ext/kafka_ingest/TOPIC/P" in partition 0: every offset below it is
//     decided (saved a few times a second, so it may lag);
//   * "stream_offset/TOPIC/P" in each engine partition: the last offset
//     decided there. A partition's queue is FIFO and its groups are atomic,
//     so what it decided of one Kafka partition is a prefix; a message read
//     again after a crash is skipped when its engine partition already
//     decided it, and submitted otherwise.
//
// So no message is applied twice or skipped, across crashes and
// rebalances. Refused messages (bad input, a case that does not exist...)
// are kept as dead letters in the same write, and a second loop hands them
// to the dead-letter topic (original bytes; the reason in headers) and
// removes them once Kafka confirms: the consumer never stops or loops on
// bad input. A failure of the server itself (storage) stops the ingest
// with the error in the status; a restart resumes where it stood.
#ifndef GRIDCASE_SERVICES_KAFKA_INGEST_H_
#define GRIDCASE_SERVICES_KAFKA_INGEST_H_

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <set>
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
class KafkaConsumer;
class Message;
class Producer;
}  // namespace RdKafka

namespace gridcase::kafka {

// Dead-letter headers.
inline constexpr char kHeaderErrorCode[] = "gridcase-error-code";
inline constexpr char kHeaderError[] = "gridcase-error";
inline constexpr char kHeaderSourceTopic[] = "gridcase-source-topic";
inline constexpr char kHeaderSourcePartition[] = "gridcase-source-partition";
inline constexpr char kHeaderSourceOffset[] = "gridcase-source-offset";
// On a letter handed on without the message's bytes: why (its case was
// erased, so its key is gone; or its sealed bytes do not open).
inline constexpr char kHeaderWithheld[] = "gridcase-original-withheld";

// A message's bytes as a submission: JSON (an Event, or a SubmitRequest
// with an "event" key) or a protobuf Event, per `format` ("auto": JSON when
// the first non-blank byte is '{'). A missing event_id becomes
// "kafka:TOPIC:PARTITION:OFFSET", so that a message read twice is one event.
absl::StatusOr<v1::SubmitRequest> ParseMessage(const std::string& bytes, const std::string& format,
                                               const std::string& topic, int32_t partition,
                                               int64_t offset);

class Ingest {
 public:
  // Subscribes and starts consuming. `engine` must outlive the ingest.
  static absl::StatusOr<std::unique_ptr<Ingest>> Start(Engine* engine, const KafkaOptions& options);
  ~Ingest();
  // Stops consuming, waits for the messages in flight to be decided, saves
  // the decided offsets, leaves the group. Idempotent.
  void Stop();

  std::vector<v1::IngestPartitionStatus> Status() const;
  // Dead letters Kafka has not confirmed yet: those in the store, counted
  // when asked (a letter is removed from the store once Kafka confirms it).
  absl::StatusOr<uint64_t> DeadLettersPending() const;
  std::string error() const;

  class Rebalance;

 private:
  // One Kafka partition of the ingest topic assigned to this consumer.
  struct Source {
    std::string name;  // "TOPIC/P"
    int32_t partition = 0;
    std::map<uint32_t, int64_t> decided_in;  // engine partition -> last offset decided there
    std::set<int64_t> in_flight;             // submitted, not yet answered
    int64_t read_to = -1;                    // the last offset read
    int64_t decided_before = 0;              // every offset below is decided
    int64_t saved = -1;
    uint64_t applied = 0, duplicates = 0, dead_lettered = 0, skipped = 0;
  };
  Ingest(Engine* engine, const KafkaOptions& options);
  void Consume();
  void HandOnDeadLetters();
  void Handle(RdKafka::Message& message);
  void Answered(int32_t partition, int64_t offset,
                const absl::StatusOr<v1::SubmitResponse>& result);
  // Where to read `partition` from, per the store; fills its Source.
  absl::StatusOr<int64_t> Assign(int32_t partition);
  void WaitInFlight();
  // After a poll of the dead-letter producer: what Kafka confirmed leaves
  // the store.
  void RemoveConfirmedLetters();
  void SaveDecided(bool force);
  std::string MetaName(int32_t partition) const;

  Engine* const engine_;
  const KafkaOptions options_;
  std::unique_ptr<Rebalance> rebalance_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::unique_ptr<RdKafka::Producer> dead_letters_;
  mutable absl::Mutex mu_;
  absl::CondVar answered_cv_;
  std::map<int32_t, Source> sources_ ABSL_GUARDED_BY(mu_);
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  std::string error_ ABSL_GUARDED_BY(mu_);
  // Dead-letter loop only: letters produced and not yet confirmed; those
  // confirmed, by partition, removed together after each poll.
  std::set<std::string> letters_in_flight_;
  std::map<uint32_t, std::vector<std::string>> letters_confirmed_;
  std::chrono::steady_clock::time_point letters_removed_at_;
  std::atomic<bool> stop_{false};
  bool stopped_ = false;
  std::chrono::steady_clock::time_point last_save_;
  std::thread consumer_thread_;
  std::thread letters_thread_;
};

}  // namespace gridcase::kafka

#endif  // GRIDCASE_SERVICES_KAFKA_INGEST_H_
