// Page tokens: a token opens only for the caller, call and filters it was
// sealed for, under the key that sealed it; anything else is refused.
#include "services/security/page_tokens.h"

#include <fstream>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gridcase/v1/service.pb.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace gridcase::testing {
namespace {

using security::PageTokens;
using ::testing::HasSubstr;

constexpr char kList[] = "/gridcase.v1.CaseService/ListCases";
constexpr char kCaller[] = "gridcase:person:sec-c1";

v1::ListCasesRequest Listing(const std::string& area, const std::string& token = "") {
  v1::ListCasesRequest r;
  r.set_area(area);
  r.set_stage("isolation");
  r.set_page_size(50);
  r.set_page_token(token);
  return r;
}

TEST(PageTokensTest, ATokenOpensForItsCallerCallAndFiltersOnly) {
  const PageTokens tokens = PageTokens::Random();
  const std::string token = tokens.Seal(kCaller, kList, Listing("d1-s1-c1"), "ccase-17");
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(token.find("case-17"), std::string::npos) << "base64url, not the cursor as is";

  auto opened = tokens.Open(kCaller, kList, Listing("d1-s1-c1", token));
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, "ccase-17");
  // The page size may change from page to page.
  v1::ListCasesRequest bigger = Listing("d1-s1-c1", token);
  bigger.set_page_size(1000);
  EXPECT_TRUE(tokens.Open(kCaller, kList, bigger).ok());

  const struct {
    const char* what;
    std::string caller;
    std::string method;
    v1::ListCasesRequest request;
  } refused[] = {
      {"another caller", "gridcase:person:sec-c2", kList, Listing("d1-s1-c1", token)},
      {"another call", kCaller, "/gridcase.v1.AuditService/ReadAccess", Listing("d1-s1-c1", token)},
      {"a wider area", kCaller, kList, Listing("d1", token)},
      {"the cursor changed", kCaller, kList,
       Listing("d1-s1-c1", absl::WebSafeBase64Escape("ccase-99") + token.substr(token.find('.')))},
      {"the engine's plain cursor", kCaller, kList, Listing("d1-s1-c1", "ccase-17")},
      {"not base64url", kCaller, kList, Listing("d1-s1-c1", "!!.!!")},
      {"no mac", kCaller, kList, Listing("d1-s1-c1", token.substr(0, token.find('.') + 1))},
  };
  for (const auto& r : refused) {
    auto st = tokens.Open(r.caller, r.method, r.request);
    EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument) << r.what;
    EXPECT_THAT(std::string(st.status().message()),
                HasSubstr("not one this server issued to this caller for this request"))
        << r.what;
  }
  v1::ListCasesRequest other_stage = Listing("d1-s1-c1", token);
  other_stage.set_stage("closed");
  EXPECT_FALSE(tokens.Open(kCaller, kList, other_stage).ok());
}

TEST(PageTokensTest, NothingMoreStaysEmptyAndNoTokenOpensToTheStart) {
  const PageTokens tokens = PageTokens::Random();
  EXPECT_EQ(tokens.Seal(kCaller, kList, Listing("d1"), ""), "");
  auto opened = tokens.Open(kCaller, kList, Listing("d1"));
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(*opened, "");
}

TEST(PageTokensTest, AnotherKeyRefusesAndAKeyFileIsSharedAndChecked) {
  TempDir dir;
  const std::string path = dir.Sub("page.key");
  { std::ofstream(path) << std::string(32, 'k'); }
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  auto loose = PageTokens::FromFile(path);
  EXPECT_EQ(loose.status().code(), absl::StatusCode::kFailedPrecondition) << loose.status();
  EXPECT_THAT(std::string(loose.status().message()), HasSubstr("chmod"));

  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  auto a = PageTokens::FromFile(path);
  auto b = PageTokens::FromFile(path);
  ASSERT_TRUE(a.ok() && b.ok()) << a.status();
  const std::string token = a->Seal(kCaller, kList, Listing("d1"), "ccase-1");
  EXPECT_TRUE(b->Open(kCaller, kList, Listing("d1", token)).ok()) << "same key, same answer";
  // A random key (a restart without a key file) refuses it.
  EXPECT_FALSE(PageTokens::Random().Open(kCaller, kList, Listing("d1", token)).ok());

  { std::ofstream(path, std::ios::trunc) << "short"; }
  auto short_key = PageTokens::FromFile(path);
  EXPECT_EQ(short_key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(short_key.status().message()), HasSubstr("at least 32 bytes"));
  EXPECT_EQ(PageTokens::FromFile(dir.Sub("missing")).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace gridcase::testing
