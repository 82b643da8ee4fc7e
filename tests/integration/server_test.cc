// The real server on an ephemeral loopback port, called through the
// generated gRPC clients.
#include "services/api/server.h"

#include <array>
#include <map>
#include <set>
#include <thread>

#include "engine/common/clock.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/integration/server_fixture.h"
#include "tests/support/events.h"

namespace gridcase {
namespace {

using ::gridcase::testing::BaseEvent;
using ::gridcase::testing::Fever;
using ::gridcase::testing::NoteEvent;
using ::gridcase::testing::NowUs;
using ::gridcase::testing::OneSubmission;
using ::gridcase::testing::Req;
using ::gridcase::testing::ServerTest;
using ::testing::HasSubstr;

TEST_F(ServerTest, HealthReportsServing) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext ctx;
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  ASSERT_TRUE(health->Check(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(ServerTest, SubmitDuplicateAndConflict) {
  v1::SubmitResponse first, again;
  ASSERT_TRUE(Submit(Fever("e1", "guard", 37.7, NowUs()), &first).ok());
  EXPECT_EQ(first.case_version(), 1u);
  EXPECT_FALSE(first.duplicate());
  EXPECT_EQ(first.event_id(), "e1");
  EXPECT_EQ(first.case_id(), "guard");

  const auto e = Fever("e2", "guard", 37.9, NowUs());
  v1::SubmitResponse second;
  ASSERT_TRUE(Submit(e, &second).ok());
  ASSERT_TRUE(Submit(e, &again).ok());
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(again.position(), second.position());
  EXPECT_EQ(again.case_version(), second.case_version());

  auto changed = e;
  changed.mutable_fever_reading()->set_celsius(38.0);
  grpc::Status conflict = Submit(changed);
  EXPECT_EQ(conflict.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(conflict.error_message(), HasSubstr("event_id e2"));
}

TEST_F(ServerTest, VersionConflictCarriesTheCurrentVersion) {
  ASSERT_TRUE(Submit(Fever("e1", "guard", 36.9, NowUs())).ok());  // + 2 derived
  ASSERT_TRUE(Submit(Fever("e2", "guard", 37.0, NowUs())).ok());
  auto req = Req(Fever("e3", "guard", 37.7, NowUs()));
  req.set_expected_version(2);
  v1::SubmitResponse resp;
  std::string current_version;
  grpc::Status st = Submit(req, &resp, &current_version);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(st.error_message(), HasSubstr("expected_version 2 but case guard is at version 4"));
  EXPECT_EQ(current_version, "4");
}

TEST_F(ServerTest, BadInputIsInvalidArgumentNamingTheField) {
  grpc::Status st = Submit(Fever("e1", "guard", 99.0, NowUs()));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("event.fever_reading.celsius"));
  st = Submit(BaseEvent("e1", "guard", NowUs()));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("event.payload"));
  st = Submit(Fever("e1", "guard", 37.0, NowUs() + 3600LL * 1000000));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("event.occurred_at"));

  grpc::ClientContext ctx;
  v1::GetCaseRequest get;
  get.set_case_id("guard");
  v1::CaseState state;
  EXPECT_EQ(cases_->GetCase(&ctx, get, &state).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServerTest, TimelinePagesThroughEveryRecordInOrder) {
  ASSERT_TRUE(Submit(Fever("open", "c", 36.5, NowUs())).ok());
  for (int i = 1; i < 230; ++i) {  // 230 submitted, 2 derived on opening
    ASSERT_TRUE(Submit(NoteEvent("n" + std::to_string(i), "c", "visit", NowUs())).ok());
  }
  v1::GetTimelineRequest req;
  req.set_case_id("c");
  req.set_page_size(100);
  uint64_t expected = 1;
  int pages = 0;
  do {
    grpc::ClientContext ctx;
    v1::GetTimelineResponse page;
    ASSERT_TRUE(cases_->GetTimeline(&ctx, req, &page).ok());
    ++pages;
    for (const auto& r : page.records()) {
      EXPECT_EQ(r.case_version(), expected++);
      EXPECT_EQ(r.event().case_id(), "c");
      EXPECT_TRUE(r.has_recorded_at());
    }
    req.set_page_token(page.next_page_token());
  } while (!req.page_token().empty());
  EXPECT_EQ(expected, 233u);
  EXPECT_EQ(pages, 3);
}

TEST_F(ServerTest, ListCasesFilters) {
  for (int i = 0; i < 12; ++i) {
    auto e = Fever("f" + std::to_string(i), "case-" + std::to_string(10 + i), i < 4 ? 38.2 : 36.6,
                   NowUs());
    e.set_grid_id(i % 2 ? "g-odd" : "g-even");
    ASSERT_TRUE(Submit(e).ok());
  }
  auto list = [&](v1::ListCasesRequest req) {
    std::vector<std::string> ids;
    req.set_page_size(5);
    do {
      grpc::ClientContext ctx;
      v1::ListCasesResponse page;
      EXPECT_TRUE(cases_->ListCases(&ctx, req, &page).ok());
      for (const auto& c : page.cases()) ids.push_back(c.case_id());
      req.set_page_token(page.next_page_token());
    } while (!req.page_token().empty());
    return ids;
  };
  v1::ListCasesRequest req;
  EXPECT_EQ(list(req).size(), 12u);
  req.set_grid_id("g-odd");
  EXPECT_EQ(list(req), (std::vector<std::string>{"case-11", "case-13", "case-15", "case-17",
                                                 "case-19", "case-21"}));
  req.set_category(v1::CATEGORY_FEVER);
  EXPECT_EQ(list(req), (std::vector<std::string>{"case-11", "case-13"}));
  req.Clear();
  req.set_stage("screening");
  req.set_assignee("worker-li");
  EXPECT_EQ(list(req).size(), 12u);
  req.set_assignee("someone-else");
  EXPECT_TRUE(list(req).empty());
}

TEST_F(ServerTest, SubmitStreamAnswersEverySubmission) {
  constexpr int kCount = 2000;
  grpc::ClientContext ctx;
  // Every tenth is malformed; every 100th repeats the one before it.
  std::vector<v1::Event> events;
  for (int i = 0; i < kCount; ++i) {
    events.push_back(i % 100 == 99
                         ? events.back()
                         : Fever("s" + std::to_string(i), "case-" + std::to_string(i % 50),
                                 i % 10 == 5 ? 60.0 : 36.6, NowUs()));
  }
  auto stream = events_->SubmitStream(&ctx);
  std::thread writer([&] {
    // Messages of 1 to 37 submissions.
    for (int i = 0, size = 1; i < kCount; size = size % 37 + 1) {
      v1::StreamSubmitRequest req;
      for (int k = 0; k < size && i < kCount; ++k, ++i) {
        v1::StreamSubmission* s = req.add_submissions();
        s->set_request_id(i);
        *s->mutable_submit()->mutable_event() = events[i];
      }
      ASSERT_TRUE(stream->Write(req));
    }
    stream->WritesDone();
  });
  std::set<uint64_t> seen;
  int accepted = 0, duplicates = 0, refused = 0;
  v1::StreamSubmitResponse resp;
  while (stream->Read(&resp)) {
    EXPECT_GT(resp.answers_size(), 0);
    for (const v1::StreamAnswer& answer : resp.answers()) {
      EXPECT_TRUE(seen.insert(answer.request_id()).second);
      if (answer.has_accepted()) {
        ++accepted;
        duplicates += answer.accepted().duplicate();
        EXPECT_EQ(answer.accepted().event_id(), events[answer.request_id()].event_id());
      } else {
        ++refused;
        EXPECT_EQ(answer.refused().code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
        EXPECT_EQ(answer.request_id() % 10, 5u);
      }
    }
  }
  writer.join();
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_EQ(seen.size(), static_cast<size_t>(kCount));
  EXPECT_EQ(refused, kCount / 10);
  EXPECT_EQ(duplicates, kCount / 100);
  EXPECT_EQ(accepted, kCount - kCount / 10);
}

TEST_F(ServerTest, SubmitStreamKeepsTheOrderSentAcrossFullMessages) {
  // Five messages of 1,000 submissions over 7 cases: each message nearly
  // fills the stream's window of 1,024, so reading pauses and resumes
  // while answers come back. Each case's versions follow the order sent.
  constexpr int kMessages = 5, kPerMessage = 1000;
  grpc::ClientContext ctx;
  auto stream = events_->SubmitStream(&ctx);
  std::thread writer([&] {
    for (int m = 0; m < kMessages; ++m) {
      v1::StreamSubmitRequest req;
      for (int k = 0; k < kPerMessage; ++k) {
        const int i = m * kPerMessage + k;
        v1::StreamSubmission* s = req.add_submissions();
        s->set_request_id(i);
        *s->mutable_submit()->mutable_event() =
            Fever("big" + std::to_string(i), "big-case-" + std::to_string(i % 7), 36.6, NowUs());
      }
      ASSERT_TRUE(stream->Write(req));
    }
    stream->WritesDone();
  });
  std::map<uint64_t, std::pair<std::string, uint64_t>> by_request;  // id -> case, version
  v1::StreamSubmitResponse resp;
  while (stream->Read(&resp)) {
    for (const v1::StreamAnswer& answer : resp.answers()) {
      ASSERT_TRUE(answer.has_accepted()) << answer.refused().message();
      by_request[answer.request_id()] = {answer.accepted().case_id(),
                                         answer.accepted().case_version()};
    }
  }
  writer.join();
  ASSERT_TRUE(stream->Finish().ok());
  ASSERT_EQ(by_request.size(), static_cast<size_t>(kMessages * kPerMessage));
  std::map<std::string, uint64_t> last_version;
  for (const auto& [id, answer] : by_request) {  // in the order sent
    uint64_t& last = last_version[answer.first];
    // (A reading may add derived records: versions rise, by one or more.)
    EXPECT_GT(answer.second, last) << "request " << id << " of " << answer.first;
    last = answer.second;
  }
}

TEST_F(ServerTest, SubmitStreamRefusesAMessageLargerThanItsWindow) {
  grpc::ClientContext ctx;
  auto stream = events_->SubmitStream(&ctx);
  v1::StreamSubmitRequest req;
  for (int i = 0; i < 1025; ++i) {
    v1::StreamSubmission* s = req.add_submissions();
    s->set_request_id(i);
    *s->mutable_submit()->mutable_event() =
        Fever("over" + std::to_string(i), "over", 36.6, NowUs());
  }
  ASSERT_TRUE(stream->Write(req));
  v1::StreamSubmitResponse resp;
  EXPECT_FALSE(stream->Read(&resp));
  const grpc::Status st = stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("carries 1025 submissions; at most 1024"));
  // Nothing of it was recorded.
  auto cases = v1::CaseService::NewStub(channel_);
  grpc::ClientContext get_ctx;
  v1::GetCaseRequest get;
  get.set_case_id("over");
  v1::CaseState state;
  EXPECT_EQ(cases->GetCase(&get_ctx, get, &state).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServerTest, SubmitStreamEndsWithInvalidArgumentOnAMessageWithoutSubmissions) {
  grpc::ClientContext ctx;
  auto stream = events_->SubmitStream(&ctx);
  ASSERT_TRUE(stream->Write(OneSubmission(7, Fever("e1", "empty-case", 36.6, NowUs()))));
  ASSERT_TRUE(stream->Write(v1::StreamSubmitRequest()));
  // What was in flight is still answered; then the stream ends.
  int answered = 0;
  v1::StreamSubmitResponse resp;
  while (stream->Read(&resp)) {
    for (const v1::StreamAnswer& answer : resp.answers()) {
      EXPECT_EQ(answer.request_id(), 7u);
      EXPECT_TRUE(answer.has_accepted());
      ++answered;
    }
  }
  const grpc::Status st = stream->Finish();
  EXPECT_EQ(answered, 1);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("carries no submissions"));
}

TEST_F(ServerTest, AdminServiceDeploysListsAndRefusesBadDefinitions) {
  auto admin = v1::AdminService::NewStub(channel_);
  v1::DeployWorkflowRequest bad;
  bad.set_file_name("bad.textproto");
  bad.set_source(
      "name: \"bad\"\nversion: 1\nopens_on { event: \"fever_reading\" }\n"
      "initial_stage: \"a\"\nstages { name: \"a\" }\n");
  bad.mutable_actor()->set_id("admin-1");
  v1::DeployWorkflowResponse deployed;
  {
    grpc::ClientContext ctx;
    grpc::Status st = admin->DeployWorkflow(&ctx, bad, &deployed);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(st.error_message(),
                HasSubstr("bad.textproto:5: stage \"a\" is not terminal, but no rule moves"));
  }
  v1::DeployWorkflowRequest good = bad;
  good.set_source(bad.source() + "stages { name: \"b\" terminal: true }\n");
  good.set_source(
      std::string(good.source())
          .replace(
              good.source().find("stages { name: \"a\" }"), 20,
              "stages { name: \"a\" rules { name: \"r\" on: \"note\" then { move_to: \"b\" } } }"));
  {
    grpc::ClientContext ctx;
    grpc::Status st = admin->DeployWorkflow(&ctx, good, &deployed);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(deployed.name(), "bad");
    EXPECT_EQ(deployed.version(), 1u);
    EXPECT_FALSE(deployed.duplicate());
  }
  grpc::ClientContext ctx;
  v1::ListWorkflowsResponse listed;
  ASSERT_TRUE(admin->ListWorkflows(&ctx, v1::ListWorkflowsRequest(), &listed).ok());
  std::vector<std::string> names;
  for (const auto& w : listed.workflows())
    names.push_back(w.name() + "@" + std::to_string(w.version()));
  EXPECT_EQ(names, (std::vector<std::string>{"bad@1", "epidemic-case@1", "epidemic-case@2",
                                             "help-request@1", "help-request@2"}));
  grpc::ClientContext get_ctx;
  v1::GetWorkflowRequest get;
  get.set_name("nope");
  v1::WorkflowDefinition def;
  EXPECT_EQ(admin->GetWorkflow(&get_ctx, get, &def).error_code(), grpc::StatusCode::NOT_FOUND);
}

// What gridcase-bench reads to put throughput beside cost: the counts of
// what the sequencers wrote, and the process's CPU time.
TEST_F(ServerTest, ServerStatsCountWhatWasWrittenAndTheCpuUsed) {
  auto admin = v1::AdminService::NewStub(channel_);
  auto stats = [&] {
    grpc::ClientContext ctx;
    v1::ServerStats out;
    EXPECT_TRUE(admin->GetServerStats(&ctx, v1::GetServerStatsRequest(), &out).ok());
    return out;
  };
  const v1::ServerStats before = stats();
  ASSERT_EQ(before.partitions_size(), 4);
  // Enough work that the process's CPU clock (ticks of at most 10 ms)
  // must move.
  constexpr int kEvents = 300;
  for (int i = 0; i < kEvents; ++i) {
    ASSERT_TRUE(Submit(Fever("stats-e" + std::to_string(i), "stats-" + std::to_string(i % 7), 36.6,
                             NowUs()))
                    .ok());
  }
  const v1::ServerStats after = stats();
  uint64_t submissions = 0, records = 0, groups = 0, bytes = 0;
  for (int p = 0; p < 4; ++p) {
    EXPECT_EQ(after.partitions(p).partition(), static_cast<uint32_t>(p));
    submissions += after.partitions(p).submissions() - before.partitions(p).submissions();
    records += after.partitions(p).records() - before.partitions(p).records();
    groups += after.partitions(p).groups() - before.partitions(p).groups();
    bytes += after.partitions(p).batch_bytes() - before.partitions(p).batch_bytes();
  }
  EXPECT_EQ(submissions, static_cast<uint64_t>(kEvents));
  EXPECT_GE(records, submissions);  // derived records come on top
  EXPECT_GE(groups, 1u);
  EXPECT_LE(groups, submissions);
  EXPECT_GT(bytes, 0u);
  EXPECT_GT(before.cpu_micros(), 0u);  // opening the engine alone costs CPU
  // The seven cases are in the case indexes, filled by now.
  uint64_t indexed = 0;
  for (const auto& p : after.partitions()) {
    EXPECT_TRUE(p.case_index_ready()) << p.partition();
    EXPECT_FALSE(p.case_index_filling()) << p.partition();
    EXPECT_EQ(p.case_index_problem(), "") << p.partition();
    EXPECT_GT(p.case_index_bytes(), 0u);
    indexed += p.indexed_cases();
  }
  EXPECT_GE(indexed, 7u);
  EXPECT_GT(after.cpu_micros(), before.cpu_micros());

  // Every submission was timed from its queue to its group and to its
  // answer, and every group's synced write; the bounds are shared.
  auto counted = [](const v1::LatencyHistogram& before_h, const v1::LatencyHistogram& after_h) {
    EXPECT_EQ(after_h.upper_bound_us_size(), after_h.count_size());
    EXPECT_EQ(after_h.upper_bound_us_size(), before_h.upper_bound_us_size());
    uint64_t n = 0;
    for (int i = 0; i < after_h.count_size(); ++i) {
      EXPECT_EQ(after_h.upper_bound_us(i), before_h.upper_bound_us(i));
      EXPECT_GE(after_h.count(i), before_h.count(i));
      n += after_h.count(i) - before_h.count(i);
    }
    return n;
  };
  uint64_t queued = 0, written = 0, answered = 0;
  // Summed over partitions: a submission is answered after its group
  // started, so at every share the answered durations are at least the
  // queued ones.
  std::array<uint64_t, LatencyHistogram::kBuckets> queued_sum{}, answered_sum{};
  for (int p = 0; p < 4; ++p) {
    queued += counted(before.partitions(p).queued(), after.partitions(p).queued());
    written += counted(before.partitions(p).write(), after.partitions(p).write());
    answered += counted(before.partitions(p).answered(), after.partitions(p).answered());
    ASSERT_EQ(after.partitions(p).answered().count_size(),
              static_cast<int>(LatencyHistogram::kBuckets));
    for (size_t i = 0; i < LatencyHistogram::kBuckets; ++i) {
      EXPECT_EQ(after.partitions(p).answered().upper_bound_us(i),
                LatencyHistogram::UpperBoundMicros(i));
      queued_sum[i] +=
          after.partitions(p).queued().count(i) - before.partitions(p).queued().count(i);
      answered_sum[i] +=
          after.partitions(p).answered().count(i) - before.partitions(p).answered().count(i);
    }
  }
  EXPECT_EQ(queued, static_cast<uint64_t>(kEvents));
  EXPECT_EQ(answered, static_cast<uint64_t>(kEvents));
  EXPECT_EQ(written, groups);
  for (double q : {0.1, 0.5, 0.9, 1.0}) {
    EXPECT_GE(LatencyHistogram::Quantile(answered_sum, q),
              LatencyHistogram::Quantile(queued_sum, q))
        << "at " << q;
  }
}

// A submission whose event id another partition's filter cannot rule out
// is checked by a read there, on a router thread rather than the gRPC
// callback thread; the stats count them per partition.
TEST_F(ServerTest, ServerStatsCountSubmissionsCheckedOffTheCallbackThread) {
  auto admin = v1::AdminService::NewStub(channel_);
  auto deferred = [&] {
    grpc::ClientContext ctx;
    v1::ServerStats out;
    EXPECT_TRUE(admin->GetServerStats(&ctx, v1::GetServerStatsRequest(), &out).ok());
    uint64_t n = 0;
    for (const auto& p : out.partitions()) n += p.submissions_deferred();
    return n;
  };
  ASSERT_TRUE(Submit(Fever("reused-e", "reused-0", 36.6, NowUs())).ok());
  const uint64_t before = deferred();
  // The same id for cases spread over the partitions: wherever it is not
  // the first case's partition, its filter there says "maybe" and a read
  // decides.
  for (int i = 1; i <= 8; ++i) {
    EXPECT_EQ(Submit(Fever("reused-e", "reused-" + std::to_string(i), 36.6, NowUs())).error_code(),
              grpc::StatusCode::ALREADY_EXISTS);
  }
  const uint64_t checked = deferred() - before;
  EXPECT_GE(checked, 1u);
  EXPECT_LE(checked, 8u);
}

TEST_F(ServerTest, ShutdownAnswersStreamsAndReportsNotServing) {
  grpc::ClientContext ctx;
  auto stream = events_->SubmitStream(&ctx);
  ASSERT_TRUE(stream->Write(OneSubmission(1, Fever("x1", "c", 36.6, NowUs()))));
  v1::StreamSubmitResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  ASSERT_EQ(resp.answers_size(), 1);
  EXPECT_TRUE(resp.answers(0).has_accepted());
  stream->WritesDone();
  EXPECT_FALSE(stream->Read(&resp));
  EXPECT_TRUE(stream->Finish().ok());
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server_.reset();
  v1::SubmitResponse out;
  EXPECT_EQ(Submit(Fever("x2", "c", 36.6, NowUs()), &out).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(ServerTest, ReadLogStreamsRecordsWithHashesAndFollowsNewOnes) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(Submit(Fever("rl-" + std::to_string(i), "rl-case", 38.4, NowUs())).ok());
  }
  auto audit = v1::AuditService::NewStub(channel_);
  // The case's records so far, then the stream stays open for more.
  v1::ReadLogRequest request;
  request.set_case_id("rl-case");
  request.set_follow(true);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto stream = audit->ReadLog(&ctx, request);
  auto state = engine_->GetCase("rl-case");
  ASSERT_TRUE(state.ok());
  v1::LogEntry entry;
  std::string prev_hash;
  for (uint64_t v = 1; v <= state->version(); ++v) {
    ASSERT_TRUE(stream->Read(&entry)) << "version " << v;
    EXPECT_EQ(entry.record().case_version(), v);
    EXPECT_EQ(entry.hash().size(), 32u);
    EXPECT_EQ(entry.prev_hash().size(), 32u);
  }
  // A record committed after the reader caught up reaches it.
  ASSERT_TRUE(Submit(NoteEvent("rl-later", "rl-case", "called back", NowUs())).ok());
  ASSERT_TRUE(stream->Read(&entry));
  EXPECT_EQ(entry.record().event().event_id(), "rl-later");
  EXPECT_EQ(entry.record().case_version(), state->version() + 1);
  ctx.TryCancel();
  while (stream->Read(&entry)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);

  // Without follow the stream ends after the last durable record; bad
  // filters are refused before anything is sent.
  grpc::ClientContext once;
  v1::ReadLogRequest all;
  all.add_event_types("fever_reading");
  auto dump = audit->ReadLog(&once, all);
  int fevers = 0;
  while (dump->Read(&entry)) ++fevers;
  EXPECT_TRUE(dump->Finish().ok());
  EXPECT_EQ(fevers, 5);
  grpc::ClientContext bad_ctx;
  v1::ReadLogRequest bad;
  bad.set_partition(4);
  auto refused = audit->ReadLog(&bad_ctx, bad);
  EXPECT_FALSE(refused->Read(&entry));
  const grpc::Status st = refused->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("partition: 4 is not a partition (there are 4)"));
}

TEST_F(ServerTest, AFollowerDoesNotHoldUpShutdown) {
  auto audit = v1::AuditService::NewStub(channel_);
  v1::ReadLogRequest request;
  request.set_follow(true);
  grpc::ClientContext ctx;
  auto stream = audit->ReadLog(&ctx, request);
  // The follower is caught up and waiting when the server shuts down.
  ASSERT_TRUE(Submit(Fever("sd-1", "sd-case", 36.6, NowUs())).ok());
  v1::LogEntry entry;
  ASSERT_TRUE(stream->Read(&entry));
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  while (stream->Read(&entry)) {
  }
  EXPECT_FALSE(stream->Finish().ok());
}

TEST_F(ServerTest, CheckpointCopiesTheDataDirectoryWhileServing) {
  ASSERT_TRUE(Submit(Fever("cp-1", "cp-case", 38.4, NowUs())).ok());
  auto audit = v1::AuditService::NewStub(channel_);
  v1::CheckpointRequest request;
  request.set_name("before-audit");
  v1::CheckpointResponse response;
  grpc::ClientContext ctx;
  ASSERT_TRUE(audit->Checkpoint(&ctx, request, &response).ok());
  EXPECT_EQ(response.dir(), dir_.Sub("data") + "/checkpoints/before-audit");
  ASSERT_EQ(response.positions_size(), 4);
  const uint32_t p = engine_->PartitionOf("cp-case").value();
  EXPECT_GT(response.positions(static_cast<int>(p)), 0u);
  grpc::ClientContext again;
  EXPECT_EQ(audit->Checkpoint(&again, request, &response).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
}

}  // namespace
}  // namespace gridcase
