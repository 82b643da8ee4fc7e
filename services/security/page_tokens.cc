#include "services/security/page_tokens.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/common/check.h"
#include "engine/common/file_modes.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace gridcase::security {
namespace {

constexpr size_t kMacBytes = 16;  // of HMAC-SHA256's 32: 128 bits to guess

// `request` without the fields that may change from page to page, in
// deterministic bytes.
std::string FiltersOf(const google::protobuf::Message& request) {
  std::unique_ptr<google::protobuf::Message> copy(request.New());
  copy->CopyFrom(request);
  const google::protobuf::Descriptor* d = copy->GetDescriptor();
  for (const char* name : {"page_token", "page_size", "break_glass_reason"}) {
    if (const auto* field = d->FindFieldByName(name); field != nullptr) {
      copy->GetReflection()->ClearField(copy.get(), field);
    }
  }
  std::string bytes;
  google::protobuf::io::StringOutputStream out(&bytes);
  google::protobuf::io::CodedOutputStream coded(&out);
  coded.SetSerializationDeterministic(true);
  GC_CHECK(copy->SerializeToCodedStream(&coded), "a request serializes");
  coded.Trim();
  return bytes;
}

// Each part prefixed by its length, so that no two different tuples give
// the same bytes.
void AppendPart(absl::string_view part, std::string* out) {
  absl::StrAppend(out, part.size(), ":", part);
}

absl::Status NotIssued() {
  return absl::InvalidArgumentError(
      "page_token: not one this server issued to this caller for this request (ask again "
      "from the first page; tokens do not outlive a restart of the server)");
}

}  // namespace

PageTokens PageTokens::Random() {
  std::string key(kKeyBytesMin, '\0');
  GC_CHECK(RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), key.size()) == 1,
           "the system's random source gives a page-token key");
  return PageTokens(std::move(key));
}

absl::StatusOr<PageTokens> PageTokens::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot read the page-token key"));
  if (auto st = CheckFileExposure(path, Exposure::kOwnerOnly, "page-token key"); !st.ok()) {
    return st;
  }
  std::stringstream bytes;
  bytes << in.rdbuf();
  std::string key = bytes.str();
  if (key.size() < kKeyBytesMin) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": a page-token key needs at least ", kKeyBytesMin, " bytes (it has ", key.size(),
        "); e.g. head -c 32 /dev/urandom > ", path, " && chmod 600 ", path));
  }
  return PageTokens(std::move(key));
}

std::string PageTokens::Mac(absl::string_view caller, absl::string_view method,
                            const google::protobuf::Message& request,
                            absl::string_view cursor) const {
  std::string message;
  AppendPart(caller, &message);
  AppendPart(method, &message);
  AppendPart(FiltersOf(request), &message);
  AppendPart(cursor, &message);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  GC_CHECK(HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
                reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac,
                &size) != nullptr &&
               size >= kMacBytes,
           "HMAC-SHA256 computes");
  return std::string(reinterpret_cast<const char*>(mac), kMacBytes);
}

std::string PageTokens::Seal(absl::string_view caller, absl::string_view method,
                             const google::protobuf::Message& request,
                             absl::string_view cursor) const {
  if (cursor.empty()) return "";
  return absl::StrCat(absl::WebSafeBase64Escape(cursor), ".",
                      absl::WebSafeBase64Escape(Mac(caller, method, request, cursor)));
}

absl::StatusOr<std::string> PageTokens::Open(absl::string_view caller, absl::string_view method,
                                             const google::protobuf::Message& request) const {
  const auto* field = request.GetDescriptor()->FindFieldByName("page_token");
  GC_CHECK(field != nullptr, "a paged request has a page_token");
  const std::string token = request.GetReflection()->GetString(request, field);
  if (token.empty()) return std::string();
  const size_t dot = token.find('.');
  std::string cursor;
  std::string mac;
  if (dot == std::string::npos ||
      !absl::WebSafeBase64Unescape(absl::string_view(token).substr(0, dot), &cursor) ||
      !absl::WebSafeBase64Unescape(absl::string_view(token).substr(dot + 1), &mac) ||
      cursor.empty() || mac.size() != kMacBytes) {
    return NotIssued();
  }
  const std::string expected = Mac(caller, method, request, cursor);
  if (CRYPTO_memcmp(expected.data(), mac.data(), kMacBytes) != 0) return NotIssued();
  return cursor;
}

}  // namespace gridcase::security
