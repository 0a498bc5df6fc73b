// Benchmark: NetlinkRouteTable installing, listing, moving and removing COUNT /32 routes.
// Prints one JSON line per step; bench/routes runs it in a namespace and compares with iproute2.
//
// Usage: route_bench COUNT DEVICE GATEWAY_A GATEWAY_B   (root, in a scratch namespace)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "routing/netlink_route_table.hpp"

namespace {

using meshbroker::config::Cidr;
using meshbroker::config::Ipv4Address;
using meshbroker::routing::KernelRoute;
using meshbroker::routing::NetlinkRouteTable;
using meshbroker::routing::NextHop;

// 10.128.0.0/9 holds the routes: one /32 each.
constexpr std::uint32_t kBase = (10u << 24) | (128u << 16);
constexpr long kMaxCount = 1L << 23;

Ipv4Address parseAddress(const char* text) {
  std::string why;
  auto address = Ipv4Address::parse(text, &why);
  if (!address) throw std::invalid_argument(std::string("gateway \"") + text + "\" " + why);
  return *address;
}

std::vector<KernelRoute> makeRoutes(long count, const std::string& device, Ipv4Address gateway) {
  std::vector<KernelRoute> routes;
  routes.reserve(static_cast<std::size_t>(count));
  for (long i = 0; i < count; ++i) {
    auto address = Ipv4Address::fromUint(kBase + static_cast<std::uint32_t>(i));
    auto to = Cidr::parse(address.str() + "/32", nullptr);
    routes.push_back(KernelRoute{.to = *to,
                                 .table = meshbroker::routing::kMainTable,
                                 .metric = 0,
                                 .type = meshbroker::routing::RouteType::kUnicast,
                                 .next_hops = {NextHop{.gateway = gateway, .device = device}}});
  }
  return routes;
}

template <class F>
double secondsOf(F&& work) {
  auto start = std::chrono::steady_clock::now();
  work();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void report(const std::string& method, long routes, double seconds, const std::string& note) {
  nlohmann::ordered_json line = {
      {"bench", "routes"},
      {"method", method},
      {"routes", routes},
      {"seconds", seconds},
      {"routes_per_s", seconds > 0 ? static_cast<double>(routes) / seconds : 0.0}};
  if (!note.empty()) line["note"] = note;
  std::cout << line.dump() << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: " << argv[0] << " COUNT DEVICE GATEWAY_A GATEWAY_B\n";
    return 2;
  }
  try {
    char* end = nullptr;
    long count = std::strtol(argv[1], &end, 10);
    if (*end != '\0' || count < 1 || count > kMaxCount) {
      std::cerr << "COUNT \"" << argv[1] << "\" is not 1.." << kMaxCount << "\n";
      return 2;
    }
    const std::string device = argv[2];
    auto via_a = makeRoutes(count, device, parseAddress(argv[3]));
    auto via_b = makeRoutes(count, device, parseAddress(argv[4]));
    NetlinkRouteTable table;
    auto check = [](const std::vector<std::string>& errors) {
      if (!errors.empty()) {
        throw std::runtime_error(std::to_string(errors.size()) +
                                 " changes failed, first: " + errors.front());
      }
    };
    auto expectListed = [&](std::size_t want) {
      std::size_t listed = table.routes().size();
      if (listed != want) {
        throw std::runtime_error("routes() listed " + std::to_string(listed) + " routes, want " +
                                 std::to_string(want));
      }
    };

    // What the daemon does (routing::applyPlan): replaceAll/removeAll, many requests per
    // system call, only failures answered.
    std::vector<std::string> errors;
    double create = secondsOf([&] { errors = table.replaceAll(via_a); });
    check(errors);
    report("netlink", count, create, "NetlinkRouteTable::replaceAll, batches of requests");

    std::size_t listed = 0;
    double list = secondsOf([&] { listed = table.routes().size(); });
    if (listed != via_a.size()) {
      std::cerr << "routes() listed " << listed << " routes, want " << via_a.size() << "\n";
      return 1;
    }
    report("netlink-list", count, list, "one NetlinkRouteTable::routes() dump");

    double move = secondsOf([&] { errors = table.replaceAll(via_b); });
    check(errors);
    expectListed(via_b.size());
    report("netlink-move", count, move, "replaceAll of every route's next hop in place (failover)");

    double remove = secondsOf([&] { errors = table.removeAll(via_b); });
    check(errors);
    expectListed(0);
    report("netlink-remove", count, remove, "NetlinkRouteTable::removeAll");

    // One request and one ack per route, as before batching (and as `ip -batch` does).
    double single = secondsOf([&] {
      for (const auto& route : via_a) table.replace(route);
    });
    expectListed(via_a.size());
    report("netlink-single", count, single,
           "NetlinkRouteTable::replace, one request and ack per route");
    double single_move = secondsOf([&] {
      for (const auto& route : via_b) table.replace(route);
    });
    report("netlink-single-move", count, single_move, "replace per route of every next hop");
    double single_remove = secondsOf([&] {
      for (const auto& route : via_b) table.remove(route);
    });
    report("netlink-single-remove", count, single_remove, "NetlinkRouteTable::remove per route");
    if (!table.routes().empty()) {
      std::cerr << "routes left after removing them all\n";
      return 1;
    }
  } catch (const std::exception& error) {
    std::cerr << "route_bench: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
