// codewalk stand-in for ksana_llm/utils/logger.h (no loguru, no fmt).
// Same semantics as the real header where the cache manager relies on them:
// KLLM_CHECK / KLLM_THROW throw std::runtime_error, KLLM_LOG_FATAL aborts after printing.
// Other log levels are discarded unless CODEWALK_UPSTREAM_LOG is set in the environment.
// The scheduler build replaces this file (standins/scheduler/logger.h); both share
// logger_base.h.
#pragma once

#include <cstdlib>
#include <iostream>

#include "codewalk_standin/logger_base.h"

namespace ksana_llm {
namespace codewalk_standin {

class LogLine : public LogLineBase {
 public:
  using LogLineBase::LogLineBase;
  ~LogLine() {
    if (fatal_ || LogEnabled()) Print();
    if (fatal_) {
      std::abort();
    }
  }
};

}  // namespace codewalk_standin
}  // namespace ksana_llm

#define KLLM_LOG_LINE_(level, fatal) ::ksana_llm::codewalk_standin::LogLine(level, __FILE__, __LINE__, fatal)
