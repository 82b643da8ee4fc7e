// Durations as definitions write them (engine/workflow/duration.h): the
// input is the text.
//
// Invariants: a parsed duration lies in [0, 3650 days]; a non-zero one
// prints (FormatDuration) as text that parses back to it; FormatSpan of it,
// of its negation and of the span between any two valid timestamps (the
// spans explanations print) does not fail.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "engine/workflow/duration.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

// The seconds of 0001-01-01 and 9999-12-31: what validation lets a
// timestamp be, so the widest span the engine can print.
constexpr int64_t kSpanMaxUs = (253402300799LL + 62135596800LL) * 1000000;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using gridcase::workflow::FormatDuration;
  using gridcase::workflow::FormatSpan;
  using gridcase::workflow::kDayUs;
  using gridcase::workflow::ParseDuration;
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto us = ParseDuration(text);
  if (us.ok()) {
    FUZZ_CHECK(*us >= 0 && *us <= 3650 * kDayUs, text, " parsed as ", *us);
    if (*us != 0) {
      const std::string printed = FormatDuration(*us);
      auto again = ParseDuration(printed);
      FUZZ_CHECK(again.ok() && *again == *us, text, " -> ", *us, " -> \"", printed, "\" -> ",
                 again.ok() ? std::to_string(*again) : again.status().ToString());
    }
    FUZZ_CHECK(!FormatSpan(*us).empty() && !FormatSpan(-*us).empty(), "an empty span");
  } else {
    FUZZ_CHECK(absl::IsInvalidArgument(us.status()), us.status().ToString());
  }
  // The input's first bytes as a span between two valid timestamps.
  if (size >= sizeof(int64_t)) {
    int64_t span;
    std::memcpy(&span, data, sizeof(span));
    span %= kSpanMaxUs + 1;
    FUZZ_CHECK(!FormatSpan(span).empty(), "an empty span for ", span);
    FUZZ_CHECK(!FormatDuration(span).empty(), "an empty duration for ", span);
  }
  return 0;
}
