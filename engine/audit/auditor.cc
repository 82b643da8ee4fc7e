#include "engine/audit/auditor.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/audit/as_happened.h"
#include "engine/common/durable_file.h"
#include "engine/common/file_modes.h"
#include "engine/common/time.h"
#include "engine/domain/stamper.h"
#include "engine/domain/validate.h"
#include "engine/storage/data_dir.h"

namespace gridcase {

absl::Status Auditor::RecordsOf(const std::string& case_id, std::vector<v1::Record>* out) const {
  if (!IsValidId(case_id, ValidationLimits{}.id_bytes_max)) {
    return absl::InvalidArgumentError(
        "case_id: must be 1 to 128 bytes of printable ASCII without spaces");
  }
  const PartitionStore& store = partitions_->store(partitions_->PartitionOf(case_id));
  auto state = store.ReadCase(case_id);
  if (!state.ok()) return state.status();
  if (!state->has_value()) {
    return absl::NotFoundError(absl::StrCat("case ", case_id, " does not exist"));
  }
  if ((*state)->erased_at() != 0) {
    return absl::NotFoundError(
        absl::StrCat("case ", case_id, " was erased at position ", (*state)->erased_at()));
  }
  constexpr size_t kPage = 1000;
  CaseVersion after(0);
  for (bool more = true; more;) {
    std::vector<v1::Record> page;
    if (auto st = store.ReadTimeline(case_id, after, kPage, &page, &more); !st.ok()) return st;
    if (page.empty()) break;
    after = CaseVersion(page.back().case_version());
    for (v1::Record& r : page) {
      if (auto st = privacy::OpenForReading(sealer_, &r); !st.ok()) return st;
    }
    std::move(page.begin(), page.end(), std::back_inserter(*out));
  }
  return absl::OkStatus();
}

namespace {

// Walks a chain with `verify` and checks every signed head of `encoded`
// against it: its signature, and that the chain recomputed from the stored
// records reaches the same hash at its position. The first failure is
// reported like a broken link.
absl::StatusOr<ChainCheck> VerifyWithHeads(
    const std::vector<std::string>& encoded, const std::string& public_key_pem,
    const std::function<absl::StatusOr<ChainCheck>(
        const std::function<void(uint64_t, const std::string&)>&)>& verify) {
  std::map<uint64_t, SignedHead> signed_heads;  // by position
  for (const auto& e : encoded) {
    auto head = SignedHead::Decode(e);
    if (!head.ok()) return head.status();
    signed_heads[head->position] = *head;
  }
  std::map<uint64_t, std::string> recomputed;  // at the signed positions
  auto check = verify([&](uint64_t position, const std::string& hash) {
    if (signed_heads.count(position)) recomputed[position] = hash;
  });
  if (!check.ok()) return check.status();
  for (const auto& [position, head] : signed_heads) {
    auto valid = VerifySignature(public_key_pem, head.Message(), head.signature);
    if (!valid.ok()) return valid.status();
    std::string problem;
    if (!*valid) {
      problem = "the signature of the head signed at this position does not verify";
    } else if (!recomputed.count(position)) {
      problem =
          "a head was signed here, but the log no longer reaches this "
          "position intact";
    } else if (recomputed[position] != head.hash) {
      problem = "the log was rewritten: its hash here differs from the signed head";
    } else {
      ++check->signed_heads_verified;
      continue;
    }
    if (check->first_bad_position == 0 || position <= check->first_bad_position) {
      check->first_bad_position = position;
      check->problem = problem;
    }
    break;
  }
  return check;
}

// The signed heads of a converted log's old chain (kept in its origin):
// each signature verifies, and the last lies within the old log, at its
// head's hash when it was signed at the head. (The hashes before the head
// are gone with the old bytes; the conversion checked them, and
// `gridcase storage verify-conversion` can again with the keys.)
absl::Status VerifyOldHeads(const std::string& public_key_pem, ChainCheck* check) {
  const v1::ChainOrigin& origin = *check->origin;
  for (const std::string& e : origin.old_signed_heads()) {
    auto head = SignedHead::Decode(e);
    if (!head.ok()) return head.status();
    auto valid = VerifySignature(public_key_pem, head->Message(), head->signature);
    if (!valid.ok()) return valid.status();
    std::string problem;
    if (!*valid) {
      problem = "the signature of a head signed before the log's conversion does not verify";
    } else if (head->position > origin.old_records() ||
               (head->position == origin.old_records() && head->hash != origin.old_head_hash())) {
      problem = "a head signed before the log's conversion is not in the old log it names";
    } else {
      ++check->old_signed_heads_verified;
      continue;
    }
    if (check->first_bad_position == 0 || head->position <= check->first_bad_position) {
      check->first_bad_position = std::max<uint64_t>(head->position, 1);
      check->problem = problem;
    }
    break;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<ChainCheck>> Auditor::VerifyLog(
    const std::string& public_key_pem) const {
  std::vector<ChainCheck> out;
  for (const PartitionStore* store : partitions_->stores()) {
    std::vector<std::string> encoded;
    if (!public_key_pem.empty()) {
      if (auto st = store->ReadSignedHeads(&encoded); !st.ok()) return st;
    }
    auto check = VerifyWithHeads(encoded, public_key_pem,
                                 [store](const auto& each) { return store->VerifyChain(each); });
    if (!check.ok()) return check.status();
    if (check->origin.has_value() && !public_key_pem.empty()) {
      if (auto st = VerifyOldHeads(public_key_pem, &*check); !st.ok()) return st;
    }
    out.push_back(std::move(*check));
  }
  return out;
}

absl::StatusOr<ChainCheck> Auditor::VerifyAccessLog(const std::string& public_key_pem) const {
  std::vector<std::string> encoded;
  if (!public_key_pem.empty()) {
    if (auto st = access_->ReadSignedHeads(&encoded); !st.ok()) return st;
  }
  return VerifyWithHeads(encoded, public_key_pem,
                         [this](const auto& each) { return access_->VerifyChain(each); });
}

absl::StatusOr<size_t> Auditor::SignHeads(const HeadSigner& signer) {
  size_t signed_count = 0;
  for (uint32_t i = 0; i < partitions_->count(); ++i) {
    PartitionStore* store = &partitions_->store(PartitionId(i));
    auto [position, hash] = partitions_->sequencer(PartitionId(i)).committed_head();
    if (position.value() == 0) continue;
    std::vector<std::string> encoded;
    if (auto st = store->ReadSignedHeads(&encoded); !st.ok()) return st;
    if (!encoded.empty()) {
      auto last = SignedHead::Decode(encoded.back());
      if (last.ok() && last->position == position.value()) continue;  // nothing new
    }
    SignedHead head;
    head.partition = store->id().value();
    head.position = position.value();
    head.hash = hash;
    head.signed_at_us = clock_->NowMicros();
    head.signature = signer.Sign(head.Message());
    if (auto st = store->PutSignedHead(head.Encode(), head.position); !st.ok()) return st;
    ++signed_count;
  }
  auto signed_access = SignAccessHead(signer);
  if (!signed_access.ok()) return signed_access.status();
  return signed_count + *signed_access;
}

absl::StatusOr<size_t> Auditor::SignAccessHead(const HeadSigner& signer) {
  auto [position, hash] = access_->head();
  if (position == 0) return 0;
  std::vector<std::string> encoded;
  if (auto st = access_->ReadSignedHeads(&encoded); !st.ok()) return st;
  if (!encoded.empty()) {
    auto last = SignedHead::Decode(encoded.back());
    if (last.ok() && last->position == position) return 0;  // nothing new
  }
  SignedHead head;
  head.partition = kAccessLogPartition;
  head.position = position;
  head.hash = hash;
  head.signed_at_us = clock_->NowMicros();
  head.signature = signer.Sign(head.Message());
  if (auto st = access_->PutSignedHead(head.Encode(), head.position); !st.ok()) return st;
  return 1;
}

absl::StatusOr<v1::GetCaseAsOfResponse> Auditor::GetCaseAsOf(
    const v1::GetCaseAsOfRequest& request) const {
  if (request.as_of_case() == v1::GetCaseAsOfRequest::AS_OF_NOT_SET) {
    return absl::InvalidArgumentError("as_of: give a position, known_at or happened_by");
  }
  std::vector<v1::Record> records;
  if (auto st = RecordsOf(request.case_id(), &records); !st.ok()) return st;

  if (request.has_happened_by()) {
    return DecideAsHappened(*logic_, records, Micros(request.happened_by()));
  }
  v1::GetCaseAsOfResponse out;
  v1::CaseState state;
  for (const v1::Record& r : records) {
    bool include = false;
    switch (request.as_of_case()) {
      case v1::GetCaseAsOfRequest::kPosition:
        include = r.position() <= request.position();
        break;
      default:  // known_at
        include = Micros(r.recorded_at()) <= Micros(request.known_at());
        break;
    }
    // Both are a prefix of the case's records: recorded times never go
    // back within a partition.
    if (!include) break;
    if (auto st = CheckRecordVersion(r); !st.ok()) return st;
    logic_->Apply(r, &state);
    *out.add_records() = r;
  }
  if (out.records_size() == 0) {
    return absl::NotFoundError(absl::StrCat("case ", request.case_id(), " had no records then"));
  }
  *out.mutable_state() = std::move(state);
  return out;
}

namespace {

bool IsCheckpointName(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

}  // namespace

absl::StatusOr<Auditor::CheckpointInfo> Auditor::Checkpoint(const std::string& name,
                                                            bool include_keys) const {
  namespace fs = std::filesystem;
  if (include_keys && sealer_ == nullptr) {
    return absl::FailedPreconditionError(
        "include_keys: this server seals no personal data (it runs without a master key): it "
        "has no keys");
  }
  std::string chosen = name;
  if (chosen.empty()) {
    const int64_t now_s = clock_->NowMicros() / 1000000;
    const time_t t = static_cast<time_t>(now_s);
    struct tm utc;
    gmtime_r(&t, &utc);
    chosen = absl::StrFormat("%04d%02d%02dT%02d%02d%02dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                             utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
  }
  if (!IsCheckpointName(chosen)) {
    return absl::InvalidArgumentError(
        "name: 1 to 64 of the characters A-Z a-z 0-9 . _ - (not starting with "
        "a dot)");
  }
  const fs::path dir = fs::path(data_dir_) / "checkpoints" / chosen;
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    return absl::AlreadyExistsError(absl::StrCat("checkpoint ", dir.string(), " exists already"));
  }
  return CheckpointInto(dir.string(), include_keys);
}

absl::StatusOr<Auditor::CheckpointInfo> Auditor::CheckpointInto(const std::string& dir_name,
                                                                bool include_keys) const {
  namespace fs = std::filesystem;
  const fs::path dir(dir_name);
  std::error_code ec;
  fs::create_directories(dir.parent_path(), ec);
  constexpr int kAttempts = 5;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    const size_t deployed_before = registry_->All().size();
    fs::remove_all(dir, ec);
    if (auto st = ResolvePartitions(dir.string(), partitions_->count(), env_); !st.ok())
      return st.status();
    for (const PartitionStore* store : partitions_->stores()) {
      if (auto st = store->CreateCheckpoint(PartitionDir(dir.string(), store->id().value()));
          !st.ok()) {
        fs::remove_all(dir, ec);
        return st;
      }
    }
    // A workflow registered meanwhile may be used by a copied case while
    // its deployment's partition was copied before it: start over.
    if (registry_->All().size() != deployed_before) continue;
    // The access log too: who read what belongs with what was read.
    if (auto st = access_->CreateCheckpoint(AccessLogDir(dir.string())); !st.ok()) {
      fs::remove_all(dir, ec);
      return st;
    }
    // The keys last: every key a copied record was sealed with was made
    // durable before the record, so it is in the copy.
    if (include_keys) {
      const std::string keys_dir = (dir / "keys").string();
      absl::Status st = CreatePrivateDirectory(keys_dir);
      if (st.ok()) st = sealer_->keys()->Checkpoint(keys_dir + "/subjects");
      if (!st.ok()) {
        fs::remove_all(dir, ec);
        return st;
      }
    }
    CheckpointInfo info;
    info.dir = dir.string();
    info.keys = include_keys;
    for (uint32_t i = 0; i < partitions_->count(); ++i) {
      auto copy = PartitionStore::Open(PartitionDir(info.dir, i), PartitionId(i),
                                       {.env = env_, .mode = OpenMode::kReadOnly});
      if (!copy.ok()) return copy.status();
      // The copy gets a durable mark of its own (what it holds is durable:
      // the checkpoint synced it), so that damage to it later is refused
      // like damage to the partition.
      const DurableMark held = (*copy)->recovered();
      copy->reset();
      if (auto st = WriteDurableMark(FileSystemOf(env_), PartitionDir(info.dir, i), held); !st.ok())
        return st;
      info.positions.push_back(held.position);
    }
    return info;
  }
  fs::remove_all(dir, ec);
  return absl::AbortedError(absl::StrCat("workflows kept being deployed during ", kAttempts,
                                         " attempts at a checkpoint; try again"));
}

absl::StatusOr<BackupResult> Auditor::Backup(const std::string& to, BackupOptions options,
                                             const BackupProgressFn& progress) const {
  namespace fs = std::filesystem;
  if (!backup_mu_.TryLock()) {
    return absl::AbortedError("another backup is running; try again when it has ended");
  }
  // The rest runs alone (backup_mu_ guards no member: it only keeps two
  // backups from running side by side), and unlocks on every path.
  auto alone = [&]() -> absl::StatusOr<BackupResult> {
    if (to.empty() || to[0] != '/') {
      return absl::InvalidArgumentError(absl::StrCat(
          "to: must be an absolute directory on the server's machine, not '", to, "'"));
    }
    // Not inside the data directory, and not around it: the backup must
    // survive the loss of the data directory's disk, and must not copy itself.
    std::error_code ec;
    const fs::path target = fs::weakly_canonical(to, ec);
    const fs::path data = fs::weakly_canonical(data_dir_, ec);
    auto within = [](const fs::path& inner, const fs::path& outer) {
      auto [end, ignored] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
      return end == outer.end();
    };
    if (within(target, data) || within(data, target)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "to: ", to,
          " is inside the data directory or holds it; a backup goes elsewhere (another "
          "disk, or a mounted backup volume)"));
    }
    // A backup killed halfway left its checkpoint here: clear it first.
    const std::string scratch = (fs::path(data_dir_) / "checkpoints" / ".backup").string();
    fs::remove_all(scratch, ec);
    v1::BackupProgress starting;
    starting.set_phase("checkpoint");
    if (progress) progress(starting);
    options.started_us = clock_->NowMicros();
    options.now_us = [this] { return clock_->NowMicros(); };
    if (options.env == nullptr) options.env = env_;
    auto checkpoint = CheckpointInto(scratch, /*include_keys=*/sealer_ != nullptr);
    if (!checkpoint.ok()) return checkpoint.status();
    auto result = BackUpCheckpoint(scratch, partitions_->count(), to, options, progress);
    fs::remove_all(scratch, ec);
    return result;
  };
  absl::StatusOr<BackupResult> result = alone();
  backup_mu_.Unlock();
  return result;
}

}  // namespace gridcase
