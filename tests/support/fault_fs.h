// A RocksDB FileSystem over the real one that injects storage faults by
// kind, target and mode, as a failing disk would show them:
//
//   kind    an I/O error, no space left, or a read that returns corrupted
//           bytes (one flipped, as a bad sector or cable would)
//   target  write-ahead log appends, its syncs, table-file writes (flushes
//           and compactions), MANIFEST writes and syncs, directory syncs,
//           reads of table files
//   mode    the next matching operation only, every one from the N-th
//           matching one on, or every one from now
//
// Only files whose path contains the rule's `path_contains` are touched,
// so one partition can fail while the others go on.
#ifndef GRIDCASE_TESTS_SUPPORT_FAULT_FS_H_
#define GRIDCASE_TESTS_SUPPORT_FAULT_FS_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>

#include "rocksdb/env.h"
#include "rocksdb/file_system.h"

namespace gridcase::testing {

enum class FaultKind { kIoError, kNoSpace, kCorruptRead };
enum class FaultTarget { kWalAppend, kWalSync, kTableWrite, kManifestWrite, kDirSync, kTableRead };
enum class FaultMode { kOnce, kFromNth, kForever };

struct FaultRule {
  FaultKind kind = FaultKind::kIoError;
  FaultTarget target = FaultTarget::kWalAppend;
  FaultMode mode = FaultMode::kOnce;
  uint64_t nth = 1;  // kFromNth: the first matching operation that fails (1: the next)
  std::string path_contains;
};

const char* Name(FaultKind kind);
const char* Name(FaultTarget target);
const char* Name(FaultMode mode);
// "io-error on wal-append, once", for test names and failures.
void PrintTo(const FaultRule& rule, std::ostream* out);

class FaultFs : public rocksdb::FileSystemWrapper {
 public:
  FaultFs();
  const char* Name() const override { return "FaultFs"; }

  // Replaces any rule armed before; counts start again.
  void Arm(const FaultRule& rule);
  // Every write-ahead-log append of the files under `under` ("": all)
  // fails with an I/O error from now on.
  void Arm(const std::string& under = "") {
    Arm(FaultRule{.mode = FaultMode::kForever, .path_contains = under});
  }
  void Disarm();
  // Faults injected since the last Arm(), and when the first was.
  uint64_t injected() const { return injected_.load(); }
  uint64_t failures() const { return injected(); }
  std::optional<std::chrono::steady_clock::time_point> first_injected_at() const;

  // Whether an operation of `target` on `path` fails now, and how: OK to let
  // it through. Counts the operation when it matches. For the wrappers.
  rocksdb::IOStatus Decide(FaultTarget target, const std::string& path);
  // Whether a read of `path` returns corrupted bytes now (kCorruptRead).
  bool CorruptRead(const std::string& path);

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                      const rocksdb::FileOptions& opts,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewRandomAccessFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                        std::unique_ptr<rocksdb::FSRandomAccessFile>* result,
                                        rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& io_opts,
                                 std::unique_ptr<rocksdb::FSDirectory>* result,
                                 rocksdb::IODebugContext* dbg) override;

 private:
  std::mutex mu_;
  std::optional<FaultRule> rule_;                               // guarded by mu_
  uint64_t matched_ = 0;                                        // guarded by mu_
  std::optional<std::chrono::steady_clock::time_point> first_;  // guarded by mu_
  std::atomic<uint64_t> injected_{0};
};

// An Env whose file system is `fs`.
std::unique_ptr<rocksdb::Env> EnvOver(const std::shared_ptr<FaultFs>& fs);

}  // namespace gridcase::testing

#endif  // GRIDCASE_TESTS_SUPPORT_FAULT_FS_H_
