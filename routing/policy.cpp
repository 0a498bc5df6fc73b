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

bool throughProbe6(const config::NodeConfig& node, const config::Host& host) {
  return host.role == config::Role::kGateway && node.health.through_target6 && node.tinc.address6 &&
         host.mesh_address6;
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

    const auto prev = previous.find(decision.name);
    // Each family is routed over the usable gateways that have an address in it (IPv6: a
    // mesh_address6 whose check is up); the decision shown is IPv4's when the set has IPv4
    // destinations.
    bool reported = false;
    for (const bool v6 : {false, true}) {
      std::vector<config::IpPrefix> destinations;
      for (const auto& to : set.to) {
        if (to.isV6() == v6) destinations.push_back(to);
      }
      if (destinations.empty()) continue;
      std::vector<Candidate> family = usable;
      if (v6) {
        std::erase_if(family,
                      [](const Candidate& c) { return !c.host->mesh_address6 || !c.state->up6; });
      }
      // A degraded gateway (its through-gateway probe of this family fails) only when no
      // healthy one is left.
      auto degraded = [v6](const Candidate& c) {
        return v6 ? c.state->degraded6.value_or(c.state->degraded) : c.state->degraded;
      };
      const bool any_healthy = std::any_of(family.begin(), family.end(),
                                           [&](const Candidate& c) { return !degraded(c); });
      if (any_healthy) std::erase_if(family, degraded);
      auto hopOf = [&](const Candidate& c, int weight) {
        return NextHop{v6 ? config::IpAddress(*c.host->mesh_address6)
                          : config::IpAddress(c.host->mesh_address),
                       device, weight};
      };
      std::vector<NextHop> hops;
      std::vector<std::string> chosen;
      std::string why;
      if (set.policy == config::RoutePolicy::kFailover && !family.empty()) {
        std::stable_sort(family.begin(), family.end(), [](const Candidate& a, const Candidate& b) {
          if (a.via->priority != b.via->priority) return a.via->priority < b.via->priority;
          return a.state->rtt_ms.value_or(1e9) < b.state->rtt_ms.value_or(1e9);
        });
        const Candidate* pick = &family.front();
        // Stay on the current gateway while it ties on priority and is not clearly slower.
        if (prev != previous.end() && prev->second.chosen.size() == 1) {
          for (const auto& candidate : family) {
            if (candidate.via->gateway.str() == prev->second.chosen.front() &&
                candidate.via->priority == pick->via->priority &&
                !clearlyFaster(*pick->state, *candidate.state)) {
              pick = &candidate;
            }
          }
        }
        hops.push_back(hopOf(*pick, 1));
        chosen = {pick->via->gateway.str()};
        why = pick->via->gateway.str() + " (priority " + std::to_string(pick->via->priority) +
              ") is the best gateway that is up";
        if (!any_healthy) why += " (degraded: its through-gateway probe fails)";
      } else if (!family.empty()) {
        for (const auto& candidate : family) {
          hops.push_back(hopOf(candidate, candidate.via->weight));
          chosen.push_back(candidate.via->gateway.str());
        }
        std::sort(hops.begin(), hops.end(),
                  [](const NextHop& a, const NextHop& b) { return a.gateway < b.gateway; });
        // A single next hop carries no weight in the kernel (it reads back as 1).
        if (hops.size() == 1) hops.front().weight = 1;
        why = "balanced over " + std::to_string(family.size()) + " of " +
              std::to_string(set.via.size()) + " gateways";
      }

      RouteType type = RouteType::kUnicast;
      if (family.empty()) {
        switch (set.all_down) {
          case config::AllDownPolicy::kUnreachable:
            type = RouteType::kUnreachable;
            break;
          case config::AllDownPolicy::kBlackhole:
            type = RouteType::kBlackhole;
            break;
          case config::AllDownPolicy::kKeepLast: {
            // The last unicast route of this family, if there was one.
            const KernelRoute* last = nullptr;
            if (prev != previous.end()) {
              for (const auto& route : prev->second.routes) {
                if (route.to.isV6() == v6 && route.type == RouteType::kUnicast) last = &route;
              }
            }
            if (last) {
              hops = last->next_hops;
              chosen = prev->second.chosen;
            } else {
              type = RouteType::kUnreachable;
            }
            break;
          }
        }
        why = "no gateway is up: " +
              std::string(type == RouteType::kUnicast ? "keeping the last route" : toString(type));
      }
      if (!reported) {
        decision.all_down = family.empty();
        decision.chosen = chosen;
        decision.why = why;
        reported = true;
      }
      for (const auto& to : destinations) {
        decision.routes.push_back(
            {to, table, 0, type, type == RouteType::kUnicast ? hops : std::vector<NextHop>{}});
      }
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
    // The same over IPv6, in the same table (the kernel keeps the families' tables apart).
    if (throughProbe6(node, host)) {
      const std::uint32_t mark = probeMark(node, h);
      desired.routes.push_back({config::IpPrefix(*config::Cidr6::parse(
                                    node.health.through_target6->str() + "/128", nullptr)),
                                mark,
                                0,
                                RouteType::kUnicast,
                                {{*host.mesh_address6, device, 1}}});
      desired.routes.push_back({config::IpPrefix(*config::Cidr6::parse("::/0", nullptr)),
                                mark,
                                0,
                                RouteType::kUnreachable,
                                {}});
      desired.rules.push_back({.priority = base_priority + static_cast<std::uint32_t>(h),
                               .from = std::nullopt,
                               .fwmark = mark,
                               .table = mark,
                               .v6 = true});
    }
  }
  // Gateway role: the route back to a server's OpenVPN clients (the same routes tinc-up
  // installs) exists only while that server is reachable over the mesh, so the mesh's routing
  // protocol withdraws it when not.
  auto routeBack = [&](const std::string& server, KernelRoute route) {
    const PeerState& state = stateOf(server);
    if (!state.known) {
      desired.frozen.push_back(keyOf(route));
    } else if (state.up) {
      desired.routes.push_back(std::move(route));
    }
  };
  for (const auto& back : routesBackToClients(node)) {
    routeBack(back.server, {back.to, kMainTable, 0, RouteType::kUnicast, {{back.via, device, 1}}});
  }
  for (const auto& back : routesBackToClients6(node)) {
    routeBack(back.server, {back.to, kMainTable, 0, RouteType::kUnicast, {{back.via, device, 1}}});
  }
  return desired;
}

}  // namespace meshbroker::routing
