// codewalk: a pybind11 binding of KsanaLLM's real ContinuousBatchingStrategy.
//
// Compiled by `codewalk upstream build` together with 14 unmodified translation units of the
// user's checkout (the strategy, the request types, the prefix cache, ...) and codewalk's stand-in
// headers (standins/scheduler/). It is driven the way KsanaLLM's own scheduler test drives it
// (batch_scheduler_test_client.h, batch_scheduler_test_helper.h RunAStep), one DP group:
//   add_request  = BatchScheduler::AddInferRequest / EnqueueWaitingBufferQueue;
//   step()       = BatchScheduler::Schedule (BalanceWaitingReqs with the real BalanceReqsAlgo, then
//                  ContinuousBatchingStrategy::Schedule), TryToLaunchPlannedScheduleOutput (drop
//                  stopped requests, LaunchPlanningTask), a fake forward pass (RunAStep: set
//                  generated_tokens, cleared for a chunked prefill; swap copies complete here), and
//                  BatchScheduler::UpdateWithGenerationResult (UpdateRunningRequests).
// Time is a logical clock: during step k, GetCurrentTimeInMs() is k, and a request added before
// step k has timestamp_in_us = k * 1000; so waiting_timeout_in_ms counts steps.
// Swap copies run on the cache manager's real thread pool (one worker); each swap is queued behind
// a gate the fake forward pass opens, so a copy never completes inside the scheduler call.
// The Python face (codewalk/upstream/scheduler.py) turns what a step observed into a StepResult.
//
// Three shapes of the scheduler are driven (CODEWALK_STATE, from the checkout's batch_state.h by
// codewalk/upstream/api.py, feature "batch state"):
//   ASYNC_SWAP       (b9a053fc on) as above;
//   ASYNC_RECOMPUTE  (d38e67a0..43ba40b0) the same loop, but the strategy has no swap (a preempted
//                    request is recomputed) and no InferRequest::IsStopped (a stopped request is
//                    `finished`, which LaunchScheduleOutput skips);
//   SYNC             (12431117..7c026475) the synchronous scheduler: no planned tasks, the running
//                    list lives in the schedule output, UpdateRunningRequests() takes no list and
//                    BatchScheduler::Schedule calls it first (the binding calls it at the end of a
//                    step, with the clock already at the next step's time); the forward pass sets
//                    generated_token; merged swap ids reach the schedule output when it runs.
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "codewalk/binding_common.h"
#include "ksana_llm/batch_scheduler/batch_scheduler_balance_reqs_algo.h"
#include "ksana_llm/batch_scheduler/strategy/continuous_batching.h"
#include "ksana_llm/data_hub/data_hub.h"

using namespace ksana_llm;

// Values of CODEWALK_STATE (codewalk_generated/api.h).
#define CODEWALK_STATE_SYNC 0
#define CODEWALK_STATE_ASYNC_RECOMPUTE 1
#define CODEWALK_STATE_ASYNC_SWAP 2

namespace {

// Fields some checkouts do not have yet: set when present.
template <class T, class = void>
struct HasMtpStepNum : std::false_type {};
template <class T>
struct HasMtpStepNum<T, std::void_t<decltype(std::declval<T&>().mtp_step_num)>> : std::true_type {};
template <class T>
void SetMtpStepNum(T& config) {
  if constexpr (HasMtpStepNum<T>::value) config.mtp_step_num = 0;
}
template <class T, class = void>
struct HasTimestampUs : std::false_type {};
template <class T>
struct HasTimestampUs<T, std::void_t<decltype(std::declval<T&>().timestamp_in_us)>> : std::true_type {};
// The logical clock: a request added before step k arrived at k ms.
template <class R>
void SetArrival(R& req, int64_t step) {
  if constexpr (HasTimestampUs<R>::value) {
    req.timestamp_in_us = static_cast<uint64_t>(step) * 1000;
  } else {
    req.timestamp_in_ms = static_cast<uint64_t>(step);
  }
}

// The real PrefixCacheManager, with the calls the scheduler makes observed (never changed).
class GatedCache : public PrefixCacheManager {
 public:
  GatedCache(size_t block_size, std::shared_ptr<OneDeviceGroup> group)
      : PrefixCacheManager(MakeCacheConfig(block_size), group), group_(group), bs_(block_size) {
    InitializeCachedBlocks();
  }
  ~GatedCache() override { gates_.open_all(); }

  std::function<void(int64_t)> on_destroy;
  std::vector<int64_t> swapped_out, swapped_in;
  std::map<int64_t, size_t> prefix_hits;

  // The parameter list is the checkout's (codewalk_generated/api.h).
  Status GetRequestPrefixBlockNumber(CODEWALK_LOOKUP_PARAMS) override {
    Status s = PrefixCacheManager::GetRequestPrefixBlockNumber(CODEWALK_LOOKUP_ARGS);
    if (s.OK() && shared_token_num > 0) prefix_hits[req_id] = shared_token_num;
    return s;
  }
  Status SwapoutRequestAsync(int64_t req_id, size_t& swapped_block_num, size_t& free_block_num,
                             std::vector<int>& ids) override {
    return gated(swapped_out, req_id, [&] {
      return PrefixCacheManager::SwapoutRequestAsync(req_id, swapped_block_num, free_block_num, ids);
    });
  }
  Status SwapinRequestAsync(int64_t req_id, size_t& block_num, std::vector<std::vector<int>>& req_block_ids,
                            std::vector<int>& ids) override {
    return gated(swapped_in, req_id,
                 [&] { return PrefixCacheManager::SwapinRequestAsync(req_id, block_num, req_block_ids, ids); });
  }
  // A blocking wait (SyncSwapoutRequest merges pending swap-ins first) must not wait on a closed gate.
  Status WaitSwapoutRequests(std::vector<int64_t>& req_ids, size_t& left, bool blocking) override {
    if (blocking) gates_.open_all();
    return PrefixCacheManager::WaitSwapoutRequests(req_ids, left, blocking);
  }
  Status WaitSwapinRequests(std::vector<int64_t>& req_ids, size_t& left, bool blocking) override {
    if (blocking) gates_.open_all();
    return PrefixCacheManager::WaitSwapinRequests(req_ids, left, blocking);
  }
  void DestroyFinishedRequest(int64_t req_id) override {
    if (on_destroy) on_destroy(req_id);
    PrefixCacheManager::DestroyFinishedRequest(req_id);
  }

  // The fake forward pass: every swap started so far copies its blocks now.
  void complete_copies() {
    gates_.open_all();
    py::gil_scoped_release nogil;
    for (auto& kv : swapout_task_queue_) kv.second.wait();
    for (auto& kv : swapin_task_queue_) kv.second.wait();
  }

  // ------------------------------------------------------------------ read-only views
  size_t reusable_number() { return (this->*get(ReusableTag())).size(); }
  bool has(int64_t req_id) { return cached_requests_.count(req_id) > 0; }
  size_t free_queue_size() { return free_cached_blocks_.size(); }
  size_t used_blocks() {
#if CODEWALK_HAS_USED_BLOCK_NUMBER
    return GetUsedBlockNumber();
#else
    // Before KsanaLLM had GetUsedBlockNumber (51183c82): its later definition, as binding.cpp computes it.
    return group_->GetDeviceBlockAllocator(0)->GetUsedBlockNumber() - GetUsableBlockNumber();
#endif
  }
  PrefixCachedRequest* find(int64_t req_id) {
    auto it = cached_requests_.find(req_id);
    return it == cached_requests_.end() ? nullptr : it->second.get();
  }
  py::dict snapshot(const std::function<std::vector<int>(int64_t)>& block_ids) {
    py::list nodes = TreeNodeDicts(this->*get(RootTag()));
    std::vector<int> reusable_ids = SortedBlockIds(this->*get(ReusableTag()));
    std::vector<int64_t> rids;
    for (auto& kv : cached_requests_) rids.push_back(kv.first);
    std::sort(rids.begin(), rids.end());
    py::dict requests;
    for (int64_t rid : rids) {
      py::dict rd;
      PrefixCachedRequest* req = cached_requests_[rid].get();
      rd["shared_block_num"] = req->shared_block_num;
      rd["block_ids"] = block_ids(rid);
      requests[py::int_(rid)] = rd;
    }
    py::dict d;
    d["block_size"] = bs_;
    d["nodes"] = nodes;
    d["reusable"] = reusable_ids;
    d["timed"] = BlockIdList(this->*get(TimedTag()));
    d["free"] = BlockIdList(QueueItems(free_cached_blocks_));
    d["host_free"] = std::vector<int>(group_->host_free_ids().begin(), group_->host_free_ids().end());
    d["leaked"] = 0;
    d["requests"] = requests;
    d["usable"] = GetUsableBlockNumber();
    d["future_free"] = GetFutureFreeBlockNumber();
    return d;
  }

 private:
  // Gate the swap (see SwapGates), start it with `start`, and note it when it started.
  template <class Start>
  Status gated(std::vector<int64_t>& started, int64_t req_id, Start start) {
    gates_.add(*threadpool_);
    Status s = start();
    if (s.OK()) {
      started.push_back(req_id);
    } else {
      gates_.drop_last();
    }
    return s;
  }

  SwapGates gates_;
  std::shared_ptr<OneDeviceGroup> group_;
  size_t bs_;
};

struct Observed {
  std::vector<std::pair<int64_t, size_t>> prefill;
  std::vector<int64_t> decode, recomputed, finished, timed_out, rejected, stopped_other;
};

class Sched {
 public:
  explicit Sched(py::object config) {
    auto get = [&](const char* name, py::object dflt) { return ConfigAttr(config, name, dflt); };
    const CacheSizes sizes = ReadCacheSizes(config);
    const int64_t mbs = get("max_batch_size", py::int_(8)).cast<int64_t>();
    const int64_t mstn = get("max_step_token_num", py::int_(4096)).cast<int64_t>();
    const int64_t sf = get("split_fuse_token_num", py::int_(0)).cast<int64_t>();
    const std::string mode = get("preempt_mode", py::str("swap")).cast<std::string>();
    CheckCacheSizes(sizes);
    if (mode != "swap" && mode != "recompute") {
      throw CoreErr(Cat("invalid preempt_mode '", mode, "': use 'swap' or 'recompute'"));
    }
    if (mbs <= 0 || mstn <= 0 || sf < 0) {
      throw CoreErr(
          "invalid scheduler config: max_batch_size and max_step_token_num must be positive, "
          "split_fuse_token_num non-negative");
    }
    RefuseOtherEngines(config);
    py::object timeout = get("waiting_timeout_steps", py::none());
    py::object qlen = get("max_waiting_queue_len", py::none());
    block_size_ = static_cast<size_t>(sizes.block_size);

    // BatchSchedulerConfig as KsanaLLM's YAML parser would fill it for these settings.
    cfg_ = BatchSchedulerConfig();
    cfg_.max_batch_size = static_cast<size_t>(mbs);
    cfg_.max_step_token_num = static_cast<size_t>(mstn);
    cfg_.split_fuse_token_num = static_cast<size_t>(sf);
    cfg_.preempt_mode = mode == "swap" ? SWAP : RECOMPUTE;
    cfg_.waiting_timeout_in_ms = timeout.is_none() ? (size_t{1} << 50) : timeout.cast<size_t>();  // 1 step = 1 ms
    cfg_.max_waiting_queue_len = qlen.is_none() ? (size_t{1} << 40) : qlen.cast<size_t>();
    cfg_.launch_block_threshold = get("launch_block_threshold", py::float_(0.0)).cast<float>();
    cfg_.swapin_block_threshold = get("swapin_block_threshold", py::float_(0.0)).cast<float>();
    cfg_.max_token_len = size_t{1} << 40;  // codewalk's requests end by max_new_tokens only
    cfg_.max_decode_tokens_per_req = 1;
    SetMtpStepNum(cfg_);

    RuntimeConfig rc;
    rc.parallel_basic_config = ParallelismBasicConfig();
    rc.enable_prefix_caching = true;
    rc.max_batch_size = static_cast<int>(mbs);
    rc.max_step_token_num = static_cast<size_t>(mstn);
    rc.max_seq_len = cfg_.max_token_len;
    SetMtpStepNum(rc);
    auto env = Singleton<Environment>::GetInstance();
    env->batch_scheduler_config = cfg_;
    env->runtime_config = rc;
    env->cache_manager_config = MakeCacheConfig(block_size_);
    env->connector_config = ConnectorConfig();

    group_ = std::make_shared<OneDeviceGroup>(sizes.device_blocks, sizes.host_blocks, block_size_);
    cache_ = std::make_shared<GatedCache>(block_size_, group_);
    cache_->on_destroy = [this](int64_t req_id) { on_destroy(req_id); };
    CodewalkCacheManagerSlot() = cache_;
    counter_ = std::make_shared<SchedulerSharedCounter>(1);
    ticktok_ = std::make_shared<SchedulerTickTok>(1);
    state_ = std::make_shared<BatchState>(0, cfg_);
    strategy_ = std::make_unique<ContinuousBatchingStrategy>(cfg_, rc);
    strategy_->SetCacheManager(cache_);
    strategy_->SetSharedCounter(counter_);
    strategy_->SetSchedulerTickTok(ticktok_);
    strategy_->SetDataParaGroupId(0);
    strategy_->SetBatchState(state_);
    dp_waiting_.resize(1);
  }

  ~Sched() {
    strategy_.reset();
    if (state_ && state_->schedule_output) {
      state_->schedule_output->Clear();
      GetScheduleOutputPool()->FreeScheduleOutput(state_->schedule_output);
      state_->schedule_output = nullptr;
    }
  }

  // BatchScheduler::AddInferRequest -> EnqueueWaitingBufferQueue.
  void add_request(int64_t req_id, const std::vector<int>& prompt, int64_t max_new_tokens,
                   std::optional<std::vector<int>> output_tokens) {
    if (known_.count(req_id)) throw CoreErr(Cat("add_request: req ", req_id, " already exists"));
    if (prompt.empty()) throw CoreErr(Cat("add_request: req ", req_id, " has an empty prompt"));
    if (max_new_tokens <= 0) {
      throw CoreErr(Cat("add_request: req ", req_id, ": max_new_tokens must be positive, got ", max_new_tokens));
    }
    if (buffer_.size() + 1 > cfg_.max_waiting_queue_len) {
      throw CoreErr(Cat("add_request: req ", req_id, ": exceed capacity, the waiting queue holds ",
                        cfg_.max_waiting_queue_len));
    }
    auto input = std::make_shared<KsanaPythonInput>();
    input->input_tokens = prompt;
    input->sampling_config.num_beams = 0;
    input->sampling_config.num_return_sequences = 1;
    input->sampling_config.max_new_tokens = static_cast<int>(max_new_tokens);
    auto ctx = std::make_shared<std::unordered_map<std::string, std::string>>();
    auto req = std::make_shared<Request>(input, ctx);
    req->req_id = req_id;
    req->req_ids[0] = req_id;
    req->model_name = "codewalk";
    req->input_tokens = prompt;
    req->sampling_config.max_new_tokens = static_cast<int>(max_new_tokens);
    SetArrival(*req, step_);
    auto ir = std::make_shared<InferRequest>(req, 0);
    ir->kv_cache_blocks.resize(1);
    ir->block_token_num = block_size_;
    ir->cache_manager = cache_;
#if CODEWALK_STATE == CODEWALK_STATE_SYNC
    ir->infer_stage = InferStage::STAGE_CONTEXT;  // BatchManager::Enqueue (the field has no initialiser here)
    ir->step = 0;
    ir->kv_cached_token_num = 0;
#endif
    // EnqueueWaitingBufferQueue.
    ir->output_tokens = ir->input_tokens;
#if CODEWALK_HAS_INFLIGHT_TASK
    ir->ResetPrefillingTokens();
#endif
    buffer_.push_back(ir);
    known_.insert(req_id);
    requests_[req_id] = req;
    infer_[req_id] = ir;
    if (output_tokens) scripted_[req_id] = *output_tokens;
  }

  // BatchScheduler::BalanceWaitingReqs, one DP group, with KsanaLLM's BalanceReqsAlgo.
  void balance() {
    if (buffer_.empty()) return;
    if (buffer_.size() == 1 && dp_waiting_.size() == 1) {
      dp_waiting_[0].insert(dp_waiting_[0].end(), buffer_.begin(), buffer_.end());
      buffer_.clear();
      return;
    }
    std::vector<std::pair<size_t, std::shared_ptr<InferRequest>>> pairs;
    auto tokens = [](const std::shared_ptr<InferRequest>& r) {
      int64_t n = r->forwarding_tokens.size() > 0
                      ? static_cast<int64_t>(r->forwarding_tokens.size()) - static_cast<int64_t>(r->kv_cached_token_num)
                      : static_cast<int64_t>(r->input_tokens.size()) - static_cast<int64_t>(r->kv_cached_token_num);
      return static_cast<size_t>(n > 0 ? n : 1);
    };
    for (auto& r : buffer_) pairs.emplace_back(tokens(r), r);
    buffer_.clear();
    std::vector<float> workload(1, 0);
    for (auto& r : dp_waiting_[0]) pairs.emplace_back(tokens(r), r);
    dp_waiting_[0].clear();
    workload[0] = state_->schedule_output->running_reqs.size() * 0.7f + state_->waiting_queue.size();
#if CODEWALK_STATE == CODEWALK_STATE_SYNC
    workload[0] += state_->swapped_queue.size() * 1.6f;
#endif
    algo_.BalanceReqs(workload, pairs, dp_waiting_);
  }

  // The token the fake forward pass samples for a request whose prompt is fully computed.
  int next_token(const InferRequest& req) {
    const size_t k = req.output_tokens.size() - req.input_tokens.size();
    auto sit = scripted_.find(req.req_id);
    return (sit != scripted_.end() && k < sit->second.size())
               ? sit->second[k]
               : fake_token(req.req_id, static_cast<int64_t>(req.output_tokens.size()));
  }

#if CODEWALK_STATE == CODEWALK_STATE_SYNC
  py::dict step() {
    obs_ = Observed();
    cache_->swapped_out.clear();
    cache_->swapped_in.clear();
    cache_->prefix_hits.clear();
    codewalk_standin::g_clock_ms = static_cast<uint64_t>(step_);
    // Merged swap ids carried from a step that launched nothing were reported then.
    const size_t in_carried = state_->merged_swapin_req_ids.size();
    const size_t out_carried = state_->merged_swapout_req_ids.size();

    // BatchScheduler::Schedule. It starts with UpdateRunningRequests, which also stamps the batch
    // state's schedule time; the binding ran it at the end of the previous step, but for the first.
    if (step_ == 0) strategy_->UpdateRunningRequests();
    balance();
    std::vector<std::shared_ptr<InferRequest>> before = dp_waiting_[0];
    strategy_->SetBatchState(state_);
    strategy_->Schedule(dp_waiting_[0]);
    for (auto& r : before) {
      if (r->finished && r->finish_status.GetCode() == RET_EXCEED_CAPACITY) obs_.rejected.push_back(r->req_id);
    }
    ScheduleOutput& out = *state_->schedule_output;
    const bool launched = !out.running_reqs.empty();
    auto merged = [&](const std::vector<std::vector<int64_t>>& sent, const std::vector<int64_t>& kept, size_t skip) {
      const std::vector<int64_t>& all = launched && !sent.empty() ? sent[0] : kept;
      return std::vector<int64_t>(all.begin() + static_cast<std::ptrdiff_t>(std::min(skip, all.size())), all.end());
    };
    std::vector<int64_t> swapin_merged = merged(out.merged_swapin_req_ids, state_->merged_swapin_req_ids, in_carried);
    std::vector<int64_t> swapout_merged =
        merged(out.merged_swapout_req_ids, state_->merged_swapout_req_ids, out_carried);

    // The forward pass (RunAStep): a context chunk computes its tokens, the last chunk and a decode
    // sample one token into generated_token.
    std::vector<std::shared_ptr<InferRequest>> scheduled = out.running_reqs;
    for (auto& req : scheduled) {
      if (req->infer_stage == InferStage::STAGE_CONTEXT) {
        obs_.prefill.emplace_back(req->req_id, req->forwarding_tokens.size() - req->kv_cached_token_num);
      } else {
        obs_.decode.push_back(req->req_id);
      }
      if (req->forwarding_tokens.size() >= req->output_tokens.size()) req->generated_token = next_token(*req);
      req->sampling_result_tokens.clear();
    }
    cache_->complete_copies();

    // The next BatchScheduler::Schedule starts with UpdateRunningRequests, at the next step's time.
    codewalk_standin::g_clock_ms = static_cast<uint64_t>(step_ + 1);
    strategy_->UpdateRunningRequests();
    forget_stopped();

    py::dict d = observed(swapin_merged, swapout_merged);
    ++step_;
    d["waiting"] = waiting_ids();
    d["running"] = ids(out.running_reqs);
    d["swapped"] = swapped_ids();
    return d;
  }
#else
  py::dict step() {
    obs_ = Observed();
    cache_->swapped_out.clear();
    cache_->swapped_in.clear();
    cache_->prefix_hits.clear();
#if CODEWALK_STATE == CODEWALK_STATE_ASYNC_SWAP
    state_->merged_swapin_req_ids.clear();
    state_->merged_swapout_req_ids.clear();
#endif
    codewalk_standin::g_clock_ms = static_cast<uint64_t>(step_);

    // BatchScheduler::Schedule.
    balance();
    std::vector<std::shared_ptr<InferRequest>> before = dp_waiting_[0];
    strategy_->SetBatchState(state_);
    in_schedule_ = true;
    strategy_->Schedule(dp_waiting_[0]);
    in_schedule_ = false;
    for (auto& r : before) {
      if (r->finished && r->finish_status.GetCode() == RET_EXCEED_CAPACITY) obs_.rejected.push_back(r->req_id);
    }

    // TryToLaunchPlannedScheduleOutput.
    ScheduleOutput& out = *state_->schedule_output;
    std::vector<std::shared_ptr<InferRequest>> scheduled;
    for (auto it = out.running_reqs.begin(); it != out.running_reqs.end();) {
#if CODEWALK_HAS_IS_STOPPED
      if ((*it)->IsStopped()) {
#else
      if ((*it)->finished) {  // LaunchScheduleOutput skips it
#endif
        it = out.running_reqs.erase(it);
      } else {
        ++it;
      }
    }
    scheduled = out.running_reqs;
    if (!out.running_reqs.empty()) {
      if (!out.IsLaunchable()) throw CoreErr("the planned schedule output is not launchable");
      out.LaunchScheduleOutput();
    }
    out.running_reqs.clear();
    out.swapout_req_block_ids.clear();
    out.swapin_req_block_ids.clear();
    out.finish_req_ids.clear();

    // RunAStep: a prefill chunk computes its tokens; the last chunk and a decode sample one token.
    for (auto& req : scheduled) {
      const auto& wl = req->GetInflightTask().workload;
      if (wl.prefill_token_num > 0) {
        obs_.prefill.emplace_back(req->req_id, wl.prefill_token_num);
      } else {
        obs_.decode.push_back(req->req_id);
      }
      if (req->forwarding_tokens.size() >= req->output_tokens.size()) {
        req->generated_tokens = {next_token(*req)};
      } else {
        req->generated_tokens.clear();
      }
      req->sampling_result_tokens.clear();
    }
    cache_->complete_copies();

    // UpdateWithGenerationResult.
    state_->schedule_time_in_ms = GetCurrentTimeInMs();
    strategy_->UpdateRunningRequests(scheduled);
    forget_stopped();

#if CODEWALK_STATE == CODEWALK_STATE_ASYNC_SWAP
    py::dict d = observed(state_->merged_swapin_req_ids, state_->merged_swapout_req_ids);
#else
    py::dict d = observed({}, {});  // no swap in this scheduler
#endif
    ++step_;
    d["waiting"] = waiting_ids();
    d["running"] = ids(state_->decoding_queue);
    d["swapped"] = swapped_ids();
    return d;
  }
#endif

  void forget_stopped() {
    for (auto it = infer_.begin(); it != infer_.end();) {
      if (it->second->finished) {
        requests_.erase(it->first);
        scripted_.erase(it->first);
        it = infer_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // What a step observed, but the queues.
  py::dict observed(const std::vector<int64_t>& swapin_merged, const std::vector<int64_t>& swapout_merged) {
    py::dict d;
    d["step"] = step_;
    py::list prefill;
    for (auto& p : obs_.prefill) prefill.append(py::make_tuple(p.first, p.second));
    d["prefill"] = prefill;
    d["decode"] = obs_.decode;
    d["swapped_out"] = cache_->swapped_out;
    d["swapped_in"] = cache_->swapped_in;
    d["recomputed"] = obs_.recomputed;
    d["finished"] = obs_.finished;
    d["timed_out"] = obs_.timed_out;
    d["rejected"] = obs_.rejected;
    d["swapin_merged"] = swapin_merged;
    d["swapout_merged"] = swapout_merged;
    d["prefix_hit_tokens"] = cache_->prefix_hits;
    d["usable_blocks"] = cache_->GetUsableBlockNumber();
    d["reusable_blocks"] = cache_->reusable_number();
    return d;
  }

  std::vector<int64_t> waiting_ids() {
    std::vector<int64_t> v = ids(state_->waiting_queue);
    for (auto& r : dp_waiting_[0]) v.push_back(r->req_id);
    for (auto& r : buffer_) v.push_back(r->req_id);
    return v;
  }
  // Swapped out, then pending swap-outs, then pending swap-ins (then, in the synchronous scheduler,
  // swapped-in requests waiting for a running slot).
  std::vector<int64_t> swapped_ids() {
    std::vector<int64_t> v;
#if CODEWALK_STATE != CODEWALK_STATE_ASYNC_RECOMPUTE
#if CODEWALK_STATE == CODEWALK_STATE_SYNC
    auto& out_pending = state_->swapout_pending_requests_;
    auto& in_pending = state_->swapin_pending_requests_;
#else
    auto& out_pending = state_->swapout_pending_requests;
    auto& in_pending = state_->swapin_pending_requests;
#endif
    for (auto& kv : state_->swapped_queue) v.push_back(kv.second->req_id);
    std::vector<int64_t> out_p, in_p;
    for (auto& kv : out_pending) out_p.push_back(kv.first);
    for (auto& kv : in_pending) in_p.push_back(kv.first);
    std::sort(out_p.begin(), out_p.end());
    std::sort(in_p.begin(), in_p.end());
    v.insert(v.end(), out_p.begin(), out_p.end());
    v.insert(v.end(), in_p.begin(), in_p.end());
#endif
#if CODEWALK_STATE == CODEWALK_STATE_SYNC
    for (auto& r : state_->running_pending_reqs) v.push_back(r->req_id);
#endif
    return v;
  }
  template <class Queue>
  static std::vector<int64_t> ids(const Queue& q) {
    std::vector<int64_t> v;
    for (auto& r : q) v.push_back(r->req_id);
    return v;
  }

  bool has_work() {
    const bool queued = !buffer_.empty() || !dp_waiting_[0].empty() || !state_->waiting_queue.empty();
#if CODEWALK_STATE == CODEWALK_STATE_SYNC
    return queued || !state_->schedule_output->running_reqs.empty() || !state_->swapped_queue.empty() ||
           !state_->swapout_pending_requests_.empty() || !state_->swapin_pending_requests_.empty() ||
           !state_->running_pending_reqs.empty();
#elif CODEWALK_STATE == CODEWALK_STATE_ASYNC_RECOMPUTE
    return queued || !state_->decoding_queue.empty() || !state_->async_recomputed_reqs.empty();
#else
    return queued || !state_->decoding_queue.empty() || !state_->swapped_queue.empty() ||
           !state_->swapout_pending_requests.empty() || !state_->swapin_pending_requests.empty() ||
           !state_->async_recomputed_reqs.empty() || !state_->async_swapout_reqs.empty();
#endif
  }

  std::vector<int> request_tokens(int64_t req_id) {
    auto it = infer_.find(req_id);
    if (it == infer_.end()) throw CoreErr(Cat("request_tokens: req ", req_id, " is not live"));
    return it->second->output_tokens;
  }
  std::vector<int> block_ids(int64_t req_id) {
    auto it = infer_.find(req_id);
    if (it == infer_.end() || it->second->kv_cache_blocks.empty()) return {};
    return it->second->kv_cache_blocks[0];
  }

  GatedCache& cache() { return *cache_; }
  std::shared_ptr<GatedCache> cache_ptr() { return cache_; }
  int64_t step_count() const { return step_; }

  static int fake_token(int64_t req_id, int64_t position) {
    const int64_t mod = 65521;
    return static_cast<int>(((req_id % mod) * 31 + (position % mod) * 7) % 32000 + 1);
  }

 private:
  // ResetRequest calls DestroyFinishedRequest after setting finish_status and finished: a request
  // that is not finished is being recomputed; a finished one stopped (done, or timed out).
  void on_destroy(int64_t req_id) {
    auto it = infer_.find(req_id);
    if (it == infer_.end()) return;
    InferRequest& r = *it->second;
    if (!r.finished) {
      obs_.recomputed.push_back(req_id);
    } else if (r.finish_status.GetCode() == RET_REQUEST_TIMEOUT) {
      obs_.timed_out.push_back(req_id);
    } else if (r.finish_status.GetCode() == RET_SUCCESS) {
      obs_.finished.push_back(req_id);
    } else {
      obs_.stopped_other.push_back(req_id);
    }
  }

  size_t block_size_ = 16;
  int64_t step_ = 0;
  bool in_schedule_ = false;
  BatchSchedulerConfig cfg_;
  std::shared_ptr<OneDeviceGroup> group_;
  std::shared_ptr<GatedCache> cache_;
  std::shared_ptr<SchedulerSharedCounter> counter_;
  std::shared_ptr<SchedulerTickTok> ticktok_;
  std::shared_ptr<BatchState> state_;
  std::unique_ptr<ContinuousBatchingStrategy> strategy_;
  BalanceReqsAlgo algo_;
  std::vector<std::shared_ptr<InferRequest>> buffer_;               // BatchScheduler::waiting_reqs_
  std::vector<std::vector<std::shared_ptr<InferRequest>>> dp_waiting_;  // BatchScheduler::dp_waiting_reqs_
  std::set<int64_t> known_;
  std::map<int64_t, std::shared_ptr<Request>> requests_;
  std::map<int64_t, std::shared_ptr<InferRequest>> infer_;
  std::map<int64_t, std::vector<int>> scripted_;
  Observed obs_;
};

}  // namespace

PYBIND11_MODULE(CODEWALK_MODULE_NAME, m) {
  m.doc() = "KsanaLLM's real ContinuousBatchingStrategy (compiled from the user's checkout), stepped from Python.";
  SetUpModule(m);
  py::class_<GatedCache, std::shared_ptr<GatedCache>>(m, "_Cache")
      .def("get_usable_block_number", [](GatedCache& c) { return c.GetUsableBlockNumber(); })
      .def("get_future_free_block_number", [](GatedCache& c) { return c.GetFutureFreeBlockNumber(); })
      .def("get_host_free_block_number", [](GatedCache& c) { return c.GetHostFreeBlockNumber(); })
      .def("get_used_block_number", [](GatedCache& c) { return c.used_blocks(); })
      .def("get_reusable_block_number", [](GatedCache& c) { return c.reusable_number(); })
      .def("has_request", [](GatedCache& c, int64_t r) { return c.has(r); }, py::arg("req_id"))
      .def("get_request_usable_block_number",
           [](GatedCache& c, int64_t r) {
             if (!c.has(r)) throw CoreErr(Cat("get_request_usable_block_number: req ", r, " does not exist"));
             return c.GetRequestUsableBlockNumber(r);
           },
           py::arg("req_id"))
      .def("get_request_step_block_number",
           [](GatedCache& c, int64_t r, size_t n) {
             if (!c.has(r)) throw CoreErr(Cat("get_request_step_block_number: req ", r, " does not exist"));
             return c.GetRequestStepBlockNumber(r, n);
           },
           py::arg("req_id"), py::arg("token_num"))
      .def("get_request_needed_block_num_for_one_next_token",
           [](GatedCache& c, int64_t r) {
             PrefixCachedRequest* q = c.find(r);
             if (q == nullptr) throw CoreErr(Cat("get_request_needed_block_num_for_one_next_token: req ", r, " does not exist"));
             if (q->cached_blocks.empty()) {  // the real one reads cached_blocks.back() of an empty list
               throw CoreErr(Cat("get_request_needed_block_num_for_one_next_token: req ", r, " holds no blocks"));
             }
             size_t n = 0;
             Status s = c.GetRequestNeededBlockNumForOneNextToken(r, n);
             if (!s.OK()) throw CoreErr(s.GetMessage());
             return n;
           },
           py::arg("req_id"));
  py::class_<Sched>(m, "Scheduler")
      .def(py::init<py::object>(), py::arg("config"))
      .def("add_request", &Sched::add_request, py::arg("req_id"), py::arg("prompt_tokens"), py::arg("max_new_tokens"),
           py::arg("output_tokens") = py::none())
      .def("step", &Sched::step)
      .def("has_work", &Sched::has_work)
      .def("request_tokens", &Sched::request_tokens, py::arg("req_id"))
      .def("request_block_ids", &Sched::block_ids, py::arg("req_id"))
      .def("snapshot", [](Sched& s) { return s.cache().snapshot([&s](int64_t r) { return s.block_ids(r); }); })
      .def_property_readonly("step_count", &Sched::step_count)
      .def_property_readonly("cache", &Sched::cache_ptr);
  m.def("fake_token", &Sched::fake_token, py::arg("req_id"), py::arg("position"));
}
