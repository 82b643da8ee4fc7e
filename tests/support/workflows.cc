#include "tests/support/workflows.h"

#include <fstream>
#include <future>
#include <sstream>

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
  engine.Submit(std::move(request), [&done](absl::StatusOr<v1::SubmitResponse> r) {
    done.set_value(std::move(r));
  });
  return answer.get();
}

absl::StatusOr<v1::DeployWorkflowResponse> DeploySync(Engine& engine, const std::string& source,
                                                      const std::string& file) {
  std::promise<absl::StatusOr<v1::DeployWorkflowResponse>> done;
  auto answer = done.get_future();
  v1::Actor actor;
  actor.set_id("test-admin");
  actor.set_kind(v1::ACTOR_KIND_PERSON);
  engine.DeployWorkflow(source, file, actor,
                        [&done](absl::StatusOr<v1::DeployWorkflowResponse> r) {
                          done.set_value(std::move(r));
                        });
  return answer.get();
}

void DeployShippedWorkflows(Engine& engine) {
  for (const char* file : {"epidemic-case.textproto", "help-request.textproto"}) {
    auto r = DeploySync(engine, ShippedWorkflow(file), file);
    ASSERT_TRUE(r.ok()) << r.status();
  }
}

std::unique_ptr<Engine> OpenWithShippedWorkflows(const std::string& data_dir,
                                                 uint32_t partitions, const Clock* clock) {
  EngineOptions options;
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
