#include "services/cli/workflow.h"

#include <iostream>

#include "google/protobuf/text_format.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "services/cli/output.h"

namespace gridcase::cli {

using gridcase::v1::AdminService;

int RunWorkflowDeploy(const GlobalOptions& options, const std::string& file,
                      const std::string& actor) {
  gridcase::v1::DeployWorkflowRequest request;
  request.set_source(ReadInput(file));
  request.set_file_name(file == "-" ? "stdin" : file);
  request.mutable_actor()->set_id(actor);
  request.mutable_actor()->set_kind(gridcase::v1::ACTOR_KIND_PERSON);
  gridcase::v1::DeployWorkflowResponse response;
  if (int code =
          CallUnary<AdminService>(options, &AdminService::Stub::DeployWorkflow, request, &response);
      code != kExitOk) {
    return code;
  }
  if (options.table) {
    PrintKeyValueTable(response, /*with_zero=*/true, std::cout);
  } else {
    std::cout << ToJson(response, /*compact=*/false) << "\n";
  }
  return kExitOk;
}

int RunWorkflowList(const GlobalOptions& options) {
  gridcase::v1::ListWorkflowsResponse response;
  if (int code = CallUnary<AdminService>(options, &AdminService::Stub::ListWorkflows,
                                         gridcase::v1::ListWorkflowsRequest(), &response);
      code != kExitOk) {
    return code;
  }
  if (!options.table) {
    std::cout << ToJson(response, /*compact=*/false) << "\n";
    return kExitOk;
  }
  Table table({"NAME", "VERSION", "OPENS_ON", "STAGES", "DESCRIPTION"});
  for (const auto& w : response.workflows()) {
    std::string opens, stages;
    for (const auto& o : w.opens_on()) opens += (opens.empty() ? "" : ",") + o;
    for (const auto& s : w.stages()) stages += (stages.empty() ? "" : ",") + s;
    table.AddRow({w.name(), std::to_string(w.version()), opens, stages, w.description()});
  }
  table.Print(std::cout);
  return kExitOk;
}

int RunWorkflowGet(const GlobalOptions& options, const std::string& name, uint32_t version) {
  gridcase::v1::GetWorkflowRequest request;
  request.set_name(name);
  request.set_version(version);
  gridcase::v1::WorkflowDefinition definition;
  if (int code =
          CallUnary<AdminService>(options, &AdminService::Stub::GetWorkflow, request, &definition);
      code != kExitOk) {
    return code;
  }
  if (options.table) {
    std::string text;
    google::protobuf::TextFormat::PrintToString(definition, &text);
    std::cout << text;
  } else {
    std::cout << ToJson(definition, /*compact=*/false) << "\n";
  }
  return kExitOk;
}

}  // namespace gridcase::cli
