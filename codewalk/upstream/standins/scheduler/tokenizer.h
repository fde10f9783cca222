// codewalk stand-in for ksana_llm/utils/tokenizer.h (the real one embeds Python and HF tokenizers).
// Only StopChecker calls it, for stop strings, which codewalk's requests never carry.
#pragma once

#include <string>
#include <vector>

#include "ksana_llm/utils/status.h"

namespace ksana_llm {

class Tokenizer {
 public:
  Status Decode(std::vector<int>& input_tokens, std::string& output, bool skip_special_tokens = true) {
    output.clear();
    return Status();
  }
  Status Encode(const std::string& prompt, std::vector<int>& input_tokens, bool add_special_tokens = true) {
    input_tokens.clear();
    return Status();
  }
};

}  // namespace ksana_llm
