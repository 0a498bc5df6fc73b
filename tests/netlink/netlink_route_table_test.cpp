// NetlinkRouteTable against the real kernel, checked with iproute2. Changes the namespace's
// routes and rules: run only through tests/integration/netlink_routes.sh, which makes a fresh
// namespace (its topology is drawn there) and sets MESHBROKER_NETLINK_NETNS.
#include "routing/netlink_route_table.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "routing/netlink_neighbours.hpp"
#include "routing/reconcile.hpp"

namespace meshbroker::routing {
namespace {

using config::Cidr;
using config::Ipv4Address;
using nlohmann::json;

// From the wrapper script: two veth pairs, so gateways on both subnets are on-link.
constexpr const char* kDev0 = "mbt0";  // 192.0.2.1/24, 2001:db8::1/64
constexpr const char* kDev2 = "mbt2";  // 198.51.100.1/24

Ipv4Address ip(const std::string& text) {
  auto address = Ipv4Address::parse(text, nullptr);
  if (!address) throw std::invalid_argument("bad address in test: " + text);
  return *address;
}

Cidr cidr(const std::string& text) {
  std::string why;
  auto prefix = Cidr::parse(text, &why);
  if (!prefix) throw std::invalid_argument("bad prefix in test: " + text + " " + why);
  return *prefix;
}

NextHop hop(const std::string& gateway, const std::string& device = kDev0, int weight = 1) {
  return NextHop{.gateway = ip(gateway), .device = device, .weight = weight};
}

KernelRoute unicast(const std::string& to, std::vector<NextHop> hops,
                    std::uint32_t table = kMainTable, std::uint32_t metric = 0) {
  return KernelRoute{.to = cidr(to),
                     .table = table,
                     .metric = metric,
                     .type = RouteType::kUnicast,
                     .next_hops = std::move(hops)};
}

KernelRoute special(RouteType type, const std::string& to, std::uint32_t table = kMainTable,
                    std::uint32_t metric = 0) {
  return KernelRoute{
      .to = cidr(to), .table = table, .metric = metric, .type = type, .next_hops = {}};
}

struct Shell {
  int status = -1;
  std::string out;
};

// Runs a shell command (stderr folded into the output).
Shell sh(const std::string& command) {
  Shell result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    result.out.append(buffer.data(), n);
  int status = pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// Runs a command that must succeed.
std::string must(const std::string& command) {
  Shell result = sh(command);
  if (result.status != 0) {
    ADD_FAILURE() << command << " exited " << result.status << ": " << result.out;
  }
  return result.out;
}

// `ip -j ...` output as JSON (an empty array when ip prints nothing).
json ipJson(const std::string& command) {
  std::string out = must(command);
  if (out.find_first_not_of(" \n") == std::string::npos) return json::array();
  return json::parse(out);
}

// `ip -j rule show SELECTORS`, keeping the rules of one protocol: iproute2 6.1 accepts
// "proto" in `ip rule show` but does not filter on it.
json rulesOf(const std::string& protocol, const std::string& selectors = "") {
  json out = json::array();
  for (const auto& rule : ipJson("ip -j rule show " + selectors)) {
    if (rule.value("protocol", "") == protocol) out.push_back(rule);
  }
  return out;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::vector<KernelRoute> withKey(const std::vector<KernelRoute>& routes, const RouteKey& key) {
  std::vector<KernelRoute> out;
  for (const auto& route : routes) {
    if (keyOf(route) == key) out.push_back(route);
  }
  return out;
}

// A route lookup the way any sender does one: connect() a UDP socket (no packet is sent).
int lookupErrno(const std::string& address) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(9);
  inet_pton(AF_INET, address.c_str(), &to.sin_addr);
  int rc = connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to);
  int error = rc == 0 ? 0 : errno;
  close(fd);
  return error;
}

class NetlinkRouteTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(std::getenv("MESHBROKER_NETLINK_NETNS"), nullptr)
        << "this test rewrites the kernel's routes: run it through "
           "tests/integration/netlink_routes.sh, which gives it a namespace of its own";
    ASSERT_NE(if_nametoindex(kDev0), 0u) << kDev0 << " is missing: see netlink_routes.sh";
    ASSERT_NE(if_nametoindex(kDev2), 0u) << kDev2 << " is missing: see netlink_routes.sh";
    flush();
  }
  void TearDown() override { flush(); }

  // Removes every route, rule and nexthop object the tests may have left, with iproute2 (so
  // cleaning up does not depend on the code under test).
  static void flush() {
    sh("ip -4 route flush table all proto 177");
    sh("ip -4 route flush table all proto 178");
    sh("ip -6 route flush table all proto 177");
    sh("ip nexthop flush");
    for (int i = 0; i < 100 && sh("ip rule del proto 177").status == 0; ++i) {
    }
    for (int i = 0; i < 100 && sh("ip -6 rule del proto 177").status == 0; ++i) {
    }
  }

  NetlinkRouteTable table_;
};

TEST_F(NetlinkRouteTableTest, ReplaceCreatesARoute) {
  KernelRoute route = unicast("10.10.0.0/24", {hop("192.0.2.2")});
  table_.replace(route);

  EXPECT_EQ(table_.routes(), std::vector<KernelRoute>{route});
  json shown = ipJson("ip -j route show 10.10.0.0/24 table main proto 177");
  ASSERT_EQ(shown.size(), 1u) << shown.dump();
  EXPECT_EQ(shown[0]["gateway"], "192.0.2.2");
  EXPECT_EQ(shown[0]["dev"], kDev0);
  EXPECT_FALSE(shown[0].contains("metric")) << shown.dump();
  EXPECT_EQ(lookupErrno("10.10.0.1"), 0);
}

TEST_F(NetlinkRouteTableTest, ReplaceWithoutADeviceReadsBackTheKernelsChoice) {
  table_.replace(unicast("10.10.1.0/24", {hop("198.51.100.2", "")}, kMainTable, 20));
  EXPECT_EQ(table_.routes(), std::vector<KernelRoute>{unicast(
                                 "10.10.1.0/24", {hop("198.51.100.2", kDev2)}, kMainTable, 20)});
}

// Readers that run while `change` rewrites the route for 10.11.0.0/24: a data-plane one (route
// lookups for 10.11.0.1, as any sender does) and a control-plane one (dumps through a second
// socket, as another process would). Counts what they saw go missing.
struct Watched {
  long lookups = 0, lookup_failures = 0, dumps = 0, bad_dumps = 0;
  long other_errors = 0;  // connect failed for a reason other than a missing route
  int last_other_errno = 0;
};
Watched watch(const RouteKey& key, const std::function<void()>& change) {
  std::atomic<bool> stop{false};
  std::atomic<long> lookups{0}, lookup_failures{0}, dumps{0}, bad_dumps{0}, other_errors{0};
  std::atomic<int> last_other_errno{0};
  std::thread data_plane([&] {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(9);
    inet_pton(AF_INET, "10.11.0.1", &to.sin_addr);
    while (!stop) {
      // Connecting again to the same address looks the route up again. Without a route it
      // fails with ENETUNREACH (checked before each watch); any other failure is not a missing
      // route: counted apart and shown.
      if (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
        if (errno == ENETUNREACH) {
          ++lookup_failures;
        } else {
          ++other_errors;
          last_other_errno = errno;
        }
      }
      ++lookups;
    }
    close(fd);
  });
  std::thread control_plane([&] {
    NetlinkRouteTable reader;
    while (!stop) {
      if (withKey(reader.routes(), key).size() != 1) ++bad_dumps;
      ++dumps;
    }
  });
  change();
  stop = true;
  data_plane.join();
  control_plane.join();
  if (other_errors > 0) {
    std::cout << other_errors << " lookups failed for another reason than a missing route (last: "
              << std::strerror(last_other_errno) << ")\n";
  }
  return {lookups, lookup_failures, dumps, bad_dumps, other_errors, last_other_errno};
}

TEST_F(NetlinkRouteTableTest, ReplaceMovesTheNextHopInPlace) {
  ASSERT_EQ(lookupErrno("10.11.0.1"), ENETUNREACH);  // no route: a lookup fails
  KernelRoute via_a = unicast("10.11.0.0/24", {hop("192.0.2.2")});
  KernelRoute via_b = unicast("10.11.0.0/24", {hop("198.51.100.2", kDev2)});
  table_.replace(via_a);
  ASSERT_EQ(lookupErrno("10.11.0.1"), 0);

  constexpr int kSwaps = 2000;
  Watched seen = watch(keyOf(via_a), [&] {
    for (int i = 0; i < kSwaps; ++i) table_.replace(i % 2 == 0 ? via_b : via_a);
  });
  std::cout << "replace: " << kSwaps << " swaps, " << seen.lookups << " lookups ("
            << seen.lookup_failures << " failed), " << seen.dumps << " dumps (" << seen.bad_dumps
            << " without the route)\n";
  EXPECT_GT(seen.lookups, 0);
  EXPECT_GT(seen.dumps, 0);
  // In place: no lookup misses the route, but for rare misses on a CPU-starved machine (1 in
  // 9,128 and 1 in 18,197 lookups across 2000 replaces, seen with the other core busy; 2 in
  // 19,075 once in a full ctest -j2 run; 0 in 15 runs idle); delete + add misses ~40 % of them
  // (the test below). So the bound is a rate: at most 1 lookup in 1,000 (and 1 when there were
  // fewer than 1,000), 400 times below what a delete + add shows.
  EXPECT_LE(seen.lookup_failures, std::max(1L, seen.lookups / 1000))
      << "of " << seen.lookups << " lookups";
  EXPECT_EQ(seen.bad_dumps, 0);
  // kSwaps is even: the last swap went back to A. One route, never two.
  EXPECT_EQ(withKey(table_.routes(), keyOf(via_a)), std::vector<KernelRoute>{via_a});
  EXPECT_EQ(ipJson("ip -j route show 10.11.0.0/24 table all").size(), 1u);
}

// The control for the test above: the same readers do see the gap of a delete + add, so their
// silence there means something.
TEST_F(NetlinkRouteTableTest, TheReadersSeeTheGapOfADeleteAndAdd) {
  KernelRoute via_a = unicast("10.11.0.0/24", {hop("192.0.2.2")});
  KernelRoute via_b = unicast("10.11.0.0/24", {hop("198.51.100.2", kDev2)});
  table_.replace(via_a);
  constexpr int kSwaps = 2000;
  Watched seen = watch(keyOf(via_a), [&] {
    for (int i = 0; i < kSwaps; ++i) {
      table_.remove(i % 2 == 0 ? via_a : via_b);
      table_.replace(i % 2 == 0 ? via_b : via_a);
    }
  });
  std::cout << "delete + add: " << kSwaps << " swaps, " << seen.lookups << " lookups ("
            << seen.lookup_failures << " failed), " << seen.dumps << " dumps (" << seen.bad_dumps
            << " without the route)\n";
  // Which reader catches the gap depends on scheduling (on a busy 2-core machine the lookup
  // thread can miss every one while the dumps see hundreds): one of them must.
  EXPECT_GT(seen.lookup_failures + seen.bad_dumps, 0);
}

TEST_F(NetlinkRouteTableTest, MultipathWeightsRoundTrip) {
  // Given out of order: the kernel gets them sorted, routes() reports them sorted.
  KernelRoute route = unicast(
      "10.12.0.0/24",
      {hop("192.0.2.3", kDev0, 1), hop("198.51.100.2", kDev2, 256), hop("192.0.2.2", kDev0, 3)},
      100);
  table_.replace(route);

  KernelRoute sorted = route;
  std::sort(sorted.next_hops.begin(), sorted.next_hops.end(),
            [](const NextHop& a, const NextHop& b) { return a.gateway < b.gateway; });
  EXPECT_EQ(table_.routes(), std::vector<KernelRoute>{sorted});

  // iproute2 reads the same weights (it prints rtnh_hops + 1).
  json shown = ipJson("ip -j route show table 100 proto 177");
  ASSERT_EQ(shown.size(), 1u) << shown.dump();
  std::map<std::string, int> weights;
  std::vector<std::string> order;
  for (const auto& nexthop : shown[0]["nexthops"]) {
    weights[nexthop["gateway"]] = nexthop["weight"];
    order.push_back(nexthop["gateway"]);
  }
  EXPECT_EQ(weights, (std::map<std::string, int>{
                         {"192.0.2.2", 3}, {"192.0.2.3", 1}, {"198.51.100.2", 256}}));
  EXPECT_EQ(order, (std::vector<std::string>{"192.0.2.2", "192.0.2.3", "198.51.100.2"}));

  // Re-weighting is a replace too.
  route.next_hops = {hop("192.0.2.2", kDev0, 10), hop("192.0.2.3", kDev0, 20)};
  table_.replace(route);
  EXPECT_EQ(table_.routes(), std::vector<KernelRoute>{route});

  // And the other direction: weights iproute2 wrote, read by routes().
  must(
      "ip route add 10.12.1.0/24 table 100 proto 177 nexthop via 192.0.2.5 dev mbt0 weight 7 "
      "nexthop via 192.0.2.4 dev mbt0 weight 1");
  auto listed = table_.routes();
  auto from_ip = withKey(listed, RouteKey{cidr("10.12.1.0/24"), 100, 0});
  ASSERT_EQ(from_ip.size(), 1u);
  EXPECT_EQ(from_ip[0].next_hops,
            (std::vector<NextHop>{hop("192.0.2.4", kDev0, 1), hop("192.0.2.5", kDev0, 7)}));
}

TEST_F(NetlinkRouteTableTest, UnreachableAndBlackhole) {
  KernelRoute unreachable = special(RouteType::kUnreachable, "10.13.0.0/24");
  KernelRoute blackhole = special(RouteType::kBlackhole, "10.13.1.0/24", 100, 7);
  table_.replace(unreachable);
  table_.replace(blackhole);

  EXPECT_EQ(table_.routes(), (std::vector<KernelRoute>{blackhole, unreachable}));
  json shown = ipJson("ip -j route show 10.13.0.0/24 table main proto 177");
  ASSERT_EQ(shown.size(), 1u);
  EXPECT_EQ(shown[0]["type"], "unreachable");
  shown = ipJson("ip -j route show table 100 proto 177");
  ASSERT_EQ(shown.size(), 1u);
  EXPECT_EQ(shown[0]["type"], "blackhole");
  EXPECT_EQ(shown[0]["metric"], 7);
  EXPECT_EQ(lookupErrno("10.13.0.1"), EHOSTUNREACH);

  // A unicast route turned into a blackhole in one replace: one route, of the new type.
  table_.replace(unicast("10.13.2.0/24", {hop("192.0.2.2")}));
  KernelRoute drop = special(RouteType::kBlackhole, "10.13.2.0/24");
  table_.replace(drop);
  EXPECT_EQ(withKey(table_.routes(), keyOf(drop)), std::vector<KernelRoute>{drop});

  table_.remove(unreachable);
  table_.remove(blackhole);
  table_.remove(drop);
  EXPECT_TRUE(table_.routes().empty());
  EXPECT_EQ(ipJson("ip -j route show table all proto 177").size(), 0u);
}

TEST_F(NetlinkRouteTableTest, RoutesOfOtherProtocolsAreNeitherListedNorRemoved) {
  must("ip route add 10.14.0.0/24 via 192.0.2.2 proto static");
  must("ip route add 10.14.1.0/24 via 192.0.2.2 table 100 metric 5 proto static");
  must("ip route add unreachable 10.14.2.0/24 proto boot");
  NetlinkRouteTable other(178);
  other.replace(unicast("10.14.3.0/24", {hop("192.0.2.3")}));

  EXPECT_TRUE(table_.routes().empty());
  EXPECT_EQ(other.routes().size(), 1u);
  // Same keys, same types: the kernel still does not match them, the protocol differs.
  table_.remove(unicast("10.14.0.0/24", {hop("192.0.2.2")}));
  table_.remove(unicast("10.14.1.0/24", {hop("192.0.2.2")}, 100, 5));
  table_.remove(special(RouteType::kUnreachable, "10.14.2.0/24"));
  table_.remove(unicast("10.14.3.0/24", {hop("192.0.2.3")}));

  EXPECT_EQ(ipJson("ip -j route show 10.14.0.0/24 proto static").size(), 1u);
  EXPECT_EQ(ipJson("ip -j route show table 100 proto static").size(), 1u);
  EXPECT_EQ(ipJson("ip -j route show 10.14.2.0/24 proto boot").size(), 1u);
  EXPECT_EQ(other.routes().size(), 1u);
  must("ip route del 10.14.0.0/24 proto static");
  must("ip route del 10.14.1.0/24 table 100 metric 5 proto static");
  must("ip route del unreachable 10.14.2.0/24 proto boot");
}

TEST_F(NetlinkRouteTableTest, TablesAbove255) {
  KernelRoute in_1000 = unicast("10.15.0.0/24", {hop("192.0.2.2")}, 1000, 3);
  KernelRoute in_70000 = special(RouteType::kUnreachable, "10.15.0.0/24", 70000);
  KernelRoute in_256 = unicast("10.15.1.0/24", {hop("192.0.2.2")}, 256);  // low byte 0
  table_.replace(in_1000);
  table_.replace(in_70000);
  table_.replace(in_256);

  EXPECT_EQ(table_.routes(), (std::vector<KernelRoute>{in_256, in_1000, in_70000}));
  EXPECT_EQ(ipJson("ip -j route show table 1000 proto 177").size(), 1u);
  EXPECT_EQ(ipJson("ip -j route show table 70000 proto 177").size(), 1u);
  EXPECT_EQ(ipJson("ip -j route show table 256 proto 177").size(), 1u);
  EXPECT_EQ(ipJson("ip -j route show table main proto 177").size(), 0u);
  table_.remove(in_1000);
  table_.remove(in_70000);
  table_.remove(in_256);
  EXPECT_TRUE(table_.routes().empty());
}

TEST_F(NetlinkRouteTableTest, RemovingAnAbsentRouteIsFine) {
  EXPECT_NO_THROW(table_.remove(unicast("10.16.0.0/24", {hop("192.0.2.2")})));
  EXPECT_NO_THROW(table_.remove(unicast("10.16.0.0/24", {hop("192.0.2.2")}, 4242, 9)));
  EXPECT_NO_THROW(table_.remove(special(RouteType::kBlackhole, "10.16.0.0/24", 90000)));
  // And twice in a row.
  KernelRoute route = unicast("10.16.1.0/24", {hop("192.0.2.2")}, kMainTable, 4);
  table_.replace(route);
  table_.remove(route);
  EXPECT_NO_THROW(table_.remove(route));
  EXPECT_TRUE(table_.routes().empty());
}

TEST_F(NetlinkRouteTableTest, RemoveMatchesTheMetricAndTheType) {
  KernelRoute low = unicast("10.17.0.0/24", {hop("192.0.2.2")}, kMainTable, 10);
  KernelRoute high = unicast("10.17.0.0/24", {hop("192.0.2.3")}, kMainTable, 20);
  KernelRoute drop = special(RouteType::kBlackhole, "10.17.0.0/24", kMainTable, 30);
  table_.replace(low);
  table_.replace(high);
  table_.replace(drop);
  table_.remove(special(RouteType::kUnreachable, "10.17.0.0/24", kMainTable, 30));  // wrong type
  table_.remove(unicast("10.17.0.0/24", {hop("192.0.2.2")}, kMainTable, 15));  // no such metric
  EXPECT_EQ(table_.routes().size(), 3u);
  table_.remove(high);
  EXPECT_EQ(table_.routes(), (std::vector<KernelRoute>{low, drop}));
}

// Kernel facts the header warns about; if a kernel changes them, these say so.
TEST_F(NetlinkRouteTableTest, KernelFactReplaceTakesOverAForeignRouteWithTheSameKey) {
  must("ip route add 10.17.5.0/24 via 192.0.2.2 proto static");
  table_.replace(unicast("10.17.5.0/24", {hop("192.0.2.3")}));
  EXPECT_EQ(ipJson("ip -j route show 10.17.5.0/24 proto static").size(), 0u);
  EXPECT_EQ(ipJson("ip -j route show 10.17.5.0/24 table all").size(), 1u);
}

TEST_F(NetlinkRouteTableTest, ForeignRoutesAreListedByKeyAndOursStepAsideFromThem) {
  must("ip route add 10.17.7.0/24 via 192.0.2.2 proto static");
  must("ip route add unreachable 10.17.8.0/24 table 100 metric 5 proto boot");
  table_.replace(unicast("10.17.9.0/24", {hop("192.0.2.3")}));  // ours: not foreign
  const auto foreign = table_.foreignRoutes();
  auto has = [&](const std::string& to, std::uint32_t table, std::uint32_t metric, int proto) {
    return std::find(foreign.begin(), foreign.end(),
                     ForeignRoute{{cidr(to), table, metric}, static_cast<std::uint8_t>(proto)}) !=
           foreign.end();
  };
  EXPECT_TRUE(has("10.17.7.0/24", kMainTable, 0, 4));
  EXPECT_TRUE(has("10.17.8.0/24", 100, 5, 3));
  for (const auto& route : foreign) EXPECT_NE(route.key.to.str(), "10.17.9.0/24");

  // The daemon's path: step aside, plan, apply. The static route is untouched, ours is beside it.
  const json before = ipJson("ip -j route show 10.17.7.0/24 proto static");
  std::vector<KernelRoute> desired = {unicast("10.17.7.0/24", {hop("192.0.2.3")})};
  std::vector<RouteKey> frozen;
  const auto conflicts = stepAside(desired, frozen, foreign);
  ASSERT_EQ(conflicts.size(), 1u);
  const auto plan = planChanges(desired, {}, table_.routes(), table_.rules(), frozen);
  EXPECT_TRUE(applyPlan(table_, plan).empty());
  EXPECT_EQ(ipJson("ip -j route show 10.17.7.0/24 proto static"), before);
  EXPECT_EQ(withKey(table_.routes(), {cidr("10.17.7.0/24"), kMainTable, 1}).size(), 1u);
  must("ip route del 10.17.7.0/24 proto static");
  must("ip route del unreachable 10.17.8.0/24 table 100 metric 5 proto boot");
}

TEST_F(NetlinkRouteTableTest, KernelFactRemoveWithMetricZeroMatchesAnyMetric) {
  KernelRoute at_10 = unicast("10.17.6.0/24", {hop("192.0.2.2")}, kMainTable, 10);
  table_.replace(at_10);
  table_.remove(unicast("10.17.6.0/24", {hop("192.0.2.2")}, kMainTable, 0));  // absent
  EXPECT_TRUE(table_.routes().empty());
}

TEST_F(NetlinkRouteTableTest, UnknownDeviceIsAnErrorNamingIt) {
  KernelRoute route = unicast("10.18.0.0/24", {hop("192.0.2.2", "nosuchdev0")});
  try {
    table_.replace(route);
    FAIL() << "replace through a missing device succeeded";
  } catch (const RouteTableError& error) {
    EXPECT_TRUE(contains(error.what(), "\"nosuchdev0\"")) << error.what();
    EXPECT_TRUE(contains(error.what(), describe(route))) << error.what();
  }
  EXPECT_TRUE(table_.routes().empty());
}

TEST_F(NetlinkRouteTableTest, KernelErrorsCarryTheKernelsWords) {
  KernelRoute route = unicast("10.19.0.0/24", {hop("203.0.113.9")});  // not on any link
  try {
    table_.replace(route);
    FAIL() << "replace through an off-link gateway succeeded";
  } catch (const RouteTableError& error) {
    std::cout << "error: " << error.what() << "\n";
    EXPECT_TRUE(contains(error.what(), describe(route))) << error.what();
    EXPECT_TRUE(contains(error.what(), "(kernel: ")) << error.what();
  }
  EXPECT_TRUE(table_.routes().empty());
}

// /32 routes 10.30.0.0 upwards via 192.0.2.2 on mbt0.
std::vector<KernelRoute> manyRoutes(std::uint32_t count, const std::string& gateway = "192.0.2.2") {
  std::vector<KernelRoute> out;
  for (std::uint32_t i = 0; i < count; ++i) {
    out.push_back(
        unicast(Ipv4Address::fromUint(ip("10.30.0.0").value() + i).str() + "/32", {hop(gateway)}));
  }
  return out;
}

std::size_t ourRoutesShown() { return ipJson("ip -j -4 route show table all proto 177").size(); }

// replaceAll sends batches of requests and hears back only failures: every failure must still
// be reported against its own route, wherever it falls in a batch (first, middle, a batch's
// last, whose answer ends the batch, and the very last), and nothing else may be lost.
TEST_F(NetlinkRouteTableTest, ReplaceAllInstallsEveryRouteAndNamesEachFailure) {
  std::vector<KernelRoute> routes = manyRoutes(1000);
  routes[0].next_hops = {hop("203.0.113.9")};               // off-link: the kernel refuses it
  routes[10].next_hops = {hop("192.0.2.2", "nosuchdev0")};  // never sent
  routes[127].next_hops = {hop("203.0.113.9")};
  routes[500] = unicast("10.30.1.244/32", {});  // no next hop: never sent
  routes[999].next_hops = {hop("203.0.113.9")};
  std::vector<std::string> errors = table_.replaceAll(routes);
  // 998 requests sent: 8 batches of up to 128 (a request per batch would be 998 sendmsg()).
  EXPECT_EQ(table_.batchesSent(), 8u);

  ASSERT_EQ(errors.size(), 5u);
  const std::size_t failed[] = {0, 10, 127, 500, 999};
  for (std::size_t i = 0; i < errors.size(); ++i) {
    EXPECT_TRUE(contains(errors[i], "cannot replace route " + describe(routes[failed[i]])))
        << errors[i];
  }
  EXPECT_TRUE(contains(errors[0], "(kernel: ")) << errors[0];
  EXPECT_TRUE(contains(errors[1], "\"nosuchdev0\"")) << errors[1];
  EXPECT_TRUE(contains(errors[2], "(kernel: ")) << errors[2];
  EXPECT_TRUE(contains(errors[3], "needs a next hop")) << errors[3];
  EXPECT_TRUE(contains(errors[4], "(kernel: ")) << errors[4];
  EXPECT_EQ(table_.routes().size(), 995u);
  EXPECT_EQ(ourRoutesShown(), 995u);
  EXPECT_EQ(ipJson("ip -j route show 10.30.0.1/32 proto 177")[0]["gateway"], "192.0.2.2");

  // Moved in place in one call, then removed, absent ones included: nothing to report.
  std::vector<KernelRoute> moved = manyRoutes(1000, "192.0.2.3");
  EXPECT_EQ(table_.replaceAll(moved), std::vector<std::string>{});
  EXPECT_EQ(ipJson("ip -j route show 10.30.0.1/32 proto 177")[0]["gateway"], "192.0.2.3");
  EXPECT_EQ(table_.routes(), moved);
  EXPECT_EQ(table_.removeAll(moved), std::vector<std::string>{});
  EXPECT_EQ(table_.removeAll(moved), std::vector<std::string>{});
  EXPECT_EQ(ourRoutesShown(), 0u);
  EXPECT_EQ(table_.batchesSent(), 8u + 3 * 8);
}

// Every request of several batches refused: the kernel's error replies to a whole batch must
// fit in the socket's receive buffer, and the socket must be in step afterwards.
TEST_F(NetlinkRouteTableTest, ReplaceAllWhereTheKernelRefusesEveryRoute) {
  std::vector<KernelRoute> routes = manyRoutes(600, "203.0.113.9");
  std::vector<std::string> errors = table_.replaceAll(routes);
  ASSERT_EQ(errors.size(), routes.size());
  for (std::size_t i = 0; i < routes.size(); ++i) {
    ASSERT_TRUE(contains(errors[i], describe(routes[i]))) << i << ": " << errors[i];
    ASSERT_TRUE(contains(errors[i], "(kernel: ")) << errors[i];
  }
  EXPECT_TRUE(table_.routes().empty());
  KernelRoute fine = unicast("10.31.0.0/24", {hop("192.0.2.2")});
  table_.replace(fine);
  EXPECT_EQ(table_.replaceAll(std::vector<KernelRoute>{fine}), std::vector<std::string>{});
  EXPECT_EQ(table_.routes(), std::vector<KernelRoute>{fine});
}

TEST_F(NetlinkRouteTableTest, InvalidRoutesNeverReachTheKernel) {
  const std::vector<std::pair<KernelRoute, std::string>> bad = {
      {unicast("10.20.0.0/24", {}), "needs a next hop"},
      {unicast("10.20.0.0/24", {hop("192.0.2.2", kDev0, 0), hop("192.0.2.3")}), "weight 0"},
      {unicast("10.20.0.0/24", {hop("192.0.2.2", kDev0, 257), hop("192.0.2.3")}), "weight 257"},
      {unicast("10.20.0.0/24", {hop("0.0.0.0")}), "0.0.0.0"},
      {unicast("10.20.0.0/24", {hop("192.0.2.2")}, 0), "table 0"},
      {KernelRoute{.to = cidr("10.20.0.0/24"),
                   .table = kMainTable,
                   .metric = 0,
                   .type = RouteType::kBlackhole,
                   .next_hops = {hop("192.0.2.2")}},
       "no next hops"},
  };
  for (const auto& [route, why] : bad) {
    try {
      table_.replace(route);
      ADD_FAILURE() << "accepted " << describe(route);
    } catch (const RouteTableError& error) {
      EXPECT_TRUE(contains(error.what(), why)) << error.what();
    }
  }
  EXPECT_TRUE(table_.routes().empty());
}

TEST_F(NetlinkRouteTableTest, RoutesOfOursThatRouteTableCannotSayAreSkipped) {
  KernelRoute good = unicast("10.21.9.0/24", {hop("192.0.2.2")});
  table_.replace(good);
  must("ip route add 10.21.0.0/24 dev mbt0 proto 177");                 // no gateway
  must("ip route add prohibit 10.21.1.0/24 proto 177");                 // another type
  must("ip route add 10.21.2.0/24 tos 0x10 via 192.0.2.2 proto 177");   // a tos selector
  must("ip route add local 10.21.3.1 dev mbt0 table local proto 177");  // local
  if (sh("ip nexthop add id 4242 via 192.0.2.2 dev mbt0").status == 0) {
    must("ip route add 10.21.4.0/24 nhid 4242 proto 177");  // a nexthop object
  } else {
    std::cout << "no nexthop objects in this kernel: that case is not covered\n";
  }
  EXPECT_EQ(table_.routes(), std::vector<KernelRoute>{good});
}

// IPv6 (issue 21): the same table, the same protocol number, the same guarantees.
config::IpPrefix prefix6(const std::string& text) {
  auto prefix = config::IpPrefix::parse(text, nullptr);
  if (!prefix || !prefix->isV6()) throw std::invalid_argument("bad IPv6 prefix in test: " + text);
  return *prefix;
}

NextHop hop6(const std::string& gateway, int weight = 1) {
  return NextHop{
      .gateway = *config::Ipv6Address::parse(gateway, nullptr), .device = kDev0, .weight = weight};
}

bool ipv6Here() { return sh("ip -6 addr show dev mbt0 | grep -q 2001:db8::1").status == 0; }

TEST_F(NetlinkRouteTableTest, Ipv6RoutesRoundTripWithMetricZero) {
  if (!ipv6Here()) GTEST_SKIP() << "no IPv6 on mbt0 (netlink_routes.sh fails in CI for this)";
  KernelRoute route{.to = prefix6("2001:db8:21::/64"),
                    .table = kMainTable,
                    .metric = 0,
                    .type = RouteType::kUnicast,
                    .next_hops = {hop6("2001:db8::2")}};
  table_.replace(route);
  EXPECT_EQ(table_.routes(), std::vector<KernelRoute>{route});
  // The kernel keeps it as metric 1024, IPv6's "no metric"; we read it back as 0.
  json shown = ipJson("ip -6 -j route show 2001:db8:21::/64 proto 177");
  ASSERT_EQ(shown.size(), 1u) << shown.dump();
  EXPECT_EQ(shown[0]["metric"], 1024);
  EXPECT_EQ(shown[0]["gateway"], "2001:db8::2");

  // Moved in place, then weighted over two next hops, then unreachable: each a replace.
  route.next_hops = {hop6("2001:db8::3")};
  table_.replace(route);
  EXPECT_EQ(table_.routes(), std::vector<KernelRoute>{route});
  route.next_hops = {hop6("2001:db8::2", 5), hop6("2001:db8::3", 1)};
  table_.replace(route);
  EXPECT_EQ(table_.routes(), std::vector<KernelRoute>{route});
  shown = ipJson("ip -6 -j route show 2001:db8:21::/64 proto 177");
  ASSERT_EQ(shown.size(), 1u) << shown.dump();
  ASSERT_EQ(shown[0]["nexthops"].size(), 2u) << shown.dump();
  route = KernelRoute{.to = prefix6("2001:db8:21::/64"),
                      .table = kMainTable,
                      .metric = 0,
                      .type = RouteType::kUnreachable,
                      .next_hops = {}};
  table_.replace(route);
  EXPECT_EQ(table_.routes(), std::vector<KernelRoute>{route});
  table_.remove(route);
  EXPECT_TRUE(table_.routes().empty());
  EXPECT_EQ(ipJson("ip -6 -j route show proto 177").size(), 0u);
}

TEST_F(NetlinkRouteTableTest, Ipv6AndIpv4SideBySideAndWhatIproute2Wrote) {
  if (!ipv6Here()) GTEST_SKIP() << "no IPv6 on mbt0 (netlink_routes.sh fails in CI for this)";
  must("ip -6 route add 2001:db8:22::/64 via 2001:db8::2 dev mbt0 proto 177 metric 7");
  must("ip -6 route add 2001:db8:23::/64 proto static via 2001:db8::2 dev mbt0");
  KernelRoute v4 = unicast("10.22.0.0/24", {hop("192.0.2.2")});
  table_.replace(v4);
  KernelRoute v6{.to = prefix6("2001:db8:22::/64"),
                 .table = kMainTable,
                 .metric = 7,
                 .type = RouteType::kUnicast,
                 .next_hops = {hop6("2001:db8::2")}};
  auto listed = table_.routes();
  EXPECT_EQ(listed.size(), 2u);
  EXPECT_EQ(withKey(listed, keyOf(v4)), std::vector<KernelRoute>{v4});
  EXPECT_EQ(withKey(listed, keyOf(v6)), std::vector<KernelRoute>{v6});
  // Another program's IPv6 route is a foreign key (metric 1024 read as 0), never ours.
  const auto foreign = table_.foreignRoutes();
  const RouteKey static_key{prefix6("2001:db8:23::/64"), kMainTable, 0};
  EXPECT_TRUE(std::any_of(foreign.begin(), foreign.end(),
                          [&](const ForeignRoute& f) { return f.key == static_key; }));
  // A next hop of the other family never reaches the kernel.
  KernelRoute mixed = v6;
  mixed.next_hops = {hop("192.0.2.2")};
  EXPECT_THROW(table_.replace(mixed), RouteTableError);
}

TEST_F(NetlinkRouteTableTest, RulesRoundTrip) {
  PolicyRule from{.priority = 1000, .from = cidr("10.30.0.0/16"), .fwmark = 0, .table = 100};
  PolicyRule mark{.priority = 1001, .from = std::nullopt, .fwmark = 0x42, .table = 1000};
  PolicyRule both{.priority = 1002, .from = cidr("10.31.0.5/32"), .fwmark = 7, .table = 101};
  table_.add(from);
  table_.add(mark);
  table_.add(both);
  EXPECT_NO_THROW(table_.add(from));  // already there: nothing to do, and no second copy

  EXPECT_EQ(table_.rules(), (std::vector<PolicyRule>{from, mark, both}));
  json shown = rulesOf("177", "pref 1000");
  ASSERT_EQ(shown.size(), 1u) << shown.dump();
  EXPECT_EQ(shown[0]["src"], "10.30.0.0");
  EXPECT_EQ(shown[0]["srclen"], 16);
  EXPECT_EQ(shown[0]["table"], "100");
  EXPECT_EQ(rulesOf("177", "pref 1001 fwmark 0x42/0xffffffff table 1000").size(), 1u);

  // Someone else's rules, one with exactly our selectors: not listed, not removed.
  must("ip rule add from 10.30.0.0/16 table 100 pref 1000 proto static");
  must("ip rule add from 10.32.0.0/16 table 100 pref 1003 proto static");
  EXPECT_EQ(table_.rules(), (std::vector<PolicyRule>{from, mark, both}));

  table_.remove(from);
  EXPECT_NO_THROW(table_.remove(from));  // absent: nothing to do
  table_.remove(mark);
  table_.remove(both);
  EXPECT_TRUE(table_.rules().empty());
  EXPECT_EQ(rulesOf("static", "pref 1000").size(), 1u);
  EXPECT_EQ(rulesOf("static", "pref 1003").size(), 1u);
  EXPECT_EQ(rulesOf("177").size(), 0u);
  must("ip rule del pref 1000 proto static");
  must("ip rule del pref 1003 proto static");
}

TEST_F(NetlinkRouteTableTest, RulesOfOursThatPolicyRuleCannotSayAreSkipped) {
  PolicyRule good{.priority = 1100, .from = cidr("10.33.0.0/16"), .fwmark = 0, .table = 100};
  table_.add(good);
  must("ip rule add iif mbt0 table 100 pref 1101 proto 177");
  must("ip rule add to 10.34.0.0/16 table 100 pref 1102 proto 177");
  must("ip rule add fwmark 0x10/0xf0 table 100 pref 1103 proto 177");
  must("ip rule add from 10.35.0.0/16 blackhole pref 1104 proto 177");
  must("ip rule add not from 10.36.0.0/16 table 100 pref 1105 proto 177");
  EXPECT_EQ(table_.rules(), std::vector<PolicyRule>{good});
}

// IPv6 rules (through-gateway probes over IPv6): fwmark only, listed beside the IPv4 ones,
// someone else's with the same selectors left alone, one with a source we cannot say skipped.
TEST_F(NetlinkRouteTableTest, Ipv6RulesRoundTripBesideIpv4Ones) {
  PolicyRule four{.priority = 1300, .from = std::nullopt, .fwmark = 0x50, .table = 1300};
  PolicyRule six{.priority = 1300, .from = std::nullopt, .fwmark = 0x50, .table = 1300, .v6 = true};
  table_.add(four);
  table_.add(six);
  EXPECT_NO_THROW(table_.add(six));  // already there: nothing to do
  EXPECT_EQ(table_.rules(), (std::vector<PolicyRule>{four, six}));
  json shown = ipJson("ip -6 -j rule show pref 1300");
  ASSERT_EQ(shown.size(), 1u) << shown.dump();
  EXPECT_EQ(shown[0]["protocol"], "177");
  EXPECT_EQ(shown[0]["fwmark"], "0x50");
  EXPECT_EQ(shown[0]["table"], "1300");

  must("ip -6 rule add fwmark 0x50 table 1300 pref 1300 proto static");
  must("ip -6 rule add from fd00:77::/64 table 1300 pref 1301 proto 177");
  EXPECT_EQ(table_.rules(), (std::vector<PolicyRule>{four, six}));
  PolicyRule sourced = six;
  sourced.from = cidr("10.30.0.0/16");
  EXPECT_THROW(table_.add(sourced), RouteTableError);

  table_.remove(six);
  EXPECT_EQ(table_.rules(), std::vector<PolicyRule>{four});
  EXPECT_EQ(ipJson("ip -6 -j rule show pref 1300").size(), 1u) << "the static one stays";
  table_.remove(four);
  must("ip -6 rule del pref 1300 proto static");
  must("ip -6 rule del pref 1301");
}

TEST_F(NetlinkRouteTableTest, ProtocolNumberIsOurs) {
  EXPECT_EQ(table_.protocol(), kDefaultProtocol);
  NetlinkRouteTable other(200);  // a number rt_protos does not name
  EXPECT_EQ(other.protocol(), 200);
  other.add(PolicyRule{.priority = 1200, .from = std::nullopt, .fwmark = 9, .table = 100});
  EXPECT_TRUE(table_.rules().empty());
  EXPECT_EQ(other.rules().size(), 1u);
  EXPECT_EQ(rulesOf("200", "pref 1200").size(), 1u);
  must("ip rule del pref 1200 proto 200");
}

// --- permanent neighbours (NetlinkNeighbours) -------------------------------------------------

// The mesh interface's permanent entries, as iproute2 reads them.
std::map<std::string, std::string> permanentByIproute(const std::string& device) {
  std::map<std::string, std::string> out;
  for (const auto& entry : ipJson("ip -j -4 neigh show dev " + device + " nud permanent")) {
    out[entry.at("dst").get<std::string>()] = entry.value("lladdr", "");
  }
  return out;
}

std::map<std::string, std::string> permanent6ByIproute(const std::string& device) {
  std::map<std::string, std::string> out;
  for (const auto& entry : ipJson("ip -j -6 neigh show dev " + device + " nud permanent")) {
    out[entry.at("dst").get<std::string>()] = entry.value("lladdr", "");
  }
  return out;
}

class NetlinkNeighboursTest : public ::testing::Test {
 protected:
  void SetUp() override {
    must(std::string("ip -4 neigh flush dev ") + kDev2 + " nud all");
    must(std::string("ip -6 neigh flush dev ") + kDev2 + " nud all");
  }
  void TearDown() override { SetUp(); }
};

TEST_F(NetlinkNeighboursTest, ApplyAddsFixesAndRemovesOnlyOurs) {
  // What tinc-up left: a host that is still there, one that left, and a spoof someone made
  // permanent for a host's address; plus an entry another program owns.
  must(std::string("ip neigh replace 198.51.100.2 lladdr 02:00:c6:33:64:02 nud permanent dev ") +
       kDev2);
  must(std::string("ip neigh replace 198.51.100.3 lladdr 02:00:c6:33:64:03 nud permanent dev ") +
       kDev2);
  must(std::string("ip neigh replace 198.51.100.4 lladdr 02:00:66:66:66:66 nud permanent dev ") +
       kDev2);
  must(std::string("ip neigh replace 198.51.100.9 lladdr 52:54:00:12:34:56 nud permanent dev ") +
       kDev2);
  NetlinkNeighbours table;
  std::vector<Neighbour> desired;
  for (const auto* address : {"198.51.100.2", "198.51.100.4", "198.51.100.5"})
    desired.push_back({ip(address), meshMac(ip(address))});
  auto plan = applyNeighbours(table, kDev2, desired);
  EXPECT_EQ(plan.replace.size(), 2u);  // .4 fixed, .5 added
  EXPECT_EQ(plan.remove.size(), 1u);   // .3 left
  std::map<std::string, std::string> want = {{"198.51.100.2", "02:00:c6:33:64:02"},
                                             {"198.51.100.4", "02:00:c6:33:64:04"},
                                             {"198.51.100.5", "02:00:c6:33:64:05"},
                                             {"198.51.100.9", "52:54:00:12:34:56"}};
  EXPECT_EQ(permanentByIproute(kDev2), want);
  // Read back as iproute2 wrote them, and a second pass changes nothing.
  EXPECT_EQ(table.permanent(kDev2).size(), 4u);
  EXPECT_TRUE(applyNeighbours(table, kDev2, desired).empty());
}

// A dual-stack mesh: IPv6 entries pinned at their host's mesh MAC, kept and removed with the
// IPv4 ones; IPv6 entries of other programs left alone.
TEST_F(NetlinkNeighboursTest, Ipv6EntriesAreKeptAtTheirHostsMac) {
  const auto mac2 = meshMac(ip("198.51.100.2"));
  const auto mac3 = meshMac(ip("198.51.100.3"));
  must(std::string("ip neigh replace 198.51.100.3 lladdr ") + mac3 + " nud permanent dev " + kDev2);
  must(std::string("ip -6 neigh replace fd00:64:12::3 lladdr ") + mac3 + " nud permanent dev " +
       kDev2);
  must(std::string("ip -6 neigh replace fd00:64:12::2 lladdr 02:00:66:66:66:66 nud permanent "
                   "dev ") +
       kDev2);
  must(std::string("ip -6 neigh replace fd00:64:12::9 lladdr 52:54:00:12:34:56 nud permanent "
                   "dev ") +
       kDev2);
  NetlinkNeighbours table;
  auto v6 = [](const char* text) { return *config::Ipv6Address::parse(text, nullptr); };
  std::vector<Neighbour> desired = {{ip("198.51.100.2"), mac2}, {v6("fd00:64:12::2"), mac2}};
  auto plan = applyNeighbours(table, kDev2, desired);
  EXPECT_EQ(plan.replace.size(), 2u);  // .2 added, fd00:64:12::2 moved back
  EXPECT_EQ(plan.remove.size(), 2u);   // .3 and fd00:64:12::3 left
  std::map<std::string, std::string> want6 = {{"fd00:64:12::2", mac2},
                                              {"fd00:64:12::9", "52:54:00:12:34:56"}};
  EXPECT_EQ(permanent6ByIproute(kDev2), want6);
  EXPECT_EQ(permanentByIproute(kDev2),
            (std::map<std::string, std::string>{{"198.51.100.2", mac2}}));
  EXPECT_TRUE(applyNeighbours(table, kDev2, desired).empty());
}

TEST_F(NetlinkNeighboursTest, RemoveOfAnAbsentEntryIsNothingAndAMissingDeviceAClearError) {
  NetlinkNeighbours table;
  EXPECT_NO_THROW(table.remove(kDev2, {ip("198.51.100.8"), meshMac(ip("198.51.100.8"))}));
  try {
    table.permanent("mbnone0");
    ADD_FAILURE() << "a missing device listed";
  } catch (const RouteTableError& e) {
    EXPECT_NE(std::string(e.what()).find("no interface mbnone0"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace meshbroker::routing
