// codewalk: what the two pybind11 bindings of the real engine share (binding.cpp, the
// PrefixCacheManager; sched_binding.cpp, the ContinuousBatchingStrategy).
//
// Laid out by `codewalk upstream build` as codewalk/binding_common.h in each build's include
// directory (and part of both builds' reuse keys). Each binding is one translation unit, so the
// helpers live in an unnamed namespace like the rest of the binding code.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <future>
#include <list>
#include <memory>
#include <queue>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "ksana_llm/cache_manager/prefix_cache_manager.h"
#include "ksana_llm/cache_manager/prefix_cache_manager_test_helper.h"
// The API variants of this checkout (RequestState values, signatures): generated from its headers
// by codewalk/upstream/api.py.
#include "codewalk_generated/api.h"

namespace py = pybind11;

namespace {

using namespace ksana_llm;

// ----------------------------------------------------------------------------- private access
// Reading private members through an explicit instantiation (which may name them) instead of
// editing KsanaLLM's headers: `obj.*get(Tag())` is the member.
template <typename Tag, typename Tag::type M>
struct Rob {
  friend typename Tag::type get(Tag) { return M; }
};

#define CODEWALK_ROB(Tag, Type, Member) \
  struct Tag {                          \
    using type = Type;                  \
    friend type get(Tag);               \
  };                                    \
  template struct Rob<Tag, &Member>;

using BlockSet = std::unordered_set<PrefixCachedBlock*>;
using BlockList = std::list<PrefixCachedBlock*>;
using IntList = std::list<int>;

CODEWALK_ROB(RootTag, PrefixCachedBlock* PrefixCacheManager::*, PrefixCacheManager::root_cached_block_)
CODEWALK_ROB(ReusableTag, BlockSet PrefixCacheManager::*, PrefixCacheManager::reusable_cached_blocks_)
CODEWALK_ROB(TimedTag, BlockList PrefixCacheManager::*, PrefixCacheManager::timed_cached_blocks_)
CODEWALK_ROB(FreeIdsTag, IntList FakedBlockAllocator::*, FakedBlockAllocator::free_blocks_)

#undef CODEWALK_ROB

template <class T>
const std::deque<T>& QueueItems(const std::queue<T>& q) {
  struct Peek : std::queue<T> {
    static const std::deque<T>& Items(const std::queue<T>& q) { return q.*(&Peek::c); }
  };
  return Peek::Items(q);
}

// ----------------------------------------------------------------------------- errors
// A refusal: raised in Python as codewalk.core.errors.CoreError (see SetUpModule).
struct CoreErr : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class... A>
std::string Cat(const A&... a) {
  std::ostringstream out;
  (out << ... << a);
  return out.str();
}

// The module's attributes and error translation: CoreErr becomes CoreError; any other
// std::runtime_error (KLLM_THROW / KLLM_CHECK, and in the scheduler build KLLM_LOG_FATAL, from the
// real code) becomes CoreError("KsanaLLM raised: ...").
// The translator is module-local: a global one would also rewrite the messages of the bound
// core (codewalk._core) once an upstream engine is loaded in the same process.
inline void SetUpModule(py::module_& m) {
  static py::object core_error = py::module_::import("codewalk.core.errors").attr("CoreError");
  py::register_local_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const CoreErr& e) {
      PyErr_SetString(core_error.ptr(), e.what());
    } catch (const std::runtime_error& e) {
      PyErr_SetString(core_error.ptr(), (std::string("KsanaLLM raised: ") + e.what()).c_str());
    }
  });
  m.attr("KSANALLM_COMMIT") = CODEWALK_KSANALLM_COMMIT;
}

// ----------------------------------------------------------------------------- the config
// An attribute of the Python config object (CacheConfig or SchedulerConfig), or `dflt` without it.
inline py::object ConfigAttr(const py::object& config, const char* name, py::object dflt) {
  return py::hasattr(config, name) ? config.attr(name) : dflt;
}

struct CacheSizes {
  int64_t block_size, device_blocks, host_blocks;
};

inline CacheSizes ReadCacheSizes(const py::object& config) {
  return CacheSizes{ConfigAttr(config, "block_size", py::int_(16)).cast<int64_t>(),
                    ConfigAttr(config, "device_blocks", py::int_(100)).cast<int64_t>(),
                    ConfigAttr(config, "host_blocks", py::int_(100)).cast<int64_t>()};
}

inline void CheckCacheSizes(const CacheSizes& c) {
  if (c.block_size <= 0 || c.device_blocks <= 0 || c.host_blocks < 0) {
    throw CoreErr(Cat("invalid cache config: block_size=", c.block_size, ", device_blocks=", c.device_blocks,
                      ", host_blocks=", c.host_blocks));
  }
}

// Settings the real engine cannot honour: it is KsanaLLM's PrefixCacheManager, as it is.
inline void RefuseOtherEngines(const py::object& config) {
  if (!ConfigAttr(config, "enable_prefix_caching", py::bool_(true)).cast<bool>()) {
    throw CoreErr("enable_prefix_caching=False: KsanaLLM builds a DirectCacheManager then, not this PrefixCacheManager");
  }
  if (ConfigAttr(config, "fix_upstream_bugs", py::bool_(false)).cast<bool>()) {
    throw CoreErr("fix_upstream_bugs=True: the real engine runs KsanaLLM's code as it is");
  }
}

// The manager's config as KsanaLLM's prefix_cache_manager_test.cpp builds it, for one device.
inline CacheManagerConfig MakeCacheConfig(size_t block_size) {
  CacheManagerConfig cfg;
  cfg.block_token_num = block_size;
  cfg.tensor_para_size = 1;
  cfg.swap_threadpool_size = 1;  // one worker: copies run in start order behind their gates
  cfg.enable_prefix_caching = true;
  return cfg;
}

// ----------------------------------------------------------------------------- one device
// FakedBlockAllocator for device and host memory, one device; swap copies do nothing here.
class OneDeviceGroup : public BlockAllocatorGroupInterface {
 public:
  OneDeviceGroup(size_t device_blocks, size_t host_blocks, size_t block_size)
      : host_(std::make_shared<FakedBlockAllocator>(LOCATION_HOST, host_blocks, block_size)),
        device_(std::make_shared<FakedBlockAllocator>(LOCATION_DEVICE, device_blocks, block_size)) {
    host_->PreAllocateBlocks();
    device_->PreAllocateBlocks();
  }
  std::vector<int> GetBlockAllocatorDevices() const override { return {0}; }
  std::shared_ptr<BlockAllocatorInterface> GetHostBlockAllocator() const override { return host_; }
  std::shared_ptr<BlockAllocatorInterface> GetDeviceBlockAllocator(int) const override { return device_; }
  Status SwapIn(int, int, int) override { return Status(); }
  Status SwapOut(int, int, int) override { return Status(); }
  // The host allocator's free list, in its order.
  const IntList& host_free_ids() const { return (*host_).*get(FreeIdsTag()); }

 private:
  std::shared_ptr<FakedBlockAllocator> host_;
  std::shared_ptr<FakedBlockAllocator> device_;
};

// ----------------------------------------------------------------------------- swap gates
// Swap copies run on the manager's real thread pool (one worker). Before a swap the binding queues
// a gate task in front of its copy, so the copy waits until the gate is opened; gates open in
// start order (the worker runs tasks FIFO).
class SwapGates {
 public:
  struct Gate {
    bool swapin;
    int64_t req_id;
    std::shared_ptr<std::promise<void>> open;
  };
  ~SwapGates() { open_all(); }

  void add(ThreadPool& pool, bool swapin = false, int64_t req_id = -1) {
    auto open = std::make_shared<std::promise<void>>();
    std::shared_future<void> ready = open->get_future().share();
    pool.Submit([ready] { ready.wait(); });
    gates_.push_back(Gate{swapin, req_id, open});
  }
  // The swap just gated did not start: its gate goes.
  void drop_last() {
    gates_.back().open->set_value();
    gates_.pop_back();
  }
  void open_all() {
    for (auto& g : gates_) g.open->set_value();
    gates_.clear();
  }
  // Open the gates up to and including this swap's (all of them if it has none).
  void open_through(bool swapin, int64_t req_id) {
    while (!gates_.empty()) {
      Gate g = gates_.front();
      gates_.pop_front();
      g.open->set_value();
      if (g.swapin == swapin && g.req_id == req_id) break;
    }
  }
  // The swaps of one direction whose gates are still closed.
  std::unordered_set<int64_t> closed(bool swapin) const {
    std::unordered_set<int64_t> out;
    for (auto& g : gates_) {
      if (g.swapin == swapin) out.insert(g.req_id);
    }
    return out;
  }

 private:
  std::deque<Gate> gates_;
};

// ----------------------------------------------------------------------------- snapshots
// The snapshot() parts both engines produce alike, in codewalk.core's format.
inline std::vector<std::pair<std::vector<int>, PrefixCachedBlock*>> SortedChildren(PrefixCachedBlock* b) {
  std::vector<std::pair<std::vector<int>, PrefixCachedBlock*>> out(b->children.begin(), b->children.end());
  std::sort(out.begin(), out.end(), [](auto& a, auto& c) { return a.first < c.first; });
  return out;
}

inline py::list SortedRequestIds(const std::unordered_map<int, std::pair<int, PrefixCachedRequest*>>& m) {
  std::vector<int> ids;
  for (auto& kv : m) ids.push_back(kv.first);
  std::sort(ids.begin(), ids.end());
  return py::cast(ids);
}

inline py::dict NodeDict(PrefixCachedBlock* cb) {
  py::dict d;
  d["block_id"] = cb->memory_block_ids[0];
  d["tokens"] = cb->token_ids;
  d["parent"] = (cb->parent == nullptr || cb->parent->is_root) ? py::object(py::none())
                                                                : py::object(py::int_(cb->parent->memory_block_ids[0]));
  py::list children;
  for (auto& kv : SortedChildren(cb)) children.append(kv.second->memory_block_ids[0]);
  d["children"] = children;
  d["active_requests"] = SortedRequestIds(cb->active_requests);
  d["inactive_requests"] = SortedRequestIds(cb->inactive_requests);
  d["shareable"] = cb->is_shareable;
  d["on_device"] = cb->is_device_location;
  return d;
}

// The tree below `root`, depth first, children in token order.
inline py::list TreeNodeDicts(PrefixCachedBlock* root) {
  py::list nodes;
  std::vector<PrefixCachedBlock*> stack;
  auto top = SortedChildren(root);
  for (auto it = top.rbegin(); it != top.rend(); ++it) stack.push_back(it->second);
  while (!stack.empty()) {
    PrefixCachedBlock* cb = stack.back();
    stack.pop_back();
    nodes.append(NodeDict(cb));
    auto kids = SortedChildren(cb);
    for (auto it = kids.rbegin(); it != kids.rend(); ++it) stack.push_back(it->second);
  }
  return nodes;
}

// The device block ids of some blocks, in their order.
template <class Blocks>
py::list BlockIdList(const Blocks& blocks) {
  py::list out;
  for (PrefixCachedBlock* cb : blocks) out.append(cb->memory_block_ids[0]);
  return out;
}

inline std::vector<int> SortedBlockIds(const BlockSet& blocks) {
  std::vector<int> ids;
  for (PrefixCachedBlock* cb : blocks) ids.push_back(cb->memory_block_ids[0]);
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace
