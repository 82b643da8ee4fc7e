// The HTTP listener as Prometheus and an orchestrator use it, over real
// loopback sockets: gridcased started with --http-listen answers /healthz,
// /readyz and /metrics; the metrics pass `promtool check metrics` and
// count what was submitted, accepted and refused, with no case id in them;
// and /readyz turns 503 while a partition refuses writes (a jumped clock,
// in process on a fake clock) and 200 again once it takes them.
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/engine.h"
#include "engine/storage/signer.h"
#include "gmock/gmock.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "services/http/http_listener.h"
#include "services/http/metrics.h"
#include "tests/integration/child_server.h"
#include "tests/support/events.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

using ::gridcase::testing::Fever;
using ::gridcase::testing::Req;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr int64_t kStartUs = 1582372800LL * 1000000;
constexpr int64_t kDayUs = 86400LL * 1000000;

std::chrono::system_clock::time_point In10s() {
  return std::chrono::system_clock::now() + std::chrono::seconds(10);
}

// The samples of a text exposition: "name{labels}" -> value.
std::map<std::string, double> Samples(const std::string& text) {
  std::map<std::string, double> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line.front() == '#') continue;
    const size_t space = line.rfind(' ');
    double value = 0;
    if (space == absl::string_view::npos || !absl::SimpleAtod(line.substr(space + 1), &value)) {
      ADD_FAILURE() << "not a sample: " << line;
      continue;
    }
    out[std::string(line.substr(0, space))] = value;
  }
  return out;
}

// `promtool check metrics` on `text`: its exit code and what it said.
std::pair<int, std::string> Promtool(const std::string& text, const std::string& scratch) {
  const testing::ProgramRun run =
      testing::RunProgram("/usr/bin/promtool", {"check", "metrics"}, text, scratch);
  return {run.exit_code, run.out + run.err};
}

std::string PortFrom(const std::string& path) {
  std::ifstream in(path);
  std::string port;
  in >> port;
  return port;
}

TEST(HttpListenerTest, ListenAddressesAreLoopbackUnlessAHostIsNamed) {
  using http::ParseListenAddress;
  EXPECT_EQ(*ParseListenAddress("9464"), std::make_pair(std::string("127.0.0.1"), 9464));
  EXPECT_EQ(*ParseListenAddress(":0"), std::make_pair(std::string("127.0.0.1"), 0));
  EXPECT_EQ(*ParseListenAddress("0.0.0.0:9464"), std::make_pair(std::string("0.0.0.0"), 9464));
  EXPECT_EQ(*ParseListenAddress("[::1]:80"), std::make_pair(std::string("::1"), 80));
  for (const char* bad : {"", "host:", "70000", "localhost:http", "-1"}) {
    auto parsed = ParseListenAddress(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("--http-listen")) << bad;
  }
}

TEST(HttpListenerTest, GridcasedServesProbesAndMetricsThatCountSubmissions) {
  testing::TempDir dir;
  const std::string http_port_file = dir.Sub("http-port");
  testing::ChildServer server(
      GRIDCASED_PATH,
      {"--development", "--data-dir", dir.Sub("data"), "--listen", "127.0.0.1:0", "--http-listen",
       "127.0.0.1:0", "--http-port-file", http_port_file, "--partitions", "2", "--no-huge-pages",
       "--workflows", testing::ShippedWorkflowDir()});
  ASSERT_NE(server.port(), 0) << server.output();
  const std::string http_port = PortFrom(http_port_file);
  ASSERT_FALSE(http_port.empty()) << server.output();
  EXPECT_THAT(server.output(), HasSubstr("serving HTTP on 127.0.0.1:" + http_port));
  httplib::Client client("127.0.0.1", std::stoi(http_port));
  client.set_read_timeout(std::chrono::seconds(10));

  auto alive = client.Get("/healthz");
  ASSERT_TRUE(alive) << httplib::to_string(alive.error());
  EXPECT_EQ(alive->status, 200);
  auto ready = client.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << ready->body;
  auto missing = client.Get("/cases/resident-1");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);

  // Through gRPC: three readings, one again (a duplicate, answered OK),
  // and one validation refuses.
  auto channel = grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
  auto events = v1::EventService::NewStub(channel);
  auto submit = [&](const v1::SubmitRequest& request) {
    grpc::ClientContext ctx;
    ctx.set_deadline(In10s());
    v1::SubmitResponse resp;
    return events->Submit(&ctx, request, &resp);
  };
  const int64_t now = SystemClock().NowMicros();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(submit(Req(Fever(absl::StrCat("r", i), "resident-secret-7", 37.0, now))).ok());
  }
  ASSERT_TRUE(submit(Req(Fever("r0", "resident-secret-7", 37.0, now))).ok());
  const grpc::Status refused = submit(Req(Fever("r9", "resident-secret-7", 377, now)));
  ASSERT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  ASSERT_EQ(metrics->status, 200);
  EXPECT_THAT(metrics->get_header_value("Content-Type"), StartsWith("text/plain; version=0.0.4"));
  const auto [rc, said] = Promtool(metrics->body, dir.Sub("promtool"));
  EXPECT_EQ(rc, 0) << said << "\n" << metrics->body;
  EXPECT_THAT(metrics->body, ::testing::Not(HasSubstr("resident-secret")));
  const auto samples = Samples(metrics->body);
  EXPECT_EQ(samples.at(R"(gridcase_submissions_total{code="OK",source="grpc"})"), 4);
  EXPECT_EQ(samples.at(R"(gridcase_submissions_total{code="INVALID_ARGUMENT",source="grpc"})"), 1);
  EXPECT_EQ(samples.at(R"(gridcase_submissions_total{code="OK",source="kafka"})"), 0);
  double records = 0;
  for (const char* p : {"0", "1"}) {
    records +=
        samples.at(absl::StrCat(R"(gridcase_partition_records_total{partition=")", p, R"("})"));
    EXPECT_EQ(
        samples.at(absl::StrCat(R"(gridcase_partition_accepting_writes{partition=")", p, R"("})")),
        1);
  }
  EXPECT_GE(records, 3);  // the readings, and what they led to
  EXPECT_GT(samples.at("process_cpu_seconds_total"), 0);
  EXPECT_GT(samples.at("gridcase_disk_free_bytes"), 0);
}

// In process: an engine on a fake clock behind the listener.
class ReadinessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EngineOptions options;
    options.data_dir = dir_.Sub("data");
    options.partitions = 2;
    options.clock_jump_limit_us = 60LL * 1000000;
    auto engine = Engine::Open(options, &clock_);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
    testing::DeployShippedWorkflows(*engine_);
    http::HttpOptions http_options;
    http_options.listen = "127.0.0.1:0";
    http_options.sources.engine = engine_.get();
    auto listener = http::HttpListener::Start(std::move(http_options));
    ASSERT_TRUE(listener.ok()) << listener.status();
    listener_ = std::move(*listener);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", listener_->port());
  }

  std::pair<int, std::string> Get(const std::string& path) {
    auto res = client_->Get(path);
    if (!res) return {0, httplib::to_string(res.error())};
    return {res->status, res->body};
  }

  testing::TempDir dir_;
  FakeClock clock_{kStartUs};
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<http::HttpListener> listener_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(ReadinessTest, NotReadyWhileAPartitionRefusesWritesAndReadyAgainAfter) {
  engine_->partitions().WaitForScanAtOpen();
  EXPECT_EQ(Get("/readyz"), std::make_pair(200, std::string("ready\n")));
  clock_.StepWallMicros(kDayUs);  // a forward jump: every partition refuses writes
  auto refused = testing::SubmitSync(*engine_, Req(Fever("r1", "c", 37.0, kStartUs)));
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  const auto [status, body] = Get("/readyz");
  EXPECT_EQ(status, 503);
  EXPECT_THAT(body, HasSubstr("refuses writes (clock_jumped)"));
  EXPECT_EQ(Get("/healthz").first, 200);  // alive all the same
  const auto samples = Samples(Get("/metrics").second);
  EXPECT_EQ(samples.at(R"(gridcase_partition_accepting_writes{partition="0"})"), 0);
  EXPECT_EQ(
      samples.at(R"(gridcase_partition_refusing_writes{partition="0",reason="clock_jumped"})"), 1);
  EXPECT_EQ(samples.at(R"(gridcase_partition_refusing_writes{partition="0",reason="disk_full"})"),
            0);
  EXPECT_EQ(samples.at(R"(gridcase_submissions_total{code="UNAVAILABLE",source="grpc"})"), 1);

  ASSERT_TRUE(engine_->AcceptClock().ok());
  EXPECT_EQ(Get("/readyz").first, 200);
  EXPECT_EQ(
      Samples(Get("/metrics").second).at(R"(gridcase_partition_accepting_writes{partition="0"})"),
      1);
}

// Deadlines due, fired and how late, as a scrape sees them: a reading's
// daily check falls due 24 h later; at 25 h it is due, then fired once.
TEST_F(ReadinessTest, DeadlinesDueFiredAndTheirDelayAreCounted) {
  ASSERT_TRUE(testing::SubmitSync(*engine_, Req(Fever("r1", "c", 36.6, kStartUs))).ok());
  auto scrape = [&] { return Samples(Get("/metrics").second); };
  auto before = scrape();
  EXPECT_EQ(before.at("gridcase_deadlines_due"), 0);
  EXPECT_EQ(before.at("gridcase_deadlines_fired_total"), 0);
  EXPECT_EQ(before.at("gridcase_deadline_next_due_timestamp_seconds"),
            static_cast<double>(kStartUs + kDayUs) / 1e6);
  clock_.AdvanceMicros(kDayUs + 3600LL * 1000000);
  EXPECT_EQ(scrape().at("gridcase_deadlines_due"), 1);
  auto fired = engine_->timers().FireDueDeadlines();
  ASSERT_TRUE(fired.ok()) << fired.status();
  ASSERT_EQ(*fired, 1u);
  const auto after = scrape();
  EXPECT_EQ(after.at("gridcase_deadlines_due"), 0);
  EXPECT_EQ(after.at("gridcase_deadlines_fired_total"), 1);
  EXPECT_EQ(after.at("gridcase_deadline_fire_delay_seconds_count"), 1);
  EXPECT_EQ(after.at("gridcase_deadline_fire_delay_seconds_sum"), 3600);  // an hour late
  EXPECT_EQ(after.at("gridcase_handovers_total"), 0);
}

// Each partition's chain head, and its newest signed head once the heads
// are signed: what the GridcaseHeadsNotSigned rule compares.
TEST_F(ReadinessTest, ChainHeadsAndSignedHeadsAreExported) {
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(testing::SubmitSync(
                    *engine_,
                    Req(Fever(absl::StrCat("r", i), absl::StrCat("resident-", i), 37.0, kStartUs)))
                    .ok());
  }
  auto before = Samples(Get("/metrics").second);
  double heads = 0;
  for (uint32_t p = 0; p < 2; ++p) {
    const std::string label = absl::StrCat(R"({partition=")", p, R"("})");
    const double head = before.at("gridcase_chain_head_position" + label);
    EXPECT_EQ(head,
              static_cast<double>(
                  engine_->partitions().sequencer(PartitionId(p)).committed_head().first.value()));
    heads += head;
    EXPECT_EQ(before.count("gridcase_signed_head_position" + label), 0u);  // nothing signed yet
  }
  EXPECT_GE(heads, 6);

  auto signer = HeadSigner::LoadOrCreate(dir_.Sub("heads.key"));
  ASSERT_TRUE(signer.ok()) << signer.status();
  clock_.AdvanceMicros(90LL * 1000000);
  ASSERT_TRUE(engine_->audit().SignHeads(**signer).ok());
  auto after = Samples(Get("/metrics").second);
  for (uint32_t p = 0; p < 2; ++p) {
    const std::string label = absl::StrCat(R"({partition=")", p, R"("})");
    EXPECT_EQ(after.at("gridcase_signed_head_position" + label),
              after.at("gridcase_chain_head_position" + label));
    EXPECT_EQ(after.at("gridcase_signed_head_timestamp_seconds" + label),
              static_cast<double>(kStartUs + 90LL * 1000000) / 1e6);
  }
}

// Every histogram is one Prometheus accepts: cumulative counts that never
// fall, none above the count; and the group sizes add up to the
// submissions their groups decided.
TEST_F(ReadinessTest, HistogramsAreCumulativeAndGroupSizesAddUp) {
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(
        testing::SubmitSync(*engine_, Req(Fever(absl::StrCat("r", i),
                                                absl::StrCat("resident-", i % 5), 37.0, kStartUs)))
            .ok());
  }
  const http::EngineMetrics metrics(http::MetricsSources{engine_.get(), nullptr});
  size_t histograms = 0;
  for (const prometheus::MetricFamily& family : metrics.Collect()) {
    if (family.type != prometheus::MetricType::Histogram) continue;
    for (const prometheus::ClientMetric& m : family.metric) {
      ++histograms;
      uint64_t last = 0;
      double bound = 0;
      for (const auto& b : m.histogram.bucket) {
        EXPECT_GE(b.cumulative_count, last) << family.name;
        EXPECT_GT(b.upper_bound, bound) << family.name;
        last = b.cumulative_count;
        bound = b.upper_bound;
      }
      EXPECT_LE(last, m.histogram.sample_count) << family.name;
    }
  }
  EXPECT_EQ(histograms, 4u * 2 + 1);  // four families by partition, the deadlines' delay
  const auto samples = Samples(http::RenderText(metrics.Collect()));
  double answered = 0;
  for (const char* p : {"0", "1"}) {
    auto at = [&](const char* name) {
      return samples.at(absl::StrCat(name, R"({partition=")", p, R"("})"));
    };
    // Every group written is a group counted; a group may write nothing.
    EXPECT_GE(at("gridcase_partition_group_submissions_count"),
              at("gridcase_partition_groups_total"));
    EXPECT_GE(at("gridcase_partition_group_submissions_count"), 1);
    answered += at("gridcase_partition_group_submissions_sum");
  }
  // The readings, and the deployments before them, went through groups.
  EXPECT_GE(answered, 20);
  EXPECT_EQ(samples.at(R"(gridcase_submissions_total{code="OK",source="grpc"})"), 20);
}

}  // namespace
}  // namespace gridcase
