#include "engine/workflow/files.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "gridcase/v1/workflow.pb.h"

namespace gridcase::workflow {
namespace {

class Quiet final : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int, int, const std::string&) override {}
};

}  // namespace

absl::StatusOr<std::vector<WorkflowFile>> ReadWorkflowDir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<WorkflowFile> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".textproto") continue;
    std::ifstream in(entry.path());
    std::stringstream source;
    source << in.rdbuf();
    if (!in.good() && !in.eof()) {
      return absl::PermissionDeniedError(absl::StrCat("cannot read ", entry.path().string()));
    }
    WorkflowFile file{entry.path().string(), source.str(), "", 0};
    // Only the name and version are wanted here: a file that does not
    // parse is reported in full when it is deployed.
    v1::WorkflowDefinition def;
    Quiet quiet;
    google::protobuf::TextFormat::Parser parser;
    parser.AllowPartialMessage(true);
    parser.RecordErrorsTo(&quiet);
    if (parser.ParseFromString(file.source, &def)) {
      file.name = def.name();
      file.version = def.version();
    }
    out.push_back(std::move(file));
  }
  if (ec)
    return absl::NotFoundError(absl::StrCat("cannot read directory ", dir, ": ", ec.message()));
  std::sort(out.begin(), out.end(), [](const WorkflowFile& a, const WorkflowFile& b) {
    return std::tie(a.name, a.version, a.path) < std::tie(b.name, b.version, b.path);
  });
  return out;
}

}  // namespace gridcase::workflow
