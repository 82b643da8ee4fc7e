#include "engine/storage/keys.h"

#include <algorithm>
#include <cassert>

#include "absl/strings/str_cat.h"
#include "engine/common/big_endian.h"

namespace gridcase::keys {

const char* CfName(Cf cf) {
  switch (cf) {
    case Cf::kDefault:
      return "default";
    case Cf::kEvents:
      return "events";
    case Cf::kCaseEvents:
      return "case_events";
    case Cf::kDedup:
      return "dedup";
    case Cf::kCases:
      return "cases";
    case Cf::kIndex:
      return "index";
    case Cf::kMeta:
      return "meta";
    case Cf::kTimers:
      return "timers";
  }
  return "?";
}

void PutFixed64Be(std::string* dst, uint64_t v) { AppendFixed64Be(v, dst); }

uint64_t DecodeFixed64Be(absl::string_view src) {
  assert(src.size() >= 8);
  return ReadFixed64Be(src);
}

std::string EncodeFixed64Be(uint64_t v) {
  std::string s;
  PutFixed64Be(&s, v);
  return s;
}

std::string EncodeFixed32Be(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 3; i >= 0; --i) {
    s[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return s;
}

std::optional<uint32_t> DecodeFixed32Be(absl::string_view src) {
  if (src.size() != 4) return std::nullopt;
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(src[i]);
  return v;
}

std::string EventKey(Position p) { return EncodeFixed64Be(p.value()); }

std::optional<Position> DecodeEventKey(absl::string_view key) {
  if (key.size() != 8) return std::nullopt;
  return Position(DecodeFixed64Be(key));
}

std::string CaseEventsPrefix(absl::string_view case_id) {
  std::string k;
  k.reserve(case_id.size() + 9);
  k.append(case_id.data(), case_id.size());
  k.push_back('\0');
  return k;
}

std::string CaseEventKey(absl::string_view case_id, CaseVersion v) {
  std::string k = CaseEventsPrefix(case_id);
  PutFixed64Be(&k, v.value());
  return k;
}

std::optional<CaseVersion> DecodeCaseEventKey(absl::string_view case_id, absl::string_view key) {
  if (key.size() != case_id.size() + 9) return std::nullopt;
  if (key.substr(0, case_id.size()) != case_id) return std::nullopt;
  if (key[case_id.size()] != '\0') return std::nullopt;
  return CaseVersion(DecodeFixed64Be(key.substr(case_id.size() + 1)));
}

std::string EncodeTimerKey(const TimerKey& t) {
  std::string k;
  PutFixed64Be(&k, static_cast<uint64_t>(t.due_us));
  k.append(t.case_id);
  k.push_back('\0');
  k.append(t.deadline);
  return k;
}

std::optional<TimerKey> DecodeTimerKey(absl::string_view key) {
  if (key.size() < 10) return std::nullopt;
  const size_t zero = key.find('\0', 8);
  if (zero == absl::string_view::npos || zero == 8) return std::nullopt;
  TimerKey t;
  t.due_us = static_cast<int64_t>(DecodeFixed64Be(key));
  t.case_id = std::string(key.substr(8, zero - 8));
  t.deadline = std::string(key.substr(zero + 1));
  return t;
}

std::string StreamOffsetKey(absl::string_view source) {
  return absl::StrCat(kMetaStreamOffsetPrefix, source);
}

std::string DeadLetterKey(absl::string_view source, uint64_t offset) {
  std::string key = absl::StrCat(kMetaDeadLetterPrefix, source);
  key.push_back('\0');
  PutFixed64Be(&key, offset);
  return key;
}

}  // namespace gridcase::keys
