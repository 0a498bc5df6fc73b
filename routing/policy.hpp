// Route policy: which kernel routes and rules follow from the config and the gateways' health.
// Pure: verdicts in, desired routes out. The reconciler turns them into netlink changes.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "routing/kernel_route.hpp"

namespace meshbroker::routing {

// What the policy needs to know about one gateway (or, on a gateway node, one server).
struct PeerState {
  bool up = false;
  bool known = false;    // false until its first verdict: routes using it are left alone
  bool drained = false;  // taken out of route sets by an operator, without failing
  // Reachable, but the through-gateway probe fails: used only when no healthy gateway is left
  // (the through target itself may be what is down).
  bool degraded = false;
  // Its IPv6 check (a dual-stack node probing the peer's IPv6 mesh address) is not down, or
  // there is none: whether it may carry route sets' IPv6 destinations. IPv4 goes by `up` alone.
  bool up6 = true;
  // The through-gateway probe over IPv6 fails (health.through_target6): degraded for IPv6
  // destinations only. None (no such probe): IPv6 goes by `degraded`, like IPv4.
  std::optional<bool> degraded6;
  std::optional<double> rtt_ms;
};
using PeerStates = std::map<std::string, PeerState>;  // by node name

// The outcome for one route set, for status and for the reconciler.
struct SetDecision {
  std::string name;
  std::vector<std::string> chosen;  // gateways in use (failover: one; balance: every healthy)
  bool all_down = false;            // no gateway usable: the all_down policy applies
  bool settled = true;  // false while a gateway's verdict is unknown (warm-up): routes kept
  std::string why;      // "cometa (priority 0) is up" / "no gateway is up: unreachable"
  std::vector<KernelRoute> routes;
  std::vector<PolicyRule> rules;
};

struct DesiredState {
  std::vector<SetDecision> sets;
  std::vector<KernelRoute> routes;  // every route we want, from every set and the probes
  std::vector<PolicyRule> rules;
  std::vector<RouteKey> frozen;  // routes of unsettled sets: never touched
};

// The table a route set's routes go into: the main table, or its own table when it applies to
// some source subnets only ("from"). Probe tables for through-gateway probes come first.
std::uint32_t setTable(const config::NodeConfig& node, std::size_t set_index);
// The firewall mark (and table) that steers probes through one gateway: by its host index.
std::uint32_t probeMark(const config::NodeConfig& node, std::size_t host_index);
// Whether host is probed through over IPv6 (health.through_target6): a gateway with an IPv6
// mesh address, on a dual-stack node. The policy's probe routes and the monitor's checks agree.
bool throughProbe6(const config::NodeConfig& node, const config::Host& host);

// previous: the last decision per set name (keep-last and "stay on the current gateway when an
// equal-priority one is only slightly faster").
DesiredState desiredRoutes(const config::NodeConfig& node, const PeerStates& peers,
                           const std::map<std::string, SetDecision>& previous);

}  // namespace meshbroker::routing
