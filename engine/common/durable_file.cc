#include "engine/common/durable_file.h"

#include <sys/stat.h>

#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "rocksdb/env.h"

namespace gridcase {
namespace {

std::string ParentOf(const std::string& path) {
  const std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

}  // namespace

rocksdb::FileSystem& FileSystemOf(rocksdb::Env* env) {
  if (env == nullptr) return *rocksdb::FileSystem::Default();
  return *env->GetFileSystem();
}

absl::Status FromIoStatus(const rocksdb::IOStatus& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  const std::string message = absl::StrCat(what, ": ", s.ToString());
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(absl::StrCat("disk full: ", message));
  return absl::UnavailableError(message);
}

absl::Status SyncDirectory(rocksdb::FileSystem& fs, const std::string& dir) {
  const rocksdb::IOOptions io;
  std::unique_ptr<rocksdb::FSDirectory> handle;
  if (auto s = fs.NewDirectory(dir, io, &handle, nullptr); !s.ok()) {
    return FromIoStatus(s, absl::StrCat("opening directory ", dir));
  }
  if (auto s = handle->Fsync(io, nullptr); !s.ok()) {
    return FromIoStatus(s, absl::StrCat("syncing directory ", dir));
  }
  return FromIoStatus(handle->Close(io, nullptr), absl::StrCat("closing directory ", dir));
}

absl::Status WriteFileDurably(rocksdb::FileSystem& fs, const std::string& path,
                              absl::string_view contents, FileAccess access) {
  const std::string tmp = path + ".tmp";
  const rocksdb::IOOptions io;
  std::unique_ptr<rocksdb::FSWritableFile> file;
  if (auto s = fs.NewWritableFile(tmp, rocksdb::FileOptions(), &file, nullptr); !s.ok()) {
    return FromIoStatus(s, absl::StrCat("creating ", tmp));
  }
  if (access == FileAccess::kOwnerOnly && ::chmod(tmp.c_str(), 0600) != 0) {
    file->Close(io, nullptr).PermitUncheckedError();
    fs.DeleteFile(tmp, io, nullptr).PermitUncheckedError();
    return absl::UnavailableError(absl::StrCat("restricting ", tmp, " to its owner"));
  }
  rocksdb::IOStatus s = file->Append(rocksdb::Slice(contents.data(), contents.size()), io, nullptr);
  if (s.ok()) s = file->Fsync(io, nullptr);
  const rocksdb::IOStatus closed = file->Close(io, nullptr);
  if (s.ok()) s = closed;
  if (!s.ok()) {
    fs.DeleteFile(tmp, io, nullptr).PermitUncheckedError();
    return FromIoStatus(s, absl::StrCat("writing ", tmp));
  }
  if (auto r = fs.RenameFile(tmp, path, io, nullptr); !r.ok()) {
    fs.DeleteFile(tmp, io, nullptr).PermitUncheckedError();
    return FromIoStatus(r, absl::StrCat("renaming ", tmp, " to ", path));
  }
  return SyncDirectory(fs, ParentOf(path));
}

absl::StatusOr<std::optional<std::string>> ReadSmallFile(rocksdb::FileSystem& fs,
                                                         const std::string& path, uint64_t limit) {
  const rocksdb::IOOptions io;
  uint64_t size = 0;
  if (auto s = fs.GetFileSize(path, io, &size, nullptr); !s.ok()) {
    if (s.IsNotFound() || fs.FileExists(path, io, nullptr).IsNotFound()) return std::nullopt;
    return FromIoStatus(s, absl::StrCat("reading ", path));
  }
  if (size > limit) {
    return absl::OutOfRangeError(
        absl::StrCat(path, " holds ", size, " bytes; at most ", limit, " are expected"));
  }
  std::unique_ptr<rocksdb::FSSequentialFile> file;
  if (auto s = fs.NewSequentialFile(path, rocksdb::FileOptions(), &file, nullptr); !s.ok()) {
    if (s.IsNotFound() || s.IsPathNotFound()) return std::nullopt;
    return FromIoStatus(s, absl::StrCat("opening ", path));
  }
  std::string out;
  std::string scratch(64 * 1024, '\0');
  // Until the end, however long the file has grown since its size was read
  // (up to the limit).
  while (true) {
    rocksdb::Slice chunk;
    if (auto s = file->Read(scratch.size(), io, &chunk, scratch.data(), nullptr); !s.ok()) {
      return FromIoStatus(s, absl::StrCat("reading ", path));
    }
    if (chunk.empty()) break;
    out.append(chunk.data(), chunk.size());
    if (out.size() > limit) {
      return absl::OutOfRangeError(
          absl::StrCat(path, " holds more than ", limit, " bytes, the most expected"));
    }
  }
  return out;
}

}  // namespace gridcase
