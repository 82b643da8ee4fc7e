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
constexpr size_t kCaseIdBytesMax = 256;

size_t CodePoints(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xc0) != 0x80;
  return n;
}

std::string SubjectOfCase(const std::string& case_id) { return absl::StrCat("case:", case_id); }

absl::Status CheckRequest(const ErasureRequest& r) {
  if (r.case_id.empty() || r.case_id[0] == kReservedCasePrefix ||
      !IsValidId(r.case_id, kCaseIdBytesMax)) {
    return absl::InvalidArgumentError("case_id: a resident's case id is required");
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

}  // namespace

std::string ErasureEventId(const std::string& case_id) {
  return absl::StrCat(kErasurePrefix, case_id);
}

absl::Status Erasures::CheckSealed(const PartitionStore& store, const std::string& case_id) const {
  uint64_t after = 0;
  bool more = true;
  while (more) {
    std::vector<v1::Record> page;
    if (auto st = store.ReadTimeline(case_id, CaseVersion(after), 1000, &page, &more); !st.ok()) {
      return st;
    }
    for (const v1::Record& r : page) {
      after = r.case_version();
      if (!HasPersonalValues(r.event())) continue;
      return absl::FailedPreconditionError(absl::StrCat(
          "case ", case_id, " holds personal fields stored in clear at position ", r.position(),
          " (written before records were sealed): erasing the key would not erase them"));
    }
    if (page.empty()) break;
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
  const PartitionId home = partitions_->PartitionOf(request.case_id);
  const PartitionStore& store = partitions_->store(home);
  auto state = store.ReadCase(request.case_id);
  if (!state.ok()) return state.status();
  if (!state->has_value()) {
    return absl::NotFoundError(absl::StrCat("case ", request.case_id, " does not exist"));
  }
  if ((*state)->erased_at() == 0) {
    if (auto st = CheckSealed(store, request.case_id); !st.ok()) return st;
  }

  v1::SubmitRequest submit;
  v1::Event* e = submit.mutable_event();
  e->set_event_id(ErasureEventId(request.case_id));
  e->set_case_id(request.case_id);
  *e->mutable_occurred_at() = FromMicros(clock_->NowMicros());
  *e->mutable_actor() = request.actor;
  e->set_channel(v1::CHANNEL_SYSTEM);
  v1::Erasure* erasure = e->mutable_erasure();
  erasure->set_reason(request.reason);
  erasure->set_legal_basis(request.legal_basis);
  erasure->set_requested_by(request.requested_by);
  submit.set_submitted_by(request.requested_by);

  ErasureResult result;
  result.partition = home.value();
  if ((*state)->erased_at() != 0) {
    result.position = (*state)->erased_at();
    result.duplicate = true;
  } else {
    absl::StatusOr<v1::SubmitResponse> answer = absl::UnknownError("no answer");
    PendingAnswers answers([&answer](const absl::StatusOr<v1::SubmitResponse>& r) {
      answer = r;
      return r.status();
    });
    partitions_->sequencer(home).Submit(std::move(submit), answers.Track());
    if (auto st = answers.Wait(); !st.ok()) {
      // Another erasure of the case came first: its answer, as a duplicate.
      if (absl::IsFailedPrecondition(st) && absl::StrContains(st.message(), "was erased at")) {
        auto now = store.ReadCase(request.case_id);
        if (now.ok() && now->has_value() && (*now)->erased_at() != 0) {
          result.position = (*now)->erased_at();
          result.duplicate = true;
        } else {
          return st;
        }
      } else {
        return st;
      }
    } else {
      result.position = answer->position();
      result.duplicate = answer->duplicate();
    }
  }
  // The record is durable: now the key goes (again, for a duplicate: a
  // crash may have come between).
  if (auto st = keys_->Destroy(SubjectOfCase(request.case_id)); !st.ok()) {
    return absl::UnavailableError(
        absl::StrCat("case ", request.case_id, " is erased at position ", result.position,
                     " but its key could not be destroyed yet (", st.message(),
                     "); it will be at the next start, or ask again"));
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
    for (it->Seek(kErasurePrefix); it->Valid() && it->key().starts_with(kErasurePrefix);
         it->Next()) {
      subjects.push_back(SubjectOfCase(it->key().ToString().substr(sizeof(kErasurePrefix) - 1)));
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
  }
  return destroyed;
}

}  // namespace gridcase
