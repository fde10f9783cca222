// Configuration records shared by the cache manager and the scheduler (twins of codewalk/core/config.py).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace ksana_llm {

// The part of KsanaLLM's CacheManagerConfig the prefix cache reads. Fields are signed so a bad
// value set from Python reaches the constructor's check instead of wrapping around.
struct CacheConfig {
  int64_t block_size = 16;  // KsanaLLM: block_token_num
  int64_t device_blocks = 100;
  int64_t host_blocks = 100;
  bool enable_prefix_caching = true;
  // Reproduce KsanaLLM's known bookkeeping bugs (false) or correct them (true).
  bool fix_upstream_bugs = false;
};

// The part of KsanaLLM's BatchSchedulerConfig that ContinuousBatchingStrategy reads, with KsanaLLM's own
// defaults (BatchSchedulerConfig's member initialisers; docs/core.md cites each line). Timeouts count
// steps, one step standing for 1 ms.
struct SchedulerConfig {
  int64_t block_size = 16;  // CacheManagerConfig::block_token_num
  int64_t device_blocks = 100;  // KsanaLLM sizes the pool from GPU memory: no default to copy
  int64_t host_blocks = 100;
  int64_t max_batch_size = 8;
  int64_t max_step_token_num = 4096;
  int64_t split_fuse_token_num = 0;
  std::string preempt_mode = "swap";  // or "recompute"
  bool enable_prefix_caching = true;  // KsanaLLM: false, which selects a cache manager the core does not model
  std::optional<int64_t> waiting_timeout_steps = 600000;  // waiting_timeout_in_ms; nullopt: no limit
  std::optional<int64_t> max_waiting_queue_len = 256;
  double launch_block_threshold = 2.0;
  double swapin_block_threshold = 2.0;
  bool fix_upstream_bugs = false;
  double swapout_block_threshold = 1.0;  // parsed by KsanaLLM, read by no scheduler code

  // The cache manager's share of this configuration.
  CacheConfig GetCacheConfig() const {
    return CacheConfig{block_size, device_blocks, host_blocks, enable_prefix_caching, fix_upstream_bugs};
  }
};

}  // namespace ksana_llm
