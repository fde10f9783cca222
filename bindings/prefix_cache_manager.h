// codewalk's model of KsanaLLM's PrefixCacheManager (src/ksana_llm/cache_manager/prefix_cache_manager.h,
// c451219c): one device, bookkeeping only (no tensors). The executable spec is
// codewalk/core/ref_prefix_cache.py; every public method here has a snake_case twin there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
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

// One block object. Its memory id moves between device and host on swap; the object (its
// identity, which requests and the tree hold) stays.
struct PrefixCachedBlock {
  int memory_block_id = -1;
  bool is_device_location = true;
  bool is_root = false;
  PrefixCachedBlock* parent = nullptr;  // non-owning
  // Ordered by token content, so children are visited in the reference's sorted-tuple order.
  std::map<std::vector<int>, PrefixCachedBlock*> children;
  bool is_shareable = false;
  std::vector<int> token_ids;
  std::map<int64_t, size_t> active_requests;  // req_id -> index of this block in the request
  std::map<int64_t, size_t> inactive_requests;

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
  std::vector<int> RequestBlockIds(int64_t req_id) const;
  bool HasRequest(int64_t req_id) const;

  // Lookup, allocation and filling.
  std::tuple<int64_t, int64_t, int64_t> GetRequestPrefixBlockNumber(int64_t req_id, const std::vector<int>& tokens,
                                                                    std::optional<int64_t> check_token_num);
  std::vector<int> AllocateRequestBlocks(int64_t req_id, int64_t block_num);
  std::pair<std::vector<int>, bool> UpdateRequestTokens(int64_t req_id, const std::vector<int>& kvcached_tokens,
                                                        std::optional<int64_t> shareable_token_num);

  // Eviction and release.
  int64_t FreeCachedBlocks(int64_t block_num);
  void DestroyFinishedRequest(int64_t req_id);

  // Two-phase swap.
  std::pair<int64_t, int64_t> SwapoutRequestAsync(int64_t req_id);
  void MergeSwapoutRequest(int64_t req_id);
  int64_t SwapinRequestAsync(int64_t req_id);
  std::vector<int> MergeSwapinRequest(int64_t req_id);
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
  std::vector<int> TokenSlice(const std::vector<int>& tokens, size_t index) const;
  // How many of the request's matched blocks are still the tree blocks holding `tokens`.
  size_t ValidMatchLength(const PrefixCachedRequest& req, const std::vector<int>& tokens) const;

  size_t FreeCachedBlocks(size_t block_num, const BlockSet& reserved);
  size_t CountEvictableBlocks(const BlockSet& reserved) const;
  void FreeCachedBlockRecursively(PrefixCachedBlock* cached_block, std::vector<PrefixCachedBlock*>& free_blocks,
                                  size_t depth);
  void DropSubtree(PrefixCachedBlock* cached_block, std::vector<PrefixCachedBlock*>& free_blocks);
  bool AppendFilledCachedBlock(PrefixCachedRequest& req, size_t block_index, PrefixCachedBlock* cached_block);
  void MergeFilledCachedBlocks(PrefixCachedRequest& req, size_t block_index, PrefixCachedBlock* dst,
                               PrefixCachedBlock* src);
  void AppendSwapinCachedBlock(PrefixCachedRequest& req, size_t block_index, PrefixCachedBlock* cached_block);
  void MergeSwapinCachedBlocks(PrefixCachedRequest& req, size_t block_index, PrefixCachedBlock* dst,
                               PrefixCachedBlock* src);
  void UpdateCachedRequestState(PrefixCachedRequest& req, RequestState state);
  void ResetCachedBlock(PrefixCachedBlock* cached_block);
  void AppendCachedBlockToTimedList(PrefixCachedBlock* cached_block);
  void RemoveCachedBlockFromTimedList(PrefixCachedBlock* cached_block);
  size_t GetRequestStepBlockNumberForOneNextToken(const PrefixCachedRequest& req) const;
  PrefixCachedBlock* ParentOf(const PrefixCachedRequest& req, size_t block_index) const;
  static void DetachFromParent(PrefixCachedBlock* cached_block);

  std::vector<const PrefixCachedBlock*> CollectTreeNodes() const;
  void CheckRequests(const BlockSet& in_tree) const;
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
  std::map<int64_t, PrefixCachedRequest> cached_requests_;
  std::unordered_set<PrefixCachedBlock*> reusable_cached_blocks_;
  std::list<PrefixCachedBlock*> timed_cached_blocks_;  // oldest first
  std::unordered_map<PrefixCachedBlock*, std::list<PrefixCachedBlock*>::iterator> timed_cached_block_iters_;
  std::vector<SwapoutTask> swapout_tasks_;  // in start order
  std::vector<SwapinTask> swapin_tasks_;
  int64_t leaked_blocks_ = 0;
  uint64_t next_request_seq_ = 0;  // device blocks lost by KsanaLLM's duplicate swap-in
};

}  // namespace ksana_llm
