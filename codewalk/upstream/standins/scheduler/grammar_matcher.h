// codewalk stand-in for ksana_llm/utils/grammar_matcher.h (the real one wraps xgrammar's matcher).
// Older checkouts' InferRequest and SamplingRequest hold a std::shared_ptr<GrammarMatcherWrapper>;
// codewalk's requests carry no grammar, so the scheduler never calls into it. The interface is
// kept abstract, without xgrammar.
#pragma once

#include <memory>

namespace xgrammar {
class CompiledGrammar;
}  // namespace xgrammar

namespace ksana_llm {

using CompiledGrammar = xgrammar::CompiledGrammar;

class GrammarMatcherWrapper {
 public:
  virtual ~GrammarMatcherWrapper() = default;
  virtual bool FillNextTokenBitmask(void* bitmask_data, int batch_index = 0) = 0;
  virtual bool AcceptToken(int token_id) = 0;
  virtual bool IsTerminated() const = 0;
  virtual bool IsInitialized() const = 0;
};

}  // namespace ksana_llm
