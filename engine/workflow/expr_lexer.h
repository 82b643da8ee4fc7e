// The lexer of the guard language (expr.h): tokens with their columns.
#ifndef GRIDCASE_ENGINE_WORKFLOW_EXPR_LEXER_H_
#define GRIDCASE_ENGINE_WORKFLOW_EXPR_LEXER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gridcase::workflow::internal {

struct Token {
  enum Kind { kIdent, kNumber, kDuration, kString, kOp, kEnd } kind;
  std::string text;
  double num = 0;
  int64_t duration_us = 0;
  size_t column = 0;  // 1-based
};

// INVALID_ARGUMENT "column N: what".
absl::Status ErrorAt(size_t column, absl::string_view what);

// The tokens of `src`, ending with a kEnd token; durations ("24h") are
// single tokens.
absl::StatusOr<std::vector<Token>> Lex(absl::string_view src);

}  // namespace gridcase::workflow::internal

#endif  // GRIDCASE_ENGINE_WORKFLOW_EXPR_LEXER_H_
