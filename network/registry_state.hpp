// What only the registry decides and must not forget (issue 20): nodes that joined with an
// invitation, nodes taken out with `meshbroker node remove`, and the invitations. The registry's
// daemon keeps it in <state_dir>/network/registry.json (0600) and is its only writer. Pure: text
// in, state out.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/network_document.hpp"
#include "network/invitation.hpp"

namespace meshbroker::network {

struct RemovedNode {
  std::string name;
  std::int64_t removed_ms = 0;
  bool operator==(const RemovedNode&) const = default;
};

struct RegistryState {
  std::vector<model::NetworkNode> joined;  // by invitation, in the order they joined
  std::vector<RemovedNode> removed;        // never again in the document (until invited again)
  std::vector<Invitation> invitations;     // pending, used, revoked and expired ones
  bool operator==(const RegistryState&) const = default;

  bool isRemoved(const std::string& name) const;
};

nlohmann::json toJson(const RegistryState& state);

struct ParsedRegistryState {
  std::optional<RegistryState> state;
  std::string error;  // set when state is empty, naming the field
};

// Strict, like the document (the file is ours, but a disk or a hand can garble it).
ParsedRegistryState parseRegistryState(std::string_view text);

// Takes `name` out of the network. Empty when done, else why not: not a node of `current`
// (the network as the registry describes it now), the registry itself, already removed.
std::string removeNode(RegistryState& state, const model::NetworkDocument& current,
                       const std::string& registry, const std::string& name, std::int64_t now_ms);

}  // namespace meshbroker::network
