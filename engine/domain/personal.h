// Personal fields: the string fields the protocol marks
// `[(gridcase.v1.data_class) = PERSONAL]` (proto/gridcase/v1/privacy.proto).
//
// A record's personal fields are moved out of it before it is stored and
// sealed under the key of the person it is about (privacy/sealer.h); these
// are the pure halves of that: which fields, whose key, and the move out
// and back. A personal field is never read by a workflow rule, so a case
// folds to the same state with or without them.
#ifndef GRIDCASE_ENGINE_DOMAIN_PERSONAL_H_
#define GRIDCASE_ENGINE_DOMAIN_PERSONAL_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "gridcase/v1/event.pb.h"

namespace gridcase {

// Whether `field` holds personal data.
bool IsPersonal(const google::protobuf::FieldDescriptor* field);

// Whether `type` or any message it contains has a personal field.
bool HasPersonalFields(const google::protobuf::Descriptor* type);

// The subject whose key seals the personal fields of `event`: "case:<id>"
// for a resident's case; "person:<id>" for a directory record about a
// person (their registration, a change of their availability). Empty for
// the engine's other records (workflows, units, pairings): they hold no
// personal data and are not sealed.
std::string SubjectOf(const v1::Event& event);
std::string CaseSubject(const std::string& case_id);
std::string PersonSubject(const std::string& person_id);
// A resident's case is sealed under a key slot (privacy::KeyStore::TakeSlot,
// CaseState.key_slot) rather than a key of its own name: "slot:<16 hex
// digits>". SlotOfSubject is its inverse: 0 for a subject that names no
// slot (slots are numbered from 1).
std::string SlotSubject(uint64_t slot);
uint64_t SlotOfSubject(absl::string_view subject);

// Moves every non-empty personal field of `event` into `*personal` (an
// Event that then holds only those) and returns whether there was any.
bool SplitPersonal(v1::Event* event, v1::Event* personal);

// Puts back what SplitPersonal took out: `event` becomes what it was.
void MergePersonal(const v1::Event& personal, v1::Event* event);

// Whether any personal field of `event` is set: a record stored before
// personal fields were sealed.
bool HasPersonalValues(const v1::Event& event);

// Whether the type of `event`'s payload has personal fields at all (a
// table look-up: what the engine derives never does).
bool PayloadMayBePersonal(const v1::Event& event);

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_DOMAIN_PERSONAL_H_
