// The topology part of the snapshot (Snapshot::topology), from a validated config: this
// node's mesh address, the hosts it knows, its OpenVPN instances and route sets; no secrets.
#pragma once

#include <nlohmann/json.hpp>

#include "config/model.hpp"

namespace meshbroker::supervisor {

nlohmann::json topologyJson(const config::NodeConfig& config);

}  // namespace meshbroker::supervisor
