// The fixture of the server tests: a real engine (RocksDB with fsync) and
// the real gRPC server on an ephemeral loopback port, called through the
// generated clients.
#ifndef GRIDCASE_TESTS_INTEGRATION_SERVER_FIXTURE_H_
#define GRIDCASE_TESTS_INTEGRATION_SERVER_FIXTURE_H_

#include <chrono>
#include <memory>
#include <string>

#include "engine/common/clock.h"
#include "engine/engine.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "services/api/server.h"
#include "tests/support/events.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase::testing {

inline int64_t NowUs() { return SystemClock().NowMicros(); }

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = testing::OpenWithShippedWorkflows(dir_.Sub("data"), 4, &clock_);
    ASSERT_NE(engine_, nullptr);
    api::ServerOptions server_options;
    server_options.listen_address = "127.0.0.1:0";
    // These tests are about the API, not who may call it (tls_test,
    // access_test): every loopback caller may do everything.
    server_options.access.development = true;
    auto server = api::Server::Start(engine_.get(), &clock_, server_options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    events_ = v1::EventService::NewStub(channel_);
    cases_ = v1::CaseService::NewStub(channel_);
  }

  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
    if (engine_) engine_->Stop();
  }

  // `version_trailer`, when given, receives the gridcase-current-version
  // trailer ("" when absent).
  grpc::Status Submit(const v1::SubmitRequest& req, v1::SubmitResponse* resp,
                      std::string* version_trailer = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status st = events_->Submit(&ctx, req, resp);
    if (version_trailer != nullptr) {
      const auto& trailers = ctx.GetServerTrailingMetadata();
      auto it = trailers.find("gridcase-current-version");
      *version_trailer =
          it == trailers.end() ? "" : std::string(it->second.data(), it->second.size());
    }
    return st;
  }

  grpc::Status Submit(const v1::Event& e, v1::SubmitResponse* resp = nullptr) {
    v1::SubmitResponse ignored;
    return Submit(Req(e), resp ? resp : &ignored);
  }

  TempDir dir_;
  SystemClock clock_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<api::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::EventService::Stub> events_;
  std::unique_ptr<v1::CaseService::Stub> cases_;
};

// A SubmitStream message with one submission.
inline v1::StreamSubmitRequest OneSubmission(uint64_t request_id, const v1::Event& event) {
  v1::StreamSubmitRequest req;
  v1::StreamSubmission* s = req.add_submissions();
  s->set_request_id(request_id);
  *s->mutable_submit()->mutable_event() = event;
  return req;
}

}  // namespace gridcase::testing

#endif  // GRIDCASE_TESTS_INTEGRATION_SERVER_FIXTURE_H_
