#include "network/update.hpp"

namespace meshbroker::network {

UpdateDecision decideUpdate(const std::optional<model::NetworkDocument>& current,
                            std::string_view network, const model::NetworkDocument& candidate) {
  const auto v = std::to_string(candidate.version);
  if (candidate.network != network) {
    return {UpdateVerdict::kOtherNetwork, "version " + v + " is of network \"" + candidate.network +
                                              "\", this node is in \"" + std::string(network) +
                                              "\""};
  }
  if (!current) return {UpdateVerdict::kAccept, "version " + v + " (first document)"};
  const auto have = std::to_string(current->version);
  if (candidate.version == current->version) {
    if (candidate == *current) return {UpdateVerdict::kSame, "version " + v + " already applied"};
    // Two different documents with one version: only a second writer or a stolen key does
    // that. Keep the one we have and say so loudly.
    return {UpdateVerdict::kOlder, "version " + v + " differs from the version " + have +
                                       " this node holds (a second writer?); kept ours"};
  }
  if (candidate.version < current->version) {
    return {UpdateVerdict::kOlder,
            "version " + v + " is older than " + have + " (replayed or stale); kept " + have};
  }
  return {UpdateVerdict::kAccept, "version " + have + " -> " + v};
}

}  // namespace meshbroker::network
