#include "engine/workflow/definition.h"

#include <algorithm>
#include <deque>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/domain/validate.h"
#include "engine/workflow/duration.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "gridcase/v1/event.pb.h"

namespace gridcase::workflow {

using google::protobuf::FieldDescriptor;
using google::protobuf::TextFormat;

bool IsSubmittableEventType(const std::string& name) {
  const FieldDescriptor* f = v1::Event::descriptor()->FindFieldByName(name);
  // Derived payloads have field numbers from 40 (see event.proto).
  return f != nullptr && f->containing_oneof() != nullptr && f->number() < 40;
}

namespace {

// A guard as quoted in a message: a long one is cut, so that a refusal
// stays readable and small; the column says where the problem is. Also
// each problem, which may quote a name or a string of any length.
std::string Excerpt(const std::string& guard, size_t shown = 80) {
  if (guard.size() <= shown) return guard;
  size_t cut = shown;
  while (cut > 0 && (static_cast<unsigned char>(guard[cut]) & 0xc0) == 0x80) --cut;  // UTF-8
  return absl::StrCat(guard.substr(0, cut), "... (", guard.size(), " bytes)");
}

// What one problem says is cut to this (Excerpt), and a refusal lists at
// most kProblemsListedMax problems in at most kListedBytesMax: with the
// words around them and a file name of 256 bytes it stays under the 8 KiB
// of metadata a gRPC client takes by default (docs/workflows.md, "Limits").
constexpr size_t kProblemBytesMax = 300;
constexpr size_t kListedBytesMax = 6 * 1024;

std::vector<std::string> Listed(const std::vector<std::string>& problems) {
  std::vector<std::string> lines;
  size_t bytes = 0;
  for (const std::string& line : problems) {
    if (lines.size() == kProblemsListedMax || bytes + line.size() > kListedBytesMax) break;
    bytes += line.size();
    lines.push_back(line);
  }
  return lines;
}

// Collects protobuf's syntax errors with their positions.
class SyntaxErrors : public google::protobuf::io::ErrorCollector {
 public:
  explicit SyntaxErrors(std::string file) : file_(std::move(file)) {}
  void AddError(int line, int column, const std::string& message) override {
    errors_.push_back(absl::StrCat(file_, ":", line + 1, ":", column + 1, ": ",
                                   Excerpt(message, kProblemBytesMax)));
  }
  void AddWarning(int line, int column, const std::string& message) override {}
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::string file_;
  std::vector<std::string> errors_;
};

bool IsValidName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

}  // namespace

// Builds a Definition and gathers every problem with the line it is on.
class Compiler {
 public:
  Compiler(const v1::WorkflowDefinition& proto, std::string file,
           const TextFormat::ParseInfoTree* tree)
      : file_(std::move(file)), tree_(tree) {
    def_.reset(new Definition());
    def_->proto_ = proto;
  }

  absl::StatusOr<std::shared_ptr<const Definition>> Run() {
    const auto& p = def_->proto_;
    CheckUtf8(p, {}, "");
    CheckHeader();
    for (int i = 0; i < p.stages_size(); ++i) CollectStage(i);
    CheckCounters();
    for (int i = 0; i < p.opens_on_size(); ++i) CheckOpener(i);
    for (int i = 0; i < p.stages_size(); ++i) CheckStage(i);
    CheckDeadlineHandlers();
    CheckGraph();
    if (!problems_.empty()) {
      std::stable_sort(problems_.begin(), problems_.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      std::vector<std::string> all;
      for (const auto& [line, text] : problems_) {
        all.push_back(line > 0 ? absl::StrCat(file_, ":", line, ": ", text)
                               : absl::StrCat(file_, ": ", text));
      }
      const std::vector<std::string> lines = Listed(all);
      const size_t n = problems_.size();
      return absl::InvalidArgumentError(absl::StrCat(
          "workflow definition ", file_, " has ", n, n == 1 ? " problem" : " problems",
          n > lines.size() ? absl::StrCat(", the first ", lines.size(), " of them:\n") : ":\n",
          absl::StrJoin(lines, "\n")));
    }
    return std::shared_ptr<const Definition>(std::move(def_));
  }

 private:
  using Path = std::vector<std::pair<const char*, int>>;

  // The 1-based line of the deepest element of `path` that the source has;
  // 0 when unknown. Indexes are -1 for singular fields.
  int Line(const Path& path) const {
    const TextFormat::ParseInfoTree* tree = tree_;
    const google::protobuf::Descriptor* d = v1::WorkflowDefinition::descriptor();
    int best = 0;
    for (const auto& [name, index] : path) {
      if (tree == nullptr || d == nullptr) break;
      const FieldDescriptor* f = d->FindFieldByName(name);
      if (f == nullptr) break;
      const auto loc = tree->GetLocation(f, index);
      if (loc.line >= 0) best = loc.line + 1;
      if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) break;
      tree = tree->GetTreeForNested(f, index);
      d = f->message_type();
    }
    return best;
  }

  void Problem(const Path& path, std::string text) {
    problems_.emplace_back(Line(path), Excerpt(text, kProblemBytesMax));
  }

  // Every string is UTF-8 as the binary format reads it: the text format
  // takes any bytes, and a definition holding others would be deployed,
  // its tasks and names copied into derived records, and none of those
  // records (nor its deployment's) would ever parse back.
  void CheckUtf8(const google::protobuf::Message& m, const Path& path, const std::string& where) {
    const auto* r = m.GetReflection();
    std::vector<const FieldDescriptor*> fields;
    r->ListFields(m, &fields);
    for (const FieldDescriptor* f : fields) {
      const int n = f->is_repeated() ? r->FieldSize(m, f) : 1;
      for (int i = 0; i < n; ++i) {
        Path at = path;
        at.emplace_back(f->name().c_str(), f->is_repeated() ? i : -1);
        const std::string name = f->is_repeated() ? absl::StrCat(where, f->name(), "[", i, "]")
                                                  : absl::StrCat(where, f->name());
        std::string scratch;
        if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
          CheckUtf8(f->is_repeated() ? r->GetRepeatedMessage(m, f, i) : r->GetMessage(m, f), at,
                    name + ".");
        } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING &&
                   !IsValidUtf8(f->is_repeated() ? r->GetRepeatedStringReference(m, f, i, &scratch)
                                                 : r->GetStringReference(m, f, &scratch))) {
          Problem(at, absl::StrCat(name, " is not valid UTF-8"));
        }
      }
    }
  }

  void CheckHeader() {
    const auto& p = def_->proto_;
    if (!IsValidName(p.name())) {
      Problem({{"name", -1}}, "name must be 1 to 64 lowercase letters, digits, '-' or '_'");
    }
    if (p.version() == 0) Problem({{"version", -1}}, "version must be 1 or more");
    if (p.stages_size() == 0) Problem({}, "a workflow needs stages");
    if (p.opens_on_size() == 0) {
      Problem({}, "opens_on is empty: no event could ever open a case of this workflow");
    }
    std::set<std::string> rungs;
    for (int i = 0; i < p.escalation_ladder_size(); ++i) {
      const std::string& r = p.escalation_ladder(i);
      if (r.empty() || !rungs.insert(r).second) {
        Problem({{"escalation_ladder", i}},
                absl::StrCat("escalation ladder rung \"", r, "\" is empty or repeated"));
      }
      def_->ladder_.push_back(r);
    }
    for (int i = 0; i < p.ladder_rungs_size(); ++i) {
      const auto& r = p.ladder_rungs(i);
      const Path at = {{"ladder_rungs", i}};
      const std::string what = absl::StrCat("ladder rung \"", r.role(), "\"");
      if (!rungs.count(r.role())) {
        Problem(at, absl::StrCat(what, ": not a rung of escalation_ladder"));
        continue;
      }
      if (def_->rungs_.count(r.role())) Problem(at, absl::StrCat(what, ": timed twice"));
      Rung rung;
      rung.after_us = CheckDuration(r.after(), {{"ladder_rungs", i}, {"after", -1}}, what, true);
      rung.remind_before_us = CheckDuration(
          r.remind_before(), {{"ladder_rungs", i}, {"remind_before", -1}}, what, false);
      if (rung.remind_before_us >= rung.after_us && rung.after_us > 0) {
        Problem({{"ladder_rungs", i}, {"remind_before", -1}},
                absl::StrCat(what, ": remind_before must be less than after"));
      }
      def_->rungs_[r.role()] = rung;
    }
  }

  // Compiles a guard; on error records it against `path` and returns the
  // always-true guard so that checking can go on.
  Guard CompileGuard(const std::string& source, const std::string& payload, const Path& path,
                     const std::string& what) {
    GuardScope scope;
    scope.payload = payload;
    scope.counters = counter_windows_;
    scope.deadlines = deadlines_set_;
    auto g = Guard::Compile(source, scope);
    if (!g.ok()) {
      Problem(path,
              absl::StrCat(what, ": guard \"", Excerpt(source), "\": ", g.status().message()));
      return Guard();
    }
    return std::move(*g);
  }

  bool CheckEventType(const std::string& type, const Path& path, const std::string& what) {
    if (IsSubmittableEventType(type)) return true;
    Problem(path, absl::StrCat(what, ": \"", type,
                               "\" is not an event type (fever_reading, test_result, ...)"));
    return false;
  }

  int64_t CheckDuration(const std::string& text, const Path& path, const std::string& what,
                        bool required) {
    if (text.empty()) {
      if (required) Problem(path, absl::StrCat(what, ": a duration is required"));
      return 0;
    }
    auto d = ParseDuration(text);
    if (!d.ok()) {
      Problem(path, absl::StrCat(what, ": ", d.status().message()));
      return 0;
    }
    if (*d == 0) Problem(path, absl::StrCat(what, ": a duration must be more than zero"));
    return *d;
  }

  // A counts_from that a binary message may carry beyond the enum's values
  // is refused rather than read as either.
  bool CheckCountFrom(v1::CountFrom from, const Path& path, const std::string& what) {
    if (!v1::CountFrom_IsValid(from)) {
      Problem(path, absl::StrCat(what, ": counts_from ", static_cast<int>(from),
                                 " is neither COUNT_FROM_LEARNT nor COUNT_FROM_HAPPENED"));
    }
    return from == v1::COUNT_FROM_HAPPENED;
  }

  void CheckCounters() {
    const auto& p = def_->proto_;
    for (int i = 0; i < p.counters_size(); ++i) {
      const auto& c = p.counters(i);
      const Path at = {{"counters", i}};
      const std::string what = absl::StrCat("counter \"", c.name(), "\"");
      if (!IsValidName(c.name())) Problem(at, "counter names are lowercase letters, digits, '-'");
      if (counter_windows_.count(c.name())) {
        Problem(at, absl::StrCat("duplicate counter name \"", c.name(), "\""));
      }
      const int64_t window =
          CheckDuration(c.window(), {{"counters", i}, {"window", -1}}, what, false);
      counter_windows_[c.name()] = window;
    }
    for (int i = 0; i < p.counters_size(); ++i) {
      const auto& c = p.counters(i);
      const std::string what = absl::StrCat("counter \"", c.name(), "\"");
      Counter out;
      out.name = c.name();
      out.on = c.on();
      out.window_us = counter_windows_[c.name()];
      if (CheckEventType(c.on(), {{"counters", i}, {"on", -1}}, what)) {
        out.when = CompileGuard(c.when(), c.on(), {{"counters", i}, {"when", -1}}, what);
      }
      if (!c.reset_on().empty() &&
          CheckEventType(c.reset_on(), {{"counters", i}, {"reset_on", -1}}, what)) {
        out.reset_on = c.reset_on();
        out.reset_when =
            CompileGuard(c.reset_when(), c.reset_on(), {{"counters", i}, {"reset_when", -1}}, what);
      }
      def_->counters_.push_back(std::move(out));
    }
  }

  void CheckOpener(int i) {
    const auto& o = def_->proto_.opens_on(i);
    const std::string what = absl::StrCat("opener \"", o.event(), "\"");
    if (!CheckEventType(o.event(), {{"opens_on", i}, {"event", -1}}, what)) return;
    Opener out;
    out.on = o.event();
    out.when = CompileGuard(o.when(), o.event(), {{"opens_on", i}, {"when", -1}}, what);
    def_->openers_.push_back(std::move(out));
  }

  // First pass over a stage: its name, and what its actions set, so that
  // references can be checked whatever the order of stages.
  void CollectStage(int i) {
    const auto& s = def_->proto_.stages(i);
    if (!IsValidName(s.name())) {
      Problem({{"stages", i}, {"name", -1}},
              "stage names are lowercase letters, digits, '-' or '_'");
    }
    if (!stage_names_.insert(s.name()).second) {
      Problem({{"stages", i}, {"name", -1}},
              absl::StrCat("duplicate stage name \"", s.name(), "\""));
    }
    auto collect = [&](const v1::ActionSpec& a) {
      if (a.has_open_task()) tasks_opened_.insert(a.open_task().name());
      if (a.has_set_deadline()) deadlines_set_.insert(a.set_deadline().name());
    };
    for (const auto& a : s.on_enter()) collect(a);
    for (const auto& a : s.on_exit()) collect(a);
    for (const auto& r : s.rules()) {
      for (const auto& a : r.then()) collect(a);
      if (r.on().rfind(kDeadlinePrefix, 0) == 0) {
        deadlines_handled_.insert(r.on().substr(sizeof(kDeadlinePrefix) - 1));
      }
    }
  }

  Action CheckAction(const v1::ActionSpec& a, const Path& at, const std::string& what,
                     const std::string& payload, bool allow_move) {
    Action out;
    out.spec = a;
    using A = v1::ActionSpec;
    switch (a.action_case()) {
      case A::ACTION_NOT_SET:
        Problem(at, absl::StrCat(what, ": an empty action"));
        break;
      case A::kMoveTo:
        if (!allow_move) {
          Problem(at, absl::StrCat(what,
                                   ": move_to is not allowed in on_enter/on_exit "
                                   "(a stage change cannot start another)"));
        } else if (!stage_names_.count(a.move_to())) {
          Problem(at, absl::StrCat(what, ": move_to names no stage: \"", a.move_to(), "\""));
        }
        break;
      case A::kSetCategory:
        if (a.set_category() == v1::CATEGORY_UNSPECIFIED) {
          Problem(at, absl::StrCat(what, ": set_category needs a category"));
        }
        break;
      case A::kSetCategoryFrom: {
        const std::string& path = a.set_category_from();
        const size_t dot = path.find('.');
        const std::string head = path.substr(0, dot);
        const auto* payload_field = v1::Event::descriptor()->FindFieldByName(head);
        const FieldDescriptor* f =
            dot == std::string::npos || payload_field == nullptr ||
                    payload_field->message_type() == nullptr
                ? nullptr
                : payload_field->message_type()->FindFieldByName(path.substr(dot + 1));
        if (head != payload || f == nullptr || f->enum_type() != v1::Category_descriptor()) {
          Problem(at, absl::StrCat(what,
                                   ": set_category_from must name a Category field of the "
                                   "event the rule reacts to, e.g. \"",
                                   payload.empty() ? "screening_check" : payload, ".category\"; \"",
                                   path, "\" is not one"));
        }
        break;
      }
      case A::kOpenTask:
        if (a.open_task().name().empty() || a.open_task().role().empty()) {
          Problem(at, absl::StrCat(what, ": open_task needs a name and a role"));
        }
        out.duration_us = CheckDuration(a.open_task().due(), at, what, false);
        out.from_happened = CheckCountFrom(a.open_task().counts_from(), at, what);
        break;
      case A::kCloseTask:
        if (!tasks_opened_.count(a.close_task())) {
          Problem(at, absl::StrCat(what, ": close_task \"", a.close_task(),
                                   "\": no action opens a task of that name"));
        }
        break;
      case A::kSetDeadline:
        if (a.set_deadline().name().empty() || a.set_deadline().name()[0] == '~') {
          Problem(at, absl::StrCat(what,
                                   ": set_deadline needs a name (not starting with '~', "
                                   "which the engine keeps for its own)"));
        }
        out.duration_us = CheckDuration(a.set_deadline().after(), at, what, true);
        out.from_happened = CheckCountFrom(a.set_deadline().counts_from(), at, what);
        break;
      case A::kCancelDeadline:
        if (!deadlines_set_.count(a.cancel_deadline())) {
          Problem(at, absl::StrCat(what, ": cancel_deadline \"", a.cancel_deadline(),
                                   "\": no action sets a deadline of that name"));
        }
        break;
      case A::kEscalate:
        if (def_->ladder_.empty()) {
          Problem(at, absl::StrCat(what, ": escalate needs an escalation_ladder"));
        } else if (!a.escalate().to_role().empty() &&
                   std::find(def_->ladder_.begin(), def_->ladder_.end(), a.escalate().to_role()) ==
                       def_->ladder_.end()) {
          Problem(at, absl::StrCat(what, ": escalate to \"", a.escalate().to_role(),
                                   "\", which is not a rung of the escalation_ladder"));
        }
        break;
      case A::kNotify:
        if (a.notify().to_role().empty()) {
          Problem(at, absl::StrCat(what, ": notify needs to_role"));
        }
        break;
    }
    return out;
  }

  void CheckStage(int i) {
    const auto& s = def_->proto_.stages(i);
    Stage out;
    out.name = s.name();
    out.terminal = s.terminal();
    const std::string where = absl::StrCat("stage \"", s.name(), "\"");
    for (int k = 0; k < s.on_enter_size(); ++k) {
      out.on_enter.push_back(CheckAction(s.on_enter(k), {{"stages", i}, {"on_enter", k}},
                                         absl::StrCat(where, " on_enter"), "", false));
    }
    for (int k = 0; k < s.on_exit_size(); ++k) {
      out.on_exit.push_back(CheckAction(s.on_exit(k), {{"stages", i}, {"on_exit", k}},
                                        absl::StrCat(where, " on_exit"), "", false));
    }
    std::set<std::string> forbidden;
    for (int k = 0; k < s.forbid_size(); ++k) {
      if (CheckEventType(s.forbid(k), {{"stages", i}, {"forbid", k}}, where)) {
        forbidden.insert(s.forbid(k));
        out.forbid.push_back(s.forbid(k));
      }
    }
    for (int j = 0; j < s.rules_size(); ++j) {
      const auto& r = s.rules(j);
      const Path at = {{"stages", i}, {"rules", j}};
      const std::string what = absl::StrCat("rule \"", r.name(), "\"");
      if (r.name().empty()) Problem(at, absl::StrCat(where, ": a rule needs a name"));
      if (!r.name().empty() && !rule_names_.insert(r.name()).second) {
        Problem({{"stages", i}, {"rules", j}, {"name", -1}},
                absl::StrCat("duplicate rule name \"", r.name(), "\""));
      }
      Rule rule;
      rule.name = r.name();
      rule.on = r.on();
      std::string payload;
      if (r.on().rfind(kDeadlinePrefix, 0) == 0) {
        const std::string deadline = r.on().substr(sizeof(kDeadlinePrefix) - 1);
        if (!deadlines_set_.count(deadline)) {
          Problem(
              {{"stages", i}, {"rules", j}, {"on", -1}},
              absl::StrCat(what, ": handles deadline \"", deadline, "\", which no action sets"));
        }
      } else if (CheckEventType(r.on(), {{"stages", i}, {"rules", j}, {"on", -1}}, what)) {
        payload = r.on();
        if (forbidden.count(payload)) {
          Problem({{"stages", i}, {"rules", j}, {"on", -1}},
                  absl::StrCat(what, ": reacts to ", payload, ", which ", where, " forbids"));
        }
      }
      rule.guard =
          CompileGuard(r.when(), payload, {{"stages", i}, {"rules", j}, {"when", -1}}, what);
      if (r.then_size() == 0) Problem(at, absl::StrCat(what, ": does nothing (no then)"));
      for (int k = 0; k < r.then_size(); ++k) {
        const auto& a = r.then(k);
        rule.actions.push_back(
            CheckAction(a, {{"stages", i}, {"rules", j}, {"then", k}}, what, payload, true));
        if (a.has_move_to()) edges_[s.name()].insert(a.move_to());
      }
      out.rules.push_back(std::move(rule));
    }
    def_->stages_[s.name()] = std::move(out);
  }

  void CheckDeadlineHandlers() {
    for (const auto& d : deadlines_set_) {
      if (!deadlines_handled_.count(d)) {
        Problem(FirstSetting(d), absl::StrCat("deadline \"", d,
                                              "\" has no handler: add a rule "
                                              "with on: \"deadline:",
                                              d, "\""));
      }
    }
  }

  // Where deadline `name` is first set, for the message's line.
  Path FirstSetting(const std::string& name) const {
    const auto& p = def_->proto_;
    for (int i = 0; i < p.stages_size(); ++i) {
      const auto& s = p.stages(i);
      for (int k = 0; k < s.on_enter_size(); ++k) {
        if (s.on_enter(k).set_deadline().name() == name) return {{"stages", i}, {"on_enter", k}};
      }
      for (int j = 0; j < s.rules_size(); ++j) {
        for (int k = 0; k < s.rules(j).then_size(); ++k) {
          if (s.rules(j).then(k).set_deadline().name() == name) {
            return {{"stages", i}, {"rules", j}, {"then", k}};
          }
        }
      }
    }
    return {};
  }

  void CheckGraph() {
    const auto& p = def_->proto_;
    if (!stage_names_.count(p.initial_stage())) {
      Problem({{"initial_stage", -1}},
              absl::StrCat("initial_stage \"", p.initial_stage(), "\" names no stage"));
      return;
    }
    bool any_terminal = false;
    std::set<std::string> reached = {p.initial_stage()};
    std::deque<std::string> todo = {p.initial_stage()};
    while (!todo.empty()) {
      const std::string s = todo.front();
      todo.pop_front();
      for (const auto& next : edges_[s]) {
        if (reached.insert(next).second) todo.push_back(next);
      }
    }
    for (int i = 0; i < p.stages_size(); ++i) {
      const auto& s = p.stages(i);
      any_terminal = any_terminal || s.terminal();
      if (!reached.count(s.name())) {
        Problem({{"stages", i}, {"name", -1}},
                absl::StrCat("stage \"", s.name(),
                             "\" is unreachable: no rule of a stage "
                             "reachable from \"",
                             p.initial_stage(), "\" moves a case to it"));
      }
      if (!s.terminal() && edges_[s.name()].empty()) {
        Problem({{"stages", i}, {"name", -1}},
                absl::StrCat("stage \"", s.name(),
                             "\" is not terminal, but no rule moves a "
                             "case out of it"));
      }
    }
    if (!any_terminal && p.stages_size() > 0) {
      Problem({}, "no stage is terminal: a case could never end");
    }
  }

  const std::string file_;
  const TextFormat::ParseInfoTree* const tree_;
  std::unique_ptr<Definition> def_;
  std::vector<std::pair<int, std::string>> problems_;
  std::map<std::string, int64_t> counter_windows_;
  std::set<std::string> stage_names_, rule_names_, tasks_opened_, deadlines_set_,
      deadlines_handled_;
  std::map<std::string, std::set<std::string>> edges_;
};

absl::StatusOr<std::shared_ptr<const Definition>> Definition::Parse(const std::string& source,
                                                                    const std::string& file) {
  if (source.size() > kDefinitionBytesMax) {
    return absl::InvalidArgumentError(absl::StrCat("workflow definition ", file, " is ",
                                                   source.size(), " bytes; at most ",
                                                   kDefinitionBytesMax, " are accepted"));
  }
  v1::WorkflowDefinition proto;
  TextFormat::Parser parser;
  SyntaxErrors errors(file);
  TextFormat::ParseInfoTree tree;
  parser.SetRecursionLimit(kDefinitionNestingMax);
  parser.RecordErrorsTo(&errors);
  parser.WriteLocationsTo(&tree);
  if (!parser.ParseFromString(source, &proto)) {
    return absl::InvalidArgumentError(absl::StrCat("workflow definition ", file,
                                                   " does not parse:\n",
                                                   absl::StrJoin(Listed(errors.errors()), "\n")));
  }
  return Compiler(proto, file, &tree).Run();
}

absl::StatusOr<std::shared_ptr<const Definition>> Definition::FromProto(
    const v1::WorkflowDefinition& proto) {
  return Compiler(proto, absl::StrCat(proto.name(), " v", proto.version()), nullptr).Run();
}

const Stage* Definition::stage(const std::string& name) const {
  auto it = stages_.find(name);
  return it == stages_.end() ? nullptr : &it->second;
}

}  // namespace gridcase::workflow
