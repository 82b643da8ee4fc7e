// Messages of the Kafka ingest (services/kafka/ingest.h): the input is a
// message's bytes, read by kafka::ParseMessage in each format the ingest
// accepts ("auto", "json": an Event or a SubmitRequest with an "event" key,
// "protobuf": an Event), then validated and decided as the engine does
// (ValidateAndDecide, fuzz_support.h).
//
// Invariants: "auto" reads a message as "json" when its first non-blank
// byte is '{' and as "protobuf" otherwise; a refusal is INVALID_ARGUMENT
// (a dead letter); a message read has an event id, the message's place
// ("kafka:TOPIC:PARTITION:OFFSET") when it had none.
#include <cstddef>
#include <cstdint>
#include <string>

#include "services/kafka/ingest.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

constexpr char kTopic[] = "gridcase.events";
constexpr int32_t kPartition = 3;
constexpr int64_t kOffset = 1234;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using gridcase::fuzz::SameMessage;
  using gridcase::kafka::ParseMessage;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  auto json = ParseMessage(bytes, "json", kTopic, kPartition, kOffset);
  auto proto = ParseMessage(bytes, "protobuf", kTopic, kPartition, kOffset);
  auto automatic = ParseMessage(bytes, "auto", kTopic, kPartition, kOffset);
  const size_t first = bytes.find_first_not_of(" \t\r\n");
  const auto& expected = first != std::string::npos && bytes[first] == '{' ? json : proto;
  FUZZ_CHECK(
      automatic.ok() == expected.ok() && (!automatic.ok() || SameMessage(*automatic, *expected)),
      "\"auto\" read the message in neither format");
  for (auto* read : {&json, &proto}) {
    if (!read->ok()) {
      FUZZ_CHECK(absl::IsInvalidArgument(read->status()), read->status().ToString());
      continue;
    }
    FUZZ_CHECK(!(*read)->event().event_id().empty(), "a message read without an event id");
    gridcase::fuzz::ValidateAndDecide(**read);
  }
  return 0;
}
