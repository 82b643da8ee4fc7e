#include "services/kafka/ingest.h"

#include <librdkafka/rdkafkacpp.h>

#include <algorithm>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/util/json_util.h"
#include "services/logging/logging.h"

namespace gridcase::kafka {
namespace {

// Messages submitted and not yet answered, at most.
constexpr size_t kInFlightMax = 4096;
constexpr auto kSaveEvery = std::chrono::milliseconds(200);
constexpr auto kLettersEvery = std::chrono::milliseconds(100);
constexpr size_t kLettersBatch = 256;
// Letters Kafka confirmed are removed (their keys destroyed: a flush and
// a compaction of the key store) at most this often, so that a steady
// trickle of poison messages does not flush the key store every round.
constexpr auto kLettersRemovedEvery = std::chrono::seconds(1);

// A dead letter in flight to Kafka: where it is kept, to remove it once
// Kafka confirms.
struct LetterRef {
  uint32_t partition;
  std::string key;
};

}  // namespace

absl::StatusOr<v1::SubmitRequest> ParseMessage(const std::string& bytes, const std::string& format,
                                               const std::string& topic, int32_t partition,
                                               int64_t offset) {
  const size_t first = bytes.find_first_not_of(" \t\r\n");
  const bool json =
      format == "json" || (format == "auto" && first != std::string::npos && bytes[first] == '{');
  v1::SubmitRequest request;
  if (json) {
    v1::Event event;
    const auto as_event = google::protobuf::util::JsonStringToMessage(bytes, &event);
    if (as_event.ok()) {
      *request.mutable_event() = std::move(event);
    } else if (!google::protobuf::util::JsonStringToMessage(bytes, &request).ok() ||
               !request.has_event()) {
      return absl::InvalidArgumentError(
          absl::StrCat("message is not a JSON gridcase.v1.Event or SubmitRequest: ",
                       std::string(as_event.message())));
    }
  } else if (!request.mutable_event()->ParseFromString(bytes)) {
    return absl::InvalidArgumentError("message is not a protobuf gridcase.v1.Event");
  }
  if (request.event().event_id().empty()) {
    request.mutable_event()->set_event_id(
        absl::StrCat("kafka:", topic, ":", partition, ":", offset));
  }
  return request;
}

class Ingest::Rebalance final : public RdKafka::RebalanceCb,
                                public RdKafka::EventCb,
                                public RdKafka::DeliveryReportCb {
 public:
  explicit Rebalance(Ingest* ingest) : ingest_(ingest) {}

  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      for (auto* tp : partitions) {
        auto start = ingest_->Assign(tp->partition());
        if (!start.ok()) {
          absl::MutexLock lock(&ingest_->mu_);
          ingest_->error_ = absl::StrCat("ingest stopped: ", start.status().ToString());
          logging::Component("kafka").error("{}", ingest_->error_);
          return;
        }
        tp->set_offset(*start == 0 ? RdKafka::Topic::OFFSET_BEGINNING : *start);
        logging::Component("kafka").info("kafka ingest: {}/{} from offset {}", tp->topic(),
                                         tp->partition(), *start);
      }
      consumer->assign(partitions);
      return;
    }
    // Revoked: let what was read be decided and saved before another
    // consumer starts from the store.
    ingest_->WaitInFlight();
    ingest_->SaveDecided(/*force=*/true);
    {
      absl::MutexLock lock(&ingest_->mu_);
      for (auto* tp : partitions) ingest_->sources_.erase(tp->partition());
    }
    consumer->unassign();
  }

  void event_cb(RdKafka::Event& event) override {
    if (event.type() != RdKafka::Event::EVENT_ERROR) return;
    if (event.fatal()) {
      absl::MutexLock lock(&ingest_->mu_);
      ingest_->error_ = absl::StrCat("kafka: ", RdKafka::err2str(event.err()), ": ", event.str());
      logging::Component("kafka").error("kafka ingest stopped: {}", ingest_->error_);
      return;
    }
    errors_.Log(event);
  }

  // Dead letters confirmed by Kafka are removed from the store.
  void dr_cb(RdKafka::Message& message) override {
    std::unique_ptr<LetterRef> ref(static_cast<LetterRef*>(message.msg_opaque()));
    ingest_->letters_in_flight_.erase(ref->key);
    if (message.err() != RdKafka::ERR_NO_ERROR) {
      logging::Component("kafka").error(
          "dead-letter topic refused a message ({}); it stays in the store", message.errstr());
      return;
    }
    ingest_->letters_confirmed_[ref->partition].push_back(ref->key);
  }

 private:
  Ingest* const ingest_;
  ErrorLog errors_{"ingest"};
};

Ingest::Ingest(Engine* engine, const KafkaOptions& options) : engine_(engine), options_(options) {}

absl::StatusOr<std::unique_ptr<Ingest>> Ingest::Start(Engine* engine, const KafkaOptions& options) {
  if (options.ingest_format != "auto" && options.ingest_format != "protobuf" &&
      options.ingest_format != "json") {
    return absl::InvalidArgumentError(absl::StrCat("kafka ingest format ", options.ingest_format,
                                                   ": expected auto, protobuf or json"));
  }
  if (!options.admit) {
    return absl::InvalidArgumentError(
        "kafka ingest: no principal to submit as (--kafka-ingest-as gridcase:app:<id>)");
  }
  std::unique_ptr<Ingest> ingest(new Ingest(engine, options));
  ingest->rebalance_ = std::make_unique<Rebalance>(ingest.get());
  std::string error;

  auto consumer_conf = MakeConf(options, {{"group.id", options.group},
                                          {"enable.auto.commit", "false"},
                                          {"enable.auto.offset.store", "false"},
                                          {"auto.offset.reset", "earliest"},
                                          {"log_level", "3"}});
  if (!consumer_conf.ok()) return consumer_conf.status();
  if ((*consumer_conf)
              ->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(ingest->rebalance_.get()),
                    error) != RdKafka::Conf::CONF_OK ||
      (*consumer_conf)
              ->set("event_cb", static_cast<RdKafka::EventCb*>(ingest->rebalance_.get()), error) !=
          RdKafka::Conf::CONF_OK) {
    return absl::InternalError(absl::StrCat("kafka callbacks: ", error));
  }
  ingest->consumer_.reset(RdKafka::KafkaConsumer::create(consumer_conf->get(), error));
  if (!ingest->consumer_) {
    return absl::InvalidArgumentError(absl::StrCat("kafka consumer: ", error));
  }

  auto producer_conf = MakeConf(options, {{"enable.idempotence", "true"},
                                          {"acks", "all"},
                                          {"message.timeout.ms", "0"},
                                          {"log_level", "3"}});
  if (!producer_conf.ok()) return producer_conf.status();
  if ((*producer_conf)
          ->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(ingest->rebalance_.get()),
                error) != RdKafka::Conf::CONF_OK) {
    return absl::InternalError(absl::StrCat("kafka callbacks: ", error));
  }
  ingest->dead_letters_.reset(RdKafka::Producer::create(producer_conf->get(), error));
  if (!ingest->dead_letters_) {
    return absl::InvalidArgumentError(absl::StrCat("kafka dead-letter producer: ", error));
  }

  const RdKafka::ErrorCode err = ingest->consumer_->subscribe({options.ingest_topic});
  if (err != RdKafka::ERR_NO_ERROR) {
    return absl::InvalidArgumentError(
        absl::StrCat("subscribing to ", options.ingest_topic, ": ", RdKafka::err2str(err)));
  }
  ingest->last_save_ = std::chrono::steady_clock::now();
  ingest->consumer_thread_ = std::thread([i = ingest.get()] { i->Consume(); });
  ingest->letters_thread_ = std::thread([i = ingest.get()] { i->HandOnDeadLetters(); });
  return ingest;
}

Ingest::~Ingest() { Stop(); }

void Ingest::Stop() {
  if (stopped_) return;
  stopped_ = true;
  stop_ = true;
  if (consumer_thread_.joinable()) consumer_thread_.join();
  WaitInFlight();
  SaveDecided(/*force=*/true);
  consumer_->close();  // leaves the group (a last rebalance callback)
  if (letters_thread_.joinable()) letters_thread_.join();
  dead_letters_->flush(2000);
  dead_letters_->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
  dead_letters_->poll(0);
  RemoveConfirmedLetters();
}

std::string Ingest::MetaName(int32_t partition) const {
  return absl::StrCat("kafka_ingest/", options_.ingest_topic, "/", partition);
}

absl::StatusOr<int64_t> Ingest::Assign(int32_t partition) {
  Source s;
  s.name = absl::StrCat(options_.ingest_topic, "/", partition);
  s.partition = partition;
  for (uint32_t p = 0; p < engine_->partition_count(); ++p) {
    std::map<std::string, int64_t> offsets;
    if (auto st = engine_->streams().StreamOffsets(PartitionId(p), s.name, &offsets); !st.ok())
      return st;
    // The scan is by prefix: "t/1" also finds "t/10".
    if (auto it = offsets.find(s.name); it != offsets.end()) s.decided_in[p] = it->second;
  }
  auto saved = engine_->streams().ReadExt(PartitionId(0), MetaName(partition));
  if (!saved.ok()) return saved.status();
  if (saved->has_value()) s.decided_before = static_cast<int64_t>(**saved);
  s.saved = s.decided_before;
  s.read_to = s.decided_before - 1;
  const int64_t start = s.decided_before;
  absl::MutexLock lock(&mu_);
  sources_[partition] = std::move(s);
  return start;
}

void Ingest::Consume() {
  bool paused = false;
  while (!stop_) {
    bool failed, full;
    {
      absl::MutexLock lock(&mu_);
      auto room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return in_flight_ < kInFlightMax || stop_;
      };
      mu_.AwaitWithTimeout(absl::Condition(&room), absl::Milliseconds(100));
      failed = !error_.empty();
      full = in_flight_ >= kInFlightMax;
    }
    if (failed) {
      // Stopped on a server failure: stay in the group but fetch nothing
      // (paused), so that nothing read is left undecided; a restart
      // resumes from the store.
      if (!paused) {
        std::vector<RdKafka::TopicPartition*> assigned;
        if (consumer_->assignment(assigned) == RdKafka::ERR_NO_ERROR) {
          consumer_->pause(assigned);
        }
        RdKafka::TopicPartition::destroy(assigned);
        paused = true;
      }
      std::unique_ptr<RdKafka::Message> idle(consumer_->consume(100));
      continue;
    }
    if (full) continue;
    std::unique_ptr<RdKafka::Message> message(consumer_->consume(100));
    if (message->err() == RdKafka::ERR_NO_ERROR) {
      Handle(*message);
    } else if (message->err() != RdKafka::ERR__TIMED_OUT &&
               message->err() != RdKafka::ERR__PARTITION_EOF) {
      logging::Component("kafka").debug("kafka ingest: {}", message->errstr());
    }
    SaveDecided(/*force=*/false);
  }
}

void Ingest::Handle(RdKafka::Message& message) {
  const int32_t partition = message.partition();
  const int64_t offset = message.offset();
  const std::string bytes(static_cast<const char*>(message.payload()), message.len());
  auto request =
      ParseMessage(bytes, options_.ingest_format, options_.ingest_topic, partition, offset);
  if (request.ok()) {
    // The ingest's principal may submit this, as a gRPC caller would have
    // to; else it is a decided refusal, dead-lettered with the reason.
    if (absl::Status refused = options_.admit(&*request); !refused.ok()) request = refused;
  }
  const PartitionId route = engine_->streams().RouteOf(request);
  std::string source;
  {
    absl::MutexLock lock(&mu_);
    auto it = sources_.find(partition);
    if (it == sources_.end()) return;  // revoked meanwhile
    Source& s = it->second;
    if (offset <= s.read_to) return;  // read before (a seek back): already handled
    s.read_to = offset;
    auto decided = s.decided_in.find(route.value());
    if (decided != s.decided_in.end() && offset <= decided->second) {
      ++s.skipped;  // decided before a restart
      s.decided_before = s.in_flight.empty() ? offset + 1 : *s.in_flight.begin();
      return;
    }
    s.in_flight.insert(offset);
    ++in_flight_;
    source = s.name;
  }
  StreamOrigin origin{source, offset, bytes};
  engine_->streams().SubmitFromStream(
      std::move(request), std::move(origin),
      [this, partition, offset](absl::StatusOr<v1::SubmitResponse> r) {
        Answered(partition, offset, r);
      });
}

void Ingest::Answered(int32_t partition, int64_t offset,
                      const absl::StatusOr<v1::SubmitResponse>& result) {
  absl::MutexLock lock(&mu_);
  --in_flight_;
  answered_cv_.SignalAll();
  auto it = sources_.find(partition);
  if (it == sources_.end()) return;
  Source& s = it->second;
  if (!result.ok() && !IsDecidedRefusal(result.status())) {
    // Not decided: the offset stays in flight, so nothing after it is
    // counted decided; a restart reads it again.
    if (error_.empty()) {
      error_ = absl::StrCat("ingest stopped at ", s.name, " offset ", offset, ": ",
                            result.status().ToString());
      logging::Component("kafka").error("{}", error_);
    }
    return;
  }
  s.in_flight.erase(offset);
  if (result.ok()) {
    ++(result->duplicate() ? s.duplicates : s.applied);
  } else {
    ++s.dead_lettered;
  }
  s.decided_before = s.in_flight.empty() ? s.read_to + 1 : *s.in_flight.begin();
}

void Ingest::WaitInFlight() {
  absl::MutexLock lock(&mu_);
  while (!(in_flight_ == 0)) answered_cv_.Wait(&mu_);
}

void Ingest::SaveDecided(bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - last_save_ < kSaveEvery) return;
  last_save_ = now;
  std::vector<std::pair<int32_t, int64_t>> changed;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [p, s] : sources_) {
      if (s.decided_before != s.saved) changed.emplace_back(p, s.decided_before);
    }
  }
  std::vector<RdKafka::TopicPartition*> commits;
  for (const auto& [p, decided_before] : changed) {
    if (auto st = engine_->streams().WriteExt(PartitionId(0), MetaName(p),
                                              static_cast<uint64_t>(decided_before));
        !st.ok()) {
      logging::Component("kafka").error(
          "kafka ingest: saving the decided offset of partition {}: {}", p, st.ToString());
      continue;
    }
    {
      absl::MutexLock lock(&mu_);
      if (auto it = sources_.find(p); it != sources_.end()) it->second.saved = decided_before;
    }
    // Also told to Kafka, for its lag tools; the store stays the truth.
    commits.push_back(RdKafka::TopicPartition::create(options_.ingest_topic, p, decided_before));
  }
  if (!commits.empty()) {
    consumer_->commitAsync(commits);
    RdKafka::TopicPartition::destroy(commits);
  }
}

void Ingest::HandOnDeadLetters() {
  while (!stop_) {
    for (uint32_t p = 0; p < engine_->partition_count() && !stop_; ++p) {
      std::vector<std::pair<std::string, v1::DeadLetter>> letters;
      if (auto st = engine_->streams().DeadLetters(PartitionId(p), kLettersBatch, &letters);
          !st.ok()) {
        logging::Component("kafka").error("reading dead letters: {}", st.ToString());
        continue;
      }
      for (auto& [key, letter] : letters) {
        if (!letters_in_flight_.insert(key).second) continue;
        const size_t slash = letter.source().rfind('/');
        RdKafka::Headers* headers = RdKafka::Headers::create();
        if (absl::Status opened = engine_->streams().OpenDeadLetter(PartitionId(p), &letter);
            !opened.ok()) {
          // Handed on all the same, without the bytes: holding the letter
          // back would not bring them back.
          if (!absl::IsNotFound(opened)) {
            logging::Component("kafka").error("dead letter of {} offset {}: {}", letter.source(),
                                              letter.offset(), opened.ToString());
          }
          headers->add(kHeaderWithheld, std::string(opened.message()));
          letter.clear_original();
        }
        headers->add(kHeaderErrorCode,
                     absl::StatusCodeToString(static_cast<absl::StatusCode>(letter.code())));
        headers->add(kHeaderError, letter.reason());
        headers->add(kHeaderSourceTopic, letter.source().substr(0, slash));
        headers->add(kHeaderSourcePartition,
                     slash == std::string::npos ? "" : letter.source().substr(slash + 1));
        headers->add(kHeaderSourceOffset, std::to_string(letter.offset()));
        auto* ref = new LetterRef{p, key};
        const RdKafka::ErrorCode err = dead_letters_->produce(
            options_.dead_letter_topic, RdKafka::Topic::PARTITION_UA,
            RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(letter.original().data()),
            letter.original().size(), nullptr, 0, 0, headers, ref);
        if (err != RdKafka::ERR_NO_ERROR) {
          delete headers;
          delete ref;
          letters_in_flight_.erase(key);
          logging::Component("kafka").warn("dead-letter topic: {}; will retry",
                                           RdKafka::err2str(err));
          break;
        }
      }
    }
    dead_letters_->poll(kLettersEvery.count());
    const auto now = std::chrono::steady_clock::now();
    if (!letters_confirmed_.empty() && now - letters_removed_at_ >= kLettersRemovedEvery) {
      RemoveConfirmedLetters();
      letters_removed_at_ = now;
    }
  }
}

void Ingest::RemoveConfirmedLetters() {
  for (const auto& [p, keys] : letters_confirmed_) {
    if (auto st = engine_->streams().RemoveDeadLetters(PartitionId(p), keys); !st.ok()) {
      // Kept: handed on again (the topic then holds a second copy).
      logging::Component("kafka").error("removing dead letters handed on: {}", st.ToString());
    }
  }
  letters_confirmed_.clear();
}

std::vector<v1::IngestPartitionStatus> Ingest::Status() const {
  absl::MutexLock lock(&mu_);
  std::vector<v1::IngestPartitionStatus> out;
  for (const auto& [p, s] : sources_) {
    v1::IngestPartitionStatus st;
    st.set_kafka_partition(p);
    st.set_decided_before(s.decided_before);
    st.set_applied(s.applied);
    st.set_duplicates(s.duplicates);
    st.set_dead_lettered(s.dead_lettered);
    st.set_skipped(s.skipped);
    // From the consumer's cache of the last fetch: no call to the broker.
    int64_t low = -1, high = -1;
    if (consumer_ == nullptr || consumer_->get_watermark_offsets(options_.ingest_topic, p, &low,
                                                                 &high) != RdKafka::ERR_NO_ERROR) {
      high = -1;
    }
    st.set_high_watermark(high);
    out.push_back(std::move(st));
  }
  return out;
}

absl::StatusOr<uint64_t> Ingest::DeadLettersPending() const {
  // Counted in the store rather than kept by the loop above: the loop sees
  // at most kLettersBatch per partition, and only between its rounds, while
  // the store has every letter from the moment it is written.
  uint64_t pending = 0;
  for (uint32_t p = 0; p < engine_->partition_count(); ++p) {
    auto n = engine_->streams().CountDeadLetters(PartitionId(p));
    if (!n.ok()) return n.status();
    pending += *n;
  }
  return pending;
}

std::string Ingest::error() const {
  absl::MutexLock lock(&mu_);
  return error_;
}

}  // namespace gridcase::kafka
