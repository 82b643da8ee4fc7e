#include "engine/workflow/registry.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"

namespace gridcase::workflow {

bool Opens(const Definition& def, const v1::Event& event, int64_t now_us) {
  const auto* field = v1::Event::descriptor()->FindFieldByNumber(event.payload_case());
  if (field == nullptr) return false;
  const v1::CaseState empty;
  const GuardInput in = GuardInputFor(event, empty, now_us);
  for (const auto& opener : def.openers()) {
    if (opener.on == field->name() && opener.when.Evaluate(in)) {
      return true;
    }
  }
  return false;
}

absl::Status Registry::Add(std::shared_ptr<const Definition> def) {
  absl::WriterMutexLock lock(&mu_);
  auto& versions = by_name_[def->name()];
  if (def->version() <= versions.size()) {
    const auto& existing = versions[def->version() - 1];
    if (google::protobuf::util::MessageDifferencer::Equals(existing->proto(), def->proto())) {
      return absl::OkStatus();
    }
    return absl::AlreadyExistsError(absl::StrCat("workflow ", def->name(), " version ",
                                                 def->version(),
                                                 " is already deployed with different content"));
  }
  if (def->version() != versions.size() + 1) {
    return absl::FailedPreconditionError(absl::StrCat("workflow ", def->name(), " version ",
                                                      def->version(), " is not the next version (",
                                                      versions.size() + 1, ")"));
  }
  versions.push_back(std::move(def));
  return absl::OkStatus();
}

std::shared_ptr<const Definition> Registry::Get(const std::string& name, uint32_t version) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = by_name_.find(name);
  if (it == by_name_.end() || version == 0 || version > it->second.size()) return nullptr;
  return it->second[version - 1];
}

std::shared_ptr<const Definition> Registry::Latest(const std::string& name) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = by_name_.find(name);
  if (it == by_name_.end() || it->second.empty()) return nullptr;
  return it->second.back();
}

std::shared_ptr<const Definition> Registry::ForOpening(const v1::Event& event,
                                                       int64_t now_us) const {
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [name, versions] : by_name_) {
    if (!versions.empty() && Opens(*versions.back(), event, now_us)) return versions.back();
  }
  return nullptr;
}

std::vector<std::shared_ptr<const Definition>> Registry::All() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::shared_ptr<const Definition>> out;
  for (const auto& [name, versions] : by_name_)
    out.insert(out.end(), versions.begin(), versions.end());
  return out;
}

}  // namespace gridcase::workflow
