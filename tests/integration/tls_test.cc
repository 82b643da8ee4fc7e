// Transport security over real loopback sockets: TLS, mutual TLS with
// every kind of bad client certificate, a server that will not serve
// plaintext beyond loopback, and certificates rotated while serving, a bad
// new pair never replacing a good one.
#include "services/security/tls.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/common/clock.h"
#include "engine/engine.h"
#include "gmock/gmock.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "services/api/server.h"
#include "tests/support/certs.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Answer {
  grpc::Status status;
  std::string server_name;  // the common name of the certificate the server showed
};

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = OpenWithShippedWorkflows(dir_.Sub("data"), 2, &clock_);
    ASSERT_NE(engine_, nullptr);
    Install(ca_.Server("first"));
    WriteFileWithMode(dir_.Sub("client-ca.pem"), clients_.cert_pem(), 0644);
  }

  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
    server_.reset();
    identity_.reset();
    if (engine_) engine_->Stop();
  }

  // Puts `pair` where the server's flags point.
  void Install(const KeyPair& pair) {
    WriteFileWithMode(dir_.Sub("server.key"), pair.key, 0600);
    WriteFileWithMode(dir_.Sub("server.pem"), pair.cert, 0644);
  }

  security::ServerTlsOptions TlsOptions(bool mutual) {
    security::ServerTlsOptions o;
    o.cert_path = dir_.Sub("server.pem");
    o.key_path = dir_.Sub("server.key");
    if (mutual) o.client_ca_path = dir_.Sub("client-ca.pem");
    if (with_crl_) o.crl_path = dir_.Sub("crl.pem");
    o.reload_every_s = 1;
    return o;
  }

  void StartServer(bool mutual) {
    auto identity = security::TlsIdentity::Start(
        TlsOptions(mutual), [this] { return clock_.NowMicros() / 1'000'000; },
        [this](bool error, const std::string& line) {
          absl::MutexLock lock(&log_mu_);
          log_.push_back(absl::StrCat(error ? "E " : "I ", line));
        });
    ASSERT_TRUE(identity.ok()) << identity.status();
    identity_ = std::move(*identity);
    api::ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.credentials = identity_->credentials();
    // Without mutual TLS the callers here are development callers; with
    // it, the operator whose certificate they present.
    options.access.development = !mutual;
    options.access.principals.staff["ops-1"] = security::Role::kOperator;
    auto server = api::Server::Start(engine_.get(), &clock_, options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  // One call on a channel of its own (so a handshake of its own).
  Answer Call(const grpc::SslCredentialsOptions& ssl) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto channel = grpc::CreateCustomChannel(server_->address(), grpc::SslCredentials(ssl), args);
    auto stub = v1::AdminService::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::ServerStats stats;
    Answer answer;
    answer.status = stub->GetServerStats(&ctx, v1::GetServerStatsRequest(), &stats);
    if (auto auth = ctx.auth_context(); auth != nullptr) {
      for (const auto& cn : auth->FindPropertyValues("x509_common_name")) {
        answer.server_name.assign(cn.data(), cn.size());
      }
    }
    return answer;
  }

  grpc::SslCredentialsOptions As(const KeyPair& pair) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ca_.cert_pem();
    ssl.pem_private_key = pair.key;
    ssl.pem_cert_chain = pair.cert;
    return ssl;
  }

  // Calls until the server shows `name`, for at most 20 s: gRPC looks at
  // the vetted copy once a second.
  bool AwaitServerName(const grpc::SslCredentialsOptions& ssl, const std::string& name) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      Answer a = Call(ssl);
      if (a.status.ok() && a.server_name == name) return true;
    }
    return false;
  }

  bool with_crl_ = false;  // the server reads dir_/crl.pem (--tls-crl)
  TempDir dir_;
  SystemClock clock_;
  TestCa ca_{"gridcase test server CA"};
  TestCa clients_{"gridcase test client CA"};
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<security::TlsIdentity> identity_;
  std::unique_ptr<api::Server> server_;
  absl::Mutex log_mu_;
  std::vector<std::string> log_ ABSL_GUARDED_BY(log_mu_);
};

TEST_F(TlsTest, AClientThatTrustsTheServersCaIsServedOverTls) {
  StartServer(/*mutual=*/false);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ca_.cert_pem();
  Answer a = Call(ssl);
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_EQ(a.server_name, "first");

  // A client that trusts another CA does not get through, nor does one
  // speaking plaintext.
  grpc::SslCredentialsOptions other;
  other.pem_root_certs = clients_.cert_pem();
  EXPECT_EQ(Call(other).status.error_code(), grpc::StatusCode::UNAVAILABLE);
  auto plain = v1::AdminService::NewStub(
      grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::ServerStats stats;
  EXPECT_EQ(plain->GetServerStats(&ctx, {}, &stats).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, MutualTlsRefusesEveryBadClientCertificateAtTheHandshake) {
  StartServer(/*mutual=*/true);
  ASSERT_TRUE(Call(As(clients_.Client("gridcase:person:ops-1"))).status.ok());

  CertSpec expired;
  expired.common_name = expired.alt_names = "URI:gridcase:app:expired";
  expired.not_before_s = -10 * 86400;
  expired.not_after_s = -86400;
  expired.extended_key_usage = "clientAuth";
  CertSpec early = expired;
  early.not_before_s = 86400;
  early.not_after_s = 10 * 86400;
  CertSpec server_only = expired;
  server_only.not_before_s = -3600;
  server_only.not_after_s = 86400;
  server_only.extended_key_usage = "serverAuth";
  TestCa stranger("a CA the server does not know");

  struct Case {
    const char* what;
    grpc::SslCredentialsOptions ssl;
  } cases[] = {
      {"expired", As(clients_.Issue(expired))},
      {"not yet valid", As(clients_.Issue(early))},
      {"for servers only (extendedKeyUsage)", As(clients_.Issue(server_only))},
      {"from an unknown CA", As(stranger.Client("gridcase:person:ops-1"))},
      {"none at all", As(KeyPair{})},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const Answer a = Call(c.ssl);
    EXPECT_EQ(a.status.error_code(), grpc::StatusCode::UNAVAILABLE) << a.status.error_message();
  }
  // Nothing reached the engine: the refusals were handshakes.
  EXPECT_TRUE(Call(As(clients_.Client("gridcase:person:ops-1"))).status.ok());
}

TEST_F(TlsTest, ARevokedClientCertificateFailsTheHandshakeAndANewListTakesEffectOnReload) {
  const KeyPair a = clients_.Client("gridcase:person:ops-1");
  const KeyPair b = clients_.Client("gridcase:person:ops-1");  // the same person's other pair
  WriteFileWithMode(dir_.Sub("crl.pem"), clients_.Crl({a.cert}), 0644);
  with_crl_ = true;
  StartServer(/*mutual=*/true);
  EXPECT_EQ(Call(As(a)).status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(Call(As(b)).status.ok());

  // The list grows: b's next connection is refused, without a restart.
  WriteFileWithMode(dir_.Sub("crl.pem"), clients_.Crl({a.cert, b.cert}), 0644);
  ASSERT_TRUE(identity_->Reload().ok());
  EXPECT_EQ(Call(As(b)).status.error_code(), grpc::StatusCode::UNAVAILABLE);
  const KeyPair c = clients_.Client("gridcase:person:ops-1");
  EXPECT_TRUE(Call(As(c)).status.ok()) << "a pair the list does not name";

  // A list another CA signed in the client CA's name, and text that is no
  // list, are refused; the list in use stays.
  TestCa forger("gridcase test client CA");  // the same name, another key
  TestCa other("a CA the server does not know");
  const struct {
    const char* what;
    std::string text;
    const char* says;
  } bad[] = {
      {"forged", clients_.Crl({}, &forger), "not signed by the CA it names"},
      {"of another CA", other.Crl({}), "not issued by a CA of the client CA bundle"},
      {"not a list", "hello", "no PEM revocation list"},
  };
  for (const auto& list : bad) {
    SCOPED_TRACE(list.what);
    WriteFileWithMode(dir_.Sub("crl.pem"), list.text, 0644);
    const absl::Status st = identity_->Reload();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(st.message()), HasSubstr(list.says));
    EXPECT_EQ(Call(As(b)).status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_TRUE(Call(As(c)).status.ok());
  }
}

TEST_F(TlsTest, ARevokedServerPairIsRefusedOnReloadAndTheOneInUseKeepsServing) {
  WriteFileWithMode(dir_.Sub("crl.pem"), clients_.Crl({}), 0644);
  with_crl_ = true;
  StartServer(/*mutual=*/true);
  const auto ops = As(clients_.Client("gridcase:person:ops-1"));
  ASSERT_TRUE(AwaitServerName(ops, "first"));

  CertSpec spec;
  spec.common_name = "revoked";
  spec.alt_names = "DNS:localhost,IP:127.0.0.1";
  spec.extended_key_usage = "serverAuth";
  const KeyPair revoked = clients_.Issue(spec);  // by a CA whose list the server reads
  Install(revoked);
  WriteFileWithMode(dir_.Sub("crl.pem"), clients_.Crl({revoked.cert}), 0644);
  const absl::Status st = identity_->Reload();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("the certificate is revoked by"));
  EXPECT_EQ(identity_->counts().refused, 1u);
  const Answer a = Call(ops);
  EXPECT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_EQ(a.server_name, "first");

  // Revocation lists are of client CAs: without mutual TLS they are refused.
  security::ServerTlsOptions alone = TlsOptions(/*mutual=*/false);
  auto refused = security::TlsIdentity::Start(
      alone, [] { return int64_t{0}; }, [](bool, const std::string&) {});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("--tls-crl needs --tls-client-ca"));
}

TEST_F(TlsTest, PlaintextBeyondLoopbackIsRefusedUnlessSaidInsecure) {
  api::ServerOptions options;
  options.listen_address = "0.0.0.0:0";
  auto refused = api::Server::Start(engine_.get(), &clock_, options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("--insecure-plaintext"));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("0.0.0.0:0"));

  options.plaintext_beyond_loopback = true;
  auto allowed = api::Server::Start(engine_.get(), &clock_, options);
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  (*allowed)->Shutdown(std::chrono::system_clock::now());

  // A development server trusts callers without certificates: never
  // beyond loopback, even when plaintext there was allowed.
  options.access.development = true;
  auto development = api::Server::Start(engine_.get(), &clock_, options);
  ASSERT_FALSE(development.ok());
  EXPECT_THAT(std::string(development.status().message()), HasSubstr("loopback only"));

  for (const char* loopback : {"127.0.0.1", "127.0.0.9", "localhost", "[::1]", "::1"}) {
    EXPECT_TRUE(security::IsLoopbackHost(loopback)) << loopback;
  }
  for (const char* beyond : {"0.0.0.0", "[::]", "10.1.2.3", "gridcase.example", ""}) {
    EXPECT_FALSE(security::IsLoopbackHost(beyond)) << beyond;
  }
}

TEST_F(TlsTest, ANewPairIsTakenIntoUseWithoutARestartAndABadOneNever) {
  StartServer(/*mutual=*/true);
  const auto client = As(clients_.Client("gridcase:person:ops-1"));
  ASSERT_EQ(Call(client).server_name, "first");

  // Calls keep going throughout the rotations, on fresh connections (a
  // handshake each, with whichever pair is in use) from three threads and
  // on one long-lived connection from a fourth: none may fail.
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0}, failed{0};
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> callers;
  for (int t = 0; t < 3; ++t) {
    callers.emplace_back([&] {
      while (!stop) {
        const Answer a = Call(client);
        ++calls;
        if (!a.status.ok()) ++failed;
      }
    });
  }
  callers.emplace_back([&] {
    auto stub = v1::AdminService::NewStub(
        grpc::CreateChannel(server_->address(), grpc::SslCredentials(client)));
    while (!stop) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      v1::ServerStats stats;
      ++calls;
      if (!stub->GetServerStats(&ctx, v1::GetServerStatsRequest(), &stats).ok()) ++failed;
    }
  });

  Install(ca_.Server("second"));
  EXPECT_TRUE(identity_->Reload().ok());
  EXPECT_TRUE(AwaitServerName(client, "second"));

  // A key that is not the certificate's, an expired certificate, a
  // certificate for clients only, a file that is not PEM: each refused,
  // each said in the log, and "second" keeps serving.
  const KeyPair good = ca_.Server("third");
  const KeyPair other = ca_.Server("other");
  CertSpec expired;
  expired.common_name = "expired";
  expired.alt_names = "DNS:localhost,IP:127.0.0.1";
  expired.not_before_s = -10 * 86400;
  expired.not_after_s = -60;
  CertSpec client_only = expired;
  client_only.not_before_s = -60;
  client_only.not_after_s = 86400;
  client_only.extended_key_usage = "clientAuth";
  const struct {
    const char* want;
    KeyPair pair;
  } bad[] = {
      {"the private key is not the certificate's", {other.key, good.cert}},
      {"expired", ca_.Issue(expired)},
      {"does not allow a TLS server", ca_.Issue(client_only)},
      {"no PEM certificate", {good.key, "not a certificate"}},
  };
  for (const auto& b : bad) {
    SCOPED_TRACE(b.want);
    Install(b.pair);
    const absl::Status st = identity_->Reload();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(st.message()), HasSubstr(b.want));
    EXPECT_THAT(std::string(st.message()), Not(HasSubstr("PRIVATE KEY")));
    // Asked again about the same files: the same answer, counted once.
    EXPECT_EQ(identity_->Reload(), st);
  }
  EXPECT_EQ(identity_->counts().refused, 4u);
  EXPECT_EQ(Call(client).server_name, "second");

  Install(good);
  EXPECT_TRUE(identity_->Reload().ok());
  EXPECT_TRUE(AwaitServerName(client, "third"));
  stop = true;
  for (auto& c : callers) c.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  // The rate is the machine's (not asserted); it is said for the record.
  std::printf("rotations: %d calls in %.2f s (%.0f/s), failed %d\n", calls.load(), seconds,
              calls.load() / seconds, failed.load());
  EXPECT_GT(calls.load(), 0);
  EXPECT_EQ(failed.load(), 0) << "of " << calls.load() << " calls during the rotations";
  EXPECT_EQ(identity_->counts().accepted, 2u);
  absl::MutexLock lock(&log_mu_);
  EXPECT_EQ(std::count_if(
                log_.begin(), log_.end(),
                [](const std::string& l) { return l.rfind("E TLS: new files refused", 0) == 0; }),
            4);
}

TEST_F(TlsTest, ABadPairAtTheStartFailsTheStartAndAKeyOthersMayReadToo) {
  Install({ca_.Server("x").key, ca_.Server("y").cert});
  auto mismatched = security::TlsIdentity::Start(
      TlsOptions(false), [] { return int64_t{1'800'000'000}; }, [](bool, const std::string&) {});
  ASSERT_FALSE(mismatched.ok());
  EXPECT_THAT(std::string(mismatched.status().message()),
              HasSubstr("the private key is not the certificate's"));

  Install(ca_.Server("x"));
  ASSERT_EQ(::chmod(dir_.Sub("server.key").c_str(), 0640), 0);
  auto loose = security::TlsIdentity::Start(
      TlsOptions(false), [] { return int64_t{1'800'000'000}; }, [](bool, const std::string&) {});
  ASSERT_FALSE(loose.ok());
  EXPECT_EQ(loose.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(loose.status().message()), HasSubstr("TLS private key"));
}

}  // namespace
}  // namespace gridcase::testing
