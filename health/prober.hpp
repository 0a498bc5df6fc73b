// One probe, sent asynchronously on the event loop: the narrow interface between the health
// logic (pure, fake clock in tests) and sockets (ICMP, UDP), tested for real in namespaces.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "config/types.hpp"

namespace meshbroker::health {

enum class ProbeKind { kIcmp, kUdp };
std::string_view toString(ProbeKind kind);

struct ProbeTarget {
  ProbeKind kind = ProbeKind::kIcmp;
  // IPv4 or IPv6: an IPv6 address makes an ICMPv6 echo or a UDP-over-IPv6 probe.
  config::IpAddress address = config::Ipv4Address::fromUint(0);
  std::uint16_t port = 0;    // UDP only
  std::string payload;       // UDP only: the datagram sent; any reply datagram counts
  std::uint32_t fwmark = 0;  // SO_MARK on the socket (0: none): steers the probe through
                             // one gateway via a policy rule and a per-gateway table
  std::string device;        // SO_BINDTODEVICE (empty: none)
};

struct ProbeResult {
  bool ok = false;
  std::chrono::microseconds rtt{0};  // when ok
  std::string error;                 // when not ok: "timeout", "unreachable", errno text...
};

// Sends probes and calls back exactly once per probe, on the io_context's thread, with the
// result (a timeout is a result, not an exception). Destroying the prober cancels every
// outstanding probe without calling back.
class Prober {
 public:
  using Callback = std::function<void(const ProbeResult&)>;
  virtual ~Prober() = default;
  virtual void probe(const ProbeTarget& target, std::chrono::milliseconds timeout,
                     Callback done) = 0;
};

}  // namespace meshbroker::health
