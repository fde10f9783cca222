// codewalk stand-in for ksana_llm/utils/logger.h, scheduler build (no loguru, no fmt).
// As the real header: KLLM_CHECK / KLLM_THROW throw std::runtime_error; a log line's arguments are
// only evaluated when its level is enabled (loguru's LOG_S does the same), which matters for the
// use-after-free in MergePendingSwapoutRequests. Levels are enabled by CODEWALK_UPSTREAM_LOG.
// Two deliberate differences: KLLM_LOG_FATAL throws (a Python process must not abort on it), and
// GetCurrentTime*() read a logical clock the binding advances by one millisecond per step.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "fmt/format.h"

namespace ksana_llm {
namespace codewalk_standin {

// The logical clock, in milliseconds (one scheduler step = one ms).
inline std::atomic<uint64_t> g_clock_ms{0};

inline bool LogEnabled() {
  static const bool enabled = std::getenv("CODEWALK_UPSTREAM_LOG") != nullptr;
  return enabled;
}

struct FatalError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class LogLine {
 public:
  LogLine(const char* level, const char* file, int line, bool fatal)
      : level_(level), file_(file), line_(line), fatal_(fatal) {}
  ~LogLine() noexcept(false) {
    if (LogEnabled()) std::cerr << "[ksana " << level_ << "] " << file_ << ":" << line_ << " " << out_.str() << std::endl;
    if (fatal_) throw FatalError(std::string("KLLM_LOG_FATAL at ") + file_ + ":" + std::to_string(line_) + ": " + out_.str());
  }
  template <class T>
  LogLine& operator<<(const T& value) {
    out_ << value;
    return *this;
  }
  template <class T, class A, template <class, class> class V>
  LogLine& operator<<(const V<T, A>& values) {
    out_ << "[";
    for (const auto& v : values) out_ << v << ",";
    out_ << "]";
    return *this;
  }

 private:
  const char* level_;
  const char* file_;
  int line_;
  bool fatal_;
  std::ostringstream out_;
};

struct Voidify {
  void operator&(const LogLine&) {}
};

[[noreturn]] inline void ThrowRuntimeError(const char* const file, int const line, std::string const& info) {
  std::ostringstream msg;
  msg << info << " (" << file << ":" << line << ")";
  throw std::runtime_error(msg.str());
}

inline void CheckAssert(bool result, const char* const file, int const line, std::string const& info) {
  if (!result) ThrowRuntimeError(file, line, info);
}

}  // namespace codewalk_standin

using codewalk_standin::CheckAssert;
using codewalk_standin::ThrowRuntimeError;

inline uint64_t GetCurrentTime() { return codewalk_standin::g_clock_ms.load() / 1000; }
inline uint64_t GetCurrentTimeInMs() { return codewalk_standin::g_clock_ms.load(); }

}  // namespace ksana_llm

#define NO_CC_IF if
#define KLLM_LOG_LINE_(level, fatal)                                                                   \
  !((fatal) || ::ksana_llm::codewalk_standin::LogEnabled())                                           \
      ? (void)0                                                                                       \
      : ::ksana_llm::codewalk_standin::Voidify() & ::ksana_llm::codewalk_standin::LogLine(level, __FILE__, __LINE__, fatal)
#define KLLM_LOG_DEBUG KLLM_LOG_LINE_("DEBUG", false)
#define KLLM_LOG_ATTENTION KLLM_LOG_LINE_("ATTENTION", false)
#define KLLM_LOG_COMMUNICATION KLLM_LOG_LINE_("COMMUNICATION", false)
#define KLLM_LOG_MOE KLLM_LOG_LINE_("MOE", false)
#define KLLM_LOG_MODEL KLLM_LOG_LINE_("MODEL", false)
#define KLLM_LOG_SCHEDULER KLLM_LOG_LINE_("SCHEDULER", false)
#define KLLM_LOG_MAIN KLLM_LOG_LINE_("MAIN", false)
#define KLLM_LOG_MULTI_BATCH KLLM_LOG_LINE_("MULTI_BATCH", false)
#define KLLM_LOG_INFO KLLM_LOG_LINE_("INFO", false)
#define KLLM_LOG_WARNING KLLM_LOG_LINE_("WARNING", false)
#define KLLM_LOG_ERROR KLLM_LOG_LINE_("ERROR", false)
#define KLLM_LOG_FATAL KLLM_LOG_LINE_("FATAL", true)

#define KLLM_CHECK(val) ::ksana_llm::CheckAssert((val), __FILE__, __LINE__, "Assertion failed")
#define KLLM_CHECK_WITH_INFO(val, info)                                                                 \
  do {                                                                                                \
    bool is_valid_val_ = (val);                                                                       \
    if (!is_valid_val_) ::ksana_llm::CheckAssert(false, __FILE__, __LINE__,                          \
                                                 std::string("Assertion failed: ") + (info));          \
  } while (0)
#define KLLM_THROW(info) ::ksana_llm::ThrowRuntimeError(__FILE__, __LINE__, (info))
