// The topology part of the snapshot: what the config says the network looks like.
#include "supervisor/topology.hpp"

namespace meshbroker::supervisor {

namespace {

nlohmann::json cidrs(const std::vector<config::Cidr>& list) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& cidr : list) out.push_back(cidr.str());
  return out;
}

}  // namespace

nlohmann::json topologyJson(const config::NodeConfig& config) {
  nlohmann::json hosts = nlohmann::json::array();
  for (const auto& host : config.hosts) {
    nlohmann::json entry = {{"name", host.name.str()},
                            {"role", std::string(config::toString(host.role))},
                            {"mesh_address", host.mesh_address.str()},
                            {"client_subnets", cidrs(host.client_subnets)}};
    if (host.public_endpoint) entry["public_address"] = host.public_endpoint->address.str();
    hosts.push_back(entry);
  }
  nlohmann::json openvpn = nlohmann::json::array();
  for (const auto& instance : config.openvpn) {
    openvpn.push_back({{"name", instance.name.str()},
                       {"kind", std::string(config::toString(instance.kind))},
                       {"port", instance.port.value()},
                       {"proto", std::string(config::toString(instance.proto))},
                       {"subnet", instance.subnet.str()},
                       {"max_clients", instance.max_clients}});
  }
  nlohmann::json sets = nlohmann::json::array();
  for (const auto& set : config.routes) {
    nlohmann::json via = nlohmann::json::array();
    for (const auto& v : set.via) {
      via.push_back({{"gateway", v.gateway.str()}, {"weight", v.weight}, {"priority", v.priority}});
    }
    sets.push_back({{"name", set.name.str()},
                    {"to", cidrs(set.to)},
                    {"from", cidrs(set.from)},
                    {"policy", std::string(config::toString(set.policy))},
                    {"via", via}});
  }
  nlohmann::json topology = {{"address", config.tinc.address.str()},
                             {"prefix", config.tinc.prefix.str()},
                             {"interface", config.tinc.interface.str()},
                             {"hosts", hosts},
                             {"openvpn", openvpn},
                             {"route_sets", sets}};
  if (config.health.through_target) {
    topology["through_target"] = config.health.through_target->str();
  }
  return topology;
}

}  // namespace meshbroker::supervisor
