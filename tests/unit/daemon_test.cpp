// The Daemon with a fake process launcher: start-up, readiness from tinc-up, crash handling,
// sd_notify, reload and shutdown, all without root or real children.
#include "supervisor/daemon.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "config/loader.hpp"
#include "supervisor/first_dial.hpp"
#include "unit/test_clock_loop.hpp"
#include "unit/test_support.hpp"
#include "web/api.hpp"

namespace meshbroker::supervisor {
namespace {

namespace fs = std::filesystem;
using model::BackendSnapshot;
using model::Snapshot;

class FakeChild : public backends::ChildProcess {
 public:
  explicit FakeChild(pid_t pid) : pid_(pid) {}
  pid_t pid() const override { return pid_; }
  void signal(int sig) override {
    if (sig == SIGALRM) {
      ++alarms;  // "dial your peers now" nudges, counted apart
    } else {
      signals.push_back(sig);
    }
  }
  std::vector<int> signals;
  int alarms = 0;

 private:
  pid_t pid_;
};

class FakeLauncher : public backends::ProcessLauncher {
 public:
  struct Spawned {
    backends::SpawnSpec spec;
    backends::LineHandler on_line;
    backends::ExitHandler on_exit;
    FakeChild* child;
  };
  std::unique_ptr<backends::ChildProcess> spawn(const backends::SpawnSpec& spec,
                                                backends::LineHandler on_line,
                                                backends::ExitHandler on_exit) override {
    auto child = std::make_unique<FakeChild>(next_pid_++);
    spawned.push_back({spec, std::move(on_line), std::move(on_exit), child.get()});
    return child;
  }
  // Adopts the process in `left_running` (pid file path -> pid), as the real one would a
  // survivor of a killed meshbroker; otherwise says why not.
  std::unique_ptr<backends::ChildProcess> adopt(const backends::SpawnSpec& spec,
                                                backends::LineHandler on_line,
                                                backends::ExitHandler on_exit,
                                                std::string* why_not) override {
    auto it = left_running.find(spec.pid_file);
    if (it == left_running.end()) {
      *why_not = refusal;
      return nullptr;
    }
    auto child = std::make_unique<FakeChild>(it->second);
    adopted.push_back({spec, std::move(on_line), std::move(on_exit), child.get()});
    left_running.erase(it);
    return child;
  }
  std::vector<Spawned> spawned;
  std::vector<Spawned> adopted;
  std::map<fs::path, pid_t> left_running;
  std::string refusal;

 private:
  pid_t next_pid_ = 1000;
};

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mb-daemon-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    notify_path_ = (dir_ / "notify.sock").string();
    notify_fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, notify_path_.c_str(), sizeof address.sun_path - 1);
    ASSERT_EQ(::bind(notify_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ::setenv("NOTIFY_SOCKET", notify_path_.c_str(), 1);
    writeConfig("");
  }
  void TearDown() override {
    ::unsetenv("NOTIFY_SOCKET");
    ::close(notify_fd_);
    daemon_.reset();
    fs::remove_all(dir_);
  }
  void writeConfig(const std::string& cipher, const std::string& tinc_user = "root") {
    auto config = nlohmann::json::parse(meshbroker::testing::exampleText("cometa"));
    config["paths"] = {{"state_dir", (dir_ / "state").string()},
                       {"runtime_dir", (dir_ / "run").string()}};
    // Root unless a test says otherwise: these tests must not depend on this machine's users.
    config["supervisor"] = {{"tincd", "/usr/sbin/tincd"},
                            {"restart_base_ms", 1000},
                            {"tinc_user", tinc_user},
                            {"openvpn_user", "root"}};
    if (!cipher.empty()) config["tinc"]["cipher"] = cipher;
    std::ofstream(dir_ / "cometa.json") << config.dump(2);
  }
  void start() {
    auto loaded = config::loadConfigFile(dir_ / "cometa.json");
    ASSERT_TRUE(loaded.config);
    daemon_ = std::make_unique<Daemon>(io_, launcher_, DaemonOptions{dir_ / "cometa.json", binary_},
                                       std::move(*loaded.config));
    if (keeper_) daemon_->setNeighbourKeeper(keeper_);
    daemon_->start();
    run();
  }
  Daemon::NeighbourKeeper keeper_;
  fs::path binary_ = "/usr/bin/meshbroker";
  // 100 ms of the daemon's time pass (in 10 ms steps): what they make due happens.
  void run() { loop_.pass(std::chrono::milliseconds(100)); }
  // The daemon's clock moves `by`; every timer due on the way fires. Nothing sleeps.
  void pass(Clock::duration by, Clock::duration step = std::chrono::milliseconds(10)) {
    loop_.pass(by, step);
  }
  // A meshbroker that renders and starts tincd, then is killed: no shutdown, its tincd runs on.
  void startAndKillAPreviousMeshbroker() {
    auto loaded = config::loadConfigFile(dir_ / "cometa.json");
    ASSERT_TRUE(loaded.config);
    asio::io_context io;
    {
      Daemon previous(io, launcher_, DaemonOptions{dir_ / "cometa.json", "/usr/bin/meshbroker"},
                      std::move(*loaded.config));
      previous.start();
      io.run_for(std::chrono::milliseconds(20));
      ASSERT_EQ(launcher_.spawned.size(), 1u);
      // It ran long enough for tinc-up and a first peer: tincd dials every server now.
      for (const char* event :
           {R"({"event":"tinc-up"})",
            R"({"event":"host-up","node":"chip","remoteaddress":"192.0.2.11"})"}) {
        sendDatagram(event);
        io.run_for(std::chrono::milliseconds(20));
      }
      // The handle dies with this daemon; the process it names runs on.
      launcher_.left_running[launcher_.spawned[0].spec.pid_file] =
          launcher_.spawned[0].child->pid();
    }
    launcher_.spawned.clear();
  }
  std::vector<std::string> notifications() {
    std::vector<std::string> out;
    char buffer[4096];
    ssize_t n;
    while ((n = ::recv(notify_fd_, buffer, sizeof buffer, 0)) > 0) {
      out.emplace_back(buffer, static_cast<std::size_t>(n));
    }
    return out;
  }
  void sendTincEvent(const std::string& json) {
    sendDatagram(json);
    run();
  }
  void sendDatagram(const std::string& json) {
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    auto path = (dir_ / "run" / "tinc-events.sock").string();
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    ::sendto(fd, json.data(), json.size(), 0, reinterpret_cast<sockaddr*>(&address),
             sizeof address);
    ::close(fd);
  }
  const BackendSnapshot& tinc() {
    for (const auto& b : daemon_->snapshot().backends) {
      if (b.id == "tinc") return b;
    }
    throw std::runtime_error("no tinc backend");
  }

  meshbroker::testing::ClockedLoop loop_{io_};  // before io_: it outlives the loop's timers
  fs::path dir_;
  std::string notify_path_;
  int notify_fd_ = -1;
  asio::io_context io_;
  FakeLauncher launcher_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(DaemonTest, StartsTincdFromTheRenderedFilesAndSaysReady) {
  start();
  ASSERT_EQ(launcher_.spawned.size(), 1u);
  const auto& spec = launcher_.spawned[0].spec;
  EXPECT_EQ(spec.executable, "/usr/sbin/tincd");
  EXPECT_EQ(spec.args.at(0), "-c");
  EXPECT_EQ(spec.args.at(1), (dir_ / "state/rendered/tinc").string());
  EXPECT_TRUE(fs::exists(dir_ / "state/rendered/tinc/tinc.conf"));
  EXPECT_EQ(tinc().state, "starting");  // spawned is not running
  bool ready = false;
  for (const auto& n : notifications()) ready = ready || n.find("READY=1") != std::string::npos;
  EXPECT_TRUE(ready);
}

// Issue 18, finding 5: tincd drops root to its user (nobody plays it here), whose group may
// enter the runtime folder (not list it) and send on the event socket, and its hooks run a
// binary that user can run.
TEST_F(DaemonTest, TincdDropsToItsUserWhoseHooksReachTheEventSocket) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a folder to another group";
  auto nobody = backends::findSystemUser("nobody");
  ASSERT_TRUE(nobody);
  writeConfig("", "nobody");
  fs::permissions(dir_, fs::perms(0711));
  binary_ = "/bin/true";  // stands in for meshbroker: nobody may run it
  start();
  ASSERT_EQ(launcher_.spawned.size(), 1u);
  const auto& args = launcher_.spawned[0].spec.args;
  EXPECT_NE(std::find(args.begin(), args.end(), "--user=nobody"), args.end());
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0710u);
  EXPECT_EQ(st.st_gid, nobody->gid);
  ASSERT_EQ(::stat((dir_ / "run/tinc-events.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_EQ(st.st_gid, nobody->gid);
  auto host_up = meshbroker::testing::readText(dir_ / "state/rendered/tinc/host-up");
  EXPECT_NE(host_up.find("'/bin/true' notify"), std::string::npos) << host_up;
  EXPECT_FALSE(fs::exists(dir_ / "run/bin"));
}

// A binary the tinc user cannot run (a build under /root) is copied where it can.
TEST_F(DaemonTest, AHookBinaryTheTincUserCannotReachIsCopied) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a folder to another group";
  writeConfig("", "nobody");
  fs::permissions(dir_, fs::perms(0711));
  fs::create_directories(dir_ / "closed");
  fs::copy_file("/bin/true", dir_ / "closed/meshbroker");
  fs::permissions(dir_ / "closed", fs::perms(0700));
  binary_ = dir_ / "closed/meshbroker";
  start();
  const auto copy = dir_ / "run/bin/meshbroker";
  ASSERT_TRUE(fs::exists(copy));
  EXPECT_EQ(fs::status(copy).permissions(), fs::perms(0755));
  EXPECT_EQ(fs::file_size(copy), fs::file_size("/bin/true"));
  auto host_up = meshbroker::testing::readText(dir_ / "state/rendered/tinc/host-up");
  EXPECT_NE(host_up.find("'" + copy.string() + "' notify"), std::string::npos) << host_up;
}

// A tinc user that does not exist stops the start with the line that makes it.
TEST_F(DaemonTest, AMissingTincUserIsAClearError) {
  writeConfig("", "mb-no-such-user");
  auto loaded = config::loadConfigFile(dir_ / "cometa.json");
  ASSERT_TRUE(loaded.config);
  Daemon daemon(io_, launcher_, DaemonOptions{dir_ / "cometa.json", binary_},
                std::move(*loaded.config));
  try {
    daemon.start();
    FAIL() << "started without its tinc user";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("supervisor.tinc_user: there is no system user "
                                         "\"mb-no-such-user\""),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("useradd --system"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(launcher_.spawned.empty());
}

TEST_F(DaemonTest, TincUpMakesItRunningAndHostEventsFillTheMesh) {
  start();
  sendTincEvent(R"({"event":"tinc-up"})");
  EXPECT_EQ(tinc().state, "running");
  // Its ConnectTo peers are not up yet: tincd is told to dial them now, not in 5 s.
  EXPECT_GE(launcher_.spawned[0].child->alarms, 1);
  sendTincEvent(R"({"event":"host-up","node":"chip","remoteaddress":"192.0.2.11"})");
  auto mesh = daemon_->snapshot().mesh;
  ASSERT_TRUE(mesh.contains("chip"));
  EXPECT_TRUE(mesh["chip"].up);
  EXPECT_EQ(mesh["chip"].remote_address, "192.0.2.11");
  run();  // status.json is written 50 ms after a change
  auto status = nlohmann::json::parse(meshbroker::testing::readText(dir_ / "run/status.json"));
  ASSERT_TRUE(status["mesh"].is_array()) << status.dump();
  ASSERT_EQ(status["mesh"].size(), 1u);
  EXPECT_EQ(status["mesh"][0]["name"], "chip");
  EXPECT_EQ(status["mesh"][0]["up"], true);
  EXPECT_EQ(status["mesh"][0]["remote_address"], "192.0.2.11");
  // One document: status.json, the control socket's status and /api/v1/status with the token
  // differ only in when they were taken.
  nlohmann::json reply;
  daemon_->control({{"command", "status"}}, "test",
                   [&reply](const nlohmann::json& r) { reply = r; });
  const auto untimed = [](nlohmann::json document) {
    document.erase("generation");
    document.erase("updated_ms");
    document["daemon"].erase("updated_ms");
    return document;
  };
  EXPECT_EQ(status["access"], "full");
  EXPECT_EQ(untimed(reply["status"]), untimed(status));
  EXPECT_EQ(reply["api"], reply["status"]);
  EXPECT_EQ(untimed(reply["status"]),
            untimed(web::document(daemon_->snapshot(), {""}, web::Document::kStatus,
                                  web::Access::kFull)));
  // It names users and peers' addresses: owner and group only, in a folder the daemon made so.
  EXPECT_EQ(fs::status(dir_ / "run/status.json").permissions(), static_cast<fs::perms>(0640));
  EXPECT_EQ(fs::status(dir_ / "run").permissions(), static_cast<fs::perms>(0750));
}

TEST_F(DaemonTest, ACrashIsRestartedAtOnceAndOutputIsKept) {
  start();
  launcher_.spawned[0].on_line("Ready");
  launcher_.spawned[0].on_exit({true, -1, 9, "killed by signal 9 (Killed)"});
  run();
  ASSERT_EQ(launcher_.spawned.size(), 2u);
  EXPECT_EQ(tinc().restarts, 1);
  EXPECT_EQ(tinc().last_exit, "killed by signal 9 (Killed)");
  EXPECT_EQ(tinc().log_tail, std::vector<std::string>{"Ready"});
  // A stale exit report of the first process changes nothing.
  launcher_.spawned[0].on_exit({true, 0, 0, "exited with status 0"});
  run();
  EXPECT_EQ(launcher_.spawned.size(), 2u);
}

// On the test clock: the back-off the restart policy promises (immediate, then 1 s doubling to
// 60 s), and the tenth crash in a row marks the backend failed; minutes of it take no time.
TEST_F(DaemonTest, CrashesInARowWaitLongerEachTimeThenTheBackendFails) {
  using std::chrono::milliseconds;
  start();
  for (int crash = 1; crash <= 10; ++crash) {
    const std::size_t before = launcher_.spawned.size();
    ASSERT_EQ(before, static_cast<std::size_t>(crash));
    launcher_.spawned.back().on_exit({true, 1, 0, "exited with status 1"});
    if (crash == 10) break;
    const milliseconds delay =
        crash == 1 ? milliseconds(0)
                   : std::min(milliseconds(1000 << (crash - 2)), milliseconds(60000));
    if (delay > milliseconds(0)) {
      pass(delay - milliseconds(20), milliseconds(100));
      EXPECT_EQ(launcher_.spawned.size(), before) << "crash " << crash << " restarted early";
      EXPECT_EQ(tinc().state, "backoff");
    }
    pass(milliseconds(40));
    EXPECT_EQ(launcher_.spawned.size(), before + 1)
        << "crash " << crash << " not restarted after " << delay.count() << " ms";
  }
  pass(milliseconds(100));
  EXPECT_EQ(tinc().state, "failed");
  EXPECT_EQ(tinc().crashes_in_a_row, 10);
  pass(std::chrono::minutes(10), std::chrono::seconds(1));
  EXPECT_EQ(launcher_.spawned.size(), 10u) << "a failed backend is not restarted by time";
}

TEST_F(DaemonTest, HealthyUptimeForgivesEarlierCrashes) {
  start();
  launcher_.spawned.back().on_exit({true, 1, 0, "exited with status 1"});
  run();
  launcher_.spawned.back().on_exit({true, 1, 0, "exited with status 1"});
  pass(std::chrono::milliseconds(1100));
  ASSERT_EQ(launcher_.spawned.size(), 3u);
  sendTincEvent(R"({"event":"tinc-up"})");
  pass(std::chrono::seconds(61), std::chrono::seconds(1));  // healthy_after_ms is 60 s
  launcher_.spawned.back().on_exit({true, 1, 0, "exited with status 1"});
  run();
  EXPECT_EQ(launcher_.spawned.size(), 4u) << "after a healthy minute a crash is a first crash";
}

TEST_F(DaemonTest, ATincdThatNeverGetsReadyIsStoppedAfterTheReadyTimeout) {
  start();  // no tinc-up ever comes
  pass(std::chrono::milliseconds(29800), std::chrono::milliseconds(100));
  EXPECT_TRUE(launcher_.spawned[0].child->signals.empty());
  EXPECT_EQ(tinc().state, "starting");
  pass(std::chrono::milliseconds(300));  // ready_timeout_ms is 30 s
  EXPECT_EQ(launcher_.spawned[0].child->signals, std::vector<int>{SIGTERM});
  launcher_.spawned[0].on_exit({true, 0, 0, "exited with status 0"});
  run();
  EXPECT_EQ(launcher_.spawned.size(), 2u) << "stopped for not getting ready, then started again";
}

TEST_F(DaemonTest, ShutdownKillsABackendThatIgnoresSigterm) {
  start();
  sendTincEvent(R"({"event":"tinc-up"})");
  daemon_->shutdown();
  pass(std::chrono::milliseconds(4900), std::chrono::milliseconds(100));
  EXPECT_EQ(launcher_.spawned[0].child->signals, std::vector<int>{SIGTERM});
  EXPECT_FALSE(io_.stopped());
  pass(std::chrono::milliseconds(200));  // stop_timeout_ms is 5 s
  EXPECT_EQ(launcher_.spawned[0].child->signals, (std::vector<int>{SIGTERM, SIGKILL}));
  launcher_.spawned[0].on_exit({true, -1, 9, "killed by signal 9 (Killed)"});
  run();
  EXPECT_TRUE(io_.stopped());
}

TEST_F(DaemonTest, ReloadWithACipherChangeSignalsTinc) {
  start();
  sendTincEvent(R"({"event":"tinc-up"})");
  writeConfig("aes-128-cbc");  // host files change: tincd takes that with SIGHUP
  daemon_->reload();
  run();
  EXPECT_EQ(launcher_.spawned.size(), 1u);
  EXPECT_EQ(launcher_.spawned[0].child->signals, std::vector<int>{SIGHUP});
  EXPECT_TRUE(daemon_->snapshot().last_reload.ok);
}

// A host joining or leaving (here: leaving the file) changes tinc-up's neighbour lines, and on a
// gateway its routes back: tincd takes the host files with SIGHUP and is not restarted; the
// daemon sets the neighbours itself.
TEST_F(DaemonTest, AHostLeavingIsASignalAndTheDaemonKeepsTheNeighbours) {
  std::vector<std::vector<routing::Neighbour>> calls;
  keeper_ = [&calls](const std::string& device, const std::vector<routing::Neighbour>& desired) {
    EXPECT_EQ(device, "meshnet0");
    calls.push_back(desired);
    return routing::NeighbourPlan{};
  };
  start();
  sendTincEvent(R"({"event":"tinc-up"})");
  auto config = nlohmann::json::parse(meshbroker::testing::readText(dir_ / "cometa.json"));
  const std::size_t hosts = config["hosts"].size();
  std::string left;
  for (auto it = config["hosts"].begin(); it != config["hosts"].end(); ++it) {
    if ((*it)["role"] == "server") {
      left = (*it)["name"];
      config["hosts"].erase(it);
      break;
    }
  }
  ASSERT_FALSE(left.empty());
  auto& connect_to = config["tinc"]["connect_to"];
  for (auto it = connect_to.begin(); it != connect_to.end();)
    it = *it == left ? connect_to.erase(it) : it + 1;
  std::ofstream(dir_ / "cometa.json") << config.dump(2);
  daemon_->reload();
  run();
  ASSERT_TRUE(daemon_->snapshot().last_reload.ok) << daemon_->snapshot().last_reload.errors.size();
  EXPECT_EQ(launcher_.spawned.size(), 1u);  // no new tincd
  EXPECT_EQ(launcher_.spawned[0].child->signals, std::vector<int>{SIGHUP});
  ASSERT_EQ(calls.size(), 1u);
  // Every remaining host's IPv4 and IPv6 mesh address (the seed is dual stack).
  const auto v6 = std::count_if(calls[0].begin(), calls[0].end(),
                                [](const routing::Neighbour& n) { return n.address.isV6(); });
  EXPECT_EQ(calls[0].size() - v6, hosts - 1);
  EXPECT_EQ(static_cast<std::size_t>(v6), hosts - 1);
}

// tinc 1.0 mixes up packet keys when a node connects to two servers at once (first_dial.hpp):
// a gateway's tincd starts dialling its first ConnectTo only, and the rest once a peer is up.
TEST_F(DaemonTest, AGatewayDialsOneServerFirstAndTheRestOnceAPeerIsUp) {
  auto connect_to_lines = [this] {
    std::istringstream in(meshbroker::testing::readText(dir_ / "state/rendered/tinc/tinc.conf"));
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
      if (line.starts_with("ConnectTo")) lines.push_back(line);
    return lines;
  };
  start();
  EXPECT_EQ(connect_to_lines(), std::vector<std::string>{"ConnectTo = chip"});
  sendTincEvent(R"({"event":"tinc-up"})");
  EXPECT_TRUE(launcher_.spawned[0].child->signals.empty());
  sendTincEvent(R"({"event":"host-up","node":"chip","remoteaddress":"192.0.2.11"})");
  EXPECT_EQ(connect_to_lines(),
            (std::vector<std::string>{"ConnectTo = chip", "ConnectTo = comegato"}));
  EXPECT_EQ(launcher_.spawned[0].child->signals, std::vector<int>{SIGHUP});
  // Nothing changed since: a reload has nothing to do.
  daemon_->reload();
  run();
  EXPECT_EQ(launcher_.spawned[0].child->signals, std::vector<int>{SIGHUP});
}

TEST_F(DaemonTest, NoPeerUpWithinFiveSecondsDialsTheRestAnyway) {
  start();
  sendTincEvent(R"({"event":"tinc-up"})");
  pass(std::chrono::milliseconds(4500));  // 4.7 s since the spawn
  EXPECT_TRUE(launcher_.spawned[0].child->signals.empty());
  pass(std::chrono::milliseconds(500));
  EXPECT_EQ(launcher_.spawned[0].child->signals, std::vector<int>{SIGHUP});
  auto conf = meshbroker::testing::readText(dir_ / "state/rendered/tinc/tinc.conf");
  EXPECT_NE(conf.find("ConnectTo = comegato"), std::string::npos) << conf;
}

TEST(FirstDial, OnlyTheFirstConnectToAndTheRestUntouched) {
  const std::string conf = "Name = cometa\nConnectTo = chip\nMode = switch\nConnectTo = comegato\n";
  EXPECT_EQ(firstDialOnly(conf), "Name = cometa\nConnectTo = chip\nMode = switch\n");
  EXPECT_EQ(firstDial(conf), "chip");
  for (const auto& same : {std::string("Name = chip\nConnectTo = comegato\n"),
                           std::string("Name = chip\n"), std::string("Name = chip")}) {
    EXPECT_EQ(firstDialOnly(same), same);
  }
  EXPECT_EQ(firstDial("Name = chip\n"), "");
}

TEST_F(DaemonTest, InvalidReloadKeepsEverything) {
  start();
  std::ofstream(dir_ / "cometa.json") << "{ not json";
  daemon_->reload();
  run();
  EXPECT_FALSE(daemon_->snapshot().last_reload.ok);
  EXPECT_EQ(launcher_.spawned.size(), 1u);
  EXPECT_TRUE(launcher_.spawned[0].child->signals.empty());
}

TEST_F(DaemonTest, ShutdownStopsChildrenThenTheLoop) {
  start();
  sendTincEvent(R"({"event":"tinc-up"})");
  daemon_->shutdown();
  EXPECT_EQ(launcher_.spawned[0].child->signals, std::vector<int>{SIGTERM});
  launcher_.spawned[0].on_exit({true, 0, 0, "exited with status 0"});
  run();
  EXPECT_TRUE(io_.stopped());
  EXPECT_FALSE(fs::exists(dir_ / "run/status.json"));
  EXPECT_FALSE(fs::exists(dir_ / "run/control.sock"));
}

TEST_F(DaemonTest, BackendsSurviveMeshbrokerThroughPidAndLogFiles) {
  start();
  const auto& spec = launcher_.spawned.at(0).spec;
  EXPECT_TRUE(spec.survive_parent);
  EXPECT_EQ(spec.pid_file, dir_ / "run/backends/tinc.pid");
  EXPECT_EQ(spec.log_file, dir_ / "run/backends/tinc.log");
}

TEST_F(DaemonTest, AdoptsATincdLeftRunningInsteadOfSpawning) {
  startAndKillAPreviousMeshbroker();
  start();
  EXPECT_TRUE(launcher_.spawned.empty());
  ASSERT_EQ(launcher_.adopted.size(), 1u);
  EXPECT_EQ(tinc().state, "running");  // tinc-up ran long ago, for the previous meshbroker
  EXPECT_EQ(tinc().pid, 1000);
  EXPECT_TRUE(tinc().adopted);
  EXPECT_EQ(tinc().restarts, 0);
  EXPECT_TRUE(launcher_.adopted[0].child->signals.empty()) << "same files: nothing to reload";
  auto status = nlohmann::json::parse(meshbroker::testing::readText(dir_ / "run/status.json"));
  ASSERT_TRUE(status["backends"].is_array()) << status.dump();
  EXPECT_EQ(status["backends"][0]["adopted"], true);
  EXPECT_EQ(status["backends"][0]["pid"], 1000);

  // Its output still reaches the log, and its death is handled like any crash.
  launcher_.adopted[0].on_line("Ready");
  launcher_.adopted[0].on_exit({true, -1, 0, "exited (adopted; exit status unknown)"});
  run();
  ASSERT_EQ(launcher_.spawned.size(), 1u);
  EXPECT_EQ(tinc().restarts, 1);
  EXPECT_FALSE(tinc().adopted);
  EXPECT_EQ(tinc().last_exit, "exited (adopted; exit status unknown)");
  EXPECT_EQ(tinc().log_tail, std::vector<std::string>{"Ready"});
}

// After an adoption tincd's node list (SIGUSR2) says who is up; a node it never reached is
// shown down without a "down" event (nothing went down), a node that leaves later gets one.
TEST_F(DaemonTest, TheAdoptedTincdsNodeListFillsTheMeshWithoutNoise) {
  startAndKillAPreviousMeshbroker();
  start();
  ASSERT_EQ(launcher_.adopted.size(), 1u);
  const auto dump = [this](bool comegato_reachable) {
    auto& line = launcher_.adopted[0].on_line;
    line("Statistics for Linux tun/tap device (tap mode) /dev/net/tun:");
    line(" total bytes in:       52068");
    line(" total bytes out:     243817");
    line("Nodes:");
    line(
        " cometa at MYSELF cipher 0 digest 0 maclength 0 compression 0 options c status 0018 "
        "nexthop cometa via cometa pmtu 1518 (min 0 max 1518)");
    line(
        " chip at 192.0.2.11 port 655 cipher 427 digest 672 maclength 16 compression 10 "
        "options c status 001a nexthop chip via chip pmtu 1487 (min 1362 max 1487)");
    if (comegato_reachable) {
      line(
          " comegato at 192.0.2.12 port 655 cipher 427 digest 672 maclength 16 compression 10 "
          "options c status 001a nexthop comegato via comegato pmtu 1487 (min 1362 max 1487)");
    } else {
      line(
          " comegato at (null) cipher 0 digest 0 maclength 0 compression 0 options 0 status "
          "0020 nexthop - via - pmtu 1518 (min 0 max 1518)");
    }
    line("End of nodes.");
    run();
  };
  const auto mesh_events = [this] {
    std::vector<std::string> out;
    for (const auto& e : daemon_->snapshot().events) {
      if (e.source == "mesh") out.push_back(e.what);
    }
    return out;
  };
  dump(false);
  auto mesh = daemon_->snapshot().mesh;
  ASSERT_TRUE(mesh.contains("chip") && mesh.contains("comegato"));
  EXPECT_TRUE(mesh["chip"].up);
  EXPECT_FALSE(mesh["comegato"].up);
  EXPECT_EQ(mesh_events(),
            std::vector<std::string>{"chip up (192.0.2.11), from tincd's node list"});
  EXPECT_TRUE(tinc().log_tail.empty()) << "the node list is not tincd's log";
  dump(true);
  dump(false);
  EXPECT_EQ(mesh_events(),
            (std::vector<std::string>{"chip up (192.0.2.11), from tincd's node list",
                                      "comegato up (192.0.2.12), from tincd's node list",
                                      "comegato down, from tincd's node list"}));
}

TEST_F(DaemonTest, AdoptedTincdIsReloadedWhenItsFilesChangedMeanwhile) {
  startAndKillAPreviousMeshbroker();
  writeConfig("aes-128-cbc");  // host files change: tincd takes that with SIGHUP
  start();
  EXPECT_TRUE(launcher_.spawned.empty());
  ASSERT_EQ(launcher_.adopted.size(), 1u);
  EXPECT_EQ(launcher_.adopted[0].child->signals, std::vector<int>{SIGHUP});
  EXPECT_EQ(tinc().state, "running");
}

TEST_F(DaemonTest, AdoptedTincdIsRestartedWhenTincConfChangedMeanwhile) {
  startAndKillAPreviousMeshbroker();
  auto config = nlohmann::json::parse(meshbroker::testing::readText(dir_ / "cometa.json"));
  config["tinc"]["interface"] = "mesh1";  // tinc.conf beyond ConnectTo: a new process
  std::ofstream(dir_ / "cometa.json") << config.dump(2);
  start();
  ASSERT_EQ(launcher_.adopted.size(), 1u);
  EXPECT_EQ(launcher_.adopted[0].child->signals, std::vector<int>{SIGTERM});
  EXPECT_EQ(tinc().state, "stopping");
  launcher_.adopted[0].on_exit({true, -1, 0, "exited (adopted; exit status unknown)"});
  run();
  ASSERT_EQ(launcher_.spawned.size(), 1u);  // the replacement reads the new tinc.conf
  EXPECT_EQ(tinc().state, "starting");
  EXPECT_FALSE(tinc().adopted);
}

TEST_F(DaemonTest, NothingToAdoptStartsAsUsual) {
  launcher_.refusal = "pid 4242 from x.pid is gone; removed x.pid";
  start();
  EXPECT_EQ(launcher_.spawned.size(), 1u);
  EXPECT_TRUE(launcher_.adopted.empty());
  EXPECT_EQ(tinc().state, "starting");
  EXPECT_FALSE(tinc().adopted);
}

TEST_F(DaemonTest, ShutdownStopsAnAdoptedTincd) {
  startAndKillAPreviousMeshbroker();
  start();
  daemon_->shutdown();
  EXPECT_EQ(launcher_.adopted.at(0).child->signals, std::vector<int>{SIGTERM});
  launcher_.adopted[0].on_exit({true, -1, 0, "exited (adopted; exit status unknown)"});
  run();
  EXPECT_TRUE(io_.stopped());
}

// What the web server gets: snapshots published after changes, events with reasons, the
// topology, the config at start and after a good reload (not after a bad one).
TEST_F(DaemonTest, PublishesSnapshotsEventsAndConfigs) {
  auto loaded = config::loadConfigFile(dir_ / "cometa.json");
  ASSERT_TRUE(loaded.config);
  daemon_ = std::make_unique<Daemon>(io_, launcher_,
                                     DaemonOptions{dir_ / "cometa.json", "/usr/bin/meshbroker"},
                                     std::move(*loaded.config));
  std::vector<Snapshot> published;
  int configs = 0;
  daemon_->setPublisher([&published](const Snapshot& s) { published.push_back(s); });
  daemon_->setConfigObserver([&configs](const config::NodeConfig&) { ++configs; });
  daemon_->start();
  run();
  EXPECT_EQ(configs, 1);
  ASSERT_FALSE(published.empty());
  sendTincEvent(R"({"event":"tinc-up"})");
  sendTincEvent(R"({"event":"host-up","node":"chip","remoteaddress":"192.0.2.11"})");
  run();
  const auto& last = published.back();
  EXPECT_GT(last.generation, published.front().generation);
  EXPECT_EQ(last.topology.address, "100.64.12.9");
  bool running = false;
  bool mesh = false;
  for (const auto& e : last.events) {
    running = running || (e.source == "backend" && e.what.find("-> running") != std::string::npos);
    mesh = mesh || (e.source == "mesh" && e.what == "chip up (192.0.2.11)");
  }
  EXPECT_TRUE(running);
  EXPECT_TRUE(mesh);

  std::ofstream(dir_ / "cometa.json") << "{ not json";
  daemon_->reload();
  run();
  EXPECT_EQ(configs, 1);
  EXPECT_EQ(published.back().events.back().source, "reload");
  EXPECT_EQ(published.back().events.back().what.rfind("refused: ", 0), 0u);
  writeConfig("aes-128-cbc");
  daemon_->reload();
  run();
  EXPECT_EQ(configs, 2);

  nlohmann::json reply;
  daemon_->control({{"command", "status"}}, "test",
                   [&reply](const nlohmann::json& r) { reply = r; });
  EXPECT_EQ(reply["api"]["node"], "cometa");
  daemon_->control({{"command", "restart"}, {"backend", "tinc"}}, "http 127.0.0.1:9",
                   [&reply](const nlohmann::json& r) { reply = r; });
  EXPECT_EQ(reply["ok"], true);
  run();
  bool operator_event = false;
  for (const auto& e : published.back().events) {
    operator_event =
        operator_event || (e.source == "operator" && e.what == "restart tinc (http 127.0.0.1:9)");
  }
  EXPECT_TRUE(operator_event);
}

}  // namespace
}  // namespace meshbroker::supervisor
