// The health check's decisions, driven by a fake clock and a simulated network.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <random>

#include "health/check.hpp"

namespace meshbroker::health {
namespace {

using namespace std::chrono_literals;

// A simulated network in front of one HealthCheck: every probe is answered after `rtt`
// unless `lost()` says so, in which case its timeout fires. Time only moves inside run().
class Sim {
 public:
  explicit Sim(CheckParams params) : check(params, now) {}

  // Advances to `until`, sending every due probe and delivering every result on time.
  void run(TimePoint until) {
    while (true) {
      TimePoint next = check.nextWake();
      if (!pending.empty()) next = std::min(next, pending.begin()->first);
      if (next > until) break;
      now = std::max(now, next);
      deliverDue();
      for (const auto& probe : check.due(now)) {
        const bool lose = lost() || rtt > probe.timeout;
        pending.emplace(now + (lose ? std::chrono::duration_cast<Micros>(probe.timeout) : rtt),
                        Result{probe.id, !lose});
        timeouts.push_back(probe.timeout);
      }
      note(check.tick(now));
    }
    now = until;
  }
  void runFor(Duration span) { run(now + span); }

  void deliverDue() {
    while (!pending.empty() && pending.begin()->first <= now) {
      const auto [at, result] = *pending.begin();
      pending.erase(pending.begin());
      note(check.onResult(at, result.id, result.ok, rtt));
    }
  }
  void note(const std::optional<Transition>& transition) {
    if (!transition) return;
    transitions.push_back({now, *transition});
  }
  int downs() const {
    int count = 0;
    for (const auto& [at, t] : transitions) count += t.to == Verdict::kDown;
    return count;
  }

  struct Result {
    std::uint64_t id;
    bool ok;
  };
  TimePoint now{};
  HealthCheck check;
  Micros rtt{1000};
  std::function<bool()> lost = [] { return false; };
  std::multimap<TimePoint, Result> pending;
  std::vector<Duration> timeouts;
  std::vector<std::pair<TimePoint, Transition>> transitions;
};

std::function<bool()> lossRate(double rate, unsigned seed) {
  auto engine = std::make_shared<std::mt19937>(seed);
  return [engine, rate] { return std::bernoulli_distribution(rate)(*engine); };
}

TEST(HealthCheckTest, FirstReplyMakesAnUnknownGatewayUp) {
  Sim sim{CheckParams{}};
  EXPECT_EQ(sim.check.verdict(), Verdict::kUnknown);
  sim.runFor(5ms);
  ASSERT_EQ(sim.transitions.size(), 1u);
  EXPECT_EQ(sim.transitions[0].second.to, Verdict::kUp);
  EXPECT_EQ(sim.transitions[0].first, TimePoint{} + 1ms);  // one RTT
}

TEST(HealthCheckTest, SilentGatewayIsDownBeforeTheWarmUpEnds) {
  Sim sim{CheckParams{}};
  sim.lost = [] { return true; };
  sim.runFor(3s);
  ASSERT_EQ(sim.transitions.size(), 1u);
  EXPECT_EQ(sim.transitions[0].second.to, Verdict::kDown);
  EXPECT_NE(sim.transitions[0].second.reason.find("8 probes in a row"), std::string::npos);
  EXPECT_LT(sim.transitions[0].first - TimePoint{}, 400ms);  // the burst, not 8 intervals
}

TEST(HealthCheckTest, WithoutBurstTheWarmUpDecides) {
  CheckParams params;
  params.burst = 0;
  params.down_after = 100;
  params.loss_down_pct = 0;
  params.warmup = 1s;
  Sim sim{params};
  sim.lost = [] { return true; };
  sim.runFor(3s);
  ASSERT_EQ(sim.transitions.size(), 1u);
  EXPECT_EQ(sim.transitions[0].first, TimePoint{} + 1s);
  EXPECT_NE(sim.transitions[0].second.reason.find("warm-up"), std::string::npos);
}

TEST(HealthCheckTest, TotalLossIsConfirmedByABurstWithinOneIntervalAndTwoTimeouts) {
  Sim sim{CheckParams{}};
  sim.runFor(10s);
  ASSERT_EQ(sim.check.verdict(), Verdict::kUp);
  // The adaptive timeout has shrunk to its floor (timeout/6 = 25 ms) on a 1 ms RTT.
  EXPECT_EQ(sim.timeouts.back(), 25ms);
  const TimePoint cut = sim.now + 37ms;  // anywhere inside an interval
  sim.run(cut);
  sim.lost = [] { return true; };
  sim.runFor(1s);
  ASSERT_EQ(sim.transitions.size(), 2u);
  const auto detection = sim.transitions[1].first - cut;
  // Worst case: the next probe (<= 200 ms), its timeout, 6 gaps of 2 ms, the last timeout.
  EXPECT_LE(detection, 200ms + 25ms + 12ms + 25ms);
  EXPECT_NE(sim.transitions[1].second.reason.find("8 probes in a row"), std::string::npos);
}

TEST(HealthCheckTest, OneLostProbeTriggersABurstButNoVerdict) {
  Sim sim{CheckParams{}};
  sim.runFor(1s);
  const auto sent = sim.check.stats().sent;
  int n = 0;
  sim.lost = [&n] { return n++ == 0; };
  sim.runFor(350ms);
  EXPECT_EQ(sim.check.verdict(), Verdict::kUp);
  EXPECT_EQ(sim.transitions.size(), 1u);
  // The miss, then the first re-probe answers and ends the burst.
  EXPECT_GE(sim.check.stats().sent, sent + 2);
  EXPECT_LE(sim.check.stats().sent, sent + 3);
}

TEST(HealthCheckTest, DownNeedsUpAfterRepliesInARowToComeBack) {
  CheckParams params;
  params.up_after = 5;
  Sim sim{params};
  sim.runFor(1s);
  sim.lost = [] { return true; };
  sim.runFor(1s);
  ASSERT_EQ(sim.check.verdict(), Verdict::kDown);
  // Four replies, a miss, then replies again: only the fifth after the miss counts.
  int n = 0;
  sim.lost = [&n] { return ++n == 5; };
  const TimePoint back = sim.now;
  sim.runFor(3s);
  ASSERT_EQ(sim.check.verdict(), Verdict::kUp);
  const auto up_at = sim.transitions.back().first - back;
  EXPECT_GE(up_at, 9 * 200ms);         // 4 replies + miss + 5 replies at the down interval
  EXPECT_LE(up_at, 10 * 200ms + 1ms);  // + the RTT
  EXPECT_NE(sim.transitions.back().second.reason.find("5 replies in a row"), std::string::npos);
}

TEST(HealthCheckTest, AFlappingGatewayIsHeldDownLongerEachTime) {
  CheckParams params;
  params.up_after = 2;
  Sim sim{params};
  std::vector<Duration> downtime;
  for (int flap = 0; flap < 4; ++flap) {
    sim.runFor(2s);
    ASSERT_EQ(sim.check.verdict(), Verdict::kUp) << flap;
    sim.lost = [] { return true; };
    sim.runFor(1s);
    ASSERT_EQ(sim.check.verdict(), Verdict::kDown);
    const TimePoint down_at = sim.transitions.back().first;
    sim.lost = [] { return false; };
    sim.runFor(30s);
    ASSERT_EQ(sim.check.verdict(), Verdict::kUp);
    downtime.push_back(
        std::chrono::duration_cast<Duration>(sim.transitions.back().first - down_at));
  }
  // First down: up after 2 replies once the loss ends (the rest of the lossy second + 0.4 s).
  EXPECT_LT(downtime[0], 1500ms);
  // Then 5 s, 10 s, 20 s of hold-down (the flaps are within five minutes).
  EXPECT_GE(downtime[1], 5s);
  EXPECT_LT(downtime[1], 6s);
  EXPECT_GE(downtime[2], 10s);
  EXPECT_LT(downtime[2], 11s);
  EXPECT_GE(downtime[3], 20s);
  EXPECT_NE(sim.transitions[3].second.reason.find("flapping"), std::string::npos);
}

TEST(HealthCheckTest, AWarmUpWithoutAReplyIsNotAFlap) {
  CheckParams params;
  params.up_after = 2;
  Sim sim{params};
  sim.lost = [] { return true; };  // the gateway is still starting when we do
  sim.runFor(params.warmup + 500ms);
  ASSERT_EQ(sim.check.verdict(), Verdict::kDown);
  sim.lost = [] { return false; };
  sim.runFor(5s);
  ASSERT_EQ(sim.check.verdict(), Verdict::kUp);
  sim.lost = [] { return true; };  // its first real failure
  sim.runFor(1s);
  ASSERT_EQ(sim.check.verdict(), Verdict::kDown);
  EXPECT_FALSE(sim.check.stats().hold_down_until) << sim.transitions.back().second.reason;
  EXPECT_EQ(sim.transitions.back().second.reason.find("flapping"), std::string::npos);
  const TimePoint down_at = sim.transitions.back().first;
  sim.lost = [] { return false; };
  sim.runFor(3s);
  ASSERT_EQ(sim.check.verdict(), Verdict::kUp);
  EXPECT_LT(sim.transitions.back().first - down_at, 1500ms) << "no hold-down";
}

TEST(HealthCheckTest, FlapHoldIsCappedAndForgottenAfterFiveMinutes) {
  CheckParams params;
  params.up_after = 1;
  params.flap_hold_max = 8s;
  Sim sim{params};
  for (int flap = 0; flap < 5; ++flap) {
    sim.lost = [] { return false; };
    sim.runFor(25s);
    sim.lost = [] { return true; };
    sim.runFor(1s);
  }
  ASSERT_TRUE(sim.check.stats().hold_down_until);
  EXPECT_LE(*sim.check.stats().hold_down_until - sim.transitions.back().first, 8s);
  sim.lost = [] { return false; };
  sim.runFor(10min);
  sim.lost = [] { return true; };
  sim.runFor(1s);
  EXPECT_FALSE(sim.check.stats().hold_down_until) << "five quiet minutes forgive earlier flaps";
}

TEST(HealthCheckTest, HeldChecksKeepTheirVerdictAndWarmUpAfterwards) {
  Sim sim{CheckParams{}};
  sim.runFor(3s);
  ASSERT_EQ(sim.check.verdict(), Verdict::kUp);
  sim.check.hold(sim.now, true);
  sim.lost = [] { return true; };
  sim.runFor(5s);  // our tincd is restarting: nothing answers, and that is not the gateway
  EXPECT_EQ(sim.check.verdict(), Verdict::kUp);
  EXPECT_TRUE(sim.check.stats().held);
  sim.check.hold(sim.now, false);
  sim.runFor(1900ms);  // still nothing, but within the warm-up after the hold
  EXPECT_EQ(sim.check.verdict(), Verdict::kUp);
  sim.runFor(1s);
  EXPECT_EQ(sim.check.verdict(), Verdict::kDown);
}

TEST(HealthCheckTest, AReplyAfterAHoldEndsTheGracePeriod) {
  Sim sim{CheckParams{}};
  sim.runFor(3s);
  sim.check.hold(sim.now, true);
  sim.runFor(1s);
  sim.check.hold(sim.now, false);
  sim.runFor(100ms);  // our tincd answers again: the gateway replied
  sim.lost = [] { return true; };
  const TimePoint cut = sim.now;
  sim.runFor(1s);
  ASSERT_EQ(sim.check.verdict(), Verdict::kDown);
  EXPECT_LT(sim.transitions.back().first - cut, 500ms) << "not after the 2 s grace";
}

// Found by bench/chaos: the misses while our own tincd came back (many, with burst re-probes)
// must not stay in the loss score and make one later miss look like sustained loss.
TEST(HealthCheckTest, MissesInTheGraceAfterAHoldDoNotCountAsLossLater) {
  CheckParams params;
  params.interval = std::chrono::milliseconds(100);
  Sim sim{params};
  sim.runFor(3s);
  ASSERT_EQ(sim.check.verdict(), Verdict::kUp);
  sim.check.hold(sim.now, true);
  sim.lost = [] { return true; };
  sim.runFor(1s);
  sim.check.hold(sim.now, false);
  sim.runFor(1900ms);  // our tincd still coming up: nothing answers, within the grace
  ASSERT_EQ(sim.check.verdict(), Verdict::kUp);
  sim.lost = [] { return false; };
  sim.runFor(1s);
  int sent = 0;
  sim.lost = [&sent] { return sent++ % 25 == 0; };  // 4 % loss from now on
  sim.runFor(5s);
  EXPECT_EQ(sim.downs(), 0) << sim.transitions.back().second.reason;
  EXPECT_EQ(sim.check.verdict(), Verdict::kUp);
}

// A reload's new settings apply to a running check (bench/chaos: SIGHUP said "probing every
// 150 ms" and the old interval went on), and the verdict stays.
TEST(HealthCheckTest, NewParamsApplyToARunningCheck) {
  CheckParams params;
  params.interval = std::chrono::milliseconds(200);
  Sim sim{params};
  sim.runFor(2s);
  ASSERT_EQ(sim.check.verdict(), Verdict::kUp);
  const auto before = sim.timeouts.size();
  sim.runFor(2s);
  const auto at_200ms = sim.timeouts.size() - before;
  params.interval = std::chrono::milliseconds(50);
  params.down_after = 2;
  sim.check.setParams(params);
  const auto after = sim.timeouts.size();
  sim.runFor(2s);
  const auto at_50ms = sim.timeouts.size() - after;
  EXPECT_NEAR(static_cast<double>(at_200ms), 10, 1);
  // 40 at 50 ms, less the rest of the 200 ms interval already running at the change.
  EXPECT_GE(at_50ms, 36u);
  EXPECT_LE(at_50ms, 41u);
  EXPECT_EQ(sim.check.verdict(), Verdict::kUp);
  EXPECT_EQ(sim.downs(), 0);
  sim.lost = [] { return true; };  // and the new down_after (2, not 8) decides
  sim.runFor(1s);
  ASSERT_EQ(sim.downs(), 1);
  EXPECT_EQ(sim.transitions.back().second.reason, "2 probes in a row unanswered");
}

TEST(HealthCheckTest, ResultsOfUnknownProbesAreIgnored) {
  HealthCheck check(CheckParams{}, TimePoint{});
  EXPECT_FALSE(check.onResult(TimePoint{}, 42, true, Micros(10)));
  EXPECT_EQ(check.verdict(), Verdict::kUnknown);
  const auto probes = check.due(TimePoint{});
  ASSERT_EQ(probes.size(), 1u);
  EXPECT_TRUE(check.onResult(TimePoint{} + 1ms, probes[0].id, true, Micros(1000)));
  EXPECT_FALSE(check.onResult(TimePoint{} + 2ms, probes[0].id, false, Micros(0)))
      << "a second result for the same probe";
}

TEST(HealthCheckTest, SlowGatewayGoesDownOnSmoothedRtt) {
  CheckParams params;
  params.rtt_down = 50ms;
  params.up_after = 3;
  Sim sim{params};
  sim.runFor(2s);
  ASSERT_EQ(sim.check.verdict(), Verdict::kUp);
  sim.rtt = Micros(90000);
  sim.runFor(3s);
  ASSERT_EQ(sim.check.verdict(), Verdict::kDown);
  EXPECT_NE(sim.check.stats().reason.find("smoothed RTT"), std::string::npos);
  sim.rtt = Micros(1000);
  sim.runFor(5s);
  EXPECT_EQ(sim.check.verdict(), Verdict::kUp);
}

// 10 % random loss each way on the path is 19 % probe loss. Over ten simulated minutes (and
// several seeds) that never takes the gateway down.
TEST(HealthCheckTest, TenPercentLossEachWayNeverTakesAGatewayDown) {
  for (unsigned seed = 1; seed <= 5; ++seed) {
    Sim sim{CheckParams{}};
    sim.lost = lossRate(0.19, seed);
    sim.runFor(10min);
    EXPECT_EQ(sim.downs(), 0) << "seed " << seed;
    EXPECT_NEAR(sim.check.stats().loss_pct, 19, 15);
  }
}

// 30 % loss each way (51 % of probes): the loss test decides in about a second (median over
// 40 runs within 1.5 s, every run within 6 s); a 40 % each-way loss is faster still.
TEST(HealthCheckTest, ThirtyPercentLossEachWayTakesTheGatewayDownInAboutASecond) {
  for (const double rate : {0.51, 0.64}) {
    std::vector<Duration> times;
    for (unsigned seed = 1; seed <= 40; ++seed) {
      Sim sim{CheckParams{}};
      sim.runFor(2s);
      ASSERT_EQ(sim.check.verdict(), Verdict::kUp);
      const TimePoint start = sim.now;
      sim.lost = lossRate(rate, seed);
      sim.runFor(6s);
      ASSERT_EQ(sim.check.verdict(), Verdict::kDown) << "seed " << seed;
      const auto& reason = sim.transitions[1].second.reason;
      EXPECT_TRUE(reason.find("sustained probe loss") != std::string::npos ||
                  reason.find("8 probes in a row") != std::string::npos)
          << reason;
      times.push_back(std::chrono::duration_cast<Duration>(sim.transitions[1].first - start));
    }
    std::sort(times.begin(), times.end());
    EXPECT_LE(times[times.size() / 2], rate < 0.6 ? 1500ms : 1000ms) << rate;
  }
}

TEST(HealthCheckTest, ProbeTimeoutAdaptsButNeverExceedsTheConfiguredOne) {
  Sim sim{CheckParams{}};
  sim.rtt = Micros(400000);  // replies slower than the timeout count as lost
  sim.runFor(1s);
  for (const auto timeout : sim.timeouts) EXPECT_LE(timeout, 150ms);
  sim.rtt = Micros(30000);
  sim.timeouts.clear();
  sim.runFor(3s);
  EXPECT_EQ(sim.check.verdict(), Verdict::kUp);
  EXPECT_GT(sim.timeouts.back(), 30ms);
  EXPECT_LE(sim.timeouts.back(), 150ms);
}

TEST(HealthCheckTest, ParamsComeFromTheConfig) {
  config::HealthConfig config;
  config.interval_ms = 100;
  config.timeout_ms = 90;
  config.burst = 2;
  const auto params = CheckParams::from(config);
  EXPECT_EQ(params.interval, 100ms);
  EXPECT_EQ(params.min_timeout, 15ms);
  EXPECT_EQ(params.burst, 2);
  EXPECT_EQ(params.down_after, 8);
}

}  // namespace
}  // namespace meshbroker::health
