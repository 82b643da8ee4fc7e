#include "engine/access/access_log.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/common/check.h"
#include "engine/common/file_modes.h"
#include "engine/common/time.h"
#include "engine/domain/validate.h"
#include "engine/storage/chain.h"
#include "engine/storage/keys.h"
#include "openssl/sha.h"
#include "rocksdb/utilities/checkpoint.h"
#include "rocksdb/write_batch.h"

namespace gridcase {
namespace {

constexpr char kRecord = 'r';
constexpr char kCase = 'c';
constexpr char kPerson = 'p';
constexpr char kCaller = 'w';
constexpr char kNotified = 'n';
constexpr char kBreakGlass = 'b';
constexpr char kUnlisted = 'u';
constexpr char kSignedHead = 's';

// Records looked at for one page before answering with what was found and
// a token to go on from.
constexpr size_t kScanMax = 100000;
constexpr uint32_t kPageDefault = 100;
constexpr uint32_t kPageMax = 1000;

rocksdb::Slice AsSlice(absl::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

std::string PositionKey(char tag, uint64_t position) {
  std::string key(1, tag);
  keys::PutFixed64Be(&key, position);
  return key;
}

std::string IdPrefix(char tag, absl::string_view id) {
  std::string key(1, tag);
  key.append(id.data(), id.size());
  key.push_back('\0');
  return key;
}

std::string IdKey(char tag, absl::string_view id, uint64_t position) {
  std::string key = IdPrefix(tag, id);
  keys::PutFixed64Be(&key, position);
  return key;
}

absl::Status Rocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("access log: ", what, ": ", s.ToString()));
}

// Keeps at most kAccessIdsListedMax of `ids`.
void Trim(google::protobuf::RepeatedPtrField<std::string>* ids) {
  if (ids->size() > static_cast<int>(kAccessIdsListedMax)) {
    ids->DeleteSubrange(kAccessIdsListedMax, ids->size() - kAccessIdsListedMax);
  }
}

// Fills what the log itself sets in `r`.
void Complete(v1::AccessRecord* r) {
  std::vector<std::string> cases(r->case_ids().begin(), r->case_ids().end());
  std::vector<std::string> people(r->person_ids().begin(), r->person_ids().end());
  r->set_case_count(cases.size());
  r->set_person_count(people.size());
  r->set_digest(AccessDigest(cases, people));
  r->set_ids_listed(cases.size() <= kAccessIdsListedMax && people.size() <= kAccessIdsListedMax);
  if (!r->ids_listed()) {
    Trim(r->mutable_case_ids());
    Trim(r->mutable_person_ids());
  }
}

// The index rows of `r` at `position`.
void PutIndexRows(const v1::AccessRecord& r, uint64_t position, int64_t recorded_us,
                  rocksdb::WriteBatch* b) {
  if (r.ids_listed()) {
    for (const auto& id : r.case_ids()) b->Put(IdKey(kCase, id, position), "");
    for (const auto& id : r.person_ids()) b->Put(IdKey(kPerson, id, position), "");
  } else {
    b->Put(PositionKey(kUnlisted, position), "");
  }
  std::string when;
  keys::PutFixed64Be(&when, static_cast<uint64_t>(recorded_us));
  b->Put(IdKey(kCaller, r.caller(), position), when);
  if (r.has_break_glass()) {
    b->Put(PositionKey(kBreakGlass, position), "");
    for (const auto& id : r.break_glass().notified()) b->Put(IdKey(kNotified, id, position), "");
  }
}

// A cursor over positions in increasing order, from one index.
class PositionCursor {
 public:
  // Positions of keys `prefix` fixed64be(position), from `after` + 1.
  PositionCursor(rocksdb::DB* db, std::string prefix, uint64_t after)
      : it_(db->NewIterator({})), prefix_(std::move(prefix)) {
    std::string start = prefix_;
    keys::PutFixed64Be(&start, after + 1);
    it_->Seek(AsSlice(start));
  }
  bool Valid() const {
    return it_->Valid() && it_->key().starts_with(AsSlice(prefix_)) &&
           it_->key().size() == prefix_.size() + 8;
  }
  uint64_t position() const {
    return keys::DecodeFixed64Be(absl::string_view(it_->key().data() + prefix_.size(), 8));
  }
  void Next() { it_->Next(); }
  absl::Status status() const { return Rocks(it_->status(), "reading an index"); }

 private:
  std::unique_ptr<rocksdb::Iterator> it_;
  const std::string prefix_;
};

// The index a request is best answered from, and (with include_unlisted)
// the unlisted reads beside it.
std::vector<std::string> IndexPrefixes(const v1::ReadAccessRequest& q) {
  std::vector<std::string> prefixes;
  if (!q.case_id().empty()) {
    prefixes.push_back(IdPrefix(kCase, q.case_id()));
  } else if (!q.person_id().empty()) {
    prefixes.push_back(IdPrefix(kPerson, q.person_id()));
  } else if (!q.notified().empty()) {
    return {IdPrefix(kNotified, q.notified())};
  } else if (!q.caller().empty()) {
    return {IdPrefix(kCaller, q.caller())};
  } else if (q.break_glass_only()) {
    return {std::string(1, kBreakGlass)};
  } else {
    return {std::string(1, kRecord)};
  }
  if (q.include_unlisted()) prefixes.emplace_back(1, kUnlisted);
  return prefixes;
}

bool Contains(const google::protobuf::RepeatedPtrField<std::string>& ids, const std::string& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

// Whether `r` matches every filter of `q`.
bool Matches(const v1::AccessRecord& r, const v1::ReadAccessRequest& q) {
  if (!q.case_id().empty() && r.ids_listed() && !Contains(r.case_ids(), q.case_id())) return false;
  if (!q.person_id().empty() && r.ids_listed() && !Contains(r.person_ids(), q.person_id())) {
    return false;
  }
  if (!q.caller().empty() && r.caller() != q.caller()) return false;
  if (!q.notified().empty() && !Contains(r.break_glass().notified(), q.notified())) return false;
  if (q.break_glass_only() && !r.has_break_glass()) return false;
  const int64_t at = Micros(r.recorded_at());
  if (q.has_from() && at < Micros(q.from())) return false;
  if (q.has_to() && at >= Micros(q.to())) return false;
  return true;
}

absl::Status CheckQueryId(absl::string_view field, absl::string_view id) {
  if (id.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": holds a zero byte"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string AccessDigest(const std::vector<std::string>& case_ids,
                         const std::vector<std::string>& person_ids) {
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  for (const auto* ids : {&case_ids, &person_ids}) {
    for (const auto& id : *ids) SHA256_Update(&ctx, id.data(), id.size() + 1);  // with its \0
  }
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  SHA256_Final(reinterpret_cast<unsigned char*>(out.data()), &ctx);
  return out;
}

absl::StatusOr<std::unique_ptr<AccessLog>> AccessLog::Open(const std::string& dir,
                                                           rocksdb::Env* env, const Clock* clock) {
  rocksdb::Options options;
  if (env != nullptr) options.env = env;
  options.create_if_missing = true;
  options.max_background_jobs = 1;
  options.keep_log_file_num = 4;
  options.max_file_opening_threads = 1;
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  rocksdb::DB* raw = nullptr;
  if (auto st = Rocks(rocksdb::DB::Open(options, dir, &raw), absl::StrCat("opening ", dir));
      !st.ok()) {
    return st;
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  // The head: the last record, and the chain up to it (checked in full by
  // VerifyChain; here only the last link is needed).
  uint64_t position = 0;
  std::string head = GenesisHash();
  int64_t last_us = 0;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}));
  it->SeekForPrev(AsSlice(PositionKey(kRecord, UINT64_MAX)));
  if (it->Valid() && it->key().size() == 9 && it->key()[0] == kRecord) {
    position = keys::DecodeFixed64Be(absl::string_view(it->key().data() + 1, 8));
    StoredRecord stored;
    v1::AccessRecord last;
    if (!DecodeStoredRecord(absl::string_view(it->value().data(), it->value().size()), &stored)
             .ok() ||
        !last.ParseFromArray(stored.record_bytes.data(), stored.record_bytes.size())) {
      return absl::DataLossError(
          absl::StrCat("access log ", dir, ": the last record (position ", position,
                       ") does not parse; `gridcase audit verify` names the damage"));
    }
    head = std::string(stored.hash);
    last_us = Micros(last.recorded_at());
  }
  if (auto st = Rocks(it->status(), "finding the last record"); !st.ok()) return st;
  it.reset();
  return std::unique_ptr<AccessLog>(
      new AccessLog(std::move(db), clock, position, std::move(head), last_us));
}

AccessLog::AccessLog(std::unique_ptr<rocksdb::DB> db, const Clock* clock, uint64_t position,
                     std::string head, int64_t last_us)
    : db_(std::move(db)),
      clock_(clock),
      position_(position),
      head_(std::move(head)),
      last_us_(last_us) {
  writer_ = std::thread([this] { WriterLoop(); });
}

AccessLog::~AccessLog() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  writer_.join();
  std::deque<Pending> left;
  {
    absl::MutexLock lock(&mu_);
    left.swap(queue_);
  }
  for (auto& p : left) p.done(absl::UnavailableError("access log: the server is stopping"));
}

void AccessLog::Append(v1::AccessRecord record, Done done) {
  absl::Status failed;
  {
    absl::MutexLock lock(&mu_);
    if (failure_.ok() && !stop_) {
      queue_.push_back(Pending{std::move(record), std::move(done)});
      return;
    }
    failed =
        failure_.ok() ? absl::UnavailableError("access log: the server is stopping") : failure_;
  }
  done(failed);
}

absl::StatusOr<uint64_t> AccessLog::AppendAndWait(v1::AccessRecord record) {
  absl::Mutex mu;
  bool answered = false;
  absl::StatusOr<uint64_t> result;
  Append(std::move(record), [&](absl::StatusOr<uint64_t> r) {
    absl::MutexLock lock(&mu);
    result = std::move(r);
    answered = true;
  });
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(&answered));
  return result;
}

void AccessLog::WriterLoop() {
  for (;;) {
    std::vector<Pending> group;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](AccessLog* self) ABSL_SHARED_LOCKS_REQUIRED(self->mu_) {
            return self->stop_ || !self->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping, nothing left
      while (!queue_.empty()) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    absl::Status written = WriteGroup(&group);
    for (auto& p : group) {
      if (written.ok()) {
        p.done(p.record.position());
      } else {
        p.done(written);
      }
    }
  }
}

absl::Status AccessLog::WriteGroup(std::vector<Pending>* group) {
  uint64_t position;
  std::string head;
  {
    absl::MutexLock lock(&mu_);
    if (!failure_.ok()) return failure_;
    position = position_;
    head = head_;
  }
  last_us_ = std::max(last_us_, clock_->NowMicros());
  rocksdb::WriteBatch batch;
  for (Pending& p : *group) {
    v1::AccessRecord& r = p.record;
    r.set_position(++position);
    *r.mutable_recorded_at() = FromMicros(last_us_);
    Complete(&r);
    std::string bytes;
    GC_CHECK(r.SerializeToString(&bytes));
    const std::string prev = head;
    head = ChainHash(prev, bytes);
    batch.Put(PositionKey(kRecord, position), EncodeStoredRecord(bytes, prev, head));
    PutIndexRows(r, position, last_us_, &batch);
  }
  rocksdb::WriteOptions sync;
  sync.sync = true;
  absl::Status st = Rocks(db_->Write(sync, &batch), "writing");
  absl::MutexLock lock(&mu_);
  if (!st.ok()) {
    failure_ = st;  // the head in memory may no longer match the disk
    return st;
  }
  position_ = position;
  head_ = std::move(head);
  appended_ += group->size();
  ++groups_;
  return absl::OkStatus();
}

absl::StatusOr<size_t> AccessLog::CountBreakGlass(const std::string& caller,
                                                  int64_t since_us) const {
  if (auto st = CheckQueryId("caller", caller); !st.ok()) return st;
  // Newest first, stopping at the first one older than `since_us`; the
  // caller index keeps the recorded time, so no record is read.
  const std::string prefix = IdPrefix(kCaller, caller);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}));
  std::string last = prefix;
  keys::PutFixed64Be(&last, UINT64_MAX);
  size_t n = 0;
  for (it->SeekForPrev(AsSlice(last)); it->Valid() && it->key().starts_with(AsSlice(prefix));
       it->Prev()) {
    if (it->value().size() != 8) continue;
    if (static_cast<int64_t>(keys::DecodeFixed64Be(absl::string_view(it->value().data(), 8))) <
        since_us) {
      break;
    }
    const uint64_t position =
        keys::DecodeFixed64Be(absl::string_view(it->key().data() + prefix.size(), 8));
    std::string ignored;
    auto s = db_->Get({}, AsSlice(PositionKey(kBreakGlass, position)), &ignored);
    if (s.ok()) {
      ++n;
    } else if (!s.IsNotFound()) {
      return Rocks(s, "counting break-glass reads");
    }
  }
  if (auto st = Rocks(it->status(), "counting break-glass reads"); !st.ok()) return st;
  return n;
}

absl::Status AccessLog::ReadRecord(uint64_t position, v1::AccessEntry* out) const {
  std::string value;
  auto s = db_->Get({}, AsSlice(PositionKey(kRecord, position)), &value);
  if (s.IsNotFound()) {
    return absl::DataLossError(
        absl::StrCat("access log: an index names position ", position, ", which is not stored"));
  }
  if (auto st = Rocks(s, "reading a record"); !st.ok()) return st;
  StoredRecord stored;
  if (!DecodeStoredRecord(value, &stored).ok() ||
      !out->mutable_record()->ParseFromArray(stored.record_bytes.data(),
                                             stored.record_bytes.size())) {
    return absl::DataLossError(
        absl::StrCat("access log: the record at position ", position, " does not parse"));
  }
  out->set_prev_hash(std::string(stored.prev_hash));
  out->set_hash(std::string(stored.hash));
  return absl::OkStatus();
}

absl::StatusOr<v1::ReadAccessResponse> AccessLog::Read(const v1::ReadAccessRequest& q) const {
  for (const auto& [field, id] : {std::pair{"case_id", &q.case_id()},
                                  {"person_id", &q.person_id()},
                                  {"caller", &q.caller()},
                                  {"notified", &q.notified()}}) {
    if (auto st = CheckQueryId(field, *id); !st.ok()) return st;
  }
  // A time out of range would overflow in Micros().
  if ((q.has_from() && !IsValidTimestamp(q.from())) || (q.has_to() && !IsValidTimestamp(q.to()))) {
    return absl::InvalidArgumentError("from, to: not a time between years 1 and 9999");
  }
  uint64_t after = 0;
  if (!q.page_token().empty() && !absl::SimpleAtoi(q.page_token(), &after)) {
    return absl::InvalidArgumentError("page_token: not one this server gave");
  }
  const uint32_t page = q.page_size() == 0 ? kPageDefault : std::min(q.page_size(), kPageMax);
  std::vector<std::unique_ptr<PositionCursor>> cursors;
  for (auto& prefix : IndexPrefixes(q)) {
    cursors.push_back(std::make_unique<PositionCursor>(db_.get(), std::move(prefix), after));
  }
  v1::ReadAccessResponse out;
  uint64_t last = after;
  for (size_t scanned = 0; scanned < kScanMax; ++scanned) {
    // The smallest position any cursor holds (merging the indexes).
    PositionCursor* next = nullptr;
    for (auto& c : cursors) {
      if (c->Valid() && (next == nullptr || c->position() < next->position())) next = c.get();
    }
    if (next == nullptr) {
      for (auto& c : cursors) {
        if (auto st = c->status(); !st.ok()) return st;
      }
      return out;  // the end: no token
    }
    const uint64_t position = next->position();
    for (auto& c : cursors) {
      if (c->Valid() && c->position() == position) c->Next();
    }
    last = position;
    v1::AccessEntry entry;
    if (auto st = ReadRecord(position, &entry); !st.ok()) return st;
    if (!Matches(entry.record(), q)) continue;
    *out.add_entries() = std::move(entry);
    if (out.entries_size() == static_cast<int>(page)) break;
  }
  out.set_next_page_token(absl::StrCat(last));
  return out;
}

absl::StatusOr<ChainCheck> AccessLog::VerifyChain(
    const std::function<void(uint64_t position, const std::string& hash)>& each) const {
  ChainCheck check;
  std::string head = GenesisHash();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}));
  uint64_t expected = 1;
  for (it->Seek(AsSlice(std::string(1, kRecord)));
       it->Valid() && it->key().starts_with(AsSlice(std::string(1, kRecord))); it->Next()) {
    auto fail = [&](std::string why) {
      check.first_bad_position = expected;
      check.problem = std::move(why);
      return check;
    };
    if (it->key().size() != 9) return fail("a key of the records is not a position");
    const uint64_t position = keys::DecodeFixed64Be(absl::string_view(it->key().data() + 1, 8));
    if (position != expected) {
      return fail(
          absl::StrCat("record ", expected, " is missing (the next stored is ", position, ")"));
    }
    StoredRecord stored;
    if (!DecodeStoredRecord(absl::string_view(it->value().data(), it->value().size()), &stored)
             .ok()) {
      return fail("the stored value is shorter than its hashes");
    }
    if (std::string problem = CheckLink(stored, head); !problem.empty()) {
      return fail(std::move(problem));
    }
    head = std::string(stored.hash);
    check.records = expected;
    check.head = head;
    if (each) each(expected, head);
    ++expected;
  }
  if (auto st = Rocks(it->status(), "verifying"); !st.ok()) return st;
  return check;
}

std::pair<uint64_t, std::string> AccessLog::head() const {
  absl::MutexLock lock(&mu_);
  return {position_, head_};
}

absl::Status AccessLog::PutSignedHead(const std::string& encoded, uint64_t position) {
  rocksdb::WriteOptions sync;
  sync.sync = true;
  return Rocks(db_->Put(sync, AsSlice(PositionKey(kSignedHead, position)), AsSlice(encoded)),
               "writing a signed head");
}

absl::Status AccessLog::ReadSignedHeads(std::vector<std::string>* encoded) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}));
  const std::string prefix(1, kSignedHead);
  for (it->Seek(AsSlice(prefix)); it->Valid() && it->key().starts_with(AsSlice(prefix));
       it->Next()) {
    encoded->push_back(it->value().ToString());
  }
  return Rocks(it->status(), "reading signed heads");
}

absl::Status AccessLog::CreateCheckpoint(const std::string& dir) const {
  rocksdb::Checkpoint* raw = nullptr;
  if (auto s = rocksdb::Checkpoint::Create(db_.get(), &raw); !s.ok()) {
    return Rocks(s, "access log checkpoint");
  }
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  return Rocks(checkpoint->CreateCheckpoint(dir), absl::StrCat("access log checkpoint into ", dir));
}

AccessLogStats AccessLog::stats() const {
  absl::MutexLock lock(&mu_);
  AccessLogStats s;
  s.records = position_;
  s.appended = appended_;
  s.groups = groups_;
  s.failure = failure_.ok() ? "" : std::string(failure_.message());
  return s;
}

}  // namespace gridcase
