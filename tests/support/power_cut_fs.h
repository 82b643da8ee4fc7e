// A RocksDB FileSystem over the real one that can lose power: it tracks
// how much of each file written through it has been synced, and which
// creations and renames have had their directory synced (closing a file is
// not syncing it). Cut() freezes the disk: from then on every write, sync,
// rename, link and deletion succeeds and does nothing, and new files live
// in memory only. The process runs on as a ghost whose effects never reach
// the disk, as if it had stopped with the machine: what it acknowledges
// after the cut must not count (is_cut()), and it never meets an error a
// real cut would not have shown it (RocksDB's writers, as Debian builds
// them, assert on any use after a failed write). Restore() then undoes on
// disk whatever was not durable when the power went: files truncated to
// what was synced, creations and renames whose directory was never synced
// undone, newest first. Deletions are taken as durable at once (RocksDB
// deletes only files nothing refers to).
//
// With `honour_syncs` false (the negative control) syncs succeed but make
// nothing durable, as a disk that lies about its cache would: a cut then
// loses every write since SetHonourSyncs(false).
//
// Files rewritten in place (FSRandomRWFile: the partitions' DURABLE marks)
// are kept as they were at their last sync; Restore() puts that image back,
// then replays a seeded half of the writes made since (the kernel may have
// written any of them back before the power went).
#ifndef GRIDCASE_TESTS_SUPPORT_POWER_CUT_FS_H_
#define GRIDCASE_TESTS_SUPPORT_POWER_CUT_FS_H_

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "rocksdb/env.h"
#include "rocksdb/file_system.h"

namespace gridcase::testing {

class PowerCutFs : public rocksdb::FileSystemWrapper {
 public:
  // `scratch_dir`: where the previous contents of rename targets are kept
  // until their directory is synced (on the same file system as the data).
  explicit PowerCutFs(std::string scratch_dir);
  const char* Name() const override { return "PowerCutFs"; }

  // The power goes: every later write, sync or directory change fails.
  void Cut();
  // The power goes at the `ops`-th write, sync or directory change from
  // now (whichever thread makes it: a group's append or sync, a flush's
  // or a compaction's table file, a rename), which fails.
  void CutAfter(uint64_t ops) { cut_at_ = ops_.load() + ops; }
  bool is_cut() const { return is_cut_; }
  // After everything writing through this file system is closed: drops
  // what was not durable, then takes writes again, tracking afresh.
  void Restore();
  void SetHonourSyncs(bool honour) { honour_syncs_ = honour; }
  // Chooses which unsynced in-place writes Restore() keeps.
  void SetWriteBackSeed(uint64_t seed) { write_back_seed_ = seed; }

  struct Counts {
    uint64_t files_truncated = 0;  // lost an unsynced tail
    uint64_t bytes_dropped = 0;
    uint64_t creations_undone = 0;
    uint64_t renames_undone = 0;
    uint64_t in_place_writes_undone = 0;  // of files rewritten in place
    uint64_t in_place_writes_kept = 0;    // unsynced, but written back
  };
  // What the last Restore() undid.
  const Counts& last_restore() const { return last_; }

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
  rocksdb::IOStatus NewRandomRWFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& io_opts,
                                 std::unique_ptr<rocksdb::FSDirectory>* result,
                                 rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& src, const std::string& target,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus LinkFile(const std::string& src, const std::string& target,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& fname, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;

  // For the wrapped files and directories: each runs its operation through
  // Guarded(), which does nothing (and says OK) once the power is cut, and
  // otherwise holds the cut back until the operation and its bookkeeping
  // are done.
  template <typename Op>
  rocksdb::IOStatus Guarded(Op op) {
    CountOperation();
    std::shared_lock lock(power_);
    if (cut_) return rocksdb::IOStatus::OK();
    return op();
  }
  // A sync through Guarded(): `then` records it durable, unless syncs are
  // not honoured (then it is not even made).
  template <typename Op, typename Then>
  rocksdb::IOStatus GuardedSync(Op sync, Then then) {
    return Guarded([&] {
      if (!honour_syncs_) return rocksdb::IOStatus::OK();
      auto s = sync();
      if (s.ok()) then();
      return s;
    });
  }
  void Appended(const std::string& fname, uint64_t end);
  void Synced(const std::string& fname);
  void DirectorySynced(const std::string& dir);
  void WroteInPlace(const std::string& fname, uint64_t offset, const std::string& bytes);
  void SyncedInPlace(const std::string& fname);

 private:
  struct File {
    uint64_t size = 0;    // bytes written
    uint64_t synced = 0;  // of which durable
  };
  // A file rewritten in place: its bytes as of its last sync, and the
  // writes since, in order.
  struct InPlace {
    std::string durable;
    std::vector<std::pair<uint64_t, std::string>> writes;
  };
  struct DirOp {
    enum Kind { kCreate, kRename } kind;
    std::string path;      // created; or the rename's target
    std::string source;    // the rename's source
    std::string previous;  // the target's previous contents, kept in scratch ("": none)
  };
  rocksdb::IOStatus Track(const std::string& fname, bool existed, uint64_t size,
                          std::unique_ptr<rocksdb::FSWritableFile>* result);
  void CountOperation() {
    const uint64_t at = cut_at_;
    if (++ops_ >= at && at != 0) Cut();
  }
  // Opens `fname` for writing with `open` (which `truncates` it, or
  // appends to it), or, after the cut, a file in memory only.
  template <typename Open>
  rocksdb::IOStatus OpenWritable(const std::string& fname, bool truncates,
                                 std::unique_ptr<rocksdb::FSWritableFile>* result, Open open);

  const std::string scratch_;
  std::atomic<bool> honour_syncs_{true};
  std::atomic<uint64_t> write_back_seed_{1};
  std::atomic<uint64_t> ops_{0};
  std::atomic<uint64_t> cut_at_{0};  // 0: none armed
  std::atomic<bool> is_cut_{false};
  std::shared_mutex power_;
  bool cut_ = false;  // guarded by power_
  std::mutex mu_;     // the bookkeeping below
  std::map<std::string, File> files_;
  std::map<std::string, InPlace> in_place_;
  std::map<std::string, std::vector<DirOp>> pending_;  // by directory, oldest first
  uint64_t scratch_files_ = 0;
  Counts last_;
};

// An Env whose file system is `fs`.
std::unique_ptr<rocksdb::Env> EnvOverPowerCut(const std::shared_ptr<PowerCutFs>& fs);

}  // namespace gridcase::testing

#endif  // GRIDCASE_TESTS_SUPPORT_POWER_CUT_FS_H_
