// The real Prober: ICMP echo and UDP probes on kernel sockets, asynchronous on one io_context.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "health/deadline_queue.hpp"
#include "health/prober.hpp"
#include "io/asio.hpp"

namespace meshbroker::health {

// Which kernel socket carries ICMP echo. kDatagram is the unprivileged "ping socket"
// (net.ipv4.ping_group_range must cover one of our groups; the kernel picks the identifier
// and hands us only our replies); kRaw needs CAP_NET_RAW and sees every ICMP packet of the
// namespace. kAuto tries the datagram socket and falls back to raw on EACCES/EPERM.
enum class IcmpSocketType { kAuto, kDatagram, kRaw };
std::string_view toString(IcmpSocketType type);

// --- Pure ICMP packet handling (no I/O), shared by both socket types and the tests. ---------

inline constexpr std::size_t kEchoDataSize = 16;  // 8-byte probe token + 8 bytes of padding

// An echo request: header (type 8, code 0, checksum, identifier, sequence) and the token.
std::vector<std::uint8_t> buildEchoRequest(std::uint16_t identifier, std::uint16_t sequence,
                                           std::uint64_t token);
std::uint16_t internetChecksum(std::span<const std::uint8_t> bytes);

// What a received ICMP packet says about one of our echo requests.
struct IcmpMessage {
  enum class Kind { kEchoReply, kUnreachable, kTimeExceeded };
  Kind kind = Kind::kEchoReply;
  std::uint16_t identifier = 0;
  std::uint16_t sequence = 0;
  std::optional<std::uint64_t> token;        // echo reply: the token echoed back
  std::optional<std::uint32_t> destination;  // error: where our request was going (host order)
  std::optional<config::Ipv6Address> destination6;  // the same for ICMPv6
};

// Parses what a socket received. with_ip_header: raw sockets deliver the IPv4 header first,
// ping sockets do not. Anything else than an echo reply or an error quoting an echo request
// (short, garbled, another type) gives nullopt.
std::optional<IcmpMessage> parseIcmp(std::span<const std::uint8_t> packet, bool with_ip_header);

// ICMPv6 (RFC 4443): an echo request of type 128 with the token, its checksum left to the
// kernel (it covers a pseudo-header only the kernel knows: raw and ping sockets both fill it
// in); and what an ICMPv6 socket received (never with the IPv6 header, which neither socket
// type delivers): an echo reply (129), or an unreachable (1) or time exceeded (3) quoting the
// IPv6 header and our echo request. Anything else gives nullopt.
std::vector<std::uint8_t> buildEchoRequest6(std::uint16_t identifier, std::uint16_t sequence,
                                            std::uint64_t token);
std::optional<IcmpMessage> parseIcmp6(std::span<const std::uint8_t> packet);

// --- The prober -----------------------------------------------------------------------------

// ICMP: one socket per (fwmark, device, family), shared by every probe with that key and kept open,
// probes told apart by sequence number (and identifier on raw sockets) and a random token in
// the payload. UDP: a connected socket per outstanding probe (the payload is the operator's,
// so there is no room for a token: a socket of its own is what ties a reply to its probe);
// a socket whose probe got its answer goes back to a small idle pool for that peer and is
// reused, one that timed out is closed, since a late reply could still arrive on it.
//
// What a probe costs (issue 22: 100 gateways at 10 Hz within 2 % of a core) is mostly system
// calls, so: one timer for every probe's timeout (a DeadlineQueue; a timer per probe meant a
// cancelled wait and one more pass through the reactor per answer), outstanding probes in
// reused slots (no allocation, no shared_ptr per probe), all ready ICMP datagrams read with
// recvmmsg per wake-up, and a socket's error queue read only when the socket says an error is
// pending (or, for ICMP, when a wake-up finds no datagram).
//
// The io_context must outlive the prober. Destroying the prober closes every socket and
// calls no callback any more, even for replies already queued on the io_context.
class SocketProber : public Prober {
 public:
  explicit SocketProber(asio::io_context& io, IcmpSocketType icmp = IcmpSocketType::kAuto);
  ~SocketProber() override;
  SocketProber(const SocketProber&) = delete;
  SocketProber& operator=(const SocketProber&) = delete;

  void probe(const ProbeTarget& target, std::chrono::milliseconds timeout, Callback done) override;

  // What the prober holds right now, for tests, metrics and benchmarks.
  struct Footprint {
    std::size_t icmp_sockets = 0;
    std::size_t raw_icmp_sockets = 0;
    std::size_t udp_sockets = 0;  // in use or idle
    std::size_t outstanding = 0;
  };
  Footprint footprint() const;

 private:
  using Clock = std::chrono::steady_clock;
  using ProbeId = std::uint64_t;  // serial << kSlotBits | slot; never 0
  struct Pending;
  struct IcmpChannel;
  struct UdpSocket;
  struct ReceiveBatch;
  using IcmpKey = std::tuple<std::uint32_t, std::string, bool>;  // fwmark, device, IPv6
  using UdpKey = std::tuple<std::uint32_t, std::string, config::IpAddress, std::uint16_t>;

  // The outstanding probe with this id (nullptr: finished, or never sent).
  Pending* find(ProbeId id);
  // Both return false when the probe failed before anything was sent (result posted).
  bool probeIcmp(Pending& pending, const ProbeTarget& target);
  bool probeUdp(Pending& pending, const ProbeTarget& target);
  std::shared_ptr<IcmpChannel> icmpChannel(const ProbeTarget& target, std::string* error);
  std::unique_ptr<UdpSocket> udpSocket(const ProbeTarget& target, const UdpKey& key,
                                       std::string* error);
  void readIcmp(const std::shared_ptr<IcmpChannel>& channel);
  void onIcmpReadable(const std::shared_ptr<IcmpChannel>& channel);
  // One datagram from an ICMP socket (its finish() may destroy the prober: check alive_).
  void onIcmpPacket(IcmpChannel& channel, std::span<const std::uint8_t> packet,
                    const std::optional<config::IpAddress>& from);
  // Reads an ICMP ping socket's error queue; false when the prober is gone.
  bool drainIcmpErrors(IcmpChannel& channel, int* budget);
  void readUdp(ProbeId id, UdpSocket& socket);
  void onUdpReadable(Pending& pending);
  void addDeadline(ProbeId id, Clock::time_point deadline);
  void armTimeouts(Clock::time_point at);
  void onTimeouts();
  bool failSoon(Pending& pending, std::string error);
  void finish(Pending& pending, ProbeResult result);
  void sweepIdleUdp();

  asio::io_context& io_;
  IcmpSocketType icmp_type_;
  bool datagram_denied_ = false;  // the kernel refused a ping socket once: go raw from now on
  std::shared_ptr<bool> alive_;
  std::uint64_t next_serial_ = 1;
  std::uint64_t token_base_ = 0;
  std::vector<std::unique_ptr<Pending>> slots_;  // a probe's slot is free again when it ends
  std::vector<std::uint32_t> free_slots_;
  std::size_t outstanding_ = 0;
  DeadlineQueue deadlines_;  // every sent probe's timeout
  asio::steady_timer timeout_timer_;
  std::optional<Clock::time_point> timer_at_;  // when timeout_timer_ fires (nullopt: idle)
  std::uint64_t timer_generation_ = 0;         // tells a superseded wait from the current one
  std::map<IcmpKey, std::shared_ptr<IcmpChannel>, std::less<>> icmp_;
  std::unique_ptr<ReceiveBatch> batch_;  // recvmmsg buffers, made on the first ICMP socket
  std::map<UdpKey, std::vector<std::unique_ptr<UdpSocket>>> idle_udp_;
  std::size_t idle_udp_count_ = 0;
  std::size_t udp_in_use_ = 0;
  Clock::time_point last_sweep_{};
};

}  // namespace meshbroker::health
