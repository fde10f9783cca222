// codewalk stand-in for ksana_llm/utils/tensor.h (the real one wraps Torch / device buffers).
// Request and InferRequest only hold tensors they never touch in a CPU scheduler run.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "ksana_llm/utils/device_types.h"
#include "ksana_llm/utils/device_utils.h"
#include "ksana_llm/utils/logger.h"
#include "ksana_llm/utils/status.h"
#include "ksana_llm/utils/string_utils.h"

namespace ksana_llm {

class Tensor {
 public:
  explicit Tensor(const std::string& name = "") : name(name) {}
  Tensor(MemoryLocation location, DataType dtype, const std::vector<size_t>& shape, int device_id = -1,
         void* data_ptr = nullptr, Stream* stream = nullptr, bool lazy_allocate = false, const std::string& name = "")
      : location(location), dtype(dtype), shape(shape), device_id(device_id), name(name) {}
  template <class T = void>
  T* GetPtr() const { return nullptr; }
  size_t GetElementNumber() const {
    size_t n = 1;
    for (size_t s : shape) n *= s;
    return shape.empty() ? 0 : n;
  }

  MemoryLocation location = LOCATION_UNKNOWN;
  DataType dtype = TYPE_INVALID;
  std::vector<size_t> shape;
  int device_id = -1;
  std::string name;
};

}  // namespace ksana_llm
