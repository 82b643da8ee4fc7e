#include "engine/domain/validate.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/common/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"

namespace gridcase {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Seconds of 0001-01-01 and 9999-12-31, the range google.protobuf.Timestamp
// allows.
constexpr int64_t kTimestampSecondsMin = -62135596800LL;
constexpr int64_t kTimestampSecondsMax = 253402300799LL;

absl::Status Invalid(absl::string_view path, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", why));
}

}  // namespace

bool IsValidUtf8(absl::string_view s) {
  // The smallest code point of each length: shorter forms are refused.
  static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    size_t extra;
    uint32_t code;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      extra = 1;
      code = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
      code = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3;
      code = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= extra; ++k) {
      const auto b = static_cast<uint8_t>(s[i + k]);
      if ((b & 0xc0) != 0x80) return false;
      code = (code << 6) | (b & 0x3f);
    }
    if (code < kMin[extra] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
    i += extra + 1;
  }
  return true;
}

bool IsValidTimestamp(const google::protobuf::Timestamp& t) {
  return t.seconds() >= kTimestampSecondsMin && t.seconds() <= kTimestampSecondsMax &&
         t.nanos() >= 0 && t.nanos() <= 999999999;
}

namespace {

// Identifier fields: checked for the id grammar rather than as free text.
bool IsIdField(const FieldDescriptor* f) {
  static const char* const kIdNames[] = {"event_id", "case_id",      "grid_id",    "request_id",
                                         "test_id",  "household_id", "to_assignee"};
  for (const char* name : kIdNames) {
    if (f->name() == name) return true;
  }
  // Actor.id
  return f->name() == "id" && f->containing_type()->name() == "Actor";
}

absl::Status CheckFields(const Message& msg, const std::string& path,
                         const ValidationLimits& limits);

// Free text: its size and UTF-8.
absl::Status CheckText(const std::string& s, const std::string& path,
                       const ValidationLimits& limits) {
  if (s.size() > limits.text_bytes_max) {
    return Invalid(
        path, absl::StrFormat("%d bytes, at most %d allowed", s.size(), limits.text_bytes_max));
  }
  if (!IsValidUtf8(s)) return Invalid(path, "not valid UTF-8");
  return absl::OkStatus();
}

absl::Status CheckTimestamp(const Message& t, const std::string& path) {
  const Reflection* r = t.GetReflection();
  const Descriptor* d = t.GetDescriptor();
  google::protobuf::Timestamp time;
  time.set_seconds(r->GetInt64(t, d->FindFieldByName("seconds")));
  time.set_nanos(r->GetInt32(t, d->FindFieldByName("nanos")));
  if (!IsValidTimestamp(time)) return Invalid(path, "not a valid timestamp");
  return absl::OkStatus();
}

// A repeated field: its count, then each string or message in it.
absl::Status CheckRepeated(const Message& msg, const FieldDescriptor* f, const std::string& path,
                           const ValidationLimits& limits) {
  const Reflection* r = msg.GetReflection();
  const int n = r->FieldSize(msg, f);
  if (static_cast<size_t>(n) > limits.repeated_count_max) {
    return Invalid(path,
                   absl::StrFormat("%d entries, at most %d allowed", n, limits.repeated_count_max));
  }
  for (int i = 0; i < n; ++i) {
    const std::string ipath = absl::StrCat(path, "[", i, "]");
    absl::Status st;
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      std::string scratch;
      st = CheckText(r->GetRepeatedStringReference(msg, f, i, &scratch), ipath, limits);
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      st = CheckFields(r->GetRepeatedMessage(msg, f, i), ipath, limits);
    }
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

// A field that is not repeated, by its type.
absl::Status CheckSingular(const Message& msg, const FieldDescriptor* f, const std::string& path,
                           const ValidationLimits& limits) {
  const Reflection* r = msg.GetReflection();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s = r->GetStringReference(msg, f, &scratch);
      if (!IsIdField(f)) return CheckText(s, path, limits);
      if (!IsValidId(s, limits.id_bytes_max)) {
        return Invalid(path,
                       absl::StrFormat("must be 1 to %d bytes of printable ASCII without spaces",
                                       limits.id_bytes_max));
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const int v = r->GetEnumValue(msg, f);
      if (f->enum_type()->FindValueByNumber(v) == nullptr) {
        return Invalid(path,
                       absl::StrFormat("%d is not a value of %s", v, f->enum_type()->full_name()));
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      const double v = f->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE ? r->GetDouble(msg, f)
                                                                        : r->GetFloat(msg, f);
      if (!std::isfinite(v)) return Invalid(path, "must be a finite number");
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const Message& sub = r->GetMessage(msg, f);
      if (sub.GetDescriptor()->full_name() == "google.protobuf.Timestamp") {
        return CheckTimestamp(sub, path);
      }
      return CheckFields(sub, path, limits);
    }
    default:
      return absl::OkStatus();
  }
}

// Generic checks every field gets, by reflection: string sizes and UTF-8,
// the id grammar, enum values that the schema knows, repeated counts.
absl::Status CheckFields(const Message& msg, const std::string& path,
                         const ValidationLimits& limits) {
  std::vector<const FieldDescriptor*> fields;
  msg.GetReflection()->ListFields(msg, &fields);
  for (const FieldDescriptor* f : fields) {
    const std::string fpath = absl::StrCat(path, ".", f->name());
    const absl::Status st = f->is_repeated() ? CheckRepeated(msg, f, fpath, limits)
                                             : CheckSingular(msg, f, fpath, limits);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

std::string PayloadFieldName(const v1::Event& e) {
  const auto* f = v1::Event::descriptor()->FindFieldByNumber(e.payload_case());
  return f == nullptr ? "payload" : f->name();
}

absl::Status Require(bool present, absl::string_view path) {
  return present ? absl::OkStatus() : Invalid(path, "is required");
}

// Required fields and ranges of each payload.
absl::Status CheckPayload(const v1::Event& e, const ValidationLimits& limits) {
  using E = v1::Event;
  switch (e.payload_case()) {
    case E::PAYLOAD_NOT_SET:
      return Invalid("event.payload",
                     "is empty: exactly one payload (screening_check, "
                     "fever_reading, ...) is required");
    case E::kScreeningCheck:
      return Require(e.screening_check().category() != v1::CATEGORY_UNSPECIFIED,
                     "event.screening_check.category");
    case E::kFeverReading: {
      const double c = e.fever_reading().celsius();
      if (!std::isfinite(c)) {
        return Invalid("event.fever_reading.celsius", "must be a finite number");
      }
      if (c < limits.celsius_min || c > limits.celsius_max) {
        return Invalid("event.fever_reading.celsius",
                       absl::StrFormat("%g is outside %g to %g °C", c, limits.celsius_min,
                                       limits.celsius_max));
      }
      return absl::OkStatus();
    }
    case E::kHelpRequest:
      if (auto st =
              Require(!e.help_request().request_id().empty(), "event.help_request.request_id");
          !st.ok()) {
        return st;
      }
      return Require(e.help_request().kind() != v1::HELP_KIND_UNSPECIFIED,
                     "event.help_request.kind");
    case E::kHelpFulfilled:
      return Require(!e.help_fulfilled().request_id().empty(), "event.help_fulfilled.request_id");
    case E::kIsolationOrder:
      return Require(e.isolation_order().kind() != v1::ISOLATION_KIND_UNSPECIFIED,
                     "event.isolation_order.kind");
    case E::kIsolationReleased:
      return absl::OkStatus();
    case E::kTestOrdered:
      return Require(!e.test_ordered().test_id().empty(), "event.test_ordered.test_id");
    case E::kTestResult:
      if (auto st = Require(!e.test_result().test_id().empty(), "event.test_result.test_id");
          !st.ok()) {
        return st;
      }
      return Require(e.test_result().outcome() != v1::TEST_OUTCOME_UNSPECIFIED,
                     "event.test_result.outcome");
    case E::kAdmission:
      return Require(!e.admission().hospital().empty(), "event.admission.hospital");
    case E::kDischarge:
      return absl::OkStatus();
    case E::kContactAttempt:
      return Require(e.contact_attempt().outcome() != v1::CONTACT_OUTCOME_UNSPECIFIED,
                     "event.contact_attempt.outcome");
    case E::kOccupancyEvidence:
      return Require(!e.occupancy_evidence().household_id().empty(),
                     "event.occupancy_evidence.household_id");
    case E::kClueReport:
      return Require(!e.clue_report().description().empty(), "event.clue_report.description");
    case E::kNote:
      return Require(!e.note().text().empty(), "event.note.text");
    case E::kReassignment:
      return Require(!e.reassignment().to_assignee().empty(), "event.reassignment.to_assignee");
    case E::kHelpCancelled:
      return Require(!e.help_cancelled().request_id().empty(), "event.help_cancelled.request_id");
    case E::kWorkflowDeployed:
    case E::kStageChanged:
    case E::kCategoryChanged:
    case E::kTaskOpened:
    case E::kTaskClosed:
    case E::kDeadlineSet:
    case E::kDeadlineCancelled:
    case E::kEscalated:
    case E::kNotification:
    case E::kDeadlineExpired:
    case E::kUnitDefined:
    case E::kPersonRegistered:
    case E::kCadrePaired:
    case E::kAvailabilityChanged:
    case E::kHolderReplaced:
    case E::kErasure:
      return Invalid(absl::StrCat("event.", PayloadFieldName(e)),
                     "is written by the engine only (a derived event or a directory entry)");
  }
  return Invalid("event.payload", "unknown payload");
}

}  // namespace

bool IsValidId(absl::string_view id, size_t max_bytes) {
  if (id.empty() || id.size() > max_bytes) return false;
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

absl::Status ValidateClientActor(const v1::Actor& actor, absl::string_view path) {
  if (actor.kind() == v1::ACTOR_KIND_SYSTEM) {
    return Invalid(absl::StrCat(path, ".kind"), "ACTOR_KIND_SYSTEM is reserved to gridcase itself");
  }
  const std::string& id = actor.id();
  if (id == kEngineActorId || id == kServerActorId) {
    return Invalid(absl::StrCat(path, ".id"),
                   absl::StrCat("\"", id, "\" is reserved to gridcase itself"));
  }
  if (!id.empty() && id[0] == kReservedCasePrefix) {
    return Invalid(absl::StrCat(path, ".id"),
                   absl::StrCat("ids starting with '", std::string(1, kReservedCasePrefix),
                                "' are reserved for the engine"));
  }
  return absl::OkStatus();
}

absl::Status ValidateEvent(const v1::Event& event, const ValidationLimits& limits, int64_t now_us) {
  const size_t bytes = event.ByteSizeLong();
  if (bytes > limits.event_bytes_max) {
    return Invalid("event",
                   absl::StrFormat("%d bytes, at most %d allowed", bytes, limits.event_bytes_max));
  }
  if (event.event_id().empty()) return Invalid("event.event_id", "is required");
  if (event.case_id().empty()) return Invalid("event.case_id", "is required");
  if (!event.has_actor() || event.actor().id().empty()) {
    return Invalid("event.actor.id", "is required");
  }
  if (!event.has_occurred_at()) {
    return Invalid("event.occurred_at", "is required");
  }
  if (auto st = CheckFields(event, "event", limits); !st.ok()) return st;
  if (event.event_id().find(kDerivedIdSeparator) != std::string::npos) {
    return Invalid("event.event_id", absl::StrCat("'", std::string(1, kDerivedIdSeparator),
                                                  "' is reserved for the ids of derived events"));
  }
  if (event.event_id()[0] == kReservedCasePrefix) {
    return Invalid("event.event_id",
                   absl::StrCat("ids starting with '", std::string(1, kReservedCasePrefix),
                                "' are reserved for the engine"));
  }
  if (event.case_id()[0] == kReservedCasePrefix) {
    return Invalid("event.case_id",
                   absl::StrCat("ids starting with '", std::string(1, kReservedCasePrefix),
                                "' are reserved for the engine"));
  }
  if (auto st = ValidateClientActor(event.actor(), "event.actor"); !st.ok()) return st;
  if (event.channel() == v1::CHANNEL_SYSTEM) {
    return Invalid("event.channel", "CHANNEL_SYSTEM is reserved to gridcase itself");
  }
  const int64_t occurred_us = Micros(event.occurred_at());
  if (occurred_us > now_us + limits.future_skew_us_max) {
    return Invalid("event.occurred_at",
                   absl::StrFormat("is %.3f s ahead of the server clock; at "
                                   "most %.3f s is allowed",
                                   (occurred_us - now_us) / 1e6, limits.future_skew_us_max / 1e6));
  }
  return CheckPayload(event, limits);
}

}  // namespace gridcase
