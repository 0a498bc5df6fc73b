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
  config::IpAddress address;  // IPv4 (ARP) or IPv6 (neighbour discovery)
  std::string mac;            // "02:00:0a:40:0c:0b", lower case
  bool operator==(const Neighbour&) const = default;
};

// In switch/hub mode: every known host's mesh address with its mesh MAC, kept permanent so no
// ARP reply (a gateway claiming a server's address) can move it; on a node with IPv6, the
// hosts' IPv6 mesh addresses too, at the same MAC (no neighbour advertisement can move them).
// IPv4 entries first, in host order, then IPv6. Empty in router mode.
std::vector<Neighbour> meshNeighbours(const config::NodeConfig& node);

struct NeighbourPlan {
  std::vector<Neighbour> replace;  // missing, or with another MAC, or not permanent
  std::vector<Neighbour> remove;   // ours (a mesh MAC for its address) but no host's any more
  bool empty() const { return replace.empty() && remove.empty(); }
};

// `current`: the interface's permanent entries. Entries another program made are left alone:
// an IPv4 entry is ours when its MAC is the mesh MAC of its address; an IPv6 entry when its MAC
// is the mesh MAC of an IPv4 mesh address we want or hold (hosts' IPv6 entries carry the MAC
// derived from their IPv4 address).
NeighbourPlan planNeighbours(const std::vector<Neighbour>& desired,
                             const std::vector<Neighbour>& current);

}  // namespace meshbroker::routing
