// The stale-path watch (pure): a connected peer that stays silent restarts our tincd; a dead or
// just-connected peer never does, one that stays silent after its restart not again; restarts
// back off.
#include "supervisor/stale_path.hpp"

#include <gtest/gtest.h>

namespace meshbroker::supervisor {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class StalePathTest : public ::testing::Test {
 protected:
  TimePoint t0 = TimePoint{} + seconds(1000);

  PathView connected(std::string peer, TimePoint up, std::optional<TimePoint> reply) {
    return PathView{std::move(peer), true, up, reply};
  }
};

TEST_F(StalePathTest, AnsweredThenSilentForTheSilenceIsStale) {
  StalePathWatch watch;
  watch.setTincRunning(t0);
  std::vector<PathView> paths = {connected("cometa", t0 + seconds(1), t0 + seconds(2)),
                                 connected("illimani", t0 + seconds(1), t0 + seconds(30))};
  EXPECT_FALSE(watch.evaluate(t0 + seconds(26), paths)) << "24 s of silence is not yet stale";
  auto verdict = watch.evaluate(t0 + seconds(27), paths);
  ASSERT_TRUE(verdict);
  EXPECT_EQ(verdict->peer, "cometa");
  EXPECT_EQ(verdict->silent_for, seconds(25));
  EXPECT_NE(verdict->reason.find("cometa"), std::string::npos) << verdict->reason;
  EXPECT_NE(verdict->reason.find("25.0 s"), std::string::npos) << verdict->reason;
}

TEST_F(StalePathTest, TheLongestSilentPeerIsNamed) {
  StalePathWatch watch;
  watch.setTincRunning(t0);
  std::vector<PathView> paths = {connected("cometa", t0, t0 + seconds(5)),
                                 connected("illimani", t0, t0 + seconds(2))};
  auto verdict = watch.evaluate(t0 + seconds(40), paths);
  ASSERT_TRUE(verdict);
  EXPECT_EQ(verdict->peer, "illimani");
  EXPECT_EQ(verdict->silent_for, seconds(38));
}

TEST_F(StalePathTest, APeerSilentSinceItConnectedGetsOneRestart) {
  // The key can be out of step from the first packet: silent since the host-up is stale too.
  // But if it never answers (ICMP filtered, the wrong address), restarting again cannot help.
  StalePathWatch watch;
  watch.setTincRunning(t0);
  EXPECT_FALSE(watch.evaluate(t0 + seconds(24), {connected("cometa", t0, std::nullopt)}));
  auto verdict = watch.evaluate(t0 + seconds(25), {connected("cometa", t0, std::nullopt)});
  ASSERT_TRUE(verdict);
  EXPECT_EQ(verdict->peer, "cometa");
  EXPECT_EQ(verdict->silent_for, seconds(25));
  EXPECT_NE(verdict->reason.find("answered nothing since it connected"), std::string::npos)
      << verdict->reason;
  const TimePoint restarted = t0 + seconds(26);
  watch.setTincRunning(restarted);
  EXPECT_FALSE(watch.evaluate(t0 + seconds(3600), {connected("cometa", restarted, std::nullopt)}));
}

TEST_F(StalePathTest, APeerAnsweringAgainAfterItsRestartCanBeStaleAgain) {
  StalePathWatch watch;
  watch.setTincRunning(t0);
  ASSERT_TRUE(watch.evaluate(t0 + seconds(30), {connected("cometa", t0, t0 + seconds(1))}));
  const TimePoint restarted = t0 + seconds(31);
  watch.setTincRunning(restarted);
  // Reconnected, silent: not again...
  EXPECT_FALSE(watch.evaluate(t0 + seconds(200),
                              {connected("cometa", restarted + seconds(1), t0 + seconds(1))}));
  // ...until it has answered after the restart and then gone silent for the silence.
  auto verdict = watch.evaluate(t0 + seconds(300),
                                {connected("cometa", restarted + seconds(1), t0 + seconds(250))});
  ASSERT_TRUE(verdict);
  EXPECT_EQ(verdict->silent_for, seconds(50));
}

TEST_F(StalePathTest, APeerTincCallsDownIsNeverStale) {
  // A dead gateway: tinc ends its meta connection within PingInterval + PingTimeout.
  StalePathWatch watch;
  watch.setTincRunning(t0);
  PathView gone{"cometa", false, t0, t0 + seconds(1)};
  EXPECT_FALSE(watch.evaluate(t0 + seconds(600), {gone}));
}

TEST_F(StalePathTest, ReplyFromBeforeTheHostUpCountsTheSilenceFromTheHostUp) {
  StalePathWatch watch;
  watch.setTincRunning(t0);
  // Answered before reconnecting at t0+50 s, nothing since: silent since the host-up.
  const auto path = connected("cometa", t0 + seconds(50), t0 + seconds(10));
  EXPECT_FALSE(watch.evaluate(t0 + seconds(74), {path}));
  auto verdict = watch.evaluate(t0 + seconds(75), {path});
  ASSERT_TRUE(verdict);
  EXPECT_EQ(verdict->silent_for, seconds(25));
}

TEST_F(StalePathTest, AFreshConnectionGetsTheSilenceToAnswer) {
  StalePathWatch watch;
  watch.setTincRunning(t0);
  // Up for 15 s, a reply at once then silence: not long enough yet.
  EXPECT_FALSE(watch.evaluate(t0 + seconds(15),
                              {connected("cometa", t0 + milliseconds(1), t0 + milliseconds(2))}));
}

TEST_F(StalePathTest, NothingWhileOurTincdIsNotRunningOrFromThePreviousOne) {
  StalePathWatch watch;
  std::vector<PathView> paths = {connected("cometa", t0, t0 + seconds(1))};
  EXPECT_FALSE(watch.evaluate(t0 + seconds(100), paths)) << "never said it runs";
  watch.setTincRunning(t0 + seconds(50));
  EXPECT_FALSE(watch.evaluate(t0 + seconds(100), paths)) << "host-up from the previous tincd";
  watch.setTincRunning(std::nullopt);
  EXPECT_FALSE(
      watch.evaluate(t0 + seconds(100), {connected("cometa", t0 + seconds(60), t0 + seconds(61))}));
}

TEST_F(StalePathTest, SettingRunningAgainKeepsTheFirstStart) {
  StalePathWatch watch;
  watch.setTincRunning(t0);
  watch.setTincRunning(t0 + seconds(30));  // changed() says it again; the start was t0
  EXPECT_TRUE(
      watch.evaluate(t0 + seconds(60), {connected("cometa", t0 + seconds(1), t0 + seconds(2))}));
}

TEST_F(StalePathTest, RestartsBackOffDoublingToTheMaximumAndResetAfterAQuietMaximum) {
  StalePathParams params;
  params.silence = seconds(20);
  params.backoff_min = seconds(60);
  params.backoff_max = seconds(240);
  StalePathWatch watch(params);
  TimePoint now = t0;
  // A peer that goes stale again after every restart: answers once 1 s after each host-up.
  auto staleAgain = [&](TimePoint start) {
    watch.setTincRunning(start);
    return std::vector<PathView>{connected("cometa", start + seconds(1), start + seconds(2))};
  };
  std::vector<std::int64_t> gaps;
  TimePoint last = now;
  for (int i = 0; i < 6; ++i) {
    TimePoint start = now;
    auto paths = staleAgain(start);
    // Step a second at a time until the watch calls it.
    for (int s = 0; s < 1000; ++s) {
      now += seconds(1);
      if (watch.evaluate(now, paths)) break;
    }
    if (i > 0) gaps.push_back(std::chrono::duration_cast<seconds>(now - last).count());
    last = now;
    watch.setTincRunning(std::nullopt);  // the restart
  }
  // The first verdict waits only for the silence; then 60, 120, 240, 240 s at least.
  ASSERT_EQ(gaps.size(), 5u);
  EXPECT_EQ(gaps[0], 60);
  EXPECT_EQ(gaps[1], 120);
  EXPECT_EQ(gaps[2], 240);
  EXPECT_EQ(gaps[3], 240);
  EXPECT_EQ(gaps[4], 240);

  // Quiet for backoff_max after the last back-off ran out: the next restart waits 60 s again.
  ASSERT_TRUE(watch.notBefore());
  now = *watch.notBefore() + seconds(240);
  auto paths = staleAgain(now);
  now += seconds(22);
  ASSERT_TRUE(watch.evaluate(now, paths));
  ASSERT_TRUE(watch.notBefore());
  EXPECT_EQ(std::chrono::duration_cast<seconds>(*watch.notBefore() - now).count(), 60);
}

// A server the node pulls from, not probed: silent from its first unanswered pull, not from its
// last answer (pulls are a whole poll_ms apart while they work); probes win where there
// are; a peer tinc has not up is never stale.
TEST_F(StalePathTest, AServerWhosePullsGoUnansweredIsAPathFromTheFirstUnansweredPull) {
  const std::map<std::string, std::optional<TimePoint>> probes = {{"cometa", t0 + seconds(20)},
                                                                  {"illimani", std::nullopt}};
  const std::map<std::string, TimePoint> unanswered = {
      {"chip", t0 + seconds(10)}, {"cometa", t0 + seconds(3)}, {"nevado", t0 + seconds(3)}};
  const std::map<std::string, TimePoint> up = {
      {"chip", t0 + seconds(2)}, {"cometa", t0 + seconds(2)}, {"illimani", t0 + seconds(2)}};
  const auto paths = pathViews(probes, unanswered, up);
  ASSERT_EQ(paths.size(), 4u);
  EXPECT_EQ(paths[0].peer, "chip");
  EXPECT_TRUE(paths[0].pulled);
  EXPECT_TRUE(paths[0].mesh_up);
  EXPECT_EQ(paths[0].mesh_up_since, t0 + seconds(2));
  EXPECT_EQ(paths[0].last_reply, t0 + seconds(10));
  EXPECT_EQ(paths[1].peer, "cometa");
  EXPECT_FALSE(paths[1].pulled) << "a probed peer is judged by its probes";
  EXPECT_EQ(paths[1].last_reply, t0 + seconds(20));
  EXPECT_EQ(paths[2].peer, "illimani");
  EXPECT_FALSE(paths[2].last_reply);
  EXPECT_EQ(paths[3].peer, "nevado");
  EXPECT_FALSE(paths[3].mesh_up) << "tinc does not have nevado up";

  // The watch, on chip alone: the silence counts from t0 + 10 s, not from chip's host-up.
  const std::map<std::string, TimePoint> chip_unanswered = {{"chip", t0 + seconds(10)}};
  StalePathWatch watch;
  watch.setTincRunning(t0);
  EXPECT_FALSE(watch.evaluate(t0 + seconds(34), pathViews({}, chip_unanswered, up)))
      << "chip's pulls are unanswered for 24 s only";
  auto verdict = watch.evaluate(t0 + seconds(35), pathViews({}, chip_unanswered, up));
  ASSERT_TRUE(verdict);
  EXPECT_EQ(verdict->peer, "chip");
  EXPECT_EQ(verdict->silent_for, seconds(25));
  EXPECT_NE(verdict->reason.find("answered nothing to our network-document pulls for 25.0 s"),
            std::string::npos)
      << verdict->reason;

  // After the restart chip is up again and its pulls still go unanswered (the same run): no
  // second restart. A pull it answers ends the run; a new silent run may restart again.
  watch.setTincRunning(t0 + seconds(36));
  auto again = up;
  again["chip"] = t0 + seconds(37);
  EXPECT_FALSE(watch.evaluate(t0 + seconds(200), pathViews({}, chip_unanswered, again)));
  const std::map<std::string, TimePoint> new_run = {{"chip", t0 + seconds(150)}};
  EXPECT_TRUE(watch.evaluate(t0 + seconds(176), pathViews({}, new_run, again)));
}

}  // namespace
}  // namespace meshbroker::supervisor
