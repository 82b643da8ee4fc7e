#include "engine/workflow/expr.h"

#include <algorithm>
#include <random>
#include <string>

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
  EXPECT_TRUE(
      Eval("occupancy_evidence.registered_empty and "
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
  // Personal fields are never read by a rule: decisions must not depend on
  // what an erasure destroys.
  EXPECT_THAT(CompileError("help_request.items == \"x\"", GuardScope{"help_request", {}, {}}),
              HasSubstr("gridcase.v1.HelpRequest.items is personal data"));
  EXPECT_THAT(CompileError("note.text == \"x\"", GuardScope{"note", {}, {}}),
              HasSubstr("gridcase.v1.Note.text is personal data: a rule cannot read it"));
  EXPECT_THAT(
      CompileError("screening_check.household_id == \"h\"", GuardScope{"screening_check", {}, {}}),
      HasSubstr("is personal data"));
}

// The guards of a definition that crashed the server with a stack overflow,
// before guards had limits: 5,000 nested parentheses (in a 10 KB
// definition), and 300,000 negations.
TEST(GuardLimitsTest, TheGuardsThatOverflowedTheStackAreRefusedByTheirLength) {
  const std::string parens = std::string(5000, '(') + "true" + std::string(5000, ')');
  EXPECT_THAT(CompileError(parens),
              HasSubstr("column 1025: a guard is at most 1024 bytes; this one is 10004"));
  const std::string negations = std::string(300000, '!') + "true";
  EXPECT_THAT(CompileError(negations),
              HasSubstr("column 1025: a guard is at most 1024 bytes; this one is 300004"));
}

TEST(GuardLimitsTest, ALongGuardIsAcceptedUpToTheByteLimit) {
  const std::string guard = "fever_reading.celsius >= 37.3";
  const std::string padded = guard + std::string(kGuardBytesMax - guard.size(), ' ');
  EXPECT_TRUE(Eval(padded, Fever("e", "c", 38.0), v1::CaseState()));
  EXPECT_THAT(CompileError(padded + " "), HasSubstr("column 1025: a guard is at most 1024 bytes"));
}

TEST(GuardLimitsTest, NestingIsBoundedForParenthesesAndNegationsAlike) {
  const v1::CaseState s;
  const auto e = Fever("e", "c", 38.0);
  const int n = kGuardNestingMax;
  const auto parens = [](int k) { return std::string(k, '(') + "true" + std::string(k, ')'); };
  EXPECT_TRUE(Eval(parens(n), e, s));
  EXPECT_THAT(CompileError(parens(n + 1)),
              HasSubstr("column 33: more than 32 parentheses and negations nested"));
  EXPECT_TRUE(Eval(std::string(n, '!') + "true", e, s));  // an even count
  EXPECT_THAT(CompileError(std::string(n + 1, '!') + "true"),
              HasSubstr("column 33: more than 32 parentheses and negations nested"));
  std::string words;
  for (int i = 0; i < n; ++i) words += "not ";
  EXPECT_FALSE(Eval(words + "fever_reading.celsius < 37", e, s));
  EXPECT_THAT(CompileError(words + "not true"), HasSubstr("column 129: more than 32"));
}

// Each level of parentheses holding an ||, an && and a comparison on top of
// one another: the deepest tree the limits allow.
TEST(GuardLimitsTest, TheDeepestGuardThatCompilesIsEvaluatedAtTheDepthBound) {
  const std::string level = " == true && true || false";
  std::string guard = "true" + level;
  for (int i = 0; i < kGuardNestingMax; ++i) guard = "(" + guard + ")" + level;
  auto g = Guard::Compile(guard, FeverScope());
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->depth(), kGuardDepthMax);
  const v1::CaseState s;
  const auto e = Fever("e", "c", 38.0);
  EXPECT_TRUE(g->Evaluate({&e, &s, 0, 0}));
}

TEST(GuardLimitsTest, NodesAreBounded) {
  // A path, `in` and 254 items: 256 nodes.
  const auto listed = [](int items) {
    std::string g = "fever_reading.celsius in [1";
    for (int i = 1; i < items; ++i) g += ",1";
    return g + "]";
  };
  EXPECT_FALSE(Eval(listed(kGuardNodesMax - 2), Fever("e", "c", 38.0), v1::CaseState()));
  // The 255th item, the 257th node, is at column 27 + 2 * 254.
  EXPECT_THAT(CompileError(listed(kGuardNodesMax - 1)),
              HasSubstr("column 535: more than 256 values and operators in one guard"));
}

// Random guards of &&, ||, !, not, parentheses and comparisons, written out
// with the value each must have on a 38.0 °C reading at a checkpoint.
class GuardGenerator {
 public:
  explicit GuardGenerator(uint32_t seed) : rng_(seed) {}

  // A guard whose deepest path opens exactly `nesting` parentheses and
  // negations; returns its value.
  bool Generate(int nesting) {
    deepest_ = nesting;
    return Or(0, nesting);
  }
  const std::string& text() const { return out_; }
  int nodes() const { return nodes_; }
  // The same guard with one more negation on its deepest path; the column
  // where the parser finds that it goes one too deep.
  std::pair<std::string, size_t> OneDeeper() const {
    std::string deeper = out_;
    deeper.insert(deepest_leaf_at_, "!");
    return {deeper, deepest_leaf_at_ + 1};
  }

  // Appends " || fever_reading.celsius in [1,...]" (false) with as many
  // items as make the guard `nodes` nodes; returns the column of its last item.
  size_t PadTo(int nodes) {
    out_ = "(" + out_ + ") || fever_reading.celsius in [1";
    size_t last = out_.size();
    for (int n = nodes_ + 4; n < nodes; ++n) {
      out_ += ",";
      last = out_.size() + 1;
      out_ += "1";
    }
    out_ += "]";
    return last;
  }

 private:
  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  // `deep`: how many more openers this operand must nest (one operand of
  // each chain carries it; the others get a little random depth).
  bool Or(int nesting, int deep) { return Chain(nesting, deep, " || ", false); }
  bool And(int nesting, int deep) { return Chain(nesting, deep, " && ", true); }

  bool Chain(int nesting, int deep, const char* op, bool is_and) {
    static const int kOperands[] = {1, 1, 1, 1, 2, 2, 3};  // mostly deep, sometimes wide
    const int operands = kOperands[Pick(7)];
    const int carrier = Pick(operands);
    if (operands > 1) ++nodes_;
    bool v = is_and;
    for (int i = 0; i < operands; ++i) {
      if (i > 0) out_ += op;
      const int d = i == carrier ? deep : std::min(deep, Pick(2));
      const bool x = is_and ? Unary(nesting, d) : And(nesting, d);
      v = is_and ? v && x : v || x;
    }
    return v;
  }

  bool Unary(int nesting, int deep) {
    if (deep == 0) {
      if (nesting == deepest_) deepest_leaf_at_ = out_.size();
      return Leaf();
    }
    if (Pick(2) == 0) {
      out_ += Pick(2) == 0 ? "!" : "not ";
      ++nodes_;
      return !Unary(nesting + 1, deep - 1);
    }
    out_ += "(";
    const bool v = Or(nesting + 1, deep - 1);
    out_ += ")";
    return v;
  }

  bool Leaf() {
    static const struct {
      const char* text;
      bool value;
      int nodes;
    } kLeaves[] = {{"true", true, 1},
                   {"false", false, 1},
                   {"1 < 2", true, 3},
                   {"fever_reading.celsius >= 37.3", true, 3},
                   {"grid_id == \"elsewhere\"", false, 3},
                   {"channel in [PHONE, CHECKPOINT]", true, 4},
                   {"count(\"all\") > 0", false, 3}};
    const auto& leaf = kLeaves[Pick(sizeof(kLeaves) / sizeof(kLeaves[0]))];
    out_ += leaf.text;
    nodes_ += leaf.nodes;
    return leaf.value;
  }

  std::mt19937 rng_;
  std::string out_;
  int nodes_ = 0;
  int deepest_ = 0;
  size_t deepest_leaf_at_ = 0;  // where a leaf at the deepest nesting starts
};

// `guard` compiles, within the depth bound, and evaluates to `value` on
// the reading the generator assumes.
void ExpectEvaluates(const std::string& guard, bool value, uint32_t seed) {
  auto g = Guard::Compile(guard, FeverScope());
  ASSERT_TRUE(g.ok()) << "seed " << seed << ": " << guard << ": " << g.status();
  EXPECT_LE(g->depth(), kGuardDepthMax) << guard;
  const v1::CaseState s;
  const auto e = Fever("e", "c", 38.0);
  EXPECT_EQ(g->Evaluate({&e, &s, 0, 0}), value) << "seed " << seed << ": " << guard;
}

TEST(GuardLimitsTest, RandomGuardsAtTheNestingLimitEvaluateAndOneMoreIsRefused) {
  int tried = 0;
  for (uint32_t seed = 1; tried < 200; ++seed) {
    GuardGenerator at(seed);
    const bool value = at.Generate(kGuardNestingMax);
    // Wide ones beyond the other limits are for the next test.
    if (at.text().size() >= kGuardBytesMax || at.nodes() >= kGuardNodesMax) continue;
    ++tried;
    ExpectEvaluates(at.text(), value, seed);
    const auto [deeper, column] = at.OneDeeper();
    EXPECT_THAT(CompileError(deeper), HasSubstr("column " + std::to_string(column) +
                                                ": more than 32 parentheses and negations nested"))
        << "seed " << seed << ": " << deeper;
  }
}

TEST(GuardLimitsTest, RandomGuardsAtTheNodeLimitEvaluateAndOneMoreIsRefused) {
  int tried = 0;
  for (uint32_t seed = 1; tried < 200; ++seed) {
    GuardGenerator at(seed);
    const bool value = at.Generate(static_cast<int>(seed % kGuardNestingMax));
    if (at.nodes() + 5 > kGuardNodesMax) continue;
    at.PadTo(kGuardNodesMax);
    if (at.text().size() + 2 > kGuardBytesMax) continue;
    ++tried;
    ExpectEvaluates(at.text(), value, seed);
    GuardGenerator over(seed);
    over.Generate(static_cast<int>(seed % kGuardNestingMax));
    const size_t column = over.PadTo(kGuardNodesMax + 1);
    EXPECT_THAT(CompileError(over.text()),
                HasSubstr("column " + std::to_string(column) +
                          ": more than 256 values and operators in one guard"))
        << "seed " << seed << ": " << over.text();
  }
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
