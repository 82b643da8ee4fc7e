#include "services/kafka/feed.h"

#include <librdkafka/rdkafkacpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/util/json_util.h"
#include "services/logging/logging.h"

namespace gridcase::kafka {
namespace {

// Records read from a partition's log per pass, and records in flight per
// partition at most (librdkafka holds them while Kafka is away).
constexpr size_t kReadBatch = 512;
constexpr size_t kInFlightMax = 50000;
constexpr auto kSaveEvery = std::chrono::milliseconds(200);

// A message's opaque: its partition and position in one word.
void* Opaque(uint32_t partition, uint64_t position) {
  return reinterpret_cast<void*>(static_cast<uintptr_t>(partition) << 56 | position);
}

std::string EventType(const v1::Event& e) {
  const auto* field = v1::Event::descriptor()->FindFieldByNumber(e.payload_case());
  return field ? field->name() : "";
}

}  // namespace

class ChangeFeed::Delivery final : public RdKafka::DeliveryReportCb, public RdKafka::EventCb {
 public:
  explicit Delivery(ChangeFeed* feed) : feed_(feed) {}
  void dr_cb(RdKafka::Message& message) override {
    const auto word = reinterpret_cast<uintptr_t>(message.msg_opaque());
    feed_->Delivered(static_cast<uint32_t>(word >> 56), word & ((uint64_t{1} << 56) - 1),
                     message.err() == RdKafka::ERR_NO_ERROR ? "" : message.errstr());
  }
  void event_cb(RdKafka::Event& event) override {
    if (event.type() != RdKafka::Event::EVENT_ERROR) return;
    if (event.fatal()) {
      absl::MutexLock lock(&feed_->mu_);
      feed_->fatal_ = absl::StrCat("kafka: ", RdKafka::err2str(event.err()), ": ", event.str());
      logging::Component("kafka").error("change feed stopped: {}", feed_->fatal_);
      return;
    }
    // Brokers down, connections lost: librdkafka retries by itself; the
    // lag in the status shows it.
    errors_.Log(event);
  }

 private:
  ChangeFeed* const feed_;
  ErrorLog errors_{"change feed"};
};

ChangeFeed::ChangeFeed(Engine* engine, const KafkaOptions& options)
    : engine_(engine), options_(options) {}

absl::StatusOr<std::unique_ptr<ChangeFeed>> ChangeFeed::Start(Engine* engine,
                                                              const KafkaOptions& options) {
  if (options.feed_format != "protobuf" && options.feed_format != "json") {
    return absl::InvalidArgumentError(
        absl::StrCat("kafka feed format ", options.feed_format, ": expected protobuf or json"));
  }
  if (options.feed_personal != "sealed" && options.feed_personal != "omit") {
    return absl::InvalidArgumentError(
        absl::StrCat("kafka feed personal ", options.feed_personal, ": expected sealed or omit"));
  }
  std::unique_ptr<ChangeFeed> feed(new ChangeFeed(engine, options));
  feed->delivery_ = std::make_unique<Delivery>(feed.get());
  auto conf = MakeConf(options, {{"enable.idempotence", "true"},
                                 {"acks", "all"},
                                 // Never give up on a record: while Kafka is
                                 // away it waits, in order.
                                 {"message.timeout.ms", "0"},
                                 {"linger.ms", "5"},
                                 {"queue.buffering.max.messages", "1000000"},
                                 {"log_level", "3"}});
  if (!conf.ok()) return conf.status();
  std::string error;
  if ((*conf)->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(feed->delivery_.get()),
                   error) != RdKafka::Conf::CONF_OK ||
      (*conf)->set("event_cb", static_cast<RdKafka::EventCb*>(feed->delivery_.get()), error) !=
          RdKafka::Conf::CONF_OK) {
    return absl::InternalError(absl::StrCat("kafka callbacks: ", error));
  }
  feed->producer_.reset(RdKafka::Producer::create(conf->get(), error));
  if (!feed->producer_) return absl::InvalidArgumentError(absl::StrCat("kafka producer: ", error));

  feed->cursors_.resize(engine->partition_count());
  for (uint32_t p = 0; p < engine->partition_count(); ++p) {
    auto saved = engine->streams().ReadExt(PartitionId(p), feed->MetaName());
    if (!saved.ok()) return saved.status();
    Cursor& c = feed->cursors_[p];
    if (saved->has_value()) c.saved = c.confirmed = **saved;
    c.next = c.confirmed + 1;
  }
  feed->last_save_ = std::chrono::steady_clock::now();
  feed->thread_ = std::thread([f = feed.get()] { f->Run(); });
  return feed;
}

ChangeFeed::~ChangeFeed() { Stop(); }

void ChangeFeed::Stop(std::chrono::milliseconds grace) {
  if (stopped_) return;
  stopped_ = true;
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  // What Kafka confirms within the grace still counts.
  const auto until = std::chrono::steady_clock::now() + grace;
  while (producer_->outq_len() > 0 && std::chrono::steady_clock::now() < until) {
    producer_->poll(50);
  }
  SaveConfirmed(/*force=*/true);
  producer_->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
  producer_->poll(0);  // the purged messages' reports: not confirmed, not saved
}

void ChangeFeed::Run() {
  while (!stop_) {
    const uint64_t seen = engine_->commit_generation();
    size_t sent = 0;
    for (uint32_t p = 0; p < cursors_.size(); ++p) sent += SendSome(p);
    producer_->poll(0);
    SaveConfirmed(/*force=*/false);
    if (sent > 0) continue;
    bool waiting_for_kafka = false;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& c : cursors_) waiting_for_kafka |= !c.in_flight.empty();
    }
    if (waiting_for_kafka) {
      producer_->poll(10);  // delivery reports, or a short wait for them
    } else {
      engine_->AwaitCommit(seen, std::chrono::milliseconds(100));
    }
  }
}

size_t ChangeFeed::SendSome(uint32_t p) {
  uint64_t next;
  {
    absl::MutexLock lock(&mu_);
    const Cursor& c = cursors_[p];
    if (!c.error.empty() || !fatal_.empty() || c.in_flight.size() >= kInFlightMax) return 0;
    next = c.next;
  }
  std::vector<v1::LogEntry> entries;
  if (auto st = engine_->streams().ReadLog(PartitionId(p), Position(next), kReadBatch, &entries);
      !st.ok()) {
    absl::MutexLock lock(&mu_);
    cursors_[p].error = absl::StrCat("reading the log: ", st.ToString());
    logging::Component("kafka").error("change feed, partition {}: {}", p, cursors_[p].error);
    return 0;
  }
  size_t sent = 0;
  const bool omit = options_.feed_personal == "omit";
  for (v1::LogEntry& entry : entries) {
    // Personal fields leave only sealed (as stored) or not at all: the feed
    // never opens them.
    if (omit) entry.mutable_record()->clear_sealed();
    const v1::Record& r = entry.record();
    std::string value;
    if (options_.feed_format == "json") {
      (void)google::protobuf::util::MessageToJsonString(r, &value);
    } else {
      value = r.SerializeAsString();
    }
    RdKafka::Headers* headers = RdKafka::Headers::create();
    headers->add(kHeaderCaseId, r.event().case_id());
    headers->add(kHeaderCaseVersion, std::to_string(r.case_version()));
    headers->add(kHeaderPartition, std::to_string(r.partition()));
    headers->add(kHeaderPosition, std::to_string(r.position()));
    headers->add(kHeaderEventType, EventType(r.event()));
    headers->add(kHeaderContentType, options_.feed_format == "json"
                                         ? "application/json"
                                         : "application/x-protobuf; proto=gridcase.v1.Record");
    const int64_t timestamp_ms =
        r.recorded_at().seconds() * 1000 + r.recorded_at().nanos() / 1000000;
    for (;;) {
      const RdKafka::ErrorCode err = producer_->produce(
          options_.feed_topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
          value.data(), value.size(), r.event().case_id().data(), r.event().case_id().size(),
          timestamp_ms, headers, Opaque(p, r.position()));
      if (err == RdKafka::ERR_NO_ERROR) break;  // librdkafka owns the headers now
      if (err == RdKafka::ERR__QUEUE_FULL && !stop_) {
        producer_->poll(50);
        continue;
      }
      delete headers;
      absl::MutexLock lock(&mu_);
      cursors_[p].error =
          absl::StrCat("publishing position ", r.position(), ": ", RdKafka::err2str(err));
      logging::Component("kafka").error("change feed, partition {}: {}", p, cursors_[p].error);
      return sent;
    }
    absl::MutexLock lock(&mu_);
    cursors_[p].in_flight.push_back(false);
    cursors_[p].next = r.position() + 1;
    ++sent;
  }
  return sent;
}

void ChangeFeed::Delivered(uint32_t partition, uint64_t position, const std::string& error) {
  absl::MutexLock lock(&mu_);
  if (partition >= cursors_.size()) return;
  Cursor& c = cursors_[partition];
  if (position <= c.confirmed || position > c.confirmed + c.in_flight.size()) return;
  if (!error.empty()) {
    // With no delivery timeout only a permanent error gets here (a record
    // too large, no such topic, no authorisation): stop this partition at
    // its confirmed position rather than leave a gap.
    if (c.error.empty() && !stop_) {
      c.error = absl::StrCat("kafka refused position ", position, ": ", error);
      logging::Component("kafka").error("change feed, partition {}: {}", partition, c.error);
    }
    return;
  }
  c.in_flight[position - c.confirmed - 1] = true;
  while (!c.in_flight.empty() && c.in_flight.front()) {
    c.in_flight.pop_front();
    ++c.confirmed;
  }
  published_cv_.SignalAll();
}

void ChangeFeed::SaveConfirmed(bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - last_save_ < kSaveEvery) return;
  last_save_ = now;
  for (uint32_t p = 0; p < cursors_.size(); ++p) {
    uint64_t confirmed;
    {
      absl::MutexLock lock(&mu_);
      confirmed = cursors_[p].confirmed;
      if (confirmed == cursors_[p].saved) continue;
    }
    if (auto st = engine_->streams().WriteExt(PartitionId(p), MetaName(), confirmed); !st.ok()) {
      logging::Component("kafka").error(
          "change feed: saving the published position of partition {}: {}", p, st.ToString());
      continue;
    }
    absl::MutexLock lock(&mu_);
    cursors_[p].saved = confirmed;
  }
}

std::vector<v1::FeedPartitionStatus> ChangeFeed::Status() const {
  std::vector<v1::FeedPartitionStatus> out;
  for (uint32_t p = 0; p < engine_->partition_count(); ++p) {
    auto last = engine_->streams().LastPosition(PartitionId(p));
    const uint64_t log = last.ok() ? *last : 0;
    absl::MutexLock lock(&mu_);
    const Cursor& c = cursors_[p];
    v1::FeedPartitionStatus s;
    s.set_partition(p);
    s.set_log_position(log);
    s.set_published_position(c.confirmed);
    s.set_lag(log > c.confirmed ? log - c.confirmed : 0);
    s.set_in_flight(c.in_flight.size());
    s.set_error(!c.error.empty() ? c.error : fatal_);
    out.push_back(std::move(s));
  }
  return out;
}

bool ChangeFeed::AwaitPublished(const std::vector<uint64_t>& positions,
                                std::chrono::milliseconds timeout) {
  absl::MutexLock lock(&mu_);
  auto published = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (size_t p = 0; p < positions.size() && p < cursors_.size(); ++p) {
      if (cursors_[p].confirmed < positions[p]) return false;
    }
    return true;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&published), absl::FromChrono(timeout));
}

}  // namespace gridcase::kafka
