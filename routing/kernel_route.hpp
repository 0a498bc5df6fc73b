// Kernel routes and policy rules as meshbroker owns them, and the narrow interface to the
// kernel's table. The netlink adapter implements it for real; unit tests use a fake.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/types.hpp"

namespace meshbroker::routing {

// Our routing protocol number (rtm_protocol / FRA_PROTOCOL): we touch only routes and rules
// that carry it, and adopt them on start-up. 0..255; see /etc/iproute2/rt_protos.
inline constexpr std::uint8_t kDefaultProtocol = 177;
inline constexpr std::uint32_t kMainTable = 254;

struct NextHop {
  config::IpAddress gateway;  // the route's family (IPv4 or IPv6, issue 21)
  std::string device;         // interface name; empty: let the kernel pick by the gateway
  int weight = 1;             // 1..256; only meaningful in a multipath route
  bool operator==(const NextHop&) const = default;
};

enum class RouteType { kUnicast, kUnreachable, kBlackhole };
std::string_view toString(RouteType type);

struct KernelRoute {
  config::IpPrefix to;
  std::uint32_t table = kMainTable;
  std::uint32_t metric = 0;  // RTA_PRIORITY
  RouteType type = RouteType::kUnicast;
  // Unicast: one next hop is a plain route, several a multipath route (sorted by gateway).
  // Unreachable/blackhole: empty.
  std::vector<NextHop> next_hops;
  bool operator==(const KernelRoute&) const = default;
};

// The identity of a route in the kernel: what NLM_F_REPLACE matches on.
struct RouteKey {
  config::IpPrefix to;
  std::uint32_t table = kMainTable;
  std::uint32_t metric = 0;
  auto operator<=>(const RouteKey&) const = default;
};
inline RouteKey keyOf(const KernelRoute& route) { return {route.to, route.table, route.metric}; }

// A route that does not carry our protocol: the administrator's, the kernel's or another
// routing daemon's (babeld, bird). Never changed by us; ours step aside from its key.
struct ForeignRoute {
  RouteKey key;
  std::uint8_t protocol = 0;  // rtm_protocol: 2 kernel, 3 boot, 4 static, 12 bird, 42 babel...
  auto operator<=>(const ForeignRoute&) const = default;
};
// "static", "boot", "babel"... or the number.
std::string protocolName(std::uint8_t protocol);

// `ip rule`: traffic from a source prefix, or carrying a firewall mark, looks up a table.
struct PolicyRule {
  std::uint32_t priority = 0;
  std::optional<config::Cidr> from;
  std::uint32_t fwmark = 0;  // 0: no mark match
  std::uint32_t table = kMainTable;
  bool v6 = false;  // an IPv6 rule (`ip -6 rule`): fwmark only, it has no IPv4 source
  auto operator<=>(const PolicyRule&) const = default;
};

// "10.64.0.0/11 table 254 metric 0 via 100.64.12.9 dev mesh weight 1 ..." in ip-route words.
std::string describe(const KernelRoute& route);
std::string describe(const PolicyRule& rule);

class RouteTableError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The kernel's routes and rules that carry our protocol number, in every table.
class RouteTable {
 public:
  virtual ~RouteTable() = default;
  virtual std::vector<KernelRoute> routes() = 0;
  virtual std::vector<PolicyRule> rules() = 0;
  // The IPv4 and IPv6 routes that do not carry our protocol, in every table (keys only).
  virtual std::vector<ForeignRoute> foreignRoutes() = 0;
  // Atomic create-or-replace (NLM_F_CREATE | NLM_F_REPLACE): never a window without a route.
  virtual void replace(const KernelRoute& route) = 0;
  virtual void remove(const KernelRoute& route) = 0;
  virtual void add(const PolicyRule& rule) = 0;
  virtual void remove(const PolicyRule& rule) = 0;

  // Every route replaced (removed) as replace() (remove()) would, in order, each failure's
  // message returned instead of thrown: one change failing does not stop the others. The
  // default calls replace() (remove()) per route; the netlink table sends many requests per
  // system call and reads only the kernel's errors back.
  virtual std::vector<std::string> replaceAll(std::span<const KernelRoute> routes);
  virtual std::vector<std::string> removeAll(std::span<const KernelRoute> routes);
};

}  // namespace meshbroker::routing
