// librdkafka's mock cluster (an in-process Kafka-protocol broker on real
// loopback ports) and plain clients to write and read its topics, for the
// Kafka tests.
#ifndef GRIDCASE_TESTS_SUPPORT_KAFKA_MOCK_H_
#define GRIDCASE_TESTS_SUPPORT_KAFKA_MOCK_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

struct rd_kafka_s;
struct rd_kafka_mock_cluster_s;

namespace gridcase::testing {

class MockKafka {
 public:
  explicit MockKafka(int brokers = 3);
  ~MockKafka();
  MockKafka(const MockKafka&) = delete;
  MockKafka& operator=(const MockKafka&) = delete;

  // "127.0.0.1:port,..."
  const std::string& bootstraps() const { return bootstraps_; }
  void CreateTopic(const std::string& topic, int partitions);
  // Every broker down (connections refused) or up again.
  void SetAllBrokersDown(bool down);
  // One broker (1 to brokers) down or up again.
  void SetBrokerDown(int broker, bool down);
  // Where a partition's leader is, and a consumer group's coordinator.
  void SetLeader(const std::string& topic, int partition, int broker);
  void SetGroupCoordinator(const std::string& group, int broker);
  // The next `errors.size()` requests of the API `api_key` (0 Produce,
  // 1 Fetch, ...) to `broker` fail with these Kafka error codes, in order;
  // and how many such errors it still holds.
  void PushRequestErrors(int broker, int16_t api_key, const std::vector<int>& errors);
  size_t PendingRequestErrors(int broker, int16_t api_key);
  // Every broker (0) or one answers `rtt_ms` late.
  void SetRtt(int broker, int rtt_ms);
  int brokers() const { return brokers_; }

 private:
  int brokers_;
  rd_kafka_s* owner_ = nullptr;
  rd_kafka_mock_cluster_s* cluster_ = nullptr;
  std::string bootstraps_;
};

struct KafkaMessage {
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  std::map<std::string, std::string> headers;
};

// Client settings that suit the mock (short fetch waits and backoffs).
std::vector<std::pair<std::string, std::string>> MockClientProperties();

// Everything `topic` (of `partitions` partitions) holds, by partition then
// offset. Fails the test if the end is not reached within `timeout`.
std::vector<KafkaMessage> ReadTopic(const std::string& bootstraps, const std::string& topic,
                                    int partitions,
                                    std::chrono::seconds timeout = std::chrono::seconds(30));

// Writes `messages` (key, value) to `topic` and waits until all are acked.
void WriteTopic(const std::string& bootstraps, const std::string& topic,
                const std::vector<std::pair<std::string, std::string>>& messages);

}  // namespace gridcase::testing

#endif  // GRIDCASE_TESTS_SUPPORT_KAFKA_MOCK_H_
