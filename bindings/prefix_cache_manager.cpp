// codewalk's model of KsanaLLM's PrefixCacheManager (cache_manager/prefix_cache_manager.cpp, c451219c).
// Each function mirrors one of codewalk/core/ref_prefix_cache.py, which is the spec it is diffed against.
#include "prefix_cache_manager.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>

namespace ksana_llm {

namespace {

// Largest pool we agree to build: the reference would try to allocate anything, we refuse early
// rather than exhaust memory from a typo.
constexpr int64_t kMaxBlocks = int64_t{1} << 24;
constexpr int64_t kMaxBlockSize = int64_t{1} << 30;

std::string Req(int64_t req_id) { return "req " + std::to_string(req_id); }

// Python's floor division, so negative arguments give the reference's numbers.
int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

TokenSpan Tokens(const PrefixCachedBlock* cb) { return {cb->token_ids.data(), cb->token_ids.size()}; }

}  // namespace

// PrefixCacheManager::PrefixCacheManager + InitializeCachedBlocks: every device block starts free.
PrefixCacheManager::PrefixCacheManager(const CacheConfig& config)
    : block_size_(config.block_size),
      device_blocks_(config.device_blocks),
      host_blocks_(config.host_blocks),
      enable_prefix_caching_(config.enable_prefix_caching),
      fix_upstream_bugs_(config.fix_upstream_bugs) {
  if (block_size_ <= 0 || device_blocks_ <= 0 || host_blocks_ < 0) {
    throw CoreError("invalid cache config: block_size=" + std::to_string(block_size_) +
                    ", device_blocks=" + std::to_string(device_blocks_) +
                    ", host_blocks=" + std::to_string(host_blocks_));
  }
  if (block_size_ > kMaxBlockSize || device_blocks_ > kMaxBlocks || host_blocks_ > kMaxBlocks) {
    throw CoreError("invalid cache config: block_size, device_blocks or host_blocks too large");
  }
  root_cached_block_ = CreateCachedBlock(-1, true);
  root_cached_block_->is_root = true;
  for (int i = 0; i < static_cast<int>(device_blocks_); ++i) {
    free_cached_blocks_.push_back(CreateCachedBlock(i, true));
  }
  for (int i = 0; i < static_cast<int>(host_blocks_); ++i) host_free_block_ids_.push_back(i);
}

// PrefixCacheManager::CreateCachedBlock: the pool owns it; callers keep raw links.
PrefixCachedBlock* PrefixCacheManager::CreateCachedBlock(int memory_block_id, bool is_device_location) {
  block_pool_.push_back(std::make_unique<PrefixCachedBlock>());
  PrefixCachedBlock* cb = block_pool_.back().get();
  cb->memory_block_id = memory_block_id;
  cb->is_device_location = is_device_location;
  return cb;
}

// ------------------------------------------------------------------ counters

// PrefixCacheManager::GetUsableBlockNumber
int64_t PrefixCacheManager::GetUsableBlockNumber() const {
  return static_cast<int64_t>(free_cached_blocks_.size() + reusable_block_num_);
}

// PrefixCacheManager::GetFutureFreeBlockNumber: blocks that come free once their swap-out merges.
int64_t PrefixCacheManager::GetFutureFreeBlockNumber() const {
  size_t total = 0;
  for (const auto& task : swapout_tasks_) total += task.host_blocks.size();
  return static_cast<int64_t>(total);
}

// PrefixCacheManager::GetHostFreeBlockNumber
int64_t PrefixCacheManager::GetHostFreeBlockNumber() const {
  return static_cast<int64_t>(host_free_block_ids_.size());
}

// PrefixCacheManager::GetUsedBlockNumber: the allocator's used count (every device block, never given
// back) minus the usable ones, so a leaked block still counts as used, as upstream.
int64_t PrefixCacheManager::GetUsedBlockNumber() const {
  return device_blocks_ - static_cast<int64_t>(free_cached_blocks_.size()) -
         static_cast<int64_t>(reusable_block_num_);
}

int64_t PrefixCacheManager::GetReusableBlockNumber() const {
  return static_cast<int64_t>(reusable_block_num_);
}

// PrefixCacheManager::GetRequestUsableBlockNumber: the request's own matched reusable blocks do not count.
int64_t PrefixCacheManager::GetRequestUsableBlockNumber(int64_t req_id) const {
  const PrefixCachedRequest& req = GetRequest(req_id, "get_request_usable_block_number");
  int64_t own = 0;
  for (const PrefixCachedBlock* cb : req.cached_blocks) own += cb->is_reusable ? 1 : 0;
  return GetUsableBlockNumber() - own;
}

// PrefixCacheManager::GetRequestStepBlockNumber: blocks still to allocate so token_num tokens fit.
int64_t PrefixCacheManager::GetRequestStepBlockNumber(int64_t req_id, int64_t token_num) const {
  const PrefixCachedRequest& req = GetRequest(req_id, "get_request_step_block_number");
  // (token_num + block_size) // block_size, written so it cannot overflow.
  int64_t total = FloorDiv(token_num, block_size_) + 1;
  return total - std::min<int64_t>(total, static_cast<int64_t>(req.cached_blocks.size()));
}

// PrefixCacheManager::GetRequestNeededBlockNumForOneNextToken: host blocks to bring back plus the next block.
int64_t PrefixCacheManager::GetRequestNeededBlockNumForOneNextToken(int64_t req_id) const {
  const PrefixCachedRequest& req = GetRequest(req_id, "get_request_needed_block_num_for_one_next_token");
  int64_t on_host = 0;
  for (PrefixCachedBlock* cb : req.cached_blocks) on_host += cb->is_device_location ? 0 : 1;
  return on_host + static_cast<int64_t>(GetRequestStepBlockNumberForOneNextToken(req));
}

const std::vector<int>& PrefixCacheManager::RequestBlockIds(int64_t req_id) const {
  return GetRequest(req_id, "request_block_ids").req_block_ids;
}

bool PrefixCacheManager::HasRequest(int64_t req_id) const { return cached_requests_.count(req_id) != 0; }

// ------------------------------------------------------------------ lookup and allocation

// PrefixCacheManager::GetRequestPrefixBlockNumber: match full blocks against the tree, taking no references.
std::tuple<int64_t, int64_t, int64_t> PrefixCacheManager::GetRequestPrefixBlockNumber(
    int64_t req_id, const std::vector<int>& tokens, std::optional<int64_t> check_token_num) {
  const int64_t token_count = static_cast<int64_t>(tokens.size());
  const int64_t check = check_token_num.value_or(token_count);
  if (check < 0 || check > token_count) {
    throw CoreError("get_request_prefix_block_number: " + Req(req_id) + ": check_token_num " + std::to_string(check) +
                    " outside 0.." + std::to_string(token_count));
  }
  auto it = cached_requests_.find(req_id);
  if (it != cached_requests_.end() &&
      (it->second.req_state != RequestState::kWaiting || !it->second.req_block_ids.empty())) {
    throw CoreError("get_request_prefix_block_number: " + Req(req_id) + " is " + Phase(it->second) + ", not waiting");
  }
  if (it == cached_requests_.end()) {
    it = cached_requests_.emplace(req_id, PrefixCachedRequest{}).first;
    it->second.req_id = req_id;
    it->second.created_seq = next_request_seq_++;
  }
  PrefixCachedRequest& req = it->second;
  // An earlier lookup's match is kept only while it is still the same chain of tree blocks.
  req.cached_blocks.resize(ValidMatchLength(req, tokens));
  PrefixCachedBlock* cur = req.cached_blocks.empty() ? root_cached_block_ : req.cached_blocks.back();
  if (enable_prefix_caching_) {
    const size_t full_blocks = static_cast<size_t>(check / block_size_);
    for (size_t i = req.cached_blocks.size(); i < full_blocks; ++i) {
      PrefixCachedBlock* child = cur->children.Find(TokenSlice(tokens, i));
      if (child == nullptr) break;
      cur = child;
      req.cached_blocks.push_back(cur);
    }
  }
  const int64_t shared = static_cast<int64_t>(req.cached_blocks.size());
  req.shared_block_num = req.cached_blocks.size();
  req.matched_tokens.assign(tokens.begin(), tokens.begin() + shared * block_size_);
  return {shared, check / block_size_ + 1 - shared, shared * block_size_};
}

size_t PrefixCacheManager::ValidMatchLength(const PrefixCachedRequest& req, const std::vector<int>& tokens) const {
  for (size_t i = 0; i < req.cached_blocks.size(); ++i) {
    const PrefixCachedBlock* cb = req.cached_blocks[i];
    const PrefixCachedBlock* prev = i == 0 ? root_cached_block_ : req.cached_blocks[i - 1];
    const TokenSpan slice = TokenSlice(tokens, i);
    if (!(cb->parent == prev && cb->is_shareable && cb->is_device_location &&
          std::equal(cb->token_ids.begin(), cb->token_ids.end(), slice.data, slice.data + slice.size))) {
      return i;
    }
  }
  return req.cached_blocks.size();
}

// PrefixCacheManager::AllocateRequestBlocks: reference the matched blocks, then pop block_num free ones.
const std::vector<int>& PrefixCacheManager::AllocateRequestBlocks(int64_t req_id, int64_t block_num) {
  if (!TryAllocateRequestBlocks(req_id, block_num)) {
    throw CoreError("allocate_request_blocks: " + Req(req_id) + ": out of device blocks (asked " +
                    std::to_string(block_num) + ", free " + std::to_string(free_cached_blocks_.size()) + ")");
  }
  return RequestBlockIds(req_id);
}

// AllocateRequestBlocks without the exception for running out of blocks, which the scheduler meets
// every step under pressure; refused calls still throw.
bool PrefixCacheManager::TryAllocateRequestBlocks(int64_t req_id, int64_t block_num) {
  PrefixCachedRequest& req = GetRequest(req_id, "allocate_request_blocks");
  if (req.req_state == RequestState::kSwapped || req.swap_phase != SwapPhase::kNone) {
    throw CoreError("allocate_request_blocks: " + Req(req_id) + " is " + Phase(req));
  }
  if (block_num < 0 || block_num > device_blocks_) {
    throw CoreError("allocate_request_blocks: " + Req(req_id) + ": block_num " + std::to_string(block_num) +
                    " outside 0.." + std::to_string(device_blocks_));
  }
  if (req.req_block_ids.empty() && ValidMatchLength(req, req.matched_tokens) < req.cached_blocks.size()) {
    // A lookup takes no references, so its matches can be evicted before this call; upstream
    // would then reference free blocks. Only a fresh lookup may allocate.
    throw CoreError("allocate_request_blocks: " + Req(req_id) +
                    ": blocks matched by its lookup were evicted since; call get_request_prefix_block_number again");
  }
  const int64_t free_now = static_cast<int64_t>(free_cached_blocks_.size());
  const size_t needed = static_cast<size_t>(std::max<int64_t>(0, block_num - free_now));
  if (needed) {
    // The request's own matched prefix must survive the eviction that makes room for it.
    const ReservedBlocks reserved(req.cached_blocks);
    if (fix_upstream_bugs_ && CountEvictableBlocks(reserved) < needed) return false;
    // Upstream evicts first and only then finds out it was not enough.
    if (FreeCachedBlocks(needed, reserved) < needed) return false;
  }
  if (req.req_block_ids.empty()) req.req_state = RequestState::kRunning;
  if (req.req_block_ids.size() > req.cached_blocks.size()) req.req_block_ids.resize(req.cached_blocks.size());
  for (size_t i = req.req_block_ids.size(); i < req.cached_blocks.size(); ++i) {
    PrefixCachedBlock* cb = req.cached_blocks[i];
    req.req_block_ids.push_back(cb->memory_block_id);
    if (cb->Unreferenced()) SetReusable(cb, false);
    cb->active_requests.Set(req_id, i);
    UpdateEvictable(cb);
  }
  for (int64_t n = 0; n < block_num; ++n) {
    if (free_cached_blocks_.empty()) throw std::out_of_range("allocate_request_blocks: free queue ran dry");
    PrefixCachedBlock* cb = free_cached_blocks_.front();
    free_cached_blocks_.pop_front();
    req.req_block_ids.push_back(cb->memory_block_id);
    req.cached_blocks.push_back(cb);
  }
  return true;
}

// PrefixCacheManager::UpdateRequestTokens: newly filled blocks enter the tree or merge into their twins.
bool PrefixCacheManager::UpdateRequestTokens(int64_t req_id, const std::vector<int>& kvcached_tokens,
                                             std::optional<int64_t> shareable_token_num) {
  PrefixCachedRequest& req = GetRequest(req_id, "update_request_tokens");
  const int64_t token_count = static_cast<int64_t>(kvcached_tokens.size());
  const int64_t shareable = shareable_token_num.value_or(token_count);
  if (req.req_state != RequestState::kRunning || req.swap_phase != SwapPhase::kNone) {
    throw CoreError("update_request_tokens: " + Req(req_id) + " is " + Phase(req) + ", not running");
  }
  if (shareable < 0 || shareable > token_count) {
    throw CoreError("update_request_tokens: " + Req(req_id) + ": shareable_token_num " + std::to_string(shareable) +
                    " outside 0.." + std::to_string(token_count));
  }
  const size_t filled = static_cast<size_t>(shareable / block_size_);
  bool merged = false;
  if (filled <= req.shared_block_num || !enable_prefix_caching_) return merged;
  if (req.cached_blocks.size() < filled) {
    throw CoreError("update_request_tokens: " + Req(req_id) + " holds " + std::to_string(req.cached_blocks.size()) +
                    " blocks, fewer than the " + std::to_string(filled) + " filled ones");
  }
  for (size_t i = req.shared_block_num; i < filled; ++i) {
    PrefixCachedBlock* cb = req.cached_blocks[i];
    const TokenSpan slice = TokenSlice(kvcached_tokens, i);
    cb->token_ids.assign(slice.data, slice.data + slice.size);
    merged = AppendFilledCachedBlock(req, i, cb) || merged;
  }
  req.shared_block_num = filled;
  return merged;
}

// PrefixCacheManager::AppendFilledCachedBlock: link a computed block under its parent, or merge into its twin.
bool PrefixCacheManager::AppendFilledCachedBlock(PrefixCachedRequest& req, size_t block_index,
                                                 PrefixCachedBlock* cached_block) {
  PrefixCachedBlock* parent = ParentOf(req, block_index);
  PrefixCachedBlock* twin = parent->children.Find(Tokens(cached_block));
  if (twin != nullptr) {
    MergeFilledCachedBlocks(req, block_index, twin, cached_block);
    return true;
  }
  cached_block->is_shareable = true;
  cached_block->active_requests.Set(req.req_id, block_index);
  cached_block->parent = parent;
  parent->children.Set(Tokens(cached_block), cached_block);
  AppendCachedBlockToTimedList(cached_block);
  SetReusable(cached_block, false);
  return false;
}

// PrefixCacheManager::MergeFilledCachedBlocks: the request switches to the tree's block, its copy is freed.
void PrefixCacheManager::MergeFilledCachedBlocks(PrefixCachedRequest& req, size_t block_index, PrefixCachedBlock* dst,
                                                 PrefixCachedBlock* src) {
  if (fix_upstream_bugs_ && dst->Unreferenced()) SetReusable(dst, false);
  dst->active_requests.Set(req.req_id, block_index);
  UpdateEvictable(dst);
  req.cached_blocks.at(block_index) = dst;
  req.req_block_ids.at(block_index) = dst->memory_block_id;
  ResetCachedBlock(src);
  free_cached_blocks_.push_back(src);
}

// ------------------------------------------------------------------ eviction and release

// PrefixCacheManager::FreeCachedBlocks (public face): evict without reserving anything.
int64_t PrefixCacheManager::FreeCachedBlocks(int64_t block_num) {
  if (block_num < 0) throw CoreError("free_cached_blocks: block_num " + std::to_string(block_num) + " is negative");
  if (block_num == 0) {
    // Upstream tests the count only after looking at a block, so asking for none still evicts the
    // newest timed block (with its subtree) when nobody references it.
    if (timed_cached_blocks_.empty() || !timed_cached_blocks_.rbegin()->second->Unreferenced()) return 0;
    block_num = 1;  // the newest evictable block is that one; the walk stops right after it
  }
  return static_cast<int64_t>(FreeCachedBlocks(static_cast<size_t>(block_num), ReservedBlocks(kNoBlocks)));
}

// A walk looks at a few candidates, and marking every reserved block instead would write to each of
// them (a request holds dozens, scattered in memory): short lists are scanned, long ones searched.
bool PrefixCacheManager::ReservedBlocks::Contains(const PrefixCachedBlock* cb) const {
  if (blocks_.size() <= kScanLimit) return std::find(blocks_.begin(), blocks_.end(), cb) != blocks_.end();
  if (sorted_.empty()) {
    sorted_.assign(blocks_.begin(), blocks_.end());
    std::sort(sorted_.begin(), sorted_.end(), std::less<const PrefixCachedBlock*>());
  }
  return std::binary_search(sorted_.begin(), sorted_.end(), cb, std::less<const PrefixCachedBlock*>());
}

// PrefixCacheManager::FreeCachedBlocks: walk the timed list newest first, evicting unreferenced subtrees.
// Upstream steps over referenced blocks; walking the eviction index (the unreferenced timed blocks, in
// the same order) visits the same candidates and frees the same blocks without touching the others.
// Each freed block leaves the index at once, so the walk re-finds its place by key.
size_t PrefixCacheManager::FreeCachedBlocks(size_t block_num, const ReservedBlocks& reserved) {
  size_t freed = 0;
  uint64_t below = std::numeric_limits<uint64_t>::max();
  while (freed < block_num) {
    auto it = evictable_cached_blocks_.lower_bound(below);
    if (it == evictable_cached_blocks_.begin()) break;
    --it;
    below = it->first;
    PrefixCachedBlock* cb = it->second;
    // A block freed as part of an earlier subtree is no longer shareable (nor in the index).
    if (!cb->is_shareable || reserved.Contains(cb)) continue;
    DetachFromParent(cb);
    freed += FreeCachedBlockRecursively(cb, 0);
  }
  return freed;
}

// Dry run of FreeCachedBlocks (used only with fix_upstream_bugs): how many blocks it could evict.
size_t PrefixCacheManager::CountEvictableBlocks(const ReservedBlocks& reserved) const {
  BlockSet seen;
  size_t count = 0;
  for (auto it = evictable_cached_blocks_.rbegin(); it != evictable_cached_blocks_.rend(); ++it) {
    const PrefixCachedBlock* cb = it->second;
    if (seen.count(cb) || reserved.Contains(cb)) continue;
    std::vector<const PrefixCachedBlock*> stack{cb};
    while (!stack.empty()) {
      const PrefixCachedBlock* node = stack.back();
      stack.pop_back();
      if (!seen.insert(node).second) continue;
      ++count;
      for (const auto& child : node->children) stack.push_back(child.block);
    }
  }
  return count;
}

// PrefixCacheManager::FreeCachedBlockRecursively: children first (in token order), then the block itself.
// Iterative post-order so a deep chain cannot overflow the C++ stack. Returns the blocks freed.
size_t PrefixCacheManager::FreeCachedBlockRecursively(PrefixCachedBlock* cached_block, size_t depth) {
  std::vector<std::pair<PrefixCachedBlock*, size_t>> stack;  // (block, index of its next child)
  stack.emplace_back(cached_block, 0);
  size_t freed = 0;
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->children.size()) {
      PrefixCachedBlock* child = node->children[next++].block;
      // A cycle (only reachable through upstream-bug states) would otherwise loop forever.
      if (stack.size() + depth > block_pool_.size()) throw std::runtime_error("free_cached_blocks: tree has a cycle");
      stack.emplace_back(child, 0);
      continue;
    }
    PrefixCachedBlock* done = node;
    stack.pop_back();
    SetReusable(done, false);
    // Upstream drops freed blocks from the timed list after its walk; the survivors' order is the same.
    RemoveCachedBlockFromTimedList(done);
    ResetCachedBlock(done);
    free_cached_blocks_.push_back(done);
    ++freed;
  }
  return freed;
}

// A swapped-out block's descendants leave the tree with it. Upstream frees them all
// (FreeCachedBlockRecursively), even a block another swapped request still holds; with
// fix_upstream_bugs such a block is only detached, and rejoins the tree when its holder swaps back in.
// Iterative pre-order so the free queue fills in the reference's order without deep recursion.
// Returns the blocks freed.
size_t PrefixCacheManager::DropSubtree(PrefixCachedBlock* cached_block) {
  std::vector<PrefixCachedBlock*> stack{cached_block};
  size_t freed = 0;
  while (!stack.empty()) {
    PrefixCachedBlock* cb = stack.back();
    stack.pop_back();
    if (!fix_upstream_bugs_ || cb->inactive_requests.empty()) {
      freed += FreeCachedBlockRecursively(cb, stack.size());
      continue;
    }
    cb->parent = nullptr;
    RemoveCachedBlockFromTimedList(cb);
    for (auto it = cb->children.rbegin(); it != cb->children.rend(); ++it) stack.push_back(it->block);
    cb->children.clear();
    if (stack.size() > block_pool_.size()) throw std::runtime_error("swapout_request_async: tree has a cycle");
  }
  return freed;
}

// PrefixCacheManager::DestroyFinishedRequest: drop references; unfilled blocks return to the free queue.
void PrefixCacheManager::DestroyFinishedRequest(int64_t req_id) {
  PrefixCachedRequest& req = GetRequest(req_id, "destroy_finished_request");
  if (req.req_state == RequestState::kSwapped || req.swap_phase != SwapPhase::kNone) {
    throw CoreError("destroy_finished_request: " + Req(req_id) + " is " + Phase(req) + "; use destroy_swapped_request");
  }
  if (req.req_state != RequestState::kWaiting) {
    for (PrefixCachedBlock* cb : req.cached_blocks) {
      if (!cb->is_shareable) {
        ResetCachedBlock(cb);
        free_cached_blocks_.push_back(cb);
        continue;
      }
      cb->active_requests.Erase(req_id);
      if (cb->Unreferenced()) SetReusable(cb, true);
      UpdateEvictable(cb);
    }
  }
  cached_requests_.erase(req_id);
}

// ------------------------------------------------------------------ swap out

// PrefixCacheManager::SwapoutRequestAsync: detach the device blocks only this request uses, start their copy.
std::pair<int64_t, int64_t> PrefixCacheManager::SwapoutRequestAsync(int64_t req_id) {
  PrefixCachedRequest& req = GetRequest(req_id, "swapout_request_async");
  if (req.req_state != RequestState::kRunning || req.swap_phase != SwapPhase::kNone) {
    throw CoreError("swapout_request_async: " + Req(req_id) + " is " + Phase(req) + ", not running");
  }
  if (!swapin_tasks_.empty()) {
    throw CoreError("swapout_request_async: " + Req(req_id) + ": swap-in of " + Req(swapin_tasks_.front().req_id) +
                    " is still in progress");
  }
  std::vector<PrefixCachedBlock*> moving;  // newest block first, as upstream walks them
  for (auto it = req.cached_blocks.rbegin(); it != req.cached_blocks.rend(); ++it) {
    if ((*it)->is_device_location && (*it)->active_requests.size() <= 1) moving.push_back(*it);
  }
  if (host_free_block_ids_.size() < moving.size()) {
    throw CoreError("swapout_request_async: " + Req(req_id) + ": needs " + std::to_string(moving.size()) +
                    " host blocks, " + std::to_string(host_free_block_ids_.size()) + " free");
  }
  UpdateCachedRequestState(req, RequestState::kSwapped);
  size_t freed = 0;
  for (PrefixCachedBlock* cb : moving) {
    if (!cb->is_shareable) continue;
    // The block leaves the tree; whatever hung below it is evicted (its KV would be orphaned).
    DetachFromParent(cb);
    cb->parent = nullptr;
    std::vector<PrefixCachedBlock*> children;
    for (const auto& child : cb->children) children.push_back(child.block);
    cb->children.clear();
    for (PrefixCachedBlock* child : children) freed += DropSubtree(child);
    RemoveCachedBlockFromTimedList(cb);
  }
  std::vector<PrefixCachedBlock*> host;
  for (size_t i = 0; i < moving.size(); ++i) {
    int host_id = host_free_block_ids_.front();
    host_free_block_ids_.pop_front();
    host.push_back(CreateCachedBlock(host_id, false));
  }
  const int64_t swapped = static_cast<int64_t>(moving.size());
  swapout_tasks_.push_back(SwapoutTask{req_id, std::move(moving), std::move(host)});
  req.swap_phase = SwapPhase::kSwappingOut;
  return {swapped, static_cast<int64_t>(freed)};
}

// PrefixCacheManager::MergeSwapoutRequest: the copy is done; device memory returns to the free queue.
void PrefixCacheManager::MergeSwapoutRequest(int64_t req_id) {
  auto it = std::find_if(swapout_tasks_.begin(), swapout_tasks_.end(),
                         [&](const SwapoutTask& t) { return t.req_id == req_id; });
  if (it == swapout_tasks_.end()) {
    throw CoreError("merge_swapout_request: " + Req(req_id) + " has no swap-out in progress");
  }
  SwapoutTask task = std::move(*it);
  swapout_tasks_.erase(it);
  // SwapoutCachedBlock: the block object keeps its identity and takes the host memory.
  for (size_t i = 0; i < task.device_blocks.size(); ++i) {
    PrefixCachedBlock* dev_cb = task.device_blocks[i];
    PrefixCachedBlock* host_cb = task.host_blocks[i];
    std::swap(dev_cb->memory_block_id, host_cb->memory_block_id);
    dev_cb->is_device_location = false;
    host_cb->is_device_location = true;
    free_cached_blocks_.push_back(host_cb);
  }
  cached_requests_.at(req_id).swap_phase = SwapPhase::kNone;
}

// ------------------------------------------------------------------ swap in

// PrefixCacheManager::SwapinRequestAsync: reserve device blocks for the host blocks plus the next token.
int64_t PrefixCacheManager::SwapinRequestAsync(int64_t req_id) {
  PrefixCachedRequest& req = GetRequest(req_id, "swapin_request_async");
  if (req.req_state != RequestState::kSwapped || req.swap_phase != SwapPhase::kNone) {
    throw CoreError("swapin_request_async: " + Req(req_id) + " is " + Phase(req) + ", not swapped");
  }
  if (!swapout_tasks_.empty()) {
    throw CoreError("swapin_request_async: " + Req(req_id) + ": swap-out of " + Req(swapout_tasks_.front().req_id) +
                    " is still in progress");
  }
  std::vector<PrefixCachedBlock*> host_blocks;
  for (PrefixCachedBlock* cb : req.cached_blocks) {
    if (!cb->is_device_location) host_blocks.push_back(cb);
  }
  const size_t step = GetRequestStepBlockNumberForOneNextToken(req);
  const size_t need = host_blocks.size() + step;
  const size_t free_now = free_cached_blocks_.size();
  auto out_of_blocks = [&]() {
    return CoreError("swapin_request_async: " + Req(req_id) + ": out of device blocks (needs " +
                     std::to_string(need) + ")");
  };
  if (need > free_now) {
    const size_t shortage = need - free_now;
    const ReservedBlocks nothing_reserved(kNoBlocks);
    if (fix_upstream_bugs_ && CountEvictableBlocks(nothing_reserved) < shortage) throw out_of_blocks();
    if (FreeCachedBlocks(shortage, nothing_reserved) < shortage) throw out_of_blocks();
  }
  std::vector<int> device_ids;
  for (size_t i = 0; i < host_blocks.size(); ++i) {
    device_ids.push_back(free_cached_blocks_.front()->memory_block_id);
    free_cached_blocks_.pop_front();
  }
  for (size_t i = 0; i < step; ++i) {
    PrefixCachedBlock* cb = free_cached_blocks_.front();
    free_cached_blocks_.pop_front();
    req.req_block_ids.push_back(cb->memory_block_id);
    req.cached_blocks.push_back(cb);
  }
  swapin_tasks_.push_back(SwapinTask{req_id, std::move(host_blocks), std::move(device_ids)});
  req.swap_phase = SwapPhase::kSwappingIn;
  return static_cast<int64_t>(need);
}

// PrefixCacheManager::MergeSwapinRequest: the copy is done; blocks rejoin the tree, merging into twins.
const std::vector<int>& PrefixCacheManager::MergeSwapinRequest(int64_t req_id) {
  auto it = std::find_if(swapin_tasks_.begin(), swapin_tasks_.end(),
                         [&](const SwapinTask& t) { return t.req_id == req_id; });
  if (it == swapin_tasks_.end()) {
    throw CoreError("merge_swapin_request: " + Req(req_id) + " has no swap-in in progress");
  }
  SwapinTask task = std::move(*it);
  swapin_tasks_.erase(it);
  PrefixCachedRequest& req = cached_requests_.at(req_id);
  for (size_t i = 0; i < task.host_blocks.size(); ++i) {  // SwapinCachedBlock
    PrefixCachedBlock* host_cb = task.host_blocks[i];
    if (host_cb->is_device_location) {
      // Another request's swap-in already brought this shared block back; upstream drops the spare
      // device block here without returning it.
      if (fix_upstream_bugs_) {
        free_cached_blocks_.push_back(CreateCachedBlock(task.device_block_ids[i], true));
      } else {
        ++leaked_blocks_;
      }
      continue;
    }
    host_free_block_ids_.push_back(host_cb->memory_block_id);
    host_cb->memory_block_id = task.device_block_ids[i];
    host_cb->is_device_location = true;
  }
  // Index loop: a merge may replace entries of this very request's block list as we go.
  for (size_t i = 0; i < req.cached_blocks.size(); ++i) {
    PrefixCachedBlock* cb = req.cached_blocks[i];
    if (cb->parent == nullptr && cb->is_shareable) {
      AppendSwapinCachedBlock(req, i, cb);
    } else {
      req.req_block_ids.at(i) = cb->memory_block_id;
    }
  }
  req.swap_phase = SwapPhase::kNone;
  UpdateCachedRequestState(req, RequestState::kRunning);
  return req.req_block_ids;
}

// PrefixCacheManager::AppendSwapinCachedBlock: relink a swapped-in block, or merge it into a twin now in the tree.
void PrefixCacheManager::AppendSwapinCachedBlock(PrefixCachedRequest& req, size_t block_index,
                                                 PrefixCachedBlock* cached_block) {
  PrefixCachedBlock* parent = ParentOf(req, block_index);
  PrefixCachedBlock* twin = parent->children.Find(Tokens(cached_block));
  if (twin != nullptr) {
    MergeSwapinCachedBlocks(req, block_index, twin, cached_block);
    return;
  }
  cached_block->parent = parent;
  parent->children.Set(Tokens(cached_block), cached_block);
  req.req_block_ids.at(block_index) = cached_block->memory_block_id;
  AppendCachedBlockToTimedList(cached_block);
}

// PrefixCacheManager::MergeSwapinCachedBlocks: every swapped request holding src now holds dst.
void PrefixCacheManager::MergeSwapinCachedBlocks(PrefixCachedRequest& req, size_t block_index, PrefixCachedBlock* dst,
                                                 PrefixCachedBlock* src) {
  if (fix_upstream_bugs_ && dst->Unreferenced()) SetReusable(dst, false);
  const RequestRefs holders = src->inactive_requests;  // copy: dst may be src
  for (const auto& [other_id, index] : holders) {
    dst->inactive_requests.Set(other_id, index);
    cached_requests_.at(other_id).cached_blocks.at(index) = dst;
  }
  UpdateEvictable(dst);
  req.req_block_ids.at(block_index) = dst->memory_block_id;
  ResetCachedBlock(src);
  free_cached_blocks_.push_back(src);
}

// PrefixCacheManager::DestroySwappedRequest: free its own host blocks; shared ones just lose a reference.
void PrefixCacheManager::DestroySwappedRequest(int64_t req_id) {
  PrefixCachedRequest& req = GetRequest(req_id, "destroy_swapped_request");
  if (req.req_state != RequestState::kSwapped || req.swap_phase != SwapPhase::kNone) {
    throw CoreError("destroy_swapped_request: " + Req(req_id) + " is " + Phase(req) + ", not swapped");
  }
  for (PrefixCachedBlock* cb : req.cached_blocks) {
    if (!cb->is_device_location) {
      if (cb->active_requests.empty() && cb->inactive_requests.size() <= 1) {
        host_free_block_ids_.push_back(cb->memory_block_id);
        cb->inactive_requests.clear();
        cb->memory_block_id = -1;
        UpdateEvictable(cb);
        continue;
      }
      cb->inactive_requests.Erase(req_id);
      UpdateEvictable(cb);
      continue;
    }
    const bool last_holder = cb->active_requests.empty() && cb->inactive_requests.size() == 1;
    if (last_holder && cb->parent == nullptr && cb->is_shareable) {  // detached by DropSubtree
      ResetCachedBlock(cb);
      free_cached_blocks_.push_back(cb);
      continue;
    }
    if (last_holder) SetReusable(cb, true);
    cb->inactive_requests.Erase(req_id);
    UpdateEvictable(cb);
  }
  cached_requests_.erase(req_id);
}

// ------------------------------------------------------------------ helpers

PrefixCachedRequest& PrefixCacheManager::GetRequest(int64_t req_id, const char* op) {
  auto it = cached_requests_.find(req_id);
  if (it == cached_requests_.end()) throw CoreError(std::string(op) + ": " + Req(req_id) + " does not exist");
  return it->second;
}

const PrefixCachedRequest& PrefixCacheManager::GetRequest(int64_t req_id, const char* op) const {
  return const_cast<PrefixCacheManager*>(this)->GetRequest(req_id, op);
}

// The request's phase as error messages name it ("swapping out", or its state).
std::string PrefixCacheManager::Phase(const PrefixCachedRequest& req) {
  switch (req.swap_phase) {
    case SwapPhase::kSwappingOut: return "swapping out";
    case SwapPhase::kSwappingIn: return "swapping in";
    case SwapPhase::kNone: break;
  }
  switch (req.req_state) {
    case RequestState::kWaiting: return "waiting";
    case RequestState::kRunning: return "running";
    case RequestState::kSwapped: return "swapped";
  }
  return "unknown";
}

// The tokens of block `index`, clipped to what `tokens` holds (Python slice semantics).
TokenSpan PrefixCacheManager::TokenSlice(const std::vector<int>& tokens, size_t index) const {
  const size_t bs = static_cast<size_t>(block_size_);
  const size_t begin = std::min(tokens.size(), index * bs);
  const size_t end = std::min(tokens.size(), begin + bs);
  return {tokens.data() + begin, end - begin};
}

// GetRequestStepBlockNumberForOneNextToken: one more block when the last one is full.
size_t PrefixCacheManager::GetRequestStepBlockNumberForOneNextToken(const PrefixCachedRequest& req) const {
  return !req.cached_blocks.empty() && req.cached_blocks.back()->is_shareable ? 1 : 0;
}

PrefixCachedBlock* PrefixCacheManager::ParentOf(const PrefixCachedRequest& req, size_t block_index) const {
  return block_index == 0 ? root_cached_block_ : req.cached_blocks.at(block_index - 1);
}

// Unlink a block from its parent's children (by its token key, as upstream does).
void PrefixCacheManager::DetachFromParent(PrefixCachedBlock* cached_block) {
  if (cached_block->parent == nullptr) throw std::runtime_error("prefix cache: tree block has no parent");
  cached_block->parent->children.Erase(Tokens(cached_block));
}

// PrefixCacheManager::UpdateCachedRequestState: move the request between active and inactive on its shared blocks.
void PrefixCacheManager::UpdateCachedRequestState(PrefixCachedRequest& req, RequestState state) {
  const bool to_swapped = state == RequestState::kSwapped;
  const RequestState from = to_swapped ? RequestState::kRunning : RequestState::kSwapped;
  if (req.req_state != from) return;
  req.req_state = state;
  for (PrefixCachedBlock* cb : req.cached_blocks) {
    if (!cb->is_shareable) continue;
    auto& src = to_swapped ? cb->active_requests : cb->inactive_requests;
    auto& dst = to_swapped ? cb->inactive_requests : cb->active_requests;
    const size_t* held = src.Find(req.req_id);
    const size_t index = held ? *held : 0;
    src.Erase(req.req_id);
    dst.Set(req.req_id, index);
    UpdateEvictable(cb);
  }
}

// PrefixCacheManager::ResetCachedBlock: forget content, links and references; keep the memory.
void PrefixCacheManager::ResetCachedBlock(PrefixCachedBlock* cached_block) {
  cached_block->is_shareable = false;
  cached_block->is_device_location = true;
  cached_block->token_ids.clear();
  cached_block->active_requests.clear();
  cached_block->inactive_requests.clear();
  cached_block->parent = nullptr;
  cached_block->children.clear();
  UpdateEvictable(cached_block);
}

// Add to or take out of KsanaLLM's reusable set (a flag and a count here).
void PrefixCacheManager::SetReusable(PrefixCachedBlock* cached_block, bool reusable) {
  if (cached_block->is_reusable == reusable) return;
  cached_block->is_reusable = reusable;
  if (reusable) {
    ++reusable_block_num_;
  } else {
    --reusable_block_num_;
  }
}

// Keep the eviction index in step after a block's references changed: it holds exactly the timed
// blocks that no request references.
void PrefixCacheManager::UpdateEvictable(PrefixCachedBlock* cached_block) {
  const bool evictable = cached_block->timed_seq != 0 && cached_block->Unreferenced();
  if (evictable == cached_block->is_evictable) return;
  cached_block->is_evictable = evictable;
  if (evictable) {
    cached_block->evictable_pos = evictable_cached_blocks_.Insert(cached_block->timed_seq, cached_block, false);
  } else {
    evictable_cached_blocks_.Erase(cached_block->evictable_pos);
  }
}

// PrefixCacheManager::AppendCachedBlockToTimedList: (re)insert at the newest end.
void PrefixCacheManager::AppendCachedBlockToTimedList(PrefixCachedBlock* cached_block) {
  RemoveCachedBlockFromTimedList(cached_block);
  cached_block->timed_seq = next_timed_seq_++;
  cached_block->timed_pos = timed_cached_blocks_.Insert(cached_block->timed_seq, cached_block, true);
  UpdateEvictable(cached_block);
}

// PrefixCacheManager::RemoveCachedBlockFromTimedList (a block not in the list is fine).
void PrefixCacheManager::RemoveCachedBlockFromTimedList(PrefixCachedBlock* cached_block) {
  if (cached_block->timed_seq == 0) return;
  if (cached_block->is_evictable) {
    evictable_cached_blocks_.Erase(cached_block->evictable_pos);
    cached_block->is_evictable = false;
  }
  timed_cached_blocks_.Erase(cached_block->timed_pos);
  cached_block->timed_seq = 0;
}

// ------------------------------------------------------------------ inspection

CacheSnapshot PrefixCacheManager::Snapshot() const {
  CacheSnapshot s;
  s.block_size = block_size_;
  // Pre-order, children in token order (the reference's sorted stack walk).
  std::vector<const PrefixCachedBlock*> stack;
  for (auto it = root_cached_block_->children.rbegin(); it != root_cached_block_->children.rend(); ++it) {
    stack.push_back(it->block);
  }
  while (!stack.empty()) {
    const PrefixCachedBlock* cb = stack.back();
    stack.pop_back();
    if (s.nodes.size() > block_pool_.size()) throw std::runtime_error("snapshot: tree has a cycle");
    CacheSnapshot::Node node{cb->memory_block_id, cb->token_ids, std::nullopt, {}, {}, {},
                             cb->is_shareable, cb->is_device_location};
    if (cb->parent != nullptr && !cb->parent->is_root) node.parent = cb->parent->memory_block_id;
    for (const auto& child : cb->children) node.children.push_back(child.block->memory_block_id);
    for (const auto& kv : cb->active_requests) node.active_requests.push_back(kv.first);
    for (const auto& kv : cb->inactive_requests) node.inactive_requests.push_back(kv.first);
    s.nodes.push_back(std::move(node));
    for (auto it = cb->children.rbegin(); it != cb->children.rend(); ++it) stack.push_back(it->block);
  }
  for (const auto& kv : timed_cached_blocks_) s.timed.push_back(kv.second->memory_block_id);
  for (const auto& cb : block_pool_) {
    if (cb->is_reusable) s.reusable.push_back(cb->memory_block_id);
  }
  std::sort(s.reusable.begin(), s.reusable.end());
  for (const PrefixCachedBlock* cb : free_cached_blocks_) s.free.push_back(cb->memory_block_id);
  s.host_free.assign(host_free_block_ids_.begin(), host_free_block_ids_.end());
  for (const auto& [rid, req] : cached_requests_) {
    CacheSnapshot::Request r;
    switch (req.swap_phase) {
      case SwapPhase::kSwappingOut: r.state = "swapping_out"; break;
      case SwapPhase::kSwappingIn: r.state = "swapping_in"; break;
      case SwapPhase::kNone: r.state = Phase(req); break;
    }
    r.shared_block_num = req.shared_block_num;
    for (const PrefixCachedBlock* cb : req.cached_blocks) {
      r.blocks.push_back({cb->memory_block_id, cb->is_device_location, cb->is_shareable});
    }
    r.block_ids = req.req_block_ids;
    s.requests.emplace_back(rid, std::move(r));
  }
  std::sort(s.requests.begin(), s.requests.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });  // the hash map has no order
  s.usable = GetUsableBlockNumber();
  s.future_free = GetFutureFreeBlockNumber();
  s.leaked = leaked_blocks_;
  return s;
}

// ------------------------------------------------------------------ invariants (ref_invariants.py)

namespace {
[[noreturn]] void FailInvariant(const std::string& name, const std::string& detail) {
  throw CoreError("invariant '" + name + "' broken: " + detail);
}
std::string Id(const PrefixCachedBlock* cb) { return std::to_string(cb->memory_block_id); }
}  // namespace

// Every block reachable from the root, checking keys, fill state and parent links on the way.
std::vector<const PrefixCachedBlock*> PrefixCacheManager::CollectTreeNodes() const {
  std::vector<const PrefixCachedBlock*> nodes;
  std::vector<std::pair<const std::vector<int>*, const PrefixCachedBlock*>> stack;
  for (const auto& child : root_cached_block_->children) stack.emplace_back(&child.key, child.block);
  while (!stack.empty()) {
    auto [key, cb] = stack.back();
    stack.pop_back();
    if (cb->token_ids != *key) FailInvariant("child-key", "block " + Id(cb) + " is filed under other tokens");
    if (!(cb->is_shareable && cb->is_device_location)) {
      FailInvariant("tree-blocks-filled", "block " + Id(cb) + " in the tree is not a filled device block");
    }
    for (const auto& child : cb->children) {
      if (child.block->parent != cb) {
        FailInvariant("parent-link", "block " + Id(child.block) + " does not point back to its parent");
      }
    }
    nodes.push_back(cb);
    if (nodes.size() > block_pool_.size()) FailInvariant("tree-acyclic", "the tree has a cycle");
    for (const auto& child : cb->children) stack.emplace_back(&child.key, child.block);
  }
  return nodes;
}

// Raise CoreError naming the first broken invariant (same list and names as ref_invariants.py).
void PrefixCacheManager::CheckInvariants() const {
  const std::vector<const PrefixCachedBlock*> nodes = CollectTreeNodes();
  const BlockSet in_tree(nodes.begin(), nodes.end());
  for (const auto& child : root_cached_block_->children) {
    if (child.block->parent != root_cached_block_) {
      FailInvariant("parent-link", "top block " + Id(child.block) + " does not point to the root");
    }
  }
  BlockSet timed;
  for (const auto& kv : timed_cached_blocks_) timed.insert(kv.second);
  if (timed != in_tree) FailInvariant("timed-list", "the timed list and the tree hold different blocks");
  CheckEvictionIndex();
  BlockSet truly_reusable;
  for (const PrefixCachedBlock* cb : nodes) {
    if (cb->Unreferenced()) truly_reusable.insert(cb);
  }
  BlockSet listed;
  for (const auto& cb : block_pool_) {
    if (cb->is_reusable) listed.insert(cb.get());
  }
  const auto subset = [](const BlockSet& a, const BlockSet& b) {
    return std::all_of(a.begin(), a.end(), [&](const PrefixCachedBlock* cb) { return b.count(cb) != 0; });
  };
  if (!subset(truly_reusable, listed) || !subset(listed, in_tree)) {
    FailInvariant("reusable-set", "an unreferenced tree block is not reusable, or a reusable block left the tree");
  }
  if (fix_upstream_bugs_ && listed != truly_reusable) {
    FailInvariant("reusable-set", "a reusable block is referenced by a request");
  }
  for (const PrefixCachedBlock* cb : free_cached_blocks_) {
    if (in_tree.count(cb) || cb->is_shareable || !cb->Unreferenced()) {
      FailInvariant("free-blocks-clean", "free block " + Id(cb) + " still carries content or references");
    }
  }
  CheckRequests(in_tree);
  CheckConservation(nodes);
}

// The C++-only shortcuts agree with what they stand for: the eviction index is the timed list's
// unreferenced blocks in timed order, the reusable count is the number of flagged blocks. (Named
// after the reference invariants they would break.)
void PrefixCacheManager::CheckEvictionIndex() const {
  std::vector<const PrefixCachedBlock*> expected;
  for (const auto& kv : timed_cached_blocks_) {
    if (kv.first != kv.second->timed_seq) FailInvariant("timed-list", "block " + Id(kv.second) + " has a stale key");
    if (kv.second->Unreferenced()) expected.push_back(kv.second);
  }
  std::vector<const PrefixCachedBlock*> indexed;
  for (const auto& kv : evictable_cached_blocks_) indexed.push_back(kv.second);
  if (indexed != expected) FailInvariant("timed-list", "the eviction index is out of step with the timed list");
  size_t flagged = 0;
  for (const auto& cb : block_pool_) flagged += cb->is_reusable ? 1 : 0;
  if (flagged != reusable_block_num_) FailInvariant("reusable-set", "the reusable count is out of step");
}

// Each request's shared blocks record its reference; a running request's block table matches its blocks.
void PrefixCacheManager::CheckRequests(const BlockSet& in_tree) const {
  const BlockSet free(free_cached_blocks_.begin(), free_cached_blocks_.end());
  // Visit requests in creation order, as the reference's dict does, so the same invariant is named first.
  std::vector<const PrefixCachedRequest*> order;
  for (const auto& kv : cached_requests_) order.push_back(&kv.second);
  std::sort(order.begin(), order.end(),
            [](const PrefixCachedRequest* a, const PrefixCachedRequest* b) { return a->created_seq < b->created_seq; });
  for (const PrefixCachedRequest* r : order) {
    const PrefixCachedRequest& req = *r;
    const std::string who = "req " + std::to_string(req.req_id);
    for (size_t i = 0; i < req.cached_blocks.size(); ++i) {
      const PrefixCachedBlock* cb = req.cached_blocks[i];
      // A lookup takes no references: its matches may be evicted (allocation then refuses).
      if (req.req_state == RequestState::kWaiting && req.req_block_ids.empty()) continue;
      if (free.count(cb)) {
        FailInvariant("held-block-not-free",
                      who + " block " + std::to_string(i) + " (" + Id(cb) + ") is in the free queue");
      }
      const auto& refs = req.req_state == RequestState::kRunning ? cb->active_requests : cb->inactive_requests;
      const size_t* ref = refs.Find(req.req_id);
      if (cb->is_shareable && (ref == nullptr || *ref != i)) {
        FailInvariant("request-refs", who + " block " + std::to_string(i) + " does not record the request's reference");
      }
      if (cb->is_shareable && cb->is_device_location && cb->parent != nullptr && !in_tree.count(cb)) {
        FailInvariant("request-refs", who + " block " + std::to_string(i) + " hangs off a detached parent");
      }
    }
    if (!req.req_block_ids.empty() && req.swap_phase == SwapPhase::kNone && req.req_state == RequestState::kRunning) {
      std::vector<int> held;
      for (const PrefixCachedBlock* cb : req.cached_blocks) held.push_back(cb->memory_block_id);
      if (held != req.req_block_ids) FailInvariant("block-table", who + " block table differs from its blocks");
    }
  }
}

// Every device block id is in exactly one place; so is every host block id.
void PrefixCacheManager::CheckConservation(const std::vector<const PrefixCachedBlock*>& nodes) const {
  std::vector<int> device;
  std::vector<int> host(host_free_block_ids_.begin(), host_free_block_ids_.end());
  BlockSet seen(nodes.begin(), nodes.end());
  for (const PrefixCachedBlock* cb : free_cached_blocks_) {
    device.push_back(cb->memory_block_id);
    seen.insert(cb);
  }
  for (const PrefixCachedBlock* cb : nodes) device.push_back(cb->memory_block_id);
  for (const auto& kv : cached_requests_) {
    for (const PrefixCachedBlock* cb : kv.second.cached_blocks) {
      if (!seen.insert(cb).second) continue;
      (cb->is_device_location ? device : host).push_back(cb->memory_block_id);
    }
  }
  for (const auto& task : swapout_tasks_) {
    for (const PrefixCachedBlock* cb : task.host_blocks) host.push_back(cb->memory_block_id);  // copy pending
  }
  for (const auto& task : swapin_tasks_) device.insert(device.end(), task.device_block_ids.begin(), task.device_block_ids.end());
  const auto distinct = [](std::vector<int> ids) {
    std::sort(ids.begin(), ids.end());
    return static_cast<size_t>(std::unique(ids.begin(), ids.end()) - ids.begin());
  };
  const size_t device_distinct = distinct(device);
  if (device_distinct != device.size() ||
      static_cast<int64_t>(device.size()) + leaked_blocks_ != device_blocks_) {
    FailInvariant("device-conservation", std::to_string(device.size()) + " device blocks accounted for, " +
                                             std::to_string(device_distinct) + " distinct, " +
                                             std::to_string(leaked_blocks_) + " leaked, of " +
                                             std::to_string(device_blocks_));
  }
  const size_t host_distinct = distinct(host);
  if (host_distinct != host.size() || static_cast<int64_t>(host.size()) != host_blocks_) {
    FailInvariant("host-conservation", std::to_string(host.size()) + " host blocks accounted for (" +
                                           std::to_string(host_distinct) + " distinct) of " +
                                           std::to_string(host_blocks_));
  }
}

}  // namespace ksana_llm
