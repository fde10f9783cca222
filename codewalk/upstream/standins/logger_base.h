// codewalk: what the two logger stand-ins share (standins/logger.h, cache manager build;
// standins/scheduler/logger.h, scheduler build), laid out as codewalk_standin/logger_base.h.
// As the real header: KLLM_CHECK / KLLM_THROW throw std::runtime_error. A log line collects its
// text only when it will be printed (CODEWALK_UPSTREAM_LOG is set) or is fatal. Each logger.h
// defines its LogLine (what a line does at its end) and KLLM_LOG_LINE_(level, fatal).
#pragma once

#include <cstdlib>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace ksana_llm {
namespace codewalk_standin {

inline bool LogEnabled() {
  static const bool enabled = std::getenv("CODEWALK_UPSTREAM_LOG") != nullptr;
  return enabled;
}

class LogLineBase {
 public:
  LogLineBase(const char* level, const char* file, int line, bool fatal)
      : level_(level), file_(file), line_(line), fatal_(fatal) {}
  template <class T>
  LogLineBase& operator<<(const T& value) {
    if (fatal_ || LogEnabled()) out_ << value;
    return *this;
  }
  // Vectors are printed by some KsanaLLM log lines.
  template <class T, class A, template <class, class> class V>
  LogLineBase& operator<<(const V<T, A>& values) {
    if (fatal_ || LogEnabled()) {
      out_ << "[";
      for (const auto& v : values) out_ << v << ",";
      out_ << "]";
    }
    return *this;
  }

 protected:
  void Print() { std::cerr << "[ksana " << level_ << "] " << file_ << ":" << line_ << " " << out_.str() << std::endl; }

  const char* level_;
  const char* file_;
  int line_;
  bool fatal_;
  std::ostringstream out_;
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

}  // namespace ksana_llm

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
