#include "engine/streams/stream_ledger.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/storage/keys.h"

namespace gridcase {

PartitionId StreamLedger::RouteOf(const absl::StatusOr<v1::SubmitRequest>& request) const {
  if (request.ok() && IsValidId(request->event().case_id(), limits_.id_bytes_max)) {
    return partitions_->PartitionOf(request->event().case_id());
  }
  return PartitionId(0);
}

void StreamLedger::SubmitFromStream(absl::StatusOr<v1::SubmitRequest> request, StreamOrigin origin,
                                    SubmitCallback answer) {
  SubmitCallback done = std::move(answer);
  if (counts_ != nullptr) {
    done = [counts = counts_,
            answer = std::move(done)](absl::StatusOr<v1::SubmitResponse> r) mutable {
      counts->Count(SubmitSource::kStream, r.status().code());
      std::move(answer)(std::move(r));
    };
  }
  const PartitionId route = RouteOf(request);
  absl::Status refusal = request.status();
  if (refusal.ok()) {
    refusal = ValidateEvent(request->event(), limits_, clock_->NowMicros());
  }
  if (refusal.ok() && partitions_->count() > 1) {
    refusal = partitions_->CheckEventIdElsewhere(request->event(), route);
  }
  if (!refusal.ok() && !IsDecidedRefusal(refusal)) {
    std::move(done)(refusal);  // could not look: nothing decided
    return;
  }
  partitions_->sequencer(route).SubmitFromStream(
      request.ok() ? std::move(*request) : v1::SubmitRequest(), std::move(refusal),
      std::move(origin), std::move(done));
}

absl::Status StreamLedger::StreamOffsets(PartitionId p, const std::string& source_prefix,
                                         std::map<std::string, int64_t>* out) const {
  std::vector<std::pair<std::string, std::string>> rows;
  const std::string prefix = keys::StreamOffsetKey(source_prefix);
  if (auto st = partitions_->store(p).ScanMeta(prefix, SIZE_MAX, &rows); !st.ok()) return st;
  for (const auto& [key, value] : rows) {
    if (value.size() != 8) return absl::DataLossError("a stream offset is not 8 bytes");
    (*out)[key.substr(keys::kMetaStreamOffsetPrefix.size())] =
        static_cast<int64_t>(keys::DecodeFixed64Be(value));
  }
  return absl::OkStatus();
}

absl::Status StreamLedger::DeadLetters(
    PartitionId p, size_t limit, std::vector<std::pair<std::string, v1::DeadLetter>>* out) const {
  std::vector<std::pair<std::string, std::string>> rows;
  if (auto st = partitions_->store(p).ScanMeta(keys::kMetaDeadLetterPrefix, limit, &rows);
      !st.ok()) {
    return st;
  }
  for (auto& [key, value] : rows) {
    v1::DeadLetter letter;
    if (!letter.ParseFromString(value)) return absl::DataLossError("a dead letter does not parse");
    out->emplace_back(std::move(key), std::move(letter));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> StreamLedger::CountDeadLetters(PartitionId p) const {
  return partitions_->store(p).CountMeta(keys::kMetaDeadLetterPrefix);
}

absl::Status StreamLedger::OpenDeadLetter(PartitionId p, v1::DeadLetter* letter) const {
  if (!letter->has_sealed()) return absl::OkStatus();
  if (sealer_ == nullptr) {
    return absl::FailedPreconditionError(
        "a dead letter is sealed, and this server runs without a master key");
  }
  return sealer_->OpenLetter(p.value(), letter);
}

absl::Status StreamLedger::RemoveDeadLetters(PartitionId p, const std::vector<std::string>& keys) {
  PartitionStore& store = partitions_->store(p);
  rocksdb::WriteBatch batch;
  std::vector<std::string> subjects;
  for (const auto& key : keys) {
    if (!absl::StartsWith(key, keys::kMetaDeadLetterPrefix)) {
      return absl::InvalidArgumentError("not a dead letter's key");
    }
    batch.Delete(store.cf(keys::Cf::kMeta), key);
    if (sealer_ == nullptr) continue;
    auto value = store.ReadMeta(key);
    if (!value.ok()) return value.status();
    v1::DeadLetter letter;
    if (!value->has_value()) continue;
    if (!letter.ParseFromString(**value))
      return absl::DataLossError("a dead letter does not parse");
    if (letter.has_sealed()) subjects.push_back(letter.sealed().subject());
  }
  // Keys first: a crash in between leaves a letter that is handed on again
  // with its bytes withheld, never bytes with no letter to remove them.
  if (!subjects.empty()) {
    // Not remembered: a letter's key is asked for by its letter only,
    // which goes with it, and a flood of poison messages would otherwise
    // grow the key store's memory of destroyed subjects without bound.
    if (auto st = sealer_->keys()->DestroyAll(subjects, /*remember=*/false); !st.ok()) return st;
  }
  return store.Write(&batch);
}

absl::StatusOr<std::optional<uint64_t>> StreamLedger::ReadExt(PartitionId p,
                                                              const std::string& name) const {
  auto value = partitions_->store(p).ReadMeta(absl::StrCat(keys::kMetaExtPrefix, name));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::nullopt;
  if ((*value)->size() != 8) {
    return absl::DataLossError(
        absl::StrCat("the saved position ", name, " of partition ", p.value(), " is not 8 bytes"));
  }
  return keys::DecodeFixed64Be(**value);
}

absl::Status StreamLedger::WriteExt(PartitionId p, const std::string& name, uint64_t value) {
  PartitionStore& store = partitions_->store(p);
  rocksdb::WriteBatch batch;
  batch.Put(store.cf(keys::Cf::kMeta), absl::StrCat(keys::kMetaExtPrefix, name),
            keys::EncodeFixed64Be(value));
  return store.Write(&batch);
}

absl::Status StreamLedger::ReadLog(PartitionId p, Position from, size_t limit,
                                   std::vector<v1::LogEntry>* out) const {
  return partitions_->store(p).ReadLog(from, limit, out);
}

absl::StatusOr<uint64_t> StreamLedger::LastPosition(PartitionId p) const {
  auto last = partitions_->store(p).ReadLastRecord();
  if (!last.ok()) return last.status();
  return last->has_value() ? (*last)->record.position() : 0;
}

}  // namespace gridcase
