#include "engine/storage/wal_scan.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/common/crc32c.h"

namespace gridcase {
namespace {

enum FragmentType : uint8_t { kFull = 1, kFirst = 2, kMiddle = 3, kLast = 4 };
constexpr uint64_t kBatchHeaderBytes = 12;  // fixed64 sequence, fixed32 count

uint64_t LittleEndian(const std::string& bytes, uint64_t at, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(bytes[at + i]);
  return v;
}

class Scanner {
 public:
  Scanner(std::string path, std::string bytes) : bytes_(std::move(bytes)) {
    scan_.path = std::move(path);
    scan_.size_bytes = bytes_.size();
  }

  WalScan Run() {
    uint64_t pos = 0;
    while (pos < bytes_.size()) {
      const uint64_t block_left = kWalBlockBytes - pos % kWalBlockBytes;
      if (block_left < kWalHeaderBytes) {  // the block's trailer
        pos += block_left;
        continue;
      }
      const uint64_t left = std::min<uint64_t>(block_left, bytes_.size() - pos);
      if (left < kWalHeaderBytes) return Torn(pos, "an incomplete header");
      const uint32_t length = static_cast<uint32_t>(LittleEndian(bytes_, pos + 4, 2));
      const uint8_t type = static_cast<uint8_t>(bytes_[pos + 6]);
      if (type == 0 && length == 0) {
        // Space allocated and never written ends the log; anywhere else
        // zeros stand where records were.
        if (std::all_of(bytes_.begin() + pos, bytes_.end(), [](char c) { return c == 0; })) {
          break;
        }
        return Damage(pos, "zeros where a record should be");
      }
      if (kWalHeaderBytes + length > left) {
        if (pos + kWalHeaderBytes + length > bytes_.size()) {
          return Torn(pending_.fragments.empty() ? pos : pending_.begin(), "a record cut short");
        }
        return Damage(pos, absl::StrCat("a record's length (", length, ") runs past its block"));
      }
      const absl::string_view payload(bytes_.data() + pos + kWalHeaderBytes, length);
      const uint32_t crc = Crc32cMask(Crc32cExtend(Crc32c({bytes_.data() + pos + 6, 1}), payload));
      if (crc != static_cast<uint32_t>(LittleEndian(bytes_, pos, 4))) {
        return Damage(pos, "a record's checksum does not match its bytes");
      }
      if (auto st = Add({pos, length, type}, payload); !st.empty()) return Damage(pos, st);
      pos += kWalHeaderBytes + length;
    }
    if (!pending_.fragments.empty()) return Torn(pending_.begin(), "a record cut short");
    return std::move(scan_);
  }

 private:
  // Adds a fragment whose checksum holds; returns what is wrong with its
  // place, if anything.
  std::string Add(const WalFragment& f, absl::string_view payload) {
    const bool open = !pending_.fragments.empty();
    switch (f.type) {
      case kFull:
      case kFirst:
        if (open) return "a record is not finished before the next one starts";
        pending_.fragments.push_back(f);
        assembled_.assign(payload.data(), payload.size());
        return f.type == kFull ? Finish() : "";
      case kMiddle:
      case kLast:
        if (!open) return "a record's continuation without its start";
        pending_.fragments.push_back(f);
        assembled_.append(payload.data(), payload.size());
        return f.type == kLast ? Finish() : "";
      default:
        return absl::StrCat("a fragment of unknown type ", static_cast<int>(f.type));
    }
  }

  std::string Finish() {
    if (assembled_.size() < kBatchHeaderBytes) return "a record too short for a write batch";
    pending_.sequence = LittleEndian(assembled_, 0, 8);
    pending_.count = static_cast<uint32_t>(LittleEndian(assembled_, 8, 4));
    scan_.records.push_back(std::move(pending_));
    pending_ = WalRecord();
    return "";
  }

  WalScan Stop(uint64_t at, std::string why, bool torn) {
    scan_.damaged = true;
    scan_.damage_offset = at;
    scan_.damage = std::move(why);
    scan_.damage_is_torn_tail = torn;
    return std::move(scan_);
  }
  WalScan Torn(uint64_t at, const char* what) {
    return Stop(at, absl::StrCat(what, " at the end of the file"), true);
  }
  WalScan Damage(uint64_t at, std::string why) { return Stop(at, std::move(why), false); }

  const std::string bytes_;
  WalScan scan_;
  WalRecord pending_;
  std::string assembled_;
};

}  // namespace

absl::StatusOr<WalScan> ScanWalFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad() || !in.is_open()) {
    return absl::UnavailableError(absl::StrCat("cannot read ", path));
  }
  return Scanner(path, std::move(bytes)).Run();
}

absl::StatusOr<std::vector<std::string>> WalFiles(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<std::pair<uint64_t, std::string>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    uint64_t number = 0;
    if (name.size() > 4 && name.substr(name.size() - 4) == ".log" &&
        absl::SimpleAtoi(name.substr(0, name.size() - 4), &number)) {
      found.emplace_back(number, entry.path().string());
    }
  }
  if (ec) return absl::UnavailableError(absl::StrCat("cannot list ", dir, ": ", ec.message()));
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& [number, path] : found) out.push_back(std::move(path));
  return out;
}

}  // namespace gridcase
