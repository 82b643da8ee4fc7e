// The guard's syntax tree, shared by its compiler (expr.cc) and its
// evaluator (expr_eval.cc). Internal to the workflow library.
#ifndef GRIDCASE_ENGINE_WORKFLOW_EXPR_NODE_H_
#define GRIDCASE_ENGINE_WORKFLOW_EXPR_NODE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/workflow/expr.h"
#include "google/protobuf/descriptor.h"

namespace gridcase::workflow {

enum class Type { kBool, kNumber, kString, kEnum, kDuration, kUnresolved };

const char* TypeName(Type t);

enum class Op { kEq, kNe, kLt, kLe, kGt, kGe };

struct Guard::Node {
  enum Kind {
    kOr,
    kAnd,
    kNot,
    kCmp,
    kIn,
    kLiteral,
    kEventPath,
    kCasePath,
    kCount,
    kTimeInStage,
    kOverdue,
    kIdent
  } kind;
  Type type = Type::kBool;
  const google::protobuf::EnumDescriptor* enum_type = nullptr;  // for kEnum
  std::vector<std::shared_ptr<Node>> kids;
  Op op = Op::kEq;
  // Literals (and resolved identifiers).
  bool b = false;
  double num = 0;
  std::string str;  // strings; the identifier text for kIdent
  int enum_number = 0;
  int64_t duration_us = 0;
  // Paths.
  std::vector<const google::protobuf::FieldDescriptor*> path;
  // count().
  std::string counter;
  int64_t window_us = 0;
  size_t column = 0;
  int height = 1;  // levels of the tree from this node down
};

}  // namespace gridcase::workflow

#endif  // GRIDCASE_ENGINE_WORKFLOW_EXPR_NODE_H_
