#include "engine/workflow/expr.h"

#include "engine/workflow/duration.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/events.h"

namespace gridcase::workflow {
namespace {

using ::gridcase::testing::BaseEvent;
using ::gridcase::testing::Fever;
using ::gridcase::testing::kFeb22EveningUs;
using ::testing::HasSubstr;

GuardScope FeverScope() {
  GuardScope s;
  s.payload = "fever_reading";
  s.counters = {{"high-readings", 24 * 3600 * kSecondUs}, {"all", 0}};
  return s;
}

bool Eval(const std::string& src, const v1::Event& e, const v1::CaseState& state,
          int64_t now_us = kFeb22EveningUs, const GuardScope& scope = FeverScope()) {
  auto g = Guard::Compile(src, scope);
  EXPECT_TRUE(g.ok()) << src << ": " << g.status();
  if (!g.ok()) return false;
  const int64_t occurred = e.occurred_at().seconds() * 1000000;
  return g->Evaluate({&e, &state, now_us, occurred});
}

std::string CompileError(const std::string& src, const GuardScope& scope = FeverScope()) {
  auto g = Guard::Compile(src, scope);
  EXPECT_FALSE(g.ok()) << src << " compiled";
  return g.ok() ? "" : std::string(g.status().message());
}

TEST(GuardTest, ComparesEventFields) {
  const v1::CaseState s;
  EXPECT_TRUE(Eval("fever_reading.celsius >= 37.3", Fever("e", "c", 37.7), s));
  EXPECT_FALSE(Eval("fever_reading.celsius >= 37.3", Fever("e", "c", 37.0), s));
  EXPECT_TRUE(Eval("fever_reading.celsius >= 37.3", Fever("e", "c", 37.3), s));
  EXPECT_TRUE(Eval("grid_id == \"jiangan-07-03\"", Fever("e", "c", 37.0), s));
  EXPECT_TRUE(Eval("actor.role != \"lab\" && channel == CHECKPOINT", Fever("e", "c", 37.0), s));
  EXPECT_TRUE(Eval("channel in [PHONE, CHANNEL_CHECKPOINT]", Fever("e", "c", 37.0), s));
  EXPECT_TRUE(Eval("not (channel in [PHONE, VISIT])", Fever("e", "c", 37.0), s));
}

TEST(GuardTest, EnumConstantsResolveByShortOrFullName) {
  GuardScope scope;
  scope.payload = "test_result";
  auto e = BaseEvent("e", "c");
  e.mutable_test_result()->set_test_id("t");
  e.mutable_test_result()->set_outcome(v1::TEST_OUTCOME_POSITIVE);
  const v1::CaseState s;
  EXPECT_TRUE(Eval("test_result.outcome == POSITIVE", e, s, 0, scope));
  EXPECT_TRUE(Eval("test_result.outcome == TEST_OUTCOME_POSITIVE", e, s, 0, scope));
  EXPECT_FALSE(Eval("POSITIVE != test_result.outcome", e, s, 0, scope));
  EXPECT_THAT(CompileError("test_result.outcome == POSITIV", scope),
              HasSubstr("POSITIV is not a value of gridcase.v1.TestOutcome"));
}

TEST(GuardTest, ReadsCaseFactsCountersAndTimeInStage) {
  v1::CaseState s;
  s.set_category(v1::CATEGORY_FEVER);
  s.set_stage("isolation");
  s.mutable_stage_entered_at()->set_seconds(kFeb22EveningUs / 1000000);
  auto* c = s.add_counters();
  c->set_name("high-readings");
  const int64_t t = kFeb22EveningUs;
  c->add_occurred_us(t - 25 * 3600 * kSecondUs);  // outside the 24 h window
  c->add_occurred_us(t - 3600 * kSecondUs);
  c->add_occurred_us(t);
  const auto e = Fever("e", "c", 38.0);
  EXPECT_TRUE(Eval("case.category == FEVER && case.stage == \"isolation\"", e, s));
  EXPECT_TRUE(Eval("count(\"high-readings\") == 2", e, s));
  EXPECT_TRUE(Eval("count(\"all\") == 0", e, s));
  EXPECT_TRUE(Eval("time_in_stage >= 1d", e, s, t + 86400 * kSecondUs));
  EXPECT_FALSE(Eval("time_in_stage >= 1d", e, s, t + 86399 * kSecondUs));
}

TEST(GuardTest, BooleanFieldsAreConditions) {
  GuardScope scope;
  scope.payload = "occupancy_evidence";
  auto e = BaseEvent("e", "c");
  e.mutable_occupancy_evidence()->set_household_id("h");
  e.mutable_occupancy_evidence()->set_registered_empty(true);
  e.mutable_occupancy_evidence()->set_meter_kwh_delta(1.5);
  const v1::CaseState s;
  EXPECT_TRUE(Eval("occupancy_evidence.registered_empty and "
                   "(occupancy_evidence.lights_on or occupancy_evidence.meter_kwh_delta > 0)",
                   e, s, 0, scope));
}

TEST(GuardTest, EmptyGuardAlwaysHolds) {
  auto g = Guard::Compile("  ", FeverScope());
  ASSERT_TRUE(g.ok());
  const v1::CaseState s;
  const auto e = Fever("e", "c", 36.0);
  EXPECT_TRUE(g->Evaluate({&e, &s, 0, 0}));
}

TEST(GuardTest, ErrorsNameTheColumnAndTheProblem) {
  EXPECT_THAT(CompileError("fever_reading.celsius >= \"hot\""),
              HasSubstr("column 23: type mismatch: a number compared with a string"));
  EXPECT_THAT(CompileError("fever_reading.celcius >= 37.3"),
              HasSubstr("column 15: \"celcius\" is not a field of gridcase.v1.FeverReading"));
  EXPECT_THAT(CompileError("test_result.outcome == POSITIVE"),
              HasSubstr("test_result is not the event this rule reacts to (fever_reading)"));
  EXPECT_THAT(CompileError("count(\"nope\") > 1"), HasSubstr("no counter named \"nope\""));
  EXPECT_THAT(CompileError("fever_reading.celsius"), HasSubstr("expected a condition"));
  EXPECT_THAT(CompileError("fever_reading.celsius >= 37.3 &&"), HasSubstr("ends too early"));
  EXPECT_THAT(CompileError("grid_id > \"a\""), HasSubstr("compare numbers or durations"));
  EXPECT_THAT(CompileError("time_in_stage > 3"),
              HasSubstr("type mismatch: a duration compared with a number"));
  EXPECT_THAT(CompileError("time_in_stage > 3w"), HasSubstr("not a duration"));
  EXPECT_THAT(CompileError("occurred_at > 1"), HasSubstr("is a time"));
  EXPECT_THAT(CompileError("frobnicate"), HasSubstr("unknown name \"frobnicate\""));
  EXPECT_THAT(CompileError("help_request.items == \"x\"",
                           GuardScope{"help_request", {}, {}}),
              HasSubstr("is a list"));
}

TEST(DurationTest, ParsesAndFormats) {
  EXPECT_EQ(*ParseDuration("30s"), 30 * kSecondUs);
  EXPECT_EQ(*ParseDuration("24h"), kDayUs);
  EXPECT_EQ(*ParseDuration("14d"), 14 * kDayUs);
  EXPECT_FALSE(ParseDuration("14").ok());
  EXPECT_FALSE(ParseDuration("h").ok());
  EXPECT_FALSE(ParseDuration("1.5h").ok());
  EXPECT_FALSE(ParseDuration("4000d").ok());
  EXPECT_EQ(FormatDuration(kDayUs), "1d");
  EXPECT_EQ(FormatDuration(90 * 60 * kSecondUs), "90m");
}

}  // namespace
}  // namespace gridcase::workflow
