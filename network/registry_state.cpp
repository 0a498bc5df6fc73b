#include "network/registry_state.hpp"

#include <algorithm>
#include <set>

#include "config/types.hpp"
#include "network/document.hpp"

namespace meshbroker::network {

using nlohmann::json;

bool RegistryState::isRemoved(const std::string& name) const {
  return std::any_of(removed.begin(), removed.end(),
                     [&](const RemovedNode& r) { return r.name == name; });
}

json toJson(const RegistryState& state) {
  json joined = json::array();
  for (const auto& node : state.joined) joined.push_back(model::toJson(node));
  json removed = json::array();
  for (const auto& r : state.removed) {
    removed.push_back({{"name", r.name}, {"removed_ms", r.removed_ms}});
  }
  json invitations = json::array();
  for (const auto& i : state.invitations) invitations.push_back(toJson(i));
  return {{"format", "meshbroker-registry/1"},
          {"joined", joined},
          {"removed", removed},
          {"invitations", invitations}};
}

ParsedRegistryState parseRegistryState(std::string_view text) {
  auto value = json::parse(text, nullptr, false);
  if (value.is_discarded() || !value.is_object()) return {std::nullopt, "not a JSON object"};
  if (value.value("format", "") != "meshbroker-registry/1") {
    return {std::nullopt, "format: not \"meshbroker-registry/1\""};
  }
  RegistryState state;
  std::set<std::string> names;
  const auto joined = value.find("joined");
  if (joined == value.end() || !joined->is_array()) return {std::nullopt, "joined: not a list"};
  for (std::size_t i = 0; i < joined->size(); ++i) {
    std::string error;
    auto node = parseNode((*joined)[i], "joined[" + std::to_string(i) + "]", error);
    if (!node) return {std::nullopt, error};
    if (!names.insert(node->name).second) {
      return {std::nullopt, "joined[" + std::to_string(i) + "]: \"" + node->name + "\" twice"};
    }
    state.joined.push_back(std::move(*node));
  }
  const auto removed = value.find("removed");
  if (removed == value.end() || !removed->is_array()) return {std::nullopt, "removed: not a list"};
  for (std::size_t i = 0; i < removed->size(); ++i) {
    const auto where = "removed[" + std::to_string(i) + "]";
    const auto& entry = (*removed)[i];
    std::string why;
    if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() ||
        !config::NodeName::parse(entry["name"].get<std::string>(), &why)) {
      return {std::nullopt, where + ".name: not a node name " + why};
    }
    if (!entry.contains("removed_ms") || !entry["removed_ms"].is_number_integer()) {
      return {std::nullopt, where + ".removed_ms: not a whole number"};
    }
    RemovedNode r{entry["name"].get<std::string>(), entry["removed_ms"].get<std::int64_t>()};
    if (state.isRemoved(r.name)) return {std::nullopt, where + ": \"" + r.name + "\" twice"};
    state.removed.push_back(std::move(r));
  }
  if (auto invitations = value.find("invitations"); invitations != value.end()) {
    if (!invitations->is_array()) return {std::nullopt, "invitations: not a list"};
    std::set<std::string> ids;
    for (std::size_t i = 0; i < invitations->size(); ++i) {
      std::string error;
      auto record =
          parseInvitationRecord((*invitations)[i], "invitations[" + std::to_string(i) + "]", error);
      if (!record) return {std::nullopt, error};
      if (!ids.insert(record->id).second) {
        return {std::nullopt, "invitations[" + std::to_string(i) + "]: id twice"};
      }
      state.invitations.push_back(std::move(*record));
    }
  }
  return {std::move(state), {}};
}

std::string removeNode(RegistryState& state, const model::NetworkDocument& current,
                       const std::string& registry, const std::string& name, std::int64_t now_ms) {
  if (name == registry) {
    return "\"" + name + "\" is the registry; it cannot remove itself";
  }
  if (state.isRemoved(name)) return "\"" + name + "\" was removed already";
  if (!current.node(name)) return "no node named \"" + name + "\" in the network";
  std::erase_if(state.joined, [&](const model::NetworkNode& n) { return n.name == name; });
  state.removed.push_back({name, now_ms});
  return {};
}

}  // namespace meshbroker::network
