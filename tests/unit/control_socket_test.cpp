// The control socket: request/reply over a real unix socket, garbage, and the command filter.
#include "supervisor/control_socket.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "backends/openvpn_management.hpp"

namespace meshbroker::supervisor {
namespace {

class ControlSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = "/tmp/mb-control-" + std::to_string(::getpid()) + ".sock";
    socket_ = std::make_unique<ControlSocket>(
        io_, path_,
        [](const nlohmann::json& request, const ControlSocket::Reply& reply) {
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
};

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

TEST(ControlSocketClient, NoDaemon) {
  std::string why;
  EXPECT_FALSE(controlRequest("/tmp/mb-nobody-here.sock", {{"command", "status"}},
                              std::chrono::milliseconds(200), &why));
  EXPECT_NE(why.find("no daemon listening"), std::string::npos);
}

TEST(ManagementCommandFilter, AllowsOnlyReadingAndDisconnecting) {
  for (const char* ok :
       {"status", "status 3", "kill alice", "kill shared_public", "client-kill 17"}) {
    EXPECT_TRUE(backends::allowedManagementCommand(ok)) << ok;
  }
  for (const char* bad : {"signal SIGTERM", "kill", "kill a b", "kill a;b", "client-kill x",
                          "status 3\nsignal SIGTERM", "hold release", "", "kill 192.0.2.1:1194"}) {
    EXPECT_FALSE(backends::allowedManagementCommand(bad)) << bad;
  }
}

}  // namespace
}  // namespace meshbroker::supervisor
