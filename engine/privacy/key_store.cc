#include "engine/privacy/key_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/common/big_endian.h"
#include "engine/domain/personal.h"
#include "engine/privacy/aead.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/table.h"
#include "rocksdb/utilities/checkpoint.h"

namespace gridcase::privacy {
namespace {

constexpr char kVersion = '\x01';
constexpr char kCheckKey[] = "check";
constexpr char kCheckAad[] = "gridcase-key-check";
constexpr char kCheckPlain[] = "gridcase";
constexpr char kSlotsKey[] = "slots";
constexpr size_t kCacheMax = size_t{1} << 20;

std::string SlotsValue(uint64_t next) {
  std::string out;
  AppendFixed64Be(next, &out);
  return out;
}

std::string RowKey(const std::string& subject) { return absl::StrCat("k/", subject); }

absl::Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("key store: ", what, ": ", s.ToString()));
}

absl::StatusOr<std::string> WrapWith(const std::string& master, const std::string& aad,
                                     const std::string& plain) {
  auto nonce = RandomBytes(kNonceBytes);
  if (!nonce.ok()) return nonce.status();
  auto sealed = Seal(master, *nonce, aad, plain);
  if (!sealed.ok()) return sealed.status();
  return absl::StrCat(std::string(1, kVersion), *nonce, *sealed);
}

absl::StatusOr<std::string> UnwrapWith(const std::string& master, const std::string& aad,
                                       const std::string& wrapped) {
  if (wrapped.size() < 1 + kNonceBytes + kTagBytes || wrapped[0] != kVersion) {
    return absl::DataLossError("key store: a wrapped key of unknown format");
  }
  return Open(master, absl::string_view(wrapped).substr(1, kNonceBytes), aad,
              absl::string_view(wrapped).substr(1 + kNonceBytes));
}

}  // namespace

absl::StatusOr<std::unique_ptr<KeyStore>> KeyStore::Open(const std::string& dir,
                                                         std::string master_key, rocksdb::Env* env,
                                                         size_t memtable_bytes) {
  if (master_key.size() != kKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("master key: ", master_key.size(), " bytes, need ", kKeyBytes));
  }
  rocksdb::Options options;
  options.create_if_missing = true;
  options.paranoid_checks = true;
  options.keep_log_file_num = 2;
  options.recycle_log_file_num = 0;  // a reused log file would keep old keys' bytes
  options.WAL_ttl_seconds = 0;       // and so would an archived one
  options.WAL_size_limit_MB = 0;
  // Most lookups of a busy day are of subjects with no key yet: a miss
  // should cost a filter probe, not a search of the memtable and every
  // table file.
  options.memtable_prefix_bloom_size_ratio = 0.05;
  options.memtable_whole_key_filtering = true;
  // New keys arrive in random order, thousands a second on a busy day: in
  // a memtable of RocksDB's default 64 MiB every insert walks a skip list
  // of up to ~500,000 entries, a cache miss at each step. A small one stays
  // in cache, and flushing it more often costs less (BM_KeyStorePersist).
  options.write_buffer_size = memtable_bytes;
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  if (env != nullptr) options.env = env;
  rocksdb::DB* raw = nullptr;
  if (auto st = FromRocks(rocksdb::DB::Open(options, dir, &raw), "open " + dir); !st.ok()) {
    return st;
  }
  std::unique_ptr<KeyStore> store(new KeyStore(std::unique_ptr<rocksdb::DB>(raw), master_key));
  std::string slots;
  rocksdb::Status got_slots = store->db_->Get(rocksdb::ReadOptions(), kSlotsKey, &slots);
  if (!got_slots.IsNotFound()) {
    if (auto st = FromRocks(got_slots, "read its slot count"); !st.ok()) return st;
    if (slots.size() != 8) {
      return absl::DataLossError(
          absl::StrCat("key store ", dir, ": its slot count has ", slots.size(), " bytes, not 8"));
    }
    absl::MutexLock lock(&store->pool_mu_);
    store->next_slot_ = ReadFixed64Be(slots);
  }
  std::string check;
  rocksdb::Status got = store->db_->Get(rocksdb::ReadOptions(), kCheckKey, &check);
  if (got.IsNotFound()) {
    auto wrapped = WrapWith(store->master_, kCheckAad, kCheckPlain);
    if (!wrapped.ok()) return wrapped.status();
    rocksdb::WriteOptions sync;
    sync.sync = true;
    if (auto st = FromRocks(store->db_->Put(sync, kCheckKey, *wrapped), "write its check");
        !st.ok()) {
      return st;
    }
    return store;
  }
  if (auto st = FromRocks(got, "read its check"); !st.ok()) return st;
  auto opened = UnwrapWith(store->master_, kCheckAad, check);
  if (!opened.ok() || *opened != kCheckPlain) {
    return absl::FailedPreconditionError(absl::StrCat(
        "key store ", dir, ": the master key is not the one its keys were wrapped with"));
  }
  return store;
}

KeyStore::KeyStore(std::unique_ptr<rocksdb::DB> db, std::string master_key)
    : db_(std::move(db)), master_(std::move(master_key)) {}

KeyStore::~KeyStore() { db_->Close().PermitUncheckedError(); }

absl::StatusOr<std::string> KeyStore::Wrap(const std::string& subject,
                                           const std::string& key) const {
  return WrapWith(master_, absl::StrCat("gridcase-key-v1:", subject), key);
}

absl::StatusOr<std::string> KeyStore::Unwrap(const std::string& subject,
                                             const std::string& wrapped) const {
  auto key = UnwrapWith(master_, absl::StrCat("gridcase-key-v1:", subject), wrapped);
  if (!key.ok()) {
    return absl::DataLossError(absl::StrCat("key store: the key of ", subject,
                                            " does not open: ", key.status().message()));
  }
  return key;
}

absl::StatusOr<std::string> KeyStore::Find(const std::string& subject) {
  {
    absl::MutexLock lock(&mu_);
    if (destroyed_.contains(subject)) return absl::NotFoundError(subject + ": key destroyed");
    auto it = cache_.find(subject);
    if (it != cache_.end()) return it->second;
  }
  std::string wrapped;
  rocksdb::Status got = db_->Get(rocksdb::ReadOptions(), RowKey(subject), &wrapped);
  if (got.IsNotFound()) return absl::NotFoundError(subject + ": no key");
  if (auto st = FromRocks(got, "read a key"); !st.ok()) return st;
  auto key = Unwrap(subject, wrapped);
  if (!key.ok()) return key.status();
  absl::MutexLock lock(&mu_);
  if (destroyed_.contains(subject)) return absl::NotFoundError(subject + ": key destroyed");
  if (cache_.size() >= kCacheMax) cache_.clear();
  cache_.emplace(subject, *key);
  return key;
}

absl::StatusOr<std::string> KeyStore::KeyFor(const std::string& subject, Pending* pending,
                                             bool fresh) {
  if (auto it = pending->keys_.find(subject); it != pending->keys_.end()) return it->second;
  if (!fresh) {
    auto found = Find(subject);
    if (found.ok() || !absl::IsNotFound(found.status())) return found;
  }
  {
    absl::MutexLock lock(&mu_);
    if (destroyed_.contains(subject)) {
      return absl::FailedPreconditionError(subject + " was erased: its key is destroyed");
    }
  }
  auto key = RandomBytes(kKeyBytes);
  if (!key.ok()) return key.status();
  pending->keys_.emplace(subject, *key);
  return key;
}

absl::Status KeyStore::Persist(Pending* pending) {
  if (pending->keys_.empty()) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  for (const auto& [subject, key] : pending->keys_) {
    auto wrapped = Wrap(subject, key);
    if (!wrapped.ok()) return wrapped.status();
    batch.Put(RowKey(subject), *wrapped);
  }
  rocksdb::WriteOptions sync;
  sync.sync = true;
  if (auto st = FromRocks(db_->Write(sync, &batch), "write new keys"); !st.ok()) return st;
  absl::MutexLock lock(&mu_);
  for (auto& [subject, key] : pending->keys_) {
    if (cache_.size() >= kCacheMax) cache_.clear();
    cache_.insert_or_assign(subject, std::move(key));
  }
  pending->keys_.clear();
  return absl::OkStatus();
}

absl::Status KeyStore::MakeSlots() {
  auto keys = RandomBytes(kKeyBytes * kSlotBatch);
  if (!keys.ok()) return keys.status();
  std::vector<Slot> made(kSlotBatch);
  rocksdb::WriteBatch batch;
  for (size_t i = 0; i < kSlotBatch; ++i) {
    Slot& slot = made[kSlotBatch - 1 - i];  // the lowest number at the back
    slot.number = next_slot_ + i;
    slot.key = keys->substr(i * kKeyBytes, kKeyBytes);
    const std::string subject = SlotSubject(slot.number);
    auto wrapped = Wrap(subject, slot.key);
    if (!wrapped.ok()) return wrapped.status();
    batch.Put(RowKey(subject), *wrapped);
  }
  const uint64_t next = next_slot_ + kSlotBatch;
  batch.Put(kSlotsKey, SlotsValue(next));
  rocksdb::WriteOptions sync;
  sync.sync = true;
  if (auto st = FromRocks(db_->Write(sync, &batch), "write new key slots"); !st.ok()) return st;
  next_slot_ = next;
  pool_ = std::move(made);
  return absl::OkStatus();
}

absl::StatusOr<KeyStore::Slot> KeyStore::TakeSlot() {
  Slot slot;
  {
    absl::MutexLock lock(&pool_mu_);
    if (pool_.empty()) {
      if (auto st = MakeSlots(); !st.ok()) return st;
    }
    slot = std::move(pool_.back());
    pool_.pop_back();
  }
  // Its case's next records find it here rather than unwrap it again.
  absl::MutexLock lock(&mu_);
  if (cache_.size() >= kCacheMax) cache_.clear();
  cache_.insert_or_assign(SlotSubject(slot.number), slot.key);
  return slot;
}

void KeyStore::ReturnSlot(Slot slot) {
  absl::MutexLock lock(&pool_mu_);
  pool_.push_back(std::move(slot));
}

absl::StatusOr<bool> KeyStore::SkipSlotsThrough(uint64_t last) {
  absl::MutexLock lock(&pool_mu_);
  if (last < next_slot_) return false;
  rocksdb::WriteOptions sync;
  sync.sync = true;
  if (auto st = FromRocks(db_->Put(sync, kSlotsKey, SlotsValue(last + 1)), "skip key slots");
      !st.ok()) {
    return st;
  }
  next_slot_ = last + 1;
  pool_.clear();
  return true;
}

absl::Status KeyStore::Destroy(const std::string& subject) { return DestroyAll({subject}); }

absl::Status KeyStore::DestroyAll(const std::vector<std::string>& subjects, bool remember) {
  if (subjects.empty()) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  std::string first, last;
  {
    absl::MutexLock lock(&mu_);
    for (const std::string& subject : subjects) {
      if (remember) destroyed_.insert(subject);
      cache_.erase(subject);
      std::string row = RowKey(subject);
      if (first.empty() || row < first) first = row;
      if (row > last) last = row;
      batch.Delete(row);
    }
  }
  rocksdb::WriteOptions sync;
  sync.sync = true;
  if (auto st = FromRocks(db_->Write(sync, &batch), "delete keys"); !st.ok()) return st;
  // The deleted keys' bytes may still be in the memtable's log file and in
  // table files: flush (the log file becomes obsolete and is removed), then
  // rewrite every table file whose range holds one of them, to the bottom.
  rocksdb::FlushOptions flush;
  flush.wait = true;
  if (auto st = FromRocks(db_->Flush(flush), "flush after a delete"); !st.ok()) return st;
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  const std::string end = last + '\0';
  rocksdb::Slice begin_slice(first);
  rocksdb::Slice end_slice(end);
  if (auto st = FromRocks(db_->CompactRange(compact, &begin_slice, &end_slice), "compact keys");
      !st.ok()) {
    return st;
  }
  return FromRocks(db_->FlushWAL(/*sync=*/true), "sync its log");
}

absl::Status KeyStore::Checkpoint(const std::string& dir) {
  rocksdb::Checkpoint* raw = nullptr;
  if (auto st = FromRocks(rocksdb::Checkpoint::Create(db_.get(), &raw), "checkpoint"); !st.ok()) {
    return st;
  }
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  return FromRocks(checkpoint->CreateCheckpoint(dir), "checkpoint into " + dir);
}

size_t KeyStore::cached() const {
  absl::MutexLock lock(&mu_);
  return cache_.size();
}

}  // namespace gridcase::privacy
