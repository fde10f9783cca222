// The one exception the C++ core throws; module.cpp turns it into codewalk.core.errors.CoreError.
#pragma once

#include <stdexcept>
#include <string>

namespace ksana_llm {

// Thrown for every refused call (bad input, wrong order, not enough blocks). The message names the
// operation and the request, worded like the Python reference's.
class CoreError : public std::runtime_error {
 public:
  explicit CoreError(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace ksana_llm
