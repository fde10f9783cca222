// codewalk stand-in for ksana_llm/utils/context.h (the real one owns device streams and NCCL).
// The cache manager and FakedBlockAllocator only hold a std::shared_ptr<Context>.
#pragma once

#include <cstddef>

#include "ksana_llm/utils/device_types.h"

namespace ksana_llm {

class Context {
 public:
  Context(size_t tensor_parallel_size = 1, size_t attn_data_parallel_size = 1, size_t max_multi_batch_num = 1) {}
};

}  // namespace ksana_llm
