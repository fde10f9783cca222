// codewalk stand-in for ksana_llm/utils/environment.h (the real one reads YAML and model configs).
// CacheManagerConfig is not written here: `codewalk upstream build` copies the struct's text out of
// the checkout's utils/config/schedule_config_parser.h into codewalk_extracted/, so it cannot drift.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

#include "ksana_llm/utils/device_types.h"
#include "ksana_llm/utils/logger.h"
#include "ksana_llm/utils/status.h"

namespace ksana_llm {
#include "codewalk_extracted/cache_manager_config.inc"
}  // namespace ksana_llm
