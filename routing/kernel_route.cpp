#include "routing/kernel_route.hpp"

#include <exception>

namespace meshbroker::routing {

std::string_view toString(RouteType type) {
  switch (type) {
    case RouteType::kUnicast:
      return "unicast";
    case RouteType::kUnreachable:
      return "unreachable";
    case RouteType::kBlackhole:
      return "blackhole";
  }
  return "unicast";
}

std::string protocolName(std::uint8_t protocol) {
  // The names of /etc/iproute2/rt_protos (those a mesh node meets).
  switch (protocol) {
    case 2:
      return "kernel";
    case 3:
      return "boot";
    case 4:
      return "static";
    case 11:
      return "zebra";
    case 12:
      return "bird";
    case 16:
      return "dhcp";
    case 42:
      return "babel";
    default:
      return std::to_string(protocol);
  }
}

std::string describe(const KernelRoute& route) {
  std::string text;
  if (route.type != RouteType::kUnicast) text = std::string(toString(route.type)) + " ";
  text += route.to.str();
  if (route.table != kMainTable) text += " table " + std::to_string(route.table);
  if (route.metric != 0) text += " metric " + std::to_string(route.metric);
  const bool multipath = route.next_hops.size() > 1;
  for (const NextHop& hop : route.next_hops) {
    text += multipath ? " nexthop via " : " via ";
    text += hop.gateway.str();
    if (!hop.device.empty()) text += " dev " + hop.device;
    if (multipath) text += " weight " + std::to_string(hop.weight);
  }
  return text;
}

std::string describe(const PolicyRule& rule) {
  std::string text =
      std::string(rule.v6 ? "-6 " : "") + "priority " + std::to_string(rule.priority);
  if (rule.from) text += " from " + rule.from->str();
  if (rule.fwmark != 0) text += " fwmark " + std::to_string(rule.fwmark);
  if (!rule.from && rule.fwmark == 0) text += " from all";
  text += " lookup " + std::to_string(rule.table);
  return text;
}

namespace {

template <class Change>
std::vector<std::string> eachOf(std::span<const KernelRoute> routes, Change change) {
  std::vector<std::string> errors;
  for (const KernelRoute& route : routes) {
    try {
      change(route);
    } catch (const std::exception& e) {
      errors.emplace_back(e.what());
    }
  }
  return errors;
}

}  // namespace

std::vector<std::string> RouteTable::replaceAll(std::span<const KernelRoute> routes) {
  return eachOf(routes, [this](const KernelRoute& route) { replace(route); });
}

std::vector<std::string> RouteTable::removeAll(std::span<const KernelRoute> routes) {
  return eachOf(routes, [this](const KernelRoute& route) { remove(route); });
}

}  // namespace meshbroker::routing
