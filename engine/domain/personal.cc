#include "engine/domain/personal.h"

#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/common/check.h"
#include "engine/domain/directory.h"
#include "gridcase/v1/privacy.pb.h"

namespace gridcase {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Every message type an Event holds, itself included, each once.
std::vector<const Descriptor*> MessagesOfEvent() {
  std::vector<const Descriptor*> out;
  absl::flat_hash_set<const Descriptor*> seen;
  std::vector<const Descriptor*> todo = {v1::Event::descriptor()};
  while (!todo.empty()) {
    const Descriptor* d = todo.back();
    todo.pop_back();
    if (!seen.insert(d).second) continue;
    out.push_back(d);
    for (int i = 0; i < d->field_count(); ++i) {
      if (d->field(i)->message_type() != nullptr) todo.push_back(d->field(i)->message_type());
    }
  }
  return out;
}

bool ComputeHasPersonal(const Descriptor* type, int depth) {
  GC_CHECK(depth < 32, "message nesting too deep at ", type->full_name());
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* f = type->field(i);
    if (IsPersonal(f)) return true;
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
        ComputeHasPersonal(f->message_type(), depth + 1)) {
      return true;
    }
  }
  return false;
}

// Where a message type's personal fields are: its own, and the singular
// message fields whose type has some. Read by Split and AnySet instead of
// listing every field a message has set, which cost more than sealing.
struct Plan {
  std::vector<const FieldDescriptor*> personal;
  std::vector<const FieldDescriptor*> nested;
};

Plan MakePlan(const Descriptor* type) {
  Plan plan;
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* f = type->field(i);
    if (IsPersonal(f)) {
      plan.personal.push_back(f);
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
               HasPersonalFields(f->message_type())) {
      // A repeated message with personal fields could not be merged back
      // in place; the protocol has none (personal_test checks).
      GC_CHECK(!f->is_repeated(), f->full_name(), ": a repeated message with personal fields");
      plan.nested.push_back(f);
    }
  }
  return plan;
}

const Plan& PlanOf(const Descriptor* type) {
  // Built once for every message an Event holds; never destroyed: read by
  // threads until exit.
  static const auto* const plans = new absl::flat_hash_map<const Descriptor*, Plan>([] {
    absl::flat_hash_map<const Descriptor*, Plan> table;
    for (const Descriptor* d : MessagesOfEvent()) table.emplace(d, MakePlan(d));
    return table;
  }());
  auto it = plans->find(type);
  GC_CHECK(it != plans->end(), type->full_name(), " is not a message an Event holds");
  return it->second;
}

// Moves the personal fields of `from` into `to` (of the same type).
bool Split(Message* from, Message* to) {
  const Reflection* rf = from->GetReflection();
  const Reflection* rt = to->GetReflection();
  const Plan& plan = PlanOf(from->GetDescriptor());
  bool any = false;
  for (const FieldDescriptor* f : plan.personal) {
    if (f->is_repeated()) {
      const int n = rf->FieldSize(*from, f);
      if (n == 0) continue;
      for (int i = 0; i < n; ++i) rt->AddString(to, f, rf->GetRepeatedString(*from, f, i));
    } else {
      if (!rf->HasField(*from, f)) continue;
      rt->SetString(to, f, rf->GetString(*from, f));
    }
    rf->ClearField(from, f);
    any = true;
  }
  for (const FieldDescriptor* f : plan.nested) {
    if (!rf->HasField(*from, f)) continue;
    const bool moved = Split(rf->MutableMessage(from, f), rt->MutableMessage(to, f));
    if (!moved) rt->ClearField(to, f);
    any = any || moved;
  }
  return any;
}

bool AnySet(const Message& m) {
  const Reflection* r = m.GetReflection();
  const Plan& plan = PlanOf(m.GetDescriptor());
  for (const FieldDescriptor* f : plan.personal) {
    if (f->is_repeated() ? r->FieldSize(m, f) > 0 : r->HasField(m, f)) return true;
  }
  for (const FieldDescriptor* f : plan.nested) {
    if (r->HasField(m, f) && AnySet(r->GetMessage(m, f))) return true;
  }
  return false;
}

bool ReadIsPersonal(const FieldDescriptor* field) {
  return field->type() == FieldDescriptor::TYPE_STRING &&
         field->options().GetExtension(v1::data_class) == v1::PERSONAL;
}

}  // namespace

bool IsPersonal(const FieldDescriptor* field) {
  // Read from the options once for every field an Event holds: an
  // extension look-up per field per record cost more than the sealing.
  static const auto* const known = new absl::flat_hash_map<const FieldDescriptor*, bool>([] {
    absl::flat_hash_map<const FieldDescriptor*, bool> table;
    for (const Descriptor* d : MessagesOfEvent()) {
      for (int i = 0; i < d->field_count(); ++i) {
        table.emplace(d->field(i), ReadIsPersonal(d->field(i)));
      }
    }
    return table;
  }());  // never destroyed: read by threads until exit
  auto it = known->find(field);
  return it != known->end() ? it->second : ReadIsPersonal(field);
}

bool HasPersonalFields(const Descriptor* type) {
  // Built once for every message an Event holds; other types are walked.
  static const auto* const known = new absl::flat_hash_map<const Descriptor*, bool>([] {
    absl::flat_hash_map<const Descriptor*, bool> table;
    for (const Descriptor* d : MessagesOfEvent()) table.emplace(d, ComputeHasPersonal(d, 0));
    return table;
  }());  // never destroyed: read by threads until exit
  auto it = known->find(type);
  return it != known->end() ? it->second : ComputeHasPersonal(type, 0);
}

std::string SubjectOf(const v1::Event& event) {
  if (event.case_id() == kDirectoryCaseId) {
    if (event.has_person_registered()) return PersonSubject(event.person_registered().person_id());
    if (event.has_availability_changed()) {
      return PersonSubject(event.availability_changed().person_id());
    }
    return "";
  }
  if (event.case_id().empty() || event.case_id()[0] == '~') return "";
  return CaseSubject(event.case_id());
}

std::string CaseSubject(const std::string& case_id) { return absl::StrCat("case:", case_id); }

std::string SlotSubject(uint64_t slot) { return absl::StrFormat("slot:%016x", slot); }

uint64_t SlotOfSubject(absl::string_view subject) {
  constexpr absl::string_view kPrefix = "slot:";
  if (subject.size() != kPrefix.size() + 16 || !absl::StartsWith(subject, kPrefix)) return 0;
  uint64_t slot = 0;
  for (char c : subject.substr(kPrefix.size())) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return 0;
    }
    slot = slot << 4 | static_cast<uint64_t>(digit);
  }
  return slot;
}

std::string PersonSubject(const std::string& person_id) {
  return absl::StrCat("person:", person_id);
}

bool SplitPersonal(v1::Event* event, v1::Event* personal) { return Split(event, personal); }

void MergePersonal(const v1::Event& personal, v1::Event* event) { event->MergeFrom(personal); }

bool HasPersonalValues(const v1::Event& event) { return AnySet(event); }

bool PayloadMayBePersonal(const v1::Event& event) {
  static const google::protobuf::OneofDescriptor* const payload =
      v1::Event::descriptor()->FindOneofByName("payload");
  const FieldDescriptor* set = event.GetReflection()->GetOneofFieldDescriptor(event, payload);
  return set != nullptr && set->message_type() != nullptr && HasPersonalFields(set->message_type());
}

}  // namespace gridcase
