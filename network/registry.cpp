#include "network/registry.hpp"

#include <algorithm>

namespace meshbroker::network {

model::NetworkDocument describeNetwork(const config::NodeConfig& config,
                                       const std::map<std::string, std::string>& crls,
                                       const RegistryState& state) {
  model::NetworkDocument d;
  d.network = config.network ? config.network->name.str() : std::string();
  if (config.tinc.public_key) {
    model::NetworkNode self;
    self.name = config.name.str();
    self.role = std::string(config::toString(config.role));
    self.mesh_address = config.tinc.address.str();
    if (config.tinc.public_endpoint) {
      self.public_address = config.tinc.public_endpoint->address.str();
      self.port = config.tinc.public_endpoint->port.value();
    }
    self.tinc_public_key = config.tinc.public_key->str();
    for (const auto& instance : config.openvpn) {
      self.openvpn.push_back({instance.name.str(), instance.port.value(),
                              std::string(config::toString(instance.proto))});
      self.client_subnets.push_back(instance.subnet.str());
      if (instance.subnet6) self.client_subnets6.push_back(instance.subnet6->str());
    }
    if (config.tinc.address6) self.mesh_address6 = config.tinc.address6->str();
    d.nodes.push_back(std::move(self));
  }
  for (const auto& host : config.hosts) {
    if (!host.public_key || state.isRemoved(host.name.str())) continue;
    model::NetworkNode n;
    n.name = host.name.str();
    n.role = std::string(config::toString(host.role));
    n.mesh_address = host.mesh_address.str();
    if (host.public_endpoint) {
      n.public_address = host.public_endpoint->address.str();
      n.port = host.public_endpoint->port.value();
    }
    n.tinc_public_key = host.public_key->str();
    for (const auto& offered : host.openvpn) {
      n.openvpn.push_back(
          {offered.name.str(), offered.port.value(), std::string(config::toString(offered.proto))});
    }
    for (const auto& subnet : host.client_subnets) n.client_subnets.push_back(subnet.str());
    if (host.mesh_address6) n.mesh_address6 = host.mesh_address6->str();
    for (const auto& subnet : host.client_subnets6) n.client_subnets6.push_back(subnet.str());
    d.nodes.push_back(std::move(n));
  }
  for (const auto& node : state.joined) {
    if (state.isRemoved(node.name) || d.node(node.name)) continue;  // the file wins
    d.nodes.push_back(node);
  }
  for (const auto& removed : state.removed) d.removed.push_back(removed.name);
  std::sort(d.removed.begin(), d.removed.end());
  std::sort(d.nodes.begin(), d.nodes.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  d.crls = crls;
  return d;
}

std::optional<model::NetworkDocument> nextVersion(const std::optional<model::NetworkDocument>& held,
                                                  model::NetworkDocument described,
                                                  std::int64_t now_ms) {
  if (held && held->network == described.network && held->nodes == described.nodes &&
      held->crls == described.crls && held->removed == described.removed) {
    return std::nullopt;
  }
  described.version = held ? held->version + 1 : 1;
  described.issued_ms = now_ms;
  return described;
}

nlohmann::json joinSkeleton(const config::NodeConfig& registry,
                            const model::NetworkDocument& document,
                            const model::NetworkNode& node) {
  using nlohmann::json;
  json connect_to = json::array();
  json hosts = json::array();
  for (const auto& n : document.nodes) {
    if (n.role != "server" || !n.public_address || n.name == node.name) continue;
    json host = {{"name", n.name},
                 {"role", "server"},
                 {"mesh_address", n.mesh_address},
                 {"public_address", *n.public_address},
                 {"public_key", n.tinc_public_key},
                 {"client_subnets", n.client_subnets},
                 {"from_network", true}};
    if (n.port) host["port"] = *n.port;
    if (registry.tinc.prefix6 && node.mesh_address6) {  // a dual-stack joiner takes IPv6 fields
      if (n.mesh_address6) host["mesh_address6"] = *n.mesh_address6;
      if (!n.client_subnets6.empty()) host["client_subnets6"] = n.client_subnets6;
    }
    hosts.push_back(std::move(host));
    connect_to.push_back(n.name);
  }
  const auto& tinc = registry.tinc;
  json skeleton = {{"name", node.name},
                   {"role", node.role},
                   {"tinc",
                    {{"netname", tinc.netname.str()},
                     {"interface", tinc.interface.str()},
                     {"address", node.mesh_address},
                     {"prefix", tinc.prefix.str()},
                     {"mode", std::string(config::toString(tinc.mode))},
                     {"cipher", tinc.cipher},
                     {"digest", tinc.digest},
                     {"compression", tinc.compression},
                     {"connect_to", connect_to}}},
                   {"hosts", hosts}};
  if (tinc.insecure) skeleton["tinc"]["insecure"] = true;
  if (tinc.prefix6 && node.mesh_address6) {
    skeleton["tinc"]["address6"] = *node.mesh_address6;
    skeleton["tinc"]["prefix6"] = tinc.prefix6->str();
  }
  if (registry.network) {
    const auto& net = *registry.network;
    skeleton["network"] = {{"name", net.name.str()},
                           {"registry", net.registry.str()},
                           {"key", net.key},
                           {"port", net.port.value()},
                           {"poll_ms", net.poll_ms}};
  }
  return skeleton;
}

}  // namespace meshbroker::network
