// The control socket: request/reply over a real unix socket, garbage, who may connect.
#include "supervisor/control_socket.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

namespace meshbroker::supervisor {
namespace {

class ControlSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = "/tmp/mb-control-" + std::to_string(::getpid()) + ".sock";
    socket_ = std::make_unique<ControlSocket>(
        io_, path_,
        [this](const nlohmann::json& request, const ControlSocket::Reply& reply) {
          ++handled_;
          reply({{"ok", true}, {"echo", request}});
        },
        [](const std::string&) {});
    socket_->open();
    server_ = std::thread([this] { io_.run_for(std::chrono::seconds(3)); });
  }
  void TearDown() override {
    io_.stop();
    server_.join();
    socket_.reset();
  }
  asio::io_context io_;
  std::string path_;
  std::unique_ptr<ControlSocket> socket_;
  std::thread server_;
  std::atomic<int> handled_{0};
};

// As `uid`, connects to `path`, asks for a handover and waits 2 s for a reply: 0 when the
// daemon answered nothing (closed the connection), 1 when it answered, 2 when the connect
// itself failed, -1 when the child died of a signal. Only async-signal-safe calls after fork().
int askAs(uid_t uid, const std::string& path) {
  pid_t child = ::fork();
  if (child == 0) {
    if (::setresgid(uid, uid, uid) != 0 || ::setresuid(uid, uid, uid) != 0) ::_exit(3);
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) ::_exit(2);
    const char request[] = "{\"command\": \"handover\"}\n";
    // Closed on us already (refused): no SIGPIPE, that is the answer we want.
    if (::send(fd, request, sizeof request - 1, MSG_NOSIGNAL) < 0) ::_exit(0);
    pollfd p{fd, POLLIN, 0};
    char byte = 0;
    if (::poll(&p, 1, 2000) == 1 && ::read(fd, &byte, 1) == 1) ::_exit(1);
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(ControlSocketTest, RequestReply) {
  std::string why;
  auto reply = controlRequest(path_, {{"command", "status"}}, std::chrono::seconds(2), &why);
  ASSERT_TRUE(reply) << why;
  EXPECT_EQ((*reply)["echo"]["command"], "status");
}

TEST_F(ControlSocketTest, GarbageGetsAnError) {
  asio::io_context client;
  asio::local::stream_protocol::socket s(client);
  s.connect(asio::local::stream_protocol::endpoint(path_));
  asio::write(s, asio::buffer(std::string("this is not json\n")));
  std::string in;
  asio::read_until(s, asio::dynamic_buffer(in), '\n');
  EXPECT_NE(in.find("not a JSON object"), std::string::npos) << in;
}

TEST_F(ControlSocketTest, SocketIsPrivate) {
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// Attack: another user on the machine asks the daemon to hand over (exit, leaving tincd and
// openvpn unsupervised). The socket file is mode 0600; here it is opened up to everyone, as a
// mistaken chmod or a permissive umask would, so only the SO_PEERCRED check stands in the way.
TEST_F(ControlSocketTest, AnotherUserIsRefusedEvenThroughAnOpenSocketFile) {
  ASSERT_EQ(::geteuid(), 0u) << "this test switches to another uid: run the unit tests as root";
  const uid_t nobody = 65534;
  EXPECT_EQ(askAs(nobody, path_), 2) << "mode 0600 keeps nobody from connecting at all";
  ASSERT_EQ(::chmod(path_.c_str(), 0666), 0);
  EXPECT_EQ(askAs(nobody, path_), 0) << "nobody connected and got an answer";
  EXPECT_EQ(handled_.load(), 0) << "a request from another uid reached the command handler";
  // The daemon's own user still gets through.
  std::string why;
  auto reply = controlRequest(path_, {{"command", "status"}}, std::chrono::seconds(2), &why);
  ASSERT_TRUE(reply) << why;
  EXPECT_EQ(handled_.load(), 1);
}

TEST(ControlSocketClient, NoDaemon) {
  std::string why;
  EXPECT_FALSE(controlRequest("/tmp/mb-nobody-here.sock", {{"command", "status"}},
                              std::chrono::milliseconds(200), &why));
  EXPECT_NE(why.find("no daemon listening"), std::string::npos);
}

}  // namespace
}  // namespace meshbroker::supervisor
