// codewalk stand-in for ksana_llm/data_hub/data_hub.h (the real one also owns hidden-unit device
// buffers and the distributed packet queues). One schedule-output pool, no model instance, and the
// cache manager the binding registers.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ksana_llm/data_hub/schedule_output.h"
#include "ksana_llm/utils/status.h"

namespace ksana_llm {

inline ScheduleOutputPool* GetScheduleOutputPool() {
  static ScheduleOutputPool pool;
  return &pool;
}

inline std::shared_ptr<ModelInstance> GetModelInstance(const std::string&) { return nullptr; }

inline std::shared_ptr<CacheManagerInterface>& CodewalkCacheManagerSlot() {
  static std::shared_ptr<CacheManagerInterface> slot;
  return slot;
}
inline std::shared_ptr<CacheManagerInterface> GetCacheManager(int) { return CodewalkCacheManagerSlot(); }

}  // namespace ksana_llm
