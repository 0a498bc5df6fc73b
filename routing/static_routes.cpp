// Routes derived from the config alone.
#include "routing/static_routes.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

namespace meshbroker::routing {

std::vector<StaticRoute> routesBackToClients(const config::NodeConfig& node) {
  std::vector<StaticRoute> routes;
  if (node.role != config::Role::kGateway) return routes;
  for (const auto& host : node.hosts) {
    if (host.role != config::Role::kServer) continue;
    for (const auto& subnet : host.client_subnets)
      routes.push_back({subnet, host.mesh_address, host.name.str()});
  }
  return routes;
}

std::vector<StaticRoute6> routesBackToClients6(const config::NodeConfig& node) {
  std::vector<StaticRoute6> routes;
  if (node.role != config::Role::kGateway || !node.tinc.address6) return routes;
  for (const auto& host : node.hosts) {
    if (host.role != config::Role::kServer || !host.mesh_address6) continue;
    for (const auto& subnet : host.client_subnets6)
      routes.push_back({subnet, *host.mesh_address6, host.name.str()});
  }
  return routes;
}

std::string meshMac(config::Ipv4Address address) {
  char text[18];
  auto v = address.value();
  std::snprintf(text, sizeof text, "02:00:%02x:%02x:%02x:%02x", (v >> 24) & 255, (v >> 16) & 255,
                (v >> 8) & 255, v & 255);
  return text;
}

std::vector<Neighbour> meshNeighbours(const config::NodeConfig& node) {
  std::vector<Neighbour> out;
  if (node.tinc.mode == config::TincMode::kRouter) return out;
  for (const auto& host : node.hosts)
    out.push_back({host.mesh_address, meshMac(host.mesh_address)});
  if (!node.tinc.address6) return out;
  for (const auto& host : node.hosts) {
    if (host.mesh_address6) out.push_back({*host.mesh_address6, meshMac(host.mesh_address)});
  }
  return out;
}

NeighbourPlan planNeighbours(const std::vector<Neighbour>& desired,
                             const std::vector<Neighbour>& current) {
  NeighbourPlan plan;
  for (const auto& want : desired) {
    if (std::find(current.begin(), current.end(), want) == current.end())
      plan.replace.push_back(want);
  }
  // The MACs that are ours: mesh MACs of the IPv4 entries we want or hold.
  std::set<std::string> mesh_macs;
  for (const auto* list : {&desired, &current}) {
    for (const auto& n : *list) {
      if (const auto* v4 = n.address.v4(); v4 && n.mac == meshMac(*v4)) mesh_macs.insert(n.mac);
    }
  }
  for (const auto& have : current) {
    const auto* v4 = have.address.v4();
    bool ours = v4 ? have.mac == meshMac(*v4) : mesh_macs.contains(have.mac);
    bool wanted = std::any_of(desired.begin(), desired.end(),
                              [&](const Neighbour& n) { return n.address == have.address; });
    if (ours && !wanted) plan.remove.push_back(have);
  }
  return plan;
}

}  // namespace meshbroker::routing
