// The Kafka change feed and ingest against librdkafka's mock cluster (a
// real Kafka-protocol broker in process, on loopback ports): every record
// published once and in order per case; an outage of every broker; the
// ingest deciding each message once, with poison messages dead-lettered.
#include "services/kafka/kafka.h"

#include <librdkafka/rdkafkacpp.h>
#include <sys/stat.h>

#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "gmock/gmock.h"
#include "gridcase/v1/event.pb.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "services/kafka/feed.h"
#include "services/kafka/ingest.h"
#include "services/security/gate.h"
#include "tests/integration/child_server.h"
#include "tests/integration/kafka_checks.h"
#include "tests/support/certs.h"
#include "tests/support/events.h"
#include "tests/support/kafka_mock.h"
#include "tests/support/sealed_engine.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

using ::gridcase::testing::CheckFeed;
using ::gridcase::testing::FeedCheck;
using ::gridcase::testing::Fever;
using ::gridcase::testing::KafkaMessage;
using ::gridcase::testing::NoteEvent;
using ::gridcase::testing::Req;
using ::testing::HasSubstr;
using ::testing::Not;

int64_t NowUs() { return SystemClock().NowMicros(); }

// One cluster for the whole binary: creating and destroying one costs up
// to a second.
testing::MockKafka& Cluster() {
  static auto* cluster = new testing::MockKafka(3);
  return *cluster;
}

class KafkaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = testing::OpenWithShippedWorkflows(dir_.Sub("data"), 4, &clock_);
    ASSERT_NE(engine_, nullptr);
    // Topics of their own per test: the cluster is shared.
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    options_.brokers = Cluster().bootstraps();
    options_.feed_topic = name + ".records";
    options_.ingest_topic = "";
    options_.group = name + ".group";
    options_.dead_letter_topic = name + ".dead";
    options_.properties = testing::MockClientProperties();
    Cluster().CreateTopic(options_.feed_topic, 3);
  }

  std::vector<uint64_t> LogPositions() {
    std::vector<uint64_t> out;
    for (uint32_t p = 0; p < engine_->partition_count(); ++p) {
      auto last = engine_->partitions().store(PartitionId(p)).ReadLastRecord();
      out.push_back(last.ok() && last->has_value() ? (*last)->record.position() : 0);
    }
    return out;
  }

  // Fevers and notes over `cases` cases; each fever above 37.3 °C leads
  // to derived records.
  void SubmitSome(const std::string& prefix, int events, int cases) {
    for (int i = 0; i < events; ++i) {
      const std::string c = prefix + "-case-" + std::to_string(i % cases);
      const std::string id = prefix + "-" + std::to_string(i);
      auto r = testing::SubmitSync(*engine_,
                                   Req(i % 3 == 2 ? NoteEvent(id, c, "called", NowUs())
                                                  : Fever(id, c, 37.0 + (i % 4) * 0.5, NowUs())));
      // Notes on cases not opened yet are refused: that is fine here.
      ASSERT_TRUE(r.ok() || r.status().code() == absl::StatusCode::kNotFound) << r.status();
    }
  }

  testing::TempDir dir_;
  SystemClock clock_;
  std::unique_ptr<Engine> engine_;
  kafka::KafkaOptions options_;
};

TEST_F(KafkaTest, TheFeedHasEveryRecordOnceInOrderPerCase) {
  auto feed = kafka::ChangeFeed::Start(engine_.get(), options_);
  ASSERT_TRUE(feed.ok()) << feed.status();
  SubmitSome("a", 300, 25);
  ASSERT_TRUE((*feed)->AwaitPublished(LogPositions(), std::chrono::seconds(30)));
  const auto status = (*feed)->Status();
  for (const auto& p : status) {
    EXPECT_EQ(p.lag(), 0u);
    EXPECT_EQ(p.error(), "");
  }
  const auto messages = testing::ReadTopic(options_.brokers, options_.feed_topic, 3);
  const FeedCheck check = CheckFeed(*engine_, messages);
  uint64_t total = 0;
  for (uint64_t n : LogPositions()) total += n;
  EXPECT_EQ(check.messages, total);
  EXPECT_EQ(check.duplicates, 0u);

  // A restart resumes after what was confirmed: nothing is sent twice.
  (*feed)->Stop();
  feed->reset();
  SubmitSome("b", 30, 5);
  auto again = kafka::ChangeFeed::Start(engine_.get(), options_);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_TRUE((*again)->AwaitPublished(LogPositions(), std::chrono::seconds(30)));
  const FeedCheck after =
      CheckFeed(*engine_, testing::ReadTopic(options_.brokers, options_.feed_topic, 3));
  uint64_t total_after = 0;
  for (uint64_t n : LogPositions()) total_after += n;
  EXPECT_EQ(after.messages, total_after);
  EXPECT_EQ(after.duplicates, 0u);
}

TEST_F(KafkaTest, TheFeedCanBeJson) {
  options_.feed_format = "json";
  auto feed = kafka::ChangeFeed::Start(engine_.get(), options_);
  ASSERT_TRUE(feed.ok()) << feed.status();
  SubmitSome("j", 3, 1);
  ASSERT_TRUE((*feed)->AwaitPublished(LogPositions(), std::chrono::seconds(30)));
  const auto messages = testing::ReadTopic(options_.brokers, options_.feed_topic, 3);
  int of_case = 0;
  for (const auto& m : messages) {
    EXPECT_EQ(m.headers.at(kafka::kHeaderContentType), "application/json");
    if (m.key != "j-case-0") continue;
    ++of_case;
    EXPECT_THAT(m.value, HasSubstr("\"caseId\":\"j-case-0\""));
  }
  EXPECT_GE(of_case, 3);
  options_.feed_format = "xml";
  EXPECT_EQ(kafka::ChangeFeed::Start(engine_.get(), options_).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// On a sealing engine (as gridcased runs) a record's personal fields leave
// as the ciphertext they are stored as, or not at all; never in clear.
TEST_F(KafkaTest, PersonalFieldsLeaveSealedOrNotAtAllNeverInClear) {
  engine_->Stop();
  engine_ = testing::OpenWithShippedWorkflows(dir_.Sub("sealed"), 4, &clock_, nullptr,
                                              std::string(32, '\x33'));
  ASSERT_NE(engine_, nullptr);
  constexpr char kMarker[] = "QXJZKWPLMRTBVHNC";
  ASSERT_TRUE(testing::SubmitSync(*engine_, Req(Fever("p-0", "p-case", 37.0, NowUs()))).ok());
  ASSERT_TRUE(
      testing::SubmitSync(
          *engine_, Req(NoteEvent("p-1", "p-case", absl::StrCat("lives with ", kMarker), NowUs())))
          .ok());

  // The records as published under `personal`, of case p-case.
  auto publish = [&](const std::string& personal) {
    options_.feed_topic = absl::StrCat("personal-", personal);
    options_.feed_personal = personal;
    Cluster().CreateTopic(options_.feed_topic, 3);
    auto feed = kafka::ChangeFeed::Start(engine_.get(), options_);
    EXPECT_TRUE(feed.ok()) << feed.status();
    std::vector<v1::Record> out;
    if (!feed.ok()) return out;
    EXPECT_TRUE((*feed)->AwaitPublished(LogPositions(), std::chrono::seconds(30)));
    (*feed)->Stop();
    for (const auto& m : testing::ReadTopic(options_.brokers, options_.feed_topic, 3)) {
      EXPECT_EQ(m.value.find(kMarker), std::string::npos) << "a personal field in clear";
      if (m.key != "p-case") continue;
      v1::Record r;
      EXPECT_TRUE(r.ParseFromString(m.value));
      out.push_back(r);
    }
    return out;
  };

  const std::vector<v1::Record> sealed = publish("sealed");
  int with_sealed = 0, notes = 0;
  for (v1::Record r : sealed) {
    if (!r.has_sealed()) continue;
    ++with_sealed;
    EXPECT_EQ(r.event().note().text(), "");
    // Whoever holds the key opens it: the feed carried the stored bytes.
    ASSERT_TRUE(engine_->OpenRecord(&r).ok());
    notes += r.event().note().text() == absl::StrCat("lives with ", kMarker);
  }
  EXPECT_GE(with_sealed, 1);
  EXPECT_EQ(notes, 1);

  const std::vector<v1::Record> omitted = publish("omit");
  EXPECT_EQ(omitted.size(), sealed.size());
  for (const v1::Record& r : omitted) {
    EXPECT_FALSE(r.has_sealed());
    EXPECT_EQ(r.event().note().text(), "");
  }

  options_.feed_personal = "clear";
  const auto refused = kafka::ChangeFeed::Start(engine_.get(), options_);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(KafkaTest, WhileEveryBrokerIsDownTheLogGrowsTheLagShowsAndNothingIsLost) {
  auto feed = kafka::ChangeFeed::Start(engine_.get(), options_);
  ASSERT_TRUE(feed.ok()) << feed.status();
  SubmitSome("before", 60, 10);
  ASSERT_TRUE((*feed)->AwaitPublished(LogPositions(), std::chrono::seconds(30)));

  Cluster().SetAllBrokersDown(true);
  const auto before_outage = LogPositions();
  // Submissions go on as usual: the feed only reads the store.
  SubmitSome("during", 120, 10);
  uint64_t lag = 0, grown = 0;
  for (const auto& p : (*feed)->Status()) lag += p.lag();
  const auto during = LogPositions();
  for (size_t p = 0; p < during.size(); ++p) grown += during[p] - before_outage[p];
  EXPECT_GT(grown, 0u);
  EXPECT_GE(lag, grown) << "nothing can be confirmed while every broker is down";
  EXPECT_FALSE((*feed)->AwaitPublished(during, std::chrono::milliseconds(300)));

  Cluster().SetAllBrokersDown(false);
  SubmitSome("after", 30, 10);
  ASSERT_TRUE((*feed)->AwaitPublished(LogPositions(), std::chrono::seconds(60)));
  for (const auto& p : (*feed)->Status()) EXPECT_EQ(p.error(), "");
  // The mock broker does not deduplicate a batch that was in flight when it
  // went down (a real one does, by producer sequence): a copy may appear,
  // byte-identical and recognisable by (case, version). CheckFeed allows
  // that, and nothing else: every record, each case in order.
  const FeedCheck check =
      CheckFeed(*engine_, testing::ReadTopic(options_.brokers, options_.feed_topic, 3));
  uint64_t total = 0;
  for (uint64_t n : LogPositions()) total += n;
  EXPECT_EQ(check.messages - check.duplicates, total);
}

// The ingest, in process.
class IngestTest : public KafkaTest {
 protected:
  void SetUp() override {
    KafkaTest::SetUp();
    options_.ingest_topic =
        std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + ".events";
    Cluster().CreateTopic(options_.ingest_topic, 2);
    Cluster().CreateTopic(options_.dead_letter_topic, 1);
    SubmitAs(&development_, "");
  }

  // The ingest submits as `subject`, through `gate`, as gridcased has it.
  void SubmitAs(const security::Gate* gate, const std::string& subject) {
    options_.admit = [gate, subject](v1::SubmitRequest* request) -> absl::Status {
      auto admitted = gate->AdmitSubject(subject, security::MethodOf<v1::EventService>("Submit"));
      if (!admitted.ok()) return admitted.status();
      return admitted->AdmitSubmission(request);
    };
  }

  Directory no_directory_;
  security::Gate development_{&no_directory_, security::GateOptions{.development = true}};

  // Waits (on commits, at most 30 s) until the ingest has decided `n`
  // messages: applied, dead-lettered or duplicates. Returns how many it had.
  uint64_t AwaitDecided(kafka::Bridge& bridge, uint64_t n) {
    auto decided = [&] {
      const auto s = bridge.Status();
      uint64_t d = 0;
      if (!s.ok()) return d;
      for (const auto& p : s->ingest()) d += p.applied() + p.dead_lettered() + p.duplicates();
      return d;
    };
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (decided() < n && std::chrono::steady_clock::now() < deadline) {
      engine_->AwaitCommit(engine_->commit_generation(), std::chrono::milliseconds(200));
    }
    return decided();
  }

  // Reads the dead-letter topic until it holds `n` letters (at most 30 s).
  std::vector<KafkaMessage> AwaitLetters(size_t n) {
    std::vector<KafkaMessage> letters;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (letters.size() < n && std::chrono::steady_clock::now() < deadline) {
      letters = testing::ReadTopic(options_.brokers, options_.dead_letter_topic, 1);
    }
    return letters;
  }
};

std::string FeverJson(const std::string& event_id, const std::string& case_id, double celsius) {
  return "{\"eventId\":\"" + event_id + "\",\"caseId\":\"" + case_id +
         "\",\"occurredAt\":\"2020-02-22T12:00:00Z\",\"actor\":{\"id\":\"worker-li\"}," +
         "\"gridId\":\"jiangan-07-03\",\"feverReading\":{\"celsius\":" + std::to_string(celsius) +
         "}}";
}

// The ingest runs as an application of the principals file, under the
// rules a gRPC caller has: no message can make it submit as someone it may
// not, or touch a grid beyond its units; each such message is dead-lettered
// PERMISSION_DENIED, and each record applied names the application.
TEST_F(IngestTest, TheIngestSubmitsAsItsPrincipalAndNoMessageClaimsMore) {
  v1::Actor admin;
  admin.set_id("setup");
  ASSERT_TRUE(
      engine_->staffing().ImportDirectory(testing::ExampleDirectory(), "example", admin).ok());
  auto principals = security::PrincipalsFile::Parse(
      R"({"applications": [{"id": "feeder", "units": ["jiangan-07-c2"],
                            "acts_for_people": true}]})");
  ASSERT_TRUE(principals.ok()) << principals.status();
  const security::Gate gate(&engine_->staffing().directory(),
                            security::GateOptions{.principals = *principals});
  SubmitAs(&gate, "gridcase:app:feeder");

  auto event = [](const std::string& id, const std::string& actor, const std::string& grid) {
    return "{\"eventId\":\"" + id + "\",\"caseId\":\"case-" + id +
           "\",\"occurredAt\":\"2020-02-22T12:00:00Z\",\"actor\":{\"id\":\"" + actor +
           "\"},\"gridId\":\"" + grid + "\",\"feverReading\":{\"celsius\":36.6}}";
  };
  const std::vector<std::pair<std::string, std::string>> messages = {
      {"a", event("ok-for-li", "worker-li", "jiangan-07-03")},
      {"b", event("as-itself", "feeder", "jiangan-07-04")},
      {"c", event("officer-beyond", "officer-xu", "jiangan-07-03")},
      {"d", event("grid-beyond", "worker-li", "wuchang-01-01")},
      {"e", event("engine", "gridcase", "jiangan-07-03")},
      // The server's own fields, filled in by the message: replaced.
      {"f", "{\"event\":" + event("forged", "worker-li", "jiangan-07-03") +
                ",\"submittedBy\":\"gridcase:person:officer-xu\",\"submitterUnits\":[\"*\"]}"},
  };
  testing::WriteTopic(options_.brokers, options_.ingest_topic, messages);
  auto bridge = kafka::Bridge::Start(engine_.get(), options_);
  ASSERT_TRUE(bridge.ok()) << bridge.status();
  ASSERT_EQ(AwaitDecided(**bridge, messages.size()), messages.size());

  for (const char* id : {"ok-for-li", "as-itself", "forged"}) {
    v1::GetTimelineRequest req;
    req.set_case_id(std::string("case-") + id);
    auto timeline = engine_->GetTimeline(req);
    ASSERT_TRUE(timeline.ok()) << id << ": " << timeline.status();
    EXPECT_EQ(timeline->records(0).submitted_by(), "gridcase:app:feeder") << id;
  }
  const std::vector<KafkaMessage> letters = AwaitLetters(3);
  ASSERT_EQ(letters.size(), 3u);
  std::set<std::string> refused;
  for (const auto& l : letters) {
    EXPECT_EQ(l.headers.at(kafka::kHeaderErrorCode), "PERMISSION_DENIED");
    EXPECT_THAT(l.headers.at(kafka::kHeaderError), HasSubstr("application feeder"));
    refused.insert(l.value);
  }
  EXPECT_EQ(refused, (std::set<std::string>{event("officer-beyond", "officer-xu", "jiangan-07-03"),
                                            event("grid-beyond", "worker-li", "wuchang-01-01"),
                                            event("engine", "gridcase", "jiangan-07-03")}));
  for (const char* id : {"officer-beyond", "grid-beyond", "engine"}) {
    EXPECT_EQ(engine_->GetCase(std::string("case-") + id).status().code(),
              absl::StatusCode::kNotFound)
        << id;
  }
  (*bridge)->StopIngest();
}

// Kafka secrets come from a file only its owner may read, and no message
// ever carries a value from it.
TEST(KafkaSecretsTest, AreReadFromAnOwnerOnlyFileAndNeverShown) {
  testing::TempDir dir;
  const std::string path = dir.Sub("kafka-secrets");
  testing::WriteFileWithMode(path,
                             "# SASL credentials\n"
                             "sasl.username=gridcase\n"
                             "sasl.password=hunter2-secret\n",
                             0640);
  auto loose = kafka::LoadSecrets(path);
  ASSERT_FALSE(loose.ok());
  EXPECT_EQ(loose.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(loose.status().message()), HasSubstr("kafka secrets file " + path));

  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  auto secrets = kafka::LoadSecrets(path);
  ASSERT_TRUE(secrets.ok()) << secrets.status();
  ASSERT_EQ(secrets->size(), 2u);
  EXPECT_EQ((*secrets)[1],
            std::make_pair(std::string("sasl.password"), std::string("hunter2-secret")));

  // A value librdkafka refuses (it quotes it in its own message): named by
  // key only.
  kafka::KafkaOptions options;
  options.brokers = "localhost:9";
  options.secret_properties = {{"security.protocol", "hunter2-secret"}};
  auto conf = kafka::MakeConf(options, {});
  ASSERT_FALSE(conf.ok());
  EXPECT_THAT(std::string(conf.status().message()), HasSubstr("security.protocol"));
  EXPECT_THAT(std::string(conf.status().message()), Not(HasSubstr("hunter2")));
  // (The same value as an ordinary property is quoted: the hiding is ours.)
  options.properties = options.secret_properties;
  options.secret_properties.clear();
  auto plain = kafka::MakeConf(options, {});
  ASSERT_FALSE(plain.ok());
  EXPECT_THAT(std::string(plain.status().message()), HasSubstr("hunter2"));
  // A line that is not key=value: its line, not its text.
  testing::WriteFileWithMode(path, "sasl.password hunter2-secret\n", 0600);
  auto malformed = kafka::LoadSecrets(path);
  ASSERT_FALSE(malformed.ok());
  EXPECT_THAT(std::string(malformed.status().message()), HasSubstr("line 1"));
  EXPECT_THAT(std::string(malformed.status().message()), Not(HasSubstr("hunter2")));
  auto property = kafka::ParseProperty("sasl.password:hunter2-secret");
  ASSERT_FALSE(property.ok());
  EXPECT_THAT(std::string(property.status().message()), Not(HasSubstr("hunter2")));
}

TEST_F(IngestTest, EachMessageIsAppliedOnceAndAPoisonMessageIsDeadLettered) {
  std::vector<std::pair<std::string, std::string>> messages;
  for (int i = 0; i < 40; ++i) {
    const std::string c = "k-" + std::to_string(i % 8);
    messages.emplace_back(c, FeverJson("k-f-" + std::to_string(i), c, 36.5));
    if (i == 10) messages.emplace_back(c, "{\"caseId\": \"k-0\", \"feverReading\": ");
    if (i == 20) messages.emplace_back(c, FeverJson("k-bad", c, 55.0));  // out of range
  }
  // A protobuf Event, and one without an event id (given one by its offset).
  v1::Event proto = Fever("k-proto", "k-1", 36.6, NowUs());
  messages.emplace_back("k-1", proto.SerializeAsString());
  messages.emplace_back("k-2", FeverJson("", "k-2", 36.7));
  testing::WriteTopic(options_.brokers, options_.ingest_topic, messages);

  auto bridge = kafka::Bridge::Start(engine_.get(), options_);
  ASSERT_TRUE(bridge.ok()) << bridge.status();
  // Decided: 40 + 2 applied, 2 dead letters, over the topic's 2 partitions.
  ASSERT_EQ(AwaitDecided(**bridge, messages.size()), messages.size());
  uint64_t applied = 0, dead = 0;
  const auto status = (*bridge)->Status();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->error(), "");
  for (const auto& p : status->ingest()) {
    applied += p.applied();
    dead += p.dead_lettered();
    EXPECT_EQ(p.duplicates(), 0u);
  }
  EXPECT_EQ(applied, 42u);
  EXPECT_EQ(dead, 2u);
  for (int c = 0; c < 8; ++c) {
    auto state = engine_->GetCase("k-" + std::to_string(c));
    ASSERT_TRUE(state.ok()) << state.status();
  }
  v1::GetTimelineRequest timeline;
  timeline.set_case_id("k-2");
  timeline.set_page_size(1000);
  auto records = engine_->GetTimeline(timeline);
  ASSERT_TRUE(records.ok());
  bool derived_id = false;
  for (const auto& r : records->records()) {
    derived_id |= absl::StartsWith(r.event().event_id(), "kafka:" + options_.ingest_topic + ":");
  }
  EXPECT_TRUE(derived_id);

  // The dead letters reach their topic with the original bytes and why.
  const std::vector<KafkaMessage> letters = AwaitLetters(2);
  ASSERT_EQ(letters.size(), 2u);
  std::set<std::string> originals;
  for (const auto& l : letters) {
    originals.insert(l.value);
    EXPECT_EQ(l.headers.at(kafka::kHeaderErrorCode), "INVALID_ARGUMENT");
    EXPECT_EQ(l.headers.at(kafka::kHeaderSourceTopic), options_.ingest_topic);
    EXPECT_FALSE(l.headers.at(kafka::kHeaderSourceOffset).empty());
  }
  EXPECT_TRUE(originals.count("{\"caseId\": \"k-0\", \"feverReading\": "));
  EXPECT_TRUE(originals.count(FeverJson("k-bad", "k-4", 55.0)));
  for (const auto& l : letters) {
    if (l.value == FeverJson("k-bad", "k-4", 55.0)) {
      EXPECT_THAT(l.headers.at(kafka::kHeaderError), HasSubstr("celsius"));
    }
  }
  // Handed on: nothing is kept in the store any more.
  const auto kept_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  uint64_t kept = 1;
  while (kept > 0 && std::chrono::steady_clock::now() < kept_deadline) {
    kept = 0;
    for (uint32_t p = 0; p < engine_->partition_count(); ++p) {
      std::vector<std::pair<std::string, v1::DeadLetter>> rows;
      ASSERT_TRUE(engine_->streams().DeadLetters(PartitionId(p), 100, &rows).ok());
      kept += rows.size();
    }
    if (kept > 0)
      engine_->AwaitCommit(engine_->commit_generation(), std::chrono::milliseconds(100));
  }
  EXPECT_EQ(kept, 0u);
  (*bridge)->StopIngest();
}

// GetKafkaStatus's pending dead letters are those Kafka has not
// confirmed, exactly, whenever it is asked. With the dead-letter topic's
// broker down none can be confirmed, so every letter written is pending;
// once it is back, none is.
TEST_F(IngestTest, PendingDeadLettersAreExactlyThoseKafkaHasNotConfirmed) {
  // The dead-letter topic on broker 3; what the ingest reads on broker 1.
  Cluster().SetLeader(options_.dead_letter_topic, 0, 3);
  Cluster().SetLeader(options_.ingest_topic, 0, 1);
  Cluster().SetLeader(options_.ingest_topic, 1, 1);
  Cluster().SetGroupCoordinator(options_.group, 1);
  // Messages that are not events all become dead letters of engine
  // partition 0: more of them than the hand-over takes at a time.
  constexpr int kLetters = 300, kEvents = 20;
  std::vector<std::pair<std::string, std::string>> messages;
  for (int i = 0; i < kLetters + kEvents; ++i) {
    const std::string c = "pend-" + std::to_string(i % 5);
    messages.emplace_back(c, i % 16 == 0 && i / 16 < kEvents
                                 ? FeverJson("pend-f-" + std::to_string(i), c, 36.5)
                                 : "{\"not an event\": " + std::to_string(i));
  }
  testing::WriteTopic(options_.brokers, options_.ingest_topic, messages);
  Cluster().SetBrokerDown(3, true);

  auto bridge = kafka::Bridge::Start(engine_.get(), options_);
  ASSERT_TRUE(bridge.ok()) << bridge.status();
  uint64_t decided = 0, dead = 0, pending = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (decided < messages.size() && std::chrono::steady_clock::now() < deadline) {
    const auto status = (*bridge)->Status();
    ASSERT_TRUE(status.ok()) << status.status();
    decided = dead = 0;
    for (const auto& p : status->ingest()) {
      decided += p.applied() + p.dead_lettered() + p.duplicates();
      dead += p.dead_lettered();
    }
    // Every letter counted as decided was written before it was counted.
    EXPECT_GE(status->dead_letters_pending(), dead);
    engine_->AwaitCommit(engine_->commit_generation(), std::chrono::milliseconds(50));
  }
  ASSERT_EQ(decided, messages.size());
  auto status = (*bridge)->Status();
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_EQ(dead, static_cast<uint64_t>(kLetters));
  EXPECT_EQ(status->dead_letters_pending(), static_cast<uint64_t>(kLetters));

  Cluster().SetBrokerDown(3, false);
  const auto confirmed_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  do {
    status = (*bridge)->Status();
    ASSERT_TRUE(status.ok()) << status.status();
    pending = status->dead_letters_pending();
    if (pending > 0) {  // a poll, not a wait for time
      engine_->AwaitCommit(engine_->commit_generation(), std::chrono::milliseconds(100));
    }
  } while (pending > 0 && std::chrono::steady_clock::now() < confirmed_deadline);
  EXPECT_EQ(pending, 0u);
  std::set<std::string> offsets;
  for (const auto& l : testing::ReadTopic(options_.brokers, options_.dead_letter_topic, 1)) {
    offsets.insert(l.headers.at(kafka::kHeaderSourcePartition) + "/" +
                   l.headers.at(kafka::kHeaderSourceOffset));
  }
  EXPECT_EQ(offsets.size(), static_cast<size_t>(kLetters));
  (*bridge)->StopIngest();
}

// The ingest goes through the same validation as gRPC: a message written
// as if by gridcase itself, or carrying a payload only the engine writes,
// is a dead letter with the reason, nothing of it is written, and the
// messages after it go on.
TEST_F(IngestTest, AMessagePosingAsTheEngineIsDeadLettered) {
  const std::string open = FeverJson("p-open", "p-1", 36.6);
  const std::string posing =
      "{\"eventId\":\"p-posing\",\"caseId\":\"p-1\",\"occurredAt\":\"2020-02-22T12:00:00Z\","
      "\"actor\":{\"id\":\"gridcase\",\"kind\":\"ACTOR_KIND_SYSTEM\"},"
      "\"channel\":\"CHANNEL_SYSTEM\",\"feverReading\":{\"celsius\":39.5}}";
  const std::string expired =
      "{\"eventId\":\"p-expired\",\"caseId\":\"p-1\",\"occurredAt\":\"2020-02-22T12:00:00Z\","
      "\"actor\":{\"id\":\"worker-li\"},\"deadlineExpired\":{\"deadline\":\"daily-check\"}}";
  const std::string after = FeverJson("p-after", "p-1", 36.7);
  testing::WriteTopic(options_.brokers, options_.ingest_topic,
                      {{"p-1", open}, {"p-1", posing}, {"p-1", expired}, {"p-1", after}});

  auto bridge = kafka::Bridge::Start(engine_.get(), options_);
  ASSERT_TRUE(bridge.ok()) << bridge.status();
  ASSERT_EQ(AwaitDecided(**bridge, 4), 4u);
  std::map<std::string, std::string> reasons;  // original -> reason
  for (const auto& l : AwaitLetters(2)) {
    EXPECT_EQ(l.headers.at(kafka::kHeaderErrorCode), "INVALID_ARGUMENT");
    reasons[l.value] = l.headers.at(kafka::kHeaderError);
  }
  ASSERT_EQ(reasons.size(), 2u);
  EXPECT_THAT(reasons[posing],
              HasSubstr("event.actor.kind: ACTOR_KIND_SYSTEM is reserved to gridcase itself"));
  EXPECT_THAT(reasons[expired], HasSubstr("event.deadline_expired: is written by the engine only"));

  v1::GetTimelineRequest timeline;
  timeline.set_case_id("p-1");
  timeline.set_page_size(1000);
  auto records = engine_->GetTimeline(timeline);
  ASSERT_TRUE(records.ok()) << records.status();
  std::vector<std::string> submitted;
  for (const auto& r : records->records()) {
    if (r.caused_by() == 0) submitted.push_back(r.event().event_id());
    EXPECT_NE(r.event().event_id(), "p-posing");
  }
  EXPECT_EQ(submitted, (std::vector<std::string>{"p-open", "p-after"}));
  (*bridge)->StopIngest();
}

// On a server that seals personal data, dead letters wait sealed under
// keys of their own and reach their topic with the message's bytes, opened
// on the way; their keys are destroyed once Kafka has them. A message
// about an erased case, or one whose case was erased while it waited,
// reaches the topic without its bytes.
TEST_F(IngestTest, ASealingServerHandsLettersOnOpenedAndThenDestroysTheirKeys) {
  engine_->Stop();
  const std::string master(32, '\x33');
  engine_ = testing::OpenWithShippedWorkflows(dir_.Sub("sealed"), 4, &clock_, nullptr, master);
  ASSERT_NE(engine_, nullptr);
  auto erase = [&](const std::string& case_id) {
    return engine_->erasures().Erase(testing::OfficersErasure(case_id)).status();
  };
  for (const char* c : {"s-erased", "s-later"}) {
    ASSERT_TRUE(
        testing::SubmitSync(*engine_, Req(Fever(absl::StrCat(c, "-0"), c, 37.0, NowUs()))).ok());
  }
  ASSERT_TRUE(erase("s-erased").ok());
  constexpr char kMarker[] = "QXJZKWPLMRTBVHNC";

  // A letter decided earlier (from another topic), about a case erased
  // while it waits: a request at a version its case is not at, with a place.
  const std::string stale = absl::StrCat(
      "{\"expectedVersion\":\"99\",\"event\":{\"eventId\":\"s-stale\",\"caseId\":\"s-later\",",
      "\"occurredAt\":\"2020-02-22T12:00:00Z\",\"actor\":{\"id\":\"worker-li\"},",
      "\"feverReading\":{\"celsius\":36.8,\"location\":\"", kMarker, "\"}}}");
  v1::SubmitRequest stale_request = Req(Fever("s-stale", "s-later", 36.8, NowUs()));
  stale_request.mutable_event()->mutable_fever_reading()->set_location(kMarker);
  stale_request.set_expected_version(99);
  auto refused = testing::SubmitFromStreamSync(*engine_, stale_request, {"earlier/0", 5, stale});
  ASSERT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  ASSERT_TRUE(erase("s-later").ok());

  // The dead-letter topic's broker is down while the messages are decided,
  // so the letters wait in the store.
  Cluster().SetLeader(options_.dead_letter_topic, 0, 3);
  Cluster().SetLeader(options_.ingest_topic, 0, 1);
  Cluster().SetLeader(options_.ingest_topic, 1, 1);
  Cluster().SetGroupCoordinator(options_.group, 1);
  const std::string unreadable = absl::StrCat("{\"notes\": \"", kMarker);
  const std::string hot = FeverJson("s-hot", "s-new", 55.0);
  const std::string about_erased = FeverJson("s-late", "s-erased", 36.9);
  testing::WriteTopic(options_.brokers, options_.ingest_topic,
                      {{"a", unreadable}, {"s-new", hot}, {"s-erased", about_erased}});
  Cluster().SetBrokerDown(3, true);
  auto bridge = kafka::Bridge::Start(engine_.get(), options_);
  ASSERT_TRUE(bridge.ok()) << bridge.status();
  ASSERT_EQ(AwaitDecided(**bridge, 3), 3u);

  std::map<std::string, v1::DeadLetter> waiting;  // case id -> letter
  for (uint32_t p = 0; p < engine_->partition_count(); ++p) {
    std::vector<std::pair<std::string, v1::DeadLetter>> rows;
    ASSERT_TRUE(engine_->streams().DeadLetters(PartitionId(p), 100, &rows).ok());
    for (const auto& [key, letter] : rows) {
      EXPECT_EQ(letter.SerializeAsString().find(kMarker), std::string::npos);
      waiting[letter.case_id()] = letter;
    }
  }
  ASSERT_EQ(waiting.size(), 4u);
  EXPECT_TRUE(waiting[""].has_sealed());
  EXPECT_TRUE(waiting["s-new"].has_sealed());
  EXPECT_TRUE(waiting["s-later"].has_sealed());
  EXPECT_FALSE(waiting["s-erased"].has_sealed());
  EXPECT_EQ(waiting["s-erased"].original(), "");

  Cluster().SetBrokerDown(3, false);
  const std::vector<KafkaMessage> letters = AwaitLetters(4);
  ASSERT_EQ(letters.size(), 4u);
  std::multiset<std::string> values;
  std::vector<std::string> withheld;  // source topics of letters without bytes, and why
  for (const auto& l : letters) {
    values.insert(l.value);
    auto h = l.headers.find(kafka::kHeaderWithheld);
    if (h != l.headers.end()) {
      withheld.push_back(l.headers.at(kafka::kHeaderSourceTopic) + ": " + h->second);
    }
  }
  EXPECT_EQ(values, (std::multiset<std::string>{unreadable, hot, "", ""}));
  ASSERT_EQ(withheld.size(), 1u);
  EXPECT_THAT(withheld[0], HasSubstr("earlier: "));
  EXPECT_THAT(withheld[0], HasSubstr("key is gone"));

  // Handed on: no letter left, and the keys they were sealed under gone.
  const auto kept_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  uint64_t kept = 1;
  while (kept > 0 && std::chrono::steady_clock::now() < kept_deadline) {
    kept = 0;
    for (uint32_t p = 0; p < engine_->partition_count(); ++p) {
      auto n = engine_->streams().CountDeadLetters(PartitionId(p));
      ASSERT_TRUE(n.ok()) << n.status();
      kept += *n;
    }
    if (kept > 0)
      engine_->AwaitCommit(engine_->commit_generation(), std::chrono::milliseconds(100));
  }
  EXPECT_EQ(kept, 0u);
  (*bridge)->StopIngest();
  bridge->reset();
  engine_.reset();
  auto keys = privacy::KeyStore::Open(dir_.Sub("sealed") + "/keys/subjects", master);
  ASSERT_TRUE(keys.ok()) << keys.status();
  for (const auto& [case_id, letter] : waiting) {
    if (!letter.has_sealed()) continue;
    EXPECT_TRUE(absl::IsNotFound((*keys)->Find(letter.sealed().subject()).status())) << case_id;
  }
}

// gridcased as a child process with Kafka, killed with SIGKILL.
class KafkaCrashTest : public IngestTest {
 protected:
  void StartServer() {
    std::vector<std::string> args{"--development",
                                  "--data-dir",
                                  dir_.Sub("served"),
                                  "--listen",
                                  "127.0.0.1:0",
                                  "--workflows",
                                  testing::ShippedWorkflowDir(),
                                  "--kafka-brokers",
                                  options_.brokers,
                                  "--kafka-feed-topic",
                                  options_.feed_topic,
                                  "--kafka-ingest-topic",
                                  options_.ingest_topic,
                                  "--kafka-group",
                                  options_.group,
                                  "--kafka-dead-letter-topic",
                                  options_.dead_letter_topic};
    for (const auto& [k, v] : testing::MockClientProperties()) {
      args.push_back("--kafka-property");
      args.push_back(k + "=" + v);
    }
    server_ = std::make_unique<testing::ChildServer>(GRIDCASED_PATH, args);
    ASSERT_NE(server_->port(), 0) << server_->output();
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
  }

  v1::KafkaStatus Status() {
    auto admin = v1::AdminService::NewStub(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::KafkaStatus status;
    const grpc::Status st = admin->GetKafkaStatus(&ctx, {}, &status);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return status;
  }

  // Polls the server's Kafka status until `done` holds or `timeout`.
  bool AwaitStatus(const std::function<bool(const v1::KafkaStatus&)>& done,
                   std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done(Status())) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a poll, not a wait for time
    }
    return false;
  }

  // The served data directory, opened once the server is stopped.
  std::unique_ptr<Engine> OpenServed() {
    EngineOptions options;
    options.data_dir = dir_.Sub("served");
    auto engine = Engine::Open(options, &clock_);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? std::move(*engine) : nullptr;
  }

  std::unique_ptr<testing::ChildServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(KafkaCrashTest, AFeedKilledMidwayResumesWithNoGap) {
  options_.ingest_topic = "";
  StartServer();
  auto events = v1::EventService::NewStub(channel_);
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      v1::SubmitResponse out;
      const std::string c = "kill-" + std::to_string(i % 40);
      if (events
              ->Submit(&ctx,
                       Req(Fever("kill-f-" + std::to_string(i), c, 37.2 + (i % 3) * 0.3, NowUs())),
                       &out)
              .ok()) {
        ++sent;
      }
    }
  });
  while (sent < 300) std::this_thread::yield();
  server_->KillAndWait(SIGKILL);
  stop = true;
  writer.join();

  StartServer();
  auto again = v1::EventService::NewStub(channel_);
  for (int i = 0; i < 20; ++i) {
    grpc::ClientContext ctx;
    v1::SubmitResponse out;
    ASSERT_TRUE(
        again->Submit(&ctx, Req(Fever("after-" + std::to_string(i), "kill-0", 36.6, NowUs())), &out)
            .ok());
  }
  ASSERT_TRUE(AwaitStatus(
      [](const v1::KafkaStatus& s) {
        for (const auto& p : s.feed()) {
          if (p.lag() != 0 || !p.error().empty()) return false;
        }
        return s.feed_size() > 0;
      },
      std::chrono::seconds(60)));
  ASSERT_EQ(server_->KillAndWait(SIGTERM), 0) << server_->output();
  auto served = OpenServed();
  ASSERT_NE(served, nullptr);
  const FeedCheck check =
      CheckFeed(*served, testing::ReadTopic(options_.brokers, options_.feed_topic, 3));
  uint64_t total = 0;
  for (uint32_t p = 0; p < served->partition_count(); ++p) {
    auto last = served->partitions().store(PartitionId(p)).ReadLastRecord();
    total += last.ok() && last->has_value() ? (*last)->record.position() : 0;
  }
  // Records confirmed but not yet saved when it was killed went out twice:
  // allowed, identical, and never more than were in flight.
  EXPECT_EQ(check.messages - check.duplicates, total);
}

TEST_F(KafkaCrashTest, AnIngestKilledMidwayAppliesNothingTwiceAndSkipsNothing) {
  constexpr int kMessages = 20000;
  std::vector<std::pair<std::string, std::string>> messages;
  for (int i = 0; i < kMessages; ++i) {
    const std::string c = "in-" + std::to_string(i % 500);
    messages.emplace_back(c, FeverJson("in-f-" + std::to_string(i), c, 36.0 + (i % 10) * 0.2));
  }
  testing::WriteTopic(options_.brokers, options_.ingest_topic, messages);
  StartServer();
  // Killed while it is deciding messages.
  ASSERT_TRUE(AwaitStatus(
      [](const v1::KafkaStatus& s) {
        uint64_t n = 0;
        for (const auto& p : s.ingest()) n += p.applied();
        return n >= 2000;
      },
      std::chrono::seconds(60)));
  server_->KillAndWait(SIGKILL);

  StartServer();
  const auto ends = testing::ReadTopic(options_.brokers, options_.ingest_topic, 2);
  ASSERT_EQ(ends.size(), static_cast<size_t>(kMessages));
  std::map<int32_t, int64_t> end_of;
  for (const auto& m : ends) end_of[m.partition] = std::max(end_of[m.partition], m.offset + 1);
  v1::KafkaStatus final_status;
  ASSERT_TRUE(AwaitStatus(
      [&](const v1::KafkaStatus& s) {
        final_status = s;
        int done = 0;
        for (const auto& p : s.ingest()) done += p.decided_before() >= end_of[p.kafka_partition()];
        return done == static_cast<int>(end_of.size());
      },
      std::chrono::seconds(60)))
      << final_status.DebugString();
  // After the restart no message already decided was submitted again: a
  // resubmission would have been answered as a duplicate.
  for (const auto& p : final_status.ingest()) {
    EXPECT_EQ(p.duplicates(), 0u) << p.DebugString();
    EXPECT_EQ(p.dead_lettered(), 0u) << p.DebugString();
    // Read to the end: the high watermark the consumer fetched is the end,
    // so the lag is 0.
    EXPECT_EQ(p.high_watermark(), end_of[p.kafka_partition()]) << p.DebugString();
  }
  EXPECT_EQ(final_status.error(), "");
  ASSERT_EQ(server_->KillAndWait(SIGTERM), 0) << server_->output();

  // Every message is in the log exactly once.
  auto served = OpenServed();
  ASSERT_NE(served, nullptr);
  std::map<std::string, int> seen;
  for (uint32_t p = 0; p < served->partition_count(); ++p) {
    std::vector<v1::LogEntry> entries;
    ASSERT_TRUE(
        served->partitions().store(PartitionId(p)).ReadLog(Position(1), SIZE_MAX, &entries).ok());
    for (const auto& e : entries) {
      if (e.record().caused_by() == 0 && e.record().event().has_fever_reading()) {
        ++seen[e.record().event().event_id()];
      }
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kMessages));
  for (const auto& [id, n] : seen) ASSERT_EQ(n, 1) << id;
}

}  // namespace
}  // namespace gridcase
