// The client verbs end to end on files, with a fake OpenVPN management socket (a thread that
// answers like OpenVPN, or with garbage).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cli/client_commands.hpp"
#include "cli/commands.hpp"
#include "unit/test_support.hpp"

namespace meshbroker::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Serves a unix socket like OpenVPN (or the daemon): per connection an optional greeting, one
// command read, the same reply sent, close. Records the first command.
class FakeManagement {
 public:
  // greeting: OpenVPN greets first; the daemon's control socket does not.
  FakeManagement(const fs::path& path, std::string reply, bool greeting = true) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    fs::create_directories(path.parent_path());
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(fd_, 4) != 0) {
      throw std::runtime_error("cannot listen on " + path.string());
    }
    thread_ = std::thread([this, reply, greeting] {
      while (true) {
        int client = ::accept(fd_, nullptr, nullptr);
        if (client < 0) return;
        if (greeting) {
          std::string hello = ">INFO:OpenVPN Management Interface Version 5\r\n";
          ::send(client, hello.data(), hello.size(), MSG_NOSIGNAL);
        }
        char buffer[256];
        ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
        if (n > 0) {
          std::lock_guard<std::mutex> lock(mutex_);
          if (command_.empty()) command_.assign(buffer, static_cast<std::size_t>(n));
        }
        ::send(client, reply.data(), reply.size(), MSG_NOSIGNAL);
        ::close(client);
      }
    });
  }
  ~FakeManagement() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
    fs::remove(path_);
  }
  // The first command received (the client has its reply, so it was recorded already).
  std::string command() {
    std::lock_guard<std::mutex> lock(mutex_);
    return command_;
  }

 private:
  fs::path path_;
  int fd_ = -1;
  std::thread thread_;
  std::mutex mutex_;
  std::string command_;
};

class ClientCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("mb-client-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto config = json::parse(meshbroker::testing::exampleText("comegato"));
    config["paths"] = {{"state_dir", (dir_ / "state").string()},
                       {"runtime_dir", (dir_ / "run").string()}};
    // A private instance here too, offered by chip as well.
    config["openvpn"].push_back(
        {{"name", "private"}, {"kind", "private"}, {"port", 1195}, {"subnet", "172.16.1.160/27"}});
    for (auto& host : config["hosts"]) host.erase("public_key_file");
    config_ = dir_ / "comegato.json";
    std::ofstream(config_) << config.dump(2);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void reset() {
    out_.str("");
    err_.str("");
  }

  fs::path dir_, config_;
  std::ostringstream out_, err_;
};

TEST_F(ClientCliTest, AddPrintsAProfileWithEveryServer) {
  ASSERT_EQ(runClientInit(config_, out_, err_), kExitOk) << err_.str();
  reset();
  ASSERT_EQ(runClientAdd(config_, "alice", "", "", out_, err_), kExitOk) << err_.str();
  auto profile = out_.str();
  EXPECT_NE(profile.find("remote 192.0.2.12 1195 udp\nremote 192.0.2.11 443 tcp\n"),
            std::string::npos)
      << profile;
  EXPECT_NE(profile.find("<key>\n-----BEGIN PRIVATE KEY-----\n"), std::string::npos);
  reset();
  EXPECT_EQ(runClientAdd(config_, "alice", "private", "", out_, err_), kExitFailure);
  EXPECT_NE(err_.str().find("already has a valid certificate"), std::string::npos) << err_.str();
  reset();
  EXPECT_EQ(runClientAdd(config_, "bob", "public", "", out_, err_), kExitUsage);
  EXPECT_NE(err_.str().find("client shared"), std::string::npos);
  reset();
  EXPECT_EQ(runClientAdd(config_, "bob", "nowhere", "", out_, err_), kExitUsage);
  reset();
  auto file = dir_ / "bob.ovpn";
  ASSERT_EQ(runClientAdd(config_, "bob", "private", file, out_, err_), kExitOk) << err_.str();
  struct stat st {};
  ::stat(file.c_str(), &st);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ClientCliTest, SharedRevokeAndList) {
  ASSERT_EQ(runClientShared(config_, "", "", out_, err_), kExitOk) << err_.str();
  EXPECT_NE(out_.str().find("\"shared_public\" for OpenVPN instance \"public\" (public)"),
            std::string::npos);
  reset();
  ASSERT_EQ(runClientAdd(config_, "carol", "", "", out_, err_), kExitOk);
  reset();
  ASSERT_EQ(runClientRevoke(config_, "carol", out_, err_), kExitOk) << err_.str();
  EXPECT_NE(out_.str().find("revoked 1 certificate(s) of carol"), std::string::npos) << out_.str();
  reset();
  // Again: nothing new to revoke, but the CRL is rewritten to hold it (a retry finishes).
  EXPECT_EQ(runClientRevoke(config_, "carol", out_, err_), kExitOk);
  EXPECT_NE(out_.str().find("carol has no valid certificate (1 revoked before)"), std::string::npos)
      << out_.str();
  reset();
  EXPECT_EQ(runClientRevoke(config_, "nobody", out_, err_), kExitFailure);
  EXPECT_NE(err_.str().find("no certificate named \"nobody\""), std::string::npos) << err_.str();
  reset();
  ASSERT_EQ(runClientList(config_, true, out_, err_), kExitOk) << err_.str();
  auto doc = json::parse(out_.str());
  ASSERT_EQ(doc["issued"].size(), 2u);
  EXPECT_EQ(doc["issued"][1]["name"], "carol");
  EXPECT_EQ(doc["issued"][1]["state"], "revoked");
  EXPECT_EQ(doc["instances"][0]["error"], "not running (no management socket or status file)");
}

// Finding 2: with the index gone next to the CA, every verb that touches the PKI refuses and
// says how to recover; the CRL files are left as they were.
TEST_F(ClientCliTest, MissingIndexStopsEveryVerb) {
  ASSERT_EQ(runClientAdd(config_, "mallory", "", "", out_, err_), kExitOk) << err_.str();
  ASSERT_EQ(runClientRevoke(config_, "mallory", out_, err_), kExitOk) << err_.str();
  auto pki = dir_ / "state" / "pki";
  auto crl = meshbroker::testing::readText(pki / "crl" / "private.pem");
  fs::remove(pki / "private" / "index.json");
  auto expect_refused = [&](const char* what, int code) {
    EXPECT_EQ(code, kExitFailure) << what;
    EXPECT_NE(err_.str().find((pki / "private" / "index.json").string() +
                              ": is missing next to the CA key"),
              std::string::npos)
        << what << ": " << err_.str();
    reset();
  };
  reset();
  expect_refused("init", runClientInit(config_, out_, err_));
  expect_refused("add", runClientAdd(config_, "bob", "", "", out_, err_));
  expect_refused("shared", runClientShared(config_, "", "", out_, err_));
  expect_refused("revoke", runClientRevoke(config_, "mallory", out_, err_));
  expect_refused("list", runClientList(config_, false, out_, err_));
  EXPECT_FALSE(fs::exists(pki / "private" / "index.json"));
  EXPECT_EQ(meshbroker::testing::readText(pki / "crl" / "private.pem"), crl);
}

TEST_F(ClientCliTest, ListReadsTheManagementSocketAndReportsGarbage) {
  ASSERT_EQ(runClientInit(config_, out_, err_), kExitOk);
  FakeManagement fake(dir_ / "run" / "openvpn-public.sock",
                      "TITLE\tOpenVPN\r\nCLIENT_LIST\tgarbage\r\n\x01\x02\x03\r\n"
                      "CLIENT_LIST\tshared_public\t192.0.2.50:4000\t172.16.1.130\t\t100\t200\t"
                      "x\t1795613409\tUNDEF\t7\t0\tAES-256-GCM\r\nEND\r\n");
  reset();
  ASSERT_EQ(runClientList(config_, false, out_, err_), kExitOk);
  EXPECT_EQ(fake.command(), "status 3\n");
  EXPECT_NE(out_.str().find("instance public (public): 1 connected"), std::string::npos)
      << out_.str();
  EXPECT_NE(out_.str().find("shared_public"), std::string::npos);
  EXPECT_NE(out_.str().find("192.0.2.50:4000"), std::string::npos);
  EXPECT_NE(err_.str().find("line 3: \"CLIENT_LIST\\tgarbage\": is a CLIENT_LIST record"),
            std::string::npos)
      << err_.str();
  EXPECT_NE(err_.str().find("line 4: \"\\x01\\x02\\x03\": holds a control character"),
            std::string::npos)
      << err_.str();
}

TEST_F(ClientCliTest, RevokeKillsThroughTheManagementSocket) {
  ASSERT_EQ(runClientAdd(config_, "dave", "", "", out_, err_), kExitOk);
  FakeManagement fake(dir_ / "run" / "openvpn-private.sock",
                      ">INFO:noise\r\nSUCCESS: common name 'dave' found, 1 client(s) killed\r\n");
  reset();
  ASSERT_EQ(runClientRevoke(config_, "dave", out_, err_), kExitOk) << err_.str();
  EXPECT_EQ(fake.command(), "kill dave\n");
  EXPECT_NE(out_.str().find("private: common name 'dave' found, 1 client(s) killed"),
            std::string::npos)
      << out_.str();
}

TEST_F(ClientCliTest, GoesThroughTheDaemonsControlSocketWhenItRuns) {
  ASSERT_EQ(runClientAdd(config_, "fay", "", "", out_, err_), kExitOk);
  {
    FakeManagement daemon(dir_ / "run" / "control.sock",
                          R"({"ok":true,"lines":["SUCCESS: common name 'fay' found, )"
                          R"(1 client(s) killed"]})"
                          "\n",
                          false);
    reset();
    ASSERT_EQ(runClientRevoke(config_, "fay", out_, err_), kExitOk) << err_.str();
    auto request = json::parse(daemon.command());
    EXPECT_EQ(request,
              json({{"command", "openvpn"}, {"instance", "public"}, {"line", "kill fay"}}));
    EXPECT_NE(out_.str().find("public: common name 'fay' found, 1 client(s) killed"),
              std::string::npos)
        << out_.str();
  }
  FakeManagement daemon(dir_ / "run" / "control.sock",
                        R"({"ok":true,"lines":["CLIENT_LIST\tgus\t192.0.2.9:1\t172.16.1.130\t)"
                        R"(\t5\t6\tx\t1795613409\tUNDEF\t1\t0\tc"]})"
                        "\n",
                        false);
  reset();
  ASSERT_EQ(runClientList(config_, true, out_, err_), kExitOk) << err_.str();
  auto doc = json::parse(out_.str());
  EXPECT_EQ(doc["instances"][0]["source"], (dir_ / "run" / "control.sock").string());
  ASSERT_EQ(doc["instances"][0]["clients"].size(), 1u) << out_.str();
  EXPECT_EQ(doc["instances"][0]["clients"][0]["name"], "gus");
}

TEST_F(ClientCliTest, ManagementSocketThatNeverAnswersTimesOut) {
  FakeManagement fake(dir_ / "run" / "x.sock", "no end line\r\n");
  std::string error;
  auto reply = managementCommand(dir_ / "run" / "x.sock", "status 3", true,
                                 std::chrono::milliseconds(300), &error);
  EXPECT_FALSE(reply);
  EXPECT_NE(error.find("closed the connection"), std::string::npos) << error;
  EXPECT_FALSE(managementCommand(dir_ / "missing.sock", "status 3", true,
                                 std::chrono::milliseconds(100), &error));
}

TEST_F(ClientCliTest, RateLimitNeedsALimitedLocalInstance) {
  EXPECT_EQ(runClientRateLimit(config_, "nowhere", false, out_, err_), kExitUsage);
  EXPECT_NE(err_.str().find("no OpenVPN instance \"nowhere\""), std::string::npos);
  reset();
  EXPECT_EQ(runClientRateLimit(config_, "private", false, out_, err_), kExitUsage);
  EXPECT_NE(err_.str().find("has no rate_limit"), std::string::npos);
}

TEST_F(ClientCliTest, MalformedCertificateFilesGiveClearErrors) {
  ASSERT_EQ(runClientInit(config_, out_, err_), kExitOk);
  auto ca = dir_ / "state" / "pki" / "ca.crt";
  std::ofstream(ca, std::ios::trunc) << "-----BEGIN CERTIFICATE-----\nnot base64!\n"
                                     << "-----END CERTIFICATE-----\n";
  reset();
  EXPECT_EQ(runClientAdd(config_, "erin", "", "", out_, err_), kExitFailure);
  EXPECT_NE(err_.str().find(ca.string() + ": holds a malformed certificate"), std::string::npos)
      << err_.str();
  EXPECT_TRUE(out_.str().empty());
  reset();
  EXPECT_EQ(runClientInit(config_, out_, err_), kExitFailure);
  EXPECT_NE(err_.str().find(ca.string()), std::string::npos);
}

}  // namespace
}  // namespace meshbroker::cli
