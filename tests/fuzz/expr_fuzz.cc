// The guard language (engine/workflow/expr*): the input is a guard's
// source, lexed, then compiled under the scopes a definition gives guards
// (a rule on the event type the guard names, with counters and deadlines;
// a deadline rule, which reacts to no event type) and evaluated against a
// small fixed case.
//
// Invariants: the lexer ends with one end token and its columns increase;
// a compiled guard keeps its source and is at most kGuardDepthMax deep;
// evaluating it is deterministic; and where "!(" guard ")" also compiles,
// it evaluates to the opposite.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/common/time.h"
#include "engine/workflow/definition.h"
#include "engine/workflow/duration.h"
#include "engine/workflow/expr.h"
#include "engine/workflow/expr_lexer.h"
#include "tests/fuzz/fuzz_support.h"

namespace gridcase::fuzz {
namespace {

using workflow::Guard;
using workflow::GuardInput;
using workflow::GuardScope;

struct Scene {
  v1::Event event;
  v1::CaseState state;
};

// Two events of the case below: a high reading, and a positive test.
std::vector<Scene> Scenes() {
  v1::CaseState state;
  state.set_case_id("case-1");
  state.set_stage("observation");
  state.set_category(v1::CATEGORY_SUSPECTED);
  state.set_grid_id("jiangan-07-03");
  state.set_fever_readings(3);
  state.set_last_celsius(37.9);
  *state.mutable_stage_entered_at() = FromMicros(kNowUs - 30 * workflow::kSecondUs * 3600);
  auto* windowed = state.add_counters();
  windowed->set_name("high-readings");
  for (int64_t h : {30, 20, 2}) windowed->add_occurred_us(kNowUs - h * 3600 * workflow::kSecondUs);
  auto* plain = state.add_counters();
  plain->set_name("misses");
  plain->set_count(2);
  auto* deadline = state.add_deadlines();
  deadline->set_name("daily-check");
  *deadline->mutable_due_at() = FromMicros(kNowUs - 60 * workflow::kSecondUs);

  v1::Event base;
  base.set_event_id("e-1");
  base.set_case_id("case-1");
  base.set_grid_id("jiangan-07-03");
  base.set_channel(v1::CHANNEL_APP);
  base.mutable_actor()->set_id("w1");
  base.mutable_actor()->set_kind(v1::ACTOR_KIND_PERSON);
  base.mutable_actor()->set_role("grid_worker");
  *base.mutable_occurred_at() = FromMicros(kNowUs - 10 * workflow::kSecondUs);

  std::vector<Scene> out;
  Scene fever{base, state};
  fever.event.mutable_fever_reading()->set_celsius(38.2);
  fever.event.mutable_fever_reading()->set_measured_by("gate-2");
  out.push_back(fever);
  Scene test{base, state};
  test.event.mutable_test_result()->set_test_id("t-9");
  test.event.mutable_test_result()->set_outcome(v1::TEST_OUTCOME_POSITIVE);
  out.push_back(test);
  return out;
}

GuardScope Scope(const std::string& payload) {
  GuardScope scope;
  scope.payload = payload;
  scope.counters = {{"high-readings", 24 * 3600 * workflow::kSecondUs},
                    {"negative-tests", 0},
                    {"unanswered-contacts", 0},
                    {"misses", 0}};
  scope.deadlines = {"daily-check", "delivery", "retest"};
  return scope;
}

// The event type a guard is about: the first word of it that names one
// (the payload of the rule it would guard), or none.
std::string PayloadOf(absl::string_view src) {
  size_t i = 0;
  while (i < src.size()) {
    if (!std::isalpha(static_cast<unsigned char>(src[i])) && src[i] != '_') {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < src.size() && (std::isalnum(static_cast<unsigned char>(src[j])) || src[j] == '_')) {
      ++j;
    }
    const std::string word(src.substr(i, j - i));
    if (workflow::IsSubmittableEventType(word)) return word;
    i = j;
  }
  return "";
}

void CheckLexer(absl::string_view src) {
  auto tokens = workflow::internal::Lex(src);
  if (!tokens.ok()) return;
  FUZZ_CHECK(!tokens->empty() && tokens->back().kind == workflow::internal::Token::kEnd,
             "the tokens end with one end token");
  for (size_t i = 0; i + 1 < tokens->size(); ++i) {
    const auto& t = (*tokens)[i];
    FUZZ_CHECK(t.kind != workflow::internal::Token::kEnd, "an end token inside");
    FUZZ_CHECK(t.column >= 1 && t.column <= src.size() && t.column < (*tokens)[i + 1].column,
               "token columns increase within the source");
    if (t.kind == workflow::internal::Token::kDuration) {
      FUZZ_CHECK(t.duration_us >= 0 && t.duration_us <= 3650 * workflow::kDayUs,
                 "a duration token within 3650 days");
    }
  }
}

int TestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<Scene> scenes = Scenes();
  const absl::string_view src(reinterpret_cast<const char*>(data), size);
  CheckLexer(src);
  // As a rule on the event type it names, and as a deadline rule's.
  const std::string payload = PayloadOf(src);
  for (const std::string& on : {payload, std::string()}) {
    const GuardScope scope = Scope(on);
    auto guard = Guard::Compile(src, scope);
    if (!guard.ok()) {
      FUZZ_CHECK(absl::IsInvalidArgument(guard.status()), guard.status().ToString());
      continue;
    }
    FUZZ_CHECK(guard->source() == src, "a guard keeps its source");
    FUZZ_CHECK(guard->depth() <= workflow::kGuardDepthMax, "depth ", guard->depth());
    auto negated = Guard::Compile(absl::StrCat("!(", src, ")"), scope);
    std::vector<Scene> cases = scenes;
    if (!on.empty()) {
      // And an event of the type it is about, with that payload's defaults.
      Scene own = scenes.front();
      const auto* field = v1::Event::descriptor()->FindFieldByName(on);
      own.event.GetReflection()->MutableMessage(&own.event, field);
      cases.push_back(own);
    }
    for (const Scene& scene : cases) {
      // Time-based guards see the event's moment, as deciding does.
      const GuardInput in = workflow::GuardInputFor(scene.event, scene.state, kNowUs);
      const bool held = guard->Evaluate(in);
      FUZZ_CHECK(held == guard->Evaluate(in), "evaluation is deterministic");
      if (negated.ok()) FUZZ_CHECK(negated->Evaluate(in) == !held, "!(g) is not the opposite of g");
    }
  }
  return 0;
}

}  // namespace
}  // namespace gridcase::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return gridcase::fuzz::TestOneInput(data, size);
}
