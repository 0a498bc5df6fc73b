// systemd's notify and watchdog protocol, spoken without libsystemd: the environment parsing
// (pure) and real datagrams to a path socket and to an abstract one.
#include "supervisor/systemd_notify.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace meshbroker::supervisor {
namespace {

using std::chrono::microseconds;

TEST(SystemdNotifyTest, SocketPaths) {
  EXPECT_EQ(notifySocketPath("/run/systemd/notify"), "/run/systemd/notify");
  EXPECT_EQ(notifySocketPath("@/org/freedesktop/systemd1/notify/123"),
            std::string("\0/org/freedesktop/systemd1/notify/123", 37));
  EXPECT_FALSE(notifySocketPath(nullptr));
  EXPECT_FALSE(notifySocketPath(""));
  EXPECT_FALSE(notifySocketPath("@"));
  EXPECT_FALSE(notifySocketPath("/"));
  EXPECT_FALSE(notifySocketPath("relative/notify"));
  EXPECT_FALSE(notifySocketPath("vsock:2:1234"));  // systemd 253's AF_VSOCK form: not supported
  EXPECT_FALSE(notifySocketPath(("/" + std::string(200, 'x')).c_str()));
}

TEST(SystemdNotifyTest, WatchdogPeriod) {
  EXPECT_EQ(watchdogPeriod("30000000", nullptr, 42), microseconds(30000000));
  EXPECT_EQ(watchdogPeriod("30000000", "42", 42), microseconds(30000000));
  EXPECT_FALSE(watchdogPeriod("30000000", "43", 42));  // meant for another process
  EXPECT_FALSE(watchdogPeriod(nullptr, nullptr, 42));
  EXPECT_FALSE(watchdogPeriod("0", nullptr, 42));
  EXPECT_FALSE(watchdogPeriod("-5", nullptr, 42));
  EXPECT_FALSE(watchdogPeriod(" 5", nullptr, 42));
  EXPECT_FALSE(watchdogPeriod("5s", nullptr, 42));
  EXPECT_FALSE(watchdogPeriod("", nullptr, 42));
  EXPECT_FALSE(watchdogPeriod("99999999999999999999999", nullptr, 42));
  EXPECT_FALSE(watchdogPeriod("30000000", "forty-two", 42));
  EXPECT_FALSE(watchdogPeriod("30000000", "", 42));
}

// A datagram socket bound to `address_bytes` (a path, or "\0name"); reads what arrives.
class Listener {
 public:
  explicit Listener(const std::string& address_bytes) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, address_bytes.data(), address_bytes.size());
    auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_bytes.size() +
                                         (address_bytes.front() == '\0' ? 0 : 1));
    bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) == 0;
  }
  ~Listener() { ::close(fd_); }
  bool bound() const { return bound_; }
  std::string receive() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 1000) != 1) return "(nothing)";
    char buffer[4096];
    auto n = ::recv(fd_, buffer, sizeof buffer, 0);
    return n < 0 ? "(error)" : std::string(buffer, static_cast<std::size_t>(n));
  }

 private:
  int fd_ = -1;
  bool bound_ = false;
};

class NotifyEnvironment : public ::testing::Test {
 protected:
  void TearDown() override {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
  }
};

TEST_F(NotifyEnvironment, SendsToAPathSocket) {
  auto path = (std::filesystem::temp_directory_path() /
               ("mb-notify-" + std::to_string(::getpid()) + ".sock"))
                  .string();
  std::filesystem::remove(path);
  Listener listener(path);
  ASSERT_TRUE(listener.bound());
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  EXPECT_TRUE(notifySystemd("READY=1\nSTATUS=started"));
  EXPECT_EQ(listener.receive(), "READY=1\nSTATUS=started");
  std::filesystem::remove(path);
}

TEST_F(NotifyEnvironment, SendsToAnAbstractSocket) {
  const std::string name = "meshbroker-notify-test-" + std::to_string(::getpid());
  Listener listener(std::string(1, '\0') + name);
  ASSERT_TRUE(listener.bound());
  ::setenv("NOTIFY_SOCKET", ("@" + name).c_str(), 1);
  EXPECT_TRUE(notifySystemd("WATCHDOG=1"));
  EXPECT_EQ(listener.receive(), "WATCHDOG=1");
}

TEST_F(NotifyEnvironment, WithoutASocketNothingIsSentAndNothingFails) {
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_FALSE(notifySystemd("READY=1"));
  ::setenv("NOTIFY_SOCKET", "/nonexistent/dir/notify.sock", 1);
  EXPECT_FALSE(notifySystemd("READY=1"));
}

TEST_F(NotifyEnvironment, WatchdogFromTheEnvironment) {
  EXPECT_FALSE(systemdWatchdogPeriod());
  ::setenv("WATCHDOG_USEC", "20000000", 1);
  EXPECT_EQ(systemdWatchdogPeriod(), microseconds(20000000));
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  EXPECT_EQ(systemdWatchdogPeriod(), microseconds(20000000));
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  EXPECT_FALSE(systemdWatchdogPeriod());
}

}  // namespace
}  // namespace meshbroker::supervisor
