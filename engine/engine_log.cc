// Engine, continued: firing deadlines, and the audit of the log (verifying
// the hash chain and signed heads, a case as of a moment, checkpoints,
// following commits). See engine.h.
#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/audit/as_happened.h"
#include "engine/storage/data_dir.h"
#include "engine/engine.h"
#include "engine/partition/pending_answers.h"

namespace gridcase {

absl::StatusOr<size_t> Engine::FireDueDeadlines(size_t limit) {
  const int64_t now_us = clock_->NowMicros();
  std::vector<keys::TimerKey> due;
  for (const auto& p : parts_) {
    if (auto st = p.store->ReadDueTimers(now_us, limit, &due); !st.ok()) return st;
  }
  std::stable_sort(due.begin(), due.end(),
                   [](const auto& a, const auto& b) { return a.due_us < b.due_us; });
  if (due.size() > limit) due.resize(limit);

  size_t fired = 0;
  PendingAnswers answers([&fired](const absl::StatusOr<v1::SubmitResponse>& r) {
    if (r.ok()) {
      fired += !r->duplicate();
      return absl::OkStatus();
    }
    // FAILED_PRECONDITION: cancelled or moved since it was read.
    // RESOURCE_EXHAUSTED: the partition is busy; the row stays and the next
    // round fires it. Anything else is an error to report.
    const auto code = r.status().code();
    return code == absl::StatusCode::kFailedPrecondition ||
                   code == absl::StatusCode::kResourceExhausted
               ? absl::OkStatus()
               : r.status();
  });
  for (const auto& t : due) {
    v1::SubmitRequest request;
    v1::Event* e = request.mutable_event();
    e->set_event_id(absl::StrCat(std::string(1, kReservedCasePrefix), "deadline~", t.case_id,
                                 "~", t.deadline, "~", t.due_us));
    e->set_case_id(t.case_id);
    e->mutable_occurred_at()->set_seconds(t.due_us / 1000000);
    e->mutable_occurred_at()->set_nanos(static_cast<int32_t>(t.due_us % 1000000) * 1000);
    e->mutable_actor()->set_id(kEngineActorId);
    e->mutable_actor()->set_kind(v1::ACTOR_KIND_SYSTEM);
    e->set_channel(v1::CHANNEL_SYSTEM);
    e->mutable_deadline_expired()->set_deadline(t.deadline);
    *e->mutable_deadline_expired()->mutable_due_at() = e->occurred_at();
    parts_[PartitionOf(t.case_id).value()].sequencer->Submit(std::move(request), answers.Track());
  }
  if (auto st = answers.Wait(); !st.ok()) return st;
  return fired;
}

absl::StatusOr<std::optional<int64_t>> Engine::NextDeadlineDueUs() const {
  std::optional<int64_t> first;
  for (const auto& p : parts_) {
    auto t = p.store->ReadFirstTimer();
    if (!t.ok()) return t.status();
    if (t->has_value() && (!first || (*t)->due_us < *first)) first = (*t)->due_us;
  }
  return first;
}

absl::StatusOr<std::vector<ChainCheck>> Engine::VerifyLog(const std::string& public_key_pem) const {
  std::vector<ChainCheck> out;
  for (const auto& p : parts_) {
    std::vector<std::string> encoded;
    if (!public_key_pem.empty()) {
      if (auto st = p.store->ReadSignedHeads(&encoded); !st.ok()) return st;
    }
    std::map<uint64_t, SignedHead> signed_heads;  // by position
    for (const auto& e : encoded) {
      auto head = SignedHead::Decode(e);
      if (!head.ok()) return head.status();
      signed_heads[head->position] = *head;
    }
    std::map<uint64_t, std::string> recomputed;  // at the signed positions
    auto check = p.store->VerifyChain([&](uint64_t position, const std::string& hash) {
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
        problem = "a head was signed here, but the log no longer reaches this position intact";
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
    out.push_back(std::move(*check));
  }
  return out;
}

absl::StatusOr<size_t> Engine::SignHeads(const HeadSigner& signer) {
  size_t signed_count = 0;
  for (const auto& p : parts_) {
    auto [position, hash] = p.sequencer->committed_head();
    if (position.value() == 0) continue;
    std::vector<std::string> encoded;
    if (auto st = p.store->ReadSignedHeads(&encoded); !st.ok()) return st;
    if (!encoded.empty()) {
      auto last = SignedHead::Decode(encoded.back());
      if (last.ok() && last->position == position.value()) continue;  // nothing new
    }
    SignedHead head;
    head.partition = p.store->id().value();
    head.position = position.value();
    head.hash = hash;
    head.signed_at_us = clock_->NowMicros();
    head.signature = signer.Sign(head.Message());
    if (auto st = p.store->PutSignedHead(head.Encode(), head.position); !st.ok()) return st;
    ++signed_count;
  }
  return signed_count;
}

absl::StatusOr<v1::GetCaseAsOfResponse> Engine::GetCaseAsOf(
    const v1::GetCaseAsOfRequest& request) const {
  auto micros = [](const google::protobuf::Timestamp& t) {
    return t.seconds() * 1000000 + t.nanos() / 1000;
  };
  if (request.as_of_case() == v1::GetCaseAsOfRequest::AS_OF_NOT_SET) {
    return absl::InvalidArgumentError("as_of: give a position, known_at or happened_by");
  }
  v1::GetTimelineRequest all;
  all.set_case_id(request.case_id());
  all.set_page_size(kPageSizeMax);
  std::vector<v1::Record> records;
  do {
    auto page = GetTimeline(all);
    if (!page.ok()) return page.status();
    records.insert(records.end(), page->records().begin(), page->records().end());
    all.set_page_token(page->next_page_token());
  } while (!all.page_token().empty());

  if (request.has_happened_by()) {
    return DecideAsHappened(*logic_, records, micros(request.happened_by()));
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
        include = micros(r.recorded_at()) <= micros(request.known_at());
        break;
    }
    // Both are a prefix of the case's records: recorded times never go
    // back within a partition.
    if (!include) break;
    logic_->Apply(r, &state);
    *out.add_records() = r;
  }
  if (out.records_size() == 0) {
    return absl::NotFoundError(absl::StrCat("case ", request.case_id(), " had no records then"));
  }
  *out.mutable_state() = std::move(state);
  return out;
}

void Engine::AwaitCommit(uint64_t seen, std::chrono::milliseconds timeout) const {
  commit_waiters_.fetch_add(1);
  {
    std::unique_lock<std::mutex> lock(commit_mu_);
    commit_cv_.wait_for(lock, timeout,
                        [&] { return stopping_ || commit_generation_.load() != seen; });
  }
  commit_waiters_.fetch_sub(1);
}

namespace {

bool IsCheckpointName(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
  });
}

}  // namespace

absl::StatusOr<Engine::CheckpointInfo> Engine::Checkpoint(const std::string& name) const {
  namespace fs = std::filesystem;
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
        "name: 1 to 64 of the characters A-Z a-z 0-9 . _ - (not starting with a dot)");
  }
  const fs::path dir = fs::path(options_.data_dir) / "checkpoints" / chosen;
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    return absl::AlreadyExistsError(absl::StrCat("checkpoint ", dir.string(), " exists already"));
  }
  constexpr int kAttempts = 5;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    const size_t deployed_before = registry_.All().size();
    fs::remove_all(dir, ec);
    if (auto st = ResolvePartitions(dir.string(), partition_count()); !st.ok()) return st.status();
    for (const auto& p : parts_) {
      if (auto st = p.store->CreateCheckpoint(PartitionDir(dir.string(), p.store->id().value()));
          !st.ok()) {
        fs::remove_all(dir, ec);
        return st;
      }
    }
    // A workflow registered meanwhile may be used by a copied case while
    // its deployment's partition was copied before it: start over.
    if (registry_.All().size() != deployed_before) continue;
    CheckpointInfo info;
    info.dir = dir.string();
    for (uint32_t i = 0; i < partition_count(); ++i) {
      auto copy = PartitionStore::Open(PartitionDir(info.dir, i), PartitionId(i),
                                       {.mode = OpenMode::kReadOnly});
      if (!copy.ok()) return copy.status();
      // The copy gets a durable mark of its own (what it holds is durable:
      // the checkpoint synced it), so that damage to it later is refused
      // like damage to the partition.
      const DurableMark held = (*copy)->recovered();
      copy->reset();
      if (auto st = WriteDurableMark(PartitionDir(info.dir, i), held); !st.ok()) return st;
      info.positions.push_back(held.position);
    }
    return info;
  }
  fs::remove_all(dir, ec);
  return absl::AbortedError(absl::StrCat("workflows kept being deployed during ", kAttempts,
                                         " attempts at a checkpoint; try again"));
}

}  // namespace gridcase
