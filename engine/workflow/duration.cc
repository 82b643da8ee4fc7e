#include "engine/workflow/duration.h"

#include "absl/strings/str_cat.h"

namespace gridcase::workflow {
namespace {

constexpr int64_t kMaxUs = 3650 * kDayUs;

int64_t UnitUs(char unit) {
  switch (unit) {
    case 's':
      return kSecondUs;
    case 'm':
      return 60 * kSecondUs;
    case 'h':
      return 3600 * kSecondUs;
    case 'd':
      return kDayUs;
    default:
      return 0;
  }
}

}  // namespace

absl::StatusOr<int64_t> ParseDuration(absl::string_view text) {
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text,
                     "\" is not a duration: write a whole number and a unit, "
                     "s, m, h or d (\"30m\", \"24h\", \"14d\")"));
  };
  if (text.size() < 2) return bad();
  const int64_t unit = UnitUs(text.back());
  if (unit == 0) return bad();
  int64_t n = 0;
  for (char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9') return bad();
    n = n * 10 + (c - '0');
    if (n * unit > kMaxUs) {
      return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is longer than 3650 days"));
    }
  }
  return n * unit;
}

std::string FormatDuration(int64_t us) {
  for (char unit : {'d', 'h', 'm', 's'}) {
    const int64_t u = UnitUs(unit);
    if (us != 0 && us % u == 0) return absl::StrCat(us / u, std::string(1, unit));
  }
  return absl::StrCat(us, "us");
}

std::string FormatSpan(int64_t us) {
  if (us < 0) return absl::StrCat("-", FormatSpan(-us));
  if (us < kSecondUs) return absl::StrCat(us / 1000, "ms");
  std::string out;
  int parts = 0;
  for (char unit : {'d', 'h', 'm', 's'}) {
    const int64_t u = UnitUs(unit);
    if (us < u && parts == 0) continue;
    if (parts == 2) break;
    ++parts;
    if (us / u == 0) continue;  // "1d" rather than "1d 0h"
    absl::StrAppend(&out, out.empty() ? "" : " ", us / u, std::string(1, unit));
    us %= u;
  }
  return out;
}

}  // namespace gridcase::workflow
