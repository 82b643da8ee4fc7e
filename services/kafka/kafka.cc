#include "services/kafka/kafka.h"

#include <librdkafka/rdkafkacpp.h>

#include <fstream>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "engine/common/file_modes.h"
#include "services/kafka/feed.h"
#include "services/kafka/ingest.h"
#include "services/logging/logging.h"

namespace gridcase::kafka {

void ErrorLog::Log(const RdKafka::Event& event) {
  const auto now = std::chrono::steady_clock::now();
  {
    absl::MutexLock lock(&mu_);
    auto [it, fresh] = last_.try_emplace(static_cast<int>(event.err()), now);
    if (!fresh && now - it->second < std::chrono::seconds(30)) return;
    it->second = now;
  }
  logging::Component("kafka").warn("kafka {}: {}: {} (retrying)", client_,
                                   RdKafka::err2str(event.err()), event.str());
}

absl::StatusOr<std::pair<std::string, std::string>> ParseProperty(const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    return absl::InvalidArgumentError(
        "kafka property: expected key=value (not shown: it may "
        "hold a secret)");
  }
  return std::make_pair(text.substr(0, eq), text.substr(eq + 1));
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> LoadSecrets(
    const std::string& path) {
  if (auto st = CheckFileExposure(path, Exposure::kOwnerOnly, "kafka secrets file"); !st.ok()) {
    return st;
  }
  std::ifstream in(path);
  if (!in)
    return absl::InvalidArgumentError(absl::StrCat("kafka secrets file ", path, ": unreadable"));
  std::vector<std::pair<std::string, std::string>> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    const absl::string_view trimmed = absl::StripAsciiWhitespace(line);
    if (trimmed.empty() || trimmed[0] == '#') continue;
    auto property = ParseProperty(std::string(trimmed));
    if (!property.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("kafka secrets file ", path, " line ", n, ": expected key=value"));
    }
    out.push_back(std::move(*property));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<RdKafka::Conf>> MakeConf(
    const KafkaOptions& options, const std::vector<std::pair<std::string, std::string>>& settings) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string error;
  auto set = [&](const std::string& key, const std::string& value) -> absl::Status {
    if (conf->set(key, value, error) != RdKafka::Conf::CONF_OK) {
      return absl::InvalidArgumentError(absl::StrCat("kafka property ", key, ": ", error));
    }
    return absl::OkStatus();
  };
  if (auto st = set("bootstrap.servers", options.brokers); !st.ok()) return st;
  for (const auto& [key, value] : settings) {
    if (auto st = set(key, value); !st.ok()) return st;
  }
  for (const auto& [key, value] : options.properties) {
    if (auto st = set(key, value); !st.ok()) return st;
  }
  for (const auto& [key, value] : options.secret_properties) {
    // librdkafka's own message may quote the value: not passed on.
    if (conf->set(key, value, error) != RdKafka::Conf::CONF_OK) {
      return absl::InvalidArgumentError(absl::StrCat("kafka secrets file: property ", key,
                                                     " refused by librdkafka (value not shown)"));
    }
  }
  return conf;
}

Bridge::Bridge(Engine* engine, const KafkaOptions& options) : engine_(engine), options_(options) {}

Bridge::~Bridge() {
  StopIngest();
  StopFeed(std::chrono::milliseconds(0));
}

absl::StatusOr<std::unique_ptr<Bridge>> Bridge::Start(Engine* engine, const KafkaOptions& options) {
  if (options.brokers.empty()) return absl::InvalidArgumentError("kafka: no brokers given");
  std::unique_ptr<Bridge> bridge(new Bridge(engine, options));
  auto feed = ChangeFeed::Start(engine, options);
  if (!feed.ok()) return feed.status();
  bridge->feed_ = std::move(*feed);
  if (!options.ingest_topic.empty()) {
    auto ingest = Ingest::Start(engine, options);
    if (!ingest.ok()) return ingest.status();
    bridge->ingest_ = std::move(*ingest);
  }
  return bridge;
}

void Bridge::StopIngest() {
  if (ingest_) ingest_->Stop();
}

void Bridge::StopFeed(std::chrono::milliseconds grace) {
  if (!feed_ || feed_stopped_) return;
  feed_stopped_ = true;
  std::vector<uint64_t> last;
  for (const auto& p : feed_->Status()) last.push_back(p.log_position());
  feed_->AwaitPublished(last, grace);
  feed_->Stop();
}

absl::StatusOr<v1::KafkaStatus> Bridge::Status() const {
  v1::KafkaStatus out;
  out.set_brokers(options_.brokers);
  out.set_feed_topic(options_.feed_topic);
  for (auto& p : feed_->Status()) *out.add_feed() = std::move(p);
  if (ingest_) {
    out.set_ingest_topic(options_.ingest_topic);
    out.set_dead_letter_topic(options_.dead_letter_topic);
    // The counts first: a letter they count was written before, so the
    // pending count read after includes it until Kafka confirms it.
    for (auto& p : ingest_->Status()) *out.add_ingest() = std::move(p);
    auto pending = ingest_->DeadLettersPending();
    if (!pending.ok()) return pending.status();
    out.set_dead_letters_pending(*pending);
    out.set_error(ingest_->error());
  }
  return out;
}

}  // namespace gridcase::kafka
