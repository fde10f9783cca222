// codewalk stand-in for ksana_llm/runtime/model_instance.h (the real one loads weights onto devices).
// InferRequest holds a std::shared_ptr<ModelInstance>; the scheduler never calls into it.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "ksana_llm/runtime/forward_request.h"
#include "ksana_llm/runtime/infer_stage.h"
#include "ksana_llm/utils/context.h"
#include "ksana_llm/utils/environment.h"
#include "ksana_llm/utils/singleton.h"
#include "ksana_llm/utils/tensor.h"

namespace ksana_llm {

class ModelInstance {
 public:
  int GetLayerNum() { return 1; }
  std::vector<float*> GetLogitsPtr(size_t) { return {}; }
  std::vector<int*> GetOutputTokensPtr(size_t) { return {}; }
};

}  // namespace ksana_llm
