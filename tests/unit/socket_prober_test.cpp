// SocketProber on real loopback sockets: ICMP echo, UDP echo/refused/timeout, bursts on one
// socket, garbage on a raw socket, and no callback after the prober is gone.
#include "health/socket_prober.hpp"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace meshbroker::health {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using udp = asio::ip::udp;

const config::Ipv4Address kLoopback = config::Ipv4Address::fromUint(0x7f000001);

ProbeTarget icmpTarget() {
  ProbeTarget target;
  target.kind = ProbeKind::kIcmp;
  target.address = kLoopback;
  return target;
}

ProbeTarget udpTarget(std::uint16_t port) {
  ProbeTarget target;
  target.kind = ProbeKind::kUdp;
  target.address = kLoopback;
  target.port = port;
  target.payload = "meshbroker probe";
  return target;
}

std::string pingGroupRange() {
  std::ifstream in("/proc/sys/net/ipv4/ping_group_range");
  std::string low, high;
  in >> low >> high;
  return low + " " + high;
}

// Why an ICMP probe on this machine may fail for lack of rights, for the failure message.
std::string icmpRights() {
  return "ICMP probes need a ping socket (net.ipv4.ping_group_range, now \"" + pingGroupRange() +
         "\", must cover gid " + std::to_string(::getgid()) +
         ") or a raw socket (CAP_NET_RAW, e.g. root as in CI); euid is " +
         std::to_string(::geteuid());
}

// Runs the loop until done() or the limit; the loop may run dry between probes.
template <typename Done>
bool runUntil(asio::io_context& io, Done done, std::chrono::milliseconds limit = 5s) {
  auto deadline = Clock::now() + limit;
  while (!done() && Clock::now() < deadline) {
    if (io.stopped()) io.restart();
    if (io.run_one_for(10ms) == 0 && io.stopped() && !done()) return false;  // nothing left
  }
  return done();
}

// Runs the loop for `duration` (a guard timer keeps it from running dry sooner).
void runFor(asio::io_context& io, std::chrono::milliseconds duration) {
  asio::steady_timer guard(io, duration);
  guard.async_wait([](const boost::system::error_code&) {});
  io.restart();
  io.run_for(duration + 50ms);
}

// A UDP echo server on 127.0.0.1, port chosen by the kernel.
class UdpEcho {
 public:
  explicit UdpEcho(asio::io_context& io)
      : socket_(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    receive();
  }
  std::uint16_t port() const { return socket_.local_endpoint().port(); }
  int received = 0;

 private:
  void receive() {
    socket_.async_receive_from(asio::buffer(data_), peer_,
                               [this](const boost::system::error_code& ec, std::size_t n) {
                                 if (ec) return;
                                 ++received;
                                 socket_.send_to(asio::buffer(data_.data(), n), peer_);
                                 receive();
                               });
  }
  udp::socket socket_;
  udp::endpoint peer_;
  std::array<char, 2048> data_{};
};

// Lowers this thread's effective capabilities for the scope (no-op for what we do not have).
class WithoutCapabilities {
 public:
  explicit WithoutCapabilities(std::initializer_list<int> capabilities) {
    header_.version = _LINUX_CAPABILITY_VERSION_3;
    header_.pid = 0;
    if (::syscall(SYS_capget, &header_, saved_.data()) != 0) return;
    auto lowered = saved_;
    for (int capability : capabilities) {
      lowered[static_cast<std::size_t>(capability / 32)].effective &= ~(1U << (capability % 32));
    }
    lowered_ = ::syscall(SYS_capset, &header_, lowered.data()) == 0;
  }
  ~WithoutCapabilities() {
    if (lowered_) ::syscall(SYS_capset, &header_, saved_.data());
  }
  bool lowered() const { return lowered_; }

 private:
  __user_cap_header_struct header_{};
  std::array<__user_cap_data_struct, 2> saved_{};
  bool lowered_ = false;
};

// --- the pure packet code -------------------------------------------------------------------

// Our request turned into the reply the peer would send (type 0, checksum fixed up).
std::vector<std::uint8_t> replyTo(std::vector<std::uint8_t> request) {
  request[0] = 0;
  request[2] = request[3] = 0;
  auto sum = internetChecksum(request);
  request[2] = static_cast<std::uint8_t>(sum >> 8);
  request[3] = static_cast<std::uint8_t>(sum);
  return request;
}

std::vector<std::uint8_t> ipv4Header(std::uint8_t protocol, std::uint32_t source,
                                     std::uint32_t destination) {
  std::vector<std::uint8_t> header(20, 0);
  header[0] = 0x45;
  header[9] = protocol;
  for (int i = 0; i < 4; ++i) {
    header[12 + i] = static_cast<std::uint8_t>(source >> (24 - 8 * i));
    header[16 + i] = static_cast<std::uint8_t>(destination >> (24 - 8 * i));
  }
  return header;
}

std::vector<std::uint8_t> concat(std::vector<std::uint8_t> a, const std::vector<std::uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(SocketProberPacket, EchoRequestHasAValidChecksumAndParsesBackAsAReply) {
  auto request = buildEchoRequest(0x1234, 0xbeef, 0x0102030405060708);
  ASSERT_EQ(request.size(), 8 + kEchoDataSize);
  EXPECT_EQ(request[0], 8);
  EXPECT_EQ(internetChecksum(request), 0);
  EXPECT_FALSE(parseIcmp(request, false)) << "a request is not a reply";

  auto reply = parseIcmp(replyTo(request), false);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->kind, IcmpMessage::Kind::kEchoReply);
  EXPECT_EQ(reply->identifier, 0x1234);
  EXPECT_EQ(reply->sequence, 0xbeef);
  EXPECT_EQ(reply->token, 0x0102030405060708U);

  auto with_ip = concat(ipv4Header(1, 0x7f000001, 0x7f000001), replyTo(request));
  reply = parseIcmp(with_ip, true);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->sequence, 0xbeef);
}

TEST(SocketProberPacket, ErrorsQuotingOurRequestName_ItsSequenceAndDestination) {
  auto request = buildEchoRequest(7, 42, 1);
  std::vector<std::uint8_t> unreachable = {3, 1, 0, 0, 0, 0, 0, 0};
  // Routers may quote only 8 bytes of the original datagram: enough.
  auto quoted = concat(ipv4Header(1, 0x0a000001, 0x0a4d0909),
                       std::vector<std::uint8_t>(request.begin(), request.begin() + 8));
  auto packet = concat(ipv4Header(1, 0x0a000002, 0x0a000001), concat(unreachable, quoted));
  auto message = parseIcmp(packet, true);
  ASSERT_TRUE(message);
  EXPECT_EQ(message->kind, IcmpMessage::Kind::kUnreachable);
  EXPECT_EQ(message->identifier, 7);
  EXPECT_EQ(message->sequence, 42);
  EXPECT_EQ(message->destination, 0x0a4d0909U);

  std::vector<std::uint8_t> exceeded = {11, 0, 0, 0, 0, 0, 0, 0};
  message = parseIcmp(concat(exceeded, quoted), false);
  ASSERT_TRUE(message);
  EXPECT_EQ(message->kind, IcmpMessage::Kind::kTimeExceeded);
}

TEST(SocketProberPacket, GarbageIsIgnored) {
  auto good = replyTo(buildEchoRequest(1, 2, 3));
  auto request = buildEchoRequest(1, 2, 3);
  auto bad_checksum = good;
  bad_checksum[9] ^= 0xff;
  auto bad_code = replyTo(request);
  bad_code[1] = 1;
  std::vector<std::uint8_t> unreachable = {3, 1, 0, 0, 0, 0, 0, 0};
  auto quoted_ip = ipv4Header(1, 0x0a000001, 0x0a000002);
  auto quoted_udp = concat(ipv4Header(17, 1, 2), std::vector<std::uint8_t>(8, 0));
  auto bad_ihl = quoted_ip;
  bad_ihl[0] = 0x4f;  // 60-byte header, but only 20 + 8 bytes quoted
  std::vector<std::vector<std::uint8_t>> no_ip = {
      {},
      {0},
      std::vector<std::uint8_t>(good.begin(), good.begin() + 7),
      bad_checksum,
      bad_code,
      request,
      {13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},  // timestamp request
      concat(unreachable, {}),                // quotes nothing
      concat(unreachable, quoted_ip),         // header but no ICMP
      concat(unreachable, quoted_udp),        // quotes a UDP datagram
      concat(unreachable, concat(bad_ihl, std::vector<std::uint8_t>(8, 8))),
      concat(unreachable, concat(quoted_ip, {0, 0, 0, 0, 0, 0, 0, 0})),  // quotes a reply
  };
  for (std::size_t i = 0; i < no_ip.size(); ++i) {
    EXPECT_FALSE(parseIcmp(no_ip[i], false)) << "case " << i;
  }
  auto ip = ipv4Header(1, 1, 2);
  auto udp_header = ipv4Header(17, 1, 2);
  auto short_ihl = ip;
  short_ihl[0] = 0x44;
  auto ipv6 = ip;
  ipv6[0] = 0x65;
  std::vector<std::vector<std::uint8_t>> with_ip = {
      {},
      std::vector<std::uint8_t>(ip.begin(), ip.begin() + 19),
      ip,                        // no ICMP after it
      concat(udp_header, good),  // not ICMP
      concat(short_ihl, good),   // IHL < 5
      concat(ipv6, good),        // not IPv4
      good,                      // ICMP without the IP header a raw socket gives
  };
  for (std::size_t i = 0; i < with_ip.size(); ++i) {
    EXPECT_FALSE(parseIcmp(with_ip[i], true)) << "case " << i;
  }
}

// ICMPv6: no IP header on either socket type, the checksum is the kernel's; errors quote the
// IPv6 header and our request.
std::vector<std::uint8_t> ipv6Header(std::uint8_t next_header, std::uint8_t last_byte_of_dst) {
  std::vector<std::uint8_t> header(40, 0);
  header[0] = 0x60;
  header[6] = next_header;
  header[7] = 64;
  header[24] = 0xfd;  // destination fd00:64:12::N
  header[27] = 0x64;
  header[29] = 0x12;
  header[39] = last_byte_of_dst;
  return header;
}

TEST(SocketProberPacket, Icmpv6EchoRequestAndReplyAndErrors) {
  auto request = buildEchoRequest6(0x1234, 0xbeef, 0x0102030405060708);
  ASSERT_EQ(request.size(), 8 + kEchoDataSize);
  EXPECT_EQ(request[0], 128);
  EXPECT_EQ(request[2], 0);  // left to the kernel
  EXPECT_FALSE(parseIcmp6(request)) << "a request is not a reply";
  auto reply_bytes = request;
  reply_bytes[0] = 129;
  auto reply = parseIcmp6(reply_bytes);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->kind, IcmpMessage::Kind::kEchoReply);
  EXPECT_EQ(reply->identifier, 0x1234);
  EXPECT_EQ(reply->sequence, 0xbeef);
  EXPECT_EQ(reply->token, 0x0102030405060708U);

  std::vector<std::uint8_t> unreachable = {1, 3, 0, 0, 0, 0, 0, 0};
  auto quoted =
      concat(ipv6Header(58, 9), std::vector<std::uint8_t>(request.begin(), request.begin() + 8));
  auto message = parseIcmp6(concat(unreachable, quoted));
  ASSERT_TRUE(message);
  EXPECT_EQ(message->kind, IcmpMessage::Kind::kUnreachable);
  EXPECT_EQ(message->sequence, 0xbeef);
  ASSERT_TRUE(message->destination6);
  EXPECT_EQ(message->destination6->str(), "fd00:64:12::9");
  std::vector<std::uint8_t> exceeded = {3, 0, 0, 0, 0, 0, 0, 0};
  message = parseIcmp6(concat(exceeded, quoted));
  ASSERT_TRUE(message);
  EXPECT_EQ(message->kind, IcmpMessage::Kind::kTimeExceeded);

  // Garbage: short, other types (neighbour discovery, an IPv4 echo reply), errors that quote
  // too little, another protocol, an IPv4 header, or a reply instead of our request.
  auto bad_code = reply_bytes;
  bad_code[1] = 1;
  auto udp_quoted = concat(ipv6Header(17, 9), std::vector<std::uint8_t>(8, 0));
  auto v4_header = quoted;
  v4_header[0] = 0x45;
  auto quotes_reply = quoted;
  quotes_reply[40] = 129;
  std::vector<std::vector<std::uint8_t>> garbage = {
      {},
      std::vector<std::uint8_t>(reply_bytes.begin(), reply_bytes.begin() + 7),
      bad_code,
      {136, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},  // a neighbour advertisement
      replyTo(buildEchoRequest(1, 2, 3)),      // ICMPv4's echo reply (type 0)
      concat(unreachable, {}),
      concat(unreachable, ipv6Header(58, 9)),  // the header, no request
      concat(unreachable, std::vector<std::uint8_t>(quoted.begin(), quoted.begin() + 47)),
      concat(unreachable, udp_quoted),
      concat(unreachable, v4_header),
      concat(unreachable, quotes_reply),
  };
  for (std::size_t i = 0; i < garbage.size(); ++i) {
    EXPECT_FALSE(parseIcmp6(garbage[i])) << "case " << i;
  }
}

// --- real sockets -----------------------------------------------------------------------------

TEST(SocketProber, IcmpToLoopbackSucceeds) {
  asio::io_context io;
  SocketProber prober(io);
  std::optional<ProbeResult> result;
  prober.probe(icmpTarget(), 1000ms, [&](const ProbeResult& r) { result = r; });
  ASSERT_TRUE(runUntil(io, [&] { return result.has_value(); }));
  EXPECT_TRUE(result->ok) << result->error << "\n" << icmpRights();
  EXPECT_GT(result->rtt.count(), 0);
  EXPECT_LT(result->rtt, 1s);
  auto footprint = prober.footprint();
  EXPECT_EQ(footprint.icmp_sockets, 1U);
  EXPECT_EQ(footprint.outstanding, 0U);
}

// Both socket types explicitly, where this machine permits them (the namespace test forces
// a ping_group_range that allows the datagram socket, so neither goes untested in CI).
TEST(SocketProber, IcmpOnEachSocketType) {
  for (auto type : {IcmpSocketType::kDatagram, IcmpSocketType::kRaw}) {
    asio::io_context io;
    SocketProber prober(io, type);
    std::optional<ProbeResult> result;
    prober.probe(icmpTarget(), 1000ms, [&](const ProbeResult& r) { result = r; });
    ASSERT_TRUE(runUntil(io, [&] { return result.has_value(); }));
    if (!result->ok && (result->error.find("Permission denied") != std::string::npos ||
                        result->error.find("not permitted") != std::string::npos)) {
      std::cout << "[ note     ] " << toString(type)
                << " ICMP socket not permitted here: " << result->error << "\n";
      continue;
    }
    EXPECT_TRUE(result->ok) << toString(type) << ": " << result->error;
    EXPECT_EQ(prober.footprint().raw_icmp_sockets, type == IcmpSocketType::kRaw ? 1U : 0U);
  }
}

// ICMPv6 to ::1 on both socket types (ping sockets for IPv6 obey the same ping_group_range),
// and one socket per family: an IPv4 and an IPv6 probe do not share one. Where this machine's
// ping_group_range refuses the datagram socket, probe_paths (a namespace that allows it) runs
// every ICMPv6 path on both socket types, so neither goes untested in CI.
TEST(SocketProber, Icmp6OnEachSocketTypeAndOneSocketPerFamily) {
  for (auto type : {IcmpSocketType::kDatagram, IcmpSocketType::kRaw}) {
    asio::io_context io;
    SocketProber prober(io, type);
    ProbeTarget six = icmpTarget();
    six.address = *config::Ipv6Address::parse("::1", nullptr);
    std::optional<ProbeResult> result6, result4;
    prober.probe(six, 1000ms, [&](const ProbeResult& r) { result6 = r; });
    prober.probe(icmpTarget(), 1000ms, [&](const ProbeResult& r) { result4 = r; });
    ASSERT_TRUE(runUntil(io, [&] { return result6.has_value() && result4.has_value(); }));
    if (!result6->ok && (result6->error.find("Permission denied") != std::string::npos ||
                         result6->error.find("not permitted") != std::string::npos)) {
      std::cout << "[ note     ] " << toString(type)
                << " ICMPv6 socket not permitted here: " << result6->error << "\n";
      continue;
    }
    EXPECT_TRUE(result6->ok) << toString(type) << ": " << result6->error;
    EXPECT_TRUE(result4->ok) << toString(type) << ": " << result4->error;
    EXPECT_GT(result6->rtt.count(), 0);
    EXPECT_EQ(prober.footprint().icmp_sockets, 2U);
  }
}

// UDP over IPv6: a closed port is "refused" (the ICMPv6 error through IPV6_RECVERR), an answer
// is a reply.
TEST(SocketProber, Udp6RefusedAndAnswered) {
  asio::io_context io;
  const auto loopback6 = asio::ip::make_address("::1");
  std::uint16_t closed;
  {
    udp::socket probe_port(io, udp::endpoint(loopback6, 0));
    closed = probe_port.local_endpoint().port();
  }
  SocketProber prober(io);
  ProbeTarget target = udpTarget(closed);
  target.address = *config::Ipv6Address::parse("::1", nullptr);
  std::optional<ProbeResult> result;
  prober.probe(target, 1000ms, [&](const ProbeResult& r) { result = r; });
  ASSERT_TRUE(runUntil(io, [&] { return result.has_value(); }));
  EXPECT_FALSE(result->ok);
  EXPECT_EQ(result->error, "refused");

  udp::socket echo(io, udp::endpoint(loopback6, 0));
  std::array<char, 64> buffer{};
  udp::endpoint peer;
  echo.async_receive_from(asio::buffer(buffer), peer,
                          [&](const boost::system::error_code& ec, std::size_t n) {
                            if (!ec) echo.send_to(asio::buffer(buffer.data(), n), peer);
                          });
  target.port = echo.local_endpoint().port();
  result.reset();
  prober.probe(target, 1000ms, [&](const ProbeResult& r) { result = r; });
  ASSERT_TRUE(runUntil(io, [&] { return result.has_value(); }));
  EXPECT_TRUE(result->ok) << result->error;
}

TEST(SocketProber, BurstOfIcmpProbesOnOneSocketEachCompleteOnce) {
  asio::io_context io;
  SocketProber prober(io);
  std::map<int, int> calls;
  std::map<int, ProbeResult> results;
  for (int i = 0; i < 6; ++i) {
    prober.probe(icmpTarget(), 1000ms, [&, i](const ProbeResult& r) {
      ++calls[i];
      results[i] = r;
    });
  }
  EXPECT_EQ(prober.footprint().icmp_sockets, 1U) << "one socket for the six probes";
  EXPECT_EQ(prober.footprint().outstanding, 6U);
  ASSERT_TRUE(runUntil(io, [&] { return calls.size() == 6; }));
  runFor(io, 50ms);  // nothing more may arrive
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(calls[i], 1) << "probe " << i;
    EXPECT_TRUE(results[i].ok) << "probe " << i << ": " << results[i].error << "\n" << icmpRights();
  }
  EXPECT_EQ(prober.footprint().icmp_sockets, 1U);
}

// More replies at once than one read batch (16) and one wake-up's budget (64) take: each
// probe still completes exactly once, and every slot is free again afterwards.
TEST(SocketProber, ManyIcmpProbesAtOnceEachCompleteOnce) {
  asio::io_context io;
  SocketProber prober(io);
  constexpr int kProbes = 150;
  std::map<int, int> calls;
  int ok = 0;
  for (int round = 0; round < 2; ++round) {  // the second round reuses the first one's slots
    for (int i = 0; i < kProbes; ++i) {
      prober.probe(icmpTarget(), 2000ms, [&, i](const ProbeResult& r) {
        ++calls[round * kProbes + i];
        if (r.ok) ++ok;
      });
    }
    EXPECT_EQ(prober.footprint().outstanding, static_cast<std::size_t>(kProbes));
    ASSERT_TRUE(runUntil(io, [&] { return calls.size() == (round + 1U) * kProbes; }));
  }
  runFor(io, 50ms);
  for (int i = 0; i < 2 * kProbes; ++i) EXPECT_EQ(calls[i], 1) << "probe " << i;
  EXPECT_EQ(ok, 2 * kProbes) << icmpRights();
  EXPECT_EQ(prober.footprint().outstanding, 0U);
  EXPECT_EQ(prober.footprint().icmp_sockets, 1U);
}

// One timer serves every timeout: a probe with a shorter timeout sent after one with a longer
// timeout still times out first, and none before its own timeout.
TEST(SocketProber, TimeoutsSentOutOfOrderEachFireOnTime) {
  asio::io_context io;
  udp::socket silent(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  SocketProber prober(io);
  const auto port = silent.local_endpoint().port();
  std::vector<std::pair<int, Clock::duration>> order;  // timeout, when it was reported
  const auto start = Clock::now();
  for (int timeout_ms : {300, 100, 200, 100}) {
    prober.probe(udpTarget(port), std::chrono::milliseconds(timeout_ms),
                 [&, timeout_ms](const ProbeResult& r) {
                   EXPECT_FALSE(r.ok);
                   EXPECT_EQ(r.error, "timeout");
                   order.emplace_back(timeout_ms, Clock::now() - start);
                 });
  }
  ASSERT_TRUE(runUntil(io, [&] { return order.size() == 4; }));
  std::vector<int> timeouts;
  for (const auto& [timeout_ms, at] : order) {
    timeouts.push_back(timeout_ms);
    EXPECT_GE(at, std::chrono::milliseconds(timeout_ms)) << "the " << timeout_ms << " ms probe";
    EXPECT_LT(at, std::chrono::milliseconds(timeout_ms) + 1000ms);
  }
  EXPECT_EQ(timeouts, (std::vector<int>{100, 100, 200, 300}));
  EXPECT_EQ(prober.footprint().outstanding, 0U);
  EXPECT_EQ(prober.footprint().udp_sockets, 0U) << "timed-out sockets are not reused";
}

// A probe that times out leaves its slot and timer to the next: later probes to a peer that
// answers succeed, and answered probes never time out later.
TEST(SocketProber, AnsweredProbesNeverTimeOutLater) {
  asio::io_context io;
  UdpEcho echo(io);
  udp::socket silent(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  SocketProber prober(io);
  std::map<std::string, int> results;
  auto count = [&](const ProbeResult& r) { ++results[r.ok ? "ok" : r.error]; };
  prober.probe(udpTarget(silent.local_endpoint().port()), 50ms, count);
  for (int i = 0; i < 5; ++i) {
    prober.probe(udpTarget(echo.port()), 100ms, count);
    prober.probe(icmpTarget(), 100ms, count);
  }
  ASSERT_TRUE(runUntil(io, [&] { return results["ok"] + results["timeout"] == 11; }));
  runFor(io, 200ms);  // past every timeout
  EXPECT_EQ(results["ok"], 10) << icmpRights();
  EXPECT_EQ(results["timeout"], 1);
  EXPECT_EQ(results.size(), 2U);
  EXPECT_EQ(prober.footprint().outstanding, 0U);
}

// A timeout and a reply racing: every probe still gets exactly one result.
TEST(SocketProber, ZeroTimeoutStillCallsBackExactlyOnce) {
  asio::io_context io;
  SocketProber prober(io);
  std::map<int, int> calls;
  for (int i = 0; i < 20; ++i) {
    prober.probe(icmpTarget(), 0ms, [&, i](const ProbeResult&) { ++calls[i]; });
  }
  ASSERT_TRUE(runUntil(io, [&] { return calls.size() == 20; }));
  runFor(io, 50ms);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(calls[i], 1) << "probe " << i;
  EXPECT_EQ(prober.footprint().outstanding, 0U);
}

// Junk ICMP in the namespace (short, bad checksum, other identifiers, errors about other
// packets) reaches a raw socket; it must neither complete nor break our probes.
TEST(SocketProber, RawSocketIgnoresStrayAndGarbledPackets) {
  int injector = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (injector < 0) GTEST_SKIP() << "no raw socket to inject junk with: " << std::strerror(errno);
  asio::io_context io;
  SocketProber prober(io, IcmpSocketType::kRaw);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(0x7f000001);
  auto inject = [&](const std::vector<std::uint8_t>& packet) {
    ::sendto(injector, packet.data(), packet.size(), 0, reinterpret_cast<sockaddr*>(&to),
             sizeof to);
  };
  std::map<int, int> calls;
  std::map<int, ProbeResult> results;
  for (int i = 0; i < 6; ++i) {
    for (std::uint16_t seq = 0; seq < 64; ++seq) {
      inject(replyTo(buildEchoRequest(static_cast<std::uint16_t>(seq * 977), seq, 99)));
    }
    auto garbled = replyTo(buildEchoRequest(1, 1, 1));
    garbled[12] ^= 1;
    inject(garbled);
    inject({0, 0, 0xff, 0xff});
    inject(concat({3, 3, 0xfc, 0xfc, 0, 0, 0, 0}, ipv4Header(17, 0x7f000001, 0x7f000001)));
    prober.probe(icmpTarget(), 1000ms, [&, i](const ProbeResult& r) {
      ++calls[i];
      results[i] = r;
    });
  }
  ASSERT_TRUE(runUntil(io, [&] { return calls.size() == 6; }));
  runFor(io, 50ms);
  ::close(injector);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(calls[i], 1) << "probe " << i;
    EXPECT_TRUE(results[i].ok) << "probe " << i << ": " << results[i].error;
  }
}

TEST(SocketProber, UdpEchoSucceedsAndReusesTheAnsweredSocket) {
  asio::io_context io;
  UdpEcho echo(io);
  SocketProber prober(io);
  for (int round = 0; round < 3; ++round) {
    std::optional<ProbeResult> result;
    prober.probe(udpTarget(echo.port()), 1000ms, [&](const ProbeResult& r) { result = r; });
    ASSERT_TRUE(runUntil(io, [&] { return result.has_value(); }));
    EXPECT_TRUE(result->ok) << result->error;
    EXPECT_GT(result->rtt.count(), 0);
  }
  EXPECT_EQ(echo.received, 3);
  EXPECT_EQ(prober.footprint().udp_sockets, 1U) << "answered sockets are reused";
}

TEST(SocketProber, UdpToAClosedPortIsRefused) {
  asio::io_context io;
  std::uint16_t port;
  {
    udp::socket probe_port(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = probe_port.local_endpoint().port();
  }  // closed: the kernel answers with ICMP port unreachable
  SocketProber prober(io);
  for (int round = 0; round < 2; ++round) {
    std::optional<ProbeResult> result;
    prober.probe(udpTarget(port), 1000ms, [&](const ProbeResult& r) { result = r; });
    ASSERT_TRUE(runUntil(io, [&] { return result.has_value(); }));
    EXPECT_FALSE(result->ok);
    EXPECT_EQ(result->error, "refused");
  }
}

TEST(SocketProber, UdpToASilentPeerTimesOut) {
  asio::io_context io;
  udp::socket silent(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  SocketProber prober(io);
  std::optional<ProbeResult> result;
  auto start = Clock::now();
  Clock::time_point end;
  prober.probe(udpTarget(silent.local_endpoint().port()), 150ms, [&](const ProbeResult& r) {
    result = r;
    end = Clock::now();
  });
  ASSERT_TRUE(runUntil(io, [&] { return result.has_value(); }));
  EXPECT_FALSE(result->ok);
  EXPECT_EQ(result->error, "timeout");
  EXPECT_GE(end - start, 150ms);
  EXPECT_LT(end - start, 1000ms);
  EXPECT_EQ(prober.footprint().udp_sockets, 0U) << "a timed-out socket is not reused";
}

TEST(SocketProber, DestroyedWithProbesOutstandingCallsNothingBack) {
  asio::io_context io;
  UdpEcho echo(io);
  udp::socket silent(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  int calls = 0;
  {
    SocketProber prober(io);
    auto count = [&](const ProbeResult&) { ++calls; };
    for (int i = 0; i < 3; ++i) prober.probe(icmpTarget(), 100ms, count);
    prober.probe(udpTarget(echo.port()), 100ms, count);
    prober.probe(udpTarget(silent.local_endpoint().port()), 100ms, count);
    prober.probe(udpTarget(0), 100ms, count);  // fails at once: its result is posted
    auto bad_device = icmpTarget();
    bad_device.device = "mbnosuchdev0";
    prober.probe(bad_device, 100ms, count);
    // Loopback replies are already queued on the sockets when the prober goes.
  }
  runFor(io, 300ms);  // past every timeout
  EXPECT_EQ(calls, 0);
}

TEST(SocketProber, DestroyedFromItsOwnCallbackCallsNothingElse) {
  asio::io_context io;
  auto prober = std::make_unique<SocketProber>(io);
  int calls = 0;
  for (int i = 0; i < 6; ++i) {
    prober->probe(icmpTarget(), 100ms, [&](const ProbeResult&) {
      ++calls;
      prober.reset();
    });
  }
  runFor(io, 300ms);
  EXPECT_EQ(calls, 1);
}

TEST(SocketProber, MissingDeviceFailsEveryProbeWithAClearError) {
  asio::io_context io;
  SocketProber prober(io);
  auto icmp = icmpTarget();
  icmp.device = "mbnosuchdev0";
  auto udp_probe = udpTarget(9);
  udp_probe.device = "mbnosuchdev0";
  std::vector<ProbeResult> results;
  for (const auto& target : {icmp, icmp, udp_probe}) {
    prober.probe(target, 1000ms, [&](const ProbeResult& r) { results.push_back(r); });
  }
  EXPECT_TRUE(results.empty()) << "results are posted, never called back from probe()";
  ASSERT_TRUE(runUntil(io, [&] { return results.size() == 3; }));
  for (const auto& result : results) {
    EXPECT_FALSE(result.ok);
    if (result.error.find("ICMP") != std::string::npos) continue;  // no ICMP rights at all
    EXPECT_NE(result.error.find("SO_BINDTODEVICE \"mbnosuchdev0\""), std::string::npos)
        << result.error;
    EXPECT_NE(result.error.find("No such device"), std::string::npos) << result.error;
  }
  EXPECT_EQ(prober.footprint().icmp_sockets, 0U) << "a socket that could not be set up is not kept";
}

TEST(SocketProber, FwmarkWithoutTheCapabilityFailsWithAClearError) {
  asio::io_context io;
  SocketProber prober(io);
  // As root, take CAP_NET_ADMIN and CAP_NET_RAW (either allows SO_MARK) out of the effective set.
  WithoutCapabilities unprivileged({CAP_NET_ADMIN, CAP_NET_RAW});
  auto target = udpTarget(9);
  target.fwmark = 0x10;
  std::optional<ProbeResult> result;
  prober.probe(target, 1000ms, [&](const ProbeResult& r) { result = r; });
  ASSERT_TRUE(runUntil(io, [&] { return result.has_value(); }));
  EXPECT_FALSE(result->ok);
  EXPECT_NE(result->error.find("SO_MARK 0x10"), std::string::npos) << result->error;
  EXPECT_NE(result->error.find("needs CAP_NET_ADMIN"), std::string::npos) << result->error;
}

}  // namespace
}  // namespace meshbroker::health
