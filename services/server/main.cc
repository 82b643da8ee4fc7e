// gridcased: the gridcase server on the embedded RocksDB store.
//
// This is the one place where the real clock and the real storage are
// built; everything below takes them as parameters.
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/base/thread_annotations.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "engine/common/clock.h"
#include "engine/common/file_modes.h"
#include "engine/common/huge_pages.h"
#include "engine/engine.h"
#include "engine/privacy/master_key.h"
#include "engine/storage/data_dir.h"
#include "engine/storage/signer.h"
#include "engine/timers/scheduler.h"
#include "engine/workflow/files.h"
#include "services/api/log_limit.h"
#include "services/api/server.h"
#include "services/http/http_listener.h"
#include "services/kafka/kafka.h"
#include "services/logging/logging.h"
#include "services/security/gate.h"
#include "services/security/tls.h"
#include "services/server/flags.h"
#include "services/server/head_signing.h"
#include "spdlog/spdlog.h"

namespace {

using gridcase::privacy::LoadMasterKey;
using gridcase::server::Flags;
using gridcase::server::HeadSigning;

// Writes the bound port where a supervisor or test can find it, atomically
// so that a reader never sees a half-written file.
bool WritePortFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out.flush()) return false;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  return !ec;
}

// Deploys every *.textproto of `dir`, each name's versions in order. A
// version already deployed with the same content is skipped; anything else
// that is refused stops the start, loudly: serving with a workflow other
// than the one on disk would surprise everyone.
bool DeployDirectory(gridcase::Engine& engine, const std::string& dir) {
  auto files = gridcase::workflow::ReadWorkflowDir(dir);
  if (!files.ok()) {
    spdlog::critical("workflows: {}", std::string(files.status().message()));
    return false;
  }
  gridcase::v1::Actor actor;
  actor.set_id(gridcase::kServerActorId);
  actor.set_kind(gridcase::v1::ACTOR_KIND_SYSTEM);
  for (const auto& file : *files) {
    std::promise<absl::StatusOr<gridcase::v1::DeployWorkflowResponse>> done;
    auto answer = done.get_future();
    engine.workflows().DeployWorkflow(
        file.source, file.path, actor,
        [&done](absl::StatusOr<gridcase::v1::DeployWorkflowResponse> r) {
          done.set_value(std::move(r));
        });
    auto r = answer.get();
    if (!r.ok()) {
      spdlog::critical("{}", std::string(r.status().message()));
      return false;
    }
    spdlog::info("workflow {} v{} {} ({})", r->name(), r->version(),
                 r->duplicate() ? "already deployed" : "deployed",
                 std::filesystem::path(file.path).filename().string());
  }
  return true;
}

// Says what the memtables are allocated from, and whether the reserved
// pool covers what `partitions` partitions may take.
void LogHugePages(const gridcase::HugePagePool& pool, bool wanted_by_flag, uint32_t partitions) {
  if (pool.page_bytes == 0) return;  // not Linux, or no /proc: nothing to say
  const uint64_t wanted = partitions * gridcase::kHugePageBytesPerPartition / pool.page_bytes;
  const uint64_t page_kib = pool.page_bytes >> 10;
  if (!wanted_by_flag) {
    spdlog::info("memtables on normal pages (--no-huge-pages; {} huge pages free)", pool.free);
  } else if (pool.page_bytes > gridcase::kMemtableHugePageMax) {
    spdlog::info(
        "memtables on normal pages: huge pages of {} KiB are larger than a memtable's "
        "blocks",
        page_kib);
  } else if (pool.free == 0) {
    spdlog::info(
        "memtables on normal pages: no free huge pages (for {} partitions, reserve "
        "{} pages of {} KiB: sysctl vm.nr_hugepages={})",
        partitions, wanted, page_kib, pool.total + wanted);
  } else if (pool.free < wanted) {
    spdlog::warn(
        "memtables on huge pages of {} KiB, but only {} of {} are free; {} partitions "
        "may use up to {} (the rest goes on normal pages)",
        page_kib, pool.free, pool.total, partitions, wanted);
  } else {
    spdlog::info("memtables on huge pages of {} KiB ({} of {} free)", page_kib, pool.free,
                 pool.total);
  }
}

// Blocks SIGINT and SIGTERM, to be taken by sigwait() on this thread only.
// Called before any other thread exists, so that every thread inherits the
// mask.
sigset_t BlockShutdownSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

gridcase::EngineOptions EngineOptionsFrom(const Flags& flags,
                                          const gridcase::HugePagePool& huge_pages) {
  gridcase::EngineOptions options;
  options.data_dir = std::filesystem::absolute(flags.data_dir).string();
  options.partitions = flags.partitions;
  options.sequencer.queue_capacity = flags.queue_capacity;
  options.sequencer.group_records_max = flags.group_records_max;
  options.recent_records_bytes = flags.recent_records_mb << 20;
  options.limits.future_skew_us_max = static_cast<int64_t>(flags.future_skew_s_max * 1e6);
  options.disk_reserve_bytes = flags.disk_reserve_mb << 20;
  options.clock_jump_limit_us = static_cast<int64_t>(flags.clock_jump_limit_s * 1e6);
  options.scrub.every_us = static_cast<int64_t>(flags.scrub_every_hours * 3600e6);
  options.scrub.bytes_per_s = static_cast<uint64_t>(flags.scrub_mib_per_s * (1 << 20));
  options.scrub.on_problem = [](const std::string& problem) {
    spdlog::error("scrub found damage: {}; see docs/operations.md, \"Scrub found damage\"",
                  problem);
  };
  if (flags.huge_pages) {
    options.memtable_huge_page_size = gridcase::MemtableHugePageSize(huge_pages);
  }
  options.on_upgrade = [](const std::string& message) { spdlog::info("{}", message); };
  return options;
}

// The change feed and the ingest, when brokers are given (else nullptr).
// The ingest submits as --kafka-ingest-as, through `gate` like any caller.
absl::StatusOr<std::unique_ptr<gridcase::kafka::Bridge>> StartKafka(
    const Flags& flags, gridcase::Engine* engine, const gridcase::security::Gate* gate) {
  if (flags.kafka.brokers.empty()) return nullptr;
  gridcase::kafka::KafkaOptions kafka_options = flags.kafka;
  if (!kafka_options.ingest_topic.empty()) {
    if (flags.kafka_ingest_as.empty() && !flags.development) {
      return absl::InvalidArgumentError(
          "--kafka-ingest-topic: say who the ingest submits as (--kafka-ingest-as "
          "gridcase:app:<id>, an application of the principals file)");
    }
    const std::string method = gridcase::security::MethodOf<gridcase::v1::EventService>("Submit");
    // Checked now, so that a principal that does not exist or may not
    // submit stops the start rather than dead-letter every message.
    if (auto admitted = gate->AdmitSubject(flags.kafka_ingest_as, method); !admitted.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--kafka-ingest-as: ", admitted.status().message()));
    }
    kafka_options.admit = [gate, subject = flags.kafka_ingest_as,
                           method](gridcase::v1::SubmitRequest* request) -> absl::Status {
      auto admitted = gate->AdmitSubject(subject, method);
      if (!admitted.ok()) return admitted.status();
      return admitted->AdmitSubmission(request);
    };
  }
  if (!flags.kafka_secrets.empty()) {
    auto secrets = gridcase::kafka::LoadSecrets(flags.kafka_secrets);
    if (!secrets.ok()) return secrets.status();
    kafka_options.secret_properties = std::move(*secrets);
  }
  for (const auto& text : flags.kafka_properties) {
    auto property = gridcase::kafka::ParseProperty(text);
    if (!property.ok()) return property.status();
    kafka_options.properties.push_back(*property);
  }
  auto started = gridcase::kafka::Bridge::Start(engine, kafka_options);
  if (!started.ok()) return started.status();
  spdlog::info("kafka: publishing every record to {} on {}{}", kafka_options.feed_topic,
               kafka_options.brokers,
               kafka_options.ingest_topic.empty() ? std::string()
                                                  : " and ingesting " + kafka_options.ingest_topic +
                                                        " (group " + kafka_options.group + ")");
  return started;
}

// Protobuf's own complaints (a request with a string that is not UTF-8)
// come once per request a client sends: into the server's log, at most ten
// a minute.
gridcase::api::LogLimiter ProtobufLogLimiter(const gridcase::Clock* clock) {
  return gridcase::api::LogLimiter(
      clock, "protobuf", 10, 60LL * 1000 * 1000,
      [](gridcase::api::LogSeverity severity, const std::string& line) {
        gridcase::logging::Component("protobuf")
            .log(severity == gridcase::api::LogSeverity::kError     ? spdlog::level::err
                 : severity == gridcase::api::LogSeverity::kWarning ? spdlog::level::warn
                                                                    : spdlog::level::info,
                 "{}", line);
      });
}

// The server's TLS identity, vetted and watched, when a certificate is
// given (else nullptr: plaintext, which Server refuses beyond loopback
// unless --insecure-plaintext).
absl::StatusOr<std::unique_ptr<gridcase::security::TlsIdentity>> StartTls(
    const Flags& flags, const gridcase::Clock* clock) {
  if (flags.tls.cert_path.empty() && flags.tls.key_path.empty()) {
    if (!flags.tls.client_ca_path.empty()) {
      return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
    }
    if (!flags.token_issuers_file.empty()) {
      return absl::InvalidArgumentError(
          "--token-issuers: bearer tokens go only over TLS (--tls-cert and --tls-key)");
    }
    return nullptr;
  }
  gridcase::security::ServerTlsOptions tls = flags.tls;
  // With tokens accepted, a caller may present a token instead of a
  // certificate; a certificate it presents is still verified.
  tls.require_client_cert = flags.token_issuers_file.empty();
  return gridcase::security::TlsIdentity::Start(
      tls, [clock] { return clock->NowMicros() / 1'000'000; },
      [](bool error, const std::string& line) {
        spdlog::log(error ? spdlog::level::err : spdlog::level::info, "{}", line);
      });
}

// Who may call: the principals file, and whether this is a development
// server (loopback callers without a certificate may do everything).
absl::StatusOr<gridcase::security::GateOptions> AccessFrom(const Flags& flags,
                                                           const gridcase::Clock* clock) {
  gridcase::security::GateOptions access;
  access.development = flags.development;
  access.clock = clock;
  access.limits = flags.limits;
  access.limits.checkpoints_per_s = flags.checkpoints_per_hour / 3600;
  access.break_glass_per_hour = flags.break_glass_per_hour;
  if (!flags.token_issuers_file.empty()) {
    auto tokens = gridcase::security::TokenVerifier::Load(flags.token_issuers_file);
    if (!tokens.ok()) return tokens.status();
    access.tokens = *tokens;
    access.now_s = [] { return gridcase::SystemClock().NowMicros() / 1'000'000; };
  }
  if (!flags.principals_file.empty()) {
    auto principals = gridcase::security::PrincipalsFile::Load(flags.principals_file);
    if (!principals.ok()) return principals.status();
    access.principals = std::move(*principals);
    spdlog::info("principals: {} applications, {} operators, auditors and privacy officers ({})",
                 access.principals.applications.size(), access.principals.staff.size(),
                 flags.principals_file);
  }
  if (flags.development) {
    spdlog::warn(
        "DEVELOPMENT SERVER: every caller on loopback without a client certificate is trusted "
        "with every right. Never use --development with real data.");
  } else if (flags.tls.client_ca_path.empty() && flags.token_issuers_file.empty()) {
    spdlog::warn(
        "neither --tls-client-ca nor --token-issuers: no caller can prove who it is, so every "
        "call except health is refused UNAUTHENTICATED (docs/security.md)");
  }
  return access;
}

std::string TransportText(const Flags& flags) {
  if (flags.tls.cert_path.empty()) return "plaintext";
  const std::string tokens =
      flags.token_issuers_file.empty() ? "" : ", bearer tokens of " + flags.token_issuers_file;
  if (flags.tls.client_ca_path.empty()) return "TLS" + tokens;
  return "mutual TLS, client certificates from " + flags.tls.client_ca_path + tokens;
}

// The gRPC server, and how it is reached said in the log.
absl::StatusOr<std::unique_ptr<gridcase::api::Server>> StartServer(
    const Flags& flags, gridcase::Engine* engine, const gridcase::Clock* clock,
    gridcase::security::GateOptions access, const gridcase::security::TlsIdentity* tls,
    gridcase::kafka::Bridge* kafka) {
  gridcase::api::ServerOptions options;
  options.listen_address = flags.listen;
  if (tls != nullptr) options.credentials = tls->credentials();
  options.plaintext_beyond_loopback = flags.insecure_plaintext;
  options.access = std::move(access);
  options.reflection = flags.reflection;
  options.page_token_key_file = flags.page_token_key;
  if (kafka != nullptr) options.kafka_status = [kafka] { return kafka->Status(); };
  auto server = gridcase::api::Server::Start(engine, clock, options);
  if (!server.ok()) return server.status();
  spdlog::info("gridcased listening on {} ({}; data: {}, {} partitions)", (*server)->address(),
               TransportText(flags), engine->data_dir(), engine->partition_count());
  if (tls == nullptr && flags.insecure_plaintext) {
    spdlog::warn(
        "INSECURE: serving plaintext on {} (--insecure-plaintext): anyone on the network "
        "can read and forge what is sent",
        (*server)->address());
  }
  return server;
}

// The HTTP listener when asked for (nullptr when not).
absl::StatusOr<std::unique_ptr<gridcase::http::HttpListener>> StartHttp(
    const Flags& flags, gridcase::Engine* engine, gridcase::kafka::Bridge* kafka) {
  if (flags.http_listen.empty()) return nullptr;
  gridcase::http::HttpOptions options;
  options.listen = flags.http_listen;
  options.sources.engine = engine;
  if (kafka != nullptr) options.sources.kafka_status = [kafka] { return kafka->Status(); };
  auto http = gridcase::http::HttpListener::Start(std::move(options));
  if (!http.ok()) return http.status();
  spdlog::info("serving HTTP on {} (/metrics, /healthz, /readyz)", (*http)->address());
  if (!flags.http_port_file.empty() && !WritePortFile(flags.http_port_file, (*http)->port())) {
    return absl::UnavailableError("cannot write port file " + flags.http_port_file);
  }
  if (!(*http)->loopback()) {
    spdlog::warn(
        "the HTTP listener on {} is reachable beyond this machine, in plaintext: it serves "
        "metrics and probes only, no personal data",
        (*http)->address());
  }
  return http;
}

int Run(const Flags& flags) {
  const sigset_t signals = BlockShutdownSignals();
  gridcase::SystemClock clock;
  gridcase::api::LogLimiter protobuf_log = ProtobufLogLimiter(&clock);
  gridcase::api::ProtobufLogRoute protobuf_log_route(&protobuf_log);

  const gridcase::HugePagePool huge_pages = gridcase::ReadHugePagePool();
  gridcase::EngineOptions options = EngineOptionsFrom(flags, huge_pages);
  if (flags.master_key.empty()) {
    // The default master key is made inside the data directory: make the
    // directory a gridcase one first, so that the key does not make it a
    // non-empty stranger.
    if (auto count = gridcase::ResolvePartitions(options.data_dir, options.partitions);
        !count.ok()) {
      spdlog::critical("cannot open data directory {}: {}", options.data_dir,
                       count.status().ToString());
      return 1;
    }
  }
  std::string made_key;
  auto master = LoadMasterKey(flags.master_key, options.data_dir, &made_key);
  if (!master.ok()) {
    spdlog::critical("{}", master.status().ToString());
    return 1;
  }
  if (!made_key.empty()) {
    spdlog::info("made a master key for personal data: {} (keep a copy apart from the data)",
                 made_key);
  }
  options.master_key = *std::move(master);
  auto engine = gridcase::Engine::Open(options, &clock);
  if (!engine.ok()) {
    spdlog::critical("cannot open data directory {}: {}", options.data_dir,
                     engine.status().ToString());
    return 1;
  }
  LogHugePages(huge_pages, flags.huge_pages, (*engine)->partition_count());
  if (!flags.workflows_dir.empty() && !DeployDirectory(**engine, flags.workflows_dir)) {
    return 1;
  }
  auto access = AccessFrom(flags, &clock);
  if (!access.ok()) {
    spdlog::critical("{}", access.status().ToString());
    return 1;
  }
  // The Kafka ingest's own gate, with the server's rules.
  const gridcase::security::Gate kafka_gate(&(*engine)->staffing().directory(), *access);
  auto key = HeadSigning::LoadKey(
      {.key_path = flags.signing_key, .off = flags.no_signing, .every_s = flags.sign_every_s},
      (*engine)->data_dir());
  auto kafka = key.ok() ? StartKafka(flags, engine->get(), &kafka_gate) : key.status();
  if (!kafka.ok()) {
    spdlog::critical("{}", kafka.status().ToString());
    return 1;
  }
  gridcase::DeadlineScheduler scheduler(
      &(*engine)->timers(),
      [e = engine->get()] { return e->staffing().HandOnFromNewlyUnavailable(); }, &clock,
      /*poll_us_max=*/200 * 1000,
      [](const absl::Status& st) { spdlog::error("deadline scheduler: {}", st.ToString()); });
  scheduler.Start();
  auto tls = StartTls(flags, &clock);
  if (!tls.ok()) {
    spdlog::critical("{}", tls.status().ToString());
    return 1;
  }
  // Before gRPC, so that probes and metrics answer by the time the server
  // says it listens.
  auto http = StartHttp(flags, engine->get(), kafka->get());
  if (!http.ok()) {
    spdlog::critical("{}", http.status().ToString());
    return 1;
  }
  auto server =
      StartServer(flags, engine->get(), &clock, std::move(*access), tls->get(), kafka->get());
  if (!server.ok()) {
    spdlog::critical("{}", server.status().ToString());
    return 1;
  }
  if (!flags.port_file.empty() && !WritePortFile(flags.port_file, (*server)->port())) {
    spdlog::critical("cannot write port file {}", flags.port_file);
    return 1;
  }
  // Started last, so that no early return leaves it running.
  std::unique_ptr<HeadSigning> signing;
  if (*key) {
    signing = std::make_unique<HeadSigning>(engine->get(), std::move(*key));
    signing->Start(flags.sign_every_s);
  }

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  spdlog::info("{} received: draining in-flight work",
               signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  const auto grace = std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::duration<double>(flags.shutdown_grace_s));
  if (*http) (*http)->Stop();
  (*server)->Shutdown(std::chrono::system_clock::now() + grace);
  scheduler.Stop();
  if (*kafka) (*kafka)->StopIngest();
  if (signing) signing->StopThread();
  (*engine)->Stop();               // answers everything still queued
  if (signing) signing->Finish();  // the final head, after the last write
  if (*kafka) (*kafka)->StopFeed(std::chrono::duration_cast<std::chrono::milliseconds>(grace));
  server->reset();
  kafka->reset();
  engine->reset();
  protobuf_log.Flush();
  spdlog::info("gridcased stopped cleanly");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Whatever the server creates (logs it is told to write, checkpoints,
  // keys, the port file) is its user's alone: the data is health data.
  ::umask(077);
  Flags flags;
  CLI::App app{"gridcased: the gridcase event-sourced case engine"};
  AddFlags(app, &flags);
  std::string check_config;
  app.add_option("--check-config", check_config,
                 "check a configuration file (every key known, every value sound, the files it "
                 "names readable and loadable), name every problem, and exit: 0 sound, 1 not")
      ->configurable(false);
  CLI11_PARSE(app, argc, argv);
  if (!check_config.empty()) {
    const std::vector<std::string> problems = gridcase::server::CheckConfigFile(check_config);
    for (const std::string& problem : problems) {
      std::fprintf(stderr, "%s: %s\n", check_config.c_str(), problem.c_str());
    }
    if (!problems.empty()) return 1;
    std::printf("%s: sound\n", check_config.c_str());
    return 0;
  }
  gridcase::logging::Format log_format = gridcase::logging::Format::kText;
  if (auto st = gridcase::logging::ParseFormat(flags.log_format, &log_format); !st.ok()) {
    std::fprintf(stderr, "%s\n", std::string(st.message()).c_str());
    return 2;
  }
  if (auto st = gridcase::logging::Configure(log_format, flags.log_level); !st.ok()) {
    std::fprintf(stderr, "%s\n", std::string(st.message()).c_str());
    return 2;
  }
  // Abseil as Debian builds it checks every lock taken for ordering cycles,
  // a debugging aid that cost 2% of the server's CPU on the Wuhan day
  // (more on unary calls, which make and drop mutexes). The tests, which
  // run the same code in process, keep it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  spdlog::info("configuration: {}",
               absl::StrJoin(gridcase::server::EffectiveConfig(app, flags), "; "));
  return Run(flags);
}
