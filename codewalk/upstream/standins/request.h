// codewalk stand-in for ksana_llm/utils/request.h (the real one pulls in pybind11, tensors, the profiler).
// FlexibleCachedCopyTask is copied at build time out of the checkout's utils/request.h.
#pragma once

#include <map>
#include <vector>

#include "ksana_llm/utils/status.h"

namespace ksana_llm {
#include "codewalk_extracted/flexible_cached_copy_task.inc"
}  // namespace ksana_llm
