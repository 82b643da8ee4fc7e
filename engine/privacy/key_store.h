// The key store: one data key per subject (a resident's case), each wrapped
// with the master key (AES-256-GCM) and kept in a RocksDB database of its
// own, DATA_DIR/keys/subjects, outside the partitions, so that checkpoints
// and backups of the log do not carry keys unless asked.
//
//   "k/" subject -> 0x01 nonce[12] AES-256-GCM(master, key, aad = "gridcase-key-v1:" subject)
//   "check"      -> 0x01 nonce[12] AES-256-GCM(master, "gridcase", aad = "gridcase-key-check")
//   "slots"      -> fixed64be: the number after the highest key slot made
//
// A key is made when its subject's first personal field is sealed and
// written (synced) before the record that uses it. Residents' cases, new
// by the thousand every hour, take theirs from a pool of key slots made
// ahead (TakeSlot): kSlotBatch keys under subjects "slot:<n>" in one
// synced write, so that a new case costs no synced write of the key store
// of its own. Destroy() is erasure:
// the key is deleted with a synced write, then the memtable is flushed and
// the files that held the key are compacted, so that no file of the store
// keeps its bytes; once gone, everything sealed under it is unreadable.
//
// Thread-safety: every method may be called from any thread.
#ifndef GRIDCASE_ENGINE_PRIVACY_KEY_STORE_H_
#define GRIDCASE_ENGINE_PRIVACY_KEY_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace rocksdb {
class DB;
class Env;
}  // namespace rocksdb

namespace gridcase::privacy {

class KeyStore {
 public:
  // Keys made in memory by KeyFor and not yet durable; Persist writes them.
  class Pending {
   public:
    bool empty() const { return keys_.empty(); }

   private:
    friend class KeyStore;
    absl::flat_hash_map<std::string, std::string> keys_;  // subject -> key
  };

  // Opens (creating) the store in `dir`. `master_key` (32 bytes) wraps every
  // key; FAILED_PRECONDITION when it is not the key the store was made with.
  // `memtable_bytes`: RocksDB's write buffer (see key_store.cc).
  static absl::StatusOr<std::unique_ptr<KeyStore>> Open(const std::string& dir,
                                                        std::string master_key,
                                                        rocksdb::Env* env = nullptr,
                                                        size_t memtable_bytes = kMemtableBytes);
  static constexpr size_t kMemtableBytes = 4 << 20;
  ~KeyStore();
  KeyStore(const KeyStore&) = delete;
  KeyStore& operator=(const KeyStore&) = delete;

  // The data key of `subject`; a new one (kept in `pending`) when it has
  // none, or when the caller knows it can have none yet (`fresh`: a case
  // that does not exist; a key left by a write that failed after its key
  // was persisted is then replaced, never used). FAILED_PRECONDITION when
  // the subject's key was destroyed.
  absl::StatusOr<std::string> KeyFor(const std::string& subject, Pending* pending,
                                     bool fresh = false);
  // The data key of `subject`; NOT_FOUND when it has none: never made, or
  // destroyed.
  absl::StatusOr<std::string> Find(const std::string& subject);
  // Writes the keys of `pending` in one synced write, then forgets them.
  absl::Status Persist(Pending* pending);
  // Destroys the key of `subject` durably (see above). Destroying a key
  // that is not there is not an error: a retry after a crash.
  absl::Status Destroy(const std::string& subject);
  // The same for many keys at once: one synced delete, one flush and one
  // compaction of the range they span. `remember`: keep refusing KeyFor
  // for these subjects until the store closes (a subject asked for again
  // only by what went with it, such as a dead letter, need not be).
  absl::Status DestroyAll(const std::vector<std::string>& subjects, bool remember = true);
  // A key slot: a key made ahead under SlotSubject(number), durable before
  // it is handed out, and handed out once. Slots made but not handed out
  // when the store closes are never used (nor destroyed: nothing is sealed
  // under them).
  struct Slot {
    uint64_t number = 0;
    std::string key;
  };
  static constexpr size_t kSlotBatch = 1024;
  // The next slot of the pool; when it is empty, kSlotBatch new ones are
  // made first, in one synced write.
  absl::StatusOr<Slot> TakeSlot();
  // Gives back a slot taken but certainly not used (nothing sealed under it
  // was written): the next TakeSlot hands it out again.
  void ReturnSlot(Slot slot);
  // Makes the next slot handed out come after `last`, durably, when the
  // store has not got that far: records sealed under slots this store
  // never made (it was restored from before them, or made afresh beside a
  // copy of the log taken without keys) name slots it must not make again.
  // Whether it had to.
  absl::StatusOr<bool> SkipSlotsThrough(uint64_t last);

  // A copy of the store in `dir` (which must not exist): RocksDB checkpoint.
  absl::Status Checkpoint(const std::string& dir);

  size_t cached() const;

 private:
  KeyStore(std::unique_ptr<rocksdb::DB> db, std::string master_key);
  absl::StatusOr<std::string> Wrap(const std::string& subject, const std::string& key) const;
  absl::StatusOr<std::string> Unwrap(const std::string& subject, const std::string& wrapped) const;
  absl::Status MakeSlots() ABSL_EXCLUSIVE_LOCKS_REQUIRED(pool_mu_);

  const std::unique_ptr<rocksdb::DB> db_;
  const std::string master_;
  mutable absl::Mutex mu_;
  // Unwrapped keys, bounded: cleared when it reaches kCacheMax.
  absl::flat_hash_map<std::string, std::string> cache_ ABSL_GUARDED_BY(mu_);
  // Destroyed since open: never served from a read that raced the delete.
  absl::flat_hash_set<std::string> destroyed_ ABSL_GUARDED_BY(mu_);
  // Before mu_ when both are held. A refill holds it through its synced
  // write: takers wait for it rather than make a batch each.
  absl::Mutex pool_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::vector<Slot> pool_ ABSL_GUARDED_BY(pool_mu_);  // handed out from the back
  uint64_t next_slot_ ABSL_GUARDED_BY(pool_mu_) = 1;  // the first never made
};

}  // namespace gridcase::privacy

#endif  // GRIDCASE_ENGINE_PRIVACY_KEY_STORE_H_
