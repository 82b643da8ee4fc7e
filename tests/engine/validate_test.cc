#include "engine/domain/validate.h"

#include <cmath>
#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/events.h"

namespace gridcase {
namespace {

using ::gridcase::testing::BaseEvent;
using ::gridcase::testing::Fever;
using ::gridcase::testing::kFeb22EveningUs;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr int64_t kNowUs = kFeb22EveningUs + 60LL * 1000000;

absl::Status Validate(const v1::Event& e) { return ValidateEvent(e, ValidationLimits{}, kNowUs); }

void ExpectInvalid(const v1::Event& e, const std::string& field, const std::string& why) {
  const absl::Status st = Validate(e);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_THAT(std::string(st.message()), StartsWith(field + ": ")) << st;
  EXPECT_THAT(std::string(st.message()), HasSubstr(why)) << st;
}

TEST(ValidateTest, AcceptsAWellFormedFeverReading) {
  EXPECT_TRUE(Validate(Fever("e1", "c1", 37.7)).ok());
}

TEST(ValidateTest, RequiresIds) {
  auto e = Fever("e1", "c1", 37.0);
  e.clear_event_id();
  ExpectInvalid(e, "event.event_id", "required");
  e = Fever("e1", "c1", 37.0);
  e.clear_case_id();
  ExpectInvalid(e, "event.case_id", "required");
  e = Fever("e1", "c1", 37.0);
  e.clear_actor();
  ExpectInvalid(e, "event.actor.id", "required");
}

TEST(ValidateTest, RejectsIdsThatAreNotPrintableAscii) {
  ExpectInvalid(Fever("has space", "c1", 37.0), "event.event_id", "printable ASCII");
  ExpectInvalid(Fever("e1", std::string("c\0x", 3), 37.0), "event.case_id", "printable ASCII");
  ExpectInvalid(Fever("e1", std::string(129, 'c'), 37.0), "event.case_id", "1 to 128 bytes");
  EXPECT_TRUE(Validate(Fever("e1", std::string(128, 'c'), 37.0)).ok());
  auto e = Fever("e1", "c1", 37.0);
  e.mutable_actor()->set_id("李");
  ExpectInvalid(e, "event.actor.id", "printable ASCII");
}

TEST(ValidateTest, RequiresAPayload) {
  ExpectInvalid(BaseEvent("e1", "c1"), "event.payload", "exactly one payload");
}

TEST(ValidateTest, TemperatureMustBeFiniteAndPlausible) {
  ExpectInvalid(Fever("e1", "c1", std::nan("")), "event.fever_reading.celsius", "finite");
  ExpectInvalid(Fever("e1", "c1", std::numeric_limits<double>::infinity()),
                "event.fever_reading.celsius", "finite");
  ExpectInvalid(Fever("e1", "c1", 29.9), "event.fever_reading.celsius", "outside 30 to 45");
  ExpectInvalid(Fever("e1", "c1", 45.1), "event.fever_reading.celsius", "outside 30 to 45");
  EXPECT_TRUE(Validate(Fever("e1", "c1", 30.0)).ok());
  EXPECT_TRUE(Validate(Fever("e1", "c1", 45.0)).ok());
}

TEST(ValidateTest, OccurredAtMustBeSetAndNotTooFarInTheFuture) {
  auto e = Fever("e1", "c1", 37.0);
  e.clear_occurred_at();
  ExpectInvalid(e, "event.occurred_at", "required");

  const int64_t skew_us = ValidationLimits{}.future_skew_us_max;
  EXPECT_TRUE(Validate(Fever("e1", "c1", 37.0, kNowUs + skew_us)).ok());
  ExpectInvalid(Fever("e1", "c1", 37.0, kNowUs + skew_us + 1000000), "event.occurred_at",
                "ahead of the server clock");

  ValidationLimits strict;
  strict.future_skew_us_max = 0;
  EXPECT_EQ(ValidateEvent(Fever("e1", "c1", 37.0, kNowUs + 1000000), strict, kNowUs).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ValidateTest, RejectsInvalidTimestamps) {
  auto e = Fever("e1", "c1", 37.0);
  e.mutable_occurred_at()->set_nanos(-1);
  ExpectInvalid(e, "event.occurred_at", "not a valid timestamp");
}

TEST(ValidateTest, LimitsStringSizesAndChecksUtf8) {
  auto e = BaseEvent("e1", "c1");
  e.mutable_note()->set_text(std::string(4097, 'x'));
  ExpectInvalid(e, "event.note.text", "4097 bytes, at most 4096");
  e.mutable_note()->set_text("\xff\xfe");
  ExpectInvalid(e, "event.note.text", "UTF-8");
  e.mutable_note()->set_text("体温 37.7 °C, 已通知社区书记");
  EXPECT_TRUE(Validate(e).ok());
}

TEST(ValidateTest, LimitsRepeatedFields) {
  auto e = BaseEvent("e1", "c1");
  auto* h = e.mutable_help_request();
  h->set_request_id("r1");
  h->set_kind(v1::HELP_KIND_MEDICINE);
  for (int i = 0; i < 257; ++i) h->add_items("insulin");
  ExpectInvalid(e, "event.help_request.items", "257 entries");
}

TEST(ValidateTest, RejectsMessagesOverOneMebibyte) {
  auto e = BaseEvent("e1", "c1");
  auto* h = e.mutable_help_request();
  h->set_request_id("r1");
  h->set_kind(v1::HELP_KIND_GROCERIES);
  for (int i = 0; i < 256; ++i) h->add_items(std::string(4096, 'r'));
  ExpectInvalid(e, "event", "at most 1048576 allowed");
}

TEST(ValidateTest, RejectsEnumValuesTheSchemaDoesNotKnow) {
  auto e = Fever("e1", "c1", 37.0);
  e.set_channel(static_cast<v1::Channel>(99));
  ExpectInvalid(e, "event.channel", "99 is not a value of gridcase.v1.Channel");
}

TEST(ValidateTest, RequiresThePayloadsOwnFields) {
  auto e = BaseEvent("e1", "c1");
  e.mutable_screening_check();
  ExpectInvalid(e, "event.screening_check.category", "required");
  e = BaseEvent("e1", "c1");
  e.mutable_help_request()->set_kind(v1::HELP_KIND_MEAL);
  ExpectInvalid(e, "event.help_request.request_id", "required");
  e = BaseEvent("e1", "c1");
  e.mutable_test_result()->set_test_id("t1");
  ExpectInvalid(e, "event.test_result.outcome", "required");
  e = BaseEvent("e1", "c1");
  e.mutable_isolation_order();
  ExpectInvalid(e, "event.isolation_order.kind", "required");
  e = BaseEvent("e1", "c1");
  e.mutable_contact_attempt()->set_channel(v1::CHANNEL_PHONE);
  ExpectInvalid(e, "event.contact_attempt.outcome", "required");
  e = BaseEvent("e1", "c1");
  e.mutable_reassignment();
  ExpectInvalid(e, "event.reassignment.to_assignee", "required");
}

TEST(ValidateTest, ClientsCannotSubmitDerivedEventsOrReservedIds) {
  auto e = BaseEvent("e1", "c1");
  e.mutable_stage_changed()->set_to("closed");
  ExpectInvalid(e, "event.stage_changed", "written by the engine only");
  ExpectInvalid(Fever("e1#2", "c1", 37.0), "event.event_id", "reserved");
  ExpectInvalid(Fever("e1", "~workflow~x", 37.0), "event.case_id", "reserved");
}

// What the engine writes as itself (actor "gridcase", ACTOR_KIND_SYSTEM,
// CHANNEL_SYSTEM) is refused to clients, field by field.
TEST(ValidateTest, ClientsCannotPoseAsTheEngine) {
  auto e = Fever("e1", "c1", 37.0);
  e.mutable_actor()->set_id("gridcase");
  e.mutable_actor()->set_kind(v1::ACTOR_KIND_SYSTEM);
  e.set_channel(v1::CHANNEL_SYSTEM);
  ExpectInvalid(e, "event.actor.kind", "ACTOR_KIND_SYSTEM is reserved to gridcase itself");

  e = Fever("e1", "c1", 37.0);
  e.mutable_actor()->set_kind(v1::ACTOR_KIND_SYSTEM);
  ExpectInvalid(e, "event.actor.kind", "ACTOR_KIND_SYSTEM is reserved to gridcase itself");
  e = Fever("e1", "c1", 37.0);
  e.set_channel(v1::CHANNEL_SYSTEM);
  ExpectInvalid(e, "event.channel", "CHANNEL_SYSTEM is reserved to gridcase itself");
  for (const char* id : {"gridcase", "gridcased"}) {
    e = Fever("e1", "c1", 37.0);
    e.mutable_actor()->set_id(id);
    ExpectInvalid(e, "event.actor.id",
                  std::string("\"") + id + "\" is reserved to gridcase itself");
  }
  e = Fever("e1", "c1", 37.0);
  e.mutable_actor()->set_id("~scheduler");
  ExpectInvalid(e, "event.actor.id", "ids starting with '~' are reserved for the engine");

  // Names that only resemble the engine's, and the other kinds and channels.
  for (const char* id : {"gridcase-lab", "Gridcase", "worker~li"}) {
    e = Fever("e1", "c1", 37.0);
    e.mutable_actor()->set_id(id);
    EXPECT_TRUE(Validate(e).ok()) << id;
  }
  e = Fever("e1", "c1", 37.0);
  e.mutable_actor()->set_kind(v1::ACTOR_KIND_APP);
  e.set_channel(v1::CHANNEL_LAB);
  EXPECT_TRUE(Validate(e).ok());
}

// Every payload numbered from 40 is written by the engine only (a derived
// event or a directory entry), including any added later; every payload
// below is a client's.
TEST(ValidateTest, EveryEnginePayloadIsRefusedToClients) {
  const auto* payload = v1::Event::descriptor()->FindOneofByName("payload");
  ASSERT_NE(payload, nullptr);
  int engine_payloads = 0;
  for (int i = 0; i < payload->field_count(); ++i) {
    const auto* f = payload->field(i);
    auto e = BaseEvent("e1", "c1");
    e.GetReflection()->MutableMessage(&e, f);
    const absl::Status st = Validate(e);
    if (f->number() >= 40) {
      ++engine_payloads;
      ExpectInvalid(e, "event." + f->name(), "is written by the engine only");
    } else {
      EXPECT_THAT(std::string(st.message()), ::testing::Not(HasSubstr("engine only"))) << f->name();
    }
  }
  EXPECT_EQ(engine_payloads, 16);  // workflow_deployed ... holder_replaced, erasure
}

}  // namespace
}  // namespace gridcase
