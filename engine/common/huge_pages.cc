#include "engine/common/huge_pages.h"

#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace gridcase {

HugePagePool ParseHugePagePool(absl::string_view meminfo) {
  HugePagePool pool;
  for (absl::string_view line : absl::StrSplit(meminfo, '\n')) {
    // "Name:   value [kB]"
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    const absl::string_view name = line.substr(0, colon);
    absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    const bool kib = absl::ConsumeSuffix(&value, "kB");
    uint64_t n = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(value), &n)) continue;
    if (name == "HugePages_Total") {
      pool.total = n;
    } else if (name == "HugePages_Free") {
      pool.free = n;
    } else if (name == "Hugepagesize") {
      pool.page_bytes = static_cast<size_t>(kib ? n << 10 : n);
    }
  }
  return pool;
}

size_t MemtableHugePageSize(const HugePagePool& pool) {
  const bool power_of_two = pool.page_bytes != 0 && (pool.page_bytes & (pool.page_bytes - 1)) == 0;
  return pool.free > 0 && power_of_two && pool.page_bytes <= kMemtableHugePageMax ? pool.page_bytes
                                                                                  : 0;
}

HugePagePool ReadHugePagePool(const std::string& meminfo_path) {
  std::ifstream in(meminfo_path);
  if (!in) return {};
  std::ostringstream text;
  text << in.rdbuf();
  return ParseHugePagePool(text.str());
}

}  // namespace gridcase
