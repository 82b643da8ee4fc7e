// An engine over real RocksDB stores in a temporary directory, sealing
// personal data under a fixed master key, and what tests of sealing and
// erasure do with it.
#ifndef GRIDCASE_TESTS_SUPPORT_SEALED_ENGINE_H_
#define GRIDCASE_TESTS_SUPPORT_SEALED_ENGINE_H_

#include <memory>
#include <string>

#include "engine/common/clock.h"
#include "engine/engine.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace gridcase::testing {

inline constexpr int64_t kSealedStartUs = 1582372800LL * 1000000;  // 2020-02-22T12:00:00Z
// The master key of SealedEngineTest's engines.
inline const std::string& TestMasterKey() {
  static const std::string* const key = new std::string(32, '\x5a');
  return *key;
}

// A privacy officer's erasure of `case_id` (set person_id instead, and
// clear case_id, for a person of the directory).
ErasureRequest OfficersErasure(const std::string& case_id);

// The key-store subject of the key that seals case `case_id` (its key
// slot, "slot:<n>"); empty when nothing of it is sealed.
std::string CaseKeySubject(const Engine& engine, const std::string& case_id);

// Writes everything to table files and compacts every partition.
void FlushAndCompactAll(Engine& engine);

class SealedEngineTest : public ::testing::Test {
 protected:
  SealedEngineTest() : clock_(kSealedStartUs) {}

  // Opens (again) an engine of 4 partitions on the directory `sub`,
  // sealing unless told not to.
  void Open(bool sealed = true, const std::string& sub = "data");
  void FlushAndCompact() { FlushAndCompactAll(*engine_); }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Engine> engine_;
};

}  // namespace gridcase::testing

#endif  // GRIDCASE_TESTS_SUPPORT_SEALED_ENGINE_H_
