#include "engine/workflow/expr_lexer.h"

#include <cctype>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "engine/workflow/duration.h"

namespace gridcase::workflow::internal {

absl::Status ErrorAt(size_t column, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("column ", column, ": ", what));
}

absl::StatusOr<std::vector<Token>> Lex(absl::string_view src) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < src.size()) {
    const char c = src[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    Token t;
    t.column = i + 1;
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < src.size() && (std::isalnum(static_cast<unsigned char>(src[j])) || src[j] == '_'))
        ++j;
      t.kind = Token::kIdent;
      t.text = std::string(src.substr(i, j - i));
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t j = i;
      while (j < src.size() && (std::isdigit(static_cast<unsigned char>(src[j])) || src[j] == '.'))
        ++j;
      const std::string number(src.substr(i, j - i));
      if (j < src.size() && std::isalpha(static_cast<unsigned char>(src[j]))) {
        size_t k = j;
        while (k < src.size() && std::isalpha(static_cast<unsigned char>(src[k]))) ++k;
        auto d = ParseDuration(src.substr(i, k - i));
        if (!d.ok()) return ErrorAt(t.column, d.status().message());
        t.kind = Token::kDuration;
        t.duration_us = *d;
        t.text = std::string(src.substr(i, k - i));
        i = k;
      } else {
        char* end = nullptr;
        t.num = std::strtod(number.c_str(), &end);
        if (end != number.c_str() + number.size()) {
          return ErrorAt(t.column, absl::StrCat("\"", number, "\" is not a number"));
        }
        t.kind = Token::kNumber;
        t.text = number;
        i = j;
      }
    } else if (c == '"') {
      size_t j = i + 1;
      std::string text;
      while (j < src.size() && src[j] != '"') {
        if (src[j] == '\\' && j + 1 < src.size()) ++j;
        text.push_back(src[j++]);
      }
      if (j >= src.size()) return ErrorAt(t.column, "string is not closed");
      t.kind = Token::kString;
      t.text = std::move(text);
      i = j + 1;
    } else {
      static const char* const kOps[] = {"==", "!=", "<=", ">=", "&&", "||", "<", ">",
                                         "!",  "(",  ")",  "[",  "]",  ",",  "."};
      bool found = false;
      for (const char* op : kOps) {
        const absl::string_view o(op);
        if (src.substr(i, o.size()) == o) {
          t.kind = Token::kOp;
          t.text = std::string(o);
          i += o.size();
          found = true;
          break;
        }
      }
      if (!found) {
        return ErrorAt(t.column, absl::StrCat("unexpected character '", std::string(1, c), "'"));
      }
    }
    out.push_back(std::move(t));
  }
  Token end;
  end.kind = Token::kEnd;
  end.column = src.size() + 1;
  out.push_back(end);
  return out;
}

}  // namespace gridcase::workflow::internal
