// codewalk stand-in for ksana_llm/transfer/transfer_engine.h (prefill/decode separation over the network).
// codewalk runs with ConnectorConfig::group_role NONE, so the scheduler only names these members.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ksana_llm/connector/config.h"
#include "ksana_llm/transfer/transfer_types.h"
#include "ksana_llm/utils/environment.h"
#include "ksana_llm/utils/singleton.h"
#include "ksana_llm/utils/status.h"

namespace ksana_llm {

struct TransferMeta {};  // the real one (transfer_engine.h) holds device pointers

class TransferEngine {
 public:
  static std::shared_ptr<TransferEngine> GetInstance() { return Singleton<TransferEngine>::GetInstance(); }
  void Initialize(GroupRole) {}
  void AddTransferMeta(const std::string&, int, size_t, std::vector<std::vector<void*>>&, std::vector<int>&) {}
  bool IsSendDone(int) { return true; }
  std::vector<int> IsRecvDone(int) { return {}; }
  std::shared_ptr<TransferMeta> GetTransferMeta(int) { return nullptr; }
  bool CleanupTransferMeta(int) { return true; }
  void CancelRequestAsync(int, std::function<void()> callback) { callback(); }
};

}  // namespace ksana_llm
