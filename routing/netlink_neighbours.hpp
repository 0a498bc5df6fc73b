// The mesh interface's permanent neighbours (IPv4 and IPv6) over real netlink (libnl-route-3): what
// tinc-up installs at start, kept current by the daemon when hosts join or leave (no tincd
// restart).
#pragma once

#include <string>
#include <vector>

#include "io/netlink.hpp"
#include "routing/kernel_route.hpp"
#include "routing/static_routes.hpp"

namespace meshbroker::routing {

// One NETLINK_ROUTE socket. Errors throw RouteTableError with the kernel's reason.
class NetlinkNeighbours {
 public:
  NetlinkNeighbours();
  ~NetlinkNeighbours();
  NetlinkNeighbours(const NetlinkNeighbours&) = delete;
  NetlinkNeighbours& operator=(const NetlinkNeighbours&) = delete;

  // The device's IPv4 and IPv6 entries in state PERMANENT (MACs in lower case). Others are
  // skipped.
  std::vector<Neighbour> permanent(const std::string& device);
  void replace(const std::string& device, const Neighbour& neighbour);  // made PERMANENT
  void remove(const std::string& device, const Neighbour& neighbour);   // absent: nothing to do

 private:
  io::NetlinkSocket sock_;
};

// Makes the device's permanent neighbours `desired` (planNeighbours) and returns what it
// changed. The device missing (tincd not up yet: its tinc-up installs them) throws.
NeighbourPlan applyNeighbours(NetlinkNeighbours& table, const std::string& device,
                              const std::vector<Neighbour>& desired);

}  // namespace meshbroker::routing
