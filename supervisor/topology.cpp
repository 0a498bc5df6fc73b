// The topology part of the snapshot: what the config says the network looks like.
#include "supervisor/topology.hpp"

namespace meshbroker::supervisor {

namespace {

template <class Prefix>
std::vector<std::string> cidrs(const std::vector<Prefix>& list) {
  std::vector<std::string> out;
  for (const auto& cidr : list) out.push_back(cidr.str());
  return out;
}

}  // namespace

model::Topology topologyOf(const config::NodeConfig& config) {
  model::Topology topology;
  topology.address = config.tinc.address.str();
  topology.prefix = config.tinc.prefix.str();
  topology.interface = config.tinc.interface.str();
  for (const auto& host : config.hosts) {
    model::TopologyHost entry{host.name.str(), std::string(config::toString(host.role)),
                              host.mesh_address.str(), cidrs(host.client_subnets), std::nullopt};
    if (host.public_endpoint) entry.public_address = host.public_endpoint->address.str();
    topology.hosts.push_back(std::move(entry));
  }
  for (const auto& instance : config.openvpn) {
    topology.openvpn.push_back({instance.name.str(), std::string(config::toString(instance.kind)),
                                static_cast<int>(instance.port.value()),
                                std::string(config::toString(instance.proto)),
                                instance.subnet.str(), instance.max_clients});
  }
  for (const auto& set : config.routes) {
    model::TopologyRouteSet entry{set.name.str(),
                                  cidrs(set.to),
                                  cidrs(set.from),
                                  std::string(config::toString(set.policy)),
                                  {}};
    for (const auto& v : set.via) entry.via.push_back({v.gateway.str(), v.weight, v.priority});
    topology.route_sets.push_back(std::move(entry));
  }
  if (config.health.through_target) topology.through_target = config.health.through_target->str();
  if (config.health.through_target6) {
    topology.through_target6 = config.health.through_target6->str();
  }
  return topology;
}

}  // namespace meshbroker::supervisor
