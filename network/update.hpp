// Whether a node takes a verified network document: only one of its own network with a higher
// version than the one it holds (a replayed older document, or the same one again, is not
// news). Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "model/network_document.hpp"

namespace meshbroker::network {

enum class UpdateVerdict { kAccept, kSame, kOlder, kOtherNetwork };

struct UpdateDecision {
  UpdateVerdict verdict;
  std::string reason;  // for the log
};

UpdateDecision decideUpdate(const std::optional<model::NetworkDocument>& current,
                            std::string_view network, const model::NetworkDocument& candidate);

}  // namespace meshbroker::network
