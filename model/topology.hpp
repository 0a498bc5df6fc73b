// What the config says the network looks like around this node, as the status shows it: this
// node's mesh address, the hosts it knows, its OpenVPN instances and route sets. No secrets.
// Filled from a validated config (supervisor/topology.cpp); one toJson (model/snapshot.cpp).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace meshbroker::model {

struct TopologyHost {
  std::string name;
  std::string role;  // "server" | "gateway" | ...
  std::string mesh_address;
  std::vector<std::string> client_subnets;
  std::optional<std::string> public_address;  // a volunteer's home address: full view only
};

struct TopologyInstance {
  std::string name;
  std::string kind;  // "public" | "private"
  int port = 0;
  std::string proto;
  std::string subnet;
  int max_clients = 0;
};

struct TopologyVia {
  std::string gateway;
  int weight = 1;
  int priority = 0;
};

struct TopologyRouteSet {
  std::string name;
  std::vector<std::string> to;
  std::vector<std::string> from;
  std::string policy;
  std::vector<TopologyVia> via;
};

struct Topology {
  std::string address;  // this node's mesh address
  std::string prefix;
  std::string interface;
  std::vector<TopologyHost> hosts;
  std::vector<TopologyInstance> openvpn;
  std::vector<TopologyRouteSet> route_sets;
  std::optional<std::string> through_target;
  std::optional<std::string> through_target6;

  const TopologyHost* host(const std::string& name) const {
    for (const auto& h : hosts) {
      if (h.name == name) return &h;
    }
    return nullptr;
  }
};

}  // namespace meshbroker::model
