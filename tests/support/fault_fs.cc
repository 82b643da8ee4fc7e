#include "tests/support/fault_fs.h"

#include <string>

namespace gridcase::testing {
namespace {

class FaultFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultFile(std::unique_ptr<rocksdb::FSWritableFile> file, FaultFs* fs, std::string fname)
      : FSWritableFileOwnerWrapper(std::move(file)), fs_(fs), fname_(std::move(fname)) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           rocksdb::IODebugContext* dbg) override {
    if (auto s = fs_->MaybeFail(fname_); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::Append(data, o, dbg);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           const rocksdb::DataVerificationInfo& info,
                           rocksdb::IODebugContext* dbg) override {
    if (auto s = fs_->MaybeFail(fname_); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::Append(data, o, info, dbg);
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    if (auto s = fs_->MaybeFail(fname_); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::Sync(o, dbg);
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    if (auto s = fs_->MaybeFail(fname_); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::Fsync(o, dbg);
  }

 private:
  FaultFs* const fs_;
  const std::string fname_;
};

bool IsWal(const std::string& fname) {
  return fname.size() > 4 && fname.compare(fname.size() - 4, 4, ".log") == 0;
}

}  // namespace

rocksdb::IOStatus FaultFs::NewWritableFile(const std::string& fname,
                                           const rocksdb::FileOptions& opts,
                                           std::unique_ptr<rocksdb::FSWritableFile>* result,
                                           rocksdb::IODebugContext* dbg) {
  auto s = FileSystemWrapper::NewWritableFile(fname, opts, result, dbg);
  if (s.ok() && IsWal(fname)) {
    *result = std::make_unique<FaultFile>(std::move(*result), this, fname);
  }
  return s;
}

rocksdb::IOStatus FaultFs::MaybeFail(const std::string& fname) {
  if (!armed_ || fname.compare(0, under_.size(), under_) != 0) return rocksdb::IOStatus::OK();
  ++failures_;
  return rocksdb::IOStatus::IOError("injected disk failure");
}

std::unique_ptr<rocksdb::Env> EnvOver(const std::shared_ptr<FaultFs>& fs) {
  return rocksdb::NewCompositeEnv(fs);
}

}  // namespace gridcase::testing
