#include "tests/support/fault_fs.h"

#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace gridcase::testing {
namespace {

using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

enum class FileKind { kWal, kTable, kManifest, kOther };

FileKind KindOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (absl::EndsWith(base, ".log")) return FileKind::kWal;
  if (absl::EndsWith(base, ".sst")) return FileKind::kTable;
  if (absl::StartsWith(base, "MANIFEST-")) return FileKind::kManifest;
  return FileKind::kOther;
}

// The write target of an append to `kind`, if any.
std::optional<FaultTarget> AppendTarget(FileKind kind) {
  switch (kind) {
    case FileKind::kWal:
      return FaultTarget::kWalAppend;
    case FileKind::kTable:
      return FaultTarget::kTableWrite;
    case FileKind::kManifest:
      return FaultTarget::kManifestWrite;
    case FileKind::kOther:
      break;
  }
  return std::nullopt;
}
std::optional<FaultTarget> SyncTarget(FileKind kind) {
  return kind == FileKind::kWal ? std::optional(FaultTarget::kWalSync) : AppendTarget(kind);
}

class FaultyWritableFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultyWritableFile(std::unique_ptr<rocksdb::FSWritableFile> file, FaultFs* fs, std::string path)
      : FSWritableFileOwnerWrapper(std::move(file)),
        fs_(fs),
        path_(std::move(path)),
        kind_(KindOf(path_)) {}

  IOStatus Append(const Slice& data, const IOOptions& options, IODebugContext* dbg) override {
    if (auto s = Check(AppendTarget(kind_)); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::Append(data, options, dbg);
  }
  IOStatus Append(const Slice& data, const IOOptions& options,
                  const rocksdb::DataVerificationInfo& info, IODebugContext* dbg) override {
    if (auto s = Check(AppendTarget(kind_)); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::Append(data, options, info, dbg);
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& options,
                            IODebugContext* dbg) override {
    if (auto s = Check(AppendTarget(kind_)); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::PositionedAppend(data, offset, options, dbg);
  }
  IOStatus Sync(const IOOptions& options, IODebugContext* dbg) override {
    if (auto s = Check(SyncTarget(kind_)); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::Sync(options, dbg);
  }
  IOStatus Fsync(const IOOptions& options, IODebugContext* dbg) override {
    if (auto s = Check(SyncTarget(kind_)); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::Fsync(options, dbg);
  }
  IOStatus RangeSync(uint64_t offset, uint64_t nbytes, const IOOptions& options,
                     IODebugContext* dbg) override {
    if (auto s = Check(SyncTarget(kind_)); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::RangeSync(offset, nbytes, options, dbg);
  }

 private:
  IOStatus Check(std::optional<FaultTarget> target) {
    return target ? fs_->Decide(*target, path_) : IOStatus::OK();
  }

  FaultFs* const fs_;
  const std::string path_;
  const FileKind kind_;
};

class FaultyRandomAccessFile final : public rocksdb::FSRandomAccessFileOwnerWrapper {
 public:
  FaultyRandomAccessFile(std::unique_ptr<rocksdb::FSRandomAccessFile> file, FaultFs* fs,
                         std::string path)
      : FSRandomAccessFileOwnerWrapper(std::move(file)), fs_(fs), path_(std::move(path)) {}

  IOStatus Read(uint64_t offset, size_t n, const IOOptions& options, Slice* result, char* scratch,
                IODebugContext* dbg) const override {
    if (auto s = fs_->Decide(FaultTarget::kTableRead, path_); !s.ok()) return s;
    auto s = FSRandomAccessFileOwnerWrapper::Read(offset, n, options, result, scratch, dbg);
    if (s.ok() && result->size() > 0 && fs_->CorruptRead(path_)) Flip(result, scratch);
    return s;
  }
  IOStatus MultiRead(rocksdb::FSReadRequest* reqs, size_t num_reqs, const IOOptions& options,
                     IODebugContext* dbg) override {
    // One request at a time through Read(), so that each is judged.
    for (size_t i = 0; i < num_reqs; ++i) {
      reqs[i].status =
          Read(reqs[i].offset, reqs[i].len, options, &reqs[i].result, reqs[i].scratch, dbg);
    }
    return IOStatus::OK();
  }

 private:
  // One byte in the middle of what was read comes back flipped. The bytes
  // may be the file's own (a memory-mapped read): copied out first.
  static void Flip(Slice* result, char* scratch) {
    if (scratch == nullptr) return;
    if (result->data() != scratch) std::memmove(scratch, result->data(), result->size());
    scratch[result->size() / 2] ^= 0x5a;
    *result = Slice(scratch, result->size());
  }

  FaultFs* const fs_;
  const std::string path_;
};

class FaultyDirectory final : public rocksdb::FSDirectoryWrapper {
 public:
  FaultyDirectory(std::unique_ptr<rocksdb::FSDirectory> dir, FaultFs* fs, std::string path)
      : FSDirectoryWrapper(std::move(dir)), fs_(fs), path_(std::move(path)) {}
  IOStatus Fsync(const IOOptions& options, IODebugContext* dbg) override {
    if (auto s = fs_->Decide(FaultTarget::kDirSync, path_); !s.ok()) return s;
    return FSDirectoryWrapper::Fsync(options, dbg);
  }
  IOStatus FsyncWithDirOptions(const IOOptions& options, IODebugContext* dbg,
                               const rocksdb::DirFsyncOptions& dir_options) override {
    if (auto s = fs_->Decide(FaultTarget::kDirSync, path_); !s.ok()) return s;
    return FSDirectoryWrapper::FsyncWithDirOptions(options, dbg, dir_options);
  }

 private:
  FaultFs* const fs_;
  const std::string path_;
};

}  // namespace

const char* Name(FaultKind kind) {
  switch (kind) {
    case FaultKind::kIoError:
      return "io-error";
    case FaultKind::kNoSpace:
      return "no-space";
    case FaultKind::kCorruptRead:
      return "corrupt-read";
  }
  return "?";
}

const char* Name(FaultTarget target) {
  switch (target) {
    case FaultTarget::kWalAppend:
      return "wal-append";
    case FaultTarget::kWalSync:
      return "wal-sync";
    case FaultTarget::kTableWrite:
      return "table-write";
    case FaultTarget::kManifestWrite:
      return "manifest-write";
    case FaultTarget::kDirSync:
      return "dir-sync";
    case FaultTarget::kTableRead:
      return "table-read";
  }
  return "?";
}

const char* Name(FaultMode mode) {
  switch (mode) {
    case FaultMode::kOnce:
      return "once";
    case FaultMode::kFromNth:
      return "from-nth";
    case FaultMode::kForever:
      return "forever";
  }
  return "?";
}

void PrintTo(const FaultRule& rule, std::ostream* out) {
  *out << Name(rule.kind) << " on " << Name(rule.target) << ", " << Name(rule.mode);
  if (rule.mode == FaultMode::kFromNth) *out << " " << rule.nth;
  if (!rule.path_contains.empty()) *out << " under " << rule.path_contains;
}

FaultFs::FaultFs() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}

void FaultFs::Arm(const FaultRule& rule) {
  std::lock_guard lock(mu_);
  rule_ = rule;
  matched_ = 0;
  first_.reset();
  injected_ = 0;
}

void FaultFs::Disarm() {
  std::lock_guard lock(mu_);
  rule_.reset();
}

std::optional<std::chrono::steady_clock::time_point> FaultFs::first_injected_at() const {
  std::lock_guard lock(const_cast<std::mutex&>(mu_));
  return first_;
}

IOStatus FaultFs::Decide(FaultTarget target, const std::string& path) {
  std::lock_guard lock(mu_);
  if (!rule_ || rule_->target != target || rule_->kind == FaultKind::kCorruptRead ||
      !absl::StrContains(path, rule_->path_contains)) {
    return IOStatus::OK();
  }
  ++matched_;
  switch (rule_->mode) {
    case FaultMode::kOnce:
      rule_.reset();
      break;
    case FaultMode::kFromNth:
      if (matched_ < rule_->nth) return IOStatus::OK();
      break;
    case FaultMode::kForever:
      break;
  }
  if (!first_) first_ = std::chrono::steady_clock::now();
  ++injected_;
  const std::string what =
      absl::StrCat("injected fault (", ::gridcase::testing::Name(target), "): ", path);
  if (rule_ && rule_->kind == FaultKind::kNoSpace) {
    return IOStatus::NoSpace(what, "No space left on device");
  }
  // A kOnce rule is gone already: its kind was checked above.
  return IOStatus::IOError(what, "Input/output error");
}

bool FaultFs::CorruptRead(const std::string& path) {
  std::lock_guard lock(mu_);
  if (!rule_ || rule_->kind != FaultKind::kCorruptRead ||
      rule_->target != FaultTarget::kTableRead || !absl::StrContains(path, rule_->path_contains)) {
    return false;
  }
  ++matched_;
  if (rule_->mode == FaultMode::kFromNth && matched_ < rule_->nth) return false;
  if (rule_->mode == FaultMode::kOnce) rule_.reset();
  if (!first_) first_ = std::chrono::steady_clock::now();
  ++injected_;
  return true;
}

IOStatus FaultFs::NewWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                  std::unique_ptr<rocksdb::FSWritableFile>* result,
                                  IODebugContext* dbg) {
  auto s = target()->NewWritableFile(fname, opts, result, dbg);
  if (s.ok()) *result = std::make_unique<FaultyWritableFile>(std::move(*result), this, fname);
  return s;
}

IOStatus FaultFs::ReopenWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                     std::unique_ptr<rocksdb::FSWritableFile>* result,
                                     IODebugContext* dbg) {
  auto s = target()->ReopenWritableFile(fname, opts, result, dbg);
  if (s.ok()) *result = std::make_unique<FaultyWritableFile>(std::move(*result), this, fname);
  return s;
}

IOStatus FaultFs::ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                    const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    IODebugContext* dbg) {
  auto s = target()->ReuseWritableFile(fname, old_fname, opts, result, dbg);
  if (s.ok()) *result = std::make_unique<FaultyWritableFile>(std::move(*result), this, fname);
  return s;
}

IOStatus FaultFs::NewRandomAccessFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                      std::unique_ptr<rocksdb::FSRandomAccessFile>* result,
                                      IODebugContext* dbg) {
  auto s = target()->NewRandomAccessFile(fname, opts, result, dbg);
  if (s.ok() && KindOf(fname) == FileKind::kTable) {
    *result = std::make_unique<FaultyRandomAccessFile>(std::move(*result), this, fname);
  }
  return s;
}

IOStatus FaultFs::NewDirectory(const std::string& name, const IOOptions& io_opts,
                               std::unique_ptr<rocksdb::FSDirectory>* result, IODebugContext* dbg) {
  auto s = target()->NewDirectory(name, io_opts, result, dbg);
  // As "DIR/", so that a rule for "partition-001/" takes the directory too.
  if (s.ok()) *result = std::make_unique<FaultyDirectory>(std::move(*result), this, name + "/");
  return s;
}

std::unique_ptr<rocksdb::Env> EnvOver(const std::shared_ptr<FaultFs>& fs) {
  return rocksdb::NewCompositeEnv(fs);
}

}  // namespace gridcase::testing
