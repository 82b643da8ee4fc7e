// Evaluating a compiled guard against an event and its case.
#include <algorithm>
#include <string>
#include <vector>

#include "engine/common/check.h"
#include "engine/common/time.h"
#include "engine/workflow/expr.h"
#include "engine/workflow/expr_node.h"
#include "google/protobuf/reflection.h"
#include "google/protobuf/timestamp.pb.h"

namespace gridcase::workflow {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

namespace {

using Node = Guard::Node;

// A value read at evaluation time. Only the member of the node's type is set.
struct Val {
  bool b = false;
  double num = 0;
  std::string str;
  int enum_number = 0;
  int64_t duration_us = 0;
};

Val ReadPath(const Message& root, const std::vector<const FieldDescriptor*>& path) {
  const Message* msg = &root;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    msg = &msg->GetReflection()->GetMessage(*msg, path[i]);
  }
  const FieldDescriptor* f = path.back();
  const auto* r = msg->GetReflection();
  Val v;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_BOOL:
      v.b = r->GetBool(*msg, f);
      break;
    case FieldDescriptor::CPPTYPE_STRING:
      v.str = r->GetString(*msg, f);
      break;
    case FieldDescriptor::CPPTYPE_ENUM:
      v.enum_number = r->GetEnumValue(*msg, f);
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      v.num = r->GetDouble(*msg, f);
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      v.num = r->GetFloat(*msg, f);
      break;
    case FieldDescriptor::CPPTYPE_INT32:
      v.num = r->GetInt32(*msg, f);
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      v.num = static_cast<double>(r->GetInt64(*msg, f));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      v.num = r->GetUInt32(*msg, f);
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      v.num = static_cast<double>(r->GetUInt64(*msg, f));
      break;
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;  // excluded by Compile
  }
  return v;
}

Val Eval(const Node& n, const GuardInput& in);

bool Compare(Type type, Op op, const Val& a, const Val& b) {
  int c = 0;
  switch (type) {
    case Type::kBool:
      c = a.b == b.b ? 0 : 1;
      break;
    case Type::kString:
      c = a.str.compare(b.str);
      break;
    case Type::kEnum:
      c = a.enum_number == b.enum_number ? 0 : 1;
      break;
    case Type::kNumber:
      c = a.num < b.num ? -1 : a.num > b.num ? 1 : 0;
      break;
    case Type::kDuration:
      c = a.duration_us < b.duration_us ? -1 : a.duration_us > b.duration_us ? 1 : 0;
      break;
    case Type::kUnresolved:
      break;
  }
  switch (op) {
    case Op::kEq:
      return c == 0;
    case Op::kNe:
      return c != 0;
    case Op::kLt:
      return c < 0;
    case Op::kLe:
      return c <= 0;
    case Op::kGt:
      return c > 0;
    case Op::kGe:
      return c >= 0;
  }
  return false;
}

Val Eval(const Node& n, const GuardInput& in) {
  Val v;
  switch (n.kind) {
    case Node::kOr:
      for (const auto& k : n.kids) {
        if (Eval(*k, in).b) {
          v.b = true;
          break;
        }
      }
      return v;
    case Node::kAnd:
      v.b = true;
      for (const auto& k : n.kids) {
        if (!Eval(*k, in).b) {
          v.b = false;
          break;
        }
      }
      return v;
    case Node::kNot:
      v.b = !Eval(*n.kids[0], in).b;
      return v;
    case Node::kCmp:
      v.b = Compare(n.kids[0]->type, n.op, Eval(*n.kids[0], in), Eval(*n.kids[1], in));
      return v;
    case Node::kIn: {
      const Val left = Eval(*n.kids[0], in);
      for (size_t i = 1; i < n.kids.size() && !v.b; ++i) {
        v.b = Compare(n.kids[0]->type, Op::kEq, left, Eval(*n.kids[i], in));
      }
      return v;
    }
    case Node::kLiteral:
      v.b = n.b;
      v.num = n.num;
      v.str = n.str;
      v.enum_number = n.enum_number;
      v.duration_us = n.duration_us;
      return v;
    case Node::kEventPath:
      return ReadPath(*in.event, n.path);
    case Node::kCasePath:
      return ReadPath(*in.state, n.path);
    case Node::kCount:
      v.num = CounterValue(*in.state, n.counter, n.window_us, in.occurred_us);
      return v;
    case Node::kTimeInStage:
      v.duration_us =
          in.state->has_stage_entered_at() ? in.at_us - Micros(in.state->stage_entered_at()) : 0;
      return v;
    case Node::kOverdue:
      for (const auto& d : in.state->deadlines()) {
        if (d.name() == n.counter) v.b = Micros(d.due_at()) <= in.at_us;
      }
      return v;
    case Node::kIdent:
      break;  // resolved or refused by Compile
  }
  GC_UNREACHABLE("guard node kind ", static_cast<int>(n.kind));
}

}  // namespace

uint32_t CounterValue(const v1::CaseState& state, const std::string& name, int64_t window_us,
                      int64_t occurred_us) {
  for (const auto& c : state.counters()) {
    if (c.name() != name) continue;
    const auto& t = c.occurred_us();  // sorted (appliers.cc)
    if (t.empty()) return c.count();  // a counter with neither window nor reset
    if (window_us == 0) return static_cast<uint32_t>(t.size());
    // The most counted events in any window [a, a + w) holding the moment
    // decided: the windows worth trying start there or at a counted event
    // inside (occurred - w, occurred].
    auto count_from = [&](int64_t a) {
      return static_cast<uint32_t>(std::lower_bound(t.begin(), t.end(), a + window_us) -
                                   std::lower_bound(t.begin(), t.end(), a));
    };
    uint32_t best = count_from(occurred_us);
    for (auto it = std::upper_bound(t.begin(), t.end(), occurred_us - window_us);
         it != t.end() && *it <= occurred_us; ++it) {
      best = std::max(best, count_from(*it));
    }
    return best;
  }
  return 0;
}

GuardInput GuardInputFor(const v1::Event& event, const v1::CaseState& state, int64_t recorded_us) {
  const int64_t occurred_us = Micros(event.occurred_at());
  return {&event, &state, std::min(occurred_us, recorded_us), occurred_us};
}

bool Guard::Evaluate(const GuardInput& input) const {
  return root_ == nullptr || Eval(*root_, input).b;
}

}  // namespace gridcase::workflow
