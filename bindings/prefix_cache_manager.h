// codewalk's model of KsanaLLM's PrefixCacheManager (src/ksana_llm/cache_manager/prefix_cache_manager.h,
// c451219c): one device, bookkeeping only (no tensors). The executable spec is
// codewalk/core/ref_prefix_cache.py; every public method here has a snake_case twin there.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "cache_config.h"
#include "core_error.h"

namespace ksana_llm {

enum class RequestState { kWaiting, kRunning, kSwapped };

// Where a request is in a two-phase swap; KsanaLLM tracks this in its swap task maps.
enum class SwapPhase { kNone, kSwappingOut, kSwappingIn };

// A view of some tokens (a block's worth of a request), so lookups need not copy them.
struct TokenSpan {
  const int* data;
  size_t size;
};

// Three-way comparison of token contents in the reference's order (lexicographic, as its sorted tuples).
inline int CompareTokens(TokenSpan a, TokenSpan b) {
  const size_t n = std::min(a.size, b.size);
  for (size_t i = 0; i < n; ++i) {
    if (a.data[i] != b.data[i]) return a.data[i] < b.data[i] ? -1 : 1;
  }
  return a.size == b.size ? 0 : (a.size < b.size ? -1 : 1);
}

struct PrefixCachedBlock;

// A block's children (the reference's dict), keyed by the tokens a child had when it was linked and
// kept sorted by them, so children are visited in the reference's sorted-key order. A sorted vector:
// most blocks have zero or one child. Unlinked entries stay past the live ones with their key storage,
// and blocks are reused, so linking and unlinking children does not allocate once warm.
class ChildTable {
 public:
  struct Entry {
    int head = 0;  // key[0], so the search rarely has to reach the key's own storage
    PrefixCachedBlock* block = nullptr;
    std::vector<int> key;
  };
  using const_iterator = std::vector<Entry>::const_iterator;
  using const_reverse_iterator = std::reverse_iterator<const_iterator>;

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  const_iterator begin() const { return entries_.begin(); }
  const_iterator end() const { return entries_.begin() + static_cast<std::ptrdiff_t>(size_); }
  const_reverse_iterator rbegin() const { return const_reverse_iterator(end()); }
  const_reverse_iterator rend() const { return const_reverse_iterator(begin()); }
  const Entry& operator[](size_t i) const { return entries_[i]; }
  void clear() { size_ = 0; }

  // dict.get(key)
  PrefixCachedBlock* Find(TokenSpan key) const {
    const auto [pos, found] = LowerBound(key);
    return found ? entries_[pos].block : nullptr;
  }
  // dict[key] = block
  void Set(TokenSpan key, PrefixCachedBlock* block) {
    const auto [pos, found] = LowerBound(key);
    if (!found) {
      if (size_ == entries_.size()) entries_.emplace_back();
      // Bring the spare entry just past the live ones into place.
      std::rotate(entries_.begin() + static_cast<std::ptrdiff_t>(pos),
                  entries_.begin() + static_cast<std::ptrdiff_t>(size_),
                  entries_.begin() + static_cast<std::ptrdiff_t>(size_ + 1));
      entries_[pos].key.assign(key.data, key.data + key.size);
      entries_[pos].head = key.size ? key.data[0] : 0;
      ++size_;
    }
    entries_[pos].block = block;
  }
  // dict.pop(key, None)
  void Erase(TokenSpan key) {
    const auto [pos, found] = LowerBound(key);
    if (!found) return;
    // Move the entry just past the live ones, where its key storage waits for the next Set.
    std::rotate(entries_.begin() + static_cast<std::ptrdiff_t>(pos),
                entries_.begin() + static_cast<std::ptrdiff_t>(pos + 1),
                entries_.begin() + static_cast<std::ptrdiff_t>(size_));
    --size_;
  }

 private:
  static TokenSpan Span(const std::vector<int>& v) { return {v.data(), v.size()}; }
  // First live entry not below key, and whether it equals key.
  std::pair<size_t, bool> LowerBound(TokenSpan key) const {
    size_t lo = 0;
    size_t hi = size_;
    while (lo < hi) {
      const size_t mid = lo + (hi - lo) / 2;
      const Entry& e = entries_[mid];
      const int c = !e.key.empty() && key.size != 0 && e.head != key.data[0] ? (e.head < key.data[0] ? -1 : 1)
                                                                             : CompareTokens(Span(e.key), key);
      if (c == 0) return {mid, true};
      if (c < 0) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return {lo, false};
  }

  std::vector<Entry> entries_;  // [0, size_) live and sorted by key; the rest spare
  size_t size_ = 0;
};

// An ordered index of blocks by sequence number (the timed list and its eviction index). Nodes of
// removed entries are kept as node handles and reused by the next insertion, so blocks entering and
// leaving the index do not allocate once warm.
class BlockSeqIndex {
 public:
  using Map = std::map<uint64_t, PrefixCachedBlock*>;
  bool empty() const { return map_.empty(); }
  Map::const_iterator begin() const { return map_.begin(); }
  Map::const_iterator end() const { return map_.end(); }
  Map::const_reverse_iterator rbegin() const { return map_.rbegin(); }
  Map::const_reverse_iterator rend() const { return map_.rend(); }
  Map::const_iterator lower_bound(uint64_t seq) const { return map_.lower_bound(seq); }

  // `newest`: seq is above every key, so the insertion needs no search. The returned position stays
  // valid until Erase(position).
  Map::iterator Insert(uint64_t seq, PrefixCachedBlock* block, bool newest) {
    const auto hint = newest ? map_.end() : map_.lower_bound(seq);
    if (spare_.empty()) return map_.emplace_hint(hint, seq, block);
    Map::node_type node = std::move(spare_.back());
    spare_.pop_back();
    node.key() = seq;
    node.mapped() = block;
    return map_.insert(hint, std::move(node));
  }
  void Erase(Map::iterator position) { spare_.push_back(map_.extract(position)); }

 private:
  Map map_;
  std::vector<Map::node_type> spare_;
};

// The requests holding a block: req_id -> index of the block in the request, sorted by req_id.
// A flat vector: a block is held by a handful of requests, and its storage is kept when the
// block is reset and reused, so taking and dropping references does not allocate.
class RequestRefs {
 public:
  bool empty() const { return refs_.empty(); }
  size_t size() const { return refs_.size(); }
  void clear() { refs_.clear(); }
  auto begin() const { return refs_.begin(); }
  auto end() const { return refs_.end(); }
  const size_t* Find(int64_t req_id) const {
    auto it = LowerBound(req_id);
    return it != refs_.end() && it->first == req_id ? &it->second : nullptr;
  }
  void Set(int64_t req_id, size_t index) {
    auto it = LowerBound(req_id);
    if (it != refs_.end() && it->first == req_id) {
      it->second = index;
    } else {
      refs_.insert(it, {req_id, index});
    }
  }
  void Erase(int64_t req_id) {
    auto it = LowerBound(req_id);
    if (it != refs_.end() && it->first == req_id) refs_.erase(it);
  }

 private:
  using Entries = std::vector<std::pair<int64_t, size_t>>;
  Entries::const_iterator LowerBound(int64_t req_id) const {
    return std::lower_bound(refs_.begin(), refs_.end(), req_id, [](const auto& e, int64_t id) { return e.first < id; });
  }
  Entries::iterator LowerBound(int64_t req_id) {
    return std::lower_bound(refs_.begin(), refs_.end(), req_id, [](const auto& e, int64_t id) { return e.first < id; });
  }
  Entries refs_;
};

// One block object. Its memory id moves between device and host on swap; the object (its
// identity, which requests and the tree hold) stays.
struct PrefixCachedBlock {
  int memory_block_id = -1;
  bool is_device_location = true;
  bool is_root = false;
  PrefixCachedBlock* parent = nullptr;  // non-owning
  // Ordered by token content, so children are visited in the reference's sorted-tuple order.
  ChildTable children;
  bool is_shareable = false;
  std::vector<int> token_ids;
  RequestRefs active_requests;  // running requests holding the block
  RequestRefs inactive_requests;  // swapped ones

  // Bookkeeping that stands in for set lookups on hot paths (see PrefixCacheManager).
  uint64_t timed_seq = 0;       // key in the timed list; 0 while the block is not in it
  bool is_reusable = false;     // member of KsanaLLM's reusable_cached_blocks_
  bool is_evictable = false;    // in the eviction index: timed and unreferenced
  // Where the block sits in the timed list / eviction index while it is in them, so leaving needs no search.
  BlockSeqIndex::Map::iterator timed_pos;
  BlockSeqIndex::Map::iterator evictable_pos;

  bool Unreferenced() const { return active_requests.empty() && inactive_requests.empty(); }
};

struct PrefixCachedRequest {
  int64_t req_id = 0;
  RequestState req_state = RequestState::kWaiting;
  size_t shared_block_num = 0;
  std::vector<PrefixCachedBlock*> cached_blocks;  // non-owning
  std::vector<int> req_block_ids;                 // the InferRequest's kv_cache_blocks[0]
  std::vector<int> matched_tokens;                // tokens of the blocks the last lookup matched
  SwapPhase swap_phase = SwapPhase::kNone;
  uint64_t created_seq = 0;  // creation order: the reference's dict visits requests in it
};

// A plain-data picture of everything observable, converted to the reference's snapshot() dict.
struct CacheSnapshot {
  struct Node {
    int block_id;
    std::vector<int> tokens;
    std::optional<int> parent;
    std::vector<int> children;
    std::vector<int64_t> active_requests;
    std::vector<int64_t> inactive_requests;
    bool shareable;
    bool on_device;
  };
  struct Block {
    int block_id;
    bool on_device;
    bool shareable;
  };
  struct Request {
    std::string state;
    size_t shared_block_num;
    std::vector<Block> blocks;
    std::vector<int> block_ids;
  };
  int64_t block_size = 0;
  std::vector<Node> nodes;
  std::vector<int> timed;
  std::vector<int> reusable;
  std::vector<int> free;
  std::vector<int> host_free;
  std::vector<std::pair<int64_t, Request>> requests;  // sorted by req_id
  int64_t usable = 0;
  int64_t future_free = 0;
  int64_t leaked = 0;
};

class PrefixCacheManager {
 public:
  explicit PrefixCacheManager(const CacheConfig& config);
  PrefixCacheManager(const PrefixCacheManager&) = delete;
  PrefixCacheManager& operator=(const PrefixCacheManager&) = delete;

  // Counters.
  int64_t GetUsableBlockNumber() const;
  int64_t GetFutureFreeBlockNumber() const;
  int64_t GetHostFreeBlockNumber() const;
  int64_t GetUsedBlockNumber() const;
  int64_t GetReusableBlockNumber() const;
  int64_t GetRequestUsableBlockNumber(int64_t req_id) const;
  int64_t GetRequestStepBlockNumber(int64_t req_id, int64_t token_num) const;
  int64_t GetRequestNeededBlockNumForOneNextToken(int64_t req_id) const;
  const std::vector<int>& RequestBlockIds(int64_t req_id) const;
  bool HasRequest(int64_t req_id) const;

  // Lookup, allocation and filling.
  std::tuple<int64_t, int64_t, int64_t> GetRequestPrefixBlockNumber(int64_t req_id, const std::vector<int>& tokens,
                                                                    std::optional<int64_t> check_token_num);
  // Both return the request's block table (RequestBlockIds) by reference: the scheduler calls them
  // every step and ignores it, the binding copies it into a Python list.
  const std::vector<int>& AllocateRequestBlocks(int64_t req_id, int64_t block_num);
  // The same, but returns false instead of throwing when the device blocks run out.
  bool TryAllocateRequestBlocks(int64_t req_id, int64_t block_num);
  // Returns block_merged.
  bool UpdateRequestTokens(int64_t req_id, const std::vector<int>& kvcached_tokens,
                           std::optional<int64_t> shareable_token_num);

  // Eviction and release.
  int64_t FreeCachedBlocks(int64_t block_num);
  void DestroyFinishedRequest(int64_t req_id);

  // Two-phase swap.
  std::pair<int64_t, int64_t> SwapoutRequestAsync(int64_t req_id);
  void MergeSwapoutRequest(int64_t req_id);
  int64_t SwapinRequestAsync(int64_t req_id);
  const std::vector<int>& MergeSwapinRequest(int64_t req_id);
  void DestroySwappedRequest(int64_t req_id);

  // Inspection.
  void CheckInvariants() const;
  CacheSnapshot Snapshot() const;

  int64_t block_size() const { return block_size_; }

 private:
  struct SwapoutTask {
    int64_t req_id;
    std::vector<PrefixCachedBlock*> device_blocks;  // blocks whose KV moves to host
    std::vector<PrefixCachedBlock*> host_blocks;    // their fresh host counterparts
  };
  struct SwapinTask {
    int64_t req_id;
    std::vector<PrefixCachedBlock*> host_blocks;
    std::vector<int> device_block_ids;
  };
  using BlockSet = std::unordered_set<const PrefixCachedBlock*>;

  PrefixCachedBlock* CreateCachedBlock(int memory_block_id, bool is_device_location);
  PrefixCachedRequest& GetRequest(int64_t req_id, const char* op);
  const PrefixCachedRequest& GetRequest(int64_t req_id, const char* op) const;
  static std::string Phase(const PrefixCachedRequest& req);
  TokenSpan TokenSlice(const std::vector<int>& tokens, size_t index) const;
  // How many of the request's matched blocks are still the tree blocks holding `tokens`.
  size_t ValidMatchLength(const PrefixCachedRequest& req, const std::vector<int>& tokens) const;

  // The blocks an eviction walk must leave alone (the caller's own matched prefix).
  class ReservedBlocks {
   public:
    explicit ReservedBlocks(const std::vector<PrefixCachedBlock*>& blocks) : blocks_(blocks) {}
    bool Contains(const PrefixCachedBlock* cb) const;

   private:
    static constexpr size_t kScanLimit = 256;
    const std::vector<PrefixCachedBlock*>& blocks_;  // not changed by the walk
    mutable std::vector<const PrefixCachedBlock*> sorted_;  // made on first use past kScanLimit
  };
  static inline const std::vector<PrefixCachedBlock*> kNoBlocks{};
  size_t FreeCachedBlocks(size_t block_num, const ReservedBlocks& reserved);
  size_t CountEvictableBlocks(const ReservedBlocks& reserved) const;
  size_t FreeCachedBlockRecursively(PrefixCachedBlock* cached_block, size_t depth);
  size_t DropSubtree(PrefixCachedBlock* cached_block);
  bool AppendFilledCachedBlock(PrefixCachedRequest& req, size_t block_index, PrefixCachedBlock* cached_block);
  void MergeFilledCachedBlocks(PrefixCachedRequest& req, size_t block_index, PrefixCachedBlock* dst,
                               PrefixCachedBlock* src);
  void AppendSwapinCachedBlock(PrefixCachedRequest& req, size_t block_index, PrefixCachedBlock* cached_block);
  void MergeSwapinCachedBlocks(PrefixCachedRequest& req, size_t block_index, PrefixCachedBlock* dst,
                               PrefixCachedBlock* src);
  void UpdateCachedRequestState(PrefixCachedRequest& req, RequestState state);
  void SetReusable(PrefixCachedBlock* cached_block, bool reusable);
  void UpdateEvictable(PrefixCachedBlock* cached_block);
  void ResetCachedBlock(PrefixCachedBlock* cached_block);
  void AppendCachedBlockToTimedList(PrefixCachedBlock* cached_block);
  void RemoveCachedBlockFromTimedList(PrefixCachedBlock* cached_block);
  size_t GetRequestStepBlockNumberForOneNextToken(const PrefixCachedRequest& req) const;
  PrefixCachedBlock* ParentOf(const PrefixCachedRequest& req, size_t block_index) const;
  static void DetachFromParent(PrefixCachedBlock* cached_block);

  std::vector<const PrefixCachedBlock*> CollectTreeNodes() const;
  void CheckRequests(const BlockSet& in_tree) const;
  void CheckEvictionIndex() const;
  void CheckConservation(const std::vector<const PrefixCachedBlock*>& nodes) const;

  int64_t block_size_;
  int64_t device_blocks_;
  int64_t host_blocks_;
  bool enable_prefix_caching_;
  bool fix_upstream_bugs_;

  // Owns every block object ever created; everything else links to them by raw pointer.
  std::deque<std::unique_ptr<PrefixCachedBlock>> block_pool_;
  PrefixCachedBlock* root_cached_block_ = nullptr;
  std::deque<PrefixCachedBlock*> free_cached_blocks_;  // FIFO, as KsanaLLM's queue
  std::deque<int> host_free_block_ids_;
  std::unordered_map<int64_t, PrefixCachedRequest> cached_requests_;  // looked up several times per request per step
  // KsanaLLM's reusable_cached_blocks_ set, kept as a flag on each block plus this count.
  size_t reusable_block_num_ = 0;
  // KsanaLLM's timed list, keyed by insertion sequence (oldest first).
  BlockSeqIndex timed_cached_blocks_;
  uint64_t next_timed_seq_ = 1;
  // The timed blocks no request references, in timed order: the only ones FreeCachedBlocks can
  // evict, so its newest-first walk need not step over the (many) referenced ones.
  BlockSeqIndex evictable_cached_blocks_;
  std::vector<SwapoutTask> swapout_tasks_;  // in start order
  std::vector<SwapinTask> swapin_tasks_;
  int64_t leaked_blocks_ = 0;  // device blocks lost by KsanaLLM's duplicate swap-in
  uint64_t next_request_seq_ = 0;
};

}  // namespace ksana_llm
