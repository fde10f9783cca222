// codewalk's model of KsanaLLM's ContinuousBatchingStrategy
// (src/ksana_llm/batch_scheduler/strategy/continuous_batching.h, c451219c): one DP group, no MTP/PD,
// a fake forward pass, logical time. The executable spec is codewalk/core/ref_scheduler.py.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <unordered_set>
#include <utility>
#include <vector>

#include "cache_config.h"
#include "core_error.h"
#include "prefix_cache_manager.h"

namespace ksana_llm {

// The fake model's token for a request at a sequence position (same rule as the reference).
int FakeToken(int64_t req_id, int64_t position);

// The scheduler's view of a request (KsanaLLM's InferRequest, reduced).
struct InferRequest {
  int64_t req_id = 0;
  std::vector<int> input_tokens;
  int64_t max_new_tokens = 0;
  std::vector<int> scripted;  // output tokens to replay instead of the fake model's
  int64_t arrival_step = 0;
  std::vector<int> output_tokens;  // KsanaLLM's name: prompt + generated so far
  int64_t kv_cached_token_num = 0;
};

// What one Step() did, in KsanaLLM's order of work (the reference's StepResult).
struct StepResult {
  int64_t step = 0;
  std::vector<std::pair<int64_t, int64_t>> prefill;  // (req_id, tokens computed this step)
  std::vector<int64_t> decode;
  std::vector<int64_t> swapped_out;
  std::vector<int64_t> swapped_in;
  std::vector<int64_t> recomputed;
  std::vector<int64_t> finished;
  std::vector<int64_t> timed_out;
  std::vector<int64_t> waiting;
  std::vector<int64_t> running;
  std::vector<int64_t> swapped;
  std::vector<std::pair<int64_t, int64_t>> prefix_hit_tokens;  // insertion-ordered req_id -> tokens
  int64_t usable_blocks = 0;
  std::vector<int64_t> swapin_merged;
  std::vector<int64_t> swapout_merged;
  int64_t reusable_blocks = 0;
  std::vector<int64_t> rejected;  // refused by a full waiting queue (BatchState::MergeWaitingReqs)
};

// One request of a replayed workload: queued before the first step whose number reaches `step`.
struct Arrival {
  int64_t step = 0;
  int64_t req_id = 0;
  std::vector<int> prompt_tokens;
  int64_t max_new_tokens = 0;
};

class ContinuousBatchingStrategy {
 public:
  explicit ContinuousBatchingStrategy(const SchedulerConfig& config);

  // BatchScheduler::EnqueueWaitingBufferQueue: queue a request for the next step.
  void AddRequest(int64_t req_id, std::vector<int> prompt_tokens, int64_t max_new_tokens,
                  const std::vector<int>& output_tokens);
  StepResult Step();
  std::vector<StepResult> Run(int64_t max_steps);
  // The loop a user's test writes, in one call: before each step, queue every arrival due by then
  // (step_count >= its step); stop once all have arrived and no work is left, or after max_steps steps.
  std::vector<StepResult> Replay(std::vector<Arrival> workload, std::optional<int64_t> max_steps);
  bool HasWork() const;
  std::vector<int> RequestTokens(int64_t req_id) const;

  PrefixCacheManager& cache() { return cache_manager_; }
  const SchedulerConfig& config() const { return config_; }
  int64_t step_count() const { return step_count_; }

  // One scheduled piece of work for the fake forward pass.
  struct Planned {
    std::shared_ptr<InferRequest> req;
    int64_t start;  // first token computed this step
    int64_t end;    // one past the last token computed
    bool sample;    // this step produces a new token
    bool decode;
  };
  using RequestPtr = std::shared_ptr<InferRequest>;

  void Schedule(std::vector<Planned>& running, StepResult& r);
  void BalanceWaitingReqs();
  void MergeWaitingReqs(StepResult& r);
  bool ProcessDecodingQueue(std::vector<Planned>& running, StepResult& r);
  bool ProcessSwappedQueue(bool blocked, StepResult& r);
  void ProcessWaitingQueue(std::vector<Planned>& running, StepResult& r);
  void UpdateRunningRequests(const std::vector<Planned>& running, StepResult& r);

 private:
  void MergePendingSwapinRequests(StepResult& r);
  void MergePendingSwapoutRequests(StepResult& r);
  std::vector<RequestPtr> CheckRunningQueueStepTokens(const std::vector<RequestPtr>& checking) const;
  bool RecomputeChunkedWaitingRequests(StepResult& r);
  void PreemptRequest(const RequestPtr& req, StepResult& r);
  void SwapoutRequest(const RequestPtr& req, StepResult& r);
  void RecomputeRequest(const RequestPtr& req, StepResult& r);
  void DropWaitingRequest(const RequestPtr& req);
  void StopRequest(const RequestPtr& req);
  bool CheckRequestTimeout(const InferRequest& req) const;
  bool AllocateRequestBlocks(int64_t req_id, int64_t block_num);
  int64_t BlockThreshold(size_t batch, double ratio) const;

  SchedulerConfig config_;
  PrefixCacheManager cache_manager_;
  int64_t split_fuse_token_num_;
  int64_t step_count_ = 0;
  std::vector<RequestPtr> buffer_;   // BatchScheduler::waiting_reqs_: arrivals since the last step
  // BatchScheduler::dp_waiting_reqs_: balanced, not yet merged. Each entry carries the request's id and
  // its tokens still to prefill (fixed while it waits here), because every step re-sorts these and lists
  // them in its result: hundreds of requests at serving scale, read without touching each one.
  struct PendingRequest {
    RequestPtr req;
    int64_t req_id;
    size_t remaining;
  };
  std::vector<PendingRequest> pending_;
  std::vector<PendingRequest> balance_scratch_;  // BalanceWaitingReqs' arrivals + leftovers, in that order
  std::vector<std::pair<size_t, size_t>> balance_pairs_;  // BalanceWaitingReqs' scratch: (tokens, index)
  std::vector<RequestPtr> waiting_queue_;
  std::vector<RequestPtr> decoding_queue_;
  std::map<int64_t, RequestPtr> swapped_queue_;  // visited in req_id order, as upstream's std::map
  std::vector<RequestPtr> swapout_pending_;      // in start order
  std::map<int64_t, int64_t> swapout_started_;   // req_id -> step its copy started
  std::vector<RequestPtr> swapin_pending_;
  std::unordered_set<int64_t> known_req_ids_;
};

}  // namespace ksana_llm
