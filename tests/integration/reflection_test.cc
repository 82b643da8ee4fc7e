// Server reflection, asked of a real gridcased as a tool like grpcurl would.
#include <set>
#include <string>

#include "google/protobuf/descriptor.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/integration/child_server.h"
#include "tests/support/temp_dir.h"

namespace gridcase {
namespace {

using grpc::reflection::v1alpha::ServerReflection;
using grpc::reflection::v1alpha::ServerReflectionRequest;
using grpc::reflection::v1alpha::ServerReflectionResponse;

// Off unless asked: the server does not describe itself to whoever asks.
TEST(ReflectionTest, IsOffUnlessAskedFor) {
  testing::TempDir dir;
  testing::ChildServer server(
      GRIDCASED_PATH, {"--development", "--data-dir", dir.Sub("data"), "--listen", "127.0.0.1:0"});
  ASSERT_NE(server.port(), 0) << server.output();
  auto stub = ServerReflection::NewStub(
      grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  auto stream = stub->ServerReflectionInfo(&ctx);
  ServerReflectionRequest list;
  list.set_list_services("");
  stream->Write(list);
  stream->WritesDone();
  ServerReflectionResponse resp;
  EXPECT_FALSE(stream->Read(&resp));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

TEST(ReflectionTest, ListsTheServicesAndDescribesThem) {
  testing::TempDir dir;
  testing::ChildServer server(GRIDCASED_PATH, {"--development", "--reflection", "--data-dir",
                                               dir.Sub("data"), "--listen", "127.0.0.1:0"});
  ASSERT_NE(server.port(), 0) << server.output();
  auto stub = ServerReflection::NewStub(
      grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  auto stream = stub->ServerReflectionInfo(&ctx);

  ServerReflectionRequest list;
  list.set_list_services("");
  ASSERT_TRUE(stream->Write(list));
  ServerReflectionResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  std::set<std::string> names;
  for (const auto& s : resp.list_services_response().service()) names.insert(s.name());
  EXPECT_TRUE(names.count("gridcase.v1.EventService"));
  EXPECT_TRUE(names.count("gridcase.v1.CaseService"));
  EXPECT_TRUE(names.count("grpc.health.v1.Health"));

  ServerReflectionRequest describe;
  describe.set_file_containing_symbol("gridcase.v1.EventService");
  ASSERT_TRUE(stream->Write(describe));
  ASSERT_TRUE(stream->Read(&resp));
  ASSERT_GT(resp.file_descriptor_response().file_descriptor_proto_size(), 0);
  google::protobuf::FileDescriptorProto file;
  ASSERT_TRUE(file.ParseFromString(resp.file_descriptor_response().file_descriptor_proto(0)));
  EXPECT_EQ(file.package(), "gridcase.v1");
  bool has_submit_stream = false;
  for (const auto& svc : file.service()) {
    for (const auto& m : svc.method()) has_submit_stream |= m.name() == "SubmitStream";
  }
  EXPECT_TRUE(has_submit_stream);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

}  // namespace
}  // namespace gridcase
