#include "engine/workflow/expr.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/common/check.h"
#include "engine/domain/personal.h"
#include "engine/workflow/duration.h"
#include "engine/workflow/expr_lexer.h"
#include "engine/workflow/expr_node.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"
#include "google/protobuf/timestamp.pb.h"

namespace gridcase::workflow {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

const char* TypeName(Type t) {
  switch (t) {
    case Type::kBool:
      return "a boolean";
    case Type::kNumber:
      return "a number";
    case Type::kString:
      return "a string";
    case Type::kEnum:
      return "an enum";
    case Type::kDuration:
      return "a duration";
    case Type::kUnresolved:
      return "a name";
  }
  return "?";
}

namespace {

using Node = Guard::Node;
using NodePtr = std::shared_ptr<Node>;
using internal::ErrorAt;
using internal::Lex;
using internal::Token;

// Field types that guards can read.
absl::StatusOr<Type> TypeOfField(const FieldDescriptor* f, size_t column) {
  if (f->is_repeated()) {
    return ErrorAt(column, absl::StrCat(f->full_name(), " is a list; guards read single values"));
  }
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_BOOL:
      return Type::kBool;
    case FieldDescriptor::CPPTYPE_STRING:
      return Type::kString;
    case FieldDescriptor::CPPTYPE_ENUM:
      return Type::kEnum;
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
      return Type::kNumber;
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return ErrorAt(column, absl::StrCat(f->full_name(), " is a message; name one of its fields"));
  }
  return ErrorAt(column, "unsupported field type");
}

class Parser {
 public:
  Parser(std::vector<Token> tokens, const GuardScope& scope)
      : tokens_(std::move(tokens)), scope_(scope) {}

  absl::StatusOr<NodePtr> ParseAll() {
    auto e = ParseOr();
    // The parse is bounded (nesting, nodes); this says the tree is too,
    // as the argument in expr.h shows. Beyond it is a bug of the parser.
    GC_CHECK(!e.ok() || (*e)->height <= kGuardDepthMax, "a guard compiled ", (*e)->height,
             " levels deep, beyond ", kGuardDepthMax);
    if (!e.ok()) return e;
    if (Peek().kind != Token::kEnd) {
      return ErrorAt(Peek().column, absl::StrCat("unexpected \"", Peek().text, "\""));
    }
    if (auto st = RequireBool(**e); !st.ok()) return st;
    return e;
  }

 private:
  const Token& Peek() const { return tokens_[pos_]; }
  const Token& Next() { return tokens_[pos_++]; }
  bool IsOp(absl::string_view op) const { return Peek().kind == Token::kOp && Peek().text == op; }
  bool IsWord(absl::string_view w) const {
    return Peek().kind == Token::kIdent && Peek().text == w;
  }

  // Every node of the tree is made here, so that it is counted.
  absl::StatusOr<NodePtr> NewNode(Node::Kind kind, size_t column) {
    if (++nodes_ > kGuardNodesMax) {
      return ErrorAt(
          column, absl::StrCat("more than ", kGuardNodesMax, " values and operators in one guard"));
    }
    auto node = std::make_shared<Node>();
    node->kind = kind;
    node->column = column;
    return node;
  }

  // Sets the height of a node whose kids are all in place.
  static void Seal(Node& n) {
    for (const auto& k : n.kids) n.height = std::max(n.height, k->height + 1);
  }

  // Called at each "(" and negation before the parser descends into it:
  // this is what bounds the parser's own recursion. Leave() undoes it.
  absl::Status Enter(size_t column) {
    if (++nesting_ > kGuardNestingMax) {
      return ErrorAt(column, absl::StrCat("more than ", kGuardNestingMax,
                                          " parentheses and negations nested"));
    }
    return absl::OkStatus();
  }
  void Leave() { --nesting_; }

  absl::Status RequireBool(const Node& n) {
    if (n.type == Type::kBool) return absl::OkStatus();
    return ErrorAt(n.column, absl::StrCat("expected a condition, found ", TypeName(n.type)));
  }

  absl::StatusOr<NodePtr> Binary(Node::Kind kind, absl::string_view sym, absl::string_view word,
                                 absl::StatusOr<NodePtr> (Parser::*sub)()) {
    auto left = (this->*sub)();
    if (!left.ok()) return left;
    if (!IsOp(sym) && !IsWord(word)) return left;
    auto node = NewNode(kind, (*left)->column);
    if (!node.ok()) return node;
    if (auto st = RequireBool(**left); !st.ok()) return st;
    (*node)->kids.push_back(*left);
    while (IsOp(sym) || IsWord(word)) {
      Next();
      auto right = (this->*sub)();
      if (!right.ok()) return right;
      if (auto st = RequireBool(**right); !st.ok()) return st;
      (*node)->kids.push_back(*right);
    }
    Seal(**node);
    return node;
  }

  absl::StatusOr<NodePtr> ParseOr() { return Binary(Node::kOr, "||", "or", &Parser::ParseAnd); }
  absl::StatusOr<NodePtr> ParseAnd() { return Binary(Node::kAnd, "&&", "and", &Parser::ParseNot); }

  absl::StatusOr<NodePtr> ParseNot() {
    if (IsOp("!") || IsWord("not")) {
      const size_t column = Next().column;
      if (auto st = Enter(column); !st.ok()) return st;
      auto inner = ParseNot();
      Leave();
      if (!inner.ok()) return inner;
      if (auto st = RequireBool(**inner); !st.ok()) return st;
      auto node = NewNode(Node::kNot, column);
      if (!node.ok()) return node;
      (*node)->kids.push_back(*inner);
      Seal(**node);
      return node;
    }
    return ParseCmp();
  }

  absl::StatusOr<NodePtr> ParseCmp() {
    auto left = ParseTerm();
    if (!left.ok()) return left;
    static const std::pair<const char*, Op> kOps[] = {{"==", Op::kEq}, {"!=", Op::kNe},
                                                      {"<=", Op::kLe}, {">=", Op::kGe},
                                                      {"<", Op::kLt},  {">", Op::kGt}};
    for (const auto& [sym, op] : kOps) {
      if (!IsOp(sym)) continue;
      const Token& tok = Next();
      auto right = ParseTerm();
      if (!right.ok()) return right;
      auto node = NewNode(Node::kCmp, tok.column);
      if (!node.ok()) return node;
      (*node)->op = op;
      (*node)->kids = {*left, *right};
      if (auto st = CheckComparable(**node, op != Op::kEq && op != Op::kNe); !st.ok()) return st;
      Seal(**node);
      return node;
    }
    if (IsWord("in")) {
      const size_t column = Next().column;
      if (!IsOp("[")) return ErrorAt(Peek().column, "expected '[' after 'in'");
      Next();
      auto made = NewNode(Node::kIn, column);
      if (!made.ok()) return made;
      NodePtr node = std::move(*made);
      node->kids.push_back(*left);
      for (;;) {
        auto item = ParseTerm();
        if (!item.ok()) return item;
        node->kids.push_back(*item);
        if (IsOp(",")) {
          Next();
          continue;
        }
        if (IsOp("]")) {
          Next();
          break;
        }
        return ErrorAt(Peek().column, "expected ',' or ']'");
      }
      for (size_t i = 1; i < node->kids.size(); ++i) {
        Node pair;
        pair.kids = {node->kids[0], node->kids[i]};
        pair.column = node->kids[i]->column;
        if (auto st = CheckComparable(pair, false); !st.ok()) return st;
        node->kids[i] = pair.kids[1];
      }
      Seal(*node);
      return node;
    }
    if ((*left)->type == Type::kUnresolved) {
      return ErrorAt((*left)->column,
                     absl::StrCat("unknown name \"", (*left)->str,
                                  "\": not a field of the event, not case.*, count() "
                                  "or time_in_stage"));
    }
    return left;
  }

  // Resolves an identifier against an enum: "POSITIVE" or its full name.
  absl::Status ResolveEnum(Node* ident, const EnumDescriptor* e) {
    const auto* v = e->FindValueByName(ident->str);
    for (int i = 0; v == nullptr && i < e->value_count(); ++i) {
      const std::string& name = e->value(i)->name();
      if (name.size() > ident->str.size() &&
          name.compare(name.size() - ident->str.size(), ident->str.size(), ident->str) == 0 &&
          name[name.size() - ident->str.size() - 1] == '_') {
        v = e->value(i);
      }
    }
    if (v == nullptr) {
      std::vector<std::string> names;
      for (int i = 0; i < e->value_count(); ++i) names.push_back(e->value(i)->name());
      return ErrorAt(ident->column, absl::StrCat(ident->str, " is not a value of ", e->full_name(),
                                                 " (", absl::StrJoin(names, ", "), ")"));
    }
    ident->kind = Node::kLiteral;
    ident->type = Type::kEnum;
    ident->enum_type = e;
    ident->enum_number = v->number();
    return absl::OkStatus();
  }

  absl::Status CheckComparable(Node& cmp, bool ordering) {
    NodePtr& l = cmp.kids[0];
    NodePtr& r = cmp.kids[1];
    if (l->type == Type::kUnresolved && r->type == Type::kEnum) {
      auto copy = std::make_shared<Node>(*l);
      if (auto st = ResolveEnum(copy.get(), r->enum_type); !st.ok()) return st;
      l = copy;
    }
    if (r->type == Type::kUnresolved && l->type == Type::kEnum) {
      auto copy = std::make_shared<Node>(*r);
      if (auto st = ResolveEnum(copy.get(), l->enum_type); !st.ok()) return st;
      r = copy;
    }
    for (const NodePtr& side : {l, r}) {
      if (side->type == Type::kUnresolved) {
        return ErrorAt(side->column, absl::StrCat("unknown name \"", side->str, "\""));
      }
    }
    if (l->type != r->type) {
      return ErrorAt(cmp.column, absl::StrCat("type mismatch: ", TypeName(l->type),
                                              " compared with ", TypeName(r->type)));
    }
    if (l->type == Type::kEnum && l->enum_type != r->enum_type) {
      return ErrorAt(cmp.column, absl::StrCat("type mismatch: ", l->enum_type->full_name(),
                                              " compared with ", r->enum_type->full_name()));
    }
    if (ordering && l->type != Type::kNumber && l->type != Type::kDuration) {
      return ErrorAt(cmp.column, absl::StrCat("<, <=, > and >= compare numbers or durations, not ",
                                              TypeName(l->type), "s"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<NodePtr> ParseTerm() {
    const Token& tok = Next();
    if (tok.kind == Token::kEnd) return ErrorAt(tok.column, "expression ends too early");
    if (tok.kind == Token::kOp && tok.text == "(") {
      if (auto st = Enter(tok.column); !st.ok()) return st;
      auto inner = ParseOr();
      Leave();
      if (!inner.ok()) return inner;
      if (!IsOp(")")) return ErrorAt(Peek().column, "expected ')'");
      Next();
      return inner;
    }
    auto made = NewNode(Node::kLiteral, tok.column);
    if (!made.ok()) return made;
    NodePtr node = std::move(*made);
    switch (tok.kind) {
      case Token::kEnd:
        break;  // answered above
      case Token::kNumber:
        node->kind = Node::kLiteral;
        node->type = Type::kNumber;
        node->num = tok.num;
        return node;
      case Token::kDuration:
        node->kind = Node::kLiteral;
        node->type = Type::kDuration;
        node->duration_us = tok.duration_us;
        return node;
      case Token::kString:
        node->kind = Node::kLiteral;
        node->type = Type::kString;
        node->str = tok.text;
        return node;
      case Token::kOp:  // "(" is answered above
        return ErrorAt(tok.column, absl::StrCat("unexpected \"", tok.text, "\""));
      case Token::kIdent:
        break;
    }
    if (tok.text == "true" || tok.text == "false") {
      node->kind = Node::kLiteral;
      node->type = Type::kBool;
      node->b = tok.text == "true";
      return node;
    }
    if (tok.text == "time_in_stage") {
      node->kind = Node::kTimeInStage;
      node->type = Type::kDuration;
      return node;
    }
    if (tok.text == "count") return ParseCount(node);
    if (tok.text == "overdue") return ParseOverdue(node);
    // A path, or an identifier to resolve later.
    std::vector<std::pair<std::string, size_t>> parts = {{tok.text, tok.column}};
    while (IsOp(".")) {
      Next();
      if (Peek().kind != Token::kIdent) return ErrorAt(Peek().column, "expected a field name");
      parts.emplace_back(Peek().text, Peek().column);
      Next();
    }
    const bool on_case = parts[0].first == "case";
    const Descriptor* d = on_case ? v1::CaseState::descriptor() : v1::Event::descriptor();
    if (on_case) parts.erase(parts.begin());
    if (parts.empty())
      return ErrorAt(tok.column, "case needs a field: case.category, case.stage, ...");
    const FieldDescriptor* first = d->FindFieldByName(parts[0].first);
    if (first == nullptr && !on_case && parts.size() == 1) {
      node->kind = Node::kIdent;
      node->type = Type::kUnresolved;
      node->str = tok.text;
      return node;
    }
    node->kind = on_case ? Node::kCasePath : Node::kEventPath;
    for (size_t i = 0; i < parts.size(); ++i) {
      const auto& [name, column] = parts[i];
      const FieldDescriptor* f = d == nullptr ? nullptr : d->FindFieldByName(name);
      if (f == nullptr) {
        return ErrorAt(column, absl::StrCat("\"", name, "\" is not a field of ",
                                            d ? d->full_name() : "a value"));
      }
      if (!on_case && i == 0 && f->containing_oneof() != nullptr && f->name() != scope_.payload) {
        return ErrorAt(column, scope_.payload.empty()
                                   ? absl::StrCat("this rule reacts to no event type, so it "
                                                  "cannot read ",
                                                  name)
                                   : absl::StrCat(name,
                                                  " is not the event this rule reacts "
                                                  "to (",
                                                  scope_.payload, ")"));
      }
      if (IsPersonal(f)) {
        return ErrorAt(column, absl::StrCat(f->full_name(),
                                            " is personal data: a rule cannot read it (decisions "
                                            "must not depend on what an erasure destroys)"));
      }
      node->path.push_back(f);
      const bool last = i + 1 == parts.size();
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !last) {
        d = f->message_type();
        continue;
      }
      if (!last) {
        return ErrorAt(parts[i + 1].second, absl::StrCat(f->full_name(), " has no fields"));
      }
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
          f->message_type() == google::protobuf::Timestamp::descriptor()) {
        return ErrorAt(column,
                       absl::StrCat(f->full_name(), " is a time; compare time_in_stage instead"));
      }
      auto type = TypeOfField(f, column);
      if (!type.ok()) return type.status();
      node->type = *type;
      if (*type == Type::kEnum) node->enum_type = f->enum_type();
    }
    return node;
  }

  absl::StatusOr<NodePtr> ParseCount(NodePtr node) {
    auto name = ParseNameArgument("count");
    if (!name.ok()) return name.status();
    auto it = scope_.counters.find(name->text);
    if (it == scope_.counters.end()) {
      return ErrorAt(name->column, absl::StrCat("no counter named \"", name->text, "\""));
    }
    node->kind = Node::kCount;
    node->type = Type::kNumber;
    node->counter = name->text;
    node->window_us = it->second;
    return node;
  }

  // Reads ( "name" ) and returns the name, or an error.
  absl::StatusOr<Token> ParseNameArgument(const char* function) {
    if (!IsOp("(")) return ErrorAt(Peek().column, absl::StrCat("expected '(' after ", function));
    Next();
    if (Peek().kind != Token::kString) {
      return ErrorAt(Peek().column,
                     absl::StrCat(function, " takes a name in quotes: ", function, "(\"name\")"));
    }
    Token name = Next();
    if (!IsOp(")")) return ErrorAt(Peek().column, "expected ')'");
    Next();
    return name;
  }

  absl::StatusOr<NodePtr> ParseOverdue(NodePtr node) {
    auto name = ParseNameArgument("overdue");
    if (!name.ok()) return name.status();
    if (!scope_.deadlines.count(name->text)) {
      return ErrorAt(name->column,
                     absl::StrCat("no deadline named \"", name->text, "\" is ever set"));
    }
    node->kind = Node::kOverdue;
    node->type = Type::kBool;
    node->counter = name->text;
    return node;
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  const GuardScope& scope_;
  int nesting_ = 0;  // "(" and negations open where the parser is
  int nodes_ = 0;    // made so far
};

}  // namespace

Guard::Guard() = default;
Guard::~Guard() = default;
Guard::Guard(Guard&&) noexcept = default;
Guard& Guard::operator=(Guard&&) noexcept = default;

absl::StatusOr<Guard> Guard::Compile(absl::string_view source, const GuardScope& scope) {
  if (source.size() > kGuardBytesMax) {
    return ErrorAt(kGuardBytesMax + 1, absl::StrCat("a guard is at most ", kGuardBytesMax,
                                                    " bytes; this one is ", source.size()));
  }
  Guard g;
  g.source_ = std::string(source);
  bool blank = true;
  for (char c : source) blank = blank && std::isspace(static_cast<unsigned char>(c));
  if (blank) return g;
  auto tokens = Lex(source);
  if (!tokens.ok()) return tokens.status();
  Parser parser(std::move(*tokens), scope);
  auto root = parser.ParseAll();
  if (!root.ok()) return root.status();
  g.root_ = std::move(*root);
  return g;
}

int Guard::depth() const { return root_ == nullptr ? 0 : root_->height; }

}  // namespace gridcase::workflow
