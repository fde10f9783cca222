// vLLM v1's (0.33.0) prefix-cache block pool for one full-attention KV cache group: BlockPool,
// FreeKVCacheBlockQueue and the parts of KVCacheManager / FullAttentionManager that the scheduler
// reaches (get_computed_blocks, allocate_slots, free). codewalk.core.ref_vllm is the same model in
// Python; the two must agree call for call.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace ksana_llm {

// Chained block hash: our own 64-bit SplitMix chain over (parent hash, block tokens). vLLM chains
// sha256/xxhash over (parent hash, tokens, extra keys); which function is used is not observable
// through block ids, only that a block's hash fixes its whole prefix and that equal prefixes hash
// equal. Like vLLM we treat the hash as collision-free. Must match codewalk.core.ref_vllm exactly.
constexpr uint64_t kVllmNoneHash = 0x6E6F6E655F686173ULL;  // the first block's parent
uint64_t VllmBlockHash(uint64_t parent, const int* tokens, int64_t n);

// A request id as vLLM's scheduler passes it: Request.request_id is a str; ints are taken too. 1 and
// "1" are different requests, as they are as keys of a Python dict.
using VllmRequestId = std::variant<int64_t, std::string>;
std::string VllmRequestIdText(const VllmRequestId& req_id);

struct VllmSnapshot {
  int64_t block_size = 0;
  int64_t num_blocks = 0;
  std::vector<int64_t> free_queue;
  std::vector<int64_t> ref_cnt;
  std::vector<std::optional<uint64_t>> block_hash;
  std::vector<std::pair<uint64_t, std::vector<int64_t>>> cached;
  struct Request {
    VllmRequestId req_id;
    std::vector<int64_t> block_ids;
    int64_t num_cached_blocks;
    int64_t num_computed_tokens;
    int64_t num_tokens;
  };
  std::vector<Request> requests;
};

class VllmKVCacheManager {
 public:
  // num_blocks includes the null block 0.
  VllmKVCacheManager(int64_t num_blocks, int64_t block_size);

  // KVCacheManager.get_computed_blocks: cached full blocks of the prefix, at most num_tokens - 1
  // tokens. Returns (block ids, hit tokens); takes no references.
  std::pair<std::vector<int64_t>, int64_t> GetComputedBlocks(const VllmRequestId& req_id, const std::vector<int>& tokens) const;
  // KVCacheManager.allocate_slots for num_new_tokens more tokens after hit_block_ids (a new
  // request's prefix hit). Returns the new block ids, or nullopt when the free queue is too short.
  // full_sequence_must_fit (vLLM's scheduler_reserve_full_isl admission gate) also refuses when
  // the blocks for all of `tokens` would not fit.
  std::optional<std::vector<int64_t>> AllocateSlots(const VllmRequestId& req_id, const std::vector<int>& tokens,
                                                    int64_t num_new_tokens, const std::vector<int64_t>& hit_block_ids,
                                                    bool full_sequence_must_fit = false);
  // KVCacheManager.free: release the request's blocks, last first.
  void Free(const VllmRequestId& req_id);

  // The same three calls over raw spans, writing into caller-owned buffers (cleared first) so a
  // batched replay allocates nothing per operation. Same results, same CoreErrors, same state.
  // `hashes`, when given, are the chain hashes (VllmBlockHash from kVllmNoneHash) of tokens' first
  // full blocks, as a caller that keeps them computes them: at least (n - 1) / block_size of them
  // for a lookup, n / block_size for an allocation (used only when the request is new).
  int64_t GetComputedBlocksInto(const VllmRequestId& req_id, const int* tokens, int64_t n, std::vector<int64_t>& hits,
                                const uint64_t* hashes = nullptr) const;
  // Returns false when refused (nothing changed); `fresh` then holds nothing. known_equal_prefix:
  // the caller knows tokens[0, k) equal a running request's stored tokens[0, k), so they are not
  // compared again (a replay that fed it those very tokens last time).
  bool AllocateSlotsInto(const VllmRequestId& req_id, const int* tokens, int64_t n, int64_t num_new_tokens, const int64_t* hit,
                         int64_t nhit, bool full_sequence_must_fit, std::vector<int64_t>& fresh,
                         const uint64_t* hashes = nullptr, int64_t known_equal_prefix = 0);
  // Appends instead of returning a fresh vector.
  void FreeQueueInto(std::vector<int64_t>& out) const;
  void CachedBlockIdsInto(std::vector<int64_t>& out) const;
  // nullptr when unknown.
  const std::vector<int32_t>* FindRequestBlocks(const VllmRequestId& req_id) const;

  std::vector<int64_t> FreeQueue() const;
  std::vector<int64_t> CachedBlockIds() const;
  int64_t NumFreeBlocks() const { return num_free_; }
  std::vector<int64_t> RequestBlockIds(const VllmRequestId& req_id) const;
  int64_t NumComputedTokens(const VllmRequestId& req_id) const;
  bool HasRequest(const VllmRequestId& req_id) const { return requests_.count(req_id) != 0; }
  int64_t block_size() const { return block_size_; }
  int64_t num_blocks() const { return num_blocks_; }

  void CheckInvariants() const;
  VllmSnapshot Snapshot() const;

 private:
  struct Request {
    std::vector<int> tokens;
    std::vector<uint64_t> hashes;  // one per full block of tokens
    std::vector<int32_t> blocks;
    int64_t num_cached_blocks = 0;
    int64_t num_computed_tokens = 0;
  };

  // FreeKVCacheBlockQueue as index links; head_ and tail_ are sentinels past the real blocks.
  void QueueRemove(int32_t b);
  void QueueAppend(int32_t b);
  void QueueInsertAfter(int32_t pos, int32_t b);
  int32_t QueuePopLeft();

  void Evict(int32_t b);  // BlockPool._maybe_evict_cached_block
  void ExtendHashes(const int* tokens, int64_t n, std::vector<uint64_t>& hashes) const;

 public:
  // Extends `hashes` (the chain over tokens' first hashes.size() full blocks) to `blocks` full blocks.
  void ExtendHashesTo(const int* tokens, int64_t blocks, std::vector<uint64_t>& hashes) const;

 private:

  int64_t num_blocks_;
  int64_t block_size_;
  int32_t head_, tail_;
  std::vector<int32_t> prev_, next_;
  std::vector<char> queued_;
  int64_t num_free_ = 0;
  std::vector<int64_t> ref_cnt_;
  std::vector<uint64_t> hash_;
  std::vector<char> has_hash_;
  std::unordered_map<uint64_t, std::vector<int32_t>> cached_;  // oldest first
  std::unordered_map<VllmRequestId, Request> requests_;
};

}  // namespace ksana_llm
