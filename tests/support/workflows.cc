#include "tests/support/workflows.h"

#include <fstream>
#include <future>
#include <sstream>

#include "engine/workflow/definition.h"
#include "engine/workflow/files.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace gridcase::testing {

std::string ShippedWorkflowDir() { return std::string(SOURCE_DIR) + "/deploy/workflows"; }

std::string ShippedWorkflow(const std::string& file) {
  std::ifstream in(ShippedWorkflowDir() + "/" + file);
  std::stringstream s;
  s << in.rdbuf();
  EXPECT_FALSE(s.str().empty()) << file;
  return s.str();
}

absl::StatusOr<v1::SubmitResponse> SubmitSync(Engine& engine, v1::SubmitRequest request) {
  std::promise<absl::StatusOr<v1::SubmitResponse>> done;
  auto answer = done.get_future();
  engine.Submit(std::move(request),
                [&done](absl::StatusOr<v1::SubmitResponse> r) { done.set_value(std::move(r)); });
  return answer.get();
}

absl::StatusOr<v1::SubmitResponse> SubmitFromStreamSync(Engine& engine,
                                                        absl::StatusOr<v1::SubmitRequest> request,
                                                        StreamOrigin origin) {
  std::promise<absl::StatusOr<v1::SubmitResponse>> done;
  auto answer = done.get_future();
  engine.streams().SubmitFromStream(
      std::move(request), std::move(origin),
      [&done](absl::StatusOr<v1::SubmitResponse> r) { done.set_value(std::move(r)); });
  return answer.get();
}

std::vector<v1::Record> TimelineOf(Engine& engine, const std::string& case_id) {
  v1::GetTimelineRequest req;
  req.set_case_id(case_id);
  req.set_page_size(1000);
  auto page = engine.GetTimeline(req);
  EXPECT_TRUE(page.ok()) << case_id << ": " << page.status();
  return page.ok() ? std::vector<v1::Record>(page->records().begin(), page->records().end())
                   : std::vector<v1::Record>{};
}

void RegisterDeployed(Engine& engine, workflow::Registry* registry) {
  const v1::ListWorkflowsResponse deployed = engine.workflows().ListWorkflows();
  for (const auto& w : deployed.workflows()) {
    auto def =
        workflow::Definition::FromProto(*engine.workflows().GetWorkflow(w.name(), w.version()));
    ASSERT_TRUE(def.ok()) << def.status();
    ASSERT_TRUE(registry->Add(*def).ok());
  }
}

absl::StatusOr<v1::DeployWorkflowResponse> DeploySync(Engine& engine, const std::string& source,
                                                      const std::string& file) {
  std::promise<absl::StatusOr<v1::DeployWorkflowResponse>> done;
  auto answer = done.get_future();
  v1::Actor actor;
  actor.set_id("test-admin");
  actor.set_kind(v1::ACTOR_KIND_PERSON);
  engine.workflows().DeployWorkflow(
      source, file, actor,
      [&done](absl::StatusOr<v1::DeployWorkflowResponse> r) { done.set_value(std::move(r)); });
  return answer.get();
}

void DeployShippedWorkflows(Engine& engine) {
  auto files = workflow::ReadWorkflowDir(ShippedWorkflowDir());
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 4u);  // each shipped workflow's versions 1 and 2
  for (const auto& file : *files) {
    auto r = DeploySync(engine, file.source, file.path);
    ASSERT_TRUE(r.ok()) << file.path << ": " << r.status();
  }
}

std::unique_ptr<Engine> OpenWithShippedWorkflows(const std::string& data_dir, uint32_t partitions,
                                                 const Clock* clock, rocksdb::Env* env,
                                                 const std::string& master_key) {
  EngineOptions options;
  options.env = env;
  options.master_key = master_key;
  options.data_dir = data_dir;
  options.partitions = partitions;
  auto engine = Engine::Open(options, clock);
  EXPECT_TRUE(engine.ok()) << engine.status();
  if (!engine.ok()) return nullptr;
  DeployShippedWorkflows(**engine);
  return std::move(*engine);
}

std::vector<v1::DirectoryEntry> ExampleDirectory() {
  std::ifstream in(std::string(SOURCE_DIR) + "/deploy/examples/directory.jsonl");
  std::vector<v1::DirectoryEntry> out;
  std::string line;
  while (std::getline(in, line)) {
    v1::DirectoryEntry e;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &e).ok()) << line;
    out.push_back(e);
  }
  EXPECT_EQ(out.size(), 14u);
  return out;
}

}  // namespace gridcase::testing
