// A RocksDB FileSystem over the real one that fails writes and syncs of
// write-ahead-log files while armed: the disk "breaks" under a running
// engine, so tests can check that no submitter is ever told yes for a write
// that did not reach the disk. Armed with a path prefix, only the files
// under it fail (one database of several breaks).
#ifndef GRIDCASE_TESTS_SUPPORT_FAULT_FS_H_
#define GRIDCASE_TESTS_SUPPORT_FAULT_FS_H_

#include <atomic>
#include <memory>
#include <string>
#include <utility>

#include "rocksdb/env.h"
#include "rocksdb/file_system.h"

namespace gridcase::testing {

class FaultFs : public rocksdb::FileSystemWrapper {
 public:
  FaultFs() : rocksdb::FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "FaultFs"; }

  // Fails the WAL files whose path starts with `under` ("": every one).
  void Arm(std::string under = "") {
    under_ = std::move(under);
    armed_ = true;
  }
  void Disarm() { armed_ = false; }
  bool armed() const { return armed_; }
  int failures() const { return failures_; }

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;

  // Called by the wrapped file `fname`: the error to return, or OK.
  rocksdb::IOStatus MaybeFail(const std::string& fname);

 private:
  std::atomic<bool> armed_{false};
  std::atomic<int> failures_{0};
  std::string under_;  // set before arming, read once armed
};

// An Env whose file system is `fs`.
std::unique_ptr<rocksdb::Env> EnvOver(const std::shared_ptr<FaultFs>& fs);

}  // namespace gridcase::testing

#endif  // GRIDCASE_TESTS_SUPPORT_FAULT_FS_H_
