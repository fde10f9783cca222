// codewalk's model of KsanaLLM's ContinuousBatchingStrategy (batch_scheduler/strategy/continuous_batching.cpp,
// c451219c). One Step() is one Schedule() (decoding queue -> swapped queue -> waiting queue), a fake forward
// pass, then UpdateRunningRequests. Swap copies finish during the forward pass, so a swap started in step k
// is merged in step k+1. Each function mirrors one of codewalk/core/ref_scheduler.py.
#include "continuous_batching.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace ksana_llm {

namespace {

constexpr int64_t kTokenMod = 65521;

// Python's modulo (the result takes the divisor's sign), so negative req ids match the reference.
int64_t PyMod(int64_t a, int64_t m) {
  int64_t r = a % m;
  return r < 0 ? r + m : r;
}

std::string Req(int64_t req_id) { return "req " + std::to_string(req_id); }

void EraseRequest(std::vector<ContinuousBatchingStrategy::RequestPtr>& queue,
                  const ContinuousBatchingStrategy::RequestPtr& req) {
  auto it = std::find(queue.begin(), queue.end(), req);
  if (it != queue.end()) queue.erase(it);
}

bool Contains(const std::vector<ContinuousBatchingStrategy::RequestPtr>& queue,
              const ContinuousBatchingStrategy::RequestPtr& req) {
  return std::find(queue.begin(), queue.end(), req) != queue.end();
}

// Refuse a configuration before anything is built (the cache manager checks its own share).
const SchedulerConfig& ValidateSchedulerConfig(const SchedulerConfig& config) {
  if (config.preempt_mode != "swap" && config.preempt_mode != "recompute") {
    throw CoreError("invalid preempt_mode '" + config.preempt_mode + "': use 'swap' or 'recompute'");
  }
  if (config.max_batch_size <= 0 || config.max_step_token_num <= 0 || config.split_fuse_token_num < 0) {
    throw CoreError(
        "invalid scheduler config: max_batch_size and max_step_token_num must be positive, "
        "split_fuse_token_num non-negative");
  }
  // The reference would fail later, inside a step (math.ceil of inf/nan); we refuse up front.
  if (!std::isfinite(config.launch_block_threshold) || !std::isfinite(config.swapin_block_threshold)) {
    throw CoreError("invalid scheduler config: launch_block_threshold and swapin_block_threshold must be finite");
  }
  return config;
}

}  // namespace

// The reference's fake_token: a fixed function of (req_id, position), Python modulo semantics.
int FakeToken(int64_t req_id, int64_t position) {
  return static_cast<int>((PyMod(req_id, kTokenMod) * 31 + PyMod(position, kTokenMod) * 7) % 32000 + 1);
}

// ContinuousBatchingStrategy::ContinuousBatchingStrategy: validate, then build the cache manager.
ContinuousBatchingStrategy::ContinuousBatchingStrategy(const SchedulerConfig& config)
    : config_(ValidateSchedulerConfig(config)),
      cache_manager_(config_.GetCacheConfig()),
      split_fuse_token_num_(config_.split_fuse_token_num) {}

// ------------------------------------------------------------------ public API

// BatchScheduler::EnqueueWaitingBufferQueue: checks first, so a refused request leaves no trace.
void ContinuousBatchingStrategy::AddRequest(int64_t req_id, std::vector<int> prompt_tokens, int64_t max_new_tokens,
                                            const std::vector<int>& output_tokens) {
  if (known_req_ids_.count(req_id)) throw CoreError("add_request: " + Req(req_id) + " already exists");
  if (prompt_tokens.empty()) throw CoreError("add_request: " + Req(req_id) + " has an empty prompt");
  if (max_new_tokens <= 0) {
    throw CoreError("add_request: " + Req(req_id) + ": max_new_tokens must be positive, got " +
                    std::to_string(max_new_tokens));
  }
  const auto& cap = config_.max_waiting_queue_len;
  if (cap && static_cast<int64_t>(buffer_.size()) + 1 > *cap) {
    throw CoreError("add_request: " + Req(req_id) + ": exceed capacity, the waiting queue holds " +
                    std::to_string(*cap));
  }
  known_req_ids_.insert(req_id);
  auto req = std::make_shared<InferRequest>();
  req->req_id = req_id;
  // Room for the tokens it will generate, so decoding does not reallocate (bounded: max_new_tokens
  // can be far more than a request ever runs for).
  req->output_tokens.reserve(prompt_tokens.size() + static_cast<size_t>(std::min<int64_t>(max_new_tokens, 4096)));
  req->output_tokens = prompt_tokens;
  req->input_tokens = std::move(prompt_tokens);
  req->max_new_tokens = max_new_tokens;
  req->scripted = output_tokens;
  req->arrival_step = step_count_;
  buffer_.push_back(std::move(req));
}

// One schedule + fake forward + update.
StepResult ContinuousBatchingStrategy::Step() {
  StepResult r;
  r.step = step_count_;
  std::vector<Planned> running;
  running.reserve(static_cast<size_t>(std::min<int64_t>(config_.max_batch_size, 1024)));  // no regrowth mid-step
  Schedule(running, r);
  UpdateRunningRequests(running, r);
  ++step_count_;
  r.waiting.reserve(buffer_.size() + pending_.size() + waiting_queue_.size());
  r.running.reserve(decoding_queue_.size());
  for (const auto& q : waiting_queue_) r.waiting.push_back(q->req_id);
  for (const auto& q : pending_) r.waiting.push_back(q.req_id);
  for (const auto& q : buffer_) r.waiting.push_back(q->req_id);
  for (const auto& q : decoding_queue_) r.running.push_back(q->req_id);
  for (const auto& kv : swapped_queue_) r.swapped.push_back(kv.first);
  for (const auto& q : swapout_pending_) r.swapped.push_back(q->req_id);
  for (const auto& q : swapin_pending_) r.swapped.push_back(q->req_id);
  r.usable_blocks = cache_manager_.GetUsableBlockNumber();
  r.reusable_blocks = cache_manager_.GetReusableBlockNumber();
  return r;
}

// Step until every request is done or max_steps steps have run.
std::vector<StepResult> ContinuousBatchingStrategy::Run(int64_t max_steps) {
  std::vector<StepResult> results;
  for (int64_t i = 0; i < max_steps && HasWork(); ++i) results.push_back(Step());
  return results;
}

// The arrivals must be in step order (the loop it stands for adds them in that order); checked first,
// so a refused workload changes nothing. A refused request (add_request's checks) stops the replay
// with the steps run so far applied, as the loop would.
std::vector<StepResult> ContinuousBatchingStrategy::Replay(std::vector<Arrival> workload,
                                                           std::optional<int64_t> max_steps) {
  for (size_t i = 1; i < workload.size(); ++i) {
    if (workload[i].step < workload[i - 1].step) {
      throw CoreError("replay: workload item " + std::to_string(i) + " arrives at step " +
                      std::to_string(workload[i].step) + ", before item " + std::to_string(i - 1) + " (step " +
                      std::to_string(workload[i - 1].step) + "): sort the workload by arrival step");
    }
  }
  if (max_steps && *max_steps < 0) throw CoreError("replay: max_steps must be non-negative, got " + std::to_string(*max_steps));
  std::vector<StepResult> results;
  size_t next = 0;
  while (next < workload.size() || HasWork()) {
    if (max_steps && static_cast<int64_t>(results.size()) >= *max_steps) break;
    for (; next < workload.size() && workload[next].step <= step_count_; ++next) {
      Arrival& a = workload[next];
      AddRequest(a.req_id, std::move(a.prompt_tokens), a.max_new_tokens, {});
    }
    results.push_back(Step());
  }
  return results;
}

bool ContinuousBatchingStrategy::HasWork() const {
  return !buffer_.empty() || !pending_.empty() || !waiting_queue_.empty() || !decoding_queue_.empty() || !swapped_queue_.empty() ||
         !swapout_pending_.empty() || !swapin_pending_.empty();
}

// All tokens of a live request (prompt + generated so far).
std::vector<int> ContinuousBatchingStrategy::RequestTokens(int64_t req_id) const {
  for (const auto* queue : {&buffer_, &waiting_queue_, &decoding_queue_, &swapout_pending_, &swapin_pending_}) {
    for (const auto& q : *queue) {
      if (q->req_id == req_id) return q->output_tokens;
    }
  }
  for (const auto& q : pending_) {
    if (q.req_id == req_id) return q.req->output_tokens;
  }
  auto it = swapped_queue_.find(req_id);
  if (it != swapped_queue_.end()) return it->second->output_tokens;
  throw CoreError("request_tokens: " + Req(req_id) + " is not live");
}

// ------------------------------------------------------------------ Schedule

// BatchScheduler::BalanceWaitingReqs with one DP group: arrivals and unmerged requests are re-ordered by
// tokens still to prefill, longest first -- unless exactly one request arrived.
void ContinuousBatchingStrategy::BalanceWaitingReqs() {
  // Tokens still to prefill, at least 1 (a request in buffer_ or pending_ is not scheduled, so this
  // stays what it was when the request arrived).
  auto pending = [](RequestPtr&& q) {
    const int64_t remaining =
        std::max<int64_t>(1, static_cast<int64_t>(q->output_tokens.size()) - q->kv_cached_token_num);
    const int64_t req_id = q->req_id;
    return PendingRequest{std::move(q), req_id, static_cast<size_t>(remaining)};
  };
  if (buffer_.size() == 1) {
    pending_.push_back(pending(std::move(buffer_.front())));
  } else if (!buffer_.empty()) {
    // BalanceReqsAlgo::BalanceReqs: (tokens, request) pairs, arrivals before leftovers, sorted with
    // std::sort and its comparator -- unstable, so ties come out in libstdc++'s introsort order. The
    // pairs hold an index instead of the request: std::sort's steps depend only on the comparisons,
    // so the permutation is the same, and the hundreds of moves per step copy 16 trivial bytes.
    balance_scratch_.clear();
    for (auto& q : buffer_) balance_scratch_.push_back(pending(std::move(q)));
    for (auto& p : pending_) balance_scratch_.push_back(std::move(p));
    pending_.clear();
    balance_pairs_.clear();
    for (size_t i = 0; i < balance_scratch_.size(); ++i) balance_pairs_.emplace_back(balance_scratch_[i].remaining, i);
    std::sort(balance_pairs_.begin(), balance_pairs_.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    for (const auto& p : balance_pairs_) pending_.push_back(std::move(balance_scratch_[p.second]));
  }
  buffer_.clear();
}

// BatchState::MergeWaitingReqs: admit while the waiting queue is shorter than max_batch_size; past
// max_waiting_queue_len a request is refused.
void ContinuousBatchingStrategy::MergeWaitingReqs(StepResult& r) {
  const auto& cap = config_.max_waiting_queue_len;
  size_t taken = 0;
  while (taken < pending_.size() && static_cast<int64_t>(waiting_queue_.size()) < config_.max_batch_size) {
    RequestPtr& req = pending_[taken++].req;
    if (cap && static_cast<int64_t>(waiting_queue_.size()) >= *cap) {
      r.rejected.push_back(req->req_id);
      continue;
    }
    waiting_queue_.push_back(std::move(req));
  }
  pending_.erase(pending_.begin(), pending_.begin() + taken);
}

// BatchScheduler::Schedule for one DP group, then ContinuousBatchingStrategy::Schedule: the queues in order.
void ContinuousBatchingStrategy::Schedule(std::vector<Planned>& running, StepResult& r) {
  BalanceWaitingReqs();
  MergeWaitingReqs(r);
  bool blocked = ProcessDecodingQueue(running, r);
  blocked = ProcessSwappedQueue(blocked, r);
  if (!blocked) ProcessWaitingQueue(running, r);
}

// ContinuousBatchingStrategy::MergePendingSwapinRequests: swap-ins started last step join the decoding queue.
// Upstream walks its swap-in task map, an unordered_map: with libstdc++ and a few entries that is newest
// first, and that order decides the decoding queue (and so who is preempted later).
void ContinuousBatchingStrategy::MergePendingSwapinRequests(StepResult& r) {
  while (!swapin_pending_.empty()) {
    RequestPtr req = swapin_pending_.back();
    cache_manager_.MergeSwapinRequest(req->req_id);  // on failure the unmerged ones stay pending
    swapin_pending_.pop_back();
    decoding_queue_.push_back(req);
    r.swapin_merged.push_back(req->req_id);
  }
}

// ContinuousBatchingStrategy::ProcessDecodingQueue: give each decoding request its next block; preempt on shortage.
bool ContinuousBatchingStrategy::ProcessDecodingQueue(std::vector<Planned>& running, StepResult& r) {
  MergePendingSwapinRequests(r);
  // A copy: preemption below takes requests out of decoding_queue_.
  const std::vector<RequestPtr> passed = CheckRunningQueueStepTokens(decoding_queue_);
  bool blocked = false;
  size_t i = 0;
  while (i < passed.size()) {
    const RequestPtr& req = passed[i];
    const int64_t token_num = static_cast<int64_t>(req->output_tokens.size());
    const int64_t need = cache_manager_.GetRequestStepBlockNumber(req->req_id, token_num);
    if (!AllocateRequestBlocks(req->req_id, need)) {
      if (RecomputeChunkedWaitingRequests(r)) continue;  // retry the same request with split-fuse now off
      if (swapout_pending_.empty() && decoding_queue_.size() > 1) {
        PreemptRequest(req, r);
        EraseRequest(decoding_queue_, req);
      } else {
        blocked = true;  // step_sched_finish: no launches from the other queues
      }
      ++i;
      continue;
    }
    running.push_back(Planned{req, token_num - 1, token_num, true, true});
    ++i;
  }
  return blocked;
}

// ContinuousBatchingStrategy::CheckRunningQueueStepTokens for decoding requests (one token each).
std::vector<ContinuousBatchingStrategy::RequestPtr> ContinuousBatchingStrategy::CheckRunningQueueStepTokens(
    const std::vector<RequestPtr>& checking) const {
  std::vector<RequestPtr> passed;
  passed.reserve(checking.size());
  int64_t tokens = 0;
  for (const auto& req : checking) {
    if (tokens + 1 > config_.max_step_token_num || static_cast<int64_t>(passed.size()) >= config_.max_batch_size) {
      continue;
    }
    ++tokens;
    passed.push_back(req);
  }
  return passed;
}

// On a decode shortage with split-fuse on: recompute half-prefilled waiting requests and turn split-fuse off.
bool ContinuousBatchingStrategy::RecomputeChunkedWaitingRequests(StepResult& r) {
  if (waiting_queue_.empty() || split_fuse_token_num_ <= 0) return false;
  std::vector<RequestPtr> chunked;
  for (const auto& q : waiting_queue_) {
    if (cache_manager_.HasRequest(q->req_id) && !cache_manager_.RequestBlockIds(q->req_id).empty()) {
      chunked.push_back(q);
    }
  }
  for (const auto& q : chunked) {
    EraseRequest(waiting_queue_, q);
    RecomputeRequest(q, r);
  }
  split_fuse_token_num_ = 0;
  return !chunked.empty();
}

void ContinuousBatchingStrategy::PreemptRequest(const RequestPtr& req, StepResult& r) {
  if (config_.preempt_mode == "swap") {
    SwapoutRequest(req, r);
  } else {
    RecomputeRequest(req, r);
  }
}

// ContinuousBatchingStrategy::SwapoutRequest (SyncSwapoutRequest): start the swap-out, or recompute when the host is full.
void ContinuousBatchingStrategy::SwapoutRequest(const RequestPtr& req, StepResult& r) {
  try {
    cache_manager_.SwapoutRequestAsync(req->req_id);
  } catch (const CoreError&) {
    RecomputeRequest(req, r);
    return;
  }
  swapout_pending_.push_back(req);
  swapout_started_[req->req_id] = step_count_;
  r.swapped_out.push_back(req->req_id);
}

// ContinuousBatchingStrategy::RecomputeRequest (SyncRecomputeRequest): drop the KV, keep the tokens, go to the front.
void ContinuousBatchingStrategy::RecomputeRequest(const RequestPtr& req, StepResult& r) {
  cache_manager_.DestroyFinishedRequest(req->req_id);
  req->kv_cached_token_num = 0;
  waiting_queue_.insert(waiting_queue_.begin(), req);
  r.recomputed.push_back(req->req_id);
}

// ContinuousBatchingStrategy::MergePendingSwapoutRequests: copies started in an earlier step are done now.
void ContinuousBatchingStrategy::MergePendingSwapoutRequests(StepResult& r) {
  const std::vector<RequestPtr> pending = swapout_pending_;
  for (const auto& req : pending) {
    const int64_t rid = req->req_id;
    if (swapout_started_.at(rid) == step_count_) continue;  // its copy runs during this step's forward pass
    swapout_started_.erase(rid);
    cache_manager_.MergeSwapoutRequest(rid);
    EraseRequest(swapout_pending_, req);
    swapped_queue_[rid] = req;
    r.swapout_merged.push_back(rid);
  }
}

// ContinuousBatchingStrategy::ProcessSwappedQueue: merge finished swap-outs, then swap back in while blocks allow.
bool ContinuousBatchingStrategy::ProcessSwappedQueue(bool blocked, StepResult& r) {
  if (config_.preempt_mode != "swap") return blocked;
  MergePendingSwapoutRequests(r);
  if (swapped_queue_.empty() || !swapout_pending_.empty() || blocked) return blocked;
  for (auto it = swapped_queue_.begin(); it != swapped_queue_.end();) {
    const int64_t rid = it->first;
    const RequestPtr req = it->second;
    if (CheckRequestTimeout(*req)) {
      // Upstream stops it with DestroyFinishedRequest; the swapped path is the consistent one.
      cache_manager_.DestroySwappedRequest(rid);
      it = swapped_queue_.erase(it);
      r.timed_out.push_back(rid);
      continue;
    }
    const int64_t needed = cache_manager_.GetRequestNeededBlockNumForOneNextToken(rid);
    const double threshold = std::ceil(static_cast<double>(decoding_queue_.size()) * config_.swapin_block_threshold);
    const int64_t step_needed =
        // forwarding_tokens does not hold the last sampled token yet: one token short of the next decode.
        cache_manager_.GetRequestStepBlockNumber(rid, static_cast<int64_t>(req->output_tokens.size()) - 1);
    if (static_cast<double>(needed + step_needed) + threshold >
        static_cast<double>(cache_manager_.GetUsableBlockNumber())) {
      return true;  // a swapped request still waits: launch nothing new
    }
    try {
      cache_manager_.SwapinRequestAsync(rid);
    } catch (const CoreError&) {
      return true;
    }
    swapin_pending_.push_back(req);
    it = swapped_queue_.erase(it);
    r.swapped_in.push_back(rid);
  }
  return blocked;
}

// ContinuousBatchingStrategy::ProcessWaitingQueue: strict FCFS; the first request that does not fit stops the queue.
void ContinuousBatchingStrategy::ProcessWaitingQueue(std::vector<Planned>& running, StepResult& r) {
  int64_t batch = static_cast<int64_t>(running.size());
  int64_t tokens = batch;  // one token per decoding request
  int64_t seen_batch = batch;
  size_t i = 0;
  while (i < waiting_queue_.size()) {
    const RequestPtr req = waiting_queue_[i];
    if (CheckRequestTimeout(*req)) {
      DropWaitingRequest(req);
      waiting_queue_.erase(waiting_queue_.begin() + static_cast<std::ptrdiff_t>(i));
      r.timed_out.push_back(req->req_id);
      continue;
    }
    int64_t seq = static_cast<int64_t>(req->output_tokens.size());
    int64_t shared = 0;
    if (req->kv_cached_token_num == 0) {
      shared = std::get<2>(cache_manager_.GetRequestPrefixBlockNumber(req->req_id, req->output_tokens, seq));
      if (shared) r.prefix_hit_tokens.emplace_back(req->req_id, shared);
    } else {
      shared = req->kv_cached_token_num;  // a chunked prefill continues where it stopped
    }
    bool last = true;
    if (0 < split_fuse_token_num_ && split_fuse_token_num_ < seq - shared) {
      last = false;
      seq = shared + split_fuse_token_num_;
    }
    const int64_t need = cache_manager_.GetRequestStepBlockNumber(req->req_id, seq);
    const double threshold = std::ceil(static_cast<double>(seen_batch) * config_.launch_block_threshold);
    seen_batch = batch;
    const int64_t usable = cache_manager_.GetRequestUsableBlockNumber(req->req_id);
    if (!(batch < config_.max_batch_size && tokens + seq <= config_.max_step_token_num &&
          static_cast<double>(need) + threshold <= static_cast<double>(usable))) {
      break;
    }
    if (!AllocateRequestBlocks(req->req_id, need)) break;
    ++batch;
    tokens += seq;
    const int64_t start = shared == seq ? seq - 1 : shared;  // a full match still computes its last token
    running.push_back(Planned{req, start, seq, last, false});
    if (last) {
      decoding_queue_.push_back(req);
      waiting_queue_.erase(waiting_queue_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
}

// AllocateRequestBlocks as the scheduler treats it: any refusal (usually a shortage) is a plain "no".
bool ContinuousBatchingStrategy::AllocateRequestBlocks(int64_t req_id, int64_t block_num) {
  try {
    return cache_manager_.TryAllocateRequestBlocks(req_id, block_num);
  } catch (const CoreError&) {
    return false;
  }
}

void ContinuousBatchingStrategy::DropWaitingRequest(const RequestPtr& req) {
  if (cache_manager_.HasRequest(req->req_id)) cache_manager_.DestroyFinishedRequest(req->req_id);
}

// ContinuousBatchingStrategy::CheckRequestTimeout: the limit counts from arrival, whatever queue the request is in.
bool ContinuousBatchingStrategy::CheckRequestTimeout(const InferRequest& req) const {
  const auto& limit = config_.waiting_timeout_steps;
  return limit && step_count_ - req.arrival_step >= *limit;
}

// ------------------------------------------------------------------ forward + UpdateRunningRequests

// ContinuousBatchingStrategy::UpdateRunningRequests: the fake forward pass, then finish or time out requests.
void ContinuousBatchingStrategy::UpdateRunningRequests(const std::vector<Planned>& running, StepResult& r) {
  r.decode.reserve(running.size());  // one allocation each, not a regrowth per doubling
  r.prefill.reserve(running.size());
  for (const Planned& p : running) {
    InferRequest& req = *p.req;
    if (p.decode) {
      r.decode.push_back(req.req_id);
    } else {
      r.prefill.emplace_back(req.req_id, p.end - p.start);
    }
    req.kv_cached_token_num = p.end;
    if (p.sample) {
      const size_t k = req.output_tokens.size() - req.input_tokens.size();
      const int64_t position = static_cast<int64_t>(req.output_tokens.size());
      req.output_tokens.push_back(k < req.scripted.size() ? req.scripted[k] : FakeToken(req.req_id, position));
    }
    cache_manager_.UpdateRequestTokens(req.req_id, req.output_tokens, req.kv_cached_token_num);
    const int64_t generated = static_cast<int64_t>(req.output_tokens.size() - req.input_tokens.size());
    if (generated >= req.max_new_tokens) {
      StopRequest(p.req);
      r.finished.push_back(req.req_id);
    } else if (CheckRequestTimeout(req)) {
      StopRequest(p.req);
      r.timed_out.push_back(req.req_id);
    }
  }
}

// ContinuousBatchingStrategy::StopRequest + RemoveRequestFromBatchState.
void ContinuousBatchingStrategy::StopRequest(const RequestPtr& req) {
  cache_manager_.DestroyFinishedRequest(req->req_id);
  if (Contains(decoding_queue_, req)) {
    EraseRequest(decoding_queue_, req);
  } else {
    EraseRequest(waiting_queue_, req);
  }
}

}  // namespace ksana_llm
