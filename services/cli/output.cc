#include "services/cli/output.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <sstream>
#include <utility>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace gridcase::cli {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Decodes one UTF-8 sequence at `text[*i]`, advancing `*i`. Invalid bytes
// decode as themselves so that widths stay finite on bad input.
char32_t NextCodePoint(std::string_view text, size_t* i) {
  const auto byte = static_cast<unsigned char>(text[(*i)++]);
  int extra = 0;
  char32_t cp = byte;
  if (byte >= 0xF0) {
    extra = 3;
    cp = byte & 0x07;
  } else if (byte >= 0xE0) {
    extra = 2;
    cp = byte & 0x0F;
  } else if (byte >= 0xC0) {
    extra = 1;
    cp = byte & 0x1F;
  }
  for (; extra > 0 && *i < text.size(); --extra) {
    const auto next = static_cast<unsigned char>(text[*i]);
    if ((next & 0xC0) != 0x80) break;
    cp = (cp << 6) | (next & 0x3F);
    ++*i;
  }
  return cp;
}

// Names, notes and addresses in this domain are often Chinese, which a
// terminal draws two columns wide; counting bytes or code points would
// break the alignment of every such table.
bool IsWide(char32_t cp) {
  return (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
         (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
         (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
         (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1FAFF) ||
         (cp >= 0x20000 && cp <= 0x3FFFD);
}

size_t DisplayWidth(std::string_view text) {
  size_t width = 0;
  for (size_t i = 0; i < text.size();) {
    width += IsWide(NextCodePoint(text, &i)) ? 2 : 1;
  }
  return width;
}

// A cell is one line: a newline or tab inside free text would break the
// table.
std::string Cell(std::string text) {
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return text;
}

std::string FormatDouble(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

// Quoted when it would otherwise be ambiguous inside "k=v k=v".
std::string FormatString(const std::string& value) {
  const bool plain = !value.empty() && value.find_first_of(" \"=\t\n") == std::string::npos;
  return plain ? value : JsonQuote(value);
}

std::string FormatField(const Message& message, const FieldDescriptor* field, int index) {
  const Reflection* r = message.GetReflection();
  const bool repeated = field->is_repeated();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return std::to_string(repeated ? r->GetRepeatedInt32(message, field, index)
                                     : r->GetInt32(message, field));
    case FieldDescriptor::CPPTYPE_INT64:
      return std::to_string(repeated ? r->GetRepeatedInt64(message, field, index)
                                     : r->GetInt64(message, field));
    case FieldDescriptor::CPPTYPE_UINT32:
      return std::to_string(repeated ? r->GetRepeatedUInt32(message, field, index)
                                     : r->GetUInt32(message, field));
    case FieldDescriptor::CPPTYPE_UINT64:
      return std::to_string(repeated ? r->GetRepeatedUInt64(message, field, index)
                                     : r->GetUInt64(message, field));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return FormatDouble(repeated ? r->GetRepeatedDouble(message, field, index)
                                   : r->GetDouble(message, field));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return FormatDouble(repeated ? r->GetRepeatedFloat(message, field, index)
                                   : r->GetFloat(message, field));
    case FieldDescriptor::CPPTYPE_BOOL:
      return (repeated ? r->GetRepeatedBool(message, field, index) : r->GetBool(message, field))
                 ? "true"
                 : "false";
    case FieldDescriptor::CPPTYPE_ENUM: {
      const int number = repeated ? r->GetRepeatedEnumValue(message, field, index)
                                  : r->GetEnumValue(message, field);
      const auto* value = field->enum_type()->FindValueByNumber(number);
      return value != nullptr ? value->name() : std::to_string(number);
    }
    case FieldDescriptor::CPPTYPE_STRING:
      return FormatString(repeated ? r->GetRepeatedString(message, field, index)
                                   : r->GetString(message, field));
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const Message& sub =
          repeated ? r->GetRepeatedMessage(message, field, index) : r->GetMessage(message, field);
      if (sub.GetDescriptor()->full_name() == "google.protobuf.Timestamp") {
        // Via the wire format: `sub` need not be the generated class.
        google::protobuf::Timestamp time;
        time.ParseFromString(sub.SerializeAsString());
        return FormatTime(time);
      }
      return "{" + ShortText(sub) + "}";
    }
  }
  return "?";
}

std::string FormatAnyField(const Message& message, const FieldDescriptor* field) {
  if (!field->is_repeated()) return FormatField(message, field, -1);
  std::string out = "[";
  const int size = message.GetReflection()->FieldSize(message, field);
  for (int i = 0; i < size; ++i) {
    if (i > 0) out += ", ";
    out += FormatField(message, field, i);
  }
  return out + "]";
}

std::vector<const FieldDescriptor*> SetFields(const Message& message) {
  std::vector<const FieldDescriptor*> fields;
  message.GetReflection()->ListFields(message, &fields);
  return fields;
}

}  // namespace

std::string ToJson(const Message& message, bool compact) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = !compact;
  options.always_print_primitive_fields = true;
  std::string json;
  // Printing a well-formed message cannot fail short of a broken descriptor.
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  while (!json.empty() && json.back() == '\n') json.pop_back();
  return json;
}

std::string JsonQuote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[(c >> 4) & 0xF];
          out += kHex[c & 0xF];
        } else {
          out += c;  // UTF-8 passes through: JSON text is UTF-8.
        }
    }
  }
  return out + "\"";
}

Table::Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }

void Table::AddRow(std::vector<std::string> row) {
  for (std::string& cell : row) cell = Cell(std::move(cell));
  rows_.push_back(std::move(row));
}

void Table::Print(std::ostream& out) const {
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(row[i]));
    }
  }
  for (const auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) {
        line.append(widths[i] - DisplayWidth(row[i]) + 2, ' ');
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
}

std::string FormatTime(const google::protobuf::Timestamp& time) {
  if (time.seconds() == 0 && time.nanos() == 0) return "";
  google::protobuf::Timestamp seconds_only;
  seconds_only.set_seconds(time.seconds());
  return google::protobuf::util::TimeUtil::ToString(seconds_only);
}

std::string ShortEnumName(const std::string& full_name, std::string_view prefix) {
  std::string name = full_name;
  if (name.compare(0, prefix.size(), prefix) == 0) {
    name.erase(0, prefix.size());
  }
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return name;
}

std::string ShortText(const Message& message) {
  std::string out;
  for (const FieldDescriptor* field : SetFields(message)) {
    if (!out.empty()) out += ' ';
    out += field->name() + "=" + FormatAnyField(message, field);
  }
  return out;
}

std::string PayloadType(const gridcase::v1::Event& event) {
  const auto* payload = event.GetDescriptor()->FindOneofByName("payload");
  const FieldDescriptor* field = event.GetReflection()->GetOneofFieldDescriptor(event, payload);
  return field != nullptr ? field->name() : "(none)";
}

std::string PayloadSummary(const gridcase::v1::Event& event) {
  // Temperatures are the most read rows of a timeline; the unit makes them
  // readable at a glance. Every other payload is summarised generically so
  // that new payload types show up without a change here.
  if (event.has_fever_reading()) {
    const auto& reading = event.fever_reading();
    std::string text = FormatDouble(reading.celsius()) + " °C";
    if (!reading.location().empty()) text += " at " + reading.location();
    if (!reading.measured_by().empty()) {
      text += " by " + reading.measured_by();
    }
    return text;
  }
  const auto* payload = event.GetDescriptor()->FindOneofByName("payload");
  const FieldDescriptor* field = event.GetReflection()->GetOneofFieldDescriptor(event, payload);
  if (field == nullptr) return "";
  return ShortText(event.GetReflection()->GetMessage(event, field));
}

void PrintKeyValueTable(const Message& message, bool with_zero, std::ostream& out) {
  Table table({"FIELD", "VALUE"});
  const Reflection* r = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  if (with_zero) {
    for (int i = 0; i < message.GetDescriptor()->field_count(); ++i) {
      const FieldDescriptor* field = message.GetDescriptor()->field(i);
      // An absent message has no value to show, zero or not.
      if (field->message_type() != nullptr && !field->is_repeated() &&
          !r->HasField(message, field)) {
        continue;
      }
      fields.push_back(field);
    }
  } else {
    fields = SetFields(message);
  }
  for (const FieldDescriptor* field : fields) {
    if (!field->is_repeated()) {
      table.AddRow({field->name(), FormatField(message, field, -1)});
      continue;
    }
    const int size = r->FieldSize(message, field);
    for (int i = 0; i < size; ++i) {
      table.AddRow({field->name() + "[" + std::to_string(i) + "]", FormatField(message, field, i)});
    }
  }
  table.Print(out);
}

void PrintTimelineTable(const gridcase::v1::GetTimelineResponse& timeline, std::ostream& out) {
  Table table({"VERSION", "POSITION", "RECORDED_AT", "OCCURRED_AT", "ACTOR", "TYPE", "SUMMARY"});
  for (const auto& record : timeline.records()) {
    const auto& event = record.event();
    // Derived records (decisions) are marked as following their cause;
    // an event no rule reacted to says so.
    std::string summary = PayloadSummary(event);
    if (record.changed_nothing()) summary += "  (changed nothing)";
    // How late it was, when it was: an event learnt after newer ones, a
    // deadline already past when set or fired after its due time.
    const std::string& why = record.explanation();
    for (const char* note : {"(arrived late", "(fired ", "already past due"}) {
      const size_t at = why.find(note);
      if (at != std::string::npos) {
        summary += "  " + why.substr(at);
        break;
      }
    }
    table.AddRow({std::to_string(record.case_version()), std::to_string(record.position()),
                  FormatTime(record.recorded_at()), FormatTime(event.occurred_at()),
                  event.actor().id(), (record.caused_by() != 0 ? "↳ " : "") + PayloadType(event),
                  summary});
  }
  table.Print(out);
}

void PrintCaseListTable(const gridcase::v1::ListCasesResponse& list, std::ostream& out) {
  Table table({"CASE_ID", "STAGE", "CATEGORY", "GRID", "ASSIGNEE", "VERSION", "UPDATED_AT"});
  for (const auto& state : list.cases()) {
    table.AddRow({state.case_id(), state.stage(),
                  state.category() == gridcase::v1::CATEGORY_UNSPECIFIED
                      ? ""
                      : ShortEnumName(gridcase::v1::Category_Name(state.category()), "CATEGORY_"),
                  state.grid_id(), state.assignee(), std::to_string(state.version()),
                  FormatTime(state.updated_at())});
  }
  table.Print(out);
}

}  // namespace gridcase::cli
