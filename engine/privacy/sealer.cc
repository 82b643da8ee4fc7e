#include "engine/privacy/sealer.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/domain/personal.h"
#include "engine/privacy/aead.h"

namespace gridcase::privacy {
namespace {

std::string Aad(uint32_t partition, uint64_t position, const std::string& subject) {
  std::string aad = "gridcase-sealed-v1";
  for (int i = 3; i >= 0; --i) aad.push_back(static_cast<char>((partition >> (8 * i)) & 0xff));
  for (int i = 7; i >= 0; --i) aad.push_back(static_cast<char>((position >> (8 * i)) & 0xff));
  aad += subject;
  return aad;
}

// A letter's subject names its partition, source and offset: its place.
std::string LetterAad(const std::string& subject) {
  return absl::StrCat("gridcase-letter-v1", subject);
}

}  // namespace

std::string RecordSealer::LetterSubject(uint32_t partition, const std::string& source,
                                        int64_t offset) {
  return absl::StrCat("letter:", partition, "/", source, "/", offset);
}

absl::Status RecordSealer::SealLetter(uint32_t partition, v1::DeadLetter* letter,
                                      KeyStore::Pending* pending) const {
  const std::string subject = LetterSubject(partition, letter->source(), letter->offset());
  // A letter's key is made for it alone: no earlier one can be in use.
  auto key = keys_->KeyFor(subject, pending, /*fresh=*/true);
  if (!key.ok()) return key.status();
  auto nonce = RandomBytes(kNonceBytes);
  if (!nonce.ok()) return nonce.status();
  auto sealed = privacy::Seal(*key, *nonce, LetterAad(subject), letter->original());
  if (!sealed.ok()) return sealed.status();
  letter->clear_original();
  v1::Sealed* s = letter->mutable_sealed();
  s->set_subject(subject);
  s->set_nonce(*std::move(nonce));
  s->set_ciphertext(*std::move(sealed));
  return absl::OkStatus();
}

absl::Status RecordSealer::OpenLetter(uint32_t partition, v1::DeadLetter* letter) const {
  if (!letter->has_sealed()) return absl::OkStatus();
  const v1::Sealed& s = letter->sealed();
  const std::string subject = LetterSubject(partition, letter->source(), letter->offset());
  if (s.subject() != subject) {
    return absl::DataLossError(absl::StrCat("the dead letter of ", letter->source(), " offset ",
                                            letter->offset(), " is sealed as another's"));
  }
  auto key = keys_->Find(subject);
  if (absl::IsNotFound(key.status())) {
    return absl::NotFoundError(absl::StrCat("the dead letter of ", letter->source(), " offset ",
                                            letter->offset(), " cannot be opened: its key is gone",
                                            letter->case_id().empty() ? "" : " (case erased?)"));
  }
  if (!key.ok()) return key.status();
  auto plain = privacy::Open(*key, s.nonce(), LetterAad(subject), s.ciphertext());
  if (!plain.ok()) {
    return absl::DataLossError(absl::StrCat("the dead letter of ", letter->source(), " offset ",
                                            letter->offset(),
                                            " does not open: ", plain.status().message()));
  }
  letter->set_original(*std::move(plain));
  letter->clear_sealed();
  return absl::OkStatus();
}

absl::StatusOr<std::string> RecordSealer::KeyFor(const v1::Event& event, KeyStore::Pending* pending,
                                                 bool fresh) const {
  const std::string subject = SubjectOf(event);
  if (subject.empty()) return std::string();
  return keys_->KeyFor(subject, pending, fresh);
}

absl::StatusOr<RecordSealer::SealingKey> RecordSealer::KeyForSubmission(
    const v1::Event& event, const v1::CaseState* state, KeyStore::Pending* pending) const {
  SealingKey out;
  out.subject = SubjectOf(event);
  if (out.subject.empty()) return out;
  if (!absl::StartsWith(out.subject, "case:")) {
    auto key = keys_->KeyFor(out.subject, pending);
    if (!key.ok()) return key.status();
    out.key = *std::move(key);
    return out;
  }
  if (state != nullptr && state->key_slot() != 0) {
    out.subject = SlotSubject(state->key_slot());
    auto key = keys_->Find(out.subject);
    if (absl::IsNotFound(key.status())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "case ", event.case_id(), ": its key (", out.subject, ") is destroyed: it was erased"));
    }
    if (!key.ok()) return key.status();
    out.key = *std::move(key);
    return out;
  }
  if (state != nullptr) {
    // Sealed before key slots, under a key of its own name; or nothing of
    // it sealed yet.
    auto key = keys_->Find(out.subject);
    if (key.ok()) {
      out.key = *std::move(key);
      return out;
    }
    if (!absl::IsNotFound(key.status())) return key.status();
  }
  auto slot = keys_->TakeSlot();
  if (!slot.ok()) return slot.status();
  out.subject = SlotSubject(slot->number);
  out.key = slot->key;
  out.taken = *std::move(slot);
  return out;
}

absl::StatusOr<bool> RecordSealer::Seal(const std::string& key, const std::string& subject,
                                        v1::Record* record, v1::Event* personal) {
  personal->Clear();
  if (subject.empty() || !SplitPersonal(record->mutable_event(), personal)) return false;
  auto nonce = RandomBytes(kNonceBytes);
  absl::StatusOr<std::string> sealed =
      nonce.ok() ? privacy::Seal(key, *nonce, Aad(record->partition(), record->position(), subject),
                                 personal->SerializeAsString())
                 : nonce.status();
  if (!sealed.ok()) {
    MergePersonal(*personal, record->mutable_event());
    return sealed.status();
  }
  v1::Sealed* s = record->mutable_sealed();
  s->set_subject(subject);
  s->set_nonce(*std::move(nonce));
  s->set_ciphertext(*std::move(sealed));
  return true;
}

void RecordSealer::Unseal(const v1::Event& personal, v1::Record* record) {
  record->clear_sealed();
  MergePersonal(personal, record->mutable_event());
}

absl::Status RecordSealer::Open(v1::Record* record) const {
  if (!record->has_sealed()) return absl::OkStatus();
  const v1::Sealed& s = record->sealed();
  auto key = keys_->Find(s.subject());
  if (absl::IsNotFound(key.status())) {
    return absl::NotFoundError(absl::StrCat(
        "the personal fields of ", s.subject(), " at position ", record->position(),
        " cannot be opened: its key is not here (erased, or a copy taken without keys)"));
  }
  if (!key.ok()) return key.status();
  auto plain = privacy::Open(
      *key, s.nonce(), Aad(record->partition(), record->position(), s.subject()), s.ciphertext());
  if (!plain.ok()) {
    return absl::DataLossError(absl::StrCat("sealed fields of partition ", record->partition(),
                                            " position ", record->position(),
                                            " do not open: ", plain.status().message()));
  }
  v1::Event personal;
  if (!personal.ParseFromString(*plain)) {
    return absl::DataLossError(absl::StrCat("sealed fields of partition ", record->partition(),
                                            " position ", record->position(), " do not parse"));
  }
  Unseal(personal, record);
  return absl::OkStatus();
}

absl::Status OpenRecord(const RecordSealer* sealer, v1::Record* record) {
  if (sealer == nullptr || !record->has_sealed()) return absl::OkStatus();
  return sealer->Open(record);
}

absl::Status OpenForReading(const RecordSealer* sealer, v1::Record* record) {
  absl::Status st = OpenRecord(sealer, record);
  if (absl::IsNotFound(st) && absl::StartsWith(record->sealed().subject(), "person:")) {
    return absl::OkStatus();
  }
  return st;
}

}  // namespace gridcase::privacy
