#include "routing/policy.hpp"

#include <algorithm>

#include "routing/static_routes.hpp"

namespace meshbroker::routing {
namespace {

constexpr std::uint32_t kMaxHosts = 1024;  // the loader's limit on "hosts"

// An equal-priority gateway must be this much faster before failover moves to it.
bool clearlyFaster(const PeerState& candidate, const PeerState& current) {
  if (!candidate.rtt_ms || !current.rtt_ms) return false;
  return *candidate.rtt_ms * 1.5 + 1.0 < *current.rtt_ms;
}

struct Candidate {
  const config::RouteVia* via;
  const config::Host* host;
  const PeerState* state;
};

}  // namespace

std::uint32_t setTable(const config::NodeConfig& node, std::size_t set_index) {
  if (node.routes.at(set_index).from.empty()) return kMainTable;
  return static_cast<std::uint32_t>(node.routing.table_base) + kMaxHosts +
         static_cast<std::uint32_t>(set_index);
}

std::uint32_t probeMark(const config::NodeConfig& node, std::size_t host_index) {
  return static_cast<std::uint32_t>(node.routing.table_base) +
         static_cast<std::uint32_t>(host_index);
}

DesiredState desiredRoutes(const config::NodeConfig& node, const PeerStates& peers,
                           const std::map<std::string, SetDecision>& previous) {
  DesiredState desired;
  const std::string device = node.tinc.interface.str();
  const auto base_priority = static_cast<std::uint32_t>(node.routing.rule_priority);
  static const PeerState kUnknown{};
  auto stateOf = [&](const std::string& name) -> const PeerState& {
    auto it = peers.find(name);
    return it == peers.end() ? kUnknown : it->second;
  };

  for (std::size_t s = 0; s < node.routes.size(); ++s) {
    const config::RouteSet& set = node.routes[s];
    SetDecision decision;
    decision.name = set.name.str();
    const std::uint32_t table = setTable(node, s);

    std::vector<Candidate> usable;
    for (const auto& via : set.via) {
      const config::Host* host = node.findHost(via.gateway);
      const PeerState& state = stateOf(via.gateway.str());
      if (!state.known) decision.settled = false;
      if (host && state.known && state.up && !state.drained) usable.push_back({&via, host, &state});
    }
    const bool any_healthy = std::any_of(usable.begin(), usable.end(),
                                         [](const Candidate& c) { return !c.state->degraded; });
    if (any_healthy) {
      std::erase_if(usable, [](const Candidate& c) { return c.state->degraded; });
    }

    const auto prev = previous.find(decision.name);
    std::vector<NextHop> hops;
    if (set.policy == config::RoutePolicy::kFailover && !usable.empty()) {
      std::stable_sort(usable.begin(), usable.end(), [](const Candidate& a, const Candidate& b) {
        if (a.via->priority != b.via->priority) return a.via->priority < b.via->priority;
        return a.state->rtt_ms.value_or(1e9) < b.state->rtt_ms.value_or(1e9);
      });
      const Candidate* pick = &usable.front();
      // Stay on the current gateway while it ties on priority and is not clearly slower.
      if (prev != previous.end() && prev->second.chosen.size() == 1) {
        for (const auto& candidate : usable) {
          if (candidate.via->gateway.str() == prev->second.chosen.front() &&
              candidate.via->priority == pick->via->priority &&
              !clearlyFaster(*pick->state, *candidate.state)) {
            pick = &candidate;
          }
        }
      }
      hops.push_back({pick->host->mesh_address, device, 1});
      decision.chosen = {pick->via->gateway.str()};
      decision.why = pick->via->gateway.str() + " (priority " +
                     std::to_string(pick->via->priority) + ") is the best gateway that is up";
      if (!any_healthy) decision.why += " (degraded: its through-gateway probe fails)";
    } else if (!usable.empty()) {
      for (const auto& candidate : usable) {
        hops.push_back({candidate.host->mesh_address, device, candidate.via->weight});
        decision.chosen.push_back(candidate.via->gateway.str());
      }
      std::sort(hops.begin(), hops.end(), [](const NextHop& a, const NextHop& b) {
        return a.gateway.value() < b.gateway.value();
      });
      // A single next hop carries no weight in the kernel (it reads back as 1).
      if (hops.size() == 1) hops.front().weight = 1;
      decision.why = "balanced over " + std::to_string(usable.size()) + " of " +
                     std::to_string(set.via.size()) + " gateways";
    }

    RouteType type = RouteType::kUnicast;
    if (usable.empty()) {
      decision.all_down = true;
      switch (set.all_down) {
        case config::AllDownPolicy::kUnreachable:
          type = RouteType::kUnreachable;
          break;
        case config::AllDownPolicy::kBlackhole:
          type = RouteType::kBlackhole;
          break;
        case config::AllDownPolicy::kKeepLast:
          if (prev != previous.end() && !prev->second.routes.empty() &&
              prev->second.routes.front().type == RouteType::kUnicast) {
            hops = prev->second.routes.front().next_hops;
            decision.chosen = prev->second.chosen;
          } else {
            type = RouteType::kUnreachable;
          }
          break;
      }
      decision.why =
          "no gateway is up: " +
          std::string(type == RouteType::kUnicast ? "keeping the last route" : toString(type));
    }
    for (const auto& to : set.to) {
      KernelRoute route{to, table, 0, type,
                        type == RouteType::kUnicast ? hops : std::vector<NextHop>{}};
      decision.routes.push_back(route);
    }
    for (std::size_t f = 0; f < set.from.size(); ++f) {
      decision.rules.push_back({base_priority + kMaxHosts + static_cast<std::uint32_t>(s * 16 + f),
                                set.from[f], 0, table});
    }
    if (!decision.settled) {
      decision.all_down = false;
      decision.chosen.clear();
      decision.why = "waiting for the first verdicts (warm-up): routes left as they are";
      for (const auto& route : decision.routes) desired.frozen.push_back(keyOf(route));
    } else {
      desired.routes.insert(desired.routes.end(), decision.routes.begin(), decision.routes.end());
    }
    desired.rules.insert(desired.rules.end(), decision.rules.begin(), decision.rules.end());
    desired.sets.push_back(std::move(decision));
  }

  for (std::size_t h = 0; h < node.hosts.size(); ++h) {
    const config::Host& host = node.hosts[h];
    // Through-gateway probes: marked packets to the target leave through this gateway only.
    if (host.role == config::Role::kGateway && node.health.through_target) {
      const std::uint32_t mark = probeMark(node, h);
      desired.routes.push_back(
          {*config::Cidr::parse(node.health.through_target->str() + "/32", nullptr),
           mark,
           0,
           RouteType::kUnicast,
           {{host.mesh_address, device, 1}}});
      // Anything else with this mark is unreachable: a marked probe must never fall through
      // to the main table (and so to the active gateway), or a dead gateway would look alive.
      desired.routes.push_back(
          {*config::Cidr::parse("0.0.0.0/0", nullptr), mark, 0, RouteType::kUnreachable, {}});
      desired.rules.push_back(
          {base_priority + static_cast<std::uint32_t>(h), std::nullopt, mark, mark});
    }
  }
  // Gateway role: the route back to a server's OpenVPN clients (the same routes tinc-up
  // installs) exists only while that server is reachable over the mesh, so the mesh's routing
  // protocol withdraws it when not.
  for (const auto& back : routesBackToClients(node)) {
    const PeerState& state = stateOf(back.server);
    KernelRoute route{back.to, kMainTable, 0, RouteType::kUnicast, {{back.via, device, 1}}};
    if (!state.known) {
      desired.frozen.push_back(keyOf(route));
    } else if (state.up) {
      desired.routes.push_back(std::move(route));
    }
  }
  return desired;
}

}  // namespace meshbroker::routing
