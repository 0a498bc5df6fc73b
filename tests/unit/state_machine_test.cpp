// One test per transition of the supervision state machine, with a hand-driven clock.
#include "supervisor/state_machine.hpp"

#include <gtest/gtest.h>

namespace meshbroker::supervisor {
namespace {

using std::chrono::milliseconds;

class MachineTest : public ::testing::Test {
 protected:
  Step on(EventKind kind, std::string reason = "") {
    auto result = step(machine_, {kind, std::move(reason)}, now_, policy_, timeouts_);
    machine_ = result.next;
    return result;
  }
  void advance(milliseconds by) { now_ += by; }
  void startAndReady() {
    on(EventKind::kStart);
    on(EventKind::kReady);
    ASSERT_EQ(machine_.state, State::kRunning);
  }

  RestartPolicy policy_{milliseconds(1000), milliseconds(60000), milliseconds(60000), 5};
  Timeouts timeouts_{milliseconds(30000), milliseconds(5000)};
  Machine machine_;
  TimePoint now_{};
};

const Action kSpawn{ActionKind::kSpawn};
const Action kTerm{ActionKind::kSendTerm};
const Action kKill{ActionKind::kSendKill};
const Action kHup{ActionKind::kSendHup};
const Action kCancel{ActionKind::kCancelTimer};
Action arm(int ms) { return {ActionKind::kArmTimer, milliseconds(ms)}; }

TEST_F(MachineTest, DownStartSpawnsAndArmsReadyTimer) {
  auto s = on(EventKind::kStart);
  EXPECT_EQ(machine_.state, State::kStarting);
  EXPECT_EQ(s.actions, (std::vector<Action>{kSpawn, arm(30000)}));
  EXPECT_EQ(machine_.restarts, 0);
}

TEST_F(MachineTest, DownIgnoresEverythingButStart) {
  for (auto kind : {EventKind::kReady, EventKind::kExited, EventKind::kTimeout, EventKind::kStop,
                    EventKind::kReload}) {
    auto s = on(kind);
    EXPECT_EQ(machine_.state, State::kDown);
    EXPECT_TRUE(s.actions.empty());
  }
}

TEST_F(MachineTest, StartingReadyRuns) {
  on(EventKind::kStart);
  auto s = on(EventKind::kReady);
  EXPECT_EQ(machine_.state, State::kRunning);
  EXPECT_EQ(s.actions, (std::vector<Action>{kCancel}));
}

TEST_F(MachineTest, SpawnedIsNotRunning) {
  on(EventKind::kStart);
  advance(milliseconds(29000));
  EXPECT_EQ(machine_.state, State::kStarting);  // only the backend's word makes it running
}

TEST_F(MachineTest, FirstCrashRestartsImmediately) {
  startAndReady();
  advance(milliseconds(500));
  auto s = on(EventKind::kExited, "killed by signal 9");
  EXPECT_EQ(machine_.state, State::kStarting);
  EXPECT_EQ(s.actions, (std::vector<Action>{kSpawn, arm(30000)}));
  EXPECT_EQ(machine_.restarts, 1);
  EXPECT_EQ(machine_.crashes, 1);
  EXPECT_EQ(machine_.last_exit, "killed by signal 9");
}

TEST_F(MachineTest, CrashLoopBacksOffExponentiallyThenFails) {
  on(EventKind::kStart);
  std::vector<int> delays;
  for (int i = 0; i < 10 && machine_.state != State::kFailed; ++i) {
    auto s = on(EventKind::kExited, "exited with status 1");
    if (machine_.state == State::kBackoff) {
      ASSERT_EQ(s.actions.size(), 1u);
      delays.push_back(static_cast<int>(s.actions[0].delay.count()));
      advance(s.actions[0].delay);
      on(EventKind::kTimeout);  // backoff over: spawn
      ASSERT_EQ(machine_.state, State::kStarting);
    } else if (machine_.state == State::kStarting) {
      delays.push_back(0);
    }
  }
  EXPECT_EQ(delays, (std::vector<int>{0, 1000, 2000, 4000}));
  EXPECT_EQ(machine_.state, State::kFailed);
  EXPECT_NE(machine_.failure.find("gave up after 5 crashes in a row"), std::string::npos);
}

TEST_F(MachineTest, HealthyUptimeForgivesEarlierCrashes) {
  on(EventKind::kStart);
  on(EventKind::kExited);  // crash 1, immediate
  on(EventKind::kExited);  // crash 2, backoff
  ASSERT_EQ(machine_.state, State::kBackoff);
  on(EventKind::kTimeout);
  on(EventKind::kReady);
  advance(milliseconds(61000));
  auto s = on(EventKind::kExited);
  EXPECT_EQ(machine_.crashes, 1);
  EXPECT_EQ(machine_.state, State::kStarting);  // immediate again
}

TEST_F(MachineTest, StartingReadyTimeoutStopsAndCountsACrash) {
  on(EventKind::kStart);
  auto s = on(EventKind::kTimeout);
  EXPECT_EQ(machine_.state, State::kStopping);
  EXPECT_EQ(s.actions, (std::vector<Action>{kTerm, arm(5000)}));
  s = on(EventKind::kExited, "exited with status 0");
  EXPECT_EQ(machine_.crashes, 1);
  EXPECT_EQ(machine_.state, State::kStarting);
  EXPECT_NE(machine_.last_exit.find("not ready in time"), std::string::npos);
}

TEST_F(MachineTest, StartingStop) {
  on(EventKind::kStart);
  auto s = on(EventKind::kStop);
  EXPECT_EQ(machine_.state, State::kStopping);
  EXPECT_EQ(s.actions, (std::vector<Action>{kTerm, arm(5000)}));
}

TEST_F(MachineTest, StartingReloadWaits) {
  on(EventKind::kStart);
  EXPECT_TRUE(on(EventKind::kReload).actions.empty());
  EXPECT_EQ(machine_.state, State::kStarting);
}

TEST_F(MachineTest, RunningReloadSendsHup) {
  startAndReady();
  auto s = on(EventKind::kReload);
  EXPECT_EQ(machine_.state, State::kRunning);
  EXPECT_EQ(s.actions, (std::vector<Action>{kHup}));
}

TEST_F(MachineTest, RunningStopThenExitIsDown) {
  startAndReady();
  on(EventKind::kStop);
  auto s = on(EventKind::kExited, "exited with status 0");
  EXPECT_EQ(machine_.state, State::kDown);
  EXPECT_EQ(s.actions, (std::vector<Action>{kCancel}));
  EXPECT_EQ(machine_.crashes, 0);  // asked to stop: not a crash
}

TEST_F(MachineTest, StoppingTimeoutEscalatesToKill) {
  startAndReady();
  on(EventKind::kStop);
  auto s = on(EventKind::kTimeout);
  EXPECT_EQ(machine_.state, State::kStopping);
  EXPECT_EQ(s.actions, (std::vector<Action>{kKill, arm(5000)}));
}

TEST_F(MachineTest, RestartStopsThenSpawnsWithoutCountingACrash) {
  startAndReady();
  on(EventKind::kRestart);
  EXPECT_EQ(machine_.state, State::kStopping);
  auto s = on(EventKind::kExited, "exited with status 0");
  EXPECT_EQ(machine_.state, State::kStarting);
  EXPECT_EQ(s.actions, (std::vector<Action>{kSpawn, arm(30000)}));
  EXPECT_EQ(machine_.crashes, 0);
  EXPECT_EQ(machine_.restarts, 1);
}

TEST_F(MachineTest, StopDuringRestartCancelsTheRestart) {
  startAndReady();
  on(EventKind::kRestart);
  on(EventKind::kStop);
  on(EventKind::kExited);
  EXPECT_EQ(machine_.state, State::kDown);
}

TEST_F(MachineTest, StartWhileStoppingRestartsAfterwards) {
  startAndReady();
  on(EventKind::kStop);
  on(EventKind::kStart);
  on(EventKind::kExited);
  EXPECT_EQ(machine_.state, State::kStarting);
}

TEST_F(MachineTest, BackoffStopIsDown) {
  on(EventKind::kStart);
  on(EventKind::kExited);
  on(EventKind::kExited);
  ASSERT_EQ(machine_.state, State::kBackoff);
  auto s = on(EventKind::kStop);
  EXPECT_EQ(machine_.state, State::kDown);
  EXPECT_EQ(s.actions, (std::vector<Action>{kCancel}));
}

TEST_F(MachineTest, BackoffStartSkipsTheWait) {
  on(EventKind::kStart);
  on(EventKind::kExited);
  on(EventKind::kExited);
  ASSERT_EQ(machine_.state, State::kBackoff);
  auto s = on(EventKind::kStart);
  EXPECT_EQ(machine_.state, State::kStarting);
  EXPECT_EQ(s.actions.front(), kSpawn);
}

TEST_F(MachineTest, BackoffIgnoresStaleExitAndReady) {
  on(EventKind::kStart);
  on(EventKind::kExited);
  on(EventKind::kExited);
  ASSERT_EQ(machine_.state, State::kBackoff);
  EXPECT_TRUE(on(EventKind::kExited).actions.empty());
  EXPECT_TRUE(on(EventKind::kReady).actions.empty());
  EXPECT_EQ(machine_.state, State::kBackoff);
}

TEST_F(MachineTest, FailedStaysFailedUntilStartedByHand) {
  policy_.max_crashes = 1;
  on(EventKind::kStart);
  on(EventKind::kExited, "exited with status 1");
  ASSERT_EQ(machine_.state, State::kFailed);
  EXPECT_TRUE(on(EventKind::kTimeout).actions.empty());
  EXPECT_TRUE(on(EventKind::kExited).actions.empty());
  EXPECT_EQ(machine_.state, State::kFailed);
  auto s = on(EventKind::kStart);
  EXPECT_EQ(machine_.state, State::kStarting);
  EXPECT_EQ(machine_.crashes, 0);
  EXPECT_TRUE(machine_.failure.empty());
  EXPECT_EQ(s.actions.front(), kSpawn);
}

TEST_F(MachineTest, FailedStopIsDown) {
  policy_.max_crashes = 1;
  on(EventKind::kStart);
  on(EventKind::kExited);
  on(EventKind::kStop);
  EXPECT_EQ(machine_.state, State::kDown);
}

TEST_F(MachineTest, DownAdoptedReadyRunsWithoutSpawning) {
  advance(milliseconds(500));
  auto s = step(machine_, {EventKind::kAdopted, "pid 42", true}, now_, policy_, timeouts_);
  machine_ = s.next;
  EXPECT_EQ(machine_.state, State::kRunning);
  EXPECT_TRUE(s.actions.empty());  // no spawn, no timer
  EXPECT_EQ(machine_.restarts, 0);
  EXPECT_EQ(machine_.crashes, 0);
  EXPECT_EQ(machine_.started_at, now_);
}

TEST_F(MachineTest, DownAdoptedNotYetReadyWaitsForReadyWithoutSpawning) {
  auto s = step(machine_, {EventKind::kAdopted, "pid 42", false}, now_, policy_, timeouts_);
  machine_ = s.next;
  EXPECT_EQ(machine_.state, State::kStarting);
  EXPECT_EQ(s.actions, (std::vector<Action>{arm(30000)}));
  s = on(EventKind::kReady);
  EXPECT_EQ(machine_.state, State::kRunning);
  EXPECT_EQ(machine_.restarts, 0);
}

TEST_F(MachineTest, AdoptedThenCrashedIsSpawnedAgain) {
  machine_ = step(machine_, {EventKind::kAdopted, "", true}, now_, policy_, timeouts_).next;
  auto s = on(EventKind::kExited, "exited (adopted; exit status unknown)");
  EXPECT_EQ(machine_.state, State::kStarting);
  EXPECT_EQ(s.actions.front(), kSpawn);
  EXPECT_EQ(machine_.restarts, 1);
  EXPECT_EQ(machine_.last_exit, "exited (adopted; exit status unknown)");
}

TEST_F(MachineTest, AdoptedRunningTakesReloadAndRestartLikeAnyOther) {
  machine_ = step(machine_, {EventKind::kAdopted, "", true}, now_, policy_, timeouts_).next;
  EXPECT_EQ(on(EventKind::kReload).actions, std::vector<Action>{kHup});
  auto s = on(EventKind::kRestart);
  EXPECT_EQ(machine_.state, State::kStopping);
  EXPECT_EQ(s.actions, (std::vector<Action>{kTerm, arm(5000)}));
}

TEST_F(MachineTest, AdoptedIsIgnoredUnlessDown) {
  on(EventKind::kStart);  // starting
  for (int round = 0; round < 2; ++round) {
    auto before = machine_;
    auto s = step(machine_, {EventKind::kAdopted, "", true}, now_, policy_, timeouts_);
    EXPECT_TRUE(s.actions.empty());
    EXPECT_EQ(s.next.state, before.state);
    on(EventKind::kReady);  // then running
  }
  on(EventKind::kStop);  // stopping
  EXPECT_TRUE(
      step(machine_, {EventKind::kAdopted, "", true}, now_, policy_, timeouts_).actions.empty());
  on(EventKind::kExited);  // down
  on(EventKind::kStart);
  on(EventKind::kExited);
  on(EventKind::kExited);  // backoff
  ASSERT_EQ(machine_.state, State::kBackoff);
  auto s = step(machine_, {EventKind::kAdopted, "", true}, now_, policy_, timeouts_);
  EXPECT_TRUE(s.actions.empty());
  EXPECT_EQ(s.next.state, State::kBackoff);
  policy_.max_crashes = 1;
  on(EventKind::kTimeout);
  on(EventKind::kExited);  // failed
  ASSERT_EQ(machine_.state, State::kFailed);
  s = step(machine_, {EventKind::kAdopted, "", true}, now_, policy_, timeouts_);
  EXPECT_TRUE(s.actions.empty());
  EXPECT_EQ(s.next.state, State::kFailed);
}

TEST_F(MachineTest, MaxCrashesZeroNeverGivesUp) {
  policy_.max_crashes = 0;
  on(EventKind::kStart);
  for (int i = 0; i < 100; ++i) {
    on(EventKind::kExited);
    if (machine_.state == State::kBackoff) on(EventKind::kTimeout);
  }
  EXPECT_NE(machine_.state, State::kFailed);
}

TEST(RestartPolicy, DelaysDoubleAndCap) {
  RestartPolicy policy{milliseconds(1000), milliseconds(60000), milliseconds(60000), 0};
  std::vector<long> delays;
  for (int crash = 1; crash <= 10; ++crash)
    delays.push_back(decideRestart(policy, crash).delay.count());
  EXPECT_EQ(delays,
            (std::vector<long>{0, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000}));
}

TEST(RestartPolicy, GivesUpAtTheLimit) {
  RestartPolicy policy{milliseconds(1000), milliseconds(60000), milliseconds(60000), 3};
  EXPECT_FALSE(decideRestart(policy, 2).give_up);
  EXPECT_TRUE(decideRestart(policy, 3).give_up);
}

TEST(RestartPolicy, UptimeResetsTheSeries) {
  RestartPolicy policy;
  EXPECT_EQ(crashesAfterExit(policy, 4, milliseconds(59999)), 5);
  EXPECT_EQ(crashesAfterExit(policy, 4, milliseconds(60000)), 1);
}

}  // namespace
}  // namespace meshbroker::supervisor
