#include "engine/audit/log_reader.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/domain/validate.h"

namespace gridcase {

absl::StatusOr<std::unique_ptr<LogReader>> LogReader::Create(const PartitionSet* partitions,
                                                             const Directory* directory,
                                                             const v1::ReadLogRequest& request) {
  std::unique_ptr<LogReader> reader(new LogReader(partitions));
  const uint32_t count = partitions->count();
  if (request.has_partition() && request.partition() >= count) {
    return absl::InvalidArgumentError(absl::StrCat("partition: ", request.partition(),
                                                   " is not a partition (there are ", count, ")"));
  }
  const Position from(std::max<uint64_t>(request.from_position(), 1));
  if (!request.case_id().empty()) {
    if (!IsValidId(request.case_id(), ValidationLimits{}.id_bytes_max)) {
      return absl::InvalidArgumentError(
          "case_id: must be 1 to 128 bytes of printable ASCII without spaces");
    }
    const PartitionId home = partitions->PartitionOf(request.case_id());
    if (request.has_partition() && request.partition() != home.value()) {
      return absl::InvalidArgumentError(absl::StrCat("case ", request.case_id(),
                                                     " is in partition ", home.value(), ", not ",
                                                     request.partition()));
    }
    reader->case_id_ = request.case_id();
    reader->cursors_.push_back(Cursor{home, from, CaseVersion(0)});
  } else if (request.has_partition()) {
    reader->cursors_.push_back(Cursor{PartitionId(request.partition()), from, CaseVersion(0)});
  } else {
    for (uint32_t i = 0; i < count; ++i) {
      reader->cursors_.push_back(Cursor{PartitionId(i), from, CaseVersion(0)});
    }
  }
  const google::protobuf::OneofDescriptor* payload =
      v1::Event::descriptor()->FindOneofByName("payload");
  for (const std::string& type : request.event_types()) {
    const auto* field = v1::Event::descriptor()->FindFieldByName(type);
    if (field == nullptr || field->containing_oneof() != payload) {
      return absl::InvalidArgumentError(absl::StrCat(
          "event_types: ", type, " is not an event type (a payload field of Event, such as ",
          "fever_reading or escalated)"));
    }
    reader->payloads_.insert(field->number());
  }
  if (!request.area().empty()) {
    reader->grids_ = directory->GridsUnder(request.area());
    if (reader->grids_.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("area: no unit ", request.area(), " with grids in the directory"));
    }
    std::sort(reader->grids_.begin(), reader->grids_.end());
    reader->by_area_ = true;
  }
  return reader;
}

bool LogReader::Matches(const v1::Record& record) const {
  const v1::Event& e = record.event();
  if (!case_id_.empty() && e.case_id() != case_id_) return false;
  if (!payloads_.empty() && !payloads_.contains(static_cast<int>(e.payload_case()))) return false;
  if (by_area_ && !std::binary_search(grids_.begin(), grids_.end(), e.grid_id())) return false;
  return true;
}

absl::Status LogReader::NextOfCase(Cursor* cursor, size_t limit, std::vector<v1::LogEntry>* out,
                                   bool* caught_up) {
  const PartitionStore& store = partitions_->store(cursor->partition);
  std::vector<v1::Record> records;
  bool more = false;
  if (auto st = store.ReadTimeline(case_id_, cursor->case_version, limit, &records, &more);
      !st.ok()) {
    return st;
  }
  for (const v1::Record& r : records) {
    cursor->case_version = CaseVersion(r.case_version());
    if (r.position() < cursor->next.value() || !Matches(r)) continue;
    auto entry = store.ReadLogEntry(Position(r.position()));
    if (!entry.ok()) return entry.status();
    out->push_back(std::move(*entry));
  }
  if (!records.empty()) cursor->next = Position(records.back().position() + 1);
  *caught_up = !more;
  return absl::OkStatus();
}

absl::Status LogReader::Next(size_t limit, size_t scan_max, std::vector<v1::LogEntry>* out,
                             bool* caught_up) {
  *caught_up = true;
  const size_t wanted = out->size() + limit;
  for (Cursor& cursor : cursors_) {
    if (out->size() >= wanted) {
      *caught_up = false;
      break;
    }
    if (!case_id_.empty()) {
      bool done = true;
      if (auto st = NextOfCase(&cursor, wanted - out->size(), out, &done); !st.ok()) return st;
      *caught_up = *caught_up && done;
      continue;
    }
    const PartitionStore& store = partitions_->store(cursor.partition);
    std::vector<v1::LogEntry> page;
    const size_t scan = std::min(scan_max, std::max<size_t>(wanted - out->size(), 256));
    if (auto st = store.ReadLog(cursor.next, scan, &page); !st.ok()) return st;
    size_t used = 0;
    for (; used < page.size() && out->size() < wanted; ++used) {
      v1::LogEntry& entry = page[used];
      cursor.next = Position(entry.record().position() + 1);
      if (Matches(entry.record())) out->push_back(std::move(entry));
    }
    if (page.size() == scan || used < page.size()) *caught_up = false;
  }
  return absl::OkStatus();
}

}  // namespace gridcase
