// codewalk stand-in for ksana_llm/utils/logger.h, scheduler build (no loguru, no fmt). It replaces
// the cache build's standins/logger.h and shares codewalk_standin/logger_base.h with it (checks,
// KLLM_THROW, levels). Here a log line's arguments are only evaluated when its level is enabled
// (loguru's LOG_S does the same), which matters for the use-after-free in
// MergePendingSwapoutRequests. Levels are enabled by CODEWALK_UPSTREAM_LOG.
// Two deliberate differences: KLLM_LOG_FATAL throws (a Python process must not abort on it), and
// GetCurrentTime*() read a logical clock the binding advances by one millisecond per step.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>  // the real logger brings it to its includers (absorb_weights_type.cpp uses strcmp)
#include <stdexcept>
#include <string>

#include "codewalk_standin/logger_base.h"
#include "fmt/format.h"

namespace ksana_llm {
namespace codewalk_standin {

// The logical clock, in milliseconds (one scheduler step = one ms).
inline std::atomic<uint64_t> g_clock_ms{0};

struct FatalError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class LogLine : public LogLineBase {
 public:
  using LogLineBase::LogLineBase;
  ~LogLine() noexcept(false) {
    if (LogEnabled()) Print();
    if (fatal_) throw FatalError(std::string("KLLM_LOG_FATAL at ") + file_ + ":" + std::to_string(line_) + ": " + out_.str());
  }
};

struct Voidify {
  void operator&(const LogLineBase&) {}
};

}  // namespace codewalk_standin

inline uint64_t GetCurrentTime() { return codewalk_standin::g_clock_ms.load() / 1000; }
inline uint64_t GetCurrentTimeInMs() { return codewalk_standin::g_clock_ms.load(); }

}  // namespace ksana_llm

#define NO_CC_IF if
#define KLLM_LOG_LINE_(level, fatal)                                                                   \
  !((fatal) || ::ksana_llm::codewalk_standin::LogEnabled())                                           \
      ? (void)0                                                                                       \
      : ::ksana_llm::codewalk_standin::Voidify() & ::ksana_llm::codewalk_standin::LogLine(level, __FILE__, __LINE__, fatal)
