#include "engine/audit/seal_conversion.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/audit/partition_replay.h"
#include "engine/common/file_modes.h"
#include "engine/common/time.h"
#include "engine/domain/directory.h"
#include "engine/domain/personal.h"
#include "engine/privacy/aead.h"
#include "engine/privacy/key_store.h"
#include "engine/privacy/sealer.h"
#include "engine/storage/chain.h"
#include "engine/storage/data_dir.h"
#include "engine/storage/signer.h"
#include "engine/workflow/logic.h"
#include "gridcase/v1/chain.pb.h"

namespace gridcase {
namespace {

// Decodes `value`, the stored record at `position`, and checks that it
// continues the chain whose hash so far is `*head`; `*head` then moves to
// its hash. DATA_LOSS names `where` and the position.
absl::Status FollowChain(const rocksdb::Slice& value, uint64_t position, absl::string_view where,
                         std::string* head, StoredRecord* stored) {
  if (auto st = DecodeStoredRecord(absl::string_view(value.data(), value.size()), stored);
      !st.ok()) {
    return st;
  }
  if (std::string problem = CheckLink(*stored, *head); !problem.empty()) {
    return absl::DataLossError(absl::StrCat(where, "position ", position, ": ", problem));
  }
  *head = std::string(stored->hash);
  return absl::OkStatus();
}

namespace fs = std::filesystem;

constexpr char kConversion[] = "sealed";
constexpr uint64_t kProgressEvery = 50000;

std::string KeysDir(const std::string& data_dir) { return data_dir + "/keys"; }
std::string SubjectsDir(const std::string& data_dir) { return data_dir + "/keys/subjects"; }

absl::Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const bool ok = fd >= 0 && ::fsync(fd) == 0;
  if (fd >= 0) ::close(fd);
  return ok ? absl::OkStatus() : absl::UnavailableError(absl::StrCat("cannot sync ", dir));
}

// Syncs every file and directory under `dir`, `dir` included: what was
// copied with the file system's calls is durable only then.
absl::Status SyncTree(const std::string& dir) {
  std::error_code ec;
  std::vector<std::string> dirs = {dir};
  for (const auto& entry : fs::recursive_directory_iterator(dir, ec)) {
    const std::string path = entry.path().string();
    if (entry.is_directory()) {
      dirs.push_back(path);
      continue;
    }
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    const bool ok = fd >= 0 && ::fsync(fd) == 0;
    if (fd >= 0) ::close(fd);
    if (!ok) return absl::UnavailableError(absl::StrCat("cannot sync ", path));
  }
  if (ec) return absl::UnavailableError(absl::StrCat("listing ", dir, ": ", ec.message()));
  for (const std::string& d : dirs) {
    if (auto st = SyncDirectory(d); !st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status CopyTree(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::copy(from, to, fs::copy_options::recursive, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("copying ", from, ": ", ec.message()));
  return absl::OkStatus();
}

// Pass one over a source partition: its chain holds from its genesis, and
// every signed head matches the hash the chain has at its position (and,
// with a public key, its signature verifies). Returns the origin the
// converted partition starts from.
absl::StatusOr<v1::ChainOrigin> OriginOf(const PartitionStore& src, uint32_t partition,
                                         const SealConversionOptions& options) {
  std::vector<std::string> encoded;
  if (auto st = src.ReadSignedHeads(&encoded); !st.ok()) return st;
  std::map<uint64_t, SignedHead> heads;
  for (const std::string& e : encoded) {
    auto head = SignedHead::Decode(e);
    if (!head.ok()) {
      return absl::DataLossError(absl::StrCat(
          "partition ", partition, ": a signed head does not decode: ", head.status().message()));
    }
    heads[head->position] = *head;
  }
  std::map<uint64_t, std::string> at;  // the chain's hash at each signed position
  std::string head_hash = src.genesis();
  uint64_t records = 0;
  auto walked = src.ForEachRecord(
      [&](const rocksdb::Slice&, const rocksdb::Slice& value, const v1::Record& record) {
        StoredRecord stored;
        if (auto st = FollowChain(value, record.position(), "", &head_hash, &stored); !st.ok()) {
          return st;
        }
        records = record.position();
        if (heads.count(records)) at[records] = head_hash;
        return absl::OkStatus();
      });
  if (!walked.ok()) {
    return absl::Status(walked.code(),
                        absl::StrCat("partition ", partition, ": ", walked.message(),
                                     "; a damaged log is not converted (`gridcase audit verify` "
                                     "says more)"));
  }
  for (const auto& [position, head] : heads) {
    auto it = at.find(position);
    if (it == at.end() || it->second != head.hash) {
      return absl::DataLossError(absl::StrCat("partition ", partition, ": the head signed at ",
                                              position, " is not the chain's hash there"));
    }
    if (!options.public_key_pem.empty()) {
      auto valid = VerifySignature(options.public_key_pem, head.Message(), head.signature);
      if (!valid.ok()) return valid.status();
      if (!*valid) {
        return absl::DataLossError(absl::StrCat("partition ", partition, ": the head signed at ",
                                                position, " does not verify with the key given"));
      }
    }
  }
  v1::ChainOrigin origin;
  origin.set_conversion(kConversion);
  origin.set_partition(partition);
  origin.set_old_records(records);
  origin.set_old_head_hash(head_hash);
  origin.set_old_genesis(src.genesis());
  auto old_origin = src.ReadMeta(keys::kMetaChainOrigin);
  if (!old_origin.ok()) return old_origin.status();
  if (old_origin->has_value() && !origin.mutable_old_origin()->ParseFromString(**old_origin)) {
    return absl::DataLossError(
        absl::StrCat("partition ", partition, ": its origin does not parse"));
  }
  for (const std::string& e : encoded) origin.add_old_signed_heads(e);
  *origin.mutable_converted_at() = FromMicros(options.converted_at_us);
  return origin;
}

// Pass two's rewrite of each record: the old link checked, the personal
// fields sealed (the record put back must be the old bytes exactly), the
// new link made.
class Resealer {
 public:
  Resealer(uint32_t partition, const PartitionStore& src, const std::string& origin_bytes,
           privacy::KeyStore* keys)
      : partition_(partition),
        old_head_(src.genesis()),
        new_head_(OriginGenesis(origin_bytes)),
        keys_(keys) {}

  absl::Status Rewrite(v1::Record* r, std::string* stored) {
    StoredRecord old;
    if (auto st = FollowChain(*stored, r->position(), absl::StrCat("partition ", partition_, " "),
                              &old_head_, &old);
        !st.ok()) {
      return st;
    }
    std::string bytes(old.record_bytes);
    if (!r->has_sealed() && HasPersonalValues(r->event())) {
      const std::string subject = SubjectOf(r->event());
      if (subject.empty()) {
        return absl::InternalError(absl::StrCat("partition ", partition_, " position ",
                                                r->position(),
                                                ": personal fields in a record of no subject"));
      }
      auto key = keys_->KeyFor(subject, &pending_);
      if (!key.ok()) return key.status();
      v1::Event personal;
      auto sealed = privacy::RecordSealer::Seal(*key, subject, r, &personal);
      if (!sealed.ok()) return sealed.status();
      if (!*sealed) return absl::InternalError("personal fields found, but none sealed");
      r->mutable_sealed()->set_by_conversion(true);
      v1::Record back = *r;
      privacy::RecordSealer::Unseal(personal, &back);
      if (back.SerializeAsString() != bytes) {
        return absl::DataLossError(absl::StrCat(
            "partition ", partition_, " position ", r->position(),
            ": the record would not come back byte for byte once sealed; nothing converted"));
      }
      bytes = r->SerializeAsString();
      ++sealed_;
    }
    const std::string hash = ChainHash(new_head_, bytes);
    *stored = EncodeStoredRecord(bytes, new_head_, hash);
    new_head_ = hash;
    if (++rewritten_ % kProgressEvery == 0 && progress_) progress_();
    return absl::OkStatus();
  }

  // Called every kProgressEvery records rewritten.
  void OnProgress(std::function<void()> progress) { progress_ = std::move(progress); }

  // The keys made: durable before the converted directory is.
  absl::Status PersistKeys() { return keys_->Persist(&pending_); }
  privacy::KeyStore::Pending* pending() { return &pending_; }
  uint64_t sealed() const { return sealed_; }

 private:
  const uint32_t partition_;
  std::string old_head_;
  std::string new_head_;
  privacy::KeyStore* const keys_;
  privacy::KeyStore::Pending pending_;
  uint64_t sealed_ = 0;
  uint64_t rewritten_ = 0;
  std::function<void()> progress_;
};

absl::Status CheckTarget(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir, " exists: convert into a directory that does not exist yet",
                     absl::EndsWith(dir, ".partial")
                         ? " (this one is left from a conversion that did not finish: remove it)"
                         : ""));
  }
  return absl::OkStatus();
}

// Pass two, into `partial`: the partitions sealed, chained anew and
// replayed; FROM's keys/ (key store, master and head-signing keys when
// kept there) and access log copied; everything synced.
absl::Status WritePartial(const SealConversionOptions& options, const PartitionStores& sources,
                          const std::vector<std::string>& origins, const std::string& partial,
                          const std::function<void(const char*, uint64_t)>& report_progress,
                          SealConversionReport* report) {
  // The target: partitions, and the key store (FROM's own copied first,
  // for a directory partly sealed already; heads.key and master.key come
  // along when they were kept there).
  const uint32_t count = static_cast<uint32_t>(sources.size());
  auto targets = OpenEmptyPartitions(partial, count);
  if (!targets.ok()) return targets.status();
  if (auto st = CreatePrivateDirectory(KeysDir(partial)); !st.ok()) return st;
  std::error_code ec;
  if (fs::exists(KeysDir(options.from_dir), ec)) {
    for (const auto& entry : fs::directory_iterator(KeysDir(options.from_dir), ec)) {
      const std::string to = KeysDir(partial) + "/" + entry.path().filename().string();
      if (auto st = CopyTree(entry.path().string(), to); !st.ok()) return st;
    }
  }
  auto keys = privacy::KeyStore::Open(SubjectsDir(partial), options.master_key);
  if (!keys.ok()) return keys.status();

  std::vector<const PartitionStore*> source_views;
  for (const auto& s : sources) source_views.push_back(s.get());
  workflow::Registry registry;
  if (auto st = LoadDeployments(source_views, &registry); !st.ok()) return st;
  Directory directory;  // replay never consults it: only deciding does
  const workflow::WorkflowLogic logic(registry, directory);

  // Pass two: each partition sealed, chained anew and replayed.
  std::atomic<uint64_t> replayed{0};
  for (uint32_t i = 0; i < count; ++i) {
    report_progress("sealing", replayed.load());
    Resealer resealer(i, *sources[i], origins[i], keys->get());
    resealer.OnProgress([&] { report_progress("sealing", replayed.load()); });
    ReplayRewrite rewrite;
    rewrite.record = [&resealer](v1::Record* r, std::string* stored) {
      return resealer.Rewrite(r, stored);
    };
    rewrite.drop_meta = [](absl::string_view key) {
      return absl::StartsWith(key, keys::kMetaSignedHeadPrefix) ||
             absl::StartsWith(key, keys::kMetaDeadLetterPrefix) || key == keys::kMetaChainOrigin;
    };
    rewrite.add_meta.emplace_back(std::string(keys::kMetaChainOrigin), origins[i]);
    // Dead letters not yet handed on are sealed as the server seals them.
    std::vector<std::pair<std::string, std::string>> letters;
    if (auto st = sources[i]->ScanMeta(keys::kMetaDeadLetterPrefix, SIZE_MAX, &letters); !st.ok()) {
      return st;
    }
    const privacy::RecordSealer letter_sealer(keys->get());
    for (auto& [key, value] : letters) {
      v1::DeadLetter letter;
      if (!letter.ParseFromString(value)) {
        return absl::DataLossError(absl::StrCat("partition ", i, ": a dead letter does not parse"));
      }
      if (!letter.has_sealed() && !letter.original().empty()) {
        if (auto st = letter_sealer.SealLetter(i, &letter, resealer.pending()); !st.ok()) {
          return st;
        }
        value = letter.SerializeAsString();
        ++report->letters_sealed;
      }
      rewrite.add_meta.emplace_back(std::move(key), std::move(value));
    }
    auto counts = ReplayPartition(*sources[i], (*targets)[i].get(), logic, &replayed, &rewrite);
    if (!counts.ok()) return counts.status();
    if (auto st = resealer.PersistKeys(); !st.ok()) return st;
    report->records += counts->records;
    report->records_sealed += resealer.sealed();
  }
  targets->clear();
  keys->reset();
  if (fs::exists(AccessLogDir(options.from_dir), ec)) {
    if (auto st = CopyTree(AccessLogDir(options.from_dir), AccessLogDir(partial)); !st.ok()) {
      return st;
    }
  }
  return SyncTree(partial);
}

}  // namespace

absl::StatusOr<SealConversionReport> SealDataDirectory(const SealConversionOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (options.master_key.size() != privacy::kKeyBytes) {
    return absl::InvalidArgumentError("master key: 32 bytes required");
  }
  auto count = ReadPartitionCount(options.from_dir);
  if (!count.ok()) return count.status();
  if (options.to_dir.empty()) return absl::InvalidArgumentError("target directory: not set");
  const std::string partial = options.to_dir + ".partial";
  if (auto st = CheckTarget(options.to_dir); !st.ok()) return st;
  if (auto st = CheckTarget(partial); !st.ok()) return st;

  RebuildProgress progress;
  auto report_progress = [&](const char* phase, uint64_t done) {
    if (!options.progress) return;
    progress.phase = phase;
    progress.replayed = done;
    options.progress(progress);
  };
  auto sources = OpenSourcePartitions(options.from_dir, *count, &progress.total);
  if (!sources.ok()) return sources.status();

  // Pass one: nothing damaged is converted.
  report_progress("checking", 0);
  SealConversionReport report;
  report.partitions = *count;
  std::vector<std::string> origins;
  for (uint32_t i = 0; i < *count; ++i) {
    auto origin = OriginOf(*(*sources)[i], i, options);
    if (!origin.ok()) return origin.status();
    report.old_signed_heads += origin->old_signed_heads_size();
    origins.push_back(origin->SerializeAsString());
  }

  // Written whole into TO.partial, which is no data directory a server
  // would open until renamed: within it, the order of writes does not
  // matter; everything is synced before the rename. A failure removes it.
  if (auto st = WritePartial(options, *sources, origins, partial, report_progress, &report);
      !st.ok()) {
    std::error_code ec;
    fs::remove_all(partial, ec);
    return st;
  }

  // Verified before it takes the name a server would open.
  report_progress("verifying", report.records);
  auto checks = VerifyConversion(partial, options.master_key);
  if (!checks.ok()) return checks.status();
  for (const ConversionCheck& c : *checks) {
    if (!c.old_chain_rederived) {
      return absl::DataLossError(absl::StrCat("partition ", c.partition,
                                              " of the conversion does not verify: ", c.problem,
                                              "; left in ", partial, " to be looked at"));
    }
  }
  std::error_code ec;
  fs::rename(partial, options.to_dir, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("renaming ", partial, " to ", options.to_dir, ": ", ec.message()));
  }
  const std::string parent = fs::absolute(options.to_dir).parent_path().string();
  if (auto st = SyncDirectory(parent); !st.ok()) return st;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report_progress("done", report.records);
  return report;
}

absl::StatusOr<std::vector<ConversionCheck>> VerifyConversion(const std::string& data_dir,
                                                              const std::string& master_key) {
  auto count = ReadPartitionCount(data_dir);
  if (!count.ok()) return count.status();
  auto keys = privacy::KeyStore::Open(SubjectsDir(data_dir), master_key);
  if (!keys.ok()) return keys.status();
  privacy::RecordSealer sealer(keys->get());
  std::vector<ConversionCheck> out;
  for (uint32_t i = 0; i < *count; ++i) {
    auto store = PartitionStore::Open(PartitionDir(data_dir, i), PartitionId(i),
                                      {.mode = OpenMode::kReadOnly});
    if (!store.ok()) return store.status();
    ConversionCheck& check = out.emplace_back();
    check.partition = i;
    auto origin_bytes = (*store)->ReadMeta(keys::kMetaChainOrigin);
    if (!origin_bytes.ok()) return origin_bytes.status();
    if (!origin_bytes->has_value()) continue;
    check.converted = true;
    v1::ChainOrigin origin;
    if (!origin.ParseFromString(**origin_bytes)) {
      check.problem = "its origin does not parse";
      continue;
    }
    if (origin.partition() != i) {
      check.problem = absl::StrCat("its origin names partition ", origin.partition());
      continue;
    }
    check.old_records = origin.old_records();
    std::map<uint64_t, std::string> signed_at;  // old signed heads' hashes
    for (const std::string& e : origin.old_signed_heads()) {
      auto head = SignedHead::Decode(e);
      if (!head.ok()) {
        check.problem = "an old signed head does not decode";
        break;
      }
      signed_at[head->position] = head->hash;
    }
    std::string old_head = origin.old_genesis();
    std::string new_head = (*store)->genesis();
    auto walked = (*store)->ForEachRecord([&](const rocksdb::Slice&, const rocksdb::Slice& value,
                                              const v1::Record& record) {
      StoredRecord stored;
      if (auto st = FollowChain(value, record.position(), "the new chain, ", &new_head, &stored);
          !st.ok()) {
        return st;
      }
      if (record.position() > origin.old_records()) return absl::OkStatus();  // since
      std::string bytes(stored.record_bytes);
      if (record.has_sealed() && record.sealed().by_conversion()) {
        v1::Record opened = record;
        auto st = sealer.Open(&opened);
        if (absl::IsNotFound(st)) {
          ++check.unopenable;
          return absl::OkStatus();
        }
        if (!st.ok()) return st;
        bytes = opened.SerializeAsString();
      }
      if (check.unopenable > 0) return absl::OkStatus();  // re-derived up to the first only
      old_head = ChainHash(old_head, bytes);
      if (auto it = signed_at.find(record.position());
          it != signed_at.end() && it->second != old_head) {
        return absl::DataLossError(
            absl::StrCat("the old chain re-derived differs from the head "
                         "signed at position ",
                         record.position()));
      }
      return absl::OkStatus();
    });
    if (!walked.ok()) {
      check.problem = std::string(walked.message());
      continue;
    }
    if (!check.problem.empty()) continue;
    if (check.unopenable > 0) {
      check.problem = absl::StrCat(check.unopenable,
                                   " records of the old log do not open (erased since): the old "
                                   "chain cannot be re-derived past the first");
      continue;
    }
    if (old_head != origin.old_head_hash()) {
      check.problem = "the old chain re-derived from this log does not end at the origin's head";
      continue;
    }
    check.old_chain_rederived = true;
  }
  return out;
}

}  // namespace gridcase
