#include "tests/support/markers.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/string_view.h"

namespace gridcase::testing {

std::string MarkerMaker::For(int owner) {
  for (;;) {
    std::string m;
    for (size_t i = 0; i < kMarkerBytes; ++i) m.push_back('a' + rng_() % 26);
    if (markers_->emplace(m, owner).second) return m;
  }
}

void FindMarkers(const std::string& bytes, const Markers& markers, std::set<std::string>* found) {
  if (bytes.size() < kMarkerBytes) return;
  for (size_t at = 0; at + kMarkerBytes <= bytes.size(); ++at) {
    const char c = bytes[at];
    if (c < 'a' || c > 'z') continue;
    auto it = markers.find(absl::string_view(bytes.data() + at, kMarkerBytes));
    if (it != markers.end()) found->insert(it->first);
  }
}

std::set<std::string> ScanTree(const std::string& dir, const Markers& markers) {
  std::set<std::string> found;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    FindMarkers(bytes.str(), markers, &found);
  }
  return found;
}

}  // namespace gridcase::testing
