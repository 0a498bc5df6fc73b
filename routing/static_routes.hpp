// What follows from the config alone (no health state): the routes back to client subnets and
// the permanent neighbours that tinc-up installs at once, and the daemon keeps current after a
// reload (a node joining or leaving must not restart tincd). Pure functions of the model.
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

// The same for servers' IPv6 pools, via their IPv6 mesh address (a server without one has no
// IPv6 pool: validation). tinc-up installs them, the route policy keeps them like the IPv4 ones.
struct StaticRoute6 {
  config::Cidr6 to;
  config::Ipv6Address via;
  std::string server;
  bool operator==(const StaticRoute6&) const = default;
};
std::vector<StaticRoute6> routesBackToClients6(const config::NodeConfig& node);

// The tap interface's MAC in switch/hub mode: locally administered, 02:00 + the mesh address,
// so it is unique in the mesh and the same after every restart.
std::string meshMac(config::Ipv4Address address);

struct Neighbour {
  config::Ipv4Address address;
  std::string mac;  // "02:00:0a:40:0c:0b", lower case
  bool operator==(const Neighbour&) const = default;
};

// In switch/hub mode: every known host's mesh address with its mesh MAC, kept permanent so no
// ARP reply (a gateway claiming a server's address) can move it. Empty in router mode.
std::vector<Neighbour> meshNeighbours(const config::NodeConfig& node);

struct NeighbourPlan {
  std::vector<Neighbour> replace;  // missing, or with another MAC, or not permanent
  std::vector<Neighbour> remove;   // ours (a mesh MAC for its address) but no host's any more
  bool empty() const { return replace.empty() && remove.empty(); }
};

// `current`: the interface's permanent entries. Entries another program made (a MAC that is not
// the mesh MAC of their address) are left alone.
NeighbourPlan planNeighbours(const std::vector<Neighbour>& desired,
                             const std::vector<Neighbour>& current);

}  // namespace meshbroker::routing
