// codewalk stand-in for ksana_llm/utils/device_types.h, scheduler build: the cache build's
// stand-in (standins/device_types.h, next on the include path) plus the enums only the
// scheduler's translation units name.
#pragma once

#include <cstddef>
#include <cstdint>

#include_next "ksana_llm/utils/device_types.h"

namespace ksana_llm {

enum DataFormat { FORMAT_DEFAULT, FORMAT_ND, FORMAT_NZ };

enum DataType {
  TYPE_INVALID, TYPE_BOOL, TYPE_UINT8, TYPE_UINT16, TYPE_UINT32, TYPE_UINT64, TYPE_INT8, TYPE_INT16, TYPE_INT32,
  TYPE_INT64, TYPE_BF16, TYPE_FP16, TYPE_FP32, TYPE_FP64, TYPE_BYTES, TYPE_FP8_E4M3, TYPE_FP8_E5M2, TYPE_I4_GROUP,
  TYPE_POINTER, TYPE_VOID
};

}  // namespace ksana_llm
