// codewalk shim for fmt/format.h: the real logger.h brings {fmt} in through loguru; the scheduler's
// sources only call fmt::format with "{}" placeholders, which this renders through an ostream.
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace fmt {

namespace codewalk_detail {
inline void Format(std::ostringstream& out, std::string_view f) { out << f; }
template <class T, class... A>
void Format(std::ostringstream& out, std::string_view f, const T& first, const A&... rest) {
  const size_t at = f.find("{}");
  if (at == std::string_view::npos) {
    out << f;
    return;
  }
  out << f.substr(0, at) << first;
  Format(out, f.substr(at + 2), rest...);
}
}  // namespace codewalk_detail

template <class... A>
std::string format(std::string_view f, const A&... args) {
  std::ostringstream out;
  codewalk_detail::Format(out, f, args...);
  return out.str();
}

}  // namespace fmt
