// SocketProber in namespaces (run by tests/integration/probe_paths.sh, which draws and builds
// the topology): an fwmark steers a probe through gateway B, no mark goes through C.
//
//   probe_tests --gtest_filter=ProbePaths.BothUp   (likewise GatewayBDown, GatewayCDown)
//   probe_tests --udp-echo ADDRESS PORT            (the echo service run inside B and C)
#include <gtest/gtest.h>

#include <array>
#include <iostream>
#include <string>

#include "health/socket_prober.hpp"

namespace meshbroker::health {
namespace {

using namespace std::chrono_literals;

// Addresses from the diagram in probe_paths.sh.
constexpr const char* kTarget = "10.77.9.9";      // on lo in B and in C
constexpr const char* kBlackhole = "10.77.8.8";   // B: "unreachable"; C: silently dropped
constexpr const char* kNotInTable = "10.77.7.7";  // table 110 has only its catch-all
// The same three over IPv6 (ICMPv6 echo, UDP over IPv6, `ip -6 rule` and table 110).
constexpr const char* kTarget6 = "fd77:9::9";
constexpr const char* kBlackhole6 = "fd77:8::8";
constexpr const char* kNotInTable6 = "fd77:7::7";
constexpr std::uint32_t kMarkViaB = 0x10;  // ip rule fwmark 0x10 lookup 110
constexpr std::uint16_t kEchoPort = 7777;  // probe_tests --udp-echo in B and C
constexpr std::uint16_t kClosedPort = 7778;

ProbeTarget target(ProbeKind kind, const char* address, std::uint32_t mark,
                   std::uint16_t port = kEchoPort) {
  ProbeTarget result;
  result.kind = kind;
  std::string text(address);
  if (text.find(':') != std::string::npos) {
    result.address = *config::Ipv6Address::parse(text, nullptr);
  } else {
    result.address = *config::Ipv4Address::parse(text, nullptr);
  }
  result.fwmark = mark;
  if (kind == ProbeKind::kUdp) {
    result.port = port;
    result.payload = "probe";
  }
  return result;
}

std::string describe(const ProbeTarget& t, IcmpSocketType type) {
  return std::string(toString(t.kind)) + " to " + t.address.str() +
         (t.kind == ProbeKind::kUdp ? ":" + std::to_string(t.port) : "") +
         (t.fwmark ? " mark 0x10" : " unmarked") +
         (t.kind == ProbeKind::kIcmp ? " (" + std::string(toString(type)) + " socket)" : "");
}

ProbeResult probeOnce(SocketProber& prober, asio::io_context& io, const ProbeTarget& t,
                      std::chrono::milliseconds timeout) {
  std::optional<ProbeResult> result;
  prober.probe(t, timeout, [&](const ProbeResult& r) { result = r; });
  io.restart();
  while (!result && io.run_one_for(timeout + 1s) > 0) {
  }
  return result.value_or(ProbeResult{false, {}, "no callback"});
}

// A path that should work may need a moment after a link comes back (ARP): three tries.
void expectOk(SocketProber& prober, asio::io_context& io, const ProbeTarget& t,
              IcmpSocketType type) {
  ProbeResult result;
  for (int attempt = 0; attempt < 3 && !result.ok; ++attempt) {
    result = probeOnce(prober, io, t, 1000ms);
  }
  EXPECT_TRUE(result.ok) << describe(t, type) << ": " << result.error;
}

void expectFail(SocketProber& prober, asio::io_context& io, const ProbeTarget& t,
                IcmpSocketType type) {
  auto result = probeOnce(prober, io, t, 500ms);
  EXPECT_FALSE(result.ok) << describe(t, type) << " succeeded: the mark did not steer it";
  // A path failure (timeout, unreachable, or the dead link refusing the send), not a setup one.
  EXPECT_TRUE(result.error == "timeout" || result.error == "unreachable" ||
              result.error.starts_with("send: No buffer space available"))
      << describe(t, type) << ": " << result.error;
}

void expectError(SocketProber& prober, asio::io_context& io, const ProbeTarget& t,
                 IcmpSocketType type, const std::string& error,
                 std::chrono::milliseconds timeout = 2000ms) {
  auto result = probeOnce(prober, io, t, timeout);
  EXPECT_FALSE(result.ok) << describe(t, type);
  EXPECT_EQ(result.error, error) << describe(t, type);
}

// Every check with both kinds of ICMP socket (A's ping_group_range allows the datagram one).
template <typename Check>
void withEachIcmpSocket(Check check) {
  for (auto type : {IcmpSocketType::kDatagram, IcmpSocketType::kRaw}) {
    SCOPED_TRACE(std::string(toString(type)) + " ICMP socket");
    asio::io_context io;
    SocketProber prober(io, type);
    check(prober, io, type);
    EXPECT_LE(prober.footprint().icmp_sockets, 4U) << "one ICMP socket per fwmark and family";
  }
}

struct Family {
  const char* name;
  const char* target;
  const char* blackhole;
  const char* not_in_table;
};
constexpr std::array<Family, 2> kFamilies{
    {{"IPv4", kTarget, kBlackhole, kNotInTable}, {"IPv6", kTarget6, kBlackhole6, kNotInTable6}}};

TEST(ProbePaths, BothUp) {
  withEachIcmpSocket([](SocketProber& prober, asio::io_context& io, IcmpSocketType type) {
    for (const auto& f : kFamilies) {
      SCOPED_TRACE(f.name);
      for (auto kind : {ProbeKind::kIcmp, ProbeKind::kUdp}) {
        expectOk(prober, io, target(kind, f.target, 0), type);
        expectOk(prober, io, target(kind, f.target, kMarkViaB), type);
      }
      // Errors come back through the same paths: B answers for the blackhole, C stays silent.
      expectError(prober, io, target(ProbeKind::kIcmp, f.blackhole, kMarkViaB), type,
                  "unreachable");
      expectError(prober, io, target(ProbeKind::kIcmp, f.blackhole, 0), type, "timeout", 500ms);
      expectError(prober, io, target(ProbeKind::kUdp, f.target, kMarkViaB, kClosedPort), type,
                  "refused");
      expectError(prober, io, target(ProbeKind::kIcmp, f.not_in_table, kMarkViaB), type,
                  "unreachable");
      expectError(prober, io, target(ProbeKind::kUdp, f.not_in_table, kMarkViaB), type,
                  "unreachable");
    }
  });
}

TEST(ProbePaths, GatewayBDown) {
  withEachIcmpSocket([](SocketProber& prober, asio::io_context& io, IcmpSocketType type) {
    for (const auto& f : kFamilies) {
      SCOPED_TRACE(f.name);
      for (auto kind : {ProbeKind::kIcmp, ProbeKind::kUdp}) {
        expectFail(prober, io, target(kind, f.target, kMarkViaB), type);
        expectOk(prober, io, target(kind, f.target, 0), type);
      }
    }
  });
}

TEST(ProbePaths, GatewayCDown) {
  withEachIcmpSocket([](SocketProber& prober, asio::io_context& io, IcmpSocketType type) {
    for (const auto& f : kFamilies) {
      SCOPED_TRACE(f.name);
      for (auto kind : {ProbeKind::kIcmp, ProbeKind::kUdp}) {
        expectOk(prober, io, target(kind, f.target, kMarkViaB), type);
        expectFail(prober, io, target(kind, f.target, 0), type);
      }
    }
  });
}

// The UDP echo service for B and C: every datagram goes back to where it came from. Bound to
// the target address: bound to 0.0.0.0 it would answer from the address of the link back to
// A, and a connected probe socket rightly ignores a datagram from another address.
int udpEcho(const std::string& address, std::uint16_t port) {
  using udp = asio::ip::udp;
  asio::io_context io;
  udp::socket socket(io, udp::endpoint(asio::ip::make_address(address), port));
  std::array<char, 2048> data{};
  udp::endpoint peer;
  std::function<void()> receive = [&] {
    socket.async_receive_from(asio::buffer(data), peer,
                              [&](const boost::system::error_code& ec, std::size_t n) {
                                if (ec) return;
                                boost::system::error_code ignored;
                                socket.send_to(asio::buffer(data.data(), n), peer, 0, ignored);
                                receive();
                              });
  };
  receive();
  std::cout << "listening on udp " << address << ":" << port << std::endl;
  io.run();
  return 0;
}

}  // namespace
}  // namespace meshbroker::health

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--udp-echo") {
    return meshbroker::health::udpEcho(argv[2], static_cast<std::uint16_t>(std::stoi(argv[3])));
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
