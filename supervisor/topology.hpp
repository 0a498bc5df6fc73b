// The topology part of the snapshot (model/topology.hpp), from a validated config: this node's
// mesh address, the hosts it knows, its OpenVPN instances and route sets; no secrets.
#pragma once

#include "config/model.hpp"
#include "model/topology.hpp"

namespace meshbroker::supervisor {

model::Topology topologyOf(const config::NodeConfig& config);

}  // namespace meshbroker::supervisor
