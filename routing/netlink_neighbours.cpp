// NetlinkNeighbours: one dump of the neighbour table (both families), one request per change, over
// libnl-route-3.
#include "routing/netlink_neighbours.hpp"

#include <arpa/inet.h>
#include <linux/neighbour.h>
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>

#include <cctype>
#include <cstring>

namespace meshbroker::routing {
namespace {

using Neigh = io::NlPtr<rtnl_neigh, rtnl_neigh_put>;
using Addr = io::NlPtr<nl_addr, nl_addr_put>;
using Cache = io::NlPtr<nl_cache, nl_cache_free>;

int indexOf(const std::string& device) {
  unsigned int index = if_nametoindex(device.c_str());
  if (index == 0) throw RouteTableError("no interface " + device + ": " + std::strerror(errno));
  return static_cast<int>(index);
}

std::string describe(const std::string& device, const Neighbour& neighbour) {
  return neighbour.address.str() + " lladdr " + neighbour.mac + " dev " + device;
}

Neigh build(int index, const Neighbour& neighbour) {
  Neigh neigh(rtnl_neigh_alloc());
  if (!neigh) throw RouteTableError("out of memory building a neighbour");
  const int family = neighbour.address.isV6() ? AF_INET6 : AF_INET;
  Addr dst;
  if (const auto* v6 = neighbour.address.v6()) {
    dst.reset(nl_addr_build(AF_INET6, v6->bytes().data(), v6->bytes().size()));
  } else {
    std::uint32_t wire = htonl(neighbour.address.v4()->value());
    dst.reset(nl_addr_build(AF_INET, &wire, sizeof wire));
  }
  nl_addr* raw = nullptr;
  if (!dst || nl_addr_parse(neighbour.mac.c_str(), AF_LLC, &raw) < 0) {
    throw RouteTableError("cannot build neighbour " + neighbour.address.str() + " lladdr " +
                          neighbour.mac);
  }
  Addr mac(raw);
  rtnl_neigh_set_ifindex(neigh.get(), index);
  rtnl_neigh_set_family(neigh.get(), family);
  rtnl_neigh_set_dst(neigh.get(), dst.get());
  rtnl_neigh_set_lladdr(neigh.get(), mac.get());
  rtnl_neigh_set_state(neigh.get(), NUD_PERMANENT);
  return neigh;
}

std::string macText(nl_addr* lladdr) {
  if (lladdr == nullptr || nl_addr_get_len(lladdr) != 6) return "";
  const auto* bytes = static_cast<const unsigned char*>(nl_addr_get_binary_addr(lladdr));
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2],
                bytes[3], bytes[4], bytes[5]);
  return text;
}

}  // namespace

NetlinkNeighbours::NetlinkNeighbours() {
  std::string error;
  sock_ = io::connectNetlink(NETLINK_ROUTE, &error);
  if (!sock_) throw RouteTableError(error);
}

NetlinkNeighbours::~NetlinkNeighbours() = default;

std::vector<Neighbour> NetlinkNeighbours::permanent(const std::string& device) {
  const int index = indexOf(device);
  nl_cache* raw = nullptr;
  if (int rc = rtnl_neigh_alloc_cache(sock_.get(), &raw); rc < 0) {
    throw RouteTableError(std::string("cannot list the kernel's neighbours: ") + nl_geterror(rc));
  }
  Cache cache(raw);
  std::vector<Neighbour> out;
  for (nl_object* object = nl_cache_get_first(cache.get()); object != nullptr;
       object = nl_cache_get_next(object)) {
    auto* neigh = reinterpret_cast<rtnl_neigh*>(object);
    const int family = rtnl_neigh_get_family(neigh);
    if (rtnl_neigh_get_ifindex(neigh) != index || (family != AF_INET && family != AF_INET6)) {
      continue;
    }
    if (!(rtnl_neigh_get_state(neigh) & NUD_PERMANENT)) continue;
    nl_addr* dst = rtnl_neigh_get_dst(neigh);
    const unsigned int length = family == AF_INET6 ? 16 : 4;
    if (dst == nullptr || nl_addr_get_len(dst) != length) continue;
    std::string mac = macText(rtnl_neigh_get_lladdr(neigh));
    if (mac.empty()) continue;  // a permanent entry with no (or a non-Ethernet) address
    if (family == AF_INET6) {
      config::Ipv6Address::Bytes bytes{};
      std::memcpy(bytes.data(), nl_addr_get_binary_addr(dst), bytes.size());
      out.push_back({config::Ipv6Address::fromBytes(bytes), mac});
    } else {
      std::uint32_t wire = 0;
      std::memcpy(&wire, nl_addr_get_binary_addr(dst), sizeof wire);
      out.push_back({config::Ipv4Address::fromUint(ntohl(wire)), mac});
    }
  }
  return out;
}

void NetlinkNeighbours::replace(const std::string& device, const Neighbour& neighbour) {
  auto neigh = build(indexOf(device), neighbour);
  if (int rc = rtnl_neigh_add(sock_.get(), neigh.get(), NLM_F_CREATE | NLM_F_REPLACE); rc < 0) {
    throw RouteTableError("cannot set neighbour " + describe(device, neighbour) + ": " +
                          nl_geterror(rc));
  }
}

void NetlinkNeighbours::remove(const std::string& device, const Neighbour& neighbour) {
  auto neigh = build(indexOf(device), neighbour);
  if (int rc = rtnl_neigh_delete(sock_.get(), neigh.get(), 0); rc < 0 && rc != -NLE_OBJ_NOTFOUND) {
    throw RouteTableError("cannot remove neighbour " + describe(device, neighbour) + ": " +
                          nl_geterror(rc));
  }
}

NeighbourPlan applyNeighbours(NetlinkNeighbours& table, const std::string& device,
                              const std::vector<Neighbour>& desired) {
  auto plan = planNeighbours(desired, table.permanent(device));
  for (const auto& neighbour : plan.replace) table.replace(device, neighbour);
  for (const auto& neighbour : plan.remove) table.remove(device, neighbour);
  return plan;
}

}  // namespace meshbroker::routing
