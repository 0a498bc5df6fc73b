// The check and render verbs end to end on files: exit codes and what they print.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/handover_command.hpp"
#include "cli/network_commands.hpp"
#include "unit/test_support.hpp"

namespace meshbroker::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = meshbroker::testing::freshTestDir("mb-cli");
    meshbroker::testing::copyExampleKeys(dir_ / "keys");
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& name, const json& config) {
    std::ofstream(dir_ / name) << config.dump(2);
    return dir_ / name;
  }
  json example(const std::string& node) {
    auto config = json::parse(meshbroker::testing::exampleText(node));
    config["paths"] = {{"state_dir", (dir_ / "state").string()},
                       {"runtime_dir", (dir_ / "run").string()}};
    return config;
  }

  fs::path dir_;
  std::ostringstream out_, err_;
};

// `network init` (issue 20): a key once, 0600; a second refused with the key unchanged; a folder
// it makes is 0700, one that exists keeps its mode (it once chmodded /tmp to 0700).
TEST_F(CliTest, NetworkInitMakesOneKeyAndLeavesExistingFoldersAlone) {
  fs::permissions(dir_, fs::perms(0755));
  std::ostringstream out, err;
  EXPECT_EQ(meshbroker::cli::runNetworkInit(dir_ / "signing.key", out, err), 0) << err.str();
  EXPECT_EQ(fs::status(dir_).permissions(), fs::perms(0755)) << "an existing folder was chmodded";
  EXPECT_EQ(fs::status(dir_ / "signing.key").permissions(), fs::perms(0600));
  EXPECT_NE(out.str().find("public key:  ed25519:"), std::string::npos) << out.str();
  const auto key = meshbroker::testing::readText(dir_ / "signing.key");
  std::ostringstream out2, err2;
  EXPECT_NE(meshbroker::cli::runNetworkInit(dir_ / "signing.key", out2, err2), 0);
  EXPECT_NE(err2.str().find("exists"), std::string::npos) << err2.str();
  EXPECT_EQ(meshbroker::testing::readText(dir_ / "signing.key"), key);
  std::ostringstream out3, err3;
  EXPECT_EQ(meshbroker::cli::runNetworkInit(dir_ / "new" / "signing.key", out3, err3), 0);
  EXPECT_EQ(fs::status(dir_ / "new").permissions(), fs::perms(0700));
}

TEST_F(CliTest, NetworkKeyPrintsWhatInitPrintedAndNamesAMissingOrBadKey) {
  std::ostringstream init, ignored;
  ASSERT_EQ(meshbroker::cli::runNetworkInit(dir_ / "signing.key", init, ignored), 0);
  std::ostringstream out, err;
  EXPECT_EQ(meshbroker::cli::runNetworkKey(dir_ / "signing.key", out, err), 0) << err.str();
  // The same two lines: the public key and the fingerprint.
  EXPECT_NE(init.str().find(out.str()), std::string::npos) << init.str() << "\n" << out.str();
  std::ostringstream out2, err2;
  EXPECT_NE(meshbroker::cli::runNetworkKey(dir_ / "none.key", out2, err2), 0);
  EXPECT_NE(err2.str().find("no signing key here"), std::string::npos) << err2.str();
  std::ofstream(dir_ / "bad.key")
      << "-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n";
  std::ostringstream out3, err3;
  EXPECT_NE(meshbroker::cli::runNetworkKey(dir_ / "bad.key", out3, err3), 0);
  EXPECT_NE(err3.str().find("not a usable signing key"), std::string::npos) << err3.str();
  EXPECT_TRUE(out3.str().empty());
}

TEST_F(CliTest, CheckAcceptsAnExample) {
  EXPECT_EQ(runCheck(write("chip.json", example("chip")), out_, err_), kExitOk) << err_.str();
  EXPECT_NE(out_.str().find("ok (node chip, server"), std::string::npos);
}

TEST_F(CliTest, CheckNamesFileFieldAndValue) {
  auto config = example("chip");
  config["routes"][0]["to"] = {"10.1.0.0 netmask 255.224.0.0"};
  auto file = write("chip.json", config);
  EXPECT_EQ(runCheck(file, out_, err_), kExitInvalidConfig);
  EXPECT_NE(err_.str().find(file.string() + ": /routes/0/to/0: \"10.1.0.0 netmask 255.224.0.0\""),
            std::string::npos)
      << err_.str();
}

TEST_F(CliTest, CheckMissingFile) {
  EXPECT_EQ(runCheck(dir_ / "nope.json", out_, err_), kExitInvalidConfig);
  EXPECT_NE(err_.str().find("nope.json: /: does not exist"), std::string::npos) << err_.str();
}

TEST_F(CliTest, RenderWritesTheFileSet) {
  auto file = write("cometa.json", example("cometa"));
  EXPECT_EQ(runRender(file, dir_ / "out", "/usr/bin/meshbroker", out_, err_), kExitOk)
      << err_.str();
  for (const char* name : {"tinc.conf", "tinc-up", "tinc-down", "host-up", "host-down",
                           "hosts/chip", "hosts/comegato", "hosts/cometa"}) {
    EXPECT_TRUE(fs::exists(dir_ / "out" / "tinc" / name)) << name;
  }
  // Not subnet-up/subnet-down: the daemon has no use for them (each is a process per subnet).
  EXPECT_FALSE(fs::exists(dir_ / "out" / "tinc" / "subnet-up"));
  // A second render changes nothing.
  out_.str("");
  EXPECT_EQ(runRender(file, dir_ / "out", "/usr/bin/meshbroker", out_, err_), kExitOk);
  EXPECT_EQ(out_.str().find("wrote"), std::string::npos) << out_.str();
}

TEST_F(CliTest, RenderOfAHostileConfigWritesNothing) {
  auto config = example("chip");
  config["tinc"]["cipher"] = "x\nup /bin/sh";
  auto file = write("chip.json", config);
  EXPECT_EQ(runRender(file, dir_ / "out", "/usr/bin/meshbroker", out_, err_), kExitInvalidConfig);
  EXPECT_FALSE(fs::exists(dir_ / "out"));
  EXPECT_NE(err_.str().find("/tinc/cipher: \"x\\nup /bin/sh\" contains a control character"),
            std::string::npos)
      << err_.str();
}

TEST_F(CliTest, KeygenCreatesOnceAndKeeps) {
  auto config = example("chip");
  config["tinc"]["key_size"] = 2048;
  auto file = write("chip.json", config);
  EXPECT_EQ(runKeygen(file, out_, err_), kExitOk) << err_.str();
  auto private_key = meshbroker::testing::readText(dir_ / "state/tinc/rsa_key.priv");
  auto public_key = meshbroker::testing::readText(dir_ / "state/tinc/rsa_key.pub");
  EXPECT_NE(out_.str().find("Address = 192.0.2.11 655"), std::string::npos);
  EXPECT_NE(out_.str().find(public_key), std::string::npos);
  EXPECT_EQ(fs::status(dir_ / "state/tinc/rsa_key.priv").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(fs::status(dir_ / "state/tinc").permissions() & fs::perms::all, fs::perms::owner_all);

  std::ostringstream out2, err2;
  EXPECT_EQ(runKeygen(file, out2, err2), kExitOk) << err2.str();
  EXPECT_EQ(meshbroker::testing::readText(dir_ / "state/tinc/rsa_key.priv"), private_key);
  EXPECT_NE(err2.str().find("keeping the existing private key"), std::string::npos);
}

TEST_F(CliTest, NotifyWithoutDaemonIsQuiet) {
  EXPECT_EQ(runNotify("host-up", dir_ / "run", err_), kExitOk);
  EXPECT_EQ(err_.str(), "");
}

TEST_F(CliTest, NotifySendsTheTincEnvironment) {
  fs::create_directories(dir_ / "run");
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  auto path = (dir_ / "run" / "tinc-events.sock").string();
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ::setenv("NODE", "comegato", 1);
  ::setenv("REMOTEADDRESS", "192.0.2.12", 1);
  EXPECT_EQ(runNotify("host-up", dir_ / "run", err_), kExitOk) << err_.str();
  ::unsetenv("NODE");
  ::unsetenv("REMOTEADDRESS");
  char buffer[4096];
  ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
  ::close(fd);
  ASSERT_GT(n, 0);
  auto message = json::parse(std::string(buffer, static_cast<std::size_t>(n)));
  EXPECT_EQ(message["event"], "host-up");
  EXPECT_EQ(message["node"], "comegato");
  EXPECT_EQ(message["remoteaddress"], "192.0.2.12");
}

// `systemctl list-jobs --no-legend --full` as systemd 252 prints it.
TEST(Handover, FindsTheUnitsJobType) {
  const char* jobs =
      "  812 meshbroker.service restart running\n"
      "  813 tinc.service       start   waiting\n";
  EXPECT_EQ(jobTypeFor(jobs, "meshbroker.service"), "restart");
  EXPECT_EQ(jobTypeFor(jobs, "tinc.service"), "start");
  EXPECT_FALSE(jobTypeFor(jobs, "meshbroker"));  // the whole name only
  EXPECT_FALSE(jobTypeFor("", "meshbroker.service"));
  EXPECT_FALSE(jobTypeFor("garbage\n\n  7\n", "meshbroker.service"));
  EXPECT_TRUE(isRestart("restart"));
  EXPECT_TRUE(isRestart("try-restart"));
  for (auto type : {"stop", "start", "reload", "verify-active", ""}) EXPECT_FALSE(isRestart(type));
}

TEST_F(CliTest, HandoverWithoutDaemonSaysSo) {
  auto config = write("chip.json", example("chip"));
  EXPECT_EQ(runHandover(config, std::nullopt, out_, err_), kExitFailure);
  EXPECT_NE(out_.str().find("meshbroker is not running"), std::string::npos) << out_.str();
}

}  // namespace
}  // namespace meshbroker::cli
