// Sealed records: a record's personal fields (domain/personal.h) moved into
// `Record.sealed`, encrypted under the key of the person the record is
// about, before the record is hashed and stored; and put back on reads.
//
//   sealed.ciphertext := AES-256-GCM(key(subject), nonce,
//       aad = "gridcase-sealed-v1" fixed32be(partition) fixed64be(position) subject,
//       plain = an Event holding only the record's personal fields)
//
// The associated data binds the sealed bytes to their place in the log, so
// they cannot be moved to another record or another person; the fields'
// own names are inside the authenticated plaintext.
#ifndef GRIDCASE_ENGINE_PRIVACY_SEALER_H_
#define GRIDCASE_ENGINE_PRIVACY_SEALER_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "engine/privacy/key_store.h"
#include "gridcase/v1/case.pb.h"
#include "gridcase/v1/event.pb.h"

namespace gridcase::privacy {

class RecordSealer {
 public:
  explicit RecordSealer(KeyStore* keys) : keys_(keys) {}

  // The key that seals the records of `event`'s subject (a new one, kept
  // in `pending`, for a subject seen for the first time: it must be
  // persisted before any record sealed with it is written). Empty for an
  // event of the engine's own cases, which are not sealed.
  // `fresh`: the subject is known to have no key yet (KeyStore::KeyFor).
  absl::StatusOr<std::string> KeyFor(const v1::Event& event, KeyStore::Pending* pending,
                                     bool fresh = false) const;

  // What seals a submitted event's records: the key and the subject it is
  // kept under. A resident's case is sealed under its key slot
  // (`state->key_slot()`); under the key of its own name when it was
  // sealed before slots; and a case with neither (`state` null: it does
  // not exist yet) takes a new slot (`taken`): the caller records its
  // number in the case's state when it writes a record sealed with it,
  // and gives it back (KeyStore::ReturnSlot) when it writes none. A
  // directory record about a person uses KeyFor. Empty `key`: the event's
  // records are not sealed.
  struct SealingKey {
    std::string subject;
    std::string key;
    std::optional<KeyStore::Slot> taken;
  };
  absl::StatusOr<SealingKey> KeyForSubmission(const v1::Event& event, const v1::CaseState* state,
                                              KeyStore::Pending* pending) const;

  // Moves the personal fields of the stamped `record` into record->sealed,
  // encrypted with `key` and bound to `subject` (from KeyFor or
  // KeyForSubmission), and hands them to `*personal` to be put back
  // (Unseal) once the record's stored bytes are made. False when it has
  // none.
  static absl::StatusOr<bool> Seal(const std::string& key, const std::string& subject,
                                   v1::Record* record, v1::Event* personal);
  // Undoes Seal in memory, without decrypting: `personal` back in place.
  static void Unseal(const v1::Event& personal, v1::Record* record);

  // Decrypts a stored record's sealed fields back into it. NOT_FOUND
  // "erased" when its subject's key is gone; DATA_LOSS when the bytes do
  // not open under it.
  absl::Status Open(v1::Record* record) const;

  // Dead letters (v1::DeadLetter): a stream message that could not take
  // effect holds whatever its sender put in it, parsed or not, so its bytes
  // are sealed whole under a key of the letter's own, made in `pending`.
  // The key is destroyed once the letter is handed on (or its case is
  // erased), after which no copy of the letter anywhere can be read.
  static std::string LetterSubject(uint32_t partition, const std::string& source, int64_t offset);
  // Moves letter->original into letter->sealed.
  absl::Status SealLetter(uint32_t partition, v1::DeadLetter* letter,
                          KeyStore::Pending* pending) const;
  // Puts a sealed letter's bytes back into letter->original. NOT_FOUND
  // when its key is destroyed (its case erased; or handed on before a
  // crash); DATA_LOSS when the bytes do not open.
  absl::Status OpenLetter(uint32_t partition, v1::DeadLetter* letter) const;

  KeyStore* keys() const { return keys_; }

 private:
  KeyStore* const keys_;
};

// Opens `record` when `sealer` is set; a record without sealed fields, or
// no sealer, is left as it is.
absl::Status OpenRecord(const RecordSealer* sealer, v1::Record* record);
// The same for a reader of a whole case: a directory record about a person
// since erased stays sealed (the directory case itself is not erased).
absl::Status OpenForReading(const RecordSealer* sealer, v1::Record* record);

}  // namespace gridcase::privacy

#endif  // GRIDCASE_ENGINE_PRIVACY_SEALER_H_
