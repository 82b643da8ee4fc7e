// gridcased's options: every one a command-line flag and, under the same
// name without its dashes, a key of the --config file (TOML). A key the
// server does not know is an error, never ignored.
#ifndef GRIDCASE_SERVICES_SERVER_FLAGS_H_
#define GRIDCASE_SERVICES_SERVER_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "services/kafka/kafka.h"
#include "services/security/gate.h"
#include "services/security/tls.h"

namespace gridcase::server {

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

// Adds every option to `app`, bound to `flags`, and --config.
void AddFlags(CLI::App& app, Flags* flags);

// What is wrong with `flags` taken together, each problem naming its key
// ("http-listen: ..."): addresses that do not parse, values out of range,
// files that are missing or unreadable or do not load (TLS, principals,
// token issuers, workflows, Kafka secrets and properties), options that
// need each other. Empty: sound. Reads the files it names; opens nothing
// else (the data directory and Kafka are checked at start).
std::vector<std::string> CheckFlags(const Flags& flags);

// Checks a configuration file as `gridcased --config PATH` would read it:
// every key known, every value of its key's type, then CheckFlags on the
// whole. Every problem found, each naming the key; empty: sound.
std::vector<std::string> CheckConfigFile(const std::string& path);

// The effective configuration as TOML lines (every option, defaults
// included), with secret values redacted: the values of Kafka properties
// that hold passwords, secrets, keys or tokens. Paths are kept: they name
// where secrets are, not what they are.
std::vector<std::string> EffectiveConfig(const CLI::App& app, const Flags& flags);

}  // namespace gridcase::server

#endif  // GRIDCASE_SERVICES_SERVER_FLAGS_H_
