// Parsing the datagrams that tinc's hook scripts send.
#include "backends/tinc_events.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "backends/tinc_hook_message.hpp"

namespace meshbroker::backends {
namespace {

TEST(TincEvents, ParsesHostUp) {
  std::string why;
  auto event = parseTincEvent(
      R"({"event":"host-up","node":"comegato","remoteaddress":"192.0.2.12","netname":"x"})", &why);
  ASSERT_TRUE(event) << why;
  EXPECT_EQ(event->kind, TincEventKind::kHostUp);
  EXPECT_EQ(event->node, "comegato");
  EXPECT_EQ(event->remote_address, "192.0.2.12");
}

TEST(TincEvents, TincUpNeedsNoNode) {
  auto event = parseTincEvent(R"({"event":"tinc-up","interface":"meshnet0"})", nullptr);
  ASSERT_TRUE(event);
  EXPECT_EQ(event->kind, TincEventKind::kTincUp);
}

// The sending side (meshbroker notify, meshbroker-notify): what the hooks build from tinc's
// environment is what the daemon parses, field for field.
TEST(TincHookMessage, WhatTheHooksSendIsWhatTheDaemonReads) {
  std::map<std::string, std::string> env{{"NETNAME", "seed"},   {"NAME", "chip"},
                                         {"NODE", "comegato"},  {"REMOTEADDRESS", "192.0.2.12"},
                                         {"REMOTEPORT", "655"}, {"INTERFACE", "meshnet0"}};
  auto lookup = [&env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  for (const char* kind : {"host-up", "host-down", "tinc-up", "tinc-down"}) {
    ASSERT_TRUE(isTincHookEvent(kind));
    const auto text = tincHookMessage(kind, lookup);
    std::string why;
    auto event = parseTincEvent(text, &why);
    ASSERT_TRUE(event) << text << ": " << why;
    EXPECT_EQ(toString(event->kind), kind);
    EXPECT_EQ(event->remote_address, "192.0.2.12");
    auto json = nlohmann::json::parse(text);
    EXPECT_EQ(json.size(), 7u) << text;  // event and the six variables set, nothing else
    EXPECT_EQ(json["netname"], "seed");
    EXPECT_EQ(json["remoteport"], "655");
    EXPECT_EQ(json["interface"], "meshnet0");
  }
  env["SUBNET"] = "02:00:64:40:0c:09";
  auto subnet = parseTincEvent(tincHookMessage("subnet-up", lookup), nullptr);
  ASSERT_TRUE(subnet);
  EXPECT_EQ(subnet->subnet, "02:00:64:40:0c:09");
  EXPECT_EQ(subnet->node, "comegato");
  for (const char* unknown : {"", "reboot", "host-up ", "HOST-UP"}) {
    EXPECT_FALSE(isTincHookEvent(unknown)) << unknown;
  }
}

// Whatever a variable holds (a peer names its own address to tinc), the message stays one JSON
// object with the same keys: a value cannot close its string and add a field, and the daemon
// never takes a forged "node" from another variable.
TEST(TincHookMessage, NoValueCanAddAFieldOrBreakTheMessage) {
  const std::vector<std::string> hostile{R"(1.2.3.4","node":"evil)",
                                         "\\\"",
                                         "a\\",
                                         "\n\r\t\x01\x1f\x7f",
                                         "\xff\xfe\xc3\x28",
                                         "caf\xc3\xa9",
                                         std::string("nul\0inside", 10),
                                         "}{",
                                         std::string(300, '"')};
  std::mt19937 random(7);
  std::vector<std::string> values = hostile;
  for (int i = 0; i < 2000; ++i) {
    std::string value(random() % 40, '\0');
    for (auto& c : value) c = static_cast<char>(1 + random() % 255);
    values.push_back(value);
  }
  for (const auto& value : values) {
    auto lookup = [&value](const char* name) -> const char* {
      if (std::string_view(name) == "NODE") return "comegato";
      return value.c_str();  // every other variable: the hostile text
    };
    const auto text = tincHookMessage("host-up", lookup);
    auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(json.is_discarded()) << "not JSON: " << text;
    ASSERT_EQ(json.size(), 9u) << text;
    EXPECT_EQ(json["event"], "host-up");
    EXPECT_EQ(json["node"], "comegato") << text;
    // Printable ASCII arrives as it was; anything else was replaced, not passed on.
    const std::string got = json["remoteaddress"];
    const std::string sent = value.c_str();  // what getenv would give: up to a NUL
    bool plain = true;
    for (unsigned char c : sent) plain = plain && c >= 0x20 && c < 0x7f;
    if (plain) {
      EXPECT_EQ(got, sent);
    }
    std::string why;
    auto event = parseTincEvent(text, &why);
    if (event) {
      EXPECT_EQ(event->node, "comegato");
    }
  }
}

TEST(TincEvents, RejectsGarbage) {
  for (const char* text : {"", "not json", "[]", "{}", R"({"event":7})", R"({"event":"reboot"})",
                           R"({"event":"host-up"})", R"({"event":"host-up","node":"../x"})",
                           R"({"event":"host-up","node":"a\nb"})",
                           R"({"event":"host-down","node":"a","remoteaddress":"x\u0000y"})"}) {
    std::string why;
    EXPECT_FALSE(parseTincEvent(text, &why)) << text;
    EXPECT_FALSE(why.empty()) << text;
  }
  EXPECT_FALSE(parseTincEvent(std::string(5000, '{'), nullptr));
}

}  // namespace
}  // namespace meshbroker::backends

namespace meshbroker::backends {
namespace {

class TincEventSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = "/tmp/mb-events-" + std::to_string(::getpid()) + ".sock";
    socket_ = std::make_unique<TincEventSocket>(
        io_, path_, [this](const TincEvent& event) { events_.push_back(event); },
        [this](const std::string& message) { logs_.push_back(message); });
    socket_->open();
  }
  void send(const std::string& datagram) {
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path_.c_str(), sizeof address.sun_path - 1);
    ::sendto(fd, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&address),
             sizeof address);
    ::close(fd);
  }
  void drain() { io_.run_for(std::chrono::milliseconds(50)); }

  asio::io_context io_;
  std::string path_;
  std::unique_ptr<TincEventSocket> socket_;
  std::vector<TincEvent> events_;
  std::vector<std::string> logs_;
};

TEST_F(TincEventSocketTest, DeliversValidEventsAndLogsGarbage) {
  send(R"({"event":"host-up","node":"comegato"})");
  send("garbage\n{\"event\":");
  send(R"({"event":"host-down","node":"comegato"})");
  drain();
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[0].kind, TincEventKind::kHostUp);
  EXPECT_EQ(events_[1].kind, TincEventKind::kHostDown);
  ASSERT_EQ(logs_.size(), 1u);
  EXPECT_NE(logs_[0].find("malformed"), std::string::npos) << logs_[0];
}

TEST_F(TincEventSocketTest, SocketIsPrivate) {
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(TincEventSocketTest, OtherUsersAreDropped) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to send as another user";
  // Let anyone reach the socket, so only the credential check stands in the way.
  ::chmod(path_.c_str(), 0666);
  pid_t child = ::fork();
  if (child == 0) {
    if (::setuid(65534) != 0) ::_exit(2);
    send(R"({"event":"host-up","node":"intruder"})");
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_EQ(WEXITSTATUS(status), 0);
  drain();
  EXPECT_TRUE(events_.empty());
  ASSERT_EQ(logs_.size(), 1u);
  EXPECT_NE(logs_[0].find("uid 65534"), std::string::npos) << logs_[0];
}

// tincd drops root to its own user; its hooks then send from that uid, and only from it.
TEST_F(TincEventSocketTest, TheAllowedSenderGetsThroughOthersDoNot) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to send as other users";
  socket_.reset();
  socket_ = std::make_unique<TincEventSocket>(
      io_, path_, [this](const TincEvent& event) { events_.push_back(event); },
      [this](const std::string& message) { logs_.push_back(message); });
  socket_->allowSender(65534, 65534);  // nobody plays tincd's user
  socket_->open();
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);  // its group may send, nobody else may
  EXPECT_EQ(st.st_gid, 65534u);
  ::chmod(path_.c_str(), 0666);  // so only the credential check stands in the way
  for (uid_t uid : {65534u, 65533u}) {
    pid_t child = ::fork();
    if (child == 0) {
      if (::setgid(65534) != 0 || ::setuid(uid) != 0) ::_exit(2);
      send(R"({"event":"host-up","node":"n)" + std::to_string(uid) + R"("})");
      ::_exit(0);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_EQ(WEXITSTATUS(status), 0);
  }
  drain();
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].node, "n65534");
  ASSERT_EQ(logs_.size(), 1u);
  EXPECT_NE(logs_[0].find("uid 65533"), std::string::npos) << logs_[0];
}

}  // namespace
}  // namespace meshbroker::backends
