// Route policy and the reconciler's plan: verdicts in, routes out; a fake kernel table.
#include <gtest/gtest.h>

#include <algorithm>

#include "fake_route_table.hpp"
#include "routing/policy.hpp"
#include "routing/reconcile.hpp"
#include "test_support.hpp"

namespace meshbroker::routing {
namespace {

// The seed without IPv6: these tests are about the IPv4 routes (RoutePolicyIpv6 has the IPv6).
nlohmann::json example(const std::string& node) { return testing::exampleIpv4Only(node); }
using testing::parseAs;

config::NodeConfig load(const nlohmann::json& json, const std::string& node = "chip") {
  auto result = parseAs(node, json.dump());
  EXPECT_TRUE(result.config) << testing::describe(result.diagnostics);
  return *result.config;
}

PeerState up(double rtt = 1.0) {
  PeerState state;
  state.up = state.known = true;
  state.rtt_ms = rtt;
  return state;
}
PeerState down() {
  PeerState state;
  state.known = true;
  return state;
}

config::Ipv4Address ip(const std::string& text) {
  return *config::Ipv4Address::parse(text, nullptr);
}
config::Cidr cidr(const std::string& text) { return *config::Cidr::parse(text, nullptr); }

const SetDecision& set(const DesiredState& state, const std::string& name = "mesh") {
  auto it = std::find_if(state.sets.begin(), state.sets.end(),
                         [&](const SetDecision& s) { return s.name == name; });
  EXPECT_NE(it, state.sets.end());
  return *it;
}

// The main-table routes of a state (the probes' routes live in their own tables).
std::vector<KernelRoute> mainRoutes(const DesiredState& state) {
  std::vector<KernelRoute> routes;
  for (const auto& route : state.routes) {
    if (route.table == kMainTable) routes.push_back(route);
  }
  return routes;
}

TEST(RoutePolicyTest, FailoverUsesTheLowestPriorityGatewayThatIsUp) {
  const auto node = load(example("chip"));
  auto state = desiredRoutes(node, {{"cometa", up()}, {"illimani", up()}}, {});
  ASSERT_EQ(set(state).chosen, std::vector<std::string>{"cometa"});
  const auto routes = mainRoutes(state);
  ASSERT_EQ(routes.size(), 2u);  // 10.64.0.0/11 and 10.254.0.0/16
  EXPECT_EQ(describe(routes[0]), "10.64.0.0/11 via 100.64.12.9 dev meshnet0");
  EXPECT_EQ(routes[0].type, RouteType::kUnicast);

  state = desiredRoutes(node, {{"cometa", down()}, {"illimani", up()}}, {});
  EXPECT_EQ(set(state).chosen, std::vector<std::string>{"illimani"});
  EXPECT_EQ(describe(mainRoutes(state)[1]), "10.254.0.0/16 via 100.64.12.10 dev meshnet0");
}

TEST(RoutePolicyTest, EqualPrioritiesPreferTheFasterGatewayButDoNotFlipForALittle) {
  auto json = example("chip");
  json["routes"][0]["via"][1]["priority"] = 0;
  const auto node = load(json);
  auto first = desiredRoutes(node, {{"cometa", up(5.0)}, {"illimani", up(2.0)}}, {});
  ASSERT_EQ(set(first).chosen, std::vector<std::string>{"illimani"});
  std::map<std::string, SetDecision> previous{{"mesh", set(first)}};
  // cometa is now a bit faster: stay on illimani.
  auto second = desiredRoutes(node, {{"cometa", up(1.8)}, {"illimani", up(2.0)}}, previous);
  EXPECT_EQ(set(second).chosen, std::vector<std::string>{"illimani"});
  // cometa is now clearly faster (1.5x + 1 ms): move.
  auto third = desiredRoutes(node, {{"cometa", up(0.5)}, {"illimani", up(2.0)}}, previous);
  EXPECT_EQ(set(third).chosen, std::vector<std::string>{"cometa"});
}

TEST(RoutePolicyTest, BalanceInstallsAWeightedMultipathOverTheHealthyGateways) {
  auto json = example("chip");
  json["routes"][0]["policy"] = "balance";
  json["routes"][0]["via"][0]["weight"] = 3;
  json["routes"][0]["via"][1]["weight"] = 1;
  const auto node = load(json);
  auto state = desiredRoutes(node, {{"cometa", up()}, {"illimani", up()}}, {});
  EXPECT_EQ(describe(mainRoutes(state)[0]),
            "10.64.0.0/11 nexthop via 100.64.12.9 dev meshnet0 weight 3 nexthop via 100.64.12.10 "
            "dev meshnet0 weight 1");
  state = desiredRoutes(node, {{"cometa", down()}, {"illimani", up()}}, {});
  EXPECT_EQ(describe(mainRoutes(state)[0]), "10.64.0.0/11 via 100.64.12.10 dev meshnet0");
  // The kernel keeps no weight for a single next hop (reads back 1): no endless re-replace.
  EXPECT_EQ(mainRoutes(state)[0].next_hops[0].weight, 1);
}

TEST(RoutePolicyTest, AllDownInstallsTheConfiguredRoute) {
  auto json = example("chip");
  for (const auto& [policy, expected] : std::vector<std::pair<std::string, std::string>>{
           {"unreachable", "unreachable 10.64.0.0/11"}, {"blackhole", "blackhole 10.64.0.0/11"}}) {
    json["routes"][0]["all_down"] = policy;
    const auto state = desiredRoutes(load(json), {{"cometa", down()}, {"illimani", down()}}, {});
    EXPECT_EQ(describe(mainRoutes(state)[0]), expected);
    EXPECT_TRUE(set(state).all_down);
    EXPECT_NE(set(state).why.find("no gateway is up"), std::string::npos);
  }
  json["routes"][0]["all_down"] = "keep";
  const auto node = load(json);
  auto before = desiredRoutes(node, {{"cometa", down()}, {"illimani", up()}}, {});
  auto after =
      desiredRoutes(node, {{"cometa", down()}, {"illimani", down()}}, {{"mesh", set(before)}});
  EXPECT_EQ(describe(mainRoutes(after)[0]), "10.64.0.0/11 via 100.64.12.10 dev meshnet0");
  EXPECT_NE(set(after).why.find("keeping the last route"), std::string::npos);
  // Nothing to keep (all down from the start): unreachable.
  auto cold = desiredRoutes(node, {{"cometa", down()}, {"illimani", down()}}, {});
  EXPECT_EQ(mainRoutes(cold)[0].type, RouteType::kUnreachable);
}

TEST(RoutePolicyTest, UnknownVerdictsFreezeTheSetsRoutes) {
  const auto node = load(example("chip"));
  auto state = desiredRoutes(node, {{"cometa", up()}}, {});  // illimani: no verdict yet
  EXPECT_FALSE(set(state).settled);
  EXPECT_FALSE(set(state).all_down) << "not known to be down: just not known yet";
  EXPECT_TRUE(mainRoutes(state).empty());
  EXPECT_EQ(state.frozen.size(), 2u);
}

TEST(RoutePolicyTest, DrainedAndDegradedGatewaysAreAvoided) {
  const auto node = load(example("chip"));
  PeerState drained = up();
  drained.drained = true;
  auto state = desiredRoutes(node, {{"cometa", drained}, {"illimani", up()}}, {});
  EXPECT_EQ(set(state).chosen, std::vector<std::string>{"illimani"});
  PeerState degraded = up();
  degraded.degraded = true;
  state = desiredRoutes(node, {{"cometa", degraded}, {"illimani", up()}}, {});
  EXPECT_EQ(set(state).chosen, std::vector<std::string>{"illimani"});
  // Every gateway degraded (the through target itself is down): still route.
  state = desiredRoutes(node, {{"cometa", degraded}, {"illimani", degraded}}, {});
  EXPECT_EQ(set(state).chosen, std::vector<std::string>{"cometa"});
  EXPECT_NE(set(state).why.find("degraded"), std::string::npos);
}

// The through probes' routes (outside the main table) and the rules, as text.
struct ProbeTables {
  std::vector<std::string> routes, rules;
};
ProbeTables probeTables(const DesiredState& state) {
  ProbeTables out;
  for (const auto& route : state.routes) {
    if (route.table != kMainTable) out.routes.push_back(describe(route));
  }
  for (const auto& rule : state.rules) out.rules.push_back(describe(rule));
  return out;
}

TEST(RoutePolicyTest, ThroughProbesGetAMarkAndATablePerGateway) {
  const auto node = load(example("chip"));
  const auto [probe_routes, rules] =
      probeTables(desiredRoutes(node, {{"cometa", up()}, {"illimani", up()}}, {}));
  // hosts: comegato (0), cometa (1), illimani (2).
  EXPECT_EQ(probe_routes,
            (std::vector<std::string>{"10.65.2.8/32 table 7701 via 100.64.12.9 dev meshnet0",
                                      "unreachable 0.0.0.0/0 table 7701",
                                      "10.65.2.8/32 table 7702 via 100.64.12.10 dev meshnet0",
                                      "unreachable 0.0.0.0/0 table 7702"}));
  EXPECT_EQ(rules, (std::vector<std::string>{"priority 7701 fwmark 7701 lookup 7701",
                                             "priority 7702 fwmark 7702 lookup 7702"}));
  EXPECT_EQ(probeMark(node, 1), 7701u);
}

TEST(RoutePolicyTest, SourceRestrictedSetsUseTheirOwnTableAndRules) {
  auto json = example("chip");
  json["routes"][0]["from"] = {"172.16.1.64/27"};
  const auto node = load(json);
  auto state = desiredRoutes(node, {{"cometa", up()}, {"illimani", up()}}, {});
  EXPECT_EQ(set(state).routes[0].table, 7700u + 1024u);
  ASSERT_EQ(set(state).rules.size(), 1u);
  EXPECT_EQ(describe(set(state).rules[0]), "priority 8724 from 172.16.1.64/27 lookup 8724");
}

TEST(RoutePolicyTest, GatewayRoleRoutesBackToClientsOnlyWhileTheServerIsUp) {
  const auto node = load(example("cometa"), "cometa");
  auto routes = [&](const PeerStates& peers) {
    std::vector<std::string> lines;
    for (const auto& route : desiredRoutes(node, peers, {}).routes)
      lines.push_back(describe(route));
    return lines;
  };
  const auto both = routes({{"chip", up()}, {"comegato", up()}});
  EXPECT_EQ(both, (std::vector<std::string>{"172.16.1.64/27 via 100.64.12.11 dev meshnet0",
                                            "172.16.1.96/27 via 100.64.12.11 dev meshnet0",
                                            "172.16.1.128/27 via 100.64.12.12 dev meshnet0"}));
  EXPECT_EQ(routes({{"chip", down()}, {"comegato", up()}}),
            (std::vector<std::string>{"172.16.1.128/27 via 100.64.12.12 dev meshnet0"}));
  const auto unknown = desiredRoutes(node, {{"comegato", up()}}, {});
  EXPECT_EQ(unknown.frozen.size(), 2u);  // chip's two subnets stay as they are
}

// ---- IPv6 (issue 21) ----

// chip with IPv6: its gateways have IPv6 mesh addresses, the "mesh" set an IPv6 destination.
nlohmann::json chip6() {
  auto json = example("chip");
  json["tinc"]["prefix6"] = "fd00:64:12::/64";
  json["tinc"]["address6"] = "fd00:64:12::11";
  json["hosts"][1]["mesh_address6"] = "fd00:64:12::9";  // cometa
  json["hosts"][2]["mesh_address6"] = "fd00:64:12::a";  // illimani
  json["routes"][0]["to"].push_back("fd00:65::/48");
  return json;
}

std::vector<std::string> lines(const std::vector<KernelRoute>& routes) {
  std::vector<std::string> out;
  for (const auto& route : routes) out.push_back(describe(route));
  return out;
}

TEST(RoutePolicyIpv6, BothFamiliesFailOverTogetherEachThroughItsOwnAddress) {
  const auto node = load(chip6());
  auto state = desiredRoutes(node, {{"cometa", up()}, {"illimani", up()}}, {});
  EXPECT_EQ(set(state).chosen, std::vector<std::string>{"cometa"});
  EXPECT_EQ(lines(mainRoutes(state)),
            (std::vector<std::string>{"10.64.0.0/11 via 100.64.12.9 dev meshnet0",
                                      "10.254.0.0/16 via 100.64.12.9 dev meshnet0",
                                      "fd00:65::/48 via fd00:64:12::9 dev meshnet0"}));
  state = desiredRoutes(node, {{"cometa", down()}, {"illimani", up()}}, {});
  EXPECT_EQ(describe(mainRoutes(state)[2]), "fd00:65::/48 via fd00:64:12::a dev meshnet0");
  state = desiredRoutes(node, {{"cometa", down()}, {"illimani", down()}}, {});
  EXPECT_EQ(mainRoutes(state)[2].type, RouteType::kUnreachable);
  EXPECT_TRUE(set(state).all_down);
}

// A gateway whose IPv6 check is down (its IPv6 stack or address broken, IPv4 fine) keeps the
// set's IPv4 destinations and loses the IPv6 ones to the next gateway; none left: all_down
// applies to IPv6 only.
TEST(RoutePolicyIpv6, AGatewayWhoseIpv6CheckIsDownCarriesIpv4Only) {
  const auto node = load(chip6());
  auto no_v6 = up();
  no_v6.up6 = false;
  auto state = desiredRoutes(node, {{"cometa", no_v6}, {"illimani", up()}}, {});
  EXPECT_EQ(lines(mainRoutes(state)),
            (std::vector<std::string>{"10.64.0.0/11 via 100.64.12.9 dev meshnet0",
                                      "10.254.0.0/16 via 100.64.12.9 dev meshnet0",
                                      "fd00:65::/48 via fd00:64:12::a dev meshnet0"}));
  state = desiredRoutes(node, {{"cometa", no_v6}, {"illimani", no_v6}}, {});
  const auto routes = mainRoutes(state);
  EXPECT_EQ(describe(routes[0]), "10.64.0.0/11 via 100.64.12.9 dev meshnet0");
  EXPECT_EQ(routes[2].type, RouteType::kUnreachable);
}

// health.through_target6: each gateway with an IPv6 mesh address gets an IPv6 route to the
// target and an IPv6 catch-all in its probe table, and an `ip -6 rule` for its mark.
TEST(RoutePolicyIpv6, ThroughProbesOverIpv6GetTheSameMarkTableAndAnIpv6Rule) {
  auto json = chip6();
  json["health"]["through_target6"] = "fd00:65:2::8";
  const auto node = load(json);
  const auto [probe_routes, rules] =
      probeTables(desiredRoutes(node, {{"cometa", up()}, {"illimani", up()}}, {}));
  EXPECT_EQ(probe_routes,
            (std::vector<std::string>{"10.65.2.8/32 table 7701 via 100.64.12.9 dev meshnet0",
                                      "unreachable 0.0.0.0/0 table 7701",
                                      "fd00:65:2::8/128 table 7701 via fd00:64:12::9 dev meshnet0",
                                      "unreachable ::/0 table 7701",
                                      "10.65.2.8/32 table 7702 via 100.64.12.10 dev meshnet0",
                                      "unreachable 0.0.0.0/0 table 7702",
                                      "fd00:65:2::8/128 table 7702 via fd00:64:12::a dev meshnet0",
                                      "unreachable ::/0 table 7702"}));
  EXPECT_EQ(rules, (std::vector<std::string>{"priority 7701 fwmark 7701 lookup 7701",
                                             "-6 priority 7701 fwmark 7701 lookup 7701",
                                             "priority 7702 fwmark 7702 lookup 7702",
                                             "-6 priority 7702 fwmark 7702 lookup 7702"}));
}

// A gateway whose IPv6 through probe fails is degraded for IPv6 only: the set's IPv6
// destinations move to a healthy gateway, its IPv4 ones stay; every gateway degraded for IPv6:
// IPv6 still routes. Without an IPv6 through probe (degraded6 unset) IPv6 goes by `degraded`.
TEST(RoutePolicyIpv6, AGatewayDegradedForIpv6KeepsIpv4) {
  const auto node = load(chip6());
  auto no_way6 = up();
  no_way6.degraded6 = true;
  auto state = desiredRoutes(node, {{"cometa", no_way6}, {"illimani", up()}}, {});
  EXPECT_EQ(lines(mainRoutes(state)),
            (std::vector<std::string>{"10.64.0.0/11 via 100.64.12.9 dev meshnet0",
                                      "10.254.0.0/16 via 100.64.12.9 dev meshnet0",
                                      "fd00:65::/48 via fd00:64:12::a dev meshnet0"}));
  state = desiredRoutes(node, {{"cometa", no_way6}, {"illimani", no_way6}}, {});
  EXPECT_EQ(describe(mainRoutes(state)[2]), "fd00:65::/48 via fd00:64:12::9 dev meshnet0");
  // IPv4's through probe failing, IPv6's fine: IPv4 moves, IPv6 stays.
  auto no_way4 = up();
  no_way4.degraded = true;
  no_way4.degraded6 = false;
  state = desiredRoutes(node, {{"cometa", no_way4}, {"illimani", up()}}, {});
  EXPECT_EQ(lines(mainRoutes(state)),
            (std::vector<std::string>{"10.64.0.0/11 via 100.64.12.10 dev meshnet0",
                                      "10.254.0.0/16 via 100.64.12.10 dev meshnet0",
                                      "fd00:65::/48 via fd00:64:12::9 dev meshnet0"}));
  // No IPv6 through probe: both families follow the IPv4 one.
  no_way4.degraded6.reset();
  state = desiredRoutes(node, {{"cometa", no_way4}, {"illimani", up()}}, {});
  EXPECT_EQ(describe(mainRoutes(state)[2]), "fd00:65::/48 via fd00:64:12::a dev meshnet0");
}

TEST(RoutePolicyIpv6, BalanceIsAWeightedIpv6MultipathToo) {
  auto json = chip6();
  json["routes"][0]["policy"] = "balance";
  json["routes"][0]["via"][0]["weight"] = 3;
  const auto node = load(json);
  const auto state = desiredRoutes(node, {{"cometa", up()}, {"illimani", up()}}, {});
  const auto routes = mainRoutes(state);
  ASSERT_EQ(routes.size(), 3u);
  const auto& v6 = routes[2];
  ASSERT_EQ(v6.next_hops.size(), 2u);
  EXPECT_EQ(v6.next_hops[0].gateway.str(), "fd00:64:12::9");
  EXPECT_EQ(v6.next_hops[0].weight, 3);
  EXPECT_EQ(v6.next_hops[1].gateway.str(), "fd00:64:12::a");
}

TEST(RoutePolicyIpv6, KeepLastKeepsEachFamilysOwnRoute) {
  auto json = chip6();
  json["routes"][0]["all_down"] = "keep";
  const auto node = load(json);
  const auto first = desiredRoutes(node, {{"cometa", up()}, {"illimani", up()}}, {});
  std::map<std::string, SetDecision> previous{{"mesh", set(first)}};
  const auto kept = desiredRoutes(node, {{"cometa", down()}, {"illimani", down()}}, previous);
  EXPECT_EQ(lines(mainRoutes(kept)), lines(mainRoutes(first)));
}

// With "all_gateways", a gateway without an IPv6 mesh address carries IPv4 only.
TEST(RoutePolicyIpv6, AGatewayWithoutAnIpv6AddressCarriesIpv4Only) {
  auto json = chip6();
  json["hosts"][1].erase("mesh_address6");  // cometa: IPv4 only
  json["routes"][0]["via"] = "all_gateways";
  const auto node = load(json);
  const auto state = desiredRoutes(node, {{"cometa", up()}, {"illimani", up(5.0)}}, {});
  EXPECT_EQ(lines(mainRoutes(state)),
            (std::vector<std::string>{"10.64.0.0/11 via 100.64.12.9 dev meshnet0",
                                      "10.254.0.0/16 via 100.64.12.9 dev meshnet0",
                                      "fd00:65::/48 via fd00:64:12::a dev meshnet0"}));
}

TEST(RoutePolicyIpv6, GatewayRoleRoutesTheIpv6PoolBackWhileTheServerIsUp) {
  auto json = example("cometa");
  json["tinc"]["prefix6"] = "fd00:64:12::/64";
  json["tinc"]["address6"] = "fd00:64:12::9";
  json["hosts"][0]["mesh_address6"] = "fd00:64:12::11";
  json["hosts"][0]["client_subnets6"] = {"fd00:172:16:1::/64"};
  const auto node = load(json, "cometa");
  const auto up_routes = desiredRoutes(node, {{"chip", up()}, {"comegato", up()}}, {}).routes;
  EXPECT_EQ(describe(up_routes.back()), "fd00:172:16:1::/64 via fd00:64:12::11 dev meshnet0");
  const auto down_routes = desiredRoutes(node, {{"chip", down()}, {"comegato", up()}}, {}).routes;
  EXPECT_EQ(lines(down_routes),
            (std::vector<std::string>{"172.16.1.128/27 via 100.64.12.12 dev meshnet0"}));
}

// ---- the plan ----

KernelRoute route(const std::string& to, const std::string& via, std::uint32_t table = kMainTable) {
  return {cidr(to), table, 0, RouteType::kUnicast, {{ip(via), "meshnet0", 1}}};
}

TEST(ReconcileTest, ChangedRoutesAreReplacedInPlaceAndUnwantedOnesRemoved) {
  const std::vector<KernelRoute> current = {route("10.64.0.0/11", "100.64.12.9"),
                                            route("10.99.0.0/16", "100.64.12.9")};
  const std::vector<KernelRoute> desired = {route("10.64.0.0/11", "100.64.12.10"),
                                            route("10.254.0.0/16", "100.64.12.10")};
  const auto plan = planChanges(desired, {}, current, {}, {});
  ASSERT_EQ(plan.replace.size(), 2u);
  ASSERT_EQ(plan.remove.size(), 1u);
  EXPECT_EQ(describe(plan, current),
            (std::vector<std::string>{
                "~ route 10.64.0.0/11 via 100.64.12.10 dev meshnet0 (was 10.64.0.0/11 via "
                "100.64.12.9 dev meshnet0)",
                "+ route 10.254.0.0/16 via 100.64.12.10 dev meshnet0",
                "- route 10.99.0.0/16 via 100.64.12.9 dev meshnet0"}));
}

TEST(ReconcileTest, NothingToDoWhenTheKernelAgrees) {
  const std::vector<KernelRoute> routes = {route("10.64.0.0/11", "100.64.12.9")};
  const std::vector<PolicyRule> rules = {{7701, std::nullopt, 7701, 7701}};
  EXPECT_TRUE(planChanges(routes, rules, routes, rules, {}).empty());
}

TEST(ReconcileTest, FrozenRoutesAreNeverTouched) {
  const std::vector<KernelRoute> current = {route("10.64.0.0/11", "100.64.12.9")};
  const auto plan =
      planChanges({route("10.64.0.0/11", "100.64.12.10")}, {}, current, {}, {keyOf(current[0])});
  EXPECT_TRUE(plan.empty());
  EXPECT_TRUE(planChanges({}, {}, current, {}, {keyOf(current[0])}).empty());
}

// ---- routes of other programs ----

TEST(StepAsideTest, OursMovesToTheFirstMetricNoForeignRouteHoldsAndTheirsIsNamed) {
  std::vector<KernelRoute> desired = {route("10.64.0.0/11", "100.64.12.9"),
                                      route("10.254.0.0/16", "100.64.12.9"),
                                      route("10.64.0.0/11", "100.64.12.9", 7701)};
  std::vector<RouteKey> frozen = {keyOf(desired[0])};
  // The administrator's static route at metric 0 and babeld's at metric 1, same destination;
  // another table's route and a route to another destination are no conflict.
  const std::vector<ForeignRoute> foreign = {{{cidr("10.64.0.0/11"), kMainTable, 0}, 4},
                                             {{cidr("10.64.0.0/11"), kMainTable, 1}, 42},
                                             {{cidr("10.64.0.0/11"), 100, 0}, 4},
                                             {{cidr("10.0.0.0/8"), kMainTable, 0}, 3}};
  const auto conflicts = stepAside(desired, frozen, foreign);
  EXPECT_EQ(desired[0].metric, 2u);
  EXPECT_EQ(desired[1].metric, 0u);
  EXPECT_EQ(desired[2].metric, 0u) << "table 7701 holds nothing foreign";
  EXPECT_EQ(frozen, std::vector<RouteKey>{keyOf(desired[0])}) << "a frozen key moves the same way";
  ASSERT_EQ(conflicts.size(), 1u) << "one per foreign route met";
  EXPECT_EQ(describe(conflicts[0]),
            "10.64.0.0/11 (table 254, metric 0) is routed by another program (proto static): left "
            "alone; meshbroker's route uses metric 2, which the kernel prefers less while the "
            "other exists");
  // The same inputs give the same keys: a moved route is found again at the next re-sync.
  std::vector<KernelRoute> again = {route("10.64.0.0/11", "100.64.12.9")};
  std::vector<RouteKey> none;
  EXPECT_EQ(stepAside(again, none, foreign), conflicts);
  EXPECT_EQ(again[0].metric, 2u);
  // Gone: back to metric 0, no conflict.
  EXPECT_TRUE(stepAside(again = {route("10.64.0.0/11", "100.64.12.9")}, none, {}).empty());
  EXPECT_EQ(again[0].metric, 0u);
}

TEST(StepAsideTest, OurOldRouteUnderAForeignOneIsRemovedByTheMatchingProtocolOnly) {
  // Both at metric 0 (the administrator used `ip route append`): ours moves to metric 1, the
  // plan removes ours at metric 0 (the kernel matches a delete on our protocol: theirs stays).
  const std::vector<KernelRoute> current = {route("10.64.0.0/11", "100.64.12.9")};
  std::vector<KernelRoute> desired = {route("10.64.0.0/11", "100.64.12.9")};
  std::vector<RouteKey> frozen;
  stepAside(desired, frozen, {{{cidr("10.64.0.0/11"), kMainTable, 0}, 4}});
  const auto plan = planChanges(desired, {}, current, {}, frozen);
  ASSERT_EQ(plan.replace.size(), 1u);
  EXPECT_EQ(plan.replace[0].metric, 1u);
  ASSERT_EQ(plan.remove.size(), 1u);
  EXPECT_EQ(plan.remove[0].metric, 0u);
}

TEST(ReconcileTest, RulesAreAddedAndRemoved) {
  const PolicyRule keep{7701, std::nullopt, 7701, 7701};
  const PolicyRule stale{7702, std::nullopt, 7702, 7702};
  const PolicyRule fresh{8724, cidr("172.16.1.64/27"), 0, 8724};
  const auto plan = planChanges({}, {keep, fresh}, {}, {keep, stale}, {});
  EXPECT_EQ(plan.add_rules, std::vector<PolicyRule>{fresh});
  EXPECT_EQ(plan.remove_rules, std::vector<PolicyRule>{stale});
}

TEST(ReconcileTest, ApplyReplacesFirstRemovesLastAndKeepsGoingAfterAnError) {
  testing::FakeRouteTable table;
  table.failing_prefix = "10.66.0.0/16";
  table.routes_ = {route("10.99.0.0/16", "100.64.12.9")};
  table.rules_ = {{7702, std::nullopt, 7702, 7702}};
  const std::vector<KernelRoute> desired = {route("10.66.0.0/16", "100.64.12.9"),
                                            route("10.64.0.0/11", "100.64.12.9")};
  const std::vector<PolicyRule> rules = {{7701, std::nullopt, 7701, 7701}};
  const auto plan = planChanges(desired, rules, table.routes(), table.rules(), {});
  const auto errors = applyPlan(table, plan);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "no such device");
  EXPECT_EQ(table.log,
            (std::vector<std::string>{"replace 10.64.0.0/11 via 100.64.12.9 dev meshnet0",
                                      "add priority 7701 fwmark 7701 lookup 7701",
                                      "remove priority 7702 fwmark 7702 lookup 7702",
                                      "remove 10.99.0.0/16 via 100.64.12.9 dev meshnet0"}));
  // A second pass retries only what failed.
  const auto again = planChanges(desired, rules, table.routes(), table.rules(), {});
  EXPECT_EQ(again.replace.size(), 1u);
  EXPECT_TRUE(again.remove.empty());
}

}  // namespace
}  // namespace meshbroker::routing
