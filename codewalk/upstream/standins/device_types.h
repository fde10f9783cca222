// codewalk stand-in for ksana_llm/utils/device_types.h (the real one pulls in Torch).
// Only the enums the cache manager and its test helper name.
#pragma once

#include <string>
#include <unordered_map>

namespace ksana_llm {

enum MemoryDevice { MEMORY_HOST, MEMORY_DEVICE };

enum MemoryLocation { LOCATION_UNKNOWN, LOCATION_HOST, LOCATION_DEVICE, LOCATION_NVSHMEM, LOCATION_MULTICAST };

}  // namespace ksana_llm
