#include "services/server/flags.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/storage/data_dir.h"
#include "engine/workflow/definition.h"
#include "engine/workflow/files.h"
#include "services/http/http_listener.h"
#include "services/logging/logging.h"
#include "services/security/principal.h"
#include "services/security/token.h"

namespace gridcase::server {
namespace {

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

void CheckReadable(const std::string& key, const std::string& path,
                   std::vector<std::string>* problems) {
  if (path.empty()) return;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    problems->push_back(absl::StrCat(key, ": ", path, " does not exist"));
  } else if (::access(path.c_str(), R_OK) != 0) {
    problems->push_back(absl::StrCat(key, ": ", path, " cannot be read by this user"));
  }
}

void CheckAtLeast(const std::string& key, double value, double least,
                  std::vector<std::string>* problems) {
  if (!(value >= least)) {
    problems->push_back(absl::StrCat(key, ": ", value, " is below ", least));
  }
}

// A count read into an unsigned option: "-5" arrives as a huge number.
void CheckBetween(const std::string& key, uint64_t value, uint64_t least, uint64_t most,
                  std::vector<std::string>* problems) {
  if (value < least || value > most) {
    problems->push_back(absl::StrCat(key, ": ",
                                     static_cast<int64_t>(value) < 0
                                         ? std::to_string(static_cast<int64_t>(value))
                                         : std::to_string(value),
                                     " is not between ", least, " and ", most));
  }
}

void CheckHostPort(const std::string& key, const std::string& address,
                   std::vector<std::string>* problems) {
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    problems->push_back(
        absl::StrCat(key, ": ", address, " is not HOST:PORT (port 0-65535; 0: any free port)"));
  }
}

// Kafka property values that hold secrets, by the property's name.
bool SecretProperty(const std::string& name) {
  for (const char* word :
       {"password", "secret", "key.pem", "certificate.pem", "oauthbearer", "token", "jaas"}) {
    if (absl::StrContains(name, word)) return true;
  }
  return false;
}

}  // namespace

void AddFlags(CLI::App& app, Flags* flags) {
  app.set_config("--config", "", "read options from a TOML file (keys: the long flag names)",
                 false);
  // A misspelt key must stop the start, not be dropped in silence.
  app.allow_config_extras(CLI::config_extras_mode::error);
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

std::vector<std::string> CheckFlags(const Flags& flags) {
  std::vector<std::string> problems;
  CheckHostPort("listen", flags.listen, &problems);
  if (!flags.http_listen.empty()) {
    if (auto parsed = http::ParseListenAddress(flags.http_listen); !parsed.ok()) {
      problems.push_back(absl::StrCat("http-listen: ", parsed.status().message()));
    }
  }
  logging::Format format;
  if (auto st = logging::ParseFormat(flags.log_format, &format); !st.ok()) {
    problems.push_back(absl::StrCat("log-format: ", st.message()));
  }
  if (spdlog::level::from_str(flags.log_level) == spdlog::level::off && flags.log_level != "off") {
    problems.push_back(absl::StrCat("log-level: ", flags.log_level,
                                    " is not trace, debug, info, warn, error, critical or off"));
  }
  if (flags.partitions > kPartitionsMax) {
    problems.push_back(
        absl::StrCat("partitions: ", flags.partitions, " is above ", kPartitionsMax));
  }
  CheckBetween("queue-capacity", flags.queue_capacity, 1, 10'000'000, &problems);
  CheckBetween("group-max", flags.group_records_max, 1, 1'000'000, &problems);
  CheckAtLeast("max-future-skew", flags.future_skew_s_max, 0, &problems);
  CheckAtLeast("clock-jump-limit", flags.clock_jump_limit_s, 0, &problems);
  CheckAtLeast("scrub-every-hours", flags.scrub_every_hours, 0, &problems);
  CheckAtLeast("scrub-mib-per-s", flags.scrub_mib_per_s, 0, &problems);
  CheckAtLeast("shutdown-grace", flags.shutdown_grace_s, 0, &problems);
  CheckAtLeast("limit-checkpoints", flags.checkpoints_per_hour, 0, &problems);
  CheckAtLeast("break-glass-per-hour", flags.break_glass_per_hour, 0, &problems);
  if (!flags.no_signing && !(flags.sign_every_s > 0)) {
    problems.push_back(absl::StrCat("sign-every: ", flags.sign_every_s,
                                    " must be above 0 (or no-signing = true)"));
  }
  // TLS.
  if (flags.tls.cert_path.empty() != flags.tls.key_path.empty()) {
    problems.push_back(flags.tls.cert_path.empty() ? "tls-key: given without tls-cert"
                                                   : "tls-cert: given without tls-key");
  }
  if (!flags.tls.client_ca_path.empty() && flags.tls.cert_path.empty()) {
    problems.push_back("tls-client-ca: mutual TLS needs the server's own tls-cert and tls-key");
  }
  CheckReadable("tls-cert", flags.tls.cert_path, &problems);
  CheckReadable("tls-key", flags.tls.key_path, &problems);
  CheckReadable("tls-client-ca", flags.tls.client_ca_path, &problems);
  CheckReadable("tls-crl", flags.tls.crl_path, &problems);
  CheckReadable("page-token-key", flags.page_token_key, &problems);
  // Who may call.
  if (!flags.principals_file.empty()) {
    if (auto loaded = security::PrincipalsFile::Load(flags.principals_file); !loaded.ok()) {
      problems.push_back(absl::StrCat("principals: ", loaded.status().message()));
    }
  }
  if (!flags.token_issuers_file.empty()) {
    if (auto loaded = security::TokenVerifier::Load(flags.token_issuers_file); !loaded.ok()) {
      problems.push_back(absl::StrCat("token-issuers: ", loaded.status().message()));
    }
  }
  // Workflows: each file read and validated as a deployment would.
  if (!flags.workflows_dir.empty()) {
    auto files = workflow::ReadWorkflowDir(flags.workflows_dir);
    if (!files.ok()) {
      problems.push_back(absl::StrCat("workflows: ", files.status().message()));
    } else {
      for (const auto& file : *files) {
        if (auto def = workflow::Definition::Parse(file.source, file.path); !def.ok()) {
          problems.push_back(absl::StrCat("workflows: ", def.status().message()));
        }
      }
    }
  }
  // Kafka, when it is on.
  const kafka::KafkaOptions& k = flags.kafka;
  if (k.brokers.empty()) return problems;
  if (k.feed_format != "protobuf" && k.feed_format != "json") {
    problems.push_back(
        absl::StrCat("kafka-feed-format: ", k.feed_format, " is not protobuf or json"));
  }
  if (k.ingest_format != "auto" && k.ingest_format != "protobuf" && k.ingest_format != "json") {
    problems.push_back(
        absl::StrCat("kafka-ingest-format: ", k.ingest_format, " is not auto, protobuf or json"));
  }
  if (!k.ingest_topic.empty() && flags.kafka_ingest_as.empty() && !flags.development) {
    problems.push_back(
        "kafka-ingest-as: say who the ingest submits as (gridcase:app:<id> of the principals "
        "file)");
  }
  if (!flags.kafka_secrets.empty()) {
    if (auto loaded = kafka::LoadSecrets(flags.kafka_secrets); !loaded.ok()) {
      problems.push_back(absl::StrCat("kafka-secrets: ", loaded.status().message()));
    }
  }
  for (const std::string& text : flags.kafka_properties) {
    if (auto property = kafka::ParseProperty(text); !property.ok()) {
      problems.push_back(absl::StrCat("kafka-property: ", property.status().message()));
    }
  }
  return problems;
}

std::vector<std::string> CheckConfigFile(const std::string& path) {
  std::vector<std::string> problems;
  std::ifstream in(path);
  if (!in) return {absl::StrCat(path, ": cannot be read")};
  std::vector<CLI::ConfigItem> items;
  try {
    items = CLI::ConfigTOML().from_config(in);
  } catch (const CLI::Error& e) {
    return {absl::StrCat(path, ": not TOML gridcased reads: ", e.what())};
  }
  // Each key alone, so that one bad value does not hide the next; then
  // the keys that parsed, together, checked as a whole.
  std::vector<std::string> good;
  for (const CLI::ConfigItem& item : items) {
    const std::string key = item.fullname();
    if (key == "config") {
      problems.push_back("config: a configuration file cannot name another");
      continue;
    }
    Flags scratch;
    CLI::App app;
    AddFlags(app, &scratch);
    if (app.get_option_no_throw("--" + key) == nullptr) {
      problems.push_back(absl::StrCat(key, ": not a gridcased option (gridcased --help)"));
      continue;
    }
    std::vector<std::string> args;
    for (const std::string& value : item.inputs) {
      args.push_back(absl::StrCat("--", key, "=", value));
    }
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 parses from the back
    try {
      app.parse(reversed);
    } catch (const CLI::Error& e) {
      problems.push_back(absl::StrCat(key, ": ", e.what()));
      continue;
    }
    good.insert(good.end(), args.begin(), args.end());
  }
  Flags flags;
  CLI::App app;
  AddFlags(app, &flags);
  std::vector<std::string> reversed(good.rbegin(), good.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::Error& e) {
    problems.push_back(absl::StrCat(path, ": ", e.what()));
    return problems;
  }
  for (std::string& p : CheckFlags(flags)) problems.push_back(std::move(p));
  return problems;
}

std::vector<std::string> EffectiveConfig(const CLI::App& app, const Flags& flags) {
  std::vector<std::string> out;
  const std::string toml = app.config_to_str(/*default_also=*/true, /*write_description=*/false);
  for (absl::string_view line : absl::StrSplit(toml, '\n', absl::SkipEmpty())) {
    std::string text(line);
    if (absl::StartsWith(text, "huge-pages=")) {
      // CLI11 prints a flag that defaults to true, and was not given, as
      // false: the value itself is what counts.
      text = absl::StrCat("huge-pages=", flags.huge_pages ? "true" : "false");
    }
    if (absl::StartsWith(text, "kafka-property")) {
      // kafka-property=["sasl.password=...", ...]: each value's name kept.
      std::string redacted = "kafka-property=[";
      const size_t open = text.find('[');
      const size_t close = text.rfind(']');
      if (open != std::string::npos && close != std::string::npos && close > open) {
        bool first = true;
        for (absl::string_view item :
             absl::StrSplit(absl::string_view(text).substr(open + 1, close - open - 1), ',')) {
          std::string entry(absl::StripAsciiWhitespace(item));
          const size_t eq = entry.find('=');
          if (eq != std::string::npos && SecretProperty(entry.substr(0, eq))) {
            entry = entry.substr(0, eq + 1) + "(redacted)\"";
          }
          absl::StrAppend(&redacted, first ? "" : ", ", entry);
          first = false;
        }
      }
      text = redacted + "]";
    }
    out.push_back(std::move(text));
  }
  return out;
}

}  // namespace gridcase::server
