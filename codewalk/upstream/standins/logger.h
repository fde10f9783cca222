// codewalk stand-in for ksana_llm/utils/logger.h (no loguru, no fmt).
// Same semantics as the real header where the cache manager relies on them:
// KLLM_CHECK / KLLM_THROW throw std::runtime_error, KLLM_LOG_FATAL aborts after printing.
// Other log levels are discarded unless CODEWALK_UPSTREAM_LOG is set in the environment.
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

class LogLine {
 public:
  LogLine(const char* level, const char* file, int line, bool fatal)
      : level_(level), file_(file), line_(line), fatal_(fatal) {}
  ~LogLine() {
    if (fatal_ || LogEnabled()) {
      std::cerr << "[ksana " << level_ << "] " << file_ << ":" << line_ << " " << out_.str() << std::endl;
    }
    if (fatal_) {
      std::abort();
    }
  }
  template <class T>
  LogLine& operator<<(const T& value) {
    if (fatal_ || LogEnabled()) out_ << value;
    return *this;
  }
  // Vectors are printed by some KsanaLLM log lines.
  template <class T, class A, template <class, class> class V>
  LogLine& operator<<(const V<T, A>& values) {
    if (fatal_ || LogEnabled()) {
      out_ << "[";
      for (const auto& v : values) out_ << v << ",";
      out_ << "]";
    }
    return *this;
  }

 private:
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

#define KLLM_LOG_LINE_(level, fatal) ::ksana_llm::codewalk_standin::LogLine(level, __FILE__, __LINE__, fatal)
#define KLLM_LOG_DEBUG KLLM_LOG_LINE_("DEBUG", false)
#define KLLM_LOG_INFO KLLM_LOG_LINE_("INFO", false)
#define KLLM_LOG_WARNING KLLM_LOG_LINE_("WARNING", false)
#define KLLM_LOG_ERROR KLLM_LOG_LINE_("ERROR", false)
#define KLLM_LOG_FATAL KLLM_LOG_LINE_("FATAL", true)
#define KLLM_LOG_SCHEDULER KLLM_LOG_LINE_("SCHEDULER", false)

#define KLLM_CHECK(val) ::ksana_llm::CheckAssert((val), __FILE__, __LINE__, "Assertion failed")
#define KLLM_CHECK_WITH_INFO(val, info)                                                                 \
  do {                                                                                                \
    bool is_valid_val_ = (val);                                                                       \
    if (!is_valid_val_) ::ksana_llm::CheckAssert(false, __FILE__, __LINE__,                          \
                                                 std::string("Assertion failed: ") + (info));          \
  } while (0)
#define KLLM_THROW(info) ::ksana_llm::ThrowRuntimeError(__FILE__, __LINE__, (info))
