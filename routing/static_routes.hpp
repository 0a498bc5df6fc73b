// Routes that follow from the config alone (no health state): a pure function of the model.
#pragma once

#include <string>
#include <vector>

#include "config/model.hpp"

namespace meshbroker::routing {

struct StaticRoute {
  config::Cidr to;
  config::Ipv4Address via;
  std::string server;  // the server whose clients these are (its health decides, see policy)
  bool operator==(const StaticRoute&) const = default;
};

// On a gateway: the route back to every server's OpenVPN client subnet via that server's
// mesh address (the seed's "route add -net 172.16.1.64/27 gw 100.64.12.12"), so replies to
// OpenVPN clients go back through the mesh, never NATed. Empty on a server.
std::vector<StaticRoute> routesBackToClients(const config::NodeConfig& node);

}  // namespace meshbroker::routing
