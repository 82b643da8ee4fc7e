// Directory imports: the input is a JSON-lines file of
// gridcase.v1.DirectoryEntry as `gridcase directory import` reads it
// (services/cli/directory.cc: blank lines skipped, each other line one
// entry) and, read again, the bytes of an ImportDirectoryRequest as the
// server takes it; the entries are imported on top of the example
// directory as
// Staffing::ImportDirectory does it: every entry checked (Directory::Check)
// against a copy of the directory with the entries before it applied, and
// nothing written unless all pass.
//
// Invariants: a refusal is INVALID_ARGUMENT or FAILED_PRECONDITION; once
// imported, the directory the engine rebuilds from the records
// (ApplyDirectoryRecord, as at open) answers every question as the copy
// the import was checked against; every person serves a unit that exists,
// pairings go both ways, and whoever Resolve names exists and is available.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/common/time.h"
#include "google/protobuf/util/json_util.h"
#include "gridcase/v1/service.pb.h"
#include "tests/fuzz/fuzz_support.h"

namespace gridcase::fuzz {
namespace {

constexpr size_t kLinesMax = 256;

// Every id an entry names.
void CollectIds(const v1::DirectoryEntry& e, std::set<std::string>* units,
                std::set<std::string>* people) {
  units->insert({e.unit().unit_id(), e.unit().parent_id(), e.person().unit_id()});
  people->insert({e.person().person_id(), e.pairing().cadre_id(), e.pairing().worker_id(),
                  e.availability().person_id()});
}

// What the directory answers about `units` and `people`, in one text.
std::string Describe(const Directory& d, const std::set<std::string>& units,
                     const std::set<std::string>& people) {
  std::string out = absl::StrCat(d.unit_count(), " units, ", d.person_count(), " people\n");
  const std::vector<std::string> grids = d.AllGrids();
  absl::StrAppend(&out, "grids: ", absl::StrJoin(grids, ","), "\n");
  for (const std::string& id : units) {
    if (auto u = d.FindUnit(id)) {
      absl::StrAppend(&out, "unit ", id, " ", u->level, " in ", u->parent_id, " named ", u->name,
                      " holds ", absl::StrJoin(u->children, ","), "; grids ",
                      absl::StrJoin(d.GridsUnder(id), ","), "\n");
    }
    std::vector<std::string> ids;
    for (const Person& p : d.PeopleOf(id)) ids.push_back(p.id);
    absl::StrAppend(&out, "people of ", id, ": ", absl::StrJoin(ids, ","), "\n");
  }
  for (const std::string& id : people) {
    if (auto p = d.FindPerson(id)) {
      absl::StrAppend(&out, "person ", id, " ", p->name, " ", p->role, " of ", p->unit_id, " ",
                      p->phone, " paired with ", p->paired_with, " ", p->availability, " ",
                      p->unavailable_from_us, "..", p->unavailable_until_us, "\n");
    }
  }
  for (int64_t at : {kNowUs - 1, kNowUs, kNowUs + int64_t{86400} * 1000000}) {
    for (const std::string& grid : grids) {
      for (int role = v1::Role_MIN; role <= v1::Role_MAX; ++role) {
        absl::StrAppend(&out, "at ", at, " ", grid, " role ", role, ": ",
                        d.Resolve(static_cast<v1::Role>(role), grid, at).value_or("-"), "\n");
      }
    }
    std::vector<std::string> away;
    for (const Person& p : d.UnavailablePeople(at)) away.push_back(p.id);
    absl::StrAppend(&out, "unavailable at ", at, ": ", absl::StrJoin(away, ","), "\n");
  }
  absl::StrAppend(&out, "becoming unavailable: ",
                  absl::StrJoin(d.BecomingUnavailable(INT64_MIN, INT64_MAX), ","), "\n");
  return out;
}

void CheckSound(const Directory& d, const std::set<std::string>& people) {
  for (const std::string& id : people) {
    auto p = d.FindPerson(id);
    if (!p) continue;
    FUZZ_CHECK(p->id == id, "person ", id, " stored as ", p->id);
    FUZZ_CHECK(d.FindUnit(p->unit_id).has_value(), "person ", id, " serves no unit");
    if (!p->paired_with.empty()) {
      auto partner = d.FindPerson(p->paired_with);
      FUZZ_CHECK(partner && partner->paired_with == id, "person ", id, " paired one way with ",
                 p->paired_with);
    }
  }
  for (const std::string& grid : d.AllGrids()) {
    for (int role = v1::Role_MIN; role <= v1::Role_MAX; ++role) {
      auto who = d.Resolve(static_cast<v1::Role>(role), grid, kNowUs);
      if (!who) continue;
      auto p = d.FindPerson(*who);
      FUZZ_CHECK(p && d.IsAvailable(*p, kNowUs), "grid ", grid, " resolved to ", *who,
                 ", who is not there or not available");
    }
  }
}

// The entries of a file as the command line reads it, or none when it
// refuses the file.
std::optional<std::vector<v1::DirectoryEntry>> FromJsonLines(absl::string_view file) {
  std::istringstream in{std::string(file)};
  std::vector<v1::DirectoryEntry> entries;
  std::string line;
  while (std::getline(in, line) && entries.size() < kLinesMax) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    v1::DirectoryEntry entry;
    if (!google::protobuf::util::JsonStringToMessage(line, &entry).ok() ||
        entry.entry_case() == v1::DirectoryEntry::ENTRY_NOT_SET) {
      return std::nullopt;
    }
    std::string json;
    FUZZ_CHECK(google::protobuf::util::MessageToJsonString(entry, &json).ok(), "prints");
    v1::DirectoryEntry back;
    FUZZ_CHECK(
        google::protobuf::util::JsonStringToMessage(json, &back).ok() && SameMessage(back, entry),
        "an entry printed as JSON does not read back: ", json);
    entries.push_back(std::move(entry));
  }
  return entries;
}

void Import(const std::vector<v1::DirectoryEntry>& entries);

int TestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto entries = FromJsonLines(input)) Import(*entries);
  // What the server takes: ImportDirectoryRequest's bytes.
  v1::ImportDirectoryRequest request;
  if (request.ParseFromArray(data, static_cast<int>(size)) && request.entries_size() > 0) {
    const int n = std::min(request.entries_size(), static_cast<int>(kLinesMax));
    Import({request.entries().begin(), request.entries().begin() + n});
  }
  return 0;
}

void Import(const std::vector<v1::DirectoryEntry>& entries) {
  // The import: all checked against a copy before anything is written.
  const Directory& base = ExampleDirectory();
  auto scratch = base.Clone();
  for (size_t i = 0; i < entries.size(); ++i) {
    const absl::Status st = scratch->Check(entries[i]);
    if (!st.ok()) {
      FUZZ_CHECK(absl::IsInvalidArgument(st) || absl::IsFailedPrecondition(st), st.ToString());
      return;
    }
    scratch->Apply(entries[i], kNowUs);
  }

  // Written: the directory as the engine rebuilds it from its records.
  std::set<std::string> units, people;
  Directory live;
  auto replay = [&](const v1::DirectoryEntry& entry) {
    CollectIds(entry, &units, &people);
    v1::Record record;
    record.mutable_event()->set_case_id(kDirectoryCaseId);
    SetPayload(entry, record.mutable_event());
    *record.mutable_recorded_at() = FromMicros(kNowUs);
    auto again = EntryOf(record.event());
    // Fields this build does not know, beside the entry's one of, have no
    // place in the record.
    v1::DirectoryEntry known = entry;
    known.DiscardUnknownFields();
    if (again) again->DiscardUnknownFields();
    FUZZ_CHECK(again && SameMessage(*again, known), "an entry does not survive its record");
    ApplyDirectoryRecord(record, &live);
  };
  std::istringstream example(SourceFile("deploy/examples/directory.jsonl"));
  std::string line;
  while (std::getline(example, line)) {
    v1::DirectoryEntry entry;
    FUZZ_CHECK(google::protobuf::util::JsonStringToMessage(line, &entry).ok(), line);
    replay(entry);
  }
  for (const auto& entry : entries) replay(entry);
  const std::string want = Describe(live, units, people);
  const std::string got = Describe(*scratch, units, people);
  FUZZ_CHECK(want == got, "the directory an import was checked against differs from the one its ",
             "records make:\n", got, "\nversus\n", want);
  CheckSound(live, people);
}

}  // namespace
}  // namespace gridcase::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return gridcase::fuzz::TestOneInput(data, size);
}
