#include "engine/partition/sequencer.h"

#include <algorithm>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/common/check.h"
#include "engine/common/time.h"
#include "engine/domain/directory.h"
#include "engine/domain/personal.h"
#include "engine/domain/stamper.h"
#include "engine/domain/validate.h"
#include "engine/storage/chain.h"
#include "engine/storage/derived_rows.h"
#include "google/protobuf/util/message_differencer.h"

namespace gridcase {
namespace {

using keys::Cf;

v1::SubmitResponse ResponseFor(const v1::Record& r, bool duplicate) {
  v1::SubmitResponse out;
  out.set_event_id(r.event().event_id());
  out.set_case_id(r.event().case_id());
  out.set_partition(r.partition());
  out.set_position(r.position());
  out.set_case_version(r.case_version());
  *out.mutable_recorded_at() = r.recorded_at();
  out.set_duplicate(duplicate);
  return out;
}

// An event_id seen before: the original result when the content is the
// same (an idempotent retry), ALREADY_EXISTS when it differs.
absl::StatusOr<v1::SubmitResponse> SameOrConflict(const v1::Record& prior, const v1::Event& event) {
  if (google::protobuf::util::MessageDifferencer::Equals(prior.event(), event)) {
    return ResponseFor(prior, /*duplicate=*/true);
  }
  return EventIdConflict(prior);
}

// The case logic hands back exactly the records it stamped, the submitted
// one first, and leaves the case at the last one's version. Anything else
// would corrupt the log.
void CheckStamped(const std::vector<v1::Record>& out, const RecordStamper& stamper,
                  const v1::CaseState& state) {
  GC_CHECK(!out.empty() && out.size() == stamper.stamped() &&
               out.front().position() == stamper.first().value() &&
               out.back().position() + 1 == stamper.next().value() &&
               state.version() == out.back().case_version(),
           "case logic broke the record sequence of case ", state.case_id());
}

}  // namespace

bool IsDecidedRefusal(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kPermissionDenied:
      return true;
    default:
      return false;
  }
}

absl::Status EventIdConflict(const v1::Record& prior) {
  return absl::AlreadyExistsError(absl::StrCat(
      "event_id ", prior.event().event_id(), " was already recorded with different content (case ",
      prior.event().case_id(), ", version ", prior.case_version(), ")"));
}

// One group commit in the making: the WriteBatch, and an overlay of what
// the group has changed so far, so that later submissions of the same group
// see earlier ones (versions, duplicates) before anything is durable.
class Sequencer::Group {
 public:
  Group(PartitionStore* store, const CaseLogic* logic, const privacy::RecordSealer* sealer,
        Position last, std::string head, int64_t recorded_us, uint64_t key_slot_max)
      : store_(store),
        logic_(logic),
        sealer_(sealer),
        key_slot_max_(key_slot_max),
        next_(last.next()),
        head_(std::move(head)),
        recorded_at_(FromMicros(recorded_us)) {}

  // Takes the event out of `*req` when it is recorded.
  absl::StatusOr<v1::SubmitResponse> Process(v1::SubmitRequest* req);
  // Records that the stream message `origin` (naming `case_id`, when it
  // parsed) was decided with `result` (unless the result is a failure of the
  // server: then it is not decided). An error when its dead letter cannot
  // be sealed: then nothing of it is written and it is not decided.
  absl::Status Decide(const StreamOrigin& origin, const std::string& case_id,
                      const absl::StatusOr<v1::SubmitResponse>& result);
  // Adds the final case states, timer changes and stream offsets to the
  // batch.
  void Seal();
  // Whether the group has anything to write.
  bool empty() const { return records_.empty() && stream_offsets_.empty(); }

  rocksdb::WriteBatch* batch() { return &batch_; }
  size_t batch_bytes() const { return batch_.GetDataSize(); }
  // Every record of the group, in log order.
  const std::vector<v1::Record>& records() const { return records_; }
  // The event ids the group recorded (its idempotency keys).
  const absl::flat_hash_map<std::string, size_t>& event_ids() const { return pending_ids_; }
  // The cases the group changed, as it leaves them.
  std::vector<const v1::CaseState*> changed_cases() const {
    std::vector<const v1::CaseState*> out;
    for (const auto& [case_id, slot] : slots_) {
      if (slot.now && slot.version_before != slot.now->version()) out.push_back(&*slot.now);
    }
    return out;
  }
  // The cases the group created.
  std::vector<absl::string_view> new_cases() const {
    std::vector<absl::string_view> out;
    for (const auto& [case_id, slot] : slots_) {
      if (slot.version_before == 0 && slot.now && slot.now->version() > 0) {
        out.push_back(case_id);
      }
    }
    return out;
  }
  Position last_position() const { return Position(next_.value() - 1); }
  // The chain's head after this group's records.
  const std::string& head() const { return head_; }
  // The `events` values of the group's records, in log order (when the
  // store keeps recent records; otherwise none).
  std::vector<std::string> TakeStoredValues() { return std::move(stored_values_); }
  // Keys of subjects first seen in this group: durable before the batch.
  privacy::KeyStore::Pending* new_keys() { return &new_keys_; }
  // The highest key slot the partition's records are sealed under, this
  // group's included (kMetaKeySlotMax).
  uint64_t key_slot_max() const { return key_slot_max_; }

 private:
  struct Slot {
    // What the committed state (before this group) held: its version (0:
    // no case) and the timer rows derived from it.
    uint64_t version_before = 0;
    std::vector<std::string> timers_before;
    std::optional<v1::CaseState> now;  // as this group leaves it
  };
  absl::StatusOr<Slot*> SlotFor(const std::string& case_id);

  PartitionStore* const store_;
  const CaseLogic* const logic_;
  const privacy::RecordSealer* const sealer_;
  privacy::KeyStore::Pending new_keys_;
  uint64_t key_slot_max_;
  const uint64_t key_slot_max_before_ = key_slot_max_;
  Position next_;
  std::string head_;
  const google::protobuf::Timestamp recorded_at_;
  rocksdb::WriteBatch batch_;
  absl::flat_hash_map<std::string, Slot> slots_;
  absl::flat_hash_map<std::string, size_t> pending_ids_;  // event_id -> index in records_
  std::vector<v1::Record> records_;
  std::vector<std::string> stored_values_;                    // records_[i] as stored in `events`
  absl::flat_hash_map<std::string, int64_t> stream_offsets_;  // source -> last decided
};

absl::Status Sequencer::Group::Decide(const StreamOrigin& origin, const std::string& case_id,
                                      const absl::StatusOr<v1::SubmitResponse>& result) {
  if (!result.ok() && !IsDecidedRefusal(result.status())) return absl::OkStatus();
  if (!result.ok()) {
    v1::DeadLetter letter;
    letter.set_source(origin.source);
    letter.set_offset(origin.offset);
    letter.set_original(origin.original);
    letter.set_code(static_cast<int32_t>(result.status().code()));
    letter.set_reason(std::string(result.status().message()));
    *letter.mutable_recorded_at() = recorded_at_;
    if (IsValidId(case_id, ValidationLimits().id_bytes_max)) letter.set_case_id(case_id);
    // Whatever the message holds, parsed or not, may be personal. What it
    // says about an erased case is not kept at all.
    if (sealer_ != nullptr && !letter.case_id().empty()) {
      auto slot = SlotFor(letter.case_id());
      if (!slot.ok()) return slot.status();
      if ((*slot)->now && (*slot)->now->erased_at() != 0) letter.clear_original();
    }
    if (sealer_ != nullptr && !letter.original().empty()) {
      if (auto st = sealer_->SealLetter(store_->id().value(), &letter, &new_keys_); !st.ok()) {
        return st;
      }
    }
    batch_.Put(store_->cf(Cf::kMeta),
               keys::DeadLetterKey(origin.source, static_cast<uint64_t>(origin.offset)),
               letter.SerializeAsString());
  }
  int64_t& last = stream_offsets_.try_emplace(origin.source, origin.offset).first->second;
  last = std::max(last, origin.offset);
  return absl::OkStatus();
}

absl::StatusOr<Sequencer::Group::Slot*> Sequencer::Group::SlotFor(const std::string& case_id) {
  auto it = slots_.find(case_id);
  if (it != slots_.end()) return &it->second;
  // A case the partition's filter has never seen is new: no read.
  auto read = store_->MayHaveCase(case_id)
                  ? store_->ReadCase(case_id)
                  : absl::StatusOr<std::optional<v1::CaseState>>(std::nullopt);
  if (!read.ok()) return read.status();
  Slot& slot = slots_[case_id];
  if (read->has_value()) {
    slot.version_before = (*read)->version();
    slot.timers_before = TimerKeysOf(**read);
  }
  slot.now = std::move(*read);
  return &slot;
}

absl::StatusOr<v1::SubmitResponse> Sequencer::Group::Process(v1::SubmitRequest* request) {
  const v1::SubmitRequest& req = *request;
  const v1::Event& e = req.event();
  if (auto it = pending_ids_.find(e.event_id()); it != pending_ids_.end()) {
    return SameOrConflict(records_[it->second], e);
  }
  auto found = store_->MayHaveEventId(e.event_id())
                   ? store_->FindEventId(e.event_id())
                   : absl::StatusOr<std::optional<Position>>(std::nullopt);
  if (!found.ok()) return found.status();
  if (found->has_value()) {
    auto prior = store_->ReadRecord(**found);
    if (!prior.ok()) return prior.status();
    if (auto st = privacy::OpenRecord(sealer_, &*prior); !st.ok()) {
      return absl::IsNotFound(st)
                 ? absl::FailedPreconditionError(absl::StrCat(
                       "event_id ", e.event_id(), " was recorded at position ", prior->position(),
                       " in case ", prior->event().case_id(), ", since erased"))
                 : st;
    }
    return SameOrConflict(*prior, e);
  }

  auto slot = SlotFor(e.case_id());
  if (!slot.ok()) return slot.status();
  const v1::CaseState* state = (*slot)->now ? &*(*slot)->now : nullptr;
  const uint64_t current = state ? state->version() : 0;
  // A submitter limited to some units touches no case standing beyond
  // them (the event's own grid was checked at the gate): told their
  // units, never the case's grid.
  if (state != nullptr && !logic_->Reaches(req.submitter_units(), state->grid_id())) {
    return absl::PermissionDeniedError(absl::StrCat(req.submitted_by(),
                                                    " may submit only for cases of units ",
                                                    absl::StrJoin(req.submitter_units(), ", ")));
  }
  if (state != nullptr && state->erased_at() != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("case ", e.case_id(), " was erased at position ", state->erased_at(),
                     ": it takes no more events"));
  }
  if (req.has_expected_version() && req.expected_version() != current) {
    absl::Status st = absl::FailedPreconditionError(absl::StrCat(
        "expected_version ", req.expected_version(), " but case ", e.case_id(),
        current == 0 ? " does not exist (version 0)" : absl::StrCat(" is at version ", current)));
    st.SetPayload(kCurrentVersionPayload, absl::Cord(std::to_string(current)));
    return st;
  }

  // The subject's key before anything is decided, when the event has
  // personal fields to seal (derived records never do): a key store that
  // cannot answer refuses the submission whole.
  privacy::RecordSealer::SealingKey sealing;
  const bool has_personal = sealer_ != nullptr && HasPersonalValues(e);
  if (has_personal) {
    auto k = sealer_->KeyForSubmission(e, state, &new_keys_);
    if (!k.ok()) return k.status();
    sealing = *std::move(k);
  }
  const std::string& key = sealing.key;

  v1::Record record;
  record.mutable_event()->Swap(request->mutable_event());  // `e` is empty from here on
  record.set_submitted_by(req.submitted_by());
  RecordStamper stamper(store_->id().value(), next_, current, recorded_at_);
  stamper.StampSubmitted(&record);
  if (state == nullptr && !req.workflow().empty()) {
    record.mutable_workflow()->set_name(req.workflow());
  }
  std::vector<v1::Record> out;
  if (auto st = logic_->Process(std::move(record), &stamper, &(*slot)->now, &out); !st.ok()) {
    if (sealing.taken) sealer_->keys()->ReturnSlot(*std::move(sealing.taken));
    return st;
  }
  CheckStamped(out, stamper, *(*slot)->now);

  BatchRows rows(&batch_, store_);
  for (v1::Record& r : out) {
    // Stored with its personal fields sealed; kept in memory (for the
    // listeners and the answer) as submitted.
    v1::Event personal;
    bool sealed = false;
    if (!key.empty()) {
      auto s = privacy::RecordSealer::Seal(key, sealing.subject, &r, &personal);
      GC_CHECK(s.ok(), "sealing a record of case ", r.event().case_id(), ": ",
               s.status().message());
      sealed = *s;
    }
    // The submitted record was looked at above; a derived one's payload
    // type never has personal fields.
    GC_CHECK(r.caused_by() != 0 || !has_personal || sealed || key.empty(), "record ", r.position(),
             " of case ", r.event().case_id(), " would be stored with personal fields in clear");
    GC_CHECK(r.caused_by() == 0 || !PayloadMayBePersonal(r.event()), "record ", r.position(),
             " of case ", r.event().case_id(), " is derived with a payload of personal fields");
    std::string stored = ChainOnto(r, &head_);
    if (sealed) privacy::RecordSealer::Unseal(personal, &r);
    // A WriteBatch::Put into memory cannot fail.
    const absl::Status put = PutRecordRows(r, stored, &rows);
    GC_CHECK(put.ok(), put.message());
    if (store_->recent_records() != nullptr) stored_values_.push_back(std::move(stored));
  }
  if (sealing.taken) {
    // The case's first sealed record names its slot: replay finds it
    // there (workflow::ApplyRecord); here the record was folded unsealed.
    GC_CHECK(out.front().caused_by() == 0 && has_personal, "a slot taken for nothing");
    (*slot)->now->set_key_slot(sealing.taken->number);
    key_slot_max_ = std::max(key_slot_max_, sealing.taken->number);
  }
  const std::string& event_id = out.front().event().event_id();
  next_ = stamper.next();
  v1::SubmitResponse response = ResponseFor(out.front(), /*duplicate=*/false);
  pending_ids_.emplace(event_id, records_.size());
  for (auto& r : out) records_.push_back(std::move(r));
  return response;
}

void Sequencer::Group::Seal() {
  if (key_slot_max_ != key_slot_max_before_) {
    batch_.Put(store_->cf(Cf::kMeta), std::string(keys::kMetaKeySlotMax),
               keys::EncodeFixed64Be(key_slot_max_));
  }
  for (const auto& [source, offset] : stream_offsets_) {
    batch_.Put(store_->cf(Cf::kMeta), keys::StreamOffsetKey(source),
               keys::EncodeFixed64Be(static_cast<uint64_t>(offset)));
  }
  BatchRows rows(&batch_, store_);
  for (const auto& [case_id, slot] : slots_) {
    if (!slot.now || slot.version_before == slot.now->version()) {
      continue;  // untouched: only refusals or duplicates for this case
    }
    // The case index is in memory: it follows after the write.
    absl::Status put = PutCaseRow(*slot.now, &rows);
    put.Update(PutTimerRows(slot.timers_before, *slot.now, &rows));
    GC_CHECK(put.ok(), put.message());
  }
}

absl::StatusOr<uint64_t> KeySlotMax(const PartitionStore& store) {
  auto row = store.ReadMeta(keys::kMetaKeySlotMax);
  if (!row.ok()) return row.status();
  if (!row->has_value()) return uint64_t{0};
  if ((*row)->size() != 8) {
    return absl::DataLossError(absl::StrCat("partition ", store.id().value(), ": meta ",
                                            keys::kMetaKeySlotMax, " has ", (*row)->size(),
                                            " bytes, not 8"));
  }
  return keys::DecodeFixed64Be(**row);
}

absl::StatusOr<std::unique_ptr<Sequencer>> Sequencer::Start(PartitionStore* store,
                                                            const Clock* clock,
                                                            const CaseLogic* logic,
                                                            CommitListener* listener,
                                                            const SequencerOptions& options) {
  std::unique_ptr<Sequencer> seq(new Sequencer(store, clock, logic, listener, options));
  auto last = store->ReadLastRecord();
  if (!last.ok()) return last.status();
  auto slot_max = KeySlotMax(*store);
  if (!slot_max.ok()) return slot_max.status();
  seq->key_slot_max_ = *slot_max;
  {
    absl::MutexLock lock(&seq->mu_);  // before the thread starts: for the analysis
    seq->head_ = store->genesis();
    if (last->has_value()) {
      // A log a newer build wrote further is not this build's to extend.
      if (auto st = CheckRecordVersion((*last)->record); !st.ok()) return st;
      seq->last_position_ = Position((*last)->record.position());
      seq->last_recorded_us_ = Micros((*last)->record.recorded_at());
      seq->head_ = (*last)->hash;
    }
  }
  seq->thread_ = std::thread([s = seq.get()] { s->Run(); });
  return seq;
}

Sequencer::Sequencer(PartitionStore* store, const Clock* clock, const CaseLogic* logic,
                     CommitListener* listener, const SequencerOptions& options)
    : store_(store), clock_(clock), logic_(logic), listener_(listener), options_(options) {}

Sequencer::~Sequencer() { Stop(); }

void Sequencer::Submit(v1::SubmitRequest request, SubmitCallback done) {
  absl::ReleasableMutexLock lock(&mu_);
  if (stopping_) {
    lock.Release();
    std::move(done)(absl::UnavailableError(
        absl::StrCat("partition ", store_->id().value(), " is shutting down")));
    return;
  }
  if (queue_.size() >= options_.queue_capacity) {
    lock.Release();
    std::move(done)(absl::ResourceExhaustedError(
        absl::StrCat("partition ", store_->id().value(), " queue is full (",
                     options_.queue_capacity, " submissions waiting); retry later")));
    return;
  }
  queue_.push_back(Item{std::move(request), std::move(done)});
  lock.Release();
}

void Sequencer::SubmitBundle(std::vector<std::pair<v1::SubmitRequest, SubmitCallback>> items) {
  if (items.empty()) return;
  absl::ReleasableMutexLock lock(&mu_);
  if (stopping_) {
    lock.Release();
    for (auto& [request, done] : items) {
      std::move(done)(absl::UnavailableError(
          absl::StrCat("partition ", store_->id().value(), " is shutting down")));
    }
    return;
  }
  for (size_t i = 0; i < items.size(); ++i) {
    queue_.push_back(Item{std::move(items[i].first), std::move(items[i].second),
                          /*bundled_with_next=*/i + 1 < items.size()});
  }
  lock.Release();
}

void Sequencer::SubmitFromStream(v1::SubmitRequest request, absl::Status refusal,
                                 StreamOrigin origin, SubmitCallback done) {
  absl::ReleasableMutexLock lock(&mu_);
  if (stopping_) {
    lock.Release();
    std::move(done)(absl::UnavailableError(
        absl::StrCat("partition ", store_->id().value(), " is shutting down")));
    return;
  }
  Item item{std::move(request), std::move(done)};
  item.origin = std::move(origin);
  item.refusal = std::move(refusal);
  queue_.push_back(std::move(item));
  lock.Release();
}

void Sequencer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

SequencerStats Sequencer::stats() const {
  absl::MutexLock lock(&mu_);
  SequencerStats out = stats_;
  out.queue_depth = queue_.size();
  return out;
}

std::pair<Position, std::string> Sequencer::committed_head() const {
  absl::MutexLock lock(&mu_);
  return {last_position_, head_};
}

Position Sequencer::last_position() const {
  absl::MutexLock lock(&mu_);
  return last_position_;
}

void Sequencer::Run() {
  std::deque<Item> items;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &Sequencer::HasWork));
      if (queue_.empty()) return;  // stopping, and everything is answered
      // Up to the group limit, but never splitting a bundle.
      while (!queue_.empty() && (items.size() < options_.group_records_max ||
                                 (!items.empty() && items.back().bundled_with_next))) {
        items.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    ProcessGroup(&items);
    items.clear();
  }
}

namespace {

uint64_t MicrosBetween(std::chrono::steady_clock::time_point from,
                       std::chrono::steady_clock::time_point to) {
  return to <= from ? 0
                    : static_cast<uint64_t>(
                          std::chrono::duration_cast<std::chrono::microseconds>(to - from).count());
}

}  // namespace

void Sequencer::Publish(const Group& group, Position committed) {
  {
    absl::MutexLock lock(&mu_);
    stats_.groups += 1;
    stats_.records += group.last_position().value() - committed.value();
    stats_.batch_bytes += group.batch_bytes();
    last_position_ = group.last_position();
    head_ = group.head();
  }
  // Before any answer: a client told its event is recorded must find its
  // id refused for another case at once. (This thread's next group relies
  // on them too: it reads only what the filters may hold.)
  for (const auto& [event_id, index] : group.event_ids()) store_->RememberEventId(event_id);
  for (absl::string_view case_id : group.new_cases()) store_->RememberCase(case_id);
  // Before any answer too: a listing after an acknowledgement shows it.
  store_->IndexCases(group.changed_cases());
  if (listener_ != nullptr) {
    for (const v1::Record& r : group.records()) listener_->OnDurable(r);
  }
}

void Sequencer::Fail(const absl::Status& written, Position committed, const std::deque<Item>& items,
                     std::vector<absl::StatusOr<v1::SubmitResponse>>* results) {
  // Nothing of this group is durable, and what RocksDB holds in memory may
  // now differ from disk: refuse everything from here on rather than build
  // on it. A restart recovers from what was synced.
  StopOnFailure(written);
  for (size_t i = 0; i < results->size(); ++i) {
    auto& r = (*results)[i];
    // Duplicates of records committed earlier stay true answers; a stream
    // message's decision was not written.
    if ((r.ok() && r->position() > committed.value()) || items[i].origin) r = written;
  }
}

void Sequencer::StopOnFailure(const absl::Status& cause) {
  absl::MutexLock lock(&mu_);
  if (!failure_.ok()) return;
  failure_ = absl::UnavailableError(absl::StrCat(
      "partition ", store_->id().value(), " stopped accepting writes after a storage failure (",
      cause.message(), "); restart the server"));
}

absl::Status Sequencer::refusing_writes() const {
  {
    absl::MutexLock lock(&mu_);
    if (!failure_.ok()) return failure_;
  }
  if (absl::Status st = store_->storage_failure(); !st.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "partition ", store_->id().value(), " stopped accepting writes after a storage failure (",
        st.message(), "); restart the server"));
  }
  if (options_.disk != nullptr && options_.disk->free_bytes() < options_.disk->reserve_bytes()) {
    return options_.disk->Check();
  }
  if (options_.clock_guard != nullptr) return options_.clock_guard->state();
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Sequencer::Gate() {
  {
    absl::MutexLock lock(&mu_);
    if (!failure_.ok()) return failure_;
  }
  if (absl::Status st = store_->storage_failure(); !st.ok()) {
    StopOnFailure(st);
    absl::MutexLock lock(&mu_);
    return failure_;
  }
  if (options_.disk != nullptr) {
    if (absl::Status st = options_.disk->Check(); !st.ok()) return st;
  }
  if (options_.clock_guard != nullptr) return options_.clock_guard->Now();
  return clock_->NowMicros();
}

void Sequencer::ProcessGroup(std::deque<Item>* items) {
  const auto started = std::chrono::steady_clock::now();
  std::optional<uint64_t> write_us;  // when the group had anything to write
  std::vector<absl::StatusOr<v1::SubmitResponse>> results;
  results.reserve(items->size());
  const absl::StatusOr<int64_t> now_us = Gate();
  // Recorded time never goes backwards within a partition, even if the
  // wall clock does: it is held at the partition's last record's time,
  // which a group only moves once written (so the held time is the log's,
  // the same after a restart as before it).
  const int64_t recorded_us = now_us.ok() ? std::max(last_recorded_us_, *now_us) : 0;
  // Only this thread writes them; the lock is for the readers.
  const auto [committed, head] = committed_head();
  Group group(store_, logic_, options_.sealer, committed, head, recorded_us, key_slot_max_);
  Position durable_first;
  std::vector<std::string> durable_values;  // what the store keeps in memory
  for (Item& item : *items) {
    if (!now_us.ok()) {
      results.push_back(now_us.status());
      continue;
    }
    // Process takes the event out of the request.
    const std::string case_id = item.origin ? item.request.event().case_id() : std::string();
    results.push_back(item.refusal.ok() ? group.Process(&item.request)
                                        : absl::StatusOr<v1::SubmitResponse>(item.refusal));
    if (item.origin) {
      if (absl::Status st = group.Decide(*item.origin, case_id, results.back()); !st.ok()) {
        results.back() = st;
      }
    }
  }
  if (!group.empty()) {
    group.Seal();
    const auto write_started = std::chrono::steady_clock::now();
    // New subjects' keys are durable before any record sealed with them.
    absl::Status written = group.new_keys()->empty()
                               ? absl::OkStatus()
                               : options_.sealer->keys()->Persist(group.new_keys());
    if (written.ok()) written = store_->Write(group.batch(), group.last_position());
    write_us = MicrosBetween(write_started, std::chrono::steady_clock::now());
    if (written.ok()) {
      key_slot_max_ = group.key_slot_max();
      // Offsets and dead letters alone carry no recorded time.
      if (group.last_position() > committed) last_recorded_us_ = recorded_us;
      durable_first = committed.next();
      durable_values = group.TakeStoredValues();
      Publish(group, committed);
      // A storage failure RocksDB met meanwhile in the background: the
      // group is durable, but nothing is acknowledged after a failure (a
      // retry with the same event ids after the restart answers it as a
      // duplicate).
      if (absl::Status st = store_->storage_failure(); !st.ok()) {
        StopOnFailure(st);
        absl::MutexLock lock(&mu_);
        for (size_t i = 0; i < results.size(); ++i) {
          if (results[i].ok() || items->at(i).origin) results[i] = failure_;
        }
      }
    } else {
      Fail(written, committed, *items, &results);
    }
  }
  const auto answering = std::chrono::steady_clock::now();
  {
    absl::MutexLock lock(&mu_);
    stats_.submissions += items->size();
    size_t size_bucket = 0;
    while (size_bucket + 1 < SequencerStats::kGroupSizeBuckets &&
           SequencerStats::GroupSizeBound(size_bucket) < items->size()) {
      ++size_bucket;
    }
    stats_.group_sizes[size_bucket] += 1;
    if (write_us) stats_.write.Add(*write_us);
    for (const Item& item : *items) {
      stats_.queued.Add(MicrosBetween(item.queued_at, started));
      stats_.answered.Add(MicrosBetween(item.queued_at, answering));
    }
  }
  for (size_t i = 0; i < items->size(); ++i) {
    std::move((*items)[i].done)(std::move(results[i]));
  }
  // After the answers: a timeline read holding the cache must not delay
  // them. A read in between finds these records in RocksDB.
  if (!durable_values.empty()) store_->RememberDurable(durable_first, std::move(durable_values));
}

}  // namespace gridcase
