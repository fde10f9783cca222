// vLLM v1's block pool (BlockPool + FreeKVCacheBlockQueue + one full-attention KVCacheManager
// group), modelled from vllm/v1/core/{block_pool,kv_cache_utils,kv_cache_manager,
// single_type_kv_cache_manager}.py at 0.33.0. See vllm_kv_cache_manager.h and docs/core.md.
#include "vllm_kv_cache_manager.h"

#include <algorithm>
#include <string>

#include "core_error.h"

namespace ksana_llm {

namespace {

uint64_t Mix(uint64_t x) {
  uint64_t z = x + 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::string Op(const char* name, const VllmRequestId& req_id) {
  return std::string(name) + "(" + VllmRequestIdText(req_id) + ")";
}

}  // namespace

// As the reference formats it in messages: f"{req_id}".
std::string VllmRequestIdText(const VllmRequestId& req_id) {
  if (const auto* i = std::get_if<int64_t>(&req_id)) return std::to_string(*i);
  return std::get<std::string>(req_id);
}

uint64_t VllmBlockHash(uint64_t parent, const int* tokens, int64_t n) {
  uint64_t h = Mix(parent);
  for (int64_t i = 0; i < n; ++i) h = Mix(h ^ static_cast<uint64_t>(static_cast<uint32_t>(tokens[i])));
  return h;
}

VllmKVCacheManager::VllmKVCacheManager(int64_t num_blocks, int64_t block_size)
    : num_blocks_(num_blocks), block_size_(block_size) {
  if (num_blocks < 1 || block_size < 1 || num_blocks > (int64_t{1} << 30)) {
    throw CoreError("invalid vLLM cache config: num_blocks=" + std::to_string(num_blocks) +
                    ", block_size=" + std::to_string(block_size));
  }
  const auto n = static_cast<int32_t>(num_blocks);
  head_ = n;
  tail_ = n + 1;
  prev_.assign(n + 2, -1);
  next_.assign(n + 2, -1);
  queued_.assign(n, 0);
  ref_cnt_.assign(n, 0);
  hash_.assign(n, 0);
  has_hash_.assign(n, 0);
  next_[head_] = tail_;
  prev_[tail_] = head_;
  // Block ids ascending; block 0 is popped at once to serve as the null block.
  for (int32_t b = 1; b < n; ++b) QueueAppend(b);
}

void VllmKVCacheManager::QueueInsertAfter(int32_t pos, int32_t b) {
  const int32_t nx = next_[pos];
  prev_[b] = pos;
  next_[b] = nx;
  next_[pos] = b;
  prev_[nx] = b;
  queued_[b] = 1;
  ++num_free_;
}

void VllmKVCacheManager::QueueAppend(int32_t b) { QueueInsertAfter(prev_[tail_], b); }

void VllmKVCacheManager::QueueRemove(int32_t b) {
  next_[prev_[b]] = next_[b];
  prev_[next_[b]] = prev_[b];
  prev_[b] = next_[b] = -1;
  queued_[b] = 0;
  --num_free_;
}

int32_t VllmKVCacheManager::QueuePopLeft() {
  const int32_t b = next_[head_];
  QueueRemove(b);
  return b;
}

void VllmKVCacheManager::Evict(int32_t b) {
  if (!has_hash_[b]) return;
  auto it = cached_.find(hash_[b]);
  auto& ids = it->second;
  ids.erase(std::find(ids.begin(), ids.end(), b));
  if (ids.empty()) cached_.erase(it);
  has_hash_[b] = 0;
  hash_[b] = 0;
}

void VllmKVCacheManager::ExtendHashes(const int* tokens, int64_t n, std::vector<uint64_t>& hashes) const {
  ExtendHashesTo(tokens, n / block_size_, hashes);
}

void VllmKVCacheManager::ExtendHashesTo(const int* tokens, int64_t full, std::vector<uint64_t>& hashes) const {
  uint64_t parent = hashes.empty() ? kVllmNoneHash : hashes.back();
  for (int64_t i = static_cast<int64_t>(hashes.size()); i < full; ++i) {
    parent = VllmBlockHash(parent, tokens + i * block_size_, block_size_);
    hashes.push_back(parent);
  }
}

std::pair<std::vector<int64_t>, int64_t> VllmKVCacheManager::GetComputedBlocks(const VllmRequestId& req_id,
                                                                               const std::vector<int>& tokens) const {
  std::vector<int64_t> hits;
  const int64_t hit_tokens = GetComputedBlocksInto(req_id, tokens.data(), static_cast<int64_t>(tokens.size()), hits);
  return {std::move(hits), hit_tokens};
}

int64_t VllmKVCacheManager::GetComputedBlocksInto(const VllmRequestId& req_id, const int* tokens, int64_t n,
                                                  std::vector<int64_t>& hits, const uint64_t* hashes) const {
  hits.clear();
  if (n <= 0) throw CoreError(Op("get_computed_blocks", req_id) + ": empty token list");
  uint64_t parent = kVllmNoneHash;
  const int64_t max_blocks = (n - 1) / block_size_;
  for (int64_t i = 0; i < max_blocks; ++i) {
    parent = hashes != nullptr ? hashes[i] : VllmBlockHash(parent, tokens + i * block_size_, block_size_);
    auto it = cached_.find(parent);
    if (it == cached_.end()) break;
    hits.push_back(it->second.front());
  }
  return static_cast<int64_t>(hits.size()) * block_size_;
}

std::optional<std::vector<int64_t>> VllmKVCacheManager::AllocateSlots(const VllmRequestId& req_id, const std::vector<int>& tokens,
                                                                      int64_t num_new_tokens,
                                                                      const std::vector<int64_t>& hit_block_ids,
                                                                      bool full_sequence_must_fit) {
  std::vector<int64_t> fresh;
  if (!AllocateSlotsInto(req_id, tokens.data(), static_cast<int64_t>(tokens.size()), num_new_tokens,
                         hit_block_ids.data(), static_cast<int64_t>(hit_block_ids.size()), full_sequence_must_fit,
                         fresh)) {
    return std::nullopt;
  }
  return fresh;
}

bool VllmKVCacheManager::AllocateSlotsInto(const VllmRequestId& req_id, const int* tokens, int64_t ntok, int64_t num_new_tokens,
                                           const int64_t* hit_block_ids, int64_t nhit, bool full_sequence_must_fit,
                                           std::vector<int64_t>& fresh, const uint64_t* known_hashes,
                                           int64_t known_equal_prefix) {
  fresh.clear();
  // The message prefix is built only when a call is refused.
  auto what = [&req_id] { return Op("allocate_slots", req_id); };
  const int64_t bs = block_size_;
  if (num_new_tokens < 0) throw CoreError(what() + ": negative num_new_tokens " + std::to_string(num_new_tokens));
  if (num_new_tokens == 0 && nhit == 0) {
    throw CoreError(what() + ": num_new_tokens must be > 0 when there is no prefix hit");
  }
  auto it = requests_.find(req_id);
  Request* req = it == requests_.end() ? nullptr : &it->second;
  const bool is_new = req == nullptr;
  std::vector<uint64_t> hashes;  // a new request's; a running one extends its own in place below
  int64_t computed = 0;
  if (req != nullptr) {
    if (nhit != 0) throw CoreError(what() + ": a running request takes no new prefix hits");
    const auto have = static_cast<int64_t>(req->tokens.size());
    const int64_t skip = std::clamp<int64_t>(known_equal_prefix, 0, have);
    if (ntok < have || !std::equal(req->tokens.begin() + skip, req->tokens.end(), tokens + skip)) {
      throw CoreError(what() + ": tokens do not extend the request's tokens");
    }
    computed = req->num_computed_tokens;
  } else {
    if (known_hashes != nullptr) hashes.assign(known_hashes, known_hashes + ntok / bs);
    ExtendHashes(tokens, ntok, hashes);
    if (nhit > static_cast<int64_t>(hashes.size())) {
      throw CoreError(what() + ": " + std::to_string(nhit) + " hit blocks for " + std::to_string(ntok) + " tokens");
    }
    for (int64_t i = 0; i < nhit; ++i) {
      const int64_t b = hit_block_ids[i];
      if (b <= 0 || b >= num_blocks_ || !has_hash_[b] || hash_[b] != hashes[i]) {
        throw CoreError(what() + ": block " + std::to_string(b) + " is not the cached block " + std::to_string(i) +
                        " of these tokens");
      }
    }
    computed = nhit * bs;
  }
  if (num_new_tokens > ntok - computed) {
    throw CoreError(what() + ": " + std::to_string(computed) + " computed + " + std::to_string(num_new_tokens) +
                    " new tokens exceed the " + std::to_string(ntok) + " tokens");
  }

  // get_num_blocks_to_allocate: blocks still missing up to `slots` tokens, plus hits in the free queue.
  auto blocks_to_allocate = [&](int64_t slots) {
    const int64_t need = (slots + bs - 1) / bs;
    if (req != nullptr) return std::max<int64_t>(need - static_cast<int64_t>(req->blocks.size()), 0);
    int64_t n = std::max<int64_t>(need - nhit, 0);
    for (int64_t i = 0; i < nhit; ++i) n += ref_cnt_[hit_block_ids[i]] == 0 ? 1 : 0;
    return n;
  };
  if (full_sequence_must_fit && blocks_to_allocate(ntok) > num_free_) return false;
  const int64_t total = computed + num_new_tokens;
  const int64_t need = (total + bs - 1) / bs;
  if (blocks_to_allocate(total) > num_free_) return false;
  if (req != nullptr) {
    // Only the new tail: the prefix was checked equal above; hashes extend over new full blocks.
    req->tokens.insert(req->tokens.end(), tokens + req->tokens.size(), tokens + ntok);
    ExtendHashes(req->tokens.data(), static_cast<int64_t>(req->tokens.size()), req->hashes);
  }

  if (req == nullptr) {
    req = &requests_[req_id];
    // BlockPool.touch: a hit on a block nobody holds takes it out of the free queue.
    req->blocks.reserve(static_cast<size_t>(std::max(need, nhit)));
    for (int64_t i = 0; i < nhit; ++i) {
      const int64_t b = hit_block_ids[i];
      if (ref_cnt_[b] == 0) QueueRemove(static_cast<int32_t>(b));
      ++ref_cnt_[b];
      req->blocks.push_back(static_cast<int32_t>(b));
    }
    req->num_cached_blocks = nhit;
  }
  // BlockPool.get_new_blocks: pop from the head, dropping the popped block's cached hash.
  const int64_t n_fresh = std::max<int64_t>(need - static_cast<int64_t>(req->blocks.size()), 0);
  for (int64_t k = 0; k < n_fresh; ++k) {
    const int32_t b = QueuePopLeft();
    Evict(b);
    ++ref_cnt_[b];
    req->blocks.push_back(b);
    fresh.push_back(b);
  }
  // cache_blocks -> BlockPool.cache_full_blocks, at allocation time; no de-duplication.
  if (is_new) {
    req->tokens.assign(tokens, tokens + ntok);
    req->hashes = std::move(hashes);
  }
  const int64_t full = total / bs;
  for (int64_t i = req->num_cached_blocks; i < full; ++i) {
    const int32_t b = req->blocks[i];
    const uint64_t h = req->hashes[i];
    hash_[b] = h;
    has_hash_[b] = 1;
    cached_[h].push_back(b);
  }
  req->num_cached_blocks = std::max(req->num_cached_blocks, full);
  req->num_computed_tokens = total;
  return true;
}

void VllmKVCacheManager::Free(const VllmRequestId& req_id) {
  auto it = requests_.find(req_id);
  if (it == requests_.end()) throw CoreError(Op("free", req_id) + ": unknown request");
  const std::vector<int32_t> blocks = std::move(it->second.blocks);
  requests_.erase(it);
  // BlockPool.free_blocks over the blocks in reverse: uncached blocks to the head (prepend_n keeps
  // their order), cached blocks to the tail.
  int32_t at = head_;
  for (auto r = blocks.rbegin(); r != blocks.rend(); ++r) {
    const int32_t b = *r;
    if (--ref_cnt_[b] != 0) continue;
    if (!has_hash_[b]) {
      QueueInsertAfter(at, b);
      at = b;
    }
  }
  for (auto r = blocks.rbegin(); r != blocks.rend(); ++r) {
    const int32_t b = *r;
    if (ref_cnt_[b] == 0 && has_hash_[b] && !queued_[b]) QueueAppend(b);
  }
}

std::vector<int64_t> VllmKVCacheManager::FreeQueue() const {
  std::vector<int64_t> out;
  FreeQueueInto(out);
  return out;
}

void VllmKVCacheManager::FreeQueueInto(std::vector<int64_t>& out) const {
  out.reserve(out.size() + static_cast<size_t>(num_free_));
  for (int32_t b = next_[head_]; b != tail_; b = next_[b]) out.push_back(b);
}

std::vector<int64_t> VllmKVCacheManager::CachedBlockIds() const {
  std::vector<int64_t> out;
  CachedBlockIdsInto(out);
  return out;
}

void VllmKVCacheManager::CachedBlockIdsInto(std::vector<int64_t>& out) const {
  for (int64_t b = 0; b < num_blocks_; ++b) {
    if (has_hash_[b]) out.push_back(b);
  }
}

const std::vector<int32_t>* VllmKVCacheManager::FindRequestBlocks(const VllmRequestId& req_id) const {
  auto it = requests_.find(req_id);
  return it == requests_.end() ? nullptr : &it->second.blocks;
}

std::vector<int64_t> VllmKVCacheManager::RequestBlockIds(const VllmRequestId& req_id) const {
  auto it = requests_.find(req_id);
  if (it == requests_.end()) throw CoreError(Op("request_block_ids", req_id) + ": unknown request");
  return {it->second.blocks.begin(), it->second.blocks.end()};
}

int64_t VllmKVCacheManager::NumComputedTokens(const VllmRequestId& req_id) const {
  auto it = requests_.find(req_id);
  if (it == requests_.end()) throw CoreError(Op("num_computed_tokens", req_id) + ": unknown request");
  return it->second.num_computed_tokens;
}

void VllmKVCacheManager::CheckInvariants() const {
  auto fail = [](const std::string& name, const std::string& detail) {
    throw CoreError("invariant " + name + " broken: " + detail);
  };
  if (queued_[0] || has_hash_[0] || ref_cnt_[0] != 0) fail("null-block", "block 0 is queued, cached or referenced");
  std::vector<int64_t> refs(static_cast<size_t>(num_blocks_), 0);
  const int64_t bs = block_size_;
  for (const auto& [rid, r] : requests_) {
    std::vector<int32_t> sorted(r.blocks);
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end() ||
        (!sorted.empty() && sorted.front() == 0)) {
      fail("request-blocks", "request " + VllmRequestIdText(rid) + " holds a block twice or the null block");
    }
    if (static_cast<int64_t>(r.blocks.size()) != (r.num_computed_tokens + bs - 1) / bs ||
        r.num_computed_tokens > static_cast<int64_t>(r.tokens.size())) {
      fail("request-blocks", "request " + VllmRequestIdText(rid) + ": block count does not match its tokens");
    }
    if (r.num_cached_blocks != r.num_computed_tokens / bs) {
      fail("request-blocks", "request " + VllmRequestIdText(rid) + ": wrong cached block count");
    }
    for (size_t i = 0; i < r.blocks.size(); ++i) {
      const int32_t b = r.blocks[i];
      const bool want = static_cast<int64_t>(i) < r.num_cached_blocks;
      if (static_cast<bool>(has_hash_[b]) != want || (want && hash_[b] != r.hashes[i])) {
        fail("request-blocks", "request " + VllmRequestIdText(rid) + ": block " + std::to_string(b) +
                                   " carries the wrong hash");
      }
      ++refs[b];
    }
  }
  // Walk the queue: links consistent, every queued block marked, count matches.
  int64_t walked = 0;
  for (int32_t b = next_[head_]; b != tail_; b = next_[b]) {
    if (b < 0 || b >= num_blocks_ || !queued_[b] || next_[prev_[b]] != b || ++walked > num_blocks_) {
      fail("free-queue", "broken links");
    }
  }
  if (walked != num_free_) fail("free-queue", "count out of sync");
  int64_t held = 0;
  for (int64_t b = 1; b < num_blocks_; ++b) {
    if (refs[b] != ref_cnt_[b]) {
      fail("ref-count", "block " + std::to_string(b) + ": ref_cnt " + std::to_string(ref_cnt_[b]) + ", held by " +
                            std::to_string(refs[b]));
    }
    if ((ref_cnt_[b] == 0) != static_cast<bool>(queued_[b])) {
      fail("free-queue", "block " + std::to_string(b) + " queued while referenced, or free and not queued");
    }
    held += refs[b] > 0 ? 1 : 0;
  }
  int64_t entries = 0;
  for (const auto& [h, ids] : cached_) {
    std::vector<int32_t> sorted(ids);
    std::sort(sorted.begin(), sorted.end());
    if (ids.empty() || std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
      fail("cache-map", "an empty or repeated entry");
    }
    for (int32_t b : ids) {
      if (!has_hash_[b] || hash_[b] != h) fail("cache-map", "block " + std::to_string(b) + " is in the map under a hash it does not carry");
    }
    entries += static_cast<int64_t>(ids.size());
  }
  int64_t carrying = 0;
  for (int64_t b = 0; b < num_blocks_; ++b) carrying += has_hash_[b] ? 1 : 0;
  if (entries != carrying) fail("cache-map", "a block carries a hash the map does not hold");
  if (num_free_ + held + 1 != num_blocks_) fail("conservation", "free + referenced + null != num_blocks");
}

VllmSnapshot VllmKVCacheManager::Snapshot() const {
  VllmSnapshot s;
  s.block_size = block_size_;
  s.num_blocks = num_blocks_;
  s.free_queue = FreeQueue();
  s.ref_cnt = ref_cnt_;
  s.block_hash.reserve(static_cast<size_t>(num_blocks_));
  for (int64_t b = 0; b < num_blocks_; ++b) {
    s.block_hash.push_back(has_hash_[b] ? std::optional<uint64_t>(hash_[b]) : std::nullopt);
  }
  for (const auto& [h, ids] : cached_) s.cached.emplace_back(h, std::vector<int64_t>(ids.begin(), ids.end()));
  for (const auto& [rid, r] : requests_) {
    s.requests.push_back({rid, std::vector<int64_t>(r.blocks.begin(), r.blocks.end()), r.num_cached_blocks,
                          r.num_computed_tokens, static_cast<int64_t>(r.tokens.size())});
  }
  return s;
}

}  // namespace ksana_llm
