// codewalk stand-in for ksana_llm/utils/device_utils.h (the real one selects CUDA/Ascend types).
// MemoryAllocatorInterface only needs a Stream type and a MemcpyKind enum.
#pragma once

namespace ksana_llm {

struct Stream {};

enum MemcpyKind { MEMCPY_HOST_TO_HOST, MEMCPY_HOST_TO_DEVICE, MEMCPY_DEVICE_TO_HOST, MEMCPY_DEVICE_TO_DEVICE };

}  // namespace ksana_llm
