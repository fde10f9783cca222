// pybind11 face of the C++ core: codewalk._core. The only file that knows about Python.
// Names are the snake_case of KsanaLLM's; every result matches codewalk.core.reference.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cache_config.h"
#include "continuous_batching.h"
#include "core_error.h"
#include "prefix_cache_manager.h"
#include "vllm_kv_cache_manager.h"

namespace py = pybind11;
using namespace ksana_llm;

namespace {

// The value of an exact int as a C long, cheaply when it is small: prompts cross the boundary by the
// thousand tokens, and PyLong_AsLongAndOverflow is a call per token. Ints of one digit (|v| < 2**30)
// are read straight from the object (CPython's own compact-int accessors from 3.12 on); larger ones
// go through the C API. False when the value does not fit a long (no Python error is left set).
inline bool ExactIntValue(PyObject* item, long& v) {
#if PY_VERSION_HEX >= 0x030C0000
  if (PyUnstable_Long_IsCompact(reinterpret_cast<PyLongObject*>(item))) {
    v = static_cast<long>(PyUnstable_Long_CompactValue(reinterpret_cast<PyLongObject*>(item)));
    return true;
  }
#else
  const Py_ssize_t size = Py_SIZE(item);
  if (size == 0) {
    v = 0;
    return true;
  }
  if (size == 1 || size == -1) {
    v = static_cast<long>(size) * static_cast<long>(reinterpret_cast<PyLongObject*>(item)->ob_digit[0]);
    return true;
  }
#endif
  int overflow = 0;
  v = PyLong_AsLongAndOverflow(item, &overflow);
  if (v == -1 && PyErr_Occurred()) {
    PyErr_Clear();
    return false;
  }
  return overflow == 0;
}

// Reads a plain list or tuple of exact ints that fit an int into `out`; false (out unspecified) for
// anything else, which then goes to pybind11's generic caster so what is accepted and refused stays
// the same.
inline bool LoadPlainInts(PyObject* seq, std::vector<int>& out) {
  const bool is_list = PyList_CheckExact(seq);
  if (!is_list && !PyTuple_CheckExact(seq)) return false;
  const Py_ssize_t n = is_list ? PyList_GET_SIZE(seq) : PyTuple_GET_SIZE(seq);
  PyObject** items = is_list ? reinterpret_cast<PyListObject*>(seq)->ob_item : reinterpret_cast<PyTupleObject*>(seq)->ob_item;
  out.clear();
  out.reserve(static_cast<size_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* item = items[i];
    long v = 0;
    if (!PyLong_CheckExact(item) || !ExactIntValue(item, v) || v < std::numeric_limits<int>::min() ||
        v > std::numeric_limits<int>::max()) {
      return false;
    }
    out.push_back(static_cast<int>(v));
  }
  return true;
}

}  // namespace

namespace pybind11 {
namespace detail {

// Token lists cross the boundary by the thousand per step, and pybind11's generic sequence caster
// sends every element through its full int caster. This reads a plain list or tuple of plain ints
// directly; anything else (other sequences, bools, values outside int, errors) goes to the generic
// caster, so what is accepted and what is refused stays exactly as before.
template <>
struct type_caster<std::vector<int>> : list_caster<std::vector<int>, int> {
  bool load(handle src, bool convert) {
    return LoadPlainInts(src.ptr(), value) || list_caster<std::vector<int>, int>::load(src, convert);
  }
};

// `Cls.__new__(Cls)` makes an instance whose __init__ never ran: it holds no C++ object, and
// pybind11 would hand a method freshly allocated, uninitialised memory as `self` (a crash, or
// garbage). Every bound class loads through this caster, which refuses such an instance before
// that allocation happens (its value pointer is still null then; constructed instances and
// references handed out by C++ always have one).
template <typename T>
struct initialised_caster : type_caster_base<T> {
  bool load(handle src, bool convert) {
    static const type_info* info = get_type_info(typeid(T));
    if (info != nullptr && src && PyObject_TypeCheck(src.ptr(), info->type)) {
      const value_and_holder vh = reinterpret_cast<instance*>(src.ptr())->get_value_and_holder(info, false);
      if (!vh || vh.value_ptr() == nullptr) {
        throw type_error(std::string(Py_TYPE(src.ptr())->tp_name) + " used before its __init__ ran");
      }
    }
    return type_caster_base<T>::load(src, convert);
  }
};

template <> struct type_caster<ksana_llm::CacheConfig> : initialised_caster<ksana_llm::CacheConfig> {};
template <> struct type_caster<ksana_llm::SchedulerConfig> : initialised_caster<ksana_llm::SchedulerConfig> {};
template <> struct type_caster<ksana_llm::PrefixCacheManager> : initialised_caster<ksana_llm::PrefixCacheManager> {};
template <> struct type_caster<ksana_llm::StepResult> : initialised_caster<ksana_llm::StepResult> {};
template <> struct type_caster<ksana_llm::ContinuousBatchingStrategy>
    : initialised_caster<ksana_llm::ContinuousBatchingStrategy> {};
template <> struct type_caster<ksana_llm::VllmKVCacheManager> : initialised_caster<ksana_llm::VllmKVCacheManager> {};

}  // namespace detail
}  // namespace pybind11

namespace {

// codewalk.core.errors.CoreError, imported on first use: importing it while _core itself is being
// imported would re-enter codewalk.core/__init__, which imports _core. The handle is stored once and
// deliberately never released, so nothing touches it after the interpreter shuts down.
PyObject* CoreErrorClass() {
  PYBIND11_CONSTINIT static py::gil_safe_call_once_and_store<py::object> storage;
  return storage
      .call_once_and_store_result([]() { return py::module_::import("codewalk.core.errors").attr("CoreError"); })
      .get_stored()
      .ptr();
}

void TranslateCoreError(std::exception_ptr p) {
  try {
    if (p) std::rethrow_exception(p);
  } catch (const CoreError& e) {
    PyObject* cls = nullptr;
    try {
      cls = CoreErrorClass();
    } catch (py::error_already_set&) {
      cls = PyExc_RuntimeError;  // codewalk.core.errors could not be imported: still a clean error
    }
    PyErr_SetString(cls, e.what());
  }
}

std::string Repr(const py::handle& value) { return std::string(py::str(py::repr(value))); }
std::string Repr(const std::string& value) { return Repr(py::str(value)); }
std::string Repr(double value) { return Repr(py::float_(value)); }

std::string BoolRepr(bool b) { return b ? "True" : "False"; }

std::string OptRepr(const std::optional<int64_t>& v) { return v ? std::to_string(*v) : "None"; }

// Duck-typed configs, as the reference reads them (any object with the fields works).
CacheConfig CacheConfigFrom(const py::object& obj) {
  if (py::isinstance<CacheConfig>(obj)) return obj.cast<CacheConfig>();
  CacheConfig c;
  c.block_size = py::int_(obj.attr("block_size")).cast<int64_t>();
  c.device_blocks = py::int_(obj.attr("device_blocks")).cast<int64_t>();
  c.host_blocks = py::int_(obj.attr("host_blocks")).cast<int64_t>();
  c.enable_prefix_caching = py::bool_(py::getattr(obj, "enable_prefix_caching", py::bool_(true)));
  c.fix_upstream_bugs = py::bool_(py::getattr(obj, "fix_upstream_bugs", py::bool_(false)));
  return c;
}

std::optional<int64_t> OptionalInt(const py::object& v) {
  if (v.is_none()) return std::nullopt;
  return py::int_(v).cast<int64_t>();
}

SchedulerConfig SchedulerConfigFrom(const py::object& obj) {
  if (py::isinstance<SchedulerConfig>(obj)) return obj.cast<SchedulerConfig>();
  SchedulerConfig c;
  c.block_size = py::int_(obj.attr("block_size")).cast<int64_t>();
  c.device_blocks = py::int_(obj.attr("device_blocks")).cast<int64_t>();
  c.host_blocks = py::int_(obj.attr("host_blocks")).cast<int64_t>();
  c.max_batch_size = py::int_(obj.attr("max_batch_size")).cast<int64_t>();
  c.max_step_token_num = py::int_(obj.attr("max_step_token_num")).cast<int64_t>();
  c.split_fuse_token_num = py::int_(obj.attr("split_fuse_token_num")).cast<int64_t>();
  c.preempt_mode = py::str(obj.attr("preempt_mode")).cast<std::string>();
  c.enable_prefix_caching = py::bool_(obj.attr("enable_prefix_caching"));
  c.waiting_timeout_steps = OptionalInt(obj.attr("waiting_timeout_steps"));
  c.max_waiting_queue_len = OptionalInt(obj.attr("max_waiting_queue_len"));
  c.launch_block_threshold = py::float_(obj.attr("launch_block_threshold")).cast<double>();
  c.swapin_block_threshold = py::float_(obj.attr("swapin_block_threshold")).cast<double>();
  c.fix_upstream_bugs = py::bool_(py::getattr(obj, "fix_upstream_bugs", py::bool_(false)));
  c.swapout_block_threshold = py::float_(py::getattr(obj, "swapout_block_threshold", py::float_(1.0))).cast<double>();
  return c;
}

py::dict SnapshotDict(const CacheSnapshot& s) {
  py::list nodes;
  for (const auto& n : s.nodes) {
    py::dict d;
    d["block_id"] = n.block_id;
    d["tokens"] = py::cast(n.tokens);
    d["parent"] = n.parent ? py::object(py::int_(*n.parent)) : py::object(py::none());
    d["children"] = py::cast(n.children);
    d["active_requests"] = py::cast(n.active_requests);
    d["inactive_requests"] = py::cast(n.inactive_requests);
    d["shareable"] = n.shareable;
    d["on_device"] = n.on_device;
    nodes.append(d);
  }
  py::dict requests;
  for (const auto& [rid, r] : s.requests) {
    py::list blocks;
    for (const auto& b : r.blocks) {
      py::dict bd;
      bd["block_id"] = b.block_id;
      bd["on_device"] = b.on_device;
      bd["shareable"] = b.shareable;
      blocks.append(bd);
    }
    py::dict rd;
    rd["state"] = r.state;
    rd["shared_block_num"] = r.shared_block_num;
    rd["blocks"] = blocks;
    rd["block_ids"] = py::cast(r.block_ids);
    requests[py::int_(rid)] = rd;
  }
  py::dict d;
  d["block_size"] = s.block_size;
  d["nodes"] = nodes;
  d["timed"] = py::cast(s.timed);
  d["reusable"] = py::cast(s.reusable);
  d["free"] = py::cast(s.free);
  d["host_free"] = py::cast(s.host_free);
  d["requests"] = requests;
  d["usable"] = s.usable;
  d["future_free"] = s.future_free;
  d["leaked"] = s.leaked;
  return d;
}

// Request ids 0..kInternedIds-1 as shared int objects, as CPython shares -5..256: a step's waiting list
// can hold thousands of ids, read every step, and making a new int for each costs more than the step.
// Bounded (at most kInternedIds objects), made on first use, kept for the life of the process.
constexpr int64_t kInternedIds = int64_t{1} << 16;

// The shared objects made so far, indexed by id (null where none was made yet).
std::vector<PyObject*>& InternedIds() {
  static std::vector<PyObject*> interned;
  return interned;
}

PyObject* IdObject(int64_t id) {
  if (id < 0 || id >= kInternedIds) return PyLong_FromLongLong(id);
  std::vector<PyObject*>& interned = InternedIds();
  if (static_cast<size_t>(id) >= interned.size()) {
    interned.resize(std::min<size_t>(static_cast<size_t>(kInternedIds), 2 * static_cast<size_t>(id) + 64), nullptr);
  }
  PyObject*& obj = interned[static_cast<size_t>(id)];
  if (obj == nullptr) {
    obj = PyLong_FromLongLong(id);
    if (obj == nullptr) return nullptr;
  }
  Py_INCREF(obj);
  return obj;
}

// A list of ints built straight from the vector: the step loop reads these every step (the waiting
// queue alone can hold a thousand ids), so skip pybind11's generic caster and keep the common case --
// an id whose shared object exists -- to a table load and an incref.
py::list IdList(const std::vector<int64_t>& ids) {
  py::list out(ids.size());
  PyObject** items = reinterpret_cast<PyListObject*>(out.ptr())->ob_item;
  const std::vector<PyObject*>& interned = InternedIds();
  for (size_t i = 0; i < ids.size(); ++i) {
    const uint64_t id = static_cast<uint64_t>(ids[i]);
    PyObject* v = id < interned.size() ? interned[id] : nullptr;
    if (v != nullptr) {
      Py_INCREF(v);
    } else {
      v = IdObject(ids[i]);  // may grow the table; `interned` is re-read through the reference
      if (v == nullptr) throw py::error_already_set();
    }
    items[i] = v;
  }
  return out;
}

// Tokens from Python: a list or tuple of exact ints is read item by item without pybind11's generic
// sequence caster (prompts are thousands of tokens); anything else goes through that caster.
std::vector<int> TokensFrom(const py::handle& seq, const char* what) {
  std::vector<int> out;
  if (LoadPlainInts(seq.ptr(), out)) return out;
  try {
    return seq.cast<std::vector<int>>();
  } catch (const py::cast_error&) {
    throw py::type_error(std::string(what) + " must be a sequence of ints (32-bit)");
  }
}

py::list PairList(const std::vector<std::pair<int64_t, int64_t>>& pairs, bool as_tuples) {
  py::list out;
  for (const auto& [a, b] : pairs) {
    if (as_tuples) {
      out.append(py::make_tuple(a, b));
    } else {
      py::list l;
      l.append(a);
      l.append(b);
      out.append(l);
    }
  }
  return out;
}

py::dict PairDict(const std::vector<std::pair<int64_t, int64_t>>& pairs) {
  py::dict d;
  for (const auto& [k, v] : pairs) d[py::int_(k)] = v;
  return d;
}

py::dict StepResultDict(const StepResult& r) {
  py::dict d;
  d["step"] = r.step;
  d["prefill"] = PairList(r.prefill, false);
  d["decode"] = IdList(r.decode);
  d["swapped_out"] = IdList(r.swapped_out);
  d["swapped_in"] = IdList(r.swapped_in);
  d["recomputed"] = IdList(r.recomputed);
  d["finished"] = IdList(r.finished);
  d["timed_out"] = IdList(r.timed_out);
  d["waiting"] = IdList(r.waiting);
  d["running"] = IdList(r.running);
  d["swapped"] = IdList(r.swapped);
  d["prefix_hit_tokens"] = PairDict(r.prefix_hit_tokens);
  d["usable_blocks"] = r.usable_blocks;
  d["swapin_merged"] = IdList(r.swapin_merged);
  d["swapout_merged"] = IdList(r.swapout_merged);
  d["reusable_blocks"] = r.reusable_blocks;
  d["rejected"] = IdList(r.rejected);
  return d;
}

void BindConfigs(py::module_& m) {
  py::class_<CacheConfig>(m, "CacheConfig",
                          "The prefix cache's configuration (KsanaLLM's CacheManagerConfig, reduced).\n\n"
                          "Fields: block_size (tokens per block), device_blocks, host_blocks, "
                          "enable_prefix_caching, fix_upstream_bugs (correct KsanaLLM's bookkeeping bugs).")
      .def(py::init([](int64_t block_size, int64_t device_blocks, int64_t host_blocks, bool enable_prefix_caching,
                       bool fix_upstream_bugs) {
             return CacheConfig{block_size, device_blocks, host_blocks, enable_prefix_caching, fix_upstream_bugs};
           }),
           py::arg("block_size") = 16, py::arg("device_blocks") = 100, py::arg("host_blocks") = 100,
           py::arg("enable_prefix_caching") = true, py::arg("fix_upstream_bugs") = false,
           "Build a config; values are checked when a PrefixCacheManager is built from it.")
      .def_readwrite("block_size", &CacheConfig::block_size, "Tokens per block (KsanaLLM: block_token_num).")
      .def_readwrite("device_blocks", &CacheConfig::device_blocks, "Device (GPU) blocks in the pool.")
      .def_readwrite("host_blocks", &CacheConfig::host_blocks, "Host (CPU) blocks available to swap-out.")
      .def_readwrite("enable_prefix_caching", &CacheConfig::enable_prefix_caching,
                     "Share computed blocks between requests through the prefix tree.")
      .def_readwrite("fix_upstream_bugs", &CacheConfig::fix_upstream_bugs,
                     "Correct KsanaLLM's known bookkeeping bugs instead of reproducing them.")
      .def(
          "__eq__",
          [](const CacheConfig& a, const CacheConfig& b) {
            return a.block_size == b.block_size && a.device_blocks == b.device_blocks &&
                   a.host_blocks == b.host_blocks && a.enable_prefix_caching == b.enable_prefix_caching &&
                   a.fix_upstream_bugs == b.fix_upstream_bugs;
          },
          py::is_operator())
      .def("__repr__", [](const CacheConfig& c) {
        return "CacheConfig(block_size=" + std::to_string(c.block_size) +
               ", device_blocks=" + std::to_string(c.device_blocks) + ", host_blocks=" + std::to_string(c.host_blocks) +
               ", enable_prefix_caching=" + BoolRepr(c.enable_prefix_caching) +
               ", fix_upstream_bugs=" + BoolRepr(c.fix_upstream_bugs) + ")";
      });

  py::class_<SchedulerConfig>(m, "SchedulerConfig",
                              "The scheduler's configuration (the parts of KsanaLLM's BatchSchedulerConfig that "
                              "ContinuousBatchingStrategy reads). preempt_mode is 'swap' or 'recompute'; "
                              "waiting_timeout_steps and max_waiting_queue_len accept None (no limit).")
      .def(py::init([](int64_t block_size, int64_t device_blocks, int64_t host_blocks, int64_t max_batch_size,
                       int64_t max_step_token_num, int64_t split_fuse_token_num, std::string preempt_mode,
                       bool enable_prefix_caching, std::optional<int64_t> waiting_timeout_steps,
                       std::optional<int64_t> max_waiting_queue_len, double launch_block_threshold,
                       double swapin_block_threshold, bool fix_upstream_bugs, double swapout_block_threshold) {
             return SchedulerConfig{block_size,           device_blocks,          host_blocks,
                                    max_batch_size,       max_step_token_num,     split_fuse_token_num,
                                    std::move(preempt_mode), enable_prefix_caching, waiting_timeout_steps,
                                    max_waiting_queue_len, launch_block_threshold, swapin_block_threshold,
                                    fix_upstream_bugs,    swapout_block_threshold};
           }),
           py::arg("block_size") = 16, py::arg("device_blocks") = 100, py::arg("host_blocks") = 100,
           py::arg("max_batch_size") = 8, py::arg("max_step_token_num") = 4096, py::arg("split_fuse_token_num") = 0,
           py::arg("preempt_mode") = "swap", py::arg("enable_prefix_caching") = true,
           py::arg("waiting_timeout_steps") = 600000, py::arg("max_waiting_queue_len") = 256,
           py::arg("launch_block_threshold") = 2.0, py::arg("swapin_block_threshold") = 2.0,
           py::arg("fix_upstream_bugs") = false, py::arg("swapout_block_threshold") = 1.0,
           "Build a config with KsanaLLM's defaults; values are checked when a Scheduler is built from it.")
      .def_readwrite("block_size", &SchedulerConfig::block_size, "Tokens per block.")
      .def_readwrite("device_blocks", &SchedulerConfig::device_blocks, "Device blocks in the pool.")
      .def_readwrite("host_blocks", &SchedulerConfig::host_blocks, "Host blocks available to swap-out.")
      .def_readwrite("max_batch_size", &SchedulerConfig::max_batch_size, "Most requests in one step.")
      .def_readwrite("max_step_token_num", &SchedulerConfig::max_step_token_num, "Most tokens computed in one step.")
      .def_readwrite("split_fuse_token_num", &SchedulerConfig::split_fuse_token_num,
                     "Chunked-prefill size; 0 turns split-fuse off.")
      .def_readwrite("preempt_mode", &SchedulerConfig::preempt_mode, "'swap' or 'recompute'.")
      .def_readwrite("enable_prefix_caching", &SchedulerConfig::enable_prefix_caching, "Use the prefix tree.")
      .def_readwrite("waiting_timeout_steps", &SchedulerConfig::waiting_timeout_steps,
                     "Steps after arrival when a request times out, or None.")
      .def_readwrite("max_waiting_queue_len", &SchedulerConfig::max_waiting_queue_len,
                     "Capacity of the waiting buffer, or None.")
      .def_readwrite("launch_block_threshold", &SchedulerConfig::launch_block_threshold,
                     "Blocks kept free per running request before launching a waiting one.")
      .def_readwrite("swapin_block_threshold", &SchedulerConfig::swapin_block_threshold,
                     "Blocks kept free per running request before swapping one in.")
      .def_readwrite("fix_upstream_bugs", &SchedulerConfig::fix_upstream_bugs,
                     "Correct KsanaLLM's known bookkeeping bugs instead of reproducing them.")
      .def_readwrite("swapout_block_threshold", &SchedulerConfig::swapout_block_threshold,
                     "KsanaLLM's swapout_block_threshold: configured, read by no scheduler code.")
      .def("cache_config", &SchedulerConfig::GetCacheConfig, "The cache manager's share of this configuration.")
      .def("__repr__", [](const SchedulerConfig& c) {
        return "SchedulerConfig(block_size=" + std::to_string(c.block_size) +
               ", device_blocks=" + std::to_string(c.device_blocks) + ", host_blocks=" + std::to_string(c.host_blocks) +
               ", max_batch_size=" + std::to_string(c.max_batch_size) +
               ", max_step_token_num=" + std::to_string(c.max_step_token_num) +
               ", split_fuse_token_num=" + std::to_string(c.split_fuse_token_num) + ", preempt_mode=" +
               Repr(c.preempt_mode) + ", enable_prefix_caching=" + BoolRepr(c.enable_prefix_caching) +
               ", waiting_timeout_steps=" + OptRepr(c.waiting_timeout_steps) +
               ", max_waiting_queue_len=" + OptRepr(c.max_waiting_queue_len) +
               ", launch_block_threshold=" + Repr(c.launch_block_threshold) +
               ", swapin_block_threshold=" + Repr(c.swapin_block_threshold) +
               ", fix_upstream_bugs=" + BoolRepr(c.fix_upstream_bugs) +
               ", swapout_block_threshold=" + Repr(c.swapout_block_threshold) + ")";
      });
}

void BindPrefixCacheManager(py::module_& m) {
  using M = PrefixCacheManager;
  py::class_<M>(m, "PrefixCacheManager",
                "KsanaLLM's prefix-cache block tree (PrefixCacheManager): reference counts, eviction in timed-list "
                "order and two-phase swap. Bookkeeping only; block ids are memory block ids. Every refused call "
                "raises codewalk.core.errors.CoreError and leaves the state as it was.")
      .def(py::init([](const py::object& config) { return std::make_unique<M>(CacheConfigFrom(config)); }),
           py::arg("config"),
           "Build from a CacheConfig (or any object with its fields); every device block starts free.")
      .def("get_request_prefix_block_number", &M::GetRequestPrefixBlockNumber, py::arg("req_id"), py::arg("tokens"),
           py::arg("check_token_num") = py::none(),
           "GetRequestPrefixBlockNumber: match full blocks of tokens against the tree, taking no references. "
           "Returns (shared_block_num, unique_block_num, shared_token_num).")
      .def("allocate_request_blocks", &M::AllocateRequestBlocks, py::arg("req_id"), py::arg("block_num"),
           "AllocateRequestBlocks: reference the matched blocks and take block_num free ones (evicting if needed). "
           "Returns the request's device block ids.")
      .def(
          "update_request_tokens",
          [](M& self, int64_t req_id, const std::vector<int>& kvcached_tokens,
             std::optional<int64_t> shareable_token_num) {
            const bool merged = self.UpdateRequestTokens(req_id, kvcached_tokens, shareable_token_num);
            return std::make_pair(self.RequestBlockIds(req_id), merged);
          },
          py::arg("req_id"), py::arg("kvcached_tokens"),
           py::arg("shareable_token_num") = py::none(),
           "UpdateRequestTokens: put newly filled blocks into the tree, merging duplicates. "
           "Returns (block ids, block_merged).")
      .def("free_cached_blocks", py::overload_cast<int64_t>(&M::FreeCachedBlocks), py::arg("block_num"),
           "FreeCachedBlocks: evict unreferenced tree blocks, newest first, each with its subtree. "
           "Returns the number of blocks freed.")
      .def("destroy_finished_request", &M::DestroyFinishedRequest, py::arg("req_id"),
           "DestroyFinishedRequest: drop the request's references; unfilled blocks return to the free queue.")
      .def("swapout_request_async", &M::SwapoutRequestAsync, py::arg("req_id"),
           "SwapoutRequestAsync: start copying the blocks only this request uses to host. "
           "Returns (swapped_block_num, free_block_num).")
      .def("merge_swapout_request", &M::MergeSwapoutRequest, py::arg("req_id"),
           "MergeSwapoutRequest: finish the swap-out; the device blocks become free.")
      .def("swapin_request_async", &M::SwapinRequestAsync, py::arg("req_id"),
           "SwapinRequestAsync: reserve device blocks for the host blocks plus the next token. "
           "Returns the device blocks it needs.")
      .def("merge_swapin_request", &M::MergeSwapinRequest, py::arg("req_id"),
           "MergeSwapinRequest: finish the swap-in; blocks rejoin the tree (merging twins). Returns block ids.")
      .def("destroy_swapped_request", &M::DestroySwappedRequest, py::arg("req_id"),
           "DestroySwappedRequest: drop a swapped request; its own host blocks are freed.")
      .def("get_usable_block_number", &M::GetUsableBlockNumber, "GetUsableBlockNumber: free plus reusable blocks.")
      .def("get_future_free_block_number", &M::GetFutureFreeBlockNumber,
           "GetFutureFreeBlockNumber: blocks free once pending swap-outs merge.")
      .def("get_host_free_block_number", &M::GetHostFreeBlockNumber, "GetHostFreeBlockNumber: free host blocks.")
      .def("get_used_block_number", &M::GetUsedBlockNumber,
           "GetUsedBlockNumber: device blocks in use and not reusable.")
      .def("get_reusable_block_number", &M::GetReusableBlockNumber,
           "Tree blocks no request references (evictable).")
      .def("get_request_usable_block_number", &M::GetRequestUsableBlockNumber, py::arg("req_id"),
           "GetRequestUsableBlockNumber: usable blocks minus the request's own matched reusable ones.")
      .def("get_request_step_block_number", &M::GetRequestStepBlockNumber, py::arg("req_id"), py::arg("token_num"),
           "GetRequestStepBlockNumber: blocks still to allocate so token_num tokens fit.")
      .def("get_request_needed_block_num_for_one_next_token", &M::GetRequestNeededBlockNumForOneNextToken,
           py::arg("req_id"),
           "GetRequestNeededBlockNumForOneNextToken: host blocks to bring back plus one if the last block is full.")
      .def("request_block_ids", &M::RequestBlockIds, py::arg("req_id"),
           "The request's device block ids as the scheduler holds them (InferRequest::kv_cache_blocks).")
      .def("has_request", &M::HasRequest, py::arg("req_id"), "Whether the manager tracks this request.")
      .def("check_invariants", &M::CheckInvariants, "Raise CoreError naming the first broken invariant.")
      .def(
          "snapshot", [](const M& self) { return SnapshotDict(self.Snapshot()); },
          "Everything observable: tree nodes, timed list, reusable set, free queue, requests (a dict equal to "
          "the reference's).");
}

// StepResult's fields are plain getset descriptors rather than pybind11 properties: a user's loop reads
// every field of every step, and a property call goes through pybind11's generic dispatcher (about a
// microsecond each, more than converting most fields). The getter finds the C++ object with the caster
// pybind11 itself uses, so a wrong or uninitialised self is still a clean TypeError.
struct StepField {
  const char* name;
  const char* doc;
  py::object (*get)(const StepResult&);
};

template <std::vector<int64_t> StepResult::*Field>
py::object IdField(const StepResult& r) {
  return IdList(r.*Field);
}

template <int64_t StepResult::*Field>
py::object IntField(const StepResult& r) {
  return py::reinterpret_steal<py::object>(PyLong_FromLongLong(r.*Field));
}

const StepField kStepFields[] = {
    {"step", "The step's number (0-based).", &IntField<&StepResult::step>},
    {"prefill", "(req_id, tokens computed this step) for each prefill.",
     [](const StepResult& r) -> py::object { return PairList(r.prefill, true); }},
    {"decode", "Requests that decoded one token.", &IdField<&StepResult::decode>},
    {"swapped_out", "Swap-outs started this step.", &IdField<&StepResult::swapped_out>},
    {"swapped_in", "Swap-ins started this step.", &IdField<&StepResult::swapped_in>},
    {"recomputed", "Requests sent back to the waiting queue.", &IdField<&StepResult::recomputed>},
    {"finished", "Requests that finished.", &IdField<&StepResult::finished>},
    {"timed_out", "Requests stopped by the waiting timeout.", &IdField<&StepResult::timed_out>},
    {"waiting", "The waiting queue after the step.", &IdField<&StepResult::waiting>},
    {"running", "The decoding queue after the step.", &IdField<&StepResult::running>},
    {"swapped", "Swapped (or swapping) requests after the step.", &IdField<&StepResult::swapped>},
    {"prefix_hit_tokens", "{req_id: tokens found in the prefix cache}.",
     [](const StepResult& r) -> py::object { return PairDict(r.prefix_hit_tokens); }},
    {"usable_blocks", "Usable device blocks after the step.", &IntField<&StepResult::usable_blocks>},
    {"swapin_merged", "Swap-ins merged this step.", &IdField<&StepResult::swapin_merged>},
    {"swapout_merged", "Swap-outs merged this step.", &IdField<&StepResult::swapout_merged>},
    {"reusable_blocks", "Reusable device blocks after the step.", &IntField<&StepResult::reusable_blocks>},
    {"rejected", "Requests refused at merge: the waiting queue was full.", &IdField<&StepResult::rejected>},
};
constexpr size_t kStepFieldCount = sizeof(kStepFields) / sizeof(kStepFields[0]);

const py::detail::type_info* StepResultTypeInfo() {
  static const py::detail::type_info* info = py::detail::get_type_info(typeid(StepResult));
  return info;
}

// The descriptor machinery has already checked that self is a StepResult (or a subclass); an instance
// made by __new__ without __init__ holds no StepResult yet, and reading it is refused.
PyObject* GetStepField(PyObject* self, void* closure) {
  try {
    const py::detail::value_and_holder vh =
        reinterpret_cast<py::detail::instance*>(self)->get_value_and_holder(StepResultTypeInfo(), false);
    if (!vh || !vh.holder_constructed() || vh.value_ptr() == nullptr) {
      PyErr_SetString(PyExc_TypeError, "StepResult field read before StepResult.__init__ ran");
      return nullptr;
    }
    const auto* field = static_cast<const StepField*>(closure);
    return field->get(*static_cast<const StepResult*>(vh.value_ptr())).release().ptr();
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
  return nullptr;
}

// One descriptor per field, installed on the bound class. The definitions must outlive the type: static.
void AddStepFields(py::class_<StepResult>& cls) {
  static PyGetSetDef defs[kStepFieldCount] = {};
  auto* type = reinterpret_cast<PyTypeObject*>(cls.ptr());
  for (size_t i = 0; i < kStepFieldCount; ++i) {
    const StepField& f = kStepFields[i];
    defs[i] = PyGetSetDef{f.name, &GetStepField, nullptr, f.doc, const_cast<StepField*>(&f)};
    PyObject* descr = PyDescr_NewGetSet(type, &defs[i]);
    if (descr == nullptr) throw py::error_already_set();
    cls.attr(f.name) = py::reinterpret_steal<py::object>(descr);
  }
}

// Scheduler.has_work() and .step_count are read once or twice every turn of a user's loop; like
// StepResult's fields they skip pybind11's dispatcher (a plain method and a getset descriptor).
ContinuousBatchingStrategy* SchedulerSelf(PyObject* self) {
  static const py::detail::type_info* info = py::detail::get_type_info(typeid(ContinuousBatchingStrategy));
  const py::detail::value_and_holder vh = reinterpret_cast<py::detail::instance*>(self)->get_value_and_holder(info, false);
  if (!vh || !vh.holder_constructed() || vh.value_ptr() == nullptr) {
    PyErr_SetString(PyExc_TypeError, "Scheduler used before Scheduler.__init__ ran");
    return nullptr;
  }
  return static_cast<ContinuousBatchingStrategy*>(vh.value_ptr());
}

PyObject* SchedulerHasWork(PyObject* self, PyObject*) {
  const ContinuousBatchingStrategy* s = SchedulerSelf(self);
  if (s == nullptr) return nullptr;
  return PyBool_FromLong(s->HasWork() ? 1 : 0);
}

PyObject* SchedulerStepCount(PyObject* self, void*) {
  const ContinuousBatchingStrategy* s = SchedulerSelf(self);
  if (s == nullptr) return nullptr;
  return PyLong_FromLongLong(s->step_count());
}

void AddSchedulerFastPaths(py::class_<ContinuousBatchingStrategy>& cls) {
  static PyMethodDef has_work{"has_work", &SchedulerHasWork, METH_NOARGS, "Whether any queue still holds a request."};
  static PyGetSetDef step_count{"step_count", &SchedulerStepCount, nullptr, "Steps run so far.", nullptr};
  auto* type = reinterpret_cast<PyTypeObject*>(cls.ptr());
  PyObject* method = PyDescr_NewMethod(type, &has_work);
  if (method == nullptr) throw py::error_already_set();
  cls.attr("has_work") = py::reinterpret_steal<py::object>(method);
  PyObject* getter = PyDescr_NewGetSet(type, &step_count);
  if (getter == nullptr) throw py::error_already_set();
  cls.attr("step_count") = py::reinterpret_steal<py::object>(getter);
}

void BindScheduler(py::module_& m) {
  py::class_<StepResult> step_result(m, "StepResult", "What one Scheduler.step() did, in KsanaLLM's order of work.");
  AddStepFields(step_result);
  step_result.def(py::init<>(), "An empty result.")
      .def("to_dict", &StepResultDict, "A JSON-ready dict equal to the reference's to_dict().")
      .def(
          "__eq__",
          [](const StepResult& a, const py::object& b) -> py::object {
            if (!py::isinstance<StepResult>(b)) return py::reinterpret_borrow<py::object>(Py_NotImplemented);
            return py::bool_(StepResultDict(a).equal(StepResultDict(b.cast<const StepResult&>())));
          },
          py::is_operator())
      .def("__repr__", [](const StepResult& r) { return "StepResult(" + Repr(StepResultDict(r)) + ")"; });

  using S = ContinuousBatchingStrategy;
  py::class_<S> scheduler(m, "Scheduler",
                "KsanaLLM's ContinuousBatchingStrategy over a PrefixCacheManager, stepped deterministically: "
                "each step() is one Schedule() (decoding, swapped, waiting queue), a fake forward pass and "
                "UpdateRunningRequests. Time is the step counter.");
  AddSchedulerFastPaths(scheduler);
  scheduler
      .def(py::init([](const py::object& config) { return std::make_unique<S>(SchedulerConfigFrom(config)); }),
           py::arg("config"), "Build from a SchedulerConfig (or any object with its fields).")
      .def(
          "add_request",
          [](S& self, int64_t req_id, const py::handle& prompt_tokens, int64_t max_new_tokens,
             const py::handle& output_tokens) {
            self.AddRequest(req_id, TokensFrom(prompt_tokens, "add_request: prompt_tokens"), max_new_tokens,
                            output_tokens.is_none() ? std::vector<int>{}
                                                    : TokensFrom(output_tokens, "add_request: output_tokens"));
          },
          py::arg("req_id"), py::arg("prompt_tokens"), py::arg("max_new_tokens"), py::arg("output_tokens") = py::none(),
          "Queue a request for the next step (BatchScheduler::EnqueueWaitingBufferQueue). output_tokens, if "
          "given, replace the fake model's tokens.")
      .def("step", &S::Step, "One Schedule + fake forward + UpdateRunningRequests; returns a StepResult.")
      .def("run", &S::Run, py::arg("max_steps"),
           "Step until every request is done or max_steps steps have run; returns the StepResults.")
      .def(
          "replay",
          [](S& self, const py::iterable& workload, std::optional<int64_t> max_steps) {
            std::vector<Arrival> arrivals;
            size_t index = 0;
            for (py::handle item : workload) {
              const std::string where = "replay: workload item " + std::to_string(index++);
              if (!PySequence_Check(item.ptr()) || PySequence_Size(item.ptr()) != 4) {
                PyErr_Clear();
                throw py::type_error(where + " must be (arrival_step, req_id, prompt_tokens, max_new_tokens)");
              }
              const auto seq = py::reinterpret_borrow<py::sequence>(item);
              Arrival a;
              try {
                a.step = seq[0].cast<int64_t>();
                a.req_id = seq[1].cast<int64_t>();
                a.max_new_tokens = seq[3].cast<int64_t>();
              } catch (const py::cast_error&) {
                throw py::type_error(where + ": arrival_step, req_id and max_new_tokens must be ints");
              }
              a.prompt_tokens = TokensFrom(seq[2], (where + ": prompt_tokens").c_str());
              arrivals.push_back(std::move(a));
            }
            return self.Replay(std::move(arrivals), max_steps);
          },
          py::arg("workload"), py::arg("max_steps") = py::none(),
          "Run a whole workload in one call: before each step, add every (arrival_step, req_id, prompt_tokens, "
          "max_new_tokens) due by then (arrival_step <= step_count, in workload order, which must be sorted by "
          "arrival step); step until all have arrived and no work is left, or max_steps steps have run. Returns "
          "the StepResults -- the same as that loop written in Python.")
      .def("request_tokens", &S::RequestTokens, py::arg("req_id"),
           "All tokens of a live request (prompt + generated so far).")
      .def_property_readonly("cache", py::cpp_function(&S::cache, py::return_value_policy::reference_internal),
                             "The scheduler's PrefixCacheManager (kept alive by the scheduler).")
      .def_property_readonly("config", &S::config, "A copy of the scheduler's configuration.");

  m.def("fake_token", &FakeToken, py::arg("req_id"), py::arg("position"),
        "The fake model's token for a request at a sequence position (same rule as the reference).");
}

}  // namespace

// vLLM v1's block pool (bindings/vllm_kv_cache_manager.*), bound at the end of this file.
void BindVllmKVCacheManager(py::module_& m);

PYBIND11_MODULE(_core, m) {
  m.doc() =
      "codewalk's C++17 core: KsanaLLM's PrefixCacheManager and ContinuousBatchingStrategy (c451219c), "
      "bound with pybind11. Refused calls raise codewalk.core.errors.CoreError.";
  py::register_local_exception_translator(&TranslateCoreError);  // ours only: never rewrites another module's errors
  BindConfigs(m);
  BindPrefixCacheManager(m);
  BindScheduler(m);
  BindVllmKVCacheManager(m);
}

// ---- vLLM v1 block pool --------------------------------------------------------------------------
// BlockPool + FreeKVCacheBlockQueue + one full-attention KVCacheManager group (vLLM 0.33.0), as
// codewalk.core.ref_vllm models it. Kept apart from the KsanaLLM bindings above.

#include <cstring>
#include <unordered_map>

#include "vllm_kv_cache_manager.h"

namespace {

py::dict VllmSnapshotDict(const ksana_llm::VllmSnapshot& s) {
  py::list hashes;
  for (const auto& h : s.block_hash) hashes.append(h ? py::object(py::int_(*h)) : py::object(py::none()));
  py::dict cached;
  for (const auto& [h, ids] : s.cached) cached[py::int_(h)] = py::cast(ids);
  py::dict requests;
  for (const auto& r : s.requests) {
    py::dict rd;
    rd["block_ids"] = py::cast(r.block_ids);
    rd["num_cached_blocks"] = r.num_cached_blocks;
    rd["num_computed_tokens"] = r.num_computed_tokens;
    rd["num_tokens"] = r.num_tokens;
    requests[std::visit([](const auto& id) { return py::object(py::cast(id)); }, r.req_id)] = rd;
  }
  py::dict d;
  d["block_size"] = s.block_size;
  d["num_blocks"] = s.num_blocks;
  d["free_queue"] = py::cast(s.free_queue);
  d["ref_cnt"] = py::cast(s.ref_cnt);
  d["block_hash"] = hashes;
  d["cached"] = cached;
  d["requests"] = requests;
  return d;
}

// ---- VllmKVCacheManager.replay: a whole trace of calls in one crossing -----------------------------
//
// Three passes. (1) Check the trace's shape (every op a tuple naming a known call with the right
// arguments of the right types) and raise CoreError before anything runs if one is wrong.
// (2) Run every op in order. This pass touches no Python object except to read the trace, runs no
// Python code and allocates no Python object (so no GC, no finaliser can run), which makes the
// trace immutable while it runs: a token list's items are borrowed, and an item pointer equal to the
// one seen at the same position in the request's previous token list is the same int object, so
// only the new tail of a growing token list is converted. A call's CoreError is kept as its result.
// (3) Build the Python results (block ids as shared int objects).

enum class VllmOp : uint8_t {
  kGetComputedBlocks,
  kAllocateSlots,
  kFree,
  kFreeQueue,
  kCachedBlockIds,
  kNumFreeBlocks,
  kNumComputedTokens,
  kRequestBlockIds,
  kHasRequest
};

struct VllmOpSpec {
  const char* name;
  VllmOp op;
  int min_args, max_args;  // after the name
};

constexpr VllmOpSpec kVllmOps[] = {
    {"get_computed_blocks", VllmOp::kGetComputedBlocks, 2, 2},
    {"allocate_slots", VllmOp::kAllocateSlots, 3, 5},
    {"free", VllmOp::kFree, 1, 1},
    {"free_queue", VllmOp::kFreeQueue, 0, 0},
    {"cached_block_ids", VllmOp::kCachedBlockIds, 0, 0},
    {"num_free_blocks", VllmOp::kNumFreeBlocks, 0, 0},
    {"num_computed_tokens", VllmOp::kNumComputedTokens, 1, 1},
    {"request_block_ids", VllmOp::kRequestBlockIds, 1, 1},
    {"has_request", VllmOp::kHasRequest, 1, 1},
};
constexpr size_t kNumVllmOps = sizeof(kVllmOps) / sizeof(kVllmOps[0]);

// The op names as interned str objects: names written as literals in Python are the same objects,
// so most ops are recognised by one pointer comparison. Created once, never released (see CoreErrorClass).
const std::vector<PyObject*>& VllmOpNames() {
  PYBIND11_CONSTINIT static py::gil_safe_call_once_and_store<std::vector<PyObject*>> storage;
  return storage
      .call_once_and_store_result([]() {
        std::vector<PyObject*> names;
        for (const auto& spec : kVllmOps) names.push_back(PyUnicode_InternFromString(spec.name));
        return names;
      })
      .get_stored();
}

struct VllmParsedOp {
  VllmOp op;
  bool full = false;
  ksana_llm::VllmRequestId req;
  int64_t num_new = 0;
  PyObject* tokens = nullptr;  // borrowed from the trace: a list or tuple, of which the first ntok items
  int64_t ntok = 0;
  uint32_t hit_begin = 0, hit_end = 0;  // into VllmReplay::hits
};

// What one op returned: ok/none/error, and a value (int, bool) or a range of `ids`.
struct VllmResult {
  enum Kind : uint8_t { kNone, kIds, kIdsAndInt, kInt, kBool, kNull, kError } kind = kNone;
  int64_t value = 0;
  size_t begin = 0, end = 0;  // ids range, or index into errors
};

[[noreturn]] void ReplayShapeError(size_t i, const std::string& detail) {
  throw CoreError("replay: operation " + std::to_string(i) + ": " + detail);
}

bool ExactInt64(PyObject* o, int64_t* out) {
  if (!PyLong_CheckExact(o)) return false;
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
  if (overflow != 0 || (v == -1 && PyErr_Occurred())) {
    PyErr_Clear();
    return false;
  }
  *out = static_cast<int64_t>(v);
  return true;
}

// vLLM's request ids: a str (vLLM's own type) or an exact int in 64 bits.
bool RequestId(PyObject* o, ksana_llm::VllmRequestId* out) {
  if (PyUnicode_Check(o)) {
    Py_ssize_t n = 0;
    const char* utf8 = PyUnicode_AsUTF8AndSize(o, &n);
    if (utf8 == nullptr) {  // lone surrogates: not encodable
      PyErr_Clear();
      return false;
    }
    *out = std::string(utf8, static_cast<size_t>(n));
    return true;
  }
  int64_t v = 0;
  if (!ExactInt64(o, &v)) return false;
  *out = v;
  return true;
}

// A request's last token list as converted: its item pointers and their values.
struct VllmTokenShadow {
  PyObject* seq = nullptr;  // items are seq's first items.size() items
  std::vector<PyObject*> items;
  std::vector<int> values;
  std::vector<uint64_t> hashes;  // chain hashes of values' first full blocks
  size_t synced = 0;  // values[0, synced) equal the manager's stored tokens of this request
};

class VllmReplay {
 public:
  explicit VllmReplay(ksana_llm::VllmKVCacheManager& mgr) : mgr_(mgr) {}

  py::list Run(const py::handle& trace) {
    Parse(trace);
    Execute();
    return Build();
  }

 private:
  void Parse(const py::handle& trace) {
    PyObject* t = trace.ptr();
    if (!PyList_CheckExact(t) && !PyTuple_CheckExact(t)) {
      throw CoreError("replay: the trace must be a list or tuple of operation tuples");
    }
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(t);
    PyObject** items = PySequence_Fast_ITEMS(t);
    const auto& names = VllmOpNames();
    ops_.reserve(static_cast<size_t>(n));
    for (Py_ssize_t i = 0; i < n; ++i) {
      const auto idx = static_cast<size_t>(i);
      PyObject* o = items[i];
      if (!PyTuple_Check(o) || PyTuple_GET_SIZE(o) == 0) ReplayShapeError(idx, "not a non-empty tuple");
      PyObject* name = PyTuple_GET_ITEM(o, 0);
      size_t k = 0;
      while (k < kNumVllmOps && names[k] != name) ++k;
      if (k == kNumVllmOps) {
        if (!PyUnicode_Check(name)) ReplayShapeError(idx, "the operation name is not a str");
        for (k = 0; k < kNumVllmOps; ++k) {
          if (PyUnicode_CompareWithASCIIString(name, kVllmOps[k].name) == 0) break;
        }
        if (k == kNumVllmOps) {
          const char* utf8 = PyUnicode_AsUTF8(name);
          if (utf8 == nullptr) PyErr_Clear();
          ReplayShapeError(idx, std::string("unknown operation '") + (utf8 ? utf8 : "?") + "'");
        }
      }
      const VllmOpSpec& spec = kVllmOps[k];
      const Py_ssize_t nargs = PyTuple_GET_SIZE(o) - 1;
      if (nargs < spec.min_args || nargs > spec.max_args) {
        ReplayShapeError(idx, std::string(spec.name) + " takes " + std::to_string(spec.min_args) +
                                  (spec.max_args != spec.min_args ? " to " + std::to_string(spec.max_args) : "") +
                                  " arguments, got " + std::to_string(nargs));
      }
      VllmParsedOp p;
      p.op = spec.op;
      if (nargs >= 1 && !RequestId(PyTuple_GET_ITEM(o, 1), &p.req)) {
        ReplayShapeError(idx, std::string(spec.name) + ": req_id must be a str or an int (64-bit)");
      }
      if (spec.op == VllmOp::kGetComputedBlocks || spec.op == VllmOp::kAllocateSlots) {
        p.tokens = PyTuple_GET_ITEM(o, 2);
        if (!PyList_CheckExact(p.tokens) && !PyTuple_CheckExact(p.tokens)) {
          ReplayShapeError(idx, std::string(spec.name) + ": tokens must be a list or tuple");
        }
        p.ntok = PySequence_Fast_GET_SIZE(p.tokens);
        // (base, n): the first n tokens of base, a request's growing token list.
        if (p.ntok == 2 && PyTuple_CheckExact(p.tokens)) {
          PyObject* base = PyTuple_GET_ITEM(p.tokens, 0);
          if (PyList_CheckExact(base) || PyTuple_CheckExact(base)) {
            if (!ExactInt64(PyTuple_GET_ITEM(p.tokens, 1), &p.ntok) || p.ntok < 0 ||
                p.ntok > PySequence_Fast_GET_SIZE(base)) {
              ReplayShapeError(idx, std::string(spec.name) + ": tokens (base, n) needs an int 0 <= n <= len(base)");
            }
            p.tokens = base;
          }
        }
      }
      if (spec.op == VllmOp::kAllocateSlots) {
        if (!ExactInt64(PyTuple_GET_ITEM(o, 3), &p.num_new)) {
          ReplayShapeError(idx, "allocate_slots: num_new_tokens must be an int (64-bit)");
        }
        p.hit_begin = p.hit_end = static_cast<uint32_t>(hits_.size());
        if (nargs >= 4) {
          PyObject* h = PyTuple_GET_ITEM(o, 4);
          if (!PyList_CheckExact(h) && !PyTuple_CheckExact(h)) {
            ReplayShapeError(idx, "allocate_slots: hit_block_ids must be a list or tuple");
          }
          const Py_ssize_t nh = PySequence_Fast_GET_SIZE(h);
          PyObject** hi = PySequence_Fast_ITEMS(h);
          for (Py_ssize_t j = 0; j < nh; ++j) {
            int64_t b = 0;
            if (!ExactInt64(hi[j], &b)) ReplayShapeError(idx, "allocate_slots: hit_block_ids must be ints (64-bit)");
            hits_.push_back(b);
          }
          p.hit_end = static_cast<uint32_t>(hits_.size());
        }
        if (nargs >= 5) {
          PyObject* f = PyTuple_GET_ITEM(o, 5);
          if (!PyBool_Check(f)) ReplayShapeError(idx, "allocate_slots: full_sequence_must_fit must be a bool");
          p.full = f == Py_True;
        }
      }
      ops_.push_back(p);
    }
  }

  // The op's token list as ints, in the request's shadow; false if an item is not an int in 32 bits.
  bool Convert(const ksana_llm::VllmRequestId& req, PyObject* seq, size_t n, VllmTokenShadow*& out) {
    auto it = shadows_.find(req);
    if (it == shadows_.end()) {
      it = shadows_.emplace(req, TakeShadow()).first;
    }
    VllmTokenShadow& sh = it->second;
    out = &sh;
    PyObject** items = PySequence_Fast_ITEMS(seq);
    // Longest prefix of identical item objects: equal values without reading them. The same list
    // object as last time is unchanged in this replay, so its prefix needs no comparing at all.
    size_t k = std::min(n, sh.items.size());
    if (seq != sh.seq && k != 0 && std::memcmp(items, sh.items.data(), k * sizeof(PyObject*)) != 0) {
      size_t j = 0;
      while (items[j] == sh.items[j]) ++j;
      k = j;
    }
    if (k == n && n == sh.items.size()) {
      sh.seq = seq;
      return true;
    }
    sh.seq = nullptr;
    sh.items.resize(k);
    sh.values.resize(k);
    sh.hashes.resize(std::min(sh.hashes.size(), k / static_cast<size_t>(mgr_.block_size())));
    sh.synced = std::min(sh.synced, k);
    for (size_t j = k; j < n; ++j) {
      PyObject* item = items[j];
      if (!PyLong_CheckExact(item)) return false;
      long v = 0;
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000 && !defined(Py_LIMITED_API)
      // CPython 3.11's int layout: |ob_size| digits of 30 bits; 0 or 1 digit covers |v| < 2**30.
      const Py_ssize_t size = Py_SIZE(item);
      if (size == 0) {
        v = 0;
      } else if (size == 1 || size == -1) {
        v = static_cast<long>(size) * static_cast<long>(reinterpret_cast<PyLongObject*>(item)->ob_digit[0]);
      } else
#endif
      {
        int overflow = 0;
        v = PyLong_AsLongAndOverflow(item, &overflow);
        if (overflow != 0 || v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) {
          return false;
        }
      }
      sh.items.push_back(item);
      sh.values.push_back(static_cast<int>(v));
    }
    sh.seq = seq;
    return true;
  }

  VllmTokenShadow TakeShadow() {
    if (spare_.empty()) return {};
    VllmTokenShadow sh = std::move(spare_.back());
    spare_.pop_back();
    return sh;
  }

  void DropShadow(const ksana_llm::VllmRequestId& req) {
    auto it = shadows_.find(req);
    if (it == shadows_.end()) return;
    it->second.seq = nullptr;
    it->second.items.clear();
    it->second.values.clear();
    it->second.hashes.clear();
    it->second.synced = 0;
    spare_.push_back(std::move(it->second));
    shadows_.erase(it);
  }

  void Error(const std::string& message) {
    results_.push_back({VllmResult::kError, 0, errors_.size(), 0});
    errors_.push_back(message);
  }

  void Ids(VllmResult::Kind kind, int64_t value) {
    results_.push_back({kind, value, ids_begin_, ids_.size()});
  }

  void Execute() {
    results_.reserve(ops_.size());
    std::vector<int64_t> buf;
    for (const VllmParsedOp& p : ops_) {
      ids_begin_ = ids_.size();
      try {
        switch (p.op) {
          case VllmOp::kGetComputedBlocks:
          case VllmOp::kAllocateSlots: {
            const bool lookup = p.op == VllmOp::kGetComputedBlocks;
            VllmTokenShadow* sh = nullptr;
            if (!Convert(p.req, p.tokens, static_cast<size_t>(p.ntok), sh)) {
              DropShadow(p.req);
              Error(std::string(lookup ? "get_computed_blocks(" : "allocate_slots(") + ksana_llm::VllmRequestIdText(p.req) +
                    "): tokens must be 32-bit ints");
              break;
            }
            const int* tok = sh->values.data();
            const auto ntok = static_cast<int64_t>(sh->values.size());
            // Block hashes are kept with the converted tokens: a lookup and the new request's
            // allocation that follows hash the prompt once between them.
            const int64_t bs = mgr_.block_size();
            const uint64_t* hashes = nullptr;
            if (lookup || !mgr_.HasRequest(p.req)) {
              mgr_.ExtendHashesTo(tok, lookup ? std::max<int64_t>(ntok - 1, 0) / bs : ntok / bs, sh->hashes);
              hashes = sh->hashes.data();
            }
            if (lookup) {
              const int64_t hit_tokens = mgr_.GetComputedBlocksInto(p.req, tok, ntok, buf, hashes);
              ids_.insert(ids_.end(), buf.begin(), buf.end());
              Ids(VllmResult::kIdsAndInt, hit_tokens);
            } else if (mgr_.AllocateSlotsInto(p.req, tok, ntok, p.num_new, hits_.data() + p.hit_begin,
                                              p.hit_end - p.hit_begin, p.full, buf, hashes,
                                              static_cast<int64_t>(sh->synced))) {
              sh->synced = sh->values.size();  // the request now stores exactly these tokens
              ids_.insert(ids_.end(), buf.begin(), buf.end());
              Ids(VllmResult::kIds, 0);
            } else {
              results_.push_back({VllmResult::kNull});
            }
            break;
          }
          case VllmOp::kFree:
            mgr_.Free(p.req);
            DropShadow(p.req);
            results_.push_back({VllmResult::kNone});
            break;
          case VllmOp::kFreeQueue:
            mgr_.FreeQueueInto(ids_);
            Ids(VllmResult::kIds, 0);
            break;
          case VllmOp::kCachedBlockIds:
            mgr_.CachedBlockIdsInto(ids_);
            Ids(VllmResult::kIds, 0);
            break;
          case VllmOp::kNumFreeBlocks:
            results_.push_back({VllmResult::kInt, mgr_.NumFreeBlocks()});
            break;
          case VllmOp::kNumComputedTokens:
            results_.push_back({VllmResult::kInt, mgr_.NumComputedTokens(p.req)});
            break;
          case VllmOp::kRequestBlockIds: {
            const auto* blocks = mgr_.FindRequestBlocks(p.req);
            if (blocks == nullptr) {
              Error("request_block_ids(" + ksana_llm::VllmRequestIdText(p.req) + "): unknown request");
              break;
            }
            ids_.insert(ids_.end(), blocks->begin(), blocks->end());
            Ids(VllmResult::kIds, 0);
            break;
          }
          case VllmOp::kHasRequest:
            results_.push_back({VllmResult::kBool, mgr_.HasRequest(p.req) ? 1 : 0});
            break;
        }
      } catch (const CoreError& e) {
        ids_.resize(ids_begin_);
        Error(e.what());
      }
    }
  }

  PyObject* Id(int64_t b) {
    if (b < 0 || b >= static_cast<int64_t>(id_objects_.size())) return PyLong_FromLongLong(b);
    PyObject*& o = id_objects_[static_cast<size_t>(b)];
    if (o == nullptr) {
      o = PyLong_FromLongLong(b);
      if (o == nullptr) return nullptr;
    }
    Py_INCREF(o);
    return o;
  }

  py::object IdList(const VllmResult& r) {
    const auto n = static_cast<Py_ssize_t>(r.end - r.begin);
    py::list out(n);
    for (Py_ssize_t j = 0; j < n; ++j) {
      PyObject* o = Id(ids_[r.begin + static_cast<size_t>(j)]);
      if (o == nullptr) throw py::error_already_set();
      PyList_SET_ITEM(out.ptr(), j, o);
    }
    return std::move(out);
  }

  py::list Build() {
    id_objects_.assign(static_cast<size_t>(mgr_.num_blocks()), nullptr);
    struct Release {
      std::vector<PyObject*>& v;
      ~Release() {
        for (PyObject* o : v) Py_XDECREF(o);
      }
    } release{id_objects_};
    py::list out(static_cast<Py_ssize_t>(results_.size()));
    py::str error_tag("error");
    for (size_t i = 0; i < results_.size(); ++i) {
      const VllmResult& r = results_[i];
      py::object v;
      switch (r.kind) {
        case VllmResult::kNone:
        case VllmResult::kNull:
          v = py::none();
          break;
        case VllmResult::kIds:
          v = IdList(r);
          break;
        case VllmResult::kIdsAndInt:
          v = py::make_tuple(IdList(r), py::int_(r.value));
          break;
        case VllmResult::kInt:
          v = py::int_(r.value);
          break;
        case VllmResult::kBool:
          v = py::bool_(r.value != 0);
          break;
        case VllmResult::kError:
          v = py::make_tuple(error_tag, py::str(errors_[r.begin]));
          break;
      }
      PyList_SET_ITEM(out.ptr(), static_cast<Py_ssize_t>(i), v.release().ptr());
    }
    return out;
  }

  ksana_llm::VllmKVCacheManager& mgr_;
  std::vector<VllmParsedOp> ops_;
  std::vector<int64_t> hits_;
  std::vector<VllmResult> results_;
  std::vector<int64_t> ids_;
  size_t ids_begin_ = 0;
  std::vector<std::string> errors_;
  std::unordered_map<ksana_llm::VllmRequestId, VllmTokenShadow> shadows_;
  std::vector<VllmTokenShadow> spare_;
  std::vector<PyObject*> id_objects_;
};

}  // namespace

void BindVllmKVCacheManager(py::module_& m) {
  using V = ksana_llm::VllmKVCacheManager;
  py::class_<V>(m, "VllmKVCacheManager",
                "vLLM v1's (0.33.0) BlockPool + FreeKVCacheBlockQueue + KVCacheManager for one full-attention "
                "group: null block 0, chained block hashes, caching at allocation, LRU free queue (uncached "
                "blocks reused first), touch on hit. Same API and results as codewalk.core.reference's.")
      .def(py::init<int64_t, int64_t>(), py::arg("num_blocks"), py::arg("block_size"),
           "num_blocks includes the null block 0.")
      .def("get_computed_blocks", &V::GetComputedBlocks, py::arg("req_id"), py::arg("tokens"),
           "KVCacheManager.get_computed_blocks: (hit block ids, hit tokens), at most len(tokens) - 1 tokens; "
           "takes no references.")
      .def(
          "allocate_slots",
          [](V& self, const ksana_llm::VllmRequestId& req_id, const std::vector<int>& tokens, int64_t num_new_tokens,
             const std::vector<int64_t>& hit_block_ids, bool full_sequence_must_fit) -> py::object {
            auto r = self.AllocateSlots(req_id, tokens, num_new_tokens, hit_block_ids, full_sequence_must_fit);
            if (!r) return py::none();
            return py::cast(*r);
          },
          py::arg("req_id"), py::arg("tokens"), py::arg("num_new_tokens"),
          py::arg("hit_block_ids") = std::vector<int64_t>{}, py::arg("full_sequence_must_fit") = false,
          "KVCacheManager.allocate_slots: new block ids for num_new_tokens more tokens after the hit, or None "
          "when the free queue is too short (nothing changes then). full_sequence_must_fit: also refuse unless "
          "blocks for all of tokens fit (vLLM's scheduler_reserve_full_isl admission gate).")
      .def("free", &V::Free, py::arg("req_id"), "KVCacheManager.free: release the request's blocks, last first.")
      .def(
          "replay", [](V& self, const py::handle& trace) { return VllmReplay(self).Run(trace); }, py::arg("trace"),
          "Run a list of calls, given as tuples (name, args...), in order in one crossing; return what each "
          "call would have returned. Names: get_computed_blocks, allocate_slots, free, free_queue, "
          "cached_block_ids, num_free_blocks, num_computed_tokens, request_block_ids, has_request; arguments as "
          "for the calls, positional, plain ints / bools / lists or tuples of ints; tokens may also be given as "
          "(base, n), a list or tuple and an int, meaning base[:n] (a request's growing token list, shared by "
          "its calls without copying). A call refused with "
          "CoreError gives ('error', message) in its place and the replay goes on (the call changed nothing). "
          "A malformed trace (not a list/tuple of tuples, unknown name, wrong argument count or types) raises "
          "CoreError before any call runs. Tokens that are not ints in 32 bits give that call's error.")
      .def("free_queue", &V::FreeQueue, "The free queue, head (next evicted) first.")
      .def("cached_block_ids", &V::CachedBlockIds, "Ids of blocks that carry a block hash, ascending.")
      .def("num_free_blocks", &V::NumFreeBlocks, "BlockPool.get_num_free_blocks.")
      .def("request_block_ids", &V::RequestBlockIds, py::arg("req_id"), "The request's block table.")
      .def("num_computed_tokens", &V::NumComputedTokens, py::arg("req_id"),
           "Tokens the request has slots and KV for (Request.num_computed_tokens).")
      .def("has_request", &V::HasRequest, py::arg("req_id"), "Whether the manager holds blocks for the request.")
      .def_property_readonly("block_size", &V::block_size, "Tokens per block.")
      .def_property_readonly("num_blocks", &V::num_blocks, "Blocks in the pool, the null block included.")
      .def("check_invariants", &V::CheckInvariants, "Raise CoreError naming the first broken invariant.")
      .def(
          "snapshot", [](const V& self) { return VllmSnapshotDict(self.Snapshot()); },
          "Everything observable: free queue, ref counts, hashes, the hash map, requests (equal to the "
          "reference's).");
}
