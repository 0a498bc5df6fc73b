// RealProcessLauncher against real /bin/sh children: lines, exit reasons, fds, process groups.
#include "backends/process.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace meshbroker::backends {
namespace {

struct Result {
  std::vector<std::string> lines;
  std::optional<ExitStatus> exit;
};

class ProcessTest : public ::testing::Test {
 protected:
  std::unique_ptr<ChildProcess> run(const std::string& script) {
    return launcher_.spawn(
        {"/bin/sh", {"-c", script}, {}},
        [this](std::string_view line) { result_.lines.emplace_back(line); },
        [this](const ExitStatus& status) { result_.exit = status; });
  }
  // Runs the loop until the child has exited and its output is drained (bounded).
  void waitForExit() {
    for (int i = 0; i < 500 && !result_.exit; ++i) io_.run_for(std::chrono::milliseconds(10));
    io_.run_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(result_.exit) << "child did not exit";
  }

  asio::io_context io_;
  RealProcessLauncher launcher_{io_};
  Result result_;
};

TEST_F(ProcessTest, LinesFromStdoutAndStderrAndExitCode) {
  auto child = run("echo out; echo err >&2; printf 'no newline'; exit 3");
  waitForExit();
  EXPECT_EQ(result_.exit->code, 3);
  EXPECT_EQ(result_.exit->reason, "exited with status 3");
  std::sort(result_.lines.begin(), result_.lines.end());
  EXPECT_EQ(result_.lines, (std::vector<std::string>{"err", "no newline", "out"}));
}

TEST_F(ProcessTest, KilledBySignal) {
  auto child = run("kill -9 $$");
  waitForExit();
  EXPECT_EQ(result_.exit->signal, 9);
  EXPECT_EQ(result_.exit->reason.rfind("killed by signal 9", 0), 0u) << result_.exit->reason;
}

// Alive and not a zombie (a reparented zombie may linger where PID 1 does not reap).
bool running(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] != 'Z';
}

TEST_F(ProcessTest, ChildGetsOnlyStdioDescriptors) {
  int leaked = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(leaked, 0);
  auto child = run("exec sleep 30");
  io_.run_for(std::chrono::milliseconds(100));
  std::vector<std::string> fds;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(child->pid()) + "/fd")) {
    fds.push_back(entry.path().filename().string());
  }
  std::sort(fds.begin(), fds.end());
  ::close(leaked);
  child->signal(SIGKILL);
  waitForExit();
  EXPECT_EQ(fds, (std::vector<std::string>{"0", "1", "2"}));
}

TEST_F(ProcessTest, OwnProcessGroupAndSignalReachesGrandchildren) {
  auto child = run("sleep 30 & echo $!; wait");
  for (int i = 0; i < 200 && result_.lines.empty(); ++i) io_.run_for(std::chrono::milliseconds(10));
  ASSERT_EQ(result_.lines.size(), 1u);
  pid_t grandchild = std::stoi(result_.lines[0]);
  EXPECT_EQ(::getpgid(child->pid()), child->pid());
  EXPECT_EQ(::getpgid(grandchild), child->pid());
  child->signal(SIGTERM);
  waitForExit();
  for (int i = 0; i < 100 && running(grandchild); ++i) ::usleep(10000);
  EXPECT_FALSE(running(grandchild)) << "the grandchild outlived the group's SIGTERM";
}

TEST_F(ProcessTest, OtherSignalsSpareTheGroup) {
  // tincd's hook scripts run in its group; a SIGALRM or SIGHUP for tincd must not kill them.
  auto child = run("trap 'echo got-alarm' ALRM; sleep 30 & echo $!; while :; do wait; done");
  for (int i = 0; i < 200 && result_.lines.empty(); ++i) io_.run_for(std::chrono::milliseconds(10));
  ASSERT_EQ(result_.lines.size(), 1u);
  pid_t grandchild = std::stoi(result_.lines[0]);
  child->signal(SIGALRM);
  for (int i = 0; i < 200 && result_.lines.size() < 2; ++i)
    io_.run_for(std::chrono::milliseconds(10));
  ASSERT_EQ(result_.lines.size(), 2u);
  EXPECT_EQ(result_.lines[1], "got-alarm");
  EXPECT_TRUE(running(grandchild)) << "SIGALRM reached the grandchild";
  child->signal(SIGKILL);
  waitForExit();
  for (int i = 0; i < 100 && running(grandchild); ++i) ::usleep(10000);
  EXPECT_FALSE(running(grandchild));
}

TEST_F(ProcessTest, MissingExecutableIsReportedNotThrown) {
  auto child = launcher_.spawn({"/nonexistent/tincd", {}, {}}, nullptr,
                               [this](const ExitStatus& status) { result_.exit = status; });
  waitForExit();
  EXPECT_FALSE(result_.exit->spawned);
  EXPECT_NE(result_.exit->reason.find("cannot start /nonexistent/tincd"), std::string::npos);
  child->signal(SIGTERM);  // harmless on a child that never was
}

TEST_F(ProcessTest, RunawayLineIsCut) {
  auto child = run("head -c 20000 /dev/zero | tr '\\0' x");
  waitForExit();
  ASSERT_GE(result_.lines.size(), 4u);
  for (const auto& line : result_.lines) EXPECT_LE(line.size(), 8192u);
}

TEST_F(ProcessTest, ExtraEnvironment) {
  auto child = launcher_.spawn(
      {"/bin/sh", {"-c", "echo $MB_TEST"}, {{"MB_TEST", "hello"}}},
      [this](std::string_view line) { result_.lines.emplace_back(line); },
      [this](const ExitStatus& status) { result_.exit = status; });
  waitForExit();
  EXPECT_EQ(result_.lines, std::vector<std::string>{"hello"});
}

TEST(WaitStatus, Describes) {
  EXPECT_EQ(describeWaitStatus(0).reason, "exited with status 0");
  EXPECT_EQ(describeWaitStatus(256).code, 1);
}

}  // namespace
}  // namespace meshbroker::backends
