// Names of the model's enums, as written in config files.
#include "config/model.hpp"

#include <algorithm>

namespace meshbroker::config {

std::string_view toString(Role role) { return role == Role::kServer ? "server" : "gateway"; }

std::string_view toString(TincMode mode) {
  switch (mode) {
    case TincMode::kRouter:
      return "router";
    case TincMode::kSwitch:
      return "switch";
    case TincMode::kHub:
      return "hub";
  }
  return "switch";
}

std::string_view toString(Proto proto) { return proto == Proto::kUdp ? "udp" : "tcp"; }

std::string_view toString(InstanceKind kind) {
  return kind == InstanceKind::kPublic ? "public" : "private";
}

std::string_view toString(RoutePolicy policy) {
  return policy == RoutePolicy::kFailover ? "failover" : "balance";
}

std::string_view toString(AllDownPolicy policy) {
  switch (policy) {
    case AllDownPolicy::kUnreachable:
      return "unreachable";
    case AllDownPolicy::kBlackhole:
      return "blackhole";
    case AllDownPolicy::kKeepLast:
      return "keep";
  }
  return "unreachable";
}

const Host* NodeConfig::findHost(const NodeName& host_name) const {
  for (const auto& host : hosts) {
    if (host.name == host_name) return &host;
  }
  return nullptr;
}

void resolveAllGateways(NodeConfig& config) {
  std::vector<const Host*> gateways;
  for (const auto& host : config.hosts) {
    if (host.role == Role::kGateway && host.name != config.name) gateways.push_back(&host);
  }
  std::sort(gateways.begin(), gateways.end(),
            [](const Host* a, const Host* b) { return a->name.str() < b->name.str(); });
  for (auto& set : config.routes) {
    if (!set.all_gateways) continue;
    set.via.clear();
    for (const auto* host : gateways) set.via.push_back(RouteVia{host->name, 1, 0});
  }
}

}  // namespace meshbroker::config
