#include "engine/erasure.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/common/time.h"
#include "engine/domain/personal.h"
#include "engine/domain/validate.h"
#include "engine/partition/pending_answers.h"
#include "engine/storage/keys.h"
#include "rocksdb/db.h"

namespace gridcase {
namespace {

constexpr char kErasurePrefix[] = "~erase~";
// After kErasurePrefix, for a directory person: no case id starts with '~'.
constexpr char kPersonMark[] = "~person~";
constexpr size_t kCaseIdBytesMax = 256;

size_t CodePoints(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xc0) != 0x80;
  return n;
}

absl::Status CheckRequest(const ErasureRequest& r) {
  if (r.case_id.empty() == r.person_id.empty()) {
    return absl::InvalidArgumentError(
        "give exactly one of case_id (a resident) and person_id (a person of the directory)");
  }
  if (!r.case_id.empty() &&
      (r.case_id[0] == kReservedCasePrefix || !IsValidId(r.case_id, kCaseIdBytesMax))) {
    return absl::InvalidArgumentError("case_id: a resident's case id is required");
  }
  if (!r.person_id.empty() && !IsValidId(r.person_id, ValidationLimits{}.id_bytes_max)) {
    return absl::InvalidArgumentError("person_id: not a valid id");
  }
  const size_t n = CodePoints(r.reason);
  if (n < kErasureReasonMin || n > kErasureReasonMax) {
    return absl::InvalidArgumentError(absl::StrCat("reason: ", n, " characters; ",
                                                   kErasureReasonMin, " to ", kErasureReasonMax,
                                                   " required, without personal data"));
  }
  if (r.legal_basis.empty() || r.legal_basis.size() > kLegalBasisMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("legal_basis: required, at most ", kLegalBasisMax, " bytes"));
  }
  return absl::OkStatus();
}

v1::SubmitRequest ErasureSubmission(const ErasureRequest& request, const std::string& event_id,
                                    const std::string& case_id, int64_t now_us) {
  v1::SubmitRequest submit;
  v1::Event* e = submit.mutable_event();
  e->set_event_id(event_id);
  e->set_case_id(case_id);
  *e->mutable_occurred_at() = FromMicros(now_us);
  *e->mutable_actor() = request.actor;
  e->set_channel(v1::CHANNEL_SYSTEM);
  v1::Erasure* erasure = e->mutable_erasure();
  erasure->set_reason(request.reason);
  erasure->set_legal_basis(request.legal_basis);
  erasure->set_requested_by(request.requested_by);
  erasure->set_person_id(request.person_id);
  submit.set_submitted_by(request.requested_by);
  return submit;
}

}  // namespace

std::string ErasureEventId(const std::string& case_id) {
  return absl::StrCat(kErasurePrefix, case_id);
}

std::string PersonErasureEventId(const std::string& person_id) {
  return absl::StrCat(kErasurePrefix, kPersonMark, person_id);
}

absl::Status Erasures::CheckSealed(const PartitionStore& store, const std::string& case_id,
                                   const std::string& subject) const {
  uint64_t after = 0;
  bool more = true;
  while (more) {
    std::vector<v1::Record> page;
    if (auto st = store.ReadTimeline(case_id, CaseVersion(after), 1000, &page, &more); !st.ok()) {
      return st;
    }
    for (const v1::Record& r : page) {
      after = r.case_version();
      if (SubjectOf(r.event()) != subject || !HasPersonalValues(r.event())) continue;
      return absl::FailedPreconditionError(absl::StrCat(
          subject, " has personal fields stored in clear at position ", r.position(),
          " (written before records were sealed): erasing the key would not erase them; convert "
          "the data directory with `gridcase storage seal` (docs/privacy.md)"));
    }
    if (page.empty()) break;
  }
  return absl::OkStatus();
}

absl::StatusOr<ErasureResult> Erasures::Append(PartitionId home, v1::SubmitRequest submit,
                                               const std::function<uint64_t()>& erased_at) {
  ErasureResult result;
  result.partition = home.value();
  if (uint64_t at = erased_at(); at != 0) {
    result.position = at;
    result.duplicate = true;
    return result;
  }
  absl::StatusOr<v1::SubmitResponse> answer = absl::UnknownError("no answer");
  PendingAnswers answers([&answer](const absl::StatusOr<v1::SubmitResponse>& r) {
    answer = r;
    return r.status();
  });
  partitions_->sequencer(home).Submit(std::move(submit), answers.Track());
  if (auto st = answers.Wait(); !st.ok()) {
    // Another erasure came first (refused as erased, or as its event id
    // with other content): its answer, as a duplicate.
    if (uint64_t at = erased_at(); at != 0) {
      result.position = at;
      result.duplicate = true;
      return result;
    }
    return st;
  }
  result.position = answer->position();
  result.duplicate = answer->duplicate();
  return result;
}

absl::StatusOr<std::vector<std::string>> Erasures::CaseKeySubjects(
    const PartitionStore& store, const std::string& case_id) const {
  std::vector<std::string> subjects = {CaseSubject(case_id)};
  auto state = store.ReadCase(case_id);
  if (!state.ok()) return state.status();
  if (state->has_value() && (*state)->key_slot() != 0) {
    subjects.push_back(SlotSubject((*state)->key_slot()));
  }
  return subjects;
}

absl::Status Erasures::DestroyKeys(const std::vector<std::string>& subjects,
                                   const std::string& what, const ErasureResult& result) {
  // The record is durable: now the keys go (again, for a duplicate: a
  // crash may have come between).
  if (auto st = keys_->DestroyAll(subjects); !st.ok()) {
    return absl::UnavailableError(absl::StrCat(what, " is erased at position ", result.position,
                                               " but its key could not be destroyed yet (",
                                               st.message(),
                                               "); it will be at the next start, or ask again"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ErasureResult> Erasures::Erase(const ErasureRequest& request) {
  if (keys_ == nullptr) {
    return absl::FailedPreconditionError(
        "this server seals no personal data (it runs without a master key): nothing can be "
        "erased");
  }
  if (auto st = CheckRequest(request); !st.ok()) return st;
  if (!request.person_id.empty()) return ErasePerson(request);
  const PartitionId home = partitions_->PartitionOf(request.case_id);
  const PartitionStore& store = partitions_->store(home);
  auto state = store.ReadCase(request.case_id);
  if (!state.ok()) return state.status();
  if (!state->has_value()) {
    return absl::NotFoundError(absl::StrCat("case ", request.case_id, " does not exist"));
  }
  const std::string subject = CaseSubject(request.case_id);
  if ((*state)->erased_at() == 0) {
    if (auto st = CheckSealed(store, request.case_id, subject); !st.ok()) return st;
  }
  auto result = Append(home,
                       ErasureSubmission(request, ErasureEventId(request.case_id), request.case_id,
                                         clock_->NowMicros()),
                       [&store, &request] {
                         auto now = store.ReadCase(request.case_id);
                         return now.ok() && now->has_value() ? (*now)->erased_at() : uint64_t{0};
                       });
  if (!result.ok()) return result.status();
  auto subjects = CaseKeySubjects(store, request.case_id);
  if (!subjects.ok()) {
    return absl::UnavailableError(
        absl::StrCat("case ", request.case_id, " is erased at position ", result->position,
                     " but which key to destroy could not be read yet (",
                     subjects.status().message(), "); it will be at the next start, or ask again"));
  }
  if (auto st = DestroyKeys(*subjects, absl::StrCat("case ", request.case_id), *result); !st.ok()) {
    return st;
  }
  if (auto letters = DestroyLetterKeys(home, {request.case_id}); !letters.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "case ", request.case_id, " is erased at position ", result->position,
        " but the keys of its dead letters could not be destroyed yet (",
        letters.status().message(), "); they will be at the next start, or ask again"));
  }
  return result;
}

absl::StatusOr<size_t> Erasures::DestroyLetterKeys(
    PartitionId p, const absl::flat_hash_set<std::string>& case_ids) {
  std::vector<std::pair<std::string, std::string>> rows;
  if (auto st = partitions_->store(p).ScanMeta(keys::kMetaDeadLetterPrefix, SIZE_MAX, &rows);
      !st.ok()) {
    return st;
  }
  std::vector<std::string> subjects;
  for (const auto& [key, value] : rows) {
    v1::DeadLetter letter;
    if (!letter.ParseFromString(value)) {
      return absl::DataLossError(absl::StrCat("partition ", p.value(), ": a dead letter (",
                                              key.size(), "-byte key) does not parse"));
    }
    if (!letter.has_sealed() || !case_ids.contains(letter.case_id())) continue;
    auto found = keys_->Find(letter.sealed().subject());
    if (absl::IsNotFound(found.status())) continue;
    if (!found.ok()) return found.status();
    subjects.push_back(letter.sealed().subject());
  }
  if (auto st = keys_->DestroyAll(subjects, /*remember=*/false); !st.ok()) return st;
  return subjects.size();
}

absl::StatusOr<ErasureResult> Erasures::ErasePerson(const ErasureRequest& request) {
  auto person = directory_->FindPerson(request.person_id);
  if (!person) {
    return absl::NotFoundError(absl::StrCat("person ", request.person_id, " does not exist"));
  }
  const PartitionId home = partitions_->PartitionOf(kDirectoryCaseId);
  const std::string subject = PersonSubject(request.person_id);
  if (person->erased_at == 0) {
    if (auto st = CheckSealed(partitions_->store(home), kDirectoryCaseId, subject); !st.ok()) {
      return st;
    }
  }
  auto result = Append(home,
                       ErasureSubmission(request, PersonErasureEventId(request.person_id),
                                         kDirectoryCaseId, clock_->NowMicros()),
                       [this, &request] {
                         auto now = directory_->FindPerson(request.person_id);
                         return now ? now->erased_at : uint64_t{0};
                       });
  if (!result.ok()) return result.status();
  if (auto st = DestroyKeys({subject}, absl::StrCat("person ", request.person_id), *result);
      !st.ok()) {
    return st;
  }
  return result;
}

absl::StatusOr<size_t> Erasures::FinishInterrupted() {
  if (keys_ == nullptr) return size_t{0};
  size_t destroyed = 0;
  for (uint32_t i = 0; i < partitions_->count(); ++i) {
    const PartitionStore& store = partitions_->store(PartitionId(i));
    std::unique_ptr<rocksdb::Iterator> it = store.NewIterator(keys::Cf::kDedup);
    std::vector<std::string> subjects;
    absl::flat_hash_set<std::string> erased_cases;
    for (it->Seek(kErasurePrefix); it->Valid() && it->key().starts_with(kErasurePrefix);
         it->Next()) {
      std::string rest = it->key().ToString().substr(sizeof(kErasurePrefix) - 1);
      if (absl::StartsWith(rest, kPersonMark)) {
        subjects.push_back(PersonSubject(rest.substr(sizeof(kPersonMark) - 1)));
      } else {
        auto of_case = CaseKeySubjects(store, rest);
        if (!of_case.ok()) return of_case.status();
        for (std::string& subject : *of_case) subjects.push_back(std::move(subject));
        erased_cases.insert(std::move(rest));
      }
    }
    if (!it->status().ok()) {
      return absl::UnavailableError(
          absl::StrCat("partition ", i, ": reading erasures: ", it->status().ToString()));
    }
    for (const std::string& subject : subjects) {
      auto key = keys_->Find(subject);
      if (absl::IsNotFound(key.status())) continue;
      if (auto st = keys_->Destroy(subject); !st.ok()) return st;
      ++destroyed;
    }
    if (erased_cases.empty()) continue;
    auto letters = DestroyLetterKeys(PartitionId(i), erased_cases);
    if (!letters.ok()) return letters.status();
    destroyed += *letters;
  }
  return destroyed;
}

}  // namespace gridcase
