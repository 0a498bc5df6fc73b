// Routes derived from the config alone.
#include "routing/static_routes.hpp"

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

}  // namespace meshbroker::routing
