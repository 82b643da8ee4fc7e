#include "engine/storage/id_filter.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/hash/hash.h"
#include "engine/common/check.h"

namespace gridcase {
namespace {

constexpr int kBitsPerBlock = 512;  // one cache line of 8 words
constexpr int kProbes = 7;
constexpr uint64_t kBitsPerId = 10;

// A 64-bit finaliser (MurmurHash3's): spreads absl::Hash's bits over the
// block index and the bit positions derived from it.
uint64_t Mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

}  // namespace

struct IdFilter::Segment {
  explicit Segment(uint64_t cap)
      : capacity(cap),
        blocks(std::max<uint64_t>(1, (cap * kBitsPerId + kBitsPerBlock - 1) / kBitsPerBlock)),
        words(new std::atomic<uint64_t>[blocks * 8]) {
    for (uint64_t i = 0; i < blocks * 8; ++i) words[i].store(0, std::memory_order_relaxed);
  }

  // The block of `h`, and the 7 bit positions in it.
  template <typename F>
  void ForEachBit(uint64_t h, F&& f) const {
    const uint64_t block = (h >> 32) * blocks >> 32;  // high bits pick the block
    uint32_t a = static_cast<uint32_t>(h);
    const uint32_t b = static_cast<uint32_t>(Mix(h)) | 1;
    for (int i = 0; i < kProbes; ++i, a += b) {
      const uint32_t bit = a % kBitsPerBlock;
      f(block * 8 + bit / 64, uint64_t{1} << (bit % 64));
    }
  }

  const uint64_t capacity;
  const uint64_t blocks;
  std::unique_ptr<std::atomic<uint64_t>[]> words;
  std::atomic<uint64_t> added{0};
};

IdFilter::IdFilter(uint64_t capacity) {
  segments_[0].store(new Segment(std::max<uint64_t>(capacity, 1024)), std::memory_order_release);
  count_.store(1, std::memory_order_release);
}

IdFilter::~IdFilter() {
  for (auto& s : segments_) delete s.load(std::memory_order_acquire);
}

IdFilter::Segment* IdFilter::Last() {
  Segment* last =
      segments_[count_.load(std::memory_order_acquire) - 1].load(std::memory_order_acquire);
  if (last->added.load(std::memory_order_relaxed) < last->capacity) return last;
  absl::MutexLock lock(&grow_mu_);
  const int n = count_.load(std::memory_order_acquire);
  last = segments_[n - 1].load(std::memory_order_acquire);
  if (last->added.load(std::memory_order_relaxed) < last->capacity) return last;
  // 2^47 times the first capacity: no partition gets there.
  GC_CHECK(n < kSegmentsMax, "id filter: ", n, " segments full");
  auto* grown = new Segment(last->capacity * 2);
  segments_[n].store(grown, std::memory_order_release);
  count_.store(n + 1, std::memory_order_release);
  return grown;
}

void IdFilter::Add(absl::string_view id) {
  Segment* s = Last();
  const uint64_t h = Mix(absl::Hash<absl::string_view>{}(id));
  s->ForEachBit(h, [&](uint64_t word, uint64_t mask) {
    s->words[word].fetch_or(mask, std::memory_order_release);
  });
  s->added.fetch_add(1, std::memory_order_relaxed);
}

bool IdFilter::MayContain(absl::string_view id) const {
  const uint64_t h = Mix(absl::Hash<absl::string_view>{}(id));
  const int n = count_.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i) {
    const Segment* s = segments_[i].load(std::memory_order_acquire);
    bool all = true;
    s->ForEachBit(h, [&](uint64_t word, uint64_t mask) {
      all = all && (s->words[word].load(std::memory_order_acquire) & mask) != 0;
    });
    if (all) return true;
  }
  return false;
}

size_t IdFilter::bytes() const {
  size_t total = 0;
  const int n = count_.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i) {
    total += segments_[i].load(std::memory_order_acquire)->blocks * 64;
  }
  return total;
}

}  // namespace gridcase
