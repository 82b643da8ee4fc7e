// Shape checks for submitted events, run before anything reaches a
// sequencer. Every path by which clients submit events (gRPC unary and
// streams, the Kafka ingest: Engine::Submit and SubmitFromStream) runs the
// same checks, so the same bad input gets the same answer everywhere.
//
// The engine's own records (derived events, deadline expiries, holder
// replacements, deployments, directory entries) are built by the engine and
// queued straight to a sequencer: they never pass here, and must not, since
// they carry what clients are refused below.
#ifndef GRIDCASE_ENGINE_DOMAIN_VALIDATE_H_
#define GRIDCASE_ENGINE_DOMAIN_VALIDATE_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/timestamp.pb.h"
#include "gridcase/v1/event.pb.h"

namespace gridcase {

// Derived events have the id of their cause, this separator and a number.
inline constexpr char kDerivedIdSeparator = '#';
// Case, event and actor ids that start with this belong to the engine
// (workflow deployments, deadline expiries, holder replacements).
inline constexpr char kReservedCasePrefix = '~';
// The actor of the engine's own records, with ACTOR_KIND_SYSTEM and
// CHANNEL_SYSTEM; and of the deployments gridcased makes at start. Clients
// may use neither id, nor that kind or channel: a record by them would read,
// in a timeline, as one of the engine's decisions.
inline constexpr char kEngineActorId[] = "gridcase";
inline constexpr char kServerActorId[] = "gridcased";

struct ValidationLimits {
  // How far `occurred_at` may lie ahead of the server's clock.
  int64_t future_skew_us_max = 5LL * 60 * 1000 * 1000;
  // Identifiers: printable ASCII (0x21-0x7e), 1..id_bytes_max bytes.
  size_t id_bytes_max = 128;
  // Any other string field.
  size_t text_bytes_max = 4096;
  // Any repeated field.
  size_t repeated_count_max = 256;
  // The serialized event.
  size_t event_bytes_max = 1 << 20;
  double celsius_min = 30.0;
  double celsius_max = 45.0;
};

// Returns OK, or INVALID_ARGUMENT whose message starts with the path of the
// offending field ("event.fever_reading.celsius: ...") and says why.
// Refused besides shapes and ranges: the engine's own payloads (derived
// events, directory entries), ids reserved to the engine, and the engine's
// actor kind, actor ids and channel (ValidateClientActor).
// `now_us` is the server's clock, used only for the future-skew check.
absl::Status ValidateEvent(const v1::Event& event, const ValidationLimits& limits, int64_t now_us);

// The checks of an actor given by a client, for events and for the
// administrative calls that record who made them (deploying a workflow,
// importing the directory): ACTOR_KIND_SYSTEM, kEngineActorId,
// kServerActorId and ids starting with kReservedCasePrefix are the
// engine's. `path` names the actor in the message ("event.actor").
absl::Status ValidateClientActor(const v1::Actor& actor, absl::string_view path);

// True for UTF-8 as protobuf parses it in a string field: no overlong
// forms, surrogates or code points beyond U+10FFFF (a string that is not
// is written, but the record holding it never parses back).
bool IsValidUtf8(absl::string_view s);

// True for a time google.protobuf.Timestamp allows (0001-01-01 to
// 9999-12-31, nanos within a second), which Micros() converts without
// overflow.
bool IsValidTimestamp(const google::protobuf::Timestamp& t);

// True for 1..max_bytes bytes of printable ASCII without spaces.
bool IsValidId(absl::string_view id, size_t max_bytes);

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_DOMAIN_VALIDATE_H_
