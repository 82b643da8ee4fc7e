#include "services/security/principal.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/common/file_modes.h"
#include "nlohmann/json.hpp"

namespace gridcase::security {
namespace {

// Ids a client may be: not the engine's own ("gridcase", "gridcased", and
// anything starting with '~').
bool ValidId(const std::string& id) {
  if (id.empty() || id.size() > 128 || id[0] == '~') return false;
  if (id == "gridcase" || id == "gridcased") return false;
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

absl::Status Bad(const std::string& where, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("principals file: ", where, ": ", what));
}

absl::Status ParseApplications(const nlohmann::json& list, PrincipalsFile* file) {
  if (!list.is_array()) return Bad("applications", "must be a list");
  for (size_t i = 0; i < list.size(); ++i) {
    const auto& app = list[i];
    const std::string where = absl::StrCat("applications[", i, "]");
    if (!app.is_object() || !app.contains("id") || !app["id"].is_string()) {
      return Bad(where, "needs an \"id\"");
    }
    const std::string id = app["id"];
    if (!ValidId(id)) return Bad(where, absl::StrCat("\"", id, "\" is not a valid id"));
    for (const auto& [key, value] : app.items()) {
      if (key != "id" && key != "units" && key != "acts_for_people" &&
          key != "submits_per_second") {
        return Bad(where, absl::StrCat("unknown key \"", key, "\""));
      }
    }
    PrincipalsFile::Application entry;
    if (!app.contains("units") || !app["units"].is_array() || app["units"].empty()) {
      return Bad(where, "needs \"units\": the units it serves, or [\"*\"] for the whole city");
    }
    for (const auto& unit : app["units"]) {
      if (!unit.is_string()) return Bad(where, "units are strings");
      entry.units.push_back(unit);
    }
    if (app.contains("acts_for_people")) {
      if (!app["acts_for_people"].is_boolean()) return Bad(where, "acts_for_people: true or false");
      entry.acts_for_people = app["acts_for_people"];
    }
    if (app.contains("submits_per_second")) {
      const auto& rate = app["submits_per_second"];
      if (!rate.is_number() || rate.get<double>() < 0) {
        return Bad(where, "submits_per_second: a number, 0 or more (0: unlimited)");
      }
      entry.submits_per_s = rate.get<double>();
    }
    if (!file->applications.emplace(id, entry).second) {
      return Bad(where, absl::StrCat("application \"", id, "\" appears twice"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kGridWorker:
      return "grid worker";
    case Role::kCadre:
      return "cadre";
    case Role::kCommunitySecretary:
      return "community secretary";
    case Role::kStreetOfficer:
      return "street officer";
    case Role::kDistrictOfficer:
      return "district officer";
    case Role::kApplication:
      return "application";
    case Role::kOperator:
      return "operator";
    case Role::kAuditor:
      return "auditor";
    case Role::kPrivacyOfficer:
      return "privacy officer";
    case Role::kDevelopment:
      return "development caller";
  }
  return "?";
}

bool Principal::everywhere() const {
  for (const auto& u : units) {
    if (u == kEverywhere) return true;
  }
  return false;
}

std::string Principal::Subject() const {
  return absl::StrCat(role == Role::kApplication ? "gridcase:app:" : "gridcase:person:", id);
}

std::string Principal::ScopeText() const {
  if (everywhere()) return "the whole city";
  if (units.size() == 1) return absl::StrCat("unit ", units[0]);
  return absl::StrCat("units ", absl::StrJoin(units, ", "));
}

std::string Principal::Describe() const {
  const char* kind = role == Role::kApplication ? "application " : "person ";
  return absl::StrCat(kind, id, " (", RoleName(role), " of ", ScopeText(), ")");
}

absl::StatusOr<PrincipalsFile> PrincipalsFile::Parse(const std::string& json) {
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return Bad("the file", "not a JSON object");
  PrincipalsFile file;
  static const std::pair<const char*, Role> kStaff[] = {
      {"operators", Role::kOperator},
      {"auditors", Role::kAuditor},
      {"privacy_officers", Role::kPrivacyOfficer}};
  for (const auto& [key, value] : doc.items()) {
    if (key == "applications") {
      if (auto st = ParseApplications(value, &file); !st.ok()) return st;
      continue;
    }
    const auto* staff = std::find_if(std::begin(kStaff), std::end(kStaff),
                                     [&key = key](const auto& s) { return key == s.first; });
    if (staff == std::end(kStaff)) return Bad(key, "unknown key");
    if (!value.is_array()) return Bad(key, "must be a list of ids");
    for (const auto& id : value) {
      if (!id.is_string() || !ValidId(id))
        return Bad(key, absl::StrCat(id.dump(), " is not an id"));
      if (!file.staff.emplace(id, staff->second).second) {
        return Bad(key, absl::StrCat("\"", std::string(id), "\" is named twice"));
      }
    }
  }
  return file;
}

absl::StatusOr<PrincipalsFile> PrincipalsFile::Load(const std::string& path) {
  if (auto st = CheckFileExposure(path, Exposure::kReadableByOthers, "principals file"); !st.ok()) {
    return st;
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in)
    return absl::InvalidArgumentError(absl::StrCat("principals file ", path, ": unreadable"));
  return Parse(text.str());
}

}  // namespace gridcase::security
