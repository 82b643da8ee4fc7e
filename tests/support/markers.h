// Markers: unique random strings put into personal fields, and a byte scan
// that finds them again wherever they are stored, in any file.
#ifndef GRIDCASE_TESTS_SUPPORT_MARKERS_H_
#define GRIDCASE_TESTS_SUPPORT_MARKERS_H_

#include <cstddef>
#include <random>
#include <set>
#include <string>

#include "absl/container/flat_hash_map.h"

namespace gridcase::testing {

inline constexpr size_t kMarkerBytes = 16;

// Where each marker was put: the index of its owner (a case, a person).
using Markers = absl::flat_hash_map<std::string, int>;

class MarkerMaker {
 public:
  explicit MarkerMaker(Markers* markers) : rng_(20200222), markers_(markers) {}
  // 16 random lowercase letters, never seen before: no shared prefix that
  // a table file's compression could fold into a back-reference.
  std::string For(int owner);

 private:
  std::mt19937_64 rng_;
  Markers* markers_;
};

// Every marker found in `bytes`, by sliding a window over them.
void FindMarkers(const std::string& bytes, const Markers& markers, std::set<std::string>* found);

// Every marker in any byte of any file under `dir`.
std::set<std::string> ScanTree(const std::string& dir, const Markers& markers);

}  // namespace gridcase::testing

#endif  // GRIDCASE_TESTS_SUPPORT_MARKERS_H_
