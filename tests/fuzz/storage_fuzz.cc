// What a partition reads back from its files (engine/storage): the first
// byte of the input picks the decoder, the rest is the bytes it decodes:
//
//   0  a stored record value (chain.h): record bytes, prev_hash, hash
//   1  a key of `events` (fixed64be position)
//   2  a key of `case_events` (case_id 0x00 fixed64be version), the case id
//      being what comes before the first 0x00
//   3  a key of `timers` (fixed64be due, case_id 0x00 deadline)
//   4  a fixed32be meta value (format, partition)
//   5  a DURABLE file (durable_mark.h), read from a partition directory
//   6  a `cases` row (a CaseState), as the case index takes it at open
//
// Invariants: each decoder refuses or decodes, and what it decodes encodes
// back to the same bytes; a stored record links to the chain it names
// exactly when its hash is the hash of its bytes, and a parsed record
// chained again links; a durable mark is read only from a file with an
// intact slot; a case row's index entries answer for it, and its timer
// rows decode to its deadlines.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "engine/common/durable_file.h"
#include "engine/common/time.h"
#include "engine/storage/case_index.h"
#include "engine/storage/chain.h"
#include "engine/storage/derived_rows.h"
#include "engine/storage/durable_mark.h"
#include "engine/storage/keys.h"
#include "tests/fuzz/fuzz_support.h"

namespace gridcase::fuzz {
namespace {

void StoredRecordValue(absl::string_view value) {
  StoredRecord stored;
  if (!DecodeStoredRecord(value, &stored).ok()) {
    FUZZ_CHECK(value.size() < 2 * kHashBytes, "a long enough value refused");
    return;
  }
  FUZZ_CHECK(EncodeStoredRecord(std::string(stored.record_bytes), std::string(stored.prev_hash),
                                std::string(stored.hash)) == value,
             "a stored record does not encode back");
  const bool links = CheckLink(stored, stored.prev_hash).empty();
  FUZZ_CHECK(links == (ChainHash(stored.prev_hash, stored.record_bytes) == stored.hash),
             "CheckLink disagrees with the hash");
  v1::Record record;
  if (!record.ParseFromArray(stored.record_bytes.data(),
                             static_cast<int>(stored.record_bytes.size()))) {
    return;
  }
  std::string head(stored.prev_hash);
  const std::string again = ChainOnto(record, &head);
  StoredRecord chained;
  FUZZ_CHECK(DecodeStoredRecord(again, &chained).ok() &&
                 CheckLink(chained, stored.prev_hash).empty() && chained.hash == head,
             "a record chained again does not link");
}

void EventKey(absl::string_view key) {
  auto p = keys::DecodeEventKey(key);
  FUZZ_CHECK(p.has_value() == (key.size() == 8), "an event key of ", key.size(), " bytes");
  if (p) FUZZ_CHECK(keys::EventKey(*p) == key, "an event key does not encode back");
}

void CaseEventKey(absl::string_view key) {
  const absl::string_view case_id = key.substr(0, key.find('\0'));
  auto v = keys::DecodeCaseEventKey(case_id, key);
  if (!v) return;
  FUZZ_CHECK(keys::CaseEventKey(case_id, *v) == key, "a case_events key does not encode back");
  FUZZ_CHECK(
      absl::string_view(keys::CaseEventsPrefix(case_id)) == key.substr(0, case_id.size() + 1),
      "a case_events key outside its case's prefix");
}

void TimerKey(absl::string_view key) {
  auto t = keys::DecodeTimerKey(key);
  if (!t) return;
  FUZZ_CHECK(!t->case_id.empty() && t->case_id.find('\0') == std::string::npos,
             "a timer's case id");
  FUZZ_CHECK(keys::EncodeTimerKey(*t) == key, "a timer key does not encode back");
}

void Fixed32(absl::string_view value) {
  auto v = keys::DecodeFixed32Be(value);
  FUZZ_CHECK(v.has_value() == (value.size() == 4), "a fixed32 of ", value.size(), " bytes");
  if (v) FUZZ_CHECK(keys::EncodeFixed32Be(*v) == value, "a fixed32 does not encode back");
}

void DurableFile(absl::string_view file) {
  const std::string& dir = ScratchDir();
  WriteFile(DurableMarkPath(dir), file, 0644);
  auto mark = ReadDurableMark(FileSystemOf(nullptr), dir);
  if (!mark.ok()) {
    FUZZ_CHECK(absl::IsDataLoss(mark.status()), mark.status().ToString());
    return;
  }
  FUZZ_CHECK(mark->has_value(), "a DURABLE file read as none");
  const bool slot0 = file.substr(0, 8) == "GCMARK01";
  const bool slot1 = file.size() > 4096 && file.substr(4096, 8) == "GCMARK01";
  FUZZ_CHECK(slot0 || slot1, "a mark read from a file with no slot");
}

void CaseRow(absl::string_view row) {
  v1::CaseState state;
  if (!state.ParseFromArray(row.data(), static_cast<int>(row.size()))) return;
  // As the engine writes them: a case has an id (ids are printable ASCII).
  if (!IsValidId(state.case_id(), ValidationLimits().id_bytes_max)) return;
  for (const std::string& key : TimerKeysOf(state)) {
    auto t = keys::DecodeTimerKey(key);
    FUZZ_CHECK(t && t->case_id == state.case_id(), "a timer row of the case does not decode");
    bool known = false;
    for (const auto& d : state.deadlines()) {
      known = known || (d.name() == t->deadline && Micros(d.due_at()) == t->due_us);
    }
    FUZZ_CHECK(known, "a timer row for no deadline of the case");
  }
  CaseIndex index;
  index.StartFilling();
  FUZZ_CHECK(index.AddScanned(state), "a first case not indexed");
  index.MarkComplete();
  CaseFilter filter{state.stage(), state.category(), state.grid_id(), state.assignee()};
  auto matches = index.Matches(state.case_id(), index.Resolve(filter));
  FUZZ_CHECK(matches.has_value() && *matches, "a case does not match its own attributes");
  bool truncated = false;
  auto candidates = index.Candidates(filter, "", 10, &truncated);
  FUZZ_CHECK(!candidates || (candidates->size() == 1 && (*candidates)[0] == state.case_id()),
             "candidates of the only case");
  if (!state.assignee().empty()) {
    auto held = index.HeldBy(state.assignee());
    FUZZ_CHECK(held.size() == 1 && held[0] == state.case_id(), "a case not held by its assignee");
  }
  if (state.stage().empty()) return;  // an empty filter matches all
  // Moved to another stage, it leaves the old one.
  v1::CaseState moved = state;
  moved.set_stage(state.stage() + "-next");
  index.Set(moved);
  CaseFilter by_stage;
  by_stage.stage = state.stage();
  auto old = index.Matches(state.case_id(), index.Resolve(by_stage));
  FUZZ_CHECK(old.has_value() && !*old, "a case still matches the stage it left");
}

int TestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 7) {
    case 0:
      StoredRecordValue(rest);
      break;
    case 1:
      EventKey(rest);
      break;
    case 2:
      CaseEventKey(rest);
      break;
    case 3:
      TimerKey(rest);
      break;
    case 4:
      Fixed32(rest);
      break;
    case 5:
      DurableFile(rest);
      break;
    default:
      CaseRow(rest);
      break;
  }
  return 0;
}

}  // namespace
}  // namespace gridcase::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return gridcase::fuzz::TestOneInput(data, size);
}
