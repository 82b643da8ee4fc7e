#include "engine/audit/backup.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/access/access_log.h"
#include "engine/common/clock.h"
#include "engine/common/durable_file.h"
#include "engine/common/file_modes.h"
#include "engine/privacy/key_store.h"
#include "engine/privacy/master_key.h"
#include "engine/storage/data_dir.h"
#include "engine/storage/durable_mark.h"
#include "engine/storage/store.h"
#include "google/protobuf/util/json_util.h"
#include "rocksdb/db.h"
#include "rocksdb/utilities/backup_engine.h"

namespace gridcase {
namespace {

namespace fs = std::filesystem;

constexpr char kMarkerName[] = "GRIDCASE-BACKUP";
constexpr char kMarkerContents[] = "gridcase backup directory, format 1\n";
constexpr char kKeysItem[] = "keys/subjects";
constexpr char kAccessItem[] = "access";
constexpr uint64_t kProgressBytes = 1 << 20;  // the copy reports each MiB

std::string EngineDir(const std::string& root) { return root + "/engine"; }
std::string SetsDir(const std::string& root) { return root + "/sets"; }
std::string SetPath(const std::string& root, uint32_t id) {
  return absl::StrFormat("%s/%06u.json", SetsDir(root), id);
}
std::string AppMetadata(uint32_t set, const std::string& item) {
  return absl::StrCat("gridcase set=", set, " item=", item);
}
absl::Status FromRocksIo(const rocksdb::IOStatus& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  const std::string message = absl::StrCat(what, ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(message);
  if (s.IsIncomplete()) return absl::CancelledError(message);
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(message);
  if (s.IsNotFound()) return absl::NotFoundError(message);
  return absl::UnavailableError(message);
}

// flock() on DIR/LOCK for as long as it lives.
class DirLock {
 public:
  static absl::StatusOr<std::unique_ptr<DirLock>> Take(const std::string& dir, bool exclusive) {
    const std::string path = dir + "/LOCK";
    const int fd =
        ::open(path.c_str(), (exclusive ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC, 0600);
    if (fd < 0) {
      if (!exclusive && errno == ENOENT) return std::make_unique<DirLock>(-1);
      return absl::UnavailableError(absl::StrCat("opening ", path, ": ", strerror(errno)));
    }
    if (::flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
      ::close(fd);
      return absl::AbortedError(absl::StrCat(dir, " is in use by another backup",
                                             exclusive ? " or restore" : "", "; try again later"));
    }
    return std::make_unique<DirLock>(fd);
  }
  explicit DirLock(int fd) : fd_(fd) {}
  ~DirLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  int fd_;
};

bool IsBackupDir(const std::string& dir) {
  std::error_code ec;
  return fs::is_regular_file(fs::path(dir) / kMarkerName, ec);
}

// Makes `to` a backup directory: a new or empty one gets the marker; one
// holding anything else is refused.
absl::Status PrepareBackupDir(const std::string& to) {
  if (to.empty() || to[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("to: must be an absolute directory on the server's machine, not '", to, "'"));
  }
  std::error_code ec;
  if (IsBackupDir(to)) return absl::OkStatus();
  if (fs::exists(to, ec)) {
    if (!fs::is_directory(to, ec)) {
      return absl::InvalidArgumentError(absl::StrCat("to: ", to, " is not a directory"));
    }
    if (!fs::is_empty(to, ec)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "to: ", to, " holds files and no ", kMarkerName,
          ": not a backup directory (give a new or empty directory, or one with earlier backups)"));
    }
  } else {
    fs::create_directories(fs::path(to).parent_path(), ec);
    if (auto st = CreatePrivateDirectory(to); !st.ok()) return st;
  }
  if (auto st = CreatePrivateDirectory(SetsDir(to)); !st.ok()) return st;
  return WriteFileDurably(FileSystemOf(nullptr), to + "/" + kMarkerName, kMarkerContents);
}

absl::StatusOr<std::map<uint32_t, v1::BackupSet>> ReadSets(const std::string& root) {
  std::map<uint32_t, v1::BackupSet> sets;
  std::error_code ec;
  fs::directory_iterator it(SetsDir(root), ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return sets;
    return absl::UnavailableError(absl::StrCat("reading ", SetsDir(root), ": ", ec.message()));
  }
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    uint32_t id = 0;
    if (name.size() != 11 || !absl::EndsWith(name, ".json") ||
        !absl::SimpleAtoi(name.substr(0, 6), &id) || id == 0) {
      continue;  // a temporary file of a manifest being written, or not ours
    }
    auto text = ReadSmallFile(FileSystemOf(nullptr), entry.path().string());
    if (!text.ok()) return text.status();
    if (!text->has_value()) continue;  // deleted meanwhile
    v1::BackupSet set;
    if (auto st = google::protobuf::util::JsonStringToMessage(**text, &set);
        !st.ok() || set.id() != id) {
      return absl::DataLossError(absl::StrCat("backup set manifest ", entry.path().string(),
                                              " does not parse: ", st.ToString()));
    }
    sets.emplace(id, std::move(set));
  }
  return sets;
}

std::string ManifestJson(const v1::BackupSet& set) {
  std::string json;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  o.always_print_primitive_fields = true;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(set, &json, o);
  return json;
}

uint64_t DirectoryBytes(const std::string& dir, uint32_t* files) {
  uint64_t bytes = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) {
      bytes += it->file_size(ec);
      if (files != nullptr) ++*files;
    }
  }
  return bytes;
}

// A database of the checkpoint opened read-only with every column family,
// for BackupEngine (which reads its live files and write-ahead log).
struct OpenedDb {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  ~OpenedDb() {
    for (auto* h : handles) {
      if (db != nullptr) db->DestroyColumnFamilyHandle(h);
    }
  }
};

absl::StatusOr<std::unique_ptr<OpenedDb>> OpenReadOnly(const std::string& dir, rocksdb::Env* env) {
  rocksdb::Options options;
  if (env != nullptr) options.env = env;
  options.max_file_opening_threads = 1;
  std::vector<std::string> names;
  auto s = rocksdb::DB::ListColumnFamilies(options, dir, &names);
  if (!s.ok()) return absl::UnavailableError(absl::StrCat("opening ", dir, ": ", s.ToString()));
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const auto& name : names) families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  auto opened = std::make_unique<OpenedDb>();
  rocksdb::DB* raw = nullptr;
  s = rocksdb::DB::OpenForReadOnly(options, dir, families, &opened->handles, &raw);
  if (!s.ok()) return absl::UnavailableError(absl::StrCat("opening ", dir, ": ", s.ToString()));
  opened->db.reset(raw);
  return opened;
}

struct Item {
  std::string name;  // its place in a data directory
  int partition = -1;
};

// Reads the head of item `item` of data directory `root`: the last position
// and its hash (partitions and the access log; the key store has none).
absl::Status ReadHead(const std::string& root, const Item& item, rocksdb::Env* env,
                      v1::BackupItem* out) {
  const std::string dir = root + "/" + item.name;
  if (item.partition >= 0) {
    auto store = PartitionStore::Open(dir, PartitionId(static_cast<uint32_t>(item.partition)),
                                      {.env = env, .mode = OpenMode::kReadOnly});
    if (!store.ok()) return store.status();
    auto last = (*store)->ReadLastRecord();
    if (!last.ok()) return last.status();
    out->set_position((*store)->recovered().position);
    if (last->has_value()) out->set_head((*last)->hash);
    return absl::OkStatus();
  }
  if (item.name == kAccessItem) {
    // Opening for writing is harmless here: the checkpoint is ours alone.
    SystemClock clock;
    auto log = AccessLog::Open(dir, env, &clock);
    if (!log.ok()) return log.status();
    auto [position, head] = (*log)->head();
    out->set_position(position);
    if (position > 0) out->set_head(head);
  }
  return absl::OkStatus();
}

rocksdb::BackupEngineOptions EngineOptions(const std::string& root, uint64_t rate_limit) {
  rocksdb::BackupEngineOptions o(EngineDir(root));
  o.share_table_files = true;
  o.share_files_with_checksum = true;
  o.sync = true;
  o.backup_rate_limit = rate_limit;
  o.callback_trigger_interval_size = kProgressBytes;
  o.max_background_operations = 1;
  return o;
}

// Deletes engine backups no manifest names (left by a backup that stopped
// halfway, or a retention that did), then files no backup uses.
absl::Status ClearUnnamed(rocksdb::BackupEngine* engine,
                          const std::map<uint32_t, v1::BackupSet>& sets) {
  std::set<uint32_t> named;
  for (const auto& [id, set] : sets) {
    for (const auto& item : set.items()) named.insert(item.engine_backup_id());
  }
  std::vector<rocksdb::BackupInfo> infos;
  engine->GetBackupInfo(&infos);
  std::vector<rocksdb::BackupID> corrupt;
  engine->GetCorruptedBackups(&corrupt);
  for (const auto& info : infos) {
    if (named.count(info.backup_id) == 0) {
      if (auto st =
              FromRocksIo(engine->DeleteBackup(info.backup_id), "deleting an unfinished backup");
          !st.ok()) {
        return st;
      }
    }
  }
  for (rocksdb::BackupID id : corrupt) {
    if (named.count(id) == 0) (void)engine->DeleteBackup(id);
  }
  return FromRocksIo(engine->GarbageCollect(), "collecting unused backup files");
}

}  // namespace

absl::StatusOr<BackupResult> BackUpCheckpoint(const std::string& checkpoint, uint32_t partitions,
                                              const std::string& to, const BackupOptions& options,
                                              const BackupProgressFn& progress) {
  const auto start = std::chrono::steady_clock::now();
  auto seconds = [&start] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  if (auto st = PrepareBackupDir(to); !st.ok()) return st;
  auto lock = DirLock::Take(to, /*exclusive=*/true);
  if (!lock.ok()) return lock.status();
  auto sets = ReadSets(to);
  if (!sets.ok()) return sets.status();

  rocksdb::BackupEngine* raw_engine = nullptr;
  if (auto st = FromRocksIo(
          rocksdb::BackupEngine::Open(rocksdb::Env::Default(),
                                      EngineOptions(to, options.rate_limit), &raw_engine),
          absl::StrCat("opening the backups in ", EngineDir(to)));
      !st.ok()) {
    return st;
  }
  std::unique_ptr<rocksdb::BackupEngine> engine(raw_engine);
  if (auto st = ClearUnnamed(engine.get(), *sets); !st.ok()) return st;

  // Table files already in the backups are not copied again.
  std::set<std::string> present;
  {
    std::vector<rocksdb::BackupInfo> infos;
    engine->GetBackupInfo(&infos, /*include_file_details=*/true);
    for (const auto& info : infos) {
      for (const auto& f : info.file_details) present.insert(f.relative_filename);
    }
  }

  std::vector<Item> items;
  for (uint32_t i = 0; i < partitions; ++i) {
    items.push_back({fs::path(PartitionDir("", i)).filename().string(), static_cast<int>(i)});
  }
  std::error_code ec;
  if (fs::exists(AccessLogDir(checkpoint), ec)) items.push_back({kAccessItem, -1});
  const bool keys = fs::exists(fs::path(checkpoint) / kKeysItem, ec);
  if (keys) items.push_back({kKeysItem, -1});

  v1::BackupSet set;
  set.set_id(sets->empty() ? 1 : sets->rbegin()->first + 1);
  set.set_started_us(options.started_us);
  set.set_partitions(partitions);
  set.set_keys(keys);
  set.set_server_version(options.version);
  auto marker = ReadSmallFile(FileSystemOf(nullptr), checkpoint + "/GRIDCASE");
  if (!marker.ok()) return marker.status();
  if (!marker->has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(checkpoint, " has no GRIDCASE marker"));
  }
  set.set_marker(**marker);

  v1::BackupProgress report;
  report.set_items_total(static_cast<uint32_t>(items.size()));
  std::vector<uint64_t> sizes;
  uint64_t total = 0;
  for (const auto& item : items) {
    sizes.push_back(DirectoryBytes(checkpoint + "/" + item.name, nullptr));
    total += sizes.back();
  }
  report.set_bytes_total(total);
  auto tell = [&](const std::string& phase, const std::string& item) {
    if (!progress) return;
    report.set_phase(phase);
    report.set_item(item);
    report.set_seconds(seconds());
    progress(report);
  };

  uint64_t done_before = 0;
  uint64_t copied_before = 0;
  for (size_t n = 0; n < items.size(); ++n) {
    const Item& item = items[n];
    if (options.stop != nullptr && options.stop->load()) {
      return absl::CancelledError("the backup was stopped; no set was written");
    }
    v1::BackupItem* out = set.add_items();
    out->set_name(item.name);
    if (auto st = ReadHead(checkpoint, item, options.env, out); !st.ok()) return st;
    auto db = OpenReadOnly(checkpoint + "/" + item.name, options.env);
    if (!db.ok()) return db.status();

    report.set_bytes_done(done_before);
    tell("copying", item.name);
    uint64_t calls = 0;
    auto last_told = std::chrono::steady_clock::now();
    rocksdb::CreateBackupOptions create;
    create.flush_before_backup = false;  // read-only, and nothing to flush
    create.progress_callback = [&] {
      ++calls;
      if (options.stop != nullptr && options.stop->load()) engine->StopBackup();
      const uint64_t copied = std::min(calls * kProgressBytes, sizes[n]);
      report.set_bytes_copied(copied_before + copied);
      report.set_bytes_done(done_before + copied);
      const auto now = std::chrono::steady_clock::now();
      if (now - last_told >= std::chrono::seconds(1)) {
        last_told = now;
        tell("copying", item.name);
      }
    };
    rocksdb::BackupID id = 0;
    auto io = engine->CreateNewBackupWithMetadata(create, (*db)->db.get(),
                                                  AppMetadata(set.id(), item.name), &id);
    db->reset();
    if (!io.ok()) {
      if (io.IsIncomplete()) {
        return absl::CancelledError("the backup was stopped; no set was written");
      }
      return FromRocksIo(io, absl::StrCat("backing up ", item.name));
    }
    tell("verifying", item.name);
    if (auto st = FromRocksIo(engine->VerifyBackup(id, /*verify_with_checksum=*/true),
                              absl::StrCat("verifying the backup of ", item.name));
        !st.ok()) {
      return st;
    }
    rocksdb::BackupInfo info;
    if (auto s = engine->GetBackupInfo(id, &info, /*include_file_details=*/true); !s.ok()) {
      return absl::UnavailableError(absl::StrCat("reading backup ", id, ": ", s.ToString()));
    }
    uint64_t fresh = 0;
    for (const auto& f : info.file_details) {
      if (present.insert(f.relative_filename).second) fresh += f.size;
    }
    out->set_engine_backup_id(id);
    out->set_bytes(info.size);
    out->set_files(info.number_files);
    out->set_new_bytes(fresh);
    set.set_bytes(set.bytes() + info.size);
    set.set_new_bytes(set.new_bytes() + fresh);
    done_before += sizes[n];
    copied_before += fresh;
    report.set_items_done(static_cast<uint32_t>(n + 1));
    report.set_bytes_done(done_before);
    report.set_bytes_copied(copied_before);
  }
  if (options.stop != nullptr && options.stop->load()) {
    return absl::CancelledError("the backup was stopped; no set was written");
  }
  set.set_finished_us(options.now_us ? options.now_us() : 0);
  // The set exists from here on.
  if (auto st = WriteFileDurably(FileSystemOf(nullptr), SetPath(to, set.id()), ManifestJson(set),
                                 FileAccess::kOwnerOnly);
      !st.ok()) {
    return st;
  }

  BackupResult result;
  result.set = set;
  if (options.keep > 0) {
    (*sets)[set.id()] = set;
    while (sets->size() > options.keep) {
      const uint32_t oldest = sets->begin()->first;
      fs::remove(SetPath(to, oldest), ec);
      if (ec) {
        return absl::UnavailableError(
            absl::StrCat("deleting set ", oldest, " (retention): ", ec.message()));
      }
      sets->erase(sets->begin());
      result.removed.push_back(oldest);
    }
    if (!result.removed.empty()) {
      if (auto st = SyncDirectory(FileSystemOf(nullptr), SetsDir(to)); !st.ok()) return st;
      if (auto st = ClearUnnamed(engine.get(), *sets); !st.ok()) return st;
    }
  }
  report.set_phase("done");
  report.set_item("");
  report.set_seconds(seconds());
  *report.mutable_set() = set;
  for (uint32_t id : result.removed) report.add_removed_sets(id);
  if (progress) progress(report);
  return result;
}

absl::StatusOr<std::vector<v1::BackupSet>> ListBackupSets(const std::string& from) {
  if (!IsBackupDir(from)) {
    return absl::NotFoundError(
        absl::StrCat(from, " is not a backup directory (it has no ", kMarkerName, ")"));
  }
  auto lock = DirLock::Take(from, /*exclusive=*/false);
  if (!lock.ok()) return lock.status();
  auto sets = ReadSets(from);
  if (!sets.ok()) return sets.status();
  std::vector<v1::BackupSet> out;
  for (auto& [id, set] : *sets) out.push_back(std::move(set));
  return out;
}

absl::StatusOr<RestoreReport> RestoreBackupSet(const std::string& from, const std::string& to,
                                               const RestoreOptions& options) {
  auto tell = [&](const std::string& phase, const std::string& item, uint32_t done,
                  uint32_t total) {
    if (options.progress) options.progress(phase, item, done, total);
  };
  if (!IsBackupDir(from)) {
    return absl::NotFoundError(
        absl::StrCat(from, " is not a backup directory (it has no ", kMarkerName, ")"));
  }
  std::error_code ec;
  if (fs::exists(to, ec) && !(fs::is_directory(to, ec) && fs::is_empty(to, ec))) {
    return absl::FailedPreconditionError(
        absl::StrCat(to, " is not empty: a restore goes into a new or empty directory"));
  }
  auto lock = DirLock::Take(from, /*exclusive=*/false);
  if (!lock.ok()) return lock.status();
  auto sets = ReadSets(from);
  if (!sets.ok()) return sets.status();
  if (sets->empty()) return absl::NotFoundError(absl::StrCat(from, " holds no backup set"));
  const uint32_t wanted = options.set == 0 ? sets->rbegin()->first : options.set;
  auto found = sets->find(wanted);
  if (found == sets->end()) {
    return absl::NotFoundError(absl::StrCat("no backup set ", wanted, " in ", from, " (sets ",
                                            sets->begin()->first, " to ", sets->rbegin()->first,
                                            "; gridcase admin backups lists them)"));
  }
  RestoreReport report;
  report.set = found->second;
  const v1::BackupSet& set = report.set;

  rocksdb::BackupEngineReadOnly* raw_engine = nullptr;
  if (auto st = FromRocksIo(rocksdb::BackupEngineReadOnly::Open(
                                rocksdb::Env::Default(), EngineOptions(from, 0), &raw_engine),
                            absl::StrCat("opening the backups in ", EngineDir(from)));
      !st.ok()) {
    return st;
  }
  std::unique_ptr<rocksdb::BackupEngineReadOnly> engine(raw_engine);

  fs::create_directories(fs::path(to).parent_path(), ec);
  if (!fs::exists(to, ec)) {
    if (auto st = CreatePrivateDirectory(to); !st.ok()) return st;
  }
  const auto copy_start = std::chrono::steady_clock::now();
  const uint32_t total = static_cast<uint32_t>(set.items_size());
  for (int n = 0; n < set.items_size(); ++n) {
    const v1::BackupItem& item = set.items(n);
    tell("copying", item.name(), static_cast<uint32_t>(n), total);
    const std::string dir = to + "/" + item.name();
    if (item.name() == kKeysItem) {
      if (auto st = CreatePrivateDirectory(to + "/keys"); !st.ok()) return st;
    }
    if (auto st = FromRocksIo(engine->VerifyBackup(item.engine_backup_id(), true),
                              absl::StrCat("backup set ", set.id(), ": ", item.name()));
        !st.ok()) {
      return st.code() == absl::StatusCode::kNotFound
                 ? absl::DataLossError(absl::StrCat(st.message(), " (a file of it is missing)"))
                 : st;
    }
    if (auto st = FromRocksIo(engine->RestoreDBFromBackup(item.engine_backup_id(), dir, dir),
                              absl::StrCat("restoring ", item.name(), " of set ", set.id()));
        !st.ok()) {
      return st;
    }
  }
  if (auto st = WriteFileDurably(FileSystemOf(options.env), to + "/GRIDCASE", set.marker());
      !st.ok()) {
    return st;
  }
  report.copy_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - copy_start).count();

  // Every chain from position 1 to the head the manifest names.
  const auto verify_start = std::chrono::steady_clock::now();
  for (int n = 0; n < set.items_size(); ++n) {
    const v1::BackupItem& item = set.items(n);
    const std::string dir = to + "/" + item.name();
    tell("verifying", item.name(), static_cast<uint32_t>(n), total);
    auto mismatch = [&](const std::string& what) {
      return absl::DataLossError(absl::StrCat("backup set ", set.id(), ", ", item.name(), ": ",
                                              what, "; the restore in ", to,
                                              " is left as it is, for inspection"));
    };
    auto check = [&](const ChainCheck& chain, uint64_t position,
                     const std::string& head) -> absl::Status {
      if (chain.first_bad_position != 0) {
        return mismatch(absl::StrCat("the chain breaks at position ", chain.first_bad_position,
                                     ": ", chain.problem));
      }
      if (position != item.position() || chain.records != item.position()) {
        return mismatch(absl::StrCat("holds ", chain.records, " chained records up to position ",
                                     position, ", the manifest names ", item.position()));
      }
      if (item.position() > 0 && head != item.head()) {
        return mismatch(
            absl::StrCat("its head at position ", position, " is not the hash the manifest names"));
      }
      return absl::OkStatus();
    };
    if (absl::StartsWith(item.name(), "partition-")) {
      uint32_t id = 0;
      if (!absl::SimpleAtoi(absl::string_view(item.name()).substr(10), &id)) {
        return mismatch("not a partition's name");
      }
      DurableMark held;
      {
        auto store = PartitionStore::Open(dir, PartitionId(id),
                                          {.env = options.env, .mode = OpenMode::kReadOnly});
        if (!store.ok()) return store.status();
        auto chain = (*store)->VerifyChain(nullptr);
        if (!chain.ok()) return chain.status();
        held = (*store)->recovered();
        if (auto st = check(*chain, held.position, chain->head); !st.ok()) return st;
        report.records += chain->records;
      }
      // What it holds is durable: the restore synced it. Damage to it later
      // is then refused like damage to any partition.
      if (auto st = WriteDurableMark(FileSystemOf(options.env), dir, held); !st.ok()) return st;
    } else if (item.name() == kAccessItem) {
      SystemClock clock;
      auto log = AccessLog::Open(dir, options.env, &clock);
      if (!log.ok()) return log.status();
      auto chain = (*log)->VerifyChain(nullptr);
      if (!chain.ok()) return chain.status();
      if (auto st = check(*chain, (*log)->head().first, chain->head); !st.ok()) return st;
      report.access_records = chain->records;
    }
  }
  if (set.keys() && !options.master_key_file.empty()) {
    auto key = privacy::LoadMasterKey(options.master_key_file, "", nullptr, options.env);
    if (!key.ok()) return key.status();
    {
      auto store = privacy::KeyStore::Open(to + "/" + kKeysItem, *key, options.env);
      if (!store.ok()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "--master-key ", options.master_key_file,
            ": not the key the backed-up key store was made with (", store.status().message(),
            "); the restore in ", to, " is complete otherwise"));
      }
    }
    auto bytes = ReadSmallFile(FileSystemOf(options.env), options.master_key_file);
    if (!bytes.ok()) return bytes.status();
    if (auto st = WriteFileDurably(FileSystemOf(options.env), to + "/keys/master.key",
                                   bytes->value_or(""), FileAccess::kOwnerOnly);
        !st.ok()) {
      return st;
    }
    report.master_key_placed = true;
  }
  tell("done", "", total, total);
  report.verify_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - verify_start).count();
  return report;
}

}  // namespace gridcase
