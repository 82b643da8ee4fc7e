// How the client prints answers: protobuf JSON by default, aligned tables
// for people with --table.
#ifndef GRIDCASE_SERVICES_CLI_OUTPUT_H_
#define GRIDCASE_SERVICES_CLI_OUTPUT_H_

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "gridcase/v1/case.pb.h"
#include "gridcase/v1/event.pb.h"
#include "gridcase/v1/service.pb.h"

namespace gridcase::cli {

// Canonical protobuf JSON (lowerCamel names, 64-bit integers as strings)
// with zero values printed, so that scripts can rely on every scalar field
// being present. Pretty unless `compact`, which gives one line.
std::string ToJson(const google::protobuf::Message& message, bool compact);

// A JSON string literal for `text` (quotes included).
std::string JsonQuote(std::string_view text);

// Rows of text printed with aligned columns; the last column is not padded.
class Table {
 public:
  explicit Table(std::vector<std::string> header);
  void AddRow(std::vector<std::string> row);
  void Print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// "2020-02-22T12:00:00Z": UTC, to the second; empty when unset.
std::string FormatTime(const google::protobuf::Timestamp& time);

// The enum value name without its type prefix, lower case:
// CATEGORY_CLOSE_CONTACT -> "close_contact".
std::string ShortEnumName(const std::string& full_name, std::string_view prefix);

// "name=value" for every set field of `message`, one line, e.g.
// "category=CATEGORY_FEVER household_id=h7".
std::string ShortText(const google::protobuf::Message& message);

// The name of the event's payload field ("fever_reading") and a short
// human summary of it ("37.7 °C at compound gate").
std::string PayloadType(const gridcase::v1::Event& event);
std::string PayloadSummary(const gridcase::v1::Event& event);

// One "field | value" row per field; repeated fields get a row per
// element. Fields at their zero value are left out unless `with_zero`
// (a submit response's "duplicate false" is an answer; a case's empty
// hospital is noise). Used for a case and for a submit response.
void PrintKeyValueTable(const google::protobuf::Message& message, bool with_zero,
                        std::ostream& out);
void PrintTimelineTable(const gridcase::v1::GetTimelineResponse& timeline, std::ostream& out);
void PrintCaseListTable(const gridcase::v1::ListCasesResponse& list, std::ostream& out);

}  // namespace gridcase::cli

#endif  // GRIDCASE_SERVICES_CLI_OUTPUT_H_
