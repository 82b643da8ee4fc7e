// Erasure of a person's personal data (crypto-shredding): an erasure
// record appended to the person's case, then the case's key destroyed
// (privacy/key_store.h), so that every personal field the case ever held —
// sealed under that key in records, checkpoints and the change feed — can
// no longer be read, while every record, hash and signed head stays as it
// was and the chain still verifies. The case becomes a tombstone (its
// state keeps ids, place, versions and times; the workflow's appliers) and
// takes no more events. A person of the directory is erased the same way:
// the record goes to the directory case, the key is "person:<id>", and the
// directory keeps their id, role and unit with name and phone gone.
// docs/privacy.md.
//
// Thread-safety: every method may be called from any thread.
#ifndef GRIDCASE_ENGINE_ERASURE_H_
#define GRIDCASE_ENGINE_ERASURE_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "engine/common/clock.h"
#include "engine/domain/directory.h"
#include "engine/partition/partition_set.h"
#include "engine/privacy/key_store.h"
#include "gridcase/v1/event.pb.h"

namespace gridcase {

struct ErasureRequest {
  // Exactly one: a resident's case, or a person of the directory.
  std::string case_id;
  std::string person_id;
  std::string reason;        // 20 to 500 code points; outlives the key
  std::string legal_basis;   // 1 to 200 bytes; outlives the key
  v1::Actor actor;           // the privacy officer
  std::string requested_by;  // their principal, recorded as the submitter
};

struct ErasureResult {
  uint32_t partition = 0;
  uint64_t position = 0;   // of the erasure record
  bool duplicate = false;  // the case was erased before: that erasure's position
};

inline constexpr size_t kErasureReasonMin = 20;
inline constexpr size_t kErasureReasonMax = 500;
inline constexpr size_t kLegalBasisMax = 200;

// The event id of a case's erasure: one per case, so a second is a duplicate.
std::string ErasureEventId(const std::string& case_id);
// The event id of a directory person's erasure.
std::string PersonErasureEventId(const std::string& person_id);

class Erasures {
 public:
  // `keys` is nullptr when the engine seals nothing: then nothing can be
  // erased.
  Erasures(PartitionSet* partitions, privacy::KeyStore* keys, const Directory* directory,
           const Clock* clock)
      : partitions_(partitions), keys_(keys), directory_(directory), clock_(clock) {}

  // INVALID_ARGUMENT for a bad request; NOT_FOUND for a case or person that
  // does not exist; FAILED_PRECONDITION when the engine seals nothing or
  // the case or person has personal fields stored in clear (written before
  // sealing); what the sequencer answers otherwise. Waits for the record to
  // be durable and the key destroyed.
  absl::StatusOr<ErasureResult> Erase(const ErasureRequest& request);

  // At open, before serving: the keys of cases (and of their dead letters)
  // whose erasure record is durable but whose key outlived a crash are
  // destroyed now.
  absl::StatusOr<size_t> FinishInterrupted();

 private:
  absl::StatusOr<ErasureResult> ErasePerson(const ErasureRequest& request);
  absl::Status CheckSealed(const PartitionStore& store, const std::string& case_id,
                           const std::string& subject) const;
  // Appends `submit` and waits; `erased_at` reads the position of an
  // erasure that came first (0 while there is none).
  absl::StatusOr<ErasureResult> Append(PartitionId home, v1::SubmitRequest submit,
                                       const std::function<uint64_t()>& erased_at);
  absl::Status DestroyKeys(const std::vector<std::string>& subjects, const std::string& what,
                           const ErasureResult& result);
  // The subjects whose keys seal case `case_id`: its key slot (read from
  // its state: after the erasure, which keeps it) and, for a case sealed
  // before slots, the key of its own name.
  absl::StatusOr<std::vector<std::string>> CaseKeySubjects(const PartitionStore& store,
                                                           const std::string& case_id) const;
  // Destroys the keys of partition `p`'s dead letters that name one of
  // `case_ids` (and still have a key): what a stream sent about a case
  // goes with it. Returns how many.
  absl::StatusOr<size_t> DestroyLetterKeys(PartitionId p,
                                           const absl::flat_hash_set<std::string>& case_ids);

  PartitionSet* const partitions_;
  privacy::KeyStore* const keys_;
  const Directory* const directory_;
  const Clock* const clock_;
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_ERASURE_H_
