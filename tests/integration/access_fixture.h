// The fixture of the access tests: a real engine with a small directory
// (two districts down to five grids, a case and a worker in each grid,
// and one person of each role over grid d1-s1-c1-g1), served over mutual
// TLS on a loopback port, with a principals file naming an application of
// each kind, an operator, an auditor and a privacy officer; and a client
// channel presenting a certificate for any subject.
#ifndef GRIDCASE_TESTS_INTEGRATION_ACCESS_FIXTURE_H_
#define GRIDCASE_TESTS_INTEGRATION_ACCESS_FIXTURE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/common/clock.h"
#include "engine/engine.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "services/api/server.h"
#include "services/security/tls.h"
#include "tests/support/certs.h"
#include "tests/support/events.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase::testing {

// Every grid, with the one case and the person (its worker) each holds.
inline constexpr const char* kGrids[] = {"d1-s1-c1-g1", "d1-s1-c1-g2", "d1-s1-c2-g1", "d1-s2-c1-g1",
                                         "d2-s1-c1-g1"};

inline std::string CaseOf(const std::string& grid) { return "case-" + grid; }
inline std::string WorkerOf(const std::string& grid) {
  return "w-" + grid.substr(grid.rfind('-') + 1) + "-" + grid;
}

// The first grid at or under `unit`.
inline std::string GridUnder(const std::string& unit) {
  for (const char* g : kGrids) {
    if (std::string(g).rfind(unit, 0) == 0) return g;
  }
  ADD_FAILURE() << "no grid under " << unit;
  return "";
}

inline v1::DirectoryEntry Unit(const std::string& id, v1::UnitLevel level) {
  v1::DirectoryEntry e;
  e.mutable_unit()->set_unit_id(id);
  e.mutable_unit()->set_level(level);
  const size_t dash = id.rfind('-');
  if (dash != std::string::npos) e.mutable_unit()->set_parent_id(id.substr(0, dash));
  e.mutable_unit()->set_name("unit " + id);
  return e;
}

inline v1::DirectoryEntry PersonEntry(const std::string& id, v1::Role role,
                                      const std::string& unit) {
  v1::DirectoryEntry e;
  e.mutable_person()->set_person_id(id);
  e.mutable_person()->set_name("name of " + id);
  e.mutable_person()->set_role(role);
  e.mutable_person()->set_unit_id(unit);
  return e;
}

inline std::vector<v1::DirectoryEntry> TestDirectory() {
  std::vector<v1::DirectoryEntry> d;
  for (const char* id : {"d1", "d2"}) d.push_back(Unit(id, v1::UNIT_LEVEL_DISTRICT));
  for (const char* id : {"d1-s1", "d1-s2", "d2-s1"}) d.push_back(Unit(id, v1::UNIT_LEVEL_STREET));
  for (const char* id : {"d1-s1-c1", "d1-s1-c2", "d1-s2-c1", "d2-s1-c1"}) {
    d.push_back(Unit(id, v1::UNIT_LEVEL_COMMUNITY));
  }
  for (const char* g : kGrids) d.push_back(Unit(g, v1::UNIT_LEVEL_GRID));
  for (const char* g : kGrids) d.push_back(PersonEntry(WorkerOf(g), v1::ROLE_GRID_WORKER, g));
  d.push_back(PersonEntry("w-g1", v1::ROLE_GRID_WORKER, "d1-s1-c1-g1"));
  d.push_back(PersonEntry("k-g1", v1::ROLE_CADRE, "d1-s1-c1-g1"));
  d.push_back(PersonEntry("sec-c1", v1::ROLE_COMMUNITY_SECRETARY, "d1-s1-c1"));
  d.push_back(PersonEntry("off-s1", v1::ROLE_STREET_OFFICER, "d1-s1"));
  d.push_back(PersonEntry("off-d1", v1::ROLE_DISTRICT_OFFICER, "d1"));
  d.push_back(PersonEntry("off-d2", v1::ROLE_DISTRICT_OFFICER, "d2"));
  return d;
}

class AccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Sealed, as gridcased always runs.
    engine_ = OpenWithShippedWorkflows(dir_.Sub("data"), 2, &clock_, StorageEnv(),
                                       std::string(32, '\x5a'));
    ASSERT_NE(engine_, nullptr);
    v1::Actor admin;
    admin.set_id("setup");
    ASSERT_TRUE(engine_->staffing().ImportDirectory(TestDirectory(), "test", admin).ok());
    for (const char* g : kGrids) {
      v1::Event e = Fever(absl::StrCat("open-", g), CaseOf(g), 36.6, clock_.NowMicros());
      e.set_grid_id(g);
      e.mutable_actor()->set_id(WorkerOf(g));
      ASSERT_TRUE(SubmitSync(*engine_, Req(e)).ok());
    }

    const KeyPair server = ca_.Server();
    WriteFileWithMode(dir_.Sub("server.key"), server.key, 0600);
    WriteFileWithMode(dir_.Sub("server.pem"), server.cert, 0644);
    WriteFileWithMode(dir_.Sub("ca.pem"), ca_.cert_pem(), 0644);
    security::ServerTlsOptions tls;
    tls.cert_path = dir_.Sub("server.pem");
    tls.key_path = dir_.Sub("server.key");
    tls.client_ca_path = dir_.Sub("ca.pem");
    Customize(&tls);
    auto identity = security::TlsIdentity::Start(
        tls, [this] { return clock_.NowMicros() / 1'000'000; }, [](bool, const std::string&) {});
    ASSERT_TRUE(identity.ok()) << identity.status();
    identity_ = std::move(*identity);

    auto principals = security::PrincipalsFile::Parse(R"({
      "applications": [{"id": "triage", "units": ["d1-s1-c1"], "acts_for_people": true},
                       {"id": "lab", "units": ["d1"]}],
      "operators": ["ops-1"], "auditors": ["aud-1"], "privacy_officers": ["dpo-1"]})");
    ASSERT_TRUE(principals.ok()) << principals.status();
    api::ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.credentials = identity_->credentials();
    options.access.principals = std::move(*principals);
    Customize(&options.access);
    auto started = api::Server::Start(engine_.get(), &clock_, options);
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = std::move(*started);
  }

  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
    server_.reset();
    if (engine_) engine_->Stop();
  }

  // The storage the engine runs on (null: real files, RocksDB's default).
  virtual rocksdb::Env* StorageEnv() { return nullptr; }
  // What a test fixture changes of the server's setup.
  virtual void Customize(security::ServerTlsOptions* tls) {}
  virtual void Customize(security::GateOptions* access) {}

  // A new channel presenting a certificate for `subject` ("": none).
  std::shared_ptr<grpc::Channel> NewChannelAs(const std::string& subject) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ca_.cert_pem();
    if (!subject.empty()) {
      const KeyPair pair = ca_.Client(subject);
      ssl.pem_private_key = pair.key;
      ssl.pem_cert_chain = pair.cert;
    }
    return grpc::CreateChannel(server_->address(), grpc::SslCredentials(ssl));
  }

  std::shared_ptr<grpc::Channel> ChannelAs(const std::string& subject) {
    auto& channel = channels_[subject];
    if (channel == nullptr) {
      channel = NewChannelAs(subject);
    }
    return channel;
  }

  TempDir dir_;
  SystemClock clock_;
  TestCa ca_{"access test CA"};
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<security::TlsIdentity> identity_;
  std::unique_ptr<api::Server> server_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
  int submitted_ = 0;
};

inline std::unique_ptr<grpc::ClientContext> Context() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  return ctx;
}

inline std::string IdOf(const std::string& subject) {
  return subject.substr(subject.rfind(':') + 1);
}

}  // namespace gridcase::testing

#endif  // GRIDCASE_TESTS_INTEGRATION_ACCESS_FIXTURE_H_
