// RouteTable over real netlink (libnl-3 / libnl-route-3): IPv4 routes and policy rules that
// carry our protocol number, in every table.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/netlink.hpp"
#include "routing/kernel_route.hpp"

namespace meshbroker::routing {

// One NETLINK_ROUTE socket, opened by the constructor and closed by the destructor. Not
// thread-safe: give each thread its own instance.
//
// What the kernel does that callers should know (pinned by the KernelFact* tests):
// - NLM_F_REPLACE matches a route on (destination, tos, table, metric), not on the protocol:
//   replace() of a key that a route of another protocol already holds takes that route over.
//   Keep our routes on keys nobody else uses (our own table, or our own metric):
//   foreignRoutes() lists the keys held, routing::stepAside() moves ours off them.
// - A delete with metric 0 matches any metric: remove() of an absent metric-0 route deletes
//   our route with the same destination, table and type at the lowest other metric. Remove
//   what routes() reported, not guesses.
// - The kernel matches a rule delete on the selectors the request carries: remove() of a rule
//   without a fwmark can hit our rule with the same priority, source and table plus a mark.
// - A plain (single next hop) route has no weight in the kernel: routes() reports weight 1.
// - routes() reports the device the kernel chose when replace() named none.
class NetlinkRouteTable : public RouteTable {
 public:
  explicit NetlinkRouteTable(std::uint8_t protocol = kDefaultProtocol);
  ~NetlinkRouteTable() override;
  NetlinkRouteTable(const NetlinkRouteTable&) = delete;
  NetlinkRouteTable& operator=(const NetlinkRouteTable&) = delete;

  std::uint8_t protocol() const { return protocol_; }

  // Unicast (plain or multipath, next hops sorted by gateway), unreachable and blackhole
  // routes. Routes we cannot represent (other types, nexthop objects, device-only routes, tos
  // or source selectors, IPv6) are skipped. A failed dump throws RouteTableError.
  std::vector<KernelRoute> routes() override;
  // Rules with action "lookup table" and only the selectors PolicyRule has; others skipped.
  std::vector<PolicyRule> rules() override;
  // Keys of the IPv4 routes of other protocols that replace() could hit (tos 0, no source).
  std::vector<ForeignRoute> foreignRoutes() override;
  void replace(const KernelRoute& route) override;
  void remove(const KernelRoute& route) override;  // absent: nothing to do
  // Batches of requests, one sendmsg() each; only failures are answered.
  std::vector<std::string> replaceAll(std::span<const KernelRoute> routes) override;
  std::vector<std::string> removeAll(std::span<const KernelRoute> routes) override;
  // How many batches replaceAll() and removeAll() sent so far (one sendmsg() each).
  std::size_t batchesSent() const { return batches_sent_; }
  void add(const PolicyRule& rule) override;     // already there: nothing to do
  void remove(const PolicyRule& rule) override;  // absent: nothing to do

 private:
  static io::NetlinkSocket connect();
  // Replaces the socket after a failure that may have left replies unread on it.
  void reconnect();

  std::uint8_t protocol_;
  io::NetlinkSocket sock_;
  std::size_t batches_sent_ = 0;
};

}  // namespace meshbroker::routing
