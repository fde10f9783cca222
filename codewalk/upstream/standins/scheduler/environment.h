// codewalk stand-in for ksana_llm/utils/environment.h, scheduler build (the real one parses YAML and
// model configs). The config types (BatchSchedulerConfig, RuntimeConfig, CacheManagerConfig and what
// they hold) are not written here: `codewalk upstream build` copies their text out of the checkout's
// utils/config/schedule_config_parser.h and utils/environment.h into codewalk_extracted/.
// Environment hands out the configs the binding set, as the real singleton hands out parsed ones.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "ksana_llm/connector/config.h"
#include "ksana_llm/utils/device_types.h"
#include "ksana_llm/utils/logger.h"
#include "ksana_llm/utils/status.h"

namespace ksana_llm {

#include "codewalk_extracted/scheduler_configs.inc"

// The real one asks the model config (MLA models use mtp_step_num + 1); 1 for every other model.
inline size_t GetDecodeTokenNumThreshold() { return 1; }

class Environment {
 public:
  Status GetBatchSchedulerConfig(BatchSchedulerConfig& c) {
    c = batch_scheduler_config;
    return Status();
  }
  Status GetRuntimeConfig(RuntimeConfig& c) {
    c = runtime_config;
    return Status();
  }
  Status GetCacheManagerConfig(CacheManagerConfig& c) {
    c = cache_manager_config;
    return Status();
  }
  Status GetConnectorConfigs(ConnectorConfig& c) const {
    c = connector_config;
    return Status();
  }
  bool IsPrefixCachingEnabled() { return runtime_config.enable_prefix_caching; }
  bool IsFlexibleCachingEnabled() { return runtime_config.enable_flexible_caching; }

  BatchSchedulerConfig batch_scheduler_config;
  RuntimeConfig runtime_config;
  CacheManagerConfig cache_manager_config;
  ConnectorConfig connector_config;  // group_role NONE: no prefill/decode separation
};

}  // namespace ksana_llm
