// codewalk: a pybind11 binding of KsanaLLM's real PrefixCacheManager.
//
// Compiled by `codewalk upstream build` together with the user's unmodified
// src/ksana_llm/cache_manager/prefix_cache_manager.cpp and utils/status.cpp. It exposes the Python
// API of codewalk.core.PrefixCacheManager (same names, results, CoreError on refusal, snapshot()
// and check_invariants() over the real structures).
//
// How the manager is driven (see docs/ARCHITECTURE.md, "upstream"):
// * built as KsanaLLM's prefix_cache_manager_test.cpp does: FakedBlockAllocator for device and host
//   memory (here one device), then InitializeCachedBlocks();
// * each request keeps its own req_block_ids (InferRequest::kv_cache_blocks), passed to the real
//   calls as continuous_batching.cpp does, also around swap-in;
// * swap copies run on the manager's real thread pool (one worker). Before each swap the binding
//   queues a gate task in front of it, so the copy runs when the swap is merged, in start order:
//   the same "copy completes at merge" timing as codewalk's core. merge_* opens the gate, waits with
//   the real Wait*Requests (as the scheduler's MergePending* does), then calls the real Merge*;
// * arguments and call orders the real code would crash on or corrupt memory with are refused
//   with CoreError first, at the same places codewalk's core refuses them;
// * KsanaLLM deletes block objects in two places (a swap-in's copy target, a swapped request's own
//   host blocks). A request that only looked up may still point at such a block: the binding
//   remembers what that pointer showed, and never lets the real code dereference it.
#include <algorithm>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "codewalk/binding_common.h"

using namespace ksana_llm;

namespace {

// ----------------------------------------------------------------------------- one device
// Records which device blocks the real SwapinCachedBlock copied into (on the swap worker).
class CopyRecordingGroup : public OneDeviceGroup {
 public:
  using OneDeviceGroup::OneDeviceGroup;
  // The real SwapinCachedBlock calls this once per block it actually copies (on the swap worker).
  Status SwapIn(int, int device_block_id, int) override {
    std::lock_guard<std::mutex> lock(mutex_);
    copied_into_.insert(device_block_id);
    return Status();
  }
  bool take_copied(int device_block_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    return copied_into_.erase(device_block_id) > 0;
  }

 private:
  std::mutex mutex_;
  std::set<int> copied_into_;
};

// What a pointer to a block KsanaLLM has deleted showed when it was deleted.
struct View {
  int block_id;
  bool on_device;
  bool shareable;
  int ghost = 0;  // which deleted object (its address may be reused by a new block)
};

// ----------------------------------------------------------------------------- the engine
class Engine : public PrefixCacheManager {
 public:
  Engine(size_t block_size, size_t device_blocks, size_t host_blocks, std::shared_ptr<CopyRecordingGroup> group)
      : PrefixCacheManager(MakeCacheConfig(block_size), group),
        group_(group),
        bs_(block_size),
        dev_(device_blocks),
        host_(host_blocks) {
    InitializeCachedBlocks();
  }

  ~Engine() override { gates_.open_all(); }

  // ------------------------------------------------------------------- inspection helpers
  PrefixCachedBlock* root() { return this->*get(RootTag()); }
  BlockSet& reusable() { return this->*get(ReusableTag()); }
  BlockList& timed() { return this->*get(TimedTag()); }
  const std::deque<PrefixCachedBlock*>& free_items() { return QueueItems(free_cached_blocks_); }
  const IntList& host_free_ids() { return group_->host_free_ids(); }

  PrefixCachedRequest* find(int64_t req_id) {
    auto it = cached_requests_.find(req_id);
    return it == cached_requests_.end() ? nullptr : it->second.get();
  }
  PrefixCachedRequest* need(int64_t req_id, const char* op) {
    PrefixCachedRequest* r = find(req_id);
    if (r == nullptr) throw CoreErr(Cat(op, ": req ", req_id, " does not exist"));
    return r;
  }
  std::vector<std::vector<int>>& ids(int64_t req_id) {
    auto& v = block_ids_[req_id];
    if (v.empty()) v.resize(1);
    return v;
  }
  bool swapping_out(int64_t r) {
    return swapout_task_queue_.count(r) || swapout_cached_block_buffer_.count(r) ||
           std::find(finish_swapout_request_.begin(), finish_swapout_request_.end(), r) !=
               finish_swapout_request_.end();
  }
  bool swapping_in(int64_t r) {
    return swapin_task_queue_.count(r) || swapin_cached_block_buffer_.count(r) ||
           std::find(finish_swapin_request_.begin(), finish_swapin_request_.end(), r) != finish_swapin_request_.end();
  }
  bool any_swapout() {
    return !swapout_task_queue_.empty() || !swapout_cached_block_buffer_.empty() || !finish_swapout_request_.empty();
  }
  bool any_swapin() {
    return !swapin_task_queue_.empty() || !swapin_cached_block_buffer_.empty() || !finish_swapin_request_.empty();
  }
  static const char* state_name(RequestState s) {
    switch (s) {
      case CODEWALK_RS_WAITING: return "waiting";
      case CODEWALK_RS_RUNNING: return "running";
      case CODEWALK_RS_SWAPPED: return "swapped";
      case CODEWALK_RS_FINISHED: return "finished";
      default: return "transfer";
    }
  }
  std::string phase(PrefixCachedRequest* r) {
    if (swapping_out(r->req_id)) return "swapping_out";
    if (swapping_in(r->req_id)) return "swapping_in";
    return state_name(r->req_state);
  }
  std::string phase_words(PrefixCachedRequest* r) {
    std::string p = phase(r);
    std::replace(p.begin(), p.end(), '_', ' ');
    return p;
  }
  // A request that only looked up: it takes no references, so its matches may be evicted.
  bool lookup_only(PrefixCachedRequest* r) { return r->req_state == CODEWALK_RS_WAITING && ids(r->req_id)[0].empty(); }
  const View* stale(int64_t req_id, size_t i) {
    auto it = stale_.find(req_id);
    if (it == stale_.end()) return nullptr;
    auto jt = it->second.find(i);
    return jt == it->second.end() ? nullptr : &jt->second;
  }
  bool has_stale(int64_t req_id) {
    auto it = stale_.find(req_id);
    return it != stale_.end() && !it->second.empty();
  }
  View view(int64_t req_id, size_t i, PrefixCachedBlock* cb) {
    if (const View* v = stale(req_id, i)) return *v;
    return View{cb->memory_block_ids[0], cb->is_device_location, cb->is_shareable};
  }
  // Pointers that lookup-only requests hold to a block about to be deleted: remember what they show.
  void mark_deleted(PrefixCachedBlock* dying, View v) {
    v.ghost = ++ghosts_;
    for (auto& [rid, req] : cached_requests_) {
      for (size_t i = 0; i < req->cached_blocks.size(); ++i) {
        if (req->cached_blocks[i] == dying && !stale(rid, i)) stale_[rid][i] = v;
      }
    }
  }
  std::unordered_set<PrefixCachedBlock*> held_blocks(int64_t except = -1) {
    std::unordered_set<PrefixCachedBlock*> held;
    for (auto& [rid, req] : cached_requests_) {
      if (rid == except || lookup_only(req.get())) continue;
      held.insert(req->cached_blocks.begin(), req->cached_blocks.end());
    }
    return held;
  }
  std::vector<PrefixCachedBlock*> tree_nodes() {
    std::vector<PrefixCachedBlock*> out;
    std::vector<PrefixCachedBlock*> stack{root()};
    while (!stack.empty()) {
      PrefixCachedBlock* b = stack.back();
      stack.pop_back();
      if (b != root()) out.push_back(b);
      for (auto& kv : b->children) stack.push_back(kv.second);
    }
    return out;
  }

  // ------------------------------------------------------------------- gates and waiting
  // Open the gates of this swap and of every swap started before it (one worker, FIFO), then wait
  // for its copy with the real Wait*Requests, as ContinuousBatchingStrategy::MergePending* does.
  void release_and_wait(bool swapin, int64_t req_id) {
    gates_.open_through(swapin, req_id);
    auto& queue = swapin ? swapin_task_queue_ : swapout_task_queue_;
    auto& finished = swapin ? finish_swapin_request_ : finish_swapout_request_;
    // Swaps whose gates are still closed are set aside, so the blocking wait cannot pick them.
    std::unordered_map<int64_t, std::future<void>> held;
    const std::unordered_set<int64_t> gated = gates_.closed(swapin);
    for (auto it = queue.begin(); it != queue.end();) {
      if (gated.count(it->first)) {
        held.emplace(it->first, std::move(it->second));
        it = queue.erase(it);
      } else {
        ++it;
      }
    }
    py::gil_scoped_release nogil;
    while (std::find(finished.begin(), finished.end(), req_id) == finished.end() && queue.count(req_id)) {
      std::vector<int64_t> done;
      size_t left = 0;
      if (swapin) {
        WaitSwapinRequests(done, left, true);
      } else {
        WaitSwapoutRequests(done, left, true);
      }
    }
    for (auto& kv : held) queue.emplace(kv.first, std::move(kv.second));
  }

  // ------------------------------------------------------------------- the API
  size_t valid_match(PrefixCachedRequest* r, const std::vector<int>& tokens) {
    for (size_t i = 0; i < r->cached_blocks.size(); ++i) {
      if (stale(r->req_id, i)) return i;
      PrefixCachedBlock* cb = r->cached_blocks[i];
      PrefixCachedBlock* prev = i == 0 ? root() : r->cached_blocks[i - 1];
      if (!(cb->parent == prev && cb->is_shareable && cb->is_device_location && tokens.size() >= (i + 1) * bs_ &&
            std::equal(cb->token_ids.begin(), cb->token_ids.begin() + bs_, tokens.begin() + i * bs_))) {
        return i;
      }
    }
    return r->cached_blocks.size();
  }

  py::tuple lookup(int64_t req_id, const std::vector<int>& tokens, std::optional<int64_t> check_opt) {
    const int64_t n = static_cast<int64_t>(tokens.size());
    const int64_t check = check_opt ? *check_opt : n;
    if (check < 0 || check > n) {
      throw CoreErr(Cat("get_request_prefix_block_number: req ", req_id, ": check_token_num ", check,
                        " outside 0..", n));
    }
    PrefixCachedRequest* r = find(req_id);
    if (r != nullptr && (r->req_state != CODEWALK_RS_WAITING || !ids(req_id)[0].empty())) {
      throw CoreErr(Cat("get_request_prefix_block_number: req ", req_id, " is ", phase_words(r), ", not waiting"));
    }
#if !CODEWALK_LOOKUP_HAS_CHECK
    if (check != n) {
      throw CoreErr(Cat("get_request_prefix_block_number: req ", req_id, ": this KsanaLLM's GetRequestPrefixBlockNumber "
                        "has no check_token_num (it checks all ", n, " tokens)"));
    }
#endif
    std::vector<int> padded(tokens);
    if (r != nullptr) {
      // Never let the real validity check dereference a deleted block: it would find it changed,
      // so cut the list there, as the check itself does.
      auto it = stale_.find(req_id);
      if (it != stale_.end() && !it->second.empty()) {
        size_t first = it->second.begin()->first;
        for (auto& kv : it->second) first = std::min(first, kv.first);
        r->cached_blocks.resize(first);
        stale_.erase(it);
      }
      // The real check memcmp()s whole blocks; past the prompt's end it would read beyond the
      // vector. Make the comparison fail there, as ours does.
#if CODEWALK_LOOKUP_HAS_CHECK
      // Pad with values that differ from the block's (check_token_num keeps the padding unread).
      for (size_t p = tokens.size(); p < r->cached_blocks.size() * bs_; ++p) {
        int t = r->cached_blocks[p / bs_]->token_ids[p % bs_];
        padded.push_back(static_cast<int>(static_cast<unsigned>(t) + 1u));
      }
#else
      // Without check_token_num the vector's size is the prompt's: cut the blocks it does not cover.
      if (r->cached_blocks.size() > tokens.size() / bs_) r->cached_blocks.resize(tokens.size() / bs_);
#endif
    }
    size_t shared = 0, unique = 0, shared_tokens = 0;
#if CODEWALK_LOOKUP_HAS_CHECK
    Status s = GetRequestPrefixBlockNumber(req_id, padded, static_cast<size_t>(check), shared, unique, shared_tokens);
#else
    Status s = GetRequestPrefixBlockNumber(req_id, padded, shared, unique, shared_tokens);
#endif
    if (!s.OK()) throw CoreErr(Cat("get_request_prefix_block_number: req ", req_id, ": ", s.GetMessage()));
    ids(req_id);
    matched_[req_id] = std::vector<int>(tokens.begin(), tokens.begin() + std::min(tokens.size(), shared * bs_));
    return py::make_tuple(shared, static_cast<int64_t>(unique), shared_tokens);
  }

  std::vector<int> allocate(int64_t req_id, int64_t block_num) {
    PrefixCachedRequest* r = need(req_id, "allocate_request_blocks");
    if (!(r->req_state == CODEWALK_RS_WAITING || r->req_state == CODEWALK_RS_RUNNING) || swapping_out(req_id) ||
        swapping_in(req_id)) {
      throw CoreErr(Cat("allocate_request_blocks: req ", req_id, " is ", phase_words(r)));
    }
    if (block_num < 0 || block_num > static_cast<int64_t>(dev_)) {
      throw CoreErr(Cat("allocate_request_blocks: req ", req_id, ": block_num ", block_num, " outside 0..", dev_));
    }
    auto& req_ids = ids(req_id);
    if (req_ids[0].empty() && valid_match(r, matched_[req_id]) < r->cached_blocks.size()) {
      throw CoreErr(Cat("allocate_request_blocks: req ", req_id, ": blocks matched by its lookup were evicted since; "
                        "call get_request_prefix_block_number again"));
    }
    Status s = AllocateRequestBlocks(req_id, static_cast<size_t>(block_num), req_ids);
    if (!s.OK()) {
      throw CoreErr(Cat("allocate_request_blocks: req ", req_id, ": out of device blocks (asked ", block_num,
                        ", free ", free_cached_blocks_.size(), "): ", s.GetMessage()));
    }
    return req_ids[0];
  }

  py::tuple update(int64_t req_id, const std::vector<int>& tokens, std::optional<int64_t> shareable_opt) {
    PrefixCachedRequest* r = need(req_id, "update_request_tokens");
    const int64_t n = static_cast<int64_t>(tokens.size());
    const int64_t shareable = shareable_opt ? *shareable_opt : n;
    if (r->req_state != CODEWALK_RS_RUNNING || swapping_out(req_id) || swapping_in(req_id)) {
      throw CoreErr(Cat("update_request_tokens: req ", req_id, " is ", phase_words(r), ", not running"));
    }
    if (shareable < 0 || shareable > n) {
      throw CoreErr(Cat("update_request_tokens: req ", req_id, ": shareable_token_num ", shareable, " outside 0..", n));
    }
    bool merged = false;
    auto& req_ids = ids(req_id);
#if CODEWALK_UPDATE_REPORTS_MERGE
    Status s = UpdateRequestTokens(req_id, tokens, static_cast<size_t>(shareable), req_ids, merged);
#else
    // Before block_merged existed, a merge shows as a block id replaced in the request's table.
    const std::vector<int> before = req_ids[0];
    Status s = UpdateRequestTokens(req_id, tokens, static_cast<size_t>(shareable), req_ids);
    for (size_t i = 0; i < before.size() && i < req_ids[0].size(); ++i) merged = merged || before[i] != req_ids[0][i];
#endif
    if (!s.OK()) throw CoreErr(Cat("update_request_tokens: req ", req_id, ": ", s.GetMessage()));
    return py::make_tuple(req_ids[0], merged);
  }

  size_t free_cached(int64_t block_num) {
    if (block_num < 0) throw CoreErr(Cat("free_cached_blocks: block_num ", block_num, " is negative"));
    size_t freed = 0;
    FreeCachedBlocks(static_cast<size_t>(block_num), freed);
    return freed;
  }

  void forget(int64_t req_id) {
    block_ids_.erase(req_id);
    matched_.erase(req_id);
    stale_.erase(req_id);
  }

  void destroy_finished(int64_t req_id) {
    PrefixCachedRequest* r = need(req_id, "destroy_finished_request");
    if (r->req_state == CODEWALK_RS_SWAPPED || swapping_out(req_id) || swapping_in(req_id)) {
      throw CoreErr(Cat("destroy_finished_request: req ", req_id, " is ", phase_words(r),
                        "; use destroy_swapped_request"));
    }
    DestroyFinishedRequest(req_id);
    forget(req_id);
  }

  py::tuple swapout(int64_t req_id) {
    PrefixCachedRequest* r = need(req_id, "swapout_request_async");
    if (r->req_state != CODEWALK_RS_RUNNING || swapping_out(req_id) || swapping_in(req_id)) {
      throw CoreErr(Cat("swapout_request_async: req ", req_id, " is ", phase_words(r), ", not running"));
    }
    if (any_swapin()) throw CoreErr(Cat("swapout_request_async: req ", req_id, ": a swap-in is still in progress"));
    gates_.add(*threadpool_, false, req_id);
    size_t swapped = 0, freed = 0;
    std::vector<int> memory_ids;
    Status s = SwapoutRequestAsync(req_id, swapped, freed, memory_ids);
    if (!s.OK()) {
      gates_.drop_last();
      throw CoreErr(Cat("swapout_request_async: req ", req_id, ": ", s.GetMessage()));
    }
    return py::make_tuple(swapped, freed);
  }

  void merge_swapout(int64_t req_id) {
    PrefixCachedRequest* r = find(req_id);
    if (r == nullptr || !swapping_out(req_id)) {
      throw CoreErr(Cat("merge_swapout_request: req ", req_id, " has no swap-out in progress"));
    }
    release_and_wait(false, req_id);
    Status s = MergeSwapoutRequest(req_id);
    if (!s.OK()) throw CoreErr(Cat("merge_swapout_request: req ", req_id, ": ", s.GetMessage()));
  }

  int64_t swapin(int64_t req_id) {
    PrefixCachedRequest* r = need(req_id, "swapin_request_async");
    if (r->req_state != CODEWALK_RS_SWAPPED || swapping_out(req_id) || swapping_in(req_id)) {
      throw CoreErr(Cat("swapin_request_async: req ", req_id, " is ", phase_words(r), ", not swapped"));
    }
    if (any_swapout()) throw CoreErr(Cat("swapin_request_async: req ", req_id, ": a swap-out is still in progress"));
    if (r->cached_blocks.empty()) {
      throw CoreErr(Cat("swapin_request_async: req ", req_id, " holds no blocks: KsanaLLM's "
                        "GetRequestStepBlockNumberForOneNextToken would read cached_blocks.back() of an empty list"));
    }
    // The copy targets are the first free blocks; each is deleted after its copy. Refuse when one
    // of them is still held by a request (only after upstream bug #4 freed a held block).
    std::unordered_set<PrefixCachedBlock*> held = held_blocks();
    size_t host_num = 0;
    for (PrefixCachedBlock* cb : r->cached_blocks) host_num += cb->is_device_location ? 0 : 1;
    const auto& fq = free_items();
    std::unordered_set<PrefixCachedBlock*> distinct(fq.begin(), fq.end());
    if (distinct.size() != fq.size()) {
      throw CoreErr(Cat("swapin_request_async: req ", req_id, ": the free queue holds a block twice; KsanaLLM would "
                        "delete a block still in use (aftermath of an upstream bug)"));
    }
    for (size_t i = 0; i < std::min(host_num, fq.size()); ++i) {
      if (reusable().count(fq[i])) {
        throw CoreErr(Cat("swapin_request_async: req ", req_id, ": KsanaLLM would copy into and then delete block ",
                          fq[i]->memory_block_ids[0], ", which is still in reusable_cached_blocks_ (aftermath of "
                          "upstream bug #1)"));
      }
      if (held.count(fq[i])) {
        throw CoreErr(Cat("swapin_request_async: req ", req_id, ": KsanaLLM would copy into and then delete block ",
                          fq[i]->memory_block_ids[0], ", which a request still holds (aftermath of upstream bug #4)"));
      }
    }
    std::vector<PrefixCachedBlock*> free_before(fq.begin(), fq.end());
    std::vector<PrefixCachedBlock*> tree_before = tree_nodes();
    const size_t blocks_before = r->cached_blocks.size();
    gates_.add(*threadpool_, true, req_id);
    size_t block_num = 0;
    std::vector<int> memory_ids;
    auto& req_ids = ids(req_id);
    Status s = SwapinRequestAsync(req_id, block_num, req_ids, memory_ids);
    if (!s.OK()) {
      gates_.drop_last();
      throw CoreErr(Cat("swapin_request_async: req ", req_id, ": out of device blocks (needs ", block_num, "): ",
                        s.GetMessage()));
    }
    // Which block objects became copy targets (popped, and not the request's next-token block).
    std::vector<PrefixCachedBlock*> tree_after = tree_nodes();
    std::unordered_set<PrefixCachedBlock*> still(free_items().begin(), free_items().end());
    still.insert(tree_after.begin(), tree_after.end());
    still.insert(r->cached_blocks.begin() + blocks_before, r->cached_blocks.end());
    std::vector<PrefixCachedBlock*> candidates(free_before);
    candidates.insert(candidates.end(), tree_before.begin(), tree_before.end());
    std::vector<std::pair<PrefixCachedBlock*, View>> targets;
    for (PrefixCachedBlock* cb : candidates) {
      if (!still.count(cb)) targets.emplace_back(cb, View{cb->memory_block_ids[0], cb->is_device_location, cb->is_shareable});
    }
    swapin_targets_[req_id] = targets;
    swapin_dev_ids_[req_id] = memory_ids;
    return static_cast<int64_t>(block_num);
  }

  std::vector<int> merge_swapin(int64_t req_id) {
    PrefixCachedRequest* r = find(req_id);
    if (r == nullptr || !swapping_in(req_id)) {
      throw CoreErr(Cat("merge_swapin_request: req ", req_id, " has no swap-in in progress"));
    }
    for (auto& [cb, v] : swapin_targets_[req_id]) mark_deleted(cb, v);  // deleted (or dropped) by the copy
    release_and_wait(true, req_id);
    // A target nobody copied into is dropped by SwapinCachedBlock without a way back (upstream bug #3).
    for (int id : swapin_dev_ids_[req_id]) leaked_ += group_->take_copied(id) ? 0 : 1;
    swapin_targets_.erase(req_id);
    swapin_dev_ids_.erase(req_id);
    auto& req_ids = ids(req_id);
    Status s = MergeSwapinRequest(req_id, req_ids);
    if (!s.OK()) throw CoreErr(Cat("merge_swapin_request: req ", req_id, ": ", s.GetMessage()));
    return req_ids[0];
  }

  void destroy_swapped(int64_t req_id) {
    PrefixCachedRequest* r = need(req_id, "destroy_swapped_request");
    if (r->req_state != CODEWALK_RS_SWAPPED || swapping_out(req_id) || swapping_in(req_id)) {
      throw CoreErr(Cat("destroy_swapped_request: req ", req_id, " is ", phase_words(r), ", not swapped"));
    }
    // Its own host blocks are deleted: refuse if another request still holds one (bug aftermath).
    std::unordered_set<PrefixCachedBlock*> held = held_blocks(req_id);
    std::vector<std::pair<PrefixCachedBlock*, View>> dying;
    for (PrefixCachedBlock* cb : r->cached_blocks) {
      if (!cb->is_device_location && cb->active_requests.empty() && cb->inactive_requests.size() <= 1) {
        if (held.count(cb)) {
          throw CoreErr(Cat("destroy_swapped_request: req ", req_id, ": KsanaLLM would delete host block ",
                            cb->memory_block_ids[0], ", which another request still holds (aftermath of an upstream bug)"));
        }
        if (reusable().count(cb)) {
          throw CoreErr(Cat("destroy_swapped_request: req ", req_id, ": KsanaLLM would delete host block ",
                            cb->memory_block_ids[0], ", which is still in reusable_cached_blocks_ (aftermath of "
                            "upstream bug #1): the set would keep a dangling pointer"));
        }
        dying.emplace_back(cb, View{-1, false, cb->is_shareable});
      }
    }
    for (auto& [cb, v] : dying) mark_deleted(cb, v);
    DestroySwappedRequest(req_id);
    forget(req_id);
  }

  // ------------------------------------------------------------------- counters
  size_t request_usable(int64_t req_id) {
    PrefixCachedRequest* r = need(req_id, "get_request_usable_block_number");
    if (!has_stale(req_id)) return GetRequestUsableBlockNumber(req_id);
    size_t own = 0;  // a deleted block's address may be reused: count only live pointers
    for (size_t i = 0; i < r->cached_blocks.size(); ++i) {
      if (!stale(req_id, i) && reusable().count(r->cached_blocks[i])) ++own;
    }
    return free_cached_blocks_.size() + reusable().size() - own;
  }
  int64_t request_step(int64_t req_id, int64_t token_num) {
    need(req_id, "get_request_step_block_number");
    if (token_num < 0) throw CoreErr(Cat("get_request_step_block_number: req ", req_id, ": token_num is negative"));
    return static_cast<int64_t>(GetRequestStepBlockNumber(req_id, static_cast<size_t>(token_num)));
  }
  size_t needed_one_token(int64_t req_id) {
    PrefixCachedRequest* r = need(req_id, "get_request_needed_block_num_for_one_next_token");
    if (r->cached_blocks.empty()) {
      throw CoreErr(Cat("get_request_needed_block_num_for_one_next_token: req ", req_id, " holds no blocks: KsanaLLM "
                        "would read cached_blocks.back() of an empty list"));
    }
    if (has_stale(req_id)) {
      throw CoreErr(Cat("get_request_needed_block_num_for_one_next_token: req ", req_id,
                        " points at a block KsanaLLM has deleted"));
    }
    size_t n = 0;
    Status s = GetRequestNeededBlockNumForOneNextToken(req_id, n);
    if (!s.OK()) throw CoreErr(s.GetMessage());
    return n;
  }
  std::vector<int> request_block_ids(int64_t req_id) {
    need(req_id, "request_block_ids");
    return ids(req_id)[0];
  }
  size_t leaked() { return leaked_; }
  size_t used_blocks() {
#if CODEWALK_HAS_USED_BLOCK_NUMBER
    return GetUsedBlockNumber();
#else
    // Before KsanaLLM had GetUsedBlockNumber: its later definition, over the same allocator.
    return group_->GetDeviceBlockAllocator(0)->GetUsedBlockNumber() - GetUsableBlockNumber();
#endif
  }
  // Every device block id found in the structures, with repeats (tree, free queue, requests' own
  // device blocks, pending swap-in copy targets); mirrors ref_invariants' conservation walk.
  std::vector<int> accounted_device(std::vector<int>* host_out = nullptr) {
    std::vector<int> device, host(host_free_ids().begin(), host_free_ids().end());
    std::unordered_set<PrefixCachedBlock*> seen;
    for (PrefixCachedBlock* cb : free_items()) {
      device.push_back(cb->memory_block_ids[0]);
      seen.insert(cb);
    }
    for (PrefixCachedBlock* cb : tree_nodes()) {
      device.push_back(cb->memory_block_ids[0]);
      seen.insert(cb);
    }
    std::unordered_set<int> seen_ghosts;
    for (auto& [rid, req] : sorted_requests()) {
      for (size_t i = 0; i < req->cached_blocks.size(); ++i) {
        PrefixCachedBlock* cb = req->cached_blocks[i];
        View v = view(rid, i, cb);
        if (stale(rid, i)) {
          if (!seen_ghosts.insert(v.ghost).second) continue;  // a deleted object, counted once
        } else {
          if (seen.count(cb)) continue;
          seen.insert(cb);
        }
        (v.on_device ? device : host).push_back(v.block_id);
      }
    }
    for (auto& [rid, blocks] : swapout_cached_block_buffer_) {
      for (PrefixCachedBlock* cb : blocks) host.push_back(cb->memory_block_ids[0]);
    }
    for (auto& [rid, dev_ids] : swapin_dev_ids_) device.insert(device.end(), dev_ids.begin(), dev_ids.end());
    if (host_out) *host_out = host;
    return device;
  }
  std::vector<std::pair<int64_t, PrefixCachedRequest*>> sorted_requests() {
    std::vector<std::pair<int64_t, PrefixCachedRequest*>> out;
    for (auto& [rid, req] : cached_requests_) out.emplace_back(rid, req.get());
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.first < b.first; });
    return out;
  }

  // ------------------------------------------------------------------- snapshot
  py::dict snapshot() {
    py::list nodes = TreeNodeDicts(root());
    py::list timed_ids = BlockIdList(timed()), free_ids = BlockIdList(free_items());
    std::vector<int> reusable_ids = SortedBlockIds(reusable());
    py::dict requests;
    for (auto& [rid, req] : sorted_requests()) {
      py::dict rd;
      rd["state"] = phase(req);
      rd["shared_block_num"] = req->shared_block_num;
      py::list blocks;
      for (size_t i = 0; i < req->cached_blocks.size(); ++i) {
        View v = view(rid, i, req->cached_blocks[i]);
        py::dict b;
        b["block_id"] = v.block_id;
        b["on_device"] = v.on_device;
        b["shareable"] = v.shareable;
        blocks.append(b);
      }
      rd["blocks"] = blocks;
      rd["block_ids"] = ids(rid)[0];
      requests[py::int_(rid)] = rd;
    }
    py::dict d;
    d["block_size"] = bs_;
    d["nodes"] = nodes;
    d["timed"] = timed_ids;
    d["reusable"] = py::cast(reusable_ids);
    d["free"] = free_ids;
    d["host_free"] = py::cast(std::vector<int>(host_free_ids().begin(), host_free_ids().end()));
    d["requests"] = requests;
    d["usable"] = GetUsableBlockNumber();
    d["future_free"] = GetFutureFreeBlockNumber();
    d["leaked"] = leaked();
    return d;
  }

  // ------------------------------------------------------------------- invariants
  [[noreturn]] static void fail(const std::string& name, const std::string& detail) {
    throw CoreErr(Cat("invariant '", name, "' broken: ", detail));
  }
  void check_invariants() {
    // The tree: keys, filled device blocks, parent links.
    std::vector<PrefixCachedBlock*> nodes;
    std::vector<std::pair<const std::vector<int>*, PrefixCachedBlock*>> stack;
    for (auto& kv : root()->children) stack.emplace_back(&kv.first, kv.second);
    while (!stack.empty()) {
      auto [key, cb] = stack.back();
      stack.pop_back();
      if (cb->token_ids != *key) fail("child-key", Cat("block ", cb->memory_block_ids[0], " is filed under other tokens"));
      if (!(cb->is_shareable && cb->is_device_location)) {
        fail("tree-blocks-filled", Cat("block ", cb->memory_block_ids[0], " in the tree is not a filled device block"));
      }
      for (auto& kv : cb->children) {
        if (kv.second->parent != cb) {
          fail("parent-link", Cat("block ", kv.second->memory_block_ids[0], " does not point back to its parent"));
        }
      }
      nodes.push_back(cb);
      for (auto& kv : cb->children) stack.emplace_back(&kv.first, kv.second);
    }
    std::unordered_set<PrefixCachedBlock*> in_tree(nodes.begin(), nodes.end());
    for (auto& kv : root()->children) {
      if (kv.second->parent != root()) {
        fail("parent-link", Cat("top block ", kv.second->memory_block_ids[0], " does not point to the root"));
      }
    }
    std::unordered_set<PrefixCachedBlock*> timed_set(timed().begin(), timed().end());
    if (timed_set != in_tree) fail("timed-list", "the timed list and the tree hold different blocks");
    for (PrefixCachedBlock* cb : nodes) {
      if (cb->active_requests.empty() && cb->inactive_requests.empty() && !reusable().count(cb)) {
        fail("reusable-set", "an unreferenced tree block is not reusable, or a reusable block left the tree");
      }
    }
    for (PrefixCachedBlock* cb : reusable()) {
      if (!in_tree.count(cb)) fail("reusable-set", "an unreferenced tree block is not reusable, or a reusable block left the tree");
    }
    std::unordered_set<PrefixCachedBlock*> free_set;
    for (PrefixCachedBlock* cb : free_items()) {
      if (in_tree.count(cb) || cb->is_shareable || !cb->active_requests.empty() || !cb->inactive_requests.empty()) {
        fail("free-blocks-clean", Cat("free block ", cb->memory_block_ids[0], " still carries content or references"));
      }
      free_set.insert(cb);
    }
    // Requests.
    for (auto& [rid, req] : sorted_requests()) {
      const bool swapping = swapping_out(rid) || swapping_in(rid);
      for (size_t i = 0; i < req->cached_blocks.size(); ++i) {
        if (req->req_state == CODEWALK_RS_WAITING && ids(rid)[0].empty()) continue;
        PrefixCachedBlock* cb = req->cached_blocks[i];
        if (stale(rid, i)) fail("held-block-not-free", Cat("req ", rid, " block ", i, " was deleted"));
        if (free_set.count(cb)) {
          fail("held-block-not-free", Cat("req ", rid, " block ", i, " (", cb->memory_block_ids[0], ") is in the free queue"));
        }
        auto& refs = req->req_state == CODEWALK_RS_RUNNING ? cb->active_requests : cb->inactive_requests;
        auto it = refs.find(static_cast<int>(rid));
        if (cb->is_shareable && (it == refs.end() || it->second.first != static_cast<int>(i))) {
          fail("request-refs", Cat("req ", rid, " block ", i, " does not record the request's reference"));
        }
        if (cb->is_shareable && cb->is_device_location && cb->parent != nullptr && !in_tree.count(cb)) {
          fail("request-refs", Cat("req ", rid, " block ", i, " hangs off a detached parent"));
        }
      }
      const auto& bids = ids(rid)[0];
      if (!bids.empty() && !swapping && req->req_state == CODEWALK_RS_RUNNING) {
        std::vector<int> held;
        for (size_t i = 0; i < req->cached_blocks.size(); ++i) held.push_back(view(rid, i, req->cached_blocks[i]).block_id);
        if (held != bids) fail("block-table", Cat("req ", rid, " block table differs from its blocks"));
      }
    }
    // Conservation.
    std::vector<int> host;
    std::vector<int> device = accounted_device(&host);
    std::set<int> dset(device.begin(), device.end()), hset(host.begin(), host.end());
    const size_t leak = leaked_;
    if (device.size() != dset.size() || device.size() + leak != dev_) {
      fail("device-conservation", Cat(device.size(), " device blocks accounted for, ", dset.size(), " distinct, ", leak,
                                      " leaked, of ", dev_));
    }
    if (host.size() != hset.size() || host.size() != host_) {
      fail("host-conservation", Cat(host.size(), " host blocks accounted for (", hset.size(), " distinct) of ", host_));
    }
  }

 private:
  std::shared_ptr<CopyRecordingGroup> group_;
  size_t bs_, dev_, host_;
  std::map<int64_t, std::vector<std::vector<int>>> block_ids_;  // InferRequest::kv_cache_blocks
  std::map<int64_t, std::vector<int>> matched_;                 // tokens of the blocks the last lookup matched
  std::map<int64_t, std::map<size_t, View>> stale_;             // pointers to deleted blocks, per request
  std::map<int64_t, std::vector<std::pair<PrefixCachedBlock*, View>>> swapin_targets_;
  std::map<int64_t, std::vector<int>> swapin_dev_ids_;
  SwapGates gates_;
  int ghosts_ = 0;
  size_t leaked_ = 0;
};

// ----------------------------------------------------------------------------- Python face
class PyManager {
 public:
  explicit PyManager(py::object config) {
    const CacheSizes c = ReadCacheSizes(config);
    CheckCacheSizes(c);
    RefuseOtherEngines(config);
    auto group = std::make_shared<CopyRecordingGroup>(c.device_blocks, c.host_blocks, c.block_size);
    engine_ = std::make_unique<Engine>(c.block_size, c.device_blocks, c.host_blocks, group);
  }
  Engine& e() { return *engine_; }

 private:
  std::unique_ptr<Engine> engine_;
};

}  // namespace

PYBIND11_MODULE(CODEWALK_MODULE_NAME, m) {
  m.doc() = "KsanaLLM's real PrefixCacheManager (compiled from the user's checkout), with codewalk.core's API.";
  SetUpModule(m);
  py::class_<PyManager>(m, "PrefixCacheManager")
      .def(py::init<py::object>(), py::arg("config"))
      .def("get_request_prefix_block_number",
           [](PyManager& s, int64_t r, const std::vector<int>& t, std::optional<int64_t> c) { return s.e().lookup(r, t, c); },
           py::arg("req_id"), py::arg("tokens"), py::arg("check_token_num") = py::none())
      .def("allocate_request_blocks", [](PyManager& s, int64_t r, int64_t n) { return s.e().allocate(r, n); },
           py::arg("req_id"), py::arg("block_num"))
      .def("update_request_tokens",
           [](PyManager& s, int64_t r, const std::vector<int>& t, std::optional<int64_t> n) { return s.e().update(r, t, n); },
           py::arg("req_id"), py::arg("kvcached_tokens"), py::arg("shareable_token_num") = py::none())
      .def("free_cached_blocks", [](PyManager& s, int64_t n) { return s.e().free_cached(n); }, py::arg("block_num"))
      .def("destroy_finished_request", [](PyManager& s, int64_t r) { s.e().destroy_finished(r); }, py::arg("req_id"))
      .def("swapout_request_async", [](PyManager& s, int64_t r) { return s.e().swapout(r); }, py::arg("req_id"))
      .def("merge_swapout_request", [](PyManager& s, int64_t r) { s.e().merge_swapout(r); }, py::arg("req_id"))
      .def("swapin_request_async", [](PyManager& s, int64_t r) { return s.e().swapin(r); }, py::arg("req_id"))
      .def("merge_swapin_request", [](PyManager& s, int64_t r) { return s.e().merge_swapin(r); }, py::arg("req_id"))
      .def("destroy_swapped_request", [](PyManager& s, int64_t r) { s.e().destroy_swapped(r); }, py::arg("req_id"))
      .def("get_usable_block_number", [](PyManager& s) { return s.e().GetUsableBlockNumber(); })
      .def("get_future_free_block_number", [](PyManager& s) { return s.e().GetFutureFreeBlockNumber(); })
      .def("get_host_free_block_number", [](PyManager& s) { return s.e().GetHostFreeBlockNumber(); })
      .def("get_used_block_number", [](PyManager& s) { return s.e().used_blocks(); })
      .def("get_reusable_block_number", [](PyManager& s) { return s.e().reusable().size(); })
      .def("get_request_usable_block_number", [](PyManager& s, int64_t r) { return s.e().request_usable(r); },
           py::arg("req_id"))
      .def("get_request_step_block_number", [](PyManager& s, int64_t r, int64_t n) { return s.e().request_step(r, n); },
           py::arg("req_id"), py::arg("token_num"))
      .def("get_request_needed_block_num_for_one_next_token",
           [](PyManager& s, int64_t r) { return s.e().needed_one_token(r); }, py::arg("req_id"))
      .def("request_block_ids", [](PyManager& s, int64_t r) { return s.e().request_block_ids(r); }, py::arg("req_id"))
      .def("has_request", [](PyManager& s, int64_t r) { return s.e().find(r) != nullptr; }, py::arg("req_id"))
      .def("check_invariants", [](PyManager& s) { s.e().check_invariants(); })
      .def("snapshot", [](PyManager& s) { return s.e().snapshot(); });
}
