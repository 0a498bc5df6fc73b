// Per-client bandwidth limits of a public OpenVPN instance: a pure plan from the config, and a
// netlink (libnl-route-3) adapter that puts it on the instance's tun device.
//
// Download (server -> client) leaves through the tun device: an HTB class per client address,
// chosen by a u32 match on the destination. Upload (client -> server) enters through the tun
// device: an ingress u32 filter redirects the subnet's packets (mirred) to an ifb device that
// carries the same HTB classes, chosen by source. Shaping (a queue) instead of policing keeps
// TCP close to the limit; see docs/openvpn.md for the measurements.
//
// A dual-stack instance (subnet6) shapes a client's IPv6 in the same class as its IPv4: OpenVPN
// hands out both addresses from one pool index (pool.c), so the class of the IPv4 address
// network+2+i also matches the IPv6 address base6+i (base6 = network6 + 0x1000 below /112,
// network6 + 2 from /112 on). u32 filters of protocol IPv6 (offsets 8 and 24) do it.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/model.hpp"

namespace meshbroker::backends {

class RateLimitError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ClientClass {
  config::Ipv4Address address;
  std::uint16_t minor = 0;  // HTB class 1:minor
  // The IPv6 address OpenVPN pairs with `address` (dual-stack instances; none for the
  // server's own address).
  std::optional<config::Ipv6Address> address6 = std::nullopt;
  bool operator==(const ClientClass&) const = default;
};

struct RateLimitPlan {
  std::string device;      // the tun device
  std::string ifb_device;  // carries the upload direction
  config::Cidr subnet;
  std::optional<config::Cidr6> subnet6;  // dual-stack instances
  std::uint64_t bits_per_second = 0;
  std::uint32_t burst_bytes = 0;     // HTB buffer per class
  std::uint32_t queue_packets = 0;   // pfifo limit per class
  std::vector<ClientClass> classes;  // one per usable client address
  bool operator==(const RateLimitPlan&) const = default;
};

// The ifb device paired with a tun device: "ifb" + 8 hex digits of a hash of its name (fits
// IFNAMSIZ whatever the tun name, stable across restarts).
std::string ifbNameFor(const std::string& device);

// address + n (the pool's n-th IPv6 address), carrying across bytes.
config::Ipv6Address plus(const config::Ipv6Address& address, std::uint32_t n);

// The plan for an instance with a rate_limit. Throws RateLimitError when it has none.
RateLimitPlan planRateLimit(const config::OpenVpnInstance& instance);

// Applies plans to the kernel. Replaces whatever root/ingress qdisc the device had (only
// meshbroker shapes these devices), so applying twice is the same as once.
class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  virtual void apply(const RateLimitPlan& plan) = 0;
  // Removes the qdiscs and the ifb device; a missing device is not an error.
  virtual void clear(const RateLimitPlan& plan) = 0;
};

// The real one, over a netlink route socket of the current network namespace.
class NetlinkRateLimiter : public RateLimiter {
 public:
  void apply(const RateLimitPlan& plan) override;
  void clear(const RateLimitPlan& plan) override;
};

}  // namespace meshbroker::backends
