// Kafka around the engine (librdkafka): the change feed (every record out,
// in order per case), the ingest (events in, each decided exactly once) and
// the dead-letter topic. Optional: with no brokers gridcased runs on the
// embedded store alone.
#ifndef GRIDCASE_SERVICES_KAFKA_KAFKA_H_
#define GRIDCASE_SERVICES_KAFKA_KAFKA_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/engine.h"
#include "gridcase/v1/service.pb.h"

namespace RdKafka {
class Conf;
class Event;
}  // namespace RdKafka

namespace gridcase::kafka {

struct KafkaOptions {
  std::string brokers;  // "host:port,..."; empty: no Kafka at all
  std::string feed_topic = "gridcase.records";
  std::string feed_format = "protobuf";  // "protobuf" (Record bytes) or "json"
  // A record's personal fields (docs/privacy.md): "sealed" (as stored: the
  // ciphertext, unreadable once the person is erased; the record's hash
  // still checks) or "omit" (Record.sealed cleared).
  std::string feed_personal = "sealed";
  std::string ingest_topic = "gridcase.events";  // empty: no ingest
  std::string group = "gridcased";
  std::string ingest_format = "auto";  // "auto", "protobuf" or "json"
  std::string dead_letter_topic = "gridcase.events.dead";
  // Passed to librdkafka as they are, after the settings above (so they may
  // override them): security.protocol, sasl.*, ssl.*, ...
  std::vector<std::pair<std::string, std::string>> properties;
  // The same from the secrets file (LoadSecrets): set last, and never
  // named with their values in any message, log or status.
  std::vector<std::pair<std::string, std::string>> secret_properties;
  // Who the ingest submits as, under the same rules as a gRPC caller
  // (actor binding, scope): each message's request is passed through this
  // before it reaches the engine; a refusal is dead-lettered with its
  // reason. Required when there is an ingest topic.
  std::function<absl::Status(v1::SubmitRequest*)> admit;
};

// Parses "key=value" into a property. INVALID_ARGUMENT when there is no '='
// (naming the property's position, not its text: it may hold a secret).
absl::StatusOr<std::pair<std::string, std::string>> ParseProperty(const std::string& text);

// The librdkafka properties of a secrets file (sasl.password=...,
// ssl.key.password=...): one key=value a line, '#' comments. Only its owner
// may read it (FAILED_PRECONDITION naming path, mode and owner otherwise).
// No error names a value.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> LoadSecrets(
    const std::string& path);

// A librdkafka configuration with `settings` then the options' properties
// applied; INVALID_ARGUMENT naming the property librdkafka refuses.
absl::StatusOr<std::unique_ptr<RdKafka::Conf>> MakeConf(
    const KafkaOptions& options, const std::vector<std::pair<std::string, std::string>>& settings);

// Logs a librdkafka error event that is not fatal (a broker down, a topic
// missing): librdkafka retries by itself, but the operator should know.
// At most once every 30 s per error code and client, so that an outage does
// not flood the log.
class ErrorLog {
 public:
  explicit ErrorLog(std::string client) : client_(std::move(client)) {}
  void Log(const RdKafka::Event& event);

 private:
  const std::string client_;
  absl::Mutex mu_;
  std::map<int, std::chrono::steady_clock::time_point> last_ ABSL_GUARDED_BY(mu_);
};

class ChangeFeed;
class Ingest;

// The change feed and (with an ingest topic) the ingest, started and
// stopped together.
class Bridge {
 public:
  static absl::StatusOr<std::unique_ptr<Bridge>> Start(Engine* engine, const KafkaOptions& options);
  ~Bridge();
  // Stops reading the topic and lets what was read be decided. Call
  // before the engine stops.
  void StopIngest();
  // Publishes what the log holds (waiting up to `grace`) and stops. Call
  // after the engine stopped, so that its last records are published.
  void StopFeed(std::chrono::milliseconds grace);
  absl::StatusOr<v1::KafkaStatus> Status() const;
  ChangeFeed& feed() { return *feed_; }

 private:
  Bridge(Engine* engine, const KafkaOptions& options);
  Engine* const engine_;
  const KafkaOptions options_;
  std::unique_ptr<ChangeFeed> feed_;
  std::unique_ptr<Ingest> ingest_;
  bool feed_stopped_ = false;
};

}  // namespace gridcase::kafka

#endif  // GRIDCASE_SERVICES_KAFKA_KAFKA_H_
