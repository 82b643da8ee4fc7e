// Bytes that do not parse as a request, sent to the real server over
// loopback with grpc::GenericStub (which sends any bytes to any method):
// every RPC refuses them with INVALID_ARGUMENT naming the request type, and
// a SubmitStream never ends OK with a submission left unanswered.
#include <signal.h>
#include <sys/wait.h>

#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "tests/integration/child_server.h"
#include "tests/integration/server_fixture.h"

namespace gridcase {
namespace {

using ::gridcase::testing::Fever;
using ::gridcase::testing::NowUs;
using ::gridcase::testing::OneSubmission;
using ::gridcase::testing::ServerTest;
using ::testing::HasSubstr;

// Field 1, length-delimited, says 5 bytes and brings 2: no message parses.
const std::string kGarbage(
    "\x0a\x05"
    "ab",
    4);

struct RawResult {
  grpc::Status status;
  std::vector<std::string> messages;  // what the server sent, as bytes
};

// One call of `method` ("/package.Service/Method") that sends `messages` as
// they are, half-closes, and reads everything until the call ends. Writes
// go first: the server reads them whatever it answers meanwhile.
RawResult RawCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                  const std::vector<std::string>& messages) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(&ctx, method, &cq);
  void* tag = nullptr;
  bool ok = false;
  auto await = [&] {
    EXPECT_TRUE(cq.Next(&tag, &ok));
    return ok;
  };
  call->StartCall(nullptr);
  await();
  for (const std::string& bytes : messages) {
    grpc::Slice slice(bytes);
    grpc::ByteBuffer buffer(&slice, 1);
    call->Write(buffer, nullptr);
    if (!await()) break;  // the server already ended the call
  }
  call->WritesDone(nullptr);
  await();
  RawResult result;
  for (;;) {
    grpc::ByteBuffer buffer;
    call->Read(&buffer, nullptr);
    if (!await()) break;
    std::vector<grpc::Slice> slices;
    EXPECT_TRUE(buffer.Dump(&slices).ok());
    std::string bytes;
    for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    result.messages.push_back(std::move(bytes));
  }
  call->Finish(&result.status, nullptr);
  await();
  return result;
}

// The answers of a SubmitStream, in the order received.
std::vector<v1::StreamAnswer> Answers(const RawResult& result) {
  std::vector<v1::StreamAnswer> out;
  for (const std::string& bytes : result.messages) {
    v1::StreamSubmitResponse response;
    EXPECT_TRUE(response.ParseFromString(bytes));
    for (const auto& a : response.answers()) out.push_back(a);
  }
  return out;
}

constexpr char kSubmitStream[] = "/gridcase.v1.EventService/SubmitStream";

TEST_F(ServerTest, EveryRpcRefusesBytesThatDoNotParseNamingTheRequestType) {
  const google::protobuf::FileDescriptor* file = v1::SubmitRequest::descriptor()->file();
  int methods = 0;
  for (int s = 0; s < file->service_count(); ++s) {
    const google::protobuf::ServiceDescriptor* service = file->service(s);
    for (int m = 0; m < service->method_count(); ++m) {
      const google::protobuf::MethodDescriptor* method = service->method(m);
      SCOPED_TRACE(method->full_name());
      ++methods;
      const RawResult result = RawCall(
          channel_, absl::StrCat("/", service->full_name(), "/", method->name()), {kGarbage});
      EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
          << result.status.error_message();
      EXPECT_THAT(result.status.error_message(), HasSubstr(method->input_type()->full_name()));
      EXPECT_TRUE(result.messages.empty());
    }
  }
  // EventService, CaseService, AdminService, AuditService.
  EXPECT_EQ(file->service_count(), 4);
  EXPECT_EQ(methods, 23);
}

// gRPC's own services keep their own rules: the health service refuses a
// request it cannot parse.
TEST_F(ServerTest, TheHealthServiceRefusesBytesItCannotParse) {
  const RawResult result = RawCall(channel_, "/grpc.health.v1.Health/Check", {kGarbage});
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << result.status.error_message();
}

TEST_F(ServerTest, AStreamMessageThatDoesNotParseEndsTheStreamAfterWhatCameBefore) {
  const RawResult result = RawCall(
      channel_, kSubmitStream,
      {OneSubmission(7, Fever("mid-1", "mid-case", 36.6, NowUs())).SerializeAsString(), kGarbage,
       OneSubmission(9, Fever("mid-3", "mid-case", 36.7, NowUs())).SerializeAsString()});
  const std::vector<v1::StreamAnswer> answers = Answers(result);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].request_id(), 7u);
  EXPECT_TRUE(answers[0].has_accepted());
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << result.status.error_message();
  EXPECT_THAT(result.status.error_message(),
              HasSubstr("message 2 does not parse as gridcase.v1.StreamSubmitRequest"));
  EXPECT_THAT(result.status.error_message(), HasSubstr("1 submission answered"));
  EXPECT_THAT(result.status.error_message(), HasSubstr("the last request_id 7"));
  // The first is in the case's timeline, the third was never read.
  v1::GetTimelineRequest timeline;
  timeline.set_case_id("mid-case");
  auto records = engine_->GetTimeline(timeline);
  ASSERT_TRUE(records.ok()) << records.status();
  std::vector<std::string> ids;
  for (const auto& r : records->records()) ids.push_back(r.event().event_id());
  EXPECT_THAT(ids, ::testing::Contains("mid-1"));
  EXPECT_THAT(ids, ::testing::Not(::testing::Contains("mid-3")));
}

TEST_F(ServerTest, AStreamWhoseFirstMessageDoesNotParseAnswersNothing) {
  const RawResult result = RawCall(
      channel_, kSubmitStream,
      {kGarbage,
       OneSubmission(1, Fever("first-2", "first-case", 36.6, NowUs())).SerializeAsString()});
  EXPECT_TRUE(Answers(result).empty());
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(result.status.error_message(), HasSubstr("message 1 does not parse"));
  EXPECT_THAT(result.status.error_message(), HasSubstr("0 submissions answered"));
  EXPECT_EQ(engine_->GetCase("first-case").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ServerTest, AnUnparsableMessageAfterManyInFlightEndsTheStreamOnceAllAreAnswered) {
  constexpr int kCount = 1000;
  v1::StreamSubmitRequest many;
  for (int i = 0; i < kCount; ++i) {
    v1::StreamSubmission* s = many.add_submissions();
    s->set_request_id(i);
    *s->mutable_submit()->mutable_event() =
        Fever("many-" + std::to_string(i), "many-" + std::to_string(i % 13), 36.6, NowUs());
  }
  const RawResult result = RawCall(channel_, kSubmitStream, {many.SerializeAsString(), kGarbage});
  const std::vector<v1::StreamAnswer> answers = Answers(result);
  ASSERT_EQ(answers.size(), static_cast<size_t>(kCount));
  std::set<uint64_t> ids;
  for (const auto& a : answers) {
    EXPECT_TRUE(a.has_accepted()) << a.refused().message();
    ids.insert(a.request_id());
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kCount));
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(result.status.error_message(), HasSubstr("message 2 does not parse"));
  EXPECT_THAT(result.status.error_message(), HasSubstr("1000 submissions answered"));
  // The last answer sent is the one the status names.
  EXPECT_THAT(result.status.error_message(),
              HasSubstr(absl::StrCat("the last request_id ", answers.back().request_id())));
}

TEST_F(ServerTest, AStreamOfValidMessagesEndsOkWithEveryAnswer) {
  constexpr int kCount = 50;
  std::vector<std::string> messages;
  for (int i = 0; i < kCount; ++i) {
    messages.push_back(OneSubmission(i, Fever("ok-" + std::to_string(i), "ok-case", 36.6, NowUs()))
                           .SerializeAsString());
  }
  const RawResult result = RawCall(channel_, kSubmitStream, messages);
  EXPECT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(Answers(result).size(), static_cast<size_t>(kCount));
}

// gridcased itself, as a child process: a flood of requests with a string
// that is not UTF-8 is refused, and protobuf's complaint about each reaches
// the server's log only a bounded number of times.
TEST(ServerLogTest, AFloodOfInvalidUtf8DoesNotFloodTheLog) {
  testing::TempDir dir;
  testing::ChildServer server(
      GRIDCASED_PATH, {"--development", "--data-dir", dir.Sub("data"), "--listen", "127.0.0.1:0"});
  ASSERT_NE(server.port(), 0) << server.output();
  auto channel = grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
  // SubmitRequest{event{event_id: "\xff\xfe"}}, written by hand: protobuf
  // would not serialize it.
  const std::string bad_utf8("\x0a\x04\x0a\x02\xff\xfe", 6);
  constexpr int kRequests = 300;
  int refused = 0;
  grpc::Status last;
  for (int i = 0; i < kRequests; ++i) {
    last = RawCall(channel, "/gridcase.v1.EventService/Submit", {bad_utf8}).status;
    refused += last.error_code() == grpc::StatusCode::INVALID_ARGUMENT &&
               absl::StrContains(last.error_message(), "gridcase.v1.SubmitRequest");
  }
  EXPECT_EQ(refused, kRequests) << last.error_code() << " " << last.error_message();
  channel.reset();
  const int status = server.KillAndWait(SIGTERM);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << server.output();
  int complaints = 0;
  for (absl::string_view line : absl::StrSplit(server.output(), '\n')) {
    complaints += absl::StrContains(line, "invalid UTF-8");
  }
  const std::string head = server.output().substr(0, 2000);
  EXPECT_GE(complaints, 1) << head;
  EXPECT_LE(complaints, 10) << head;
  EXPECT_TRUE(absl::StrContains(server.output(), "more protobuf messages like these suppressed"))
      << head;
}

}  // namespace
}  // namespace gridcase
