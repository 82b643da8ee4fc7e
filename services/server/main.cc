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
#include "services/server/head_signing.h"
#include "spdlog/spdlog.h"

namespace {

using gridcase::privacy::LoadMasterKey;
using gridcase::server::HeadSigning;

struct Flags {
  std::string listen = "127.0.0.1:7070";
  std::string data_dir = "data";
  uint32_t partitions = 0;
  size_t queue_capacity = 16384;
  size_t group_records_max = 2048;
  size_t recent_records_mb = 16;
  double future_skew_s_max = 300;
  uint64_t disk_reserve_mb = 1024;
  double clock_jump_limit_s = 60;
  double scrub_every_hours = 24;
  double scrub_mib_per_s = 16;
  double shutdown_grace_s = 10;
  std::string port_file;
  std::string http_listen;  // empty: no HTTP listener
  std::string http_port_file;
  std::string workflows_dir;
  std::string signing_key;  // empty: DATA_DIR/keys/heads.key
  std::string master_key;   // empty: DATA_DIR/keys/master.key
  bool no_signing = false;
  double sign_every_s = 60;
  std::string log_level = "info";
  std::string log_format = "text";
  bool huge_pages = true;
  gridcase::kafka::KafkaOptions kafka;
  std::vector<std::string> kafka_properties;
  gridcase::security::ServerTlsOptions tls;
  bool insecure_plaintext = false;
  std::string principals_file;
  std::string token_issuers_file;
  bool development = false;
  bool reflection = false;
  std::string page_token_key;
  gridcase::security::RateLimits limits;
  double checkpoints_per_hour = 6;
  int break_glass_per_hour = 3;
  std::string kafka_ingest_as;
  std::string kafka_secrets;
};

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

// Who may call and how: TLS, principals, tokens, limits.
void AddSecurityFlags(CLI::App& app, Flags* flags) {
  app.add_option("--tls-cert", flags->tls.cert_path,
                 "the server's certificate chain (PEM, leaf first); with --tls-key: serve TLS");
  app.add_option("--tls-key", flags->tls.key_path,
                 "the server's private key (PEM; only its owner may read it)");
  app.add_option("--tls-client-ca", flags->tls.client_ca_path,
                 "CA bundle (PEM) applications' certificates must chain to: mutual TLS, a "
                 "client without a valid certificate fails the handshake");
  app.add_option("--tls-crl", flags->tls.crl_path,
                 "revocation lists (PEM X509 CRLs) of the client CAs: a revoked client "
                 "certificate fails the handshake; reloaded with the other TLS files");
  app.add_option("--tls-reload-every", flags->tls.reload_every_s,
                 "seconds between looks at the TLS files; a new pair is vetted before use and a "
                 "bad one never replaces a good one")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  app.add_option("--principals", flags->principals_file,
                 "JSON file of applications (and their units), operators, auditors and privacy "
                 "officers; people's roles come from the directory (docs/security.md)");
  app.add_option("--token-issuers", flags->token_issuers_file,
                 "JSON list of single sign-on issuers whose bearer tokens (JWT: RS256, ES256, "
                 "EdDSA) name callers, with their audience and public keys (docs/security.md)");
  app.add_flag("--development", flags->development,
               "a development server: callers on loopback without a certificate may do "
               "everything; loopback only, never with real data");
  app.add_option("--limit-submits", flags->limits.submits_per_s,
                 "submissions per second per caller (0: no limit); bursts of ten seconds' worth")
      ->capture_default_str();
  app.add_option("--limit-reads", flags->limits.reads_per_s,
                 "reads (cases, timelines, listings, people, units) per second per caller (0: no "
                 "limit)")
      ->capture_default_str();
  app.add_option("--limit-log-streams", flags->limits.log_streams_per_s,
                 "ReadLog streams opened per second per caller (0: no limit)")
      ->capture_default_str();
  app.add_option("--limit-checkpoints", flags->checkpoints_per_hour,
                 "checkpoints per hour per caller (0: no limit)")
      ->capture_default_str();
  app.add_option("--break-glass-per-hour", flags->break_glass_per_hour,
                 "break-glass reads per caller in any hour (0: none)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--reflection", flags->reflection,
               "serve gRPC server reflection (for grpcurl and the like); off by default");
  app.add_option("--page-token-key", flags->page_token_key,
                 "file of at least 32 secret bytes (its owner's alone) to seal page tokens with, "
                 "so that they outlive a restart and several servers accept each other's; "
                 "default: a random key at each start");
  app.add_flag("--insecure-plaintext", flags->insecure_plaintext,
               "serve plaintext on an address other machines can reach (refused otherwise); "
               "only for a network that is itself trusted");
}

// The engine, its storage and the server around it.
void AddEngineFlags(CLI::App& app, Flags* flags) {
  app.add_option("--data-dir", flags->data_dir, "where the partitions' RocksDB databases live")
      ->capture_default_str();
  app.add_option("--partitions", flags->partitions,
                 "partition count of a new data directory (0: 4, or as stored); "
                 "fixed once created")
      ->capture_default_str();
  app.add_option("--queue-capacity", flags->queue_capacity,
                 "submissions waiting per partition before RESOURCE_EXHAUSTED")
      ->capture_default_str();
  app.add_option("--group-max", flags->group_records_max,
                 "submissions per synced write batch at most")
      ->capture_default_str();
  app.add_option("--recent-records-mb", flags->recent_records_mb,
                 "MiB of each partition's newest records kept in memory for timeline reads "
                 "(0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  app.add_option("--max-future-skew", flags->future_skew_s_max,
                 "seconds an event's occurred_at may lie ahead of the server clock")
      ->capture_default_str();
  app.add_option("--disk-reserve-mb", flags->disk_reserve_mb,
                 "MiB the data directory's file system must keep free: below, submissions "
                 "are refused RESOURCE_EXHAUSTED \"disk full\" until space is freed (0: no "
                 "guard)")
      ->capture_default_str();
  app.add_option("--clock-jump-limit", flags->clock_jump_limit_s,
                 "seconds the wall clock may jump forward against the monotonic clock before "
                 "writes and deadlines stop until time is fixed or `gridcase admin "
                 "accept-clock` (0: no guard)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--scrub-every-hours", flags->scrub_every_hours,
                 "hours between background scrub passes (every table file's checksums and "
                 "the hash chain, re-read); the first comes at most an hour after the start "
                 "(0: no scrub)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 24.0 * 365));
  app.add_option("--scrub-mib-per-s", flags->scrub_mib_per_s,
                 "MiB per second a scrub pass reads at most (0: unlimited)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
  app.add_option("--shutdown-grace", flags->shutdown_grace_s,
                 "seconds in-flight calls get to finish on SIGINT/SIGTERM")
      ->capture_default_str();
  app.add_option("--port-file", flags->port_file, "write the bound port to this file once serving");
  app.add_option("--workflows", flags->workflows_dir,
                 "deploy the workflow definitions (*.textproto) of this directory at start "
                 "(versions already deployed are kept)");
  app.add_option("--signing-key", flags->signing_key,
                 "Ed25519 private key (PEM) to sign chain heads with; created if missing, "
                 "its public key written beside it (.pub); default: DATA_DIR/keys/heads.key");
  app.add_option("--master-key", flags->master_key,
                 "file of 64 hex digits (owner-only) wrapping every person's key: personal "
                 "fields are sealed under those keys and erased by destroying them; default "
                 "DATA_DIR/keys/master.key, made on first start (keep it apart from the data)");
  app.add_flag("--no-signing", flags->no_signing,
               "do not sign chain heads: the log is then protected by its hash chain alone "
               "(warned at start)");
  app.add_option("--sign-every", flags->sign_every_s, "seconds between signed chain heads")
      ->capture_default_str();
  app.add_flag("--huge-pages,!--no-huge-pages", flags->huge_pages,
               "allocate memtables from the machine's reserved huge pages when it has free "
               "ones (sysctl vm.nr_hugepages; see README)")
      ->capture_default_str();
  app.add_option("--log-format", flags->log_format,
                 "text, or json: one JSON object a line (time, level, component, message)")
      ->capture_default_str();
  app.add_option("--log-level", flags->log_level, "trace|debug|info|warn|error")
      ->capture_default_str();
}

void AddKafkaFlags(CLI::App& app, Flags* flags) {
  app.add_option("--kafka-brokers", flags->kafka.brokers,
                 "Kafka bootstrap servers (host:port,...); empty: no Kafka, the embedded "
                 "store alone");
  app.add_option("--kafka-feed-topic", flags->kafka.feed_topic,
                 "topic every record is published to, keyed by case id")
      ->capture_default_str();
  app.add_option("--kafka-feed-format", flags->kafka.feed_format,
                 "protobuf (gridcase.v1.Record bytes) or json")
      ->capture_default_str();
  app.add_option("--kafka-feed-personal", flags->kafka.feed_personal,
                 "personal fields in the feed: sealed (as stored, ciphertext) or omit")
      ->check(CLI::IsMember({"sealed", "omit"}))
      ->capture_default_str();
  app.add_option("--kafka-ingest-topic", flags->kafka.ingest_topic,
                 "topic of events to submit (empty: no ingest)")
      ->capture_default_str();
  app.add_option("--kafka-ingest-format", flags->kafka.ingest_format,
                 "auto (JSON if it starts with '{', else protobuf Event), protobuf or json")
      ->capture_default_str();
  app.add_option("--kafka-group", flags->kafka.group, "consumer group of the ingest")
      ->capture_default_str();
  app.add_option("--kafka-dead-letter-topic", flags->kafka.dead_letter_topic,
                 "topic refused ingest messages go to, with the reason in headers")
      ->capture_default_str();
  app.add_option("--kafka-ingest-as", flags->kafka_ingest_as,
                 "who the ingest submits as: gridcase:app:<id> of the principals file (its "
                 "units and right to act for people apply to every message)");
  app.add_option("--kafka-secrets", flags->kafka_secrets,
                 "file of librdkafka properties that are secrets (sasl.password=..., one a "
                 "line); only its owner may read it; never logged");
  app.add_option("--kafka-property", flags->kafka_properties,
                 "key=value passed to librdkafka (security.protocol=SASL_SSL, sasl.*, ssl.*); "
                 "repeatable");
}

void AddFlags(CLI::App& app, Flags* flags) {
  app.set_config("--config", "", "read options from a TOML/INI file", false);
  app.add_option("--listen", flags->listen, "host:port to serve gRPC on (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--http-listen", flags->http_listen,
                 "serve /metrics (Prometheus), /healthz and /readyz over HTTP on HOST:PORT, or "
                 "PORT on loopback (port 0: any free port); empty: no HTTP listener");
  app.add_option("--http-port-file", flags->http_port_file,
                 "write the HTTP listener's bound port to this file once serving");
  AddSecurityFlags(app, flags);
  AddEngineFlags(app, flags);
  AddKafkaFlags(app, flags);
}

}  // namespace

int main(int argc, char** argv) {
  // Whatever the server creates (logs it is told to write, checkpoints,
  // keys, the port file) is its user's alone: the data is health data.
  ::umask(077);
  Flags flags;
  CLI::App app{"gridcased: the gridcase event-sourced case engine"};
  AddFlags(app, &flags);
  CLI11_PARSE(app, argc, argv);
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
  return Run(flags);
}
