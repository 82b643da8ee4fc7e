// Kafka properties (services/kafka/kafka.h): the input is read whole as one
// `--kafka-property key=value` (kafka::ParseProperty) and as a secrets
// file (kafka::LoadSecrets, from a file only its owner may read), and
// what is read is handed to librdkafka as gridcased would (kafka::MakeConf).
//
// Invariants: a property read is `key=value` split at its first '=', with
// a key; a refusal is INVALID_ARGUMENT and never quotes the text (it may
// hold a secret): a property's is the same whatever the text, a secrets
// file's names the line, and librdkafka's refusal of a secret names its
// key alone.
#include <fcntl.h>
#include <librdkafka/rdkafkacpp.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/kafka/kafka.h"
#include "tests/fuzz/fuzz_support.h"

namespace gridcase::fuzz {
namespace {

using Property = std::pair<std::string, std::string>;

// librdkafka loads plugins (shared libraries) named by this property as
// soon as it is set: not something to do with made-up names.
bool Harmless(const Property& p) { return !absl::StrContains(p.first, "plugin"); }

void CheckConf(const std::vector<Property>& properties) {
  kafka::KafkaOptions options;
  options.brokers = "127.0.0.1:9";
  for (const Property& p : properties) {
    if (Harmless(p)) options.secret_properties.push_back(p);
  }
  auto conf = kafka::MakeConf(options, {});
  if (conf.ok()) return;
  // Only the key is named, whatever librdkafka says of the value.
  bool named_key_only = false;
  for (const Property& p : options.secret_properties) {
    named_key_only = named_key_only || conf.status().message() ==
                                           absl::StrCat("kafka secrets file: property ", p.first,
                                                        " refused by librdkafka (value not shown)");
  }
  FUZZ_CHECK(absl::IsInvalidArgument(conf.status()) && named_key_only, conf.status().ToString());
}

std::string SecretsFile(absl::string_view text) {
  const std::string path = ScratchDir() + "/secrets";
  WriteFile(path, text, 0600);
  return path;
}

int TestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);

  auto property = kafka::ParseProperty(text);
  if (property.ok()) {
    FUZZ_CHECK(!property->first.empty() && property->first.find('=') == std::string::npos &&
                   property->first + "=" + property->second == text,
               "read as ", property->first, " = ", property->second);
    CheckConf({*property});
  } else {
    // The same words whatever the text.
    static const std::string kRefusal(kafka::ParseProperty("").status().message());
    FUZZ_CHECK(
        absl::IsInvalidArgument(property.status()) && property.status().message() == kRefusal,
        property.status().ToString());
  }

  const std::string path = SecretsFile(text);
  auto secrets = kafka::LoadSecrets(path);
  if (secrets.ok()) {
    for (const auto& [key, value] : *secrets) {
      FUZZ_CHECK(!key.empty() && key.find('=') == std::string::npos, "a secret's key: ", key);
      FUZZ_CHECK(absl::StrContains(text, key) && absl::StrContains(text, value),
                 "a secret read that the file does not hold");
    }
    CheckConf(*secrets);
  } else {
    // Which line, never what it holds.
    const absl::string_view message = secrets.status().message();
    FUZZ_CHECK(absl::IsInvalidArgument(secrets.status()) &&
                   absl::StartsWith(message, absl::StrCat("kafka secrets file ", path, " line ")) &&
                   absl::EndsWith(message, ": expected key=value") &&
                   message.size() < path.size() + 64,
               secrets.status().ToString());
  }
  return 0;
}

}  // namespace
}  // namespace gridcase::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return gridcase::fuzz::TestOneInput(data, size);
}
