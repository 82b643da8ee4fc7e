#include "tests/support/power_cut_fs.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <utility>

namespace gridcase::testing {
namespace {

namespace fs = std::filesystem;

std::string Normal(const std::string& path) { return fs::path(path).lexically_normal().string(); }
std::string Parent(const std::string& path) { return fs::path(path).parent_path().string(); }

class CutFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  CutFile(std::unique_ptr<rocksdb::FSWritableFile> file, PowerCutFs* fs, std::string fname,
          uint64_t size)
      : FSWritableFileOwnerWrapper(std::move(file)),
        fs_(fs),
        fname_(std::move(fname)),
        end_(size) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           rocksdb::IODebugContext* dbg) override {
    return fs_->Guarded([&] {
      auto s = FSWritableFileOwnerWrapper::Append(data, o, dbg);
      if (s.ok()) fs_->Appended(fname_, end_ += data.size());
      return s;
    });
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           const rocksdb::DataVerificationInfo& info,
                           rocksdb::IODebugContext* dbg) override {
    return fs_->Guarded([&] {
      auto s = FSWritableFileOwnerWrapper::Append(data, o, info, dbg);
      if (s.ok()) fs_->Appended(fname_, end_ += data.size());
      return s;
    });
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                     const rocksdb::IOOptions& o,
                                     rocksdb::IODebugContext* dbg) override {
    return fs_->Guarded([&] {
      auto s = FSWritableFileOwnerWrapper::PositionedAppend(data, offset, o, dbg);
      if (s.ok()) fs_->Appended(fname_, end_ = std::max(end_, offset + data.size()));
      return s;
    });
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                     const rocksdb::IOOptions& o,
                                     const rocksdb::DataVerificationInfo& info,
                                     rocksdb::IODebugContext* dbg) override {
    return fs_->Guarded([&] {
      auto s = FSWritableFileOwnerWrapper::PositionedAppend(data, offset, o, info, dbg);
      if (s.ok()) fs_->Appended(fname_, end_ = std::max(end_, offset + data.size()));
      return s;
    });
  }
  rocksdb::IOStatus Truncate(uint64_t size, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* dbg) override {
    return fs_->Guarded([&] {
      auto s = FSWritableFileOwnerWrapper::Truncate(size, o, dbg);
      if (s.ok()) fs_->Appended(fname_, end_ = size);
      return s;
    });
  }
  rocksdb::IOStatus Flush(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    return fs_->Guarded([&] { return FSWritableFileOwnerWrapper::Flush(o, dbg); });
  }
  rocksdb::IOStatus Close(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    return fs_->Guarded([&] { return FSWritableFileOwnerWrapper::Close(o, dbg); });
  }
  // Starts write-back; makes nothing durable.
  rocksdb::IOStatus RangeSync(uint64_t offset, uint64_t nbytes, const rocksdb::IOOptions& o,
                              rocksdb::IODebugContext* dbg) override {
    return fs_->Guarded(
        [&] { return FSWritableFileOwnerWrapper::RangeSync(offset, nbytes, o, dbg); });
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    return SyncWith([&] { return FSWritableFileOwnerWrapper::Sync(o, dbg); });
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    return SyncWith([&] { return FSWritableFileOwnerWrapper::Fsync(o, dbg); });
  }

 private:
  template <typename Op>
  rocksdb::IOStatus SyncWith(Op sync) {
    return fs_->GuardedSync(sync, [this] { fs_->Synced(fname_); });
  }

  PowerCutFs* const fs_;
  const std::string fname_;
  uint64_t end_;
};

// A file opened after the cut: nothing of it reaches the disk.
class GhostFile : public rocksdb::FSWritableFile {
 public:
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions&,
                           rocksdb::IODebugContext*) override {
    size_ += data.size();
    return rocksdb::IOStatus::OK();
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions&,
                           const rocksdb::DataVerificationInfo&,
                           rocksdb::IODebugContext*) override {
    size_ += data.size();
    return rocksdb::IOStatus::OK();
  }
  rocksdb::IOStatus Close(const rocksdb::IOOptions&, rocksdb::IODebugContext*) override {
    return rocksdb::IOStatus::OK();
  }
  rocksdb::IOStatus Flush(const rocksdb::IOOptions&, rocksdb::IODebugContext*) override {
    return rocksdb::IOStatus::OK();
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions&, rocksdb::IODebugContext*) override {
    return rocksdb::IOStatus::OK();
  }
  uint64_t GetFileSize(const rocksdb::IOOptions&, rocksdb::IODebugContext*) override {
    return size_;
  }

 private:
  uint64_t size_ = 0;
};

// A file rewritten in place (a durable mark).
class CutRandomRWFile : public rocksdb::FSRandomRWFileOwnerWrapper {
 public:
  CutRandomRWFile(std::unique_ptr<rocksdb::FSRandomRWFile> file, PowerCutFs* fs, std::string fname)
      : FSRandomRWFileOwnerWrapper(std::move(file)), fs_(fs), fname_(std::move(fname)) {}

  rocksdb::IOStatus Write(uint64_t offset, const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                          rocksdb::IODebugContext* dbg) override {
    return fs_->Guarded([&] {
      auto s = FSRandomRWFileOwnerWrapper::Write(offset, data, o, dbg);
      if (s.ok()) fs_->WroteInPlace(fname_, offset, data.ToString());
      return s;
    });
  }
  rocksdb::IOStatus Flush(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    return fs_->Guarded([&] { return FSRandomRWFileOwnerWrapper::Flush(o, dbg); });
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    return fs_->GuardedSync([&] { return FSRandomRWFileOwnerWrapper::Sync(o, dbg); },
                            [this] { fs_->SyncedInPlace(fname_); });
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    return fs_->GuardedSync([&] { return FSRandomRWFileOwnerWrapper::Fsync(o, dbg); },
                            [this] { fs_->SyncedInPlace(fname_); });
  }
  rocksdb::IOStatus Close(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    return fs_->Guarded([&] { return FSRandomRWFileOwnerWrapper::Close(o, dbg); });
  }

 private:
  PowerCutFs* const fs_;
  const std::string fname_;
};

// A file opened in place after the cut: its writes stay in memory.
class GhostRandomRWFile : public rocksdb::FSRandomRWFile {
 public:
  explicit GhostRandomRWFile(std::string bytes) : bytes_(std::move(bytes)) {}
  rocksdb::IOStatus Write(uint64_t offset, const rocksdb::Slice& data, const rocksdb::IOOptions&,
                          rocksdb::IODebugContext*) override {
    if (bytes_.size() < offset + data.size()) bytes_.resize(offset + data.size(), '\0');
    bytes_.replace(offset, data.size(), data.data(), data.size());
    return rocksdb::IOStatus::OK();
  }
  rocksdb::IOStatus Read(uint64_t offset, size_t n, const rocksdb::IOOptions&,
                         rocksdb::Slice* result, char* scratch,
                         rocksdb::IODebugContext*) const override {
    const size_t from = std::min<uint64_t>(offset, bytes_.size());
    const size_t len = std::min(n, bytes_.size() - from);
    std::copy_n(bytes_.data() + from, len, scratch);
    *result = rocksdb::Slice(scratch, len);
    return rocksdb::IOStatus::OK();
  }
  rocksdb::IOStatus Flush(const rocksdb::IOOptions&, rocksdb::IODebugContext*) override {
    return rocksdb::IOStatus::OK();
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions&, rocksdb::IODebugContext*) override {
    return rocksdb::IOStatus::OK();
  }
  rocksdb::IOStatus Close(const rocksdb::IOOptions&, rocksdb::IODebugContext*) override {
    return rocksdb::IOStatus::OK();
  }

 private:
  std::string bytes_;
};

std::string ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteWhole(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

class CutDirectory : public rocksdb::FSDirectoryWrapper {
 public:
  CutDirectory(std::unique_ptr<rocksdb::FSDirectory> dir, PowerCutFs* fs, std::string name)
      : FSDirectoryWrapper(std::move(dir)), fs_(fs), name_(std::move(name)) {}

  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    return SyncWith([&] { return FSDirectoryWrapper::Fsync(o, dbg); });
  }
  rocksdb::IOStatus FsyncWithDirOptions(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg,
                                        const rocksdb::DirFsyncOptions& options) override {
    return SyncWith([&] { return FSDirectoryWrapper::FsyncWithDirOptions(o, dbg, options); });
  }

 private:
  template <typename Op>
  rocksdb::IOStatus SyncWith(Op sync) {
    return fs_->GuardedSync(sync, [this] { fs_->DirectorySynced(name_); });
  }

  PowerCutFs* const fs_;
  const std::string name_;
};

}  // namespace

PowerCutFs::PowerCutFs(std::string scratch_dir)
    : rocksdb::FileSystemWrapper(rocksdb::FileSystem::Default()), scratch_(std::move(scratch_dir)) {
  fs::create_directories(scratch_);
}

void PowerCutFs::Cut() {
  cut_at_ = 0;
  std::unique_lock lock(power_);  // waits for operations under way
  if (cut_) return;
  cut_ = true;
  is_cut_ = true;
}

void PowerCutFs::Restore() {
  std::unique_lock power(power_);
  std::lock_guard lock(mu_);
  last_ = Counts();
  std::error_code ec;
  // Files rewritten in place first, at the paths they had at the cut: as
  // of their last sync, plus whichever later writes the kernel had written
  // back.
  std::mt19937_64 write_back(write_back_seed_.load());
  for (const auto& [path, file] : in_place_) {
    if (!fs::exists(path, ec)) continue;
    std::string bytes = file.durable;
    for (const auto& [offset, data] : file.writes) {
      if (write_back() % 2 == 0) {
        ++last_.in_place_writes_undone;
        continue;
      }
      if (bytes.size() < offset + data.size()) bytes.resize(offset + data.size(), '\0');
      bytes.replace(offset, data.size(), data);
      ++last_.in_place_writes_kept;
    }
    WriteWhole(path, bytes);
  }
  in_place_.clear();
  for (auto& [dir, ops] : pending_) {
    for (auto op = ops.rbegin(); op != ops.rend(); ++op) {
      if (op->kind == DirOp::kCreate) {
        fs::remove(op->path, ec);
        files_.erase(op->path);
        ++last_.creations_undone;
        continue;
      }
      if (fs::exists(op->path, ec)) fs::rename(op->path, op->source, ec);
      if (auto it = files_.find(op->path); it != files_.end()) {
        files_[op->source] = it->second;
        files_.erase(op->path);
      }
      if (!op->previous.empty()) fs::rename(op->previous, op->path, ec);
      ++last_.renames_undone;
    }
  }
  for (const auto& [path, file] : files_) {
    const auto size = fs::file_size(path, ec);
    if (ec || size <= file.synced) continue;
    fs::resize_file(path, file.synced, ec);
    ++last_.files_truncated;
    last_.bytes_dropped += size - file.synced;
  }
  files_.clear();
  pending_.clear();
  cut_ = false;
  is_cut_ = false;
}

void PowerCutFs::Appended(const std::string& fname, uint64_t end) {
  std::lock_guard lock(mu_);
  File& f = files_[fname];
  f.size = end;
  f.synced = std::min(f.synced, end);
}

void PowerCutFs::Synced(const std::string& fname) {
  std::lock_guard lock(mu_);
  File& f = files_[fname];
  f.synced = f.size;
}

void PowerCutFs::WroteInPlace(const std::string& fname, uint64_t offset, const std::string& bytes) {
  std::lock_guard lock(mu_);
  in_place_[fname].writes.emplace_back(offset, bytes);
}

void PowerCutFs::SyncedInPlace(const std::string& fname) {
  std::lock_guard lock(mu_);
  InPlace& file = in_place_[fname];
  file.durable = ReadWhole(fname);
  file.writes.clear();
}

void PowerCutFs::DirectorySynced(const std::string& dir) {
  std::lock_guard lock(mu_);
  auto it = pending_.find(dir);
  if (it == pending_.end()) return;
  std::error_code ec;
  for (const DirOp& op : it->second) {
    if (!op.previous.empty()) fs::remove(op.previous, ec);
  }
  pending_.erase(it);
}

rocksdb::IOStatus PowerCutFs::Track(const std::string& fname, bool existed, uint64_t size,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result) {
  {
    std::lock_guard lock(mu_);
    auto it = files_.find(fname);
    if (it == files_.end()) {
      // Written before the tracking began: durable as it stands.
      files_[fname] = File{size, size};
    } else {
      it->second.size = size;
      it->second.synced = std::min(it->second.synced, size);
    }
    if (!existed) pending_[Parent(fname)].push_back(DirOp{DirOp::kCreate, fname, "", ""});
  }
  *result = std::make_unique<CutFile>(std::move(*result), this, fname, size);
  return rocksdb::IOStatus::OK();
}

template <typename Open>
rocksdb::IOStatus PowerCutFs::OpenWritable(const std::string& fname, bool truncates,
                                           std::unique_ptr<rocksdb::FSWritableFile>* result,
                                           Open open) {
  CountOperation();
  std::shared_lock lock(power_);
  if (cut_) {
    *result = std::make_unique<GhostFile>();
    return rocksdb::IOStatus::OK();
  }
  std::error_code ec;
  const bool existed = fs::exists(fname, ec);
  auto s = open();
  if (!s.ok()) return s;
  uint64_t size = 0;
  if (existed && truncates) {
    // What it held is gone whatever comes next.
    std::lock_guard state(mu_);
    files_[fname] = File{0, 0};
    in_place_.erase(fname);
  } else if (existed) {
    size = fs::file_size(fname, ec);
    if (ec) size = 0;
  }
  return Track(fname, existed, size, result);
}

rocksdb::IOStatus PowerCutFs::NewWritableFile(const std::string& name,
                                              const rocksdb::FileOptions& opts,
                                              std::unique_ptr<rocksdb::FSWritableFile>* result,
                                              rocksdb::IODebugContext* dbg) {
  const std::string fname = Normal(name);
  return OpenWritable(fname, /*truncates=*/true, result,
                      [&] { return FileSystemWrapper::NewWritableFile(fname, opts, result, dbg); });
}

rocksdb::IOStatus PowerCutFs::ReopenWritableFile(const std::string& name,
                                                 const rocksdb::FileOptions& opts,
                                                 std::unique_ptr<rocksdb::FSWritableFile>* result,
                                                 rocksdb::IODebugContext* dbg) {
  const std::string fname = Normal(name);
  return OpenWritable(fname, /*truncates=*/false, result, [&] {
    return FileSystemWrapper::ReopenWritableFile(fname, opts, result, dbg);
  });
}

rocksdb::IOStatus PowerCutFs::ReuseWritableFile(const std::string&, const std::string&,
                                                const rocksdb::FileOptions&,
                                                std::unique_ptr<rocksdb::FSWritableFile>*,
                                                rocksdb::IODebugContext*) {
  return rocksdb::IOStatus::NotSupported("PowerCutFs: recycled log files are not modelled");
}

rocksdb::IOStatus PowerCutFs::NewRandomRWFile(const std::string& name,
                                              const rocksdb::FileOptions& opts,
                                              std::unique_ptr<rocksdb::FSRandomRWFile>* result,
                                              rocksdb::IODebugContext* dbg) {
  const std::string fname = Normal(name);
  CountOperation();
  std::shared_lock lock(power_);
  std::error_code ec;
  if (cut_) {
    *result = std::make_unique<GhostRandomRWFile>(fs::exists(fname, ec) ? ReadWhole(fname) : "");
    return rocksdb::IOStatus::OK();
  }
  const bool existed = fs::exists(fname, ec);
  auto s = FileSystemWrapper::NewRandomRWFile(fname, opts, result, dbg);
  if (!s.ok()) return s;
  {
    std::lock_guard state(mu_);
    // Tracked from its first opening since the last restore: durable as
    // it stands then (its creation's directory is tracked as any file's).
    if (!in_place_.count(fname)) in_place_[fname].durable = ReadWhole(fname);
    if (!existed) pending_[Parent(fname)].push_back(DirOp{DirOp::kCreate, fname, "", ""});
  }
  *result = std::make_unique<CutRandomRWFile>(std::move(*result), this, fname);
  return s;
}

rocksdb::IOStatus PowerCutFs::NewDirectory(const std::string& name,
                                           const rocksdb::IOOptions& io_opts,
                                           std::unique_ptr<rocksdb::FSDirectory>* result,
                                           rocksdb::IODebugContext* dbg) {
  const std::string dir = Normal(name);
  auto s = FileSystemWrapper::NewDirectory(dir, io_opts, result, dbg);
  if (s.ok()) *result = std::make_unique<CutDirectory>(std::move(*result), this, dir);
  return s;
}

rocksdb::IOStatus PowerCutFs::RenameFile(const std::string& src_name,
                                         const std::string& target_name,
                                         const rocksdb::IOOptions& options,
                                         rocksdb::IODebugContext* dbg) {
  const std::string src = Normal(src_name);
  const std::string target = Normal(target_name);
  return Guarded([&] {
    std::lock_guard lock(mu_);
    std::error_code ec;
    std::string previous;
    if (fs::exists(target, ec)) {
      previous = scratch_ + "/previous-" + std::to_string(++scratch_files_);
      fs::copy_file(target, previous, ec);
      if (ec) return rocksdb::IOStatus::IOError("PowerCutFs: keeping " + target, ec.message());
    }
    auto s = FileSystemWrapper::RenameFile(src, target, options, dbg);
    if (!s.ok()) {
      if (!previous.empty()) fs::remove(previous, ec);
      return s;
    }
    // The target's old inode is gone (kept in scratch until the directory
    // is synced); what is now at the target is tracked as the source was.
    in_place_.erase(target);
    if (auto node = in_place_.extract(src)) {
      node.key() = target;
      in_place_.insert(std::move(node));
    }
    if (auto it = files_.find(src); it != files_.end()) {
      files_[target] = it->second;
      files_.erase(it);
    } else {
      const uint64_t size = fs::file_size(target, ec);
      files_[target] = File{size, size};
    }
    pending_[Parent(target)].push_back(DirOp{DirOp::kRename, target, src, previous});
    return s;
  });
}

rocksdb::IOStatus PowerCutFs::LinkFile(const std::string& src_name, const std::string& target_name,
                                       const rocksdb::IOOptions& options,
                                       rocksdb::IODebugContext* dbg) {
  const std::string src = Normal(src_name);
  const std::string target = Normal(target_name);
  return Guarded([&] {
    auto s = FileSystemWrapper::LinkFile(src, target, options, dbg);
    if (!s.ok()) return s;
    std::lock_guard lock(mu_);
    std::error_code ec;
    const uint64_t size = fs::file_size(target, ec);
    files_[target] = File{size, size};  // the same inode: its bytes as durable as the source's
    pending_[Parent(target)].push_back(DirOp{DirOp::kCreate, target, "", ""});
    return s;
  });
}

rocksdb::IOStatus PowerCutFs::DeleteFile(const std::string& name, const rocksdb::IOOptions& options,
                                         rocksdb::IODebugContext* dbg) {
  const std::string fname = Normal(name);
  return Guarded([&] {
    auto s = FileSystemWrapper::DeleteFile(fname, options, dbg);
    if (!s.ok()) return s;
    std::lock_guard lock(mu_);
    files_.erase(fname);
    in_place_.erase(fname);
    return s;
  });
}

std::unique_ptr<rocksdb::Env> EnvOverPowerCut(const std::shared_ptr<PowerCutFs>& fs) {
  return rocksdb::NewCompositeEnv(fs);
}

}  // namespace gridcase::testing
