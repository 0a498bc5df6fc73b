// GatewayMonitor on a real event loop with a fake prober (answers by address) and a fake
// kernel table: verdicts drive routes, adopted routes are kept, drift is repaired.
#include "supervisor/gateway_monitor.hpp"

#include <gtest/gtest.h>

#include <set>

#include "fake_route_table.hpp"
#include "supervisor/clock.hpp"
#include "test_clock_loop.hpp"
#include "test_support.hpp"

namespace meshbroker::supervisor {
namespace {

using namespace std::chrono_literals;
using routing::KernelRoute;
using routing::PolicyRule;

class FakeProber : public health::Prober {
 public:
  explicit FakeProber(asio::io_context& io) : io_(io) {}
  void probe(const health::ProbeTarget& target, std::chrono::milliseconds timeout,
             Callback done) override {
    ++sent[target.address.str() + (target.fwmark ? "@" + std::to_string(target.fwmark) : "")];
    const bool ok = !dead.count(target.address.str()) && !dead_marks.count(target.fwmark) &&
                    !dead.count(target.address.str() + "@" + std::to_string(target.fwmark));
    auto timer = std::make_shared<Timer>(io_, ok ? 1ms : timeout);
    timer->async_wait([timer, ok, done](const boost::system::error_code&) {
      health::ProbeResult result;
      result.ok = ok;
      result.rtt = std::chrono::microseconds(ok ? 1000 : 0);
      if (!ok) result.error = "timeout";
      done(result);
    });
  }
  asio::io_context& io_;
  std::set<std::string> dead;          // addresses (or "address@mark") that do not answer
  std::set<std::uint32_t> dead_marks;  // fwmarks whose probes get lost (through probes)
  std::map<std::string, int> sent;
};

class GatewayMonitorTest : public ::testing::Test {
 protected:
  config::NodeConfig load(nlohmann::json json, const std::string& node = "chip") {
    json["health"]["interval_ms"] = 50;
    json["health"]["warmup_ms"] = 300;
    json["health"]["up_after"] = 3;
    json["routing"]["resync_ms"] = 200;
    auto result = testing::parseAs(node, json.dump());
    EXPECT_TRUE(result.config) << testing::describe(result.diagnostics);
    return *result.config;
  }
  // `span` of the monitor's time passes on the test clock: every probe, timeout and re-sync
  // due on the way happens, without sleeping.
  void runFor(std::chrono::milliseconds span) {
    io_.restart();
    loop_.pass(span);
  }
  // One flap: `address` silent for 600 ms (judged down), then answering for 600 ms (3 replies
  // at 50 ms: enough for up_after, far below any flap hold). `check` runs at each end.
  template <class Check>
  void flap(const std::string& address, Check check) {
    prober_.dead.insert(address);
    runFor(600ms);
    check(false);
    prober_.dead.clear();
    runFor(600ms);
    check(true);
  }

  testing::ClockedLoop loop_{io_};  // before io_: it outlives the loop's timers
  asio::io_context io_;
  FakeProber prober_{io_};
  testing::FakeRouteTable table_;
  int changed_ = 0;
  GatewayMonitor monitor_{io_, prober_, &table_, [this] { ++changed_; }};
};

TEST_F(GatewayMonitorTest, InstallsTheRouteViaTheFirstGatewayAndFailsOver) {
  monitor_.configure(load(testing::example("chip")));
  runFor(200ms);
  EXPECT_EQ(table_.via("10.64.0.0/11"), "100.64.12.9");
  EXPECT_EQ(table_.via("10.254.0.0/16"), "100.64.12.9");
  EXPECT_GT(prober_.sent["100.64.12.9"], 0);
  EXPECT_GT(prober_.sent["10.65.2.8@7701"], 0) << "through cometa";
  EXPECT_GT(prober_.sent["10.65.2.8@7702"], 0) << "through illimani";
  EXPECT_EQ(table_.rules_.size(), 4u);  // a probe rule per gateway and family

  const auto up_since = monitor_.snapshot().peers.at("cometa").verdict_since_ms;
  EXPECT_GT(up_since, 0) << "unknown -> up is a verdict change";
  const auto before_down = wallClockMs();
  prober_.dead.insert("100.64.12.9");
  runFor(600ms);
  EXPECT_EQ(table_.via("10.64.0.0/11"), "100.64.12.10");
  // The typed state and its one JSON form agree, and the verdict's change time moved on.
  const auto health = monitor_.snapshot();
  EXPECT_EQ(health.peers.at("cometa").verdict, "down");
  EXPECT_GE(health.peers.at("cometa").verdict_since_ms, before_down);
  EXPECT_GT(health.peers.at("illimani").verdict_since_ms, 0);
  EXPECT_LT(health.peers.at("illimani").verdict_since_ms, before_down) << "illimani stayed up";
  const auto json = monitor_.toJson();
  EXPECT_EQ(json, model::toJson(health));
  EXPECT_EQ(json["peers"]["cometa"]["verdict_since_ms"],
            health.peers.at("cometa").verdict_since_ms);
  EXPECT_EQ(json["peers"]["cometa"]["verdict"], "down");
  EXPECT_EQ(json["peers"]["illimani"]["verdict"], "up");
  EXPECT_EQ(json["route_sets"][0]["chosen"], nlohmann::json::array({"illimani"}));
  bool logged = false;
  for (const auto& event : json["events"]) {
    logged = logged || event["what"].get<std::string>().find("cometa icmp: up -> down") == 0;
  }
  EXPECT_TRUE(logged) << json["events"].dump();
  EXPECT_GT(changed_, 0);

  prober_.dead.clear();
  runFor(1s);  // 3 replies at 50 ms
  EXPECT_EQ(table_.via("10.64.0.0/11"), "100.64.12.9");
}

// A miss is probed again at once (the burst), not a whole interval later: the monitor re-arms
// its timer when a result brings a check's next wake forward (and only then: not after every
// reply).
TEST_F(GatewayMonitorTest, AMissIsProbedAgainAtOnceNotAnIntervalLater) {
  auto json = testing::example("chip");
  json["health"]["interval_ms"] = 1000;
  json["health"]["up_after"] = 3;
  auto loaded = testing::parseAs("chip", json.dump());
  ASSERT_TRUE(loaded.config) << testing::describe(loaded.diagnostics);
  monitor_.configure(*loaded.config);
  runFor(300ms);
  ASSERT_EQ(monitor_.snapshot().peers.at("cometa").verdict, "up");

  prober_.dead.insert("100.64.12.9");
  const int before = prober_.sent["100.64.12.9"];
  for (int i = 0; i < 110 && prober_.sent["100.64.12.9"] == before; ++i) runFor(10ms);
  ASSERT_EQ(prober_.sent["100.64.12.9"], before + 1) << "no probe within an interval";
  runFor(300ms);  // the probe's timeout, then 7 re-probes and theirs: far below the interval
  EXPECT_GE(prober_.sent["100.64.12.9"], before + 8);
  EXPECT_EQ(monitor_.snapshot().peers.at("cometa").verdict, "down");
  EXPECT_EQ(table_.via("10.64.0.0/11"), "100.64.12.10");
}

// A server still holds a flapping gateway down: its route set has another gateway, and a
// gateway that comes and goes would move every route with it each time. From the second flap
// on, the routes stay on illimani for the hold (5 s here) after cometa answers again.
TEST_F(GatewayMonitorTest, AServerHoldsAFlappingGatewayDown) {
  auto json = testing::example("chip");
  json["health"]["flap_hold_ms"] = 5000;
  monitor_.configure(load(json));
  runFor(300ms);
  ASSERT_EQ(table_.via("10.64.0.0/11"), "100.64.12.9");
  for (int n = 0; n < 2; ++n) {
    flap("100.64.12.9", [&](bool answering) {
      // Moved while silent, and kept on illimani once answering from the second flap on.
      if (!answering || n > 0) {
        EXPECT_EQ(table_.via("10.64.0.0/11"), "100.64.12.10") << n << ": on illimani";
      }
    });
  }
  EXPECT_EQ(table_.via("10.64.0.0/11"), "100.64.12.10") << "held down after the second flap";
  EXPECT_EQ(monitor_.snapshot().peers.at("cometa").verdict, "down");
  runFor(5s);
  EXPECT_EQ(table_.via("10.64.0.0/11"), "100.64.12.9") << "back once the hold is over";
}

// A gateway never holds a flapping server down: its routes back to the server's clients come
// back with the first up_after replies (holding them would leave those clients no way back).
TEST_F(GatewayMonitorTest, AGatewayRoutesBackToAFlappingServerAsSoonAsItAnswers) {
  auto json = testing::example("cometa");
  json["health"]["flap_hold_ms"] = 5000;
  monitor_.configure(load(json, "cometa"));
  runFor(300ms);
  ASSERT_EQ(table_.via("172.16.1.64/27"), "100.64.12.11");
  for (int n = 0; n < 4; ++n) {
    flap("100.64.12.11", [&](bool answering) {
      EXPECT_EQ(table_.via("172.16.1.64/27"), answering ? "100.64.12.11" : "")
          << "flap " << n << (answering ? ": back" : ": withdrawn while silent");
    });
  }
}

// Rules that cannot be read (a kernel or an emulator without rule dumps) do not hold the routes
// back: they still follow the verdicts, the rules are left alone, and the error is reported.
TEST_F(GatewayMonitorTest, RulesThatCannotBeReadDoNotHoldTheRoutesBack) {
  table_.rules_fail = true;
  monitor_.configure(load(testing::example("chip")));
  runFor(200ms);
  EXPECT_EQ(table_.via("10.64.0.0/11"), "100.64.12.9");
  EXPECT_TRUE(table_.rules_.empty()) << "rules it could not read are not touched";
  prober_.dead.insert("100.64.12.9");
  runFor(600ms);
  EXPECT_EQ(table_.via("10.64.0.0/11"), "100.64.12.10");
  const auto errors = monitor_.snapshot().route_errors;
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors[0].find("rules left as they are; routes updated"), std::string::npos);
  // `routes --dry-run` asks the same question: it says so instead of failing.
  prober_.dead.clear();
  const auto plan = monitor_.dryRun();
  ASSERT_FALSE(plan.empty());
  EXPECT_EQ(plan[0].rfind("! ", 0), 0u) << plan[0];
  EXPECT_NE(plan[0].find("rules left as they are"), std::string::npos) << plan[0];
}

// The seed is dual stack: each gateway's IPv6 mesh address has a check of its own ("icmp6").
// When only it goes silent, the gateway keeps the IPv4 destinations and the IPv6 ones move.
TEST_F(GatewayMonitorTest, AGatewayWhoseIpv6AddressIsSilentCarriesIpv4Only) {
  monitor_.configure(load(testing::example("chip")));
  runFor(200ms);
  EXPECT_EQ(table_.via("fd00:65::/32"), "fd00:64:12::9");
  EXPECT_GT(prober_.sent["fd00:64:12::9"], 0);
  prober_.dead.insert("fd00:64:12::9");
  runFor(600ms);
  EXPECT_EQ(table_.via("10.64.0.0/11"), "100.64.12.9");
  EXPECT_EQ(table_.via("fd00:65::/32"), "fd00:64:12::a");
  const auto health = monitor_.snapshot();
  EXPECT_EQ(health.peers.at("cometa").verdict, "up") << "IPv4 is fine";
  const auto json = monitor_.toJson();
  bool logged = false;
  for (const auto& event : json["events"]) {
    logged = logged || event["what"].get<std::string>().find("cometa icmp6: up -> down") == 0;
  }
  EXPECT_TRUE(logged) << json["events"].dump();
  prober_.dead.clear();
  runFor(1s);
  EXPECT_EQ(table_.via("fd00:65::/32"), "fd00:64:12::9");
}

// An IPv6 check without a verdict yet (no reply, warm-up not over) holds nothing back: the set's
// routes go in with the IPv4 verdicts, IPv6 following IPv4, until the IPv6 check says down.
TEST_F(GatewayMonitorTest, AnUnknownIpv6CheckHoldsNothingBack) {
  prober_.dead.insert("fd00:64:12::9");
  monitor_.configure(load(testing::example("chip")));
  runFor(150ms);  // warmup_ms is 300
  EXPECT_EQ(table_.via("10.64.0.0/11"), "100.64.12.9");
  EXPECT_EQ(table_.via("fd00:65::/32"), "fd00:64:12::9");
  runFor(500ms);
  EXPECT_EQ(table_.via("10.64.0.0/11"), "100.64.12.9");
  EXPECT_EQ(table_.via("fd00:65::/32"), "fd00:64:12::a");
}

// health.through_target6: a "through6" check per gateway over IPv6 (same mark as the IPv4
// one). When only cometa's IPv6 way through fails, the IPv6 destinations move and IPv4 stays.
TEST_F(GatewayMonitorTest, AGatewayWhoseIpv6WayThroughFailsIsDegradedForIpv6Only) {
  monitor_.configure(load(testing::example("chip")));  // the seed has through_target6
  runFor(200ms);
  EXPECT_GT(prober_.sent["fd00:65:2::8@7701"], 0) << "through cometa over IPv6";
  EXPECT_GT(prober_.sent["fd00:65:2::8@7702"], 0) << "through illimani over IPv6";
  EXPECT_EQ(table_.via("fd00:65::/32"), "fd00:64:12::9");
  prober_.dead.insert("fd00:65:2::8@7701");
  runFor(600ms);
  EXPECT_EQ(table_.via("10.64.0.0/11"), "100.64.12.9");
  EXPECT_EQ(table_.via("fd00:65::/32"), "fd00:64:12::a");
  prober_.dead.clear();
  runFor(1s);
  EXPECT_EQ(table_.via("fd00:65::/32"), "fd00:64:12::9");
  // And the IPv4 way through failing moves IPv4 only, now that IPv6 has a probe of its own.
  prober_.dead.insert("10.65.2.8@7701");
  runFor(600ms);
  EXPECT_EQ(table_.via("10.64.0.0/11"), "100.64.12.10");
  EXPECT_EQ(table_.via("fd00:65::/32"), "fd00:64:12::9");
}

TEST_F(GatewayMonitorTest, AllDownInstallsUnreachableAndDegradedGatewaysAreAvoided) {
  monitor_.configure(load(testing::example("chip")));
  runFor(200ms);
  prober_.dead_marks.insert(7701);  // cometa's mesh side: only the through probe sees it
  runFor(600ms);
  EXPECT_EQ(table_.via("10.64.0.0/11"), "100.64.12.10");
  EXPECT_EQ(monitor_.toJson()["peers"]["cometa"]["verdict"], "degraded");
  prober_.dead.insert("100.64.12.9");
  prober_.dead.insert("100.64.12.10");
  runFor(600ms);
  EXPECT_EQ(table_.via("10.64.0.0/11"), "unreachable");
  EXPECT_TRUE(monitor_.toJson()["route_sets"][0]["all_down"]);
}

TEST_F(GatewayMonitorTest, AdoptedRoutesAreKeptUntilTheVerdictsAreIn) {
  // A previous meshbroker left the route via illimani; every gateway answers.
  table_.routes_.push_back(
      {*config::Cidr::parse("10.64.0.0/11", nullptr),
       routing::kMainTable,
       0,
       routing::RouteType::kUnicast,
       {{*config::Ipv4Address::parse("100.64.12.10", nullptr), "meshnet0", 1}}});
  monitor_.configure(load(testing::example("chip")));
  EXPECT_EQ(table_.via("10.64.0.0/11"), "100.64.12.10") << "nothing touched before verdicts";
  EXPECT_EQ(table_.via("10.254.0.0/16"), "");
  runFor(200ms);
  EXPECT_EQ(table_.via("10.64.0.0/11"), "100.64.12.9") << "then the policy's choice";
}

TEST_F(GatewayMonitorTest, HeldVerdictsDoNotMoveRoutes) {
  monitor_.configure(load(testing::example("chip")));
  runFor(200ms);
  monitor_.setLocalHold(true);  // our tincd restarts: nothing answers
  prober_.dead = {"100.64.12.9", "100.64.12.10"};
  runFor(600ms);
  EXPECT_EQ(table_.via("10.64.0.0/11"), "100.64.12.9");
  EXPECT_TRUE(monitor_.toJson()["held"]);
}

TEST_F(GatewayMonitorTest, DrainMovesTrafficWithoutFailingTheGateway) {
  monitor_.configure(load(testing::example("chip")));
  runFor(200ms);
  EXPECT_TRUE(monitor_.drain("cometa", true));
  EXPECT_EQ(table_.via("10.64.0.0/11"), "100.64.12.10");
  EXPECT_EQ(monitor_.toJson()["peers"]["cometa"]["verdict"], "up");
  EXPECT_TRUE(monitor_.toJson()["peers"]["cometa"]["drained"]);
  EXPECT_FALSE(monitor_.drain("nosuch", true));
  EXPECT_TRUE(monitor_.drain("cometa", false));
  EXPECT_EQ(table_.via("10.64.0.0/11"), "100.64.12.9");
}

TEST_F(GatewayMonitorTest, ResyncRepairsARouteDeletedByHandAndDryRunShowsIt) {
  monitor_.configure(load(testing::example("chip")));
  runFor(200ms);
  std::erase_if(table_.routes_, [](const KernelRoute& r) { return r.to.str() == "10.64.0.0/11"; });
  EXPECT_EQ(monitor_.dryRun(),
            std::vector<std::string>{"+ route 10.64.0.0/11 via 100.64.12.9 dev meshnet0"});
  runFor(400ms);  // resync_ms 200
  EXPECT_EQ(table_.via("10.64.0.0/11"), "100.64.12.9");
  EXPECT_TRUE(monitor_.dryRun().empty());
}

TEST_F(GatewayMonitorTest, AForeignRouteForOurDestinationIsLeftAloneAndShown) {
  // The administrator's static route to a route set's destination, at the key ours would use.
  const routing::RouteKey held{*config::Cidr::parse("10.64.0.0/11", nullptr), routing::kMainTable,
                               0};
  table_.foreign_ = {{held, 4}};
  monitor_.configure(load(testing::example("chip")));
  runFor(400ms);
  auto ours = [this] {
    std::vector<std::uint32_t> metrics;
    for (const auto& r : table_.routes_) {
      if (r.to.str() == "10.64.0.0/11" && r.table == routing::kMainTable)
        metrics.push_back(r.metric);
    }
    return metrics;
  };
  EXPECT_EQ(ours(), std::vector<std::uint32_t>{1}) << "ours went in beside it, at metric 1";
  EXPECT_EQ(table_.via("10.254.0.0/16"), "100.64.12.9") << "other destinations as before";
  for (const auto& line : table_.log) {
    EXPECT_NE(line, "replace 10.64.0.0/11 via 100.64.12.9 dev meshnet0") << "never at metric 0";
  }
  auto json = monitor_.toJson();
  ASSERT_EQ(json["route_conflicts"].size(), 1u);
  EXPECT_NE(json["route_conflicts"][0].get<std::string>().find("proto static"), std::string::npos);
  int recorded = 0;
  for (const auto& event : json["events"]) {
    recorded += event["what"].get<std::string>().rfind("routes: 10.64.0.0/11 (table 254", 0) == 0;
  }
  EXPECT_EQ(recorded, 1) << "said once, not at every re-sync: " << json["events"].dump();

  table_.foreign_.clear();  // the administrator removed theirs
  runFor(400ms);
  EXPECT_EQ(ours(), std::vector<std::uint32_t>{0}) << "back at metric 0, the old one removed";
  json = monitor_.toJson();
  EXPECT_TRUE(json["route_conflicts"].empty());
  EXPECT_NE(json["events"].back()["what"].get<std::string>().find("is gone"), std::string::npos);
}

TEST_F(GatewayMonitorTest, ReconfigureKeepsVerdictsOfUnchangedPeersAndDropsRemovedSets) {
  auto json = testing::example("chip");
  monitor_.configure(load(json));
  runFor(200ms);
  json["routes"][0]["to"] = {"10.64.0.0/11"};
  const auto replied = monitor_.lastReplies().at("cometa");
  ASSERT_TRUE(replied);
  monitor_.configure(load(json));
  EXPECT_EQ(monitor_.toJson()["peers"]["cometa"]["verdict"], "up") << "no warm-up again";
  // The stale-path watch reads the last reply: a reload that forgot it made every peer look
  // silent since it connected, and tincd was restarted for nothing (route_failover).
  EXPECT_EQ(monitor_.lastReplies().at("cometa"), replied);
  EXPECT_EQ(table_.via("10.254.0.0/16"), "") << "a prefix removed from the set is withdrawn";
  EXPECT_EQ(table_.via("10.64.0.0/11"), "100.64.12.9");
}

}  // namespace
}  // namespace meshbroker::supervisor
