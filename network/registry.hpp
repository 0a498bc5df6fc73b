// The registry's side of the network document (issue 20): what its config says the network is,
// and when that makes a new version. Pure.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "config/model.hpp"
#include "model/network_document.hpp"
#include "network/registry_state.hpp"

namespace meshbroker::network {

// This node, every host its config file knows with a usable public key (a host without one is
// left out: no node could check its connections anyway) and every node that joined, less the
// removed ones (listed as removed). `crls`: OpenVPN instance -> CRL PEM.
model::NetworkDocument describeNetwork(const config::NodeConfig& config,
                                       const std::map<std::string, std::string>& crls,
                                       const RegistryState& state);

// The document to sign next: `described` with the version after `held`'s, or nullopt when it
// says the same as `held` (nodes, CRLs, removed; the version and time are not news).
std::optional<model::NetworkDocument> nextVersion(const std::optional<model::NetworkDocument>& held,
                                                  model::NetworkDocument described,
                                                  std::int64_t now_ms);

// What a node that joined starts from (the `config` of the join reply): its name, role and
// mesh address; the network's tinc settings as the registry's config has them; every server of
// `document` with a public address as a host (`from_network`: the document's entry replaces it
// later) and in connect_to; the network section pinning the registry's key. No secret, no
// paths (the joiner adds its own).
nlohmann::json joinSkeleton(const config::NodeConfig& registry,
                            const model::NetworkDocument& document, const model::NetworkNode& node);

}  // namespace meshbroker::network
