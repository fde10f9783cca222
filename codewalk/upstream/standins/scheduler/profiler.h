// codewalk stand-in for ksana_llm/profiler/profiler.h (the real one exports OpenTelemetry metrics).
// REPORT_METRIC / REPORT_COUNTER (real profiler/reporter.h) land here and are dropped.
#pragma once

#include <cstdint>
#include <string>

#include "ksana_llm/profiler/profile_event.h"
#include "ksana_llm/profiler/timer.h"
#include "ksana_llm/utils/environment.h"
#include "ksana_llm/utils/singleton.h"

namespace ksana_llm {

class Profiler {
 public:
  void ReportMetric(const std::string&, double) {}
  void ReportCounter(const std::string&, int64_t) {}
};

}  // namespace ksana_llm
