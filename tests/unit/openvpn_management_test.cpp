// The management client against a scripted fake OpenVPN on a unix socket (a fake is fine in a
// unit test; the integration tests use real openvpn).
#include "backends/openvpn_management.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

namespace meshbroker::backends {
namespace {

using Protocol = asio::local::stream_protocol;

class ManagementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = "/tmp/mb-mgmt-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".sock";
    ::unlink(path_.c_str());
  }
  void TearDown() override { ::unlink(path_.c_str()); }

  // A fake server: sends the banner, then answers each command line from `replies`.
  void serve(std::map<std::string, std::string> replies) {
    acceptor_.emplace(io_, Protocol::endpoint(path_));
    acceptor_->async_accept(
        [this, replies](const boost::system::error_code& ec, Protocol::socket s) {
          if (ec) return;
          server_.emplace(std::move(s));
          asio::write(*server_,
                      asio::buffer(std::string(
                          ">INFO:OpenVPN Management Interface Version 5 -- type 'help'\r\n")));
          readCommand(replies);
        });
  }
  void readCommand(std::map<std::string, std::string> replies) {
    asio::async_read_until(*server_, asio::dynamic_buffer(in_), '\n',
                           [this, replies](const boost::system::error_code& ec, std::size_t n) {
                             if (ec) return;
                             std::string command = in_.substr(0, n - 1);
                             in_.erase(0, n);
                             received_.push_back(command);
                             auto it = replies.find(command);
                             std::string reply =
                                 it == replies.end() ? "ERROR: unknown command\r\n" : it->second;
                             asio::write(*server_, asio::buffer(reply));
                             readCommand(replies);
                           });
  }
  void runUntil(const std::function<bool()>& done) {
    for (int i = 0; i < 300 && !done(); ++i) io_.run_for(std::chrono::milliseconds(10));
  }

  asio::io_context io_;
  std::string path_;
  std::optional<Protocol::acceptor> acceptor_;
  std::optional<Protocol::socket> server_;
  std::string in_;
  std::vector<std::string> received_;
};

TEST(StatusPollEcho, OnlyTheStatusCommandsEchoIsDropped) {
  EXPECT_TRUE(echoesStatusPoll("2026-12-06 02:34:38 MANAGEMENT: CMD 'status 3'"));
  EXPECT_TRUE(echoesStatusPoll("MANAGEMENT: CMD 'status'"));
  EXPECT_TRUE(echoesStatusPoll("MANAGEMENT: CMD 'status 2'"));
  // Anything else a person would want to see stays: kills, other versions, a client's text.
  EXPECT_FALSE(echoesStatusPoll("2026-12-06 02:34:38 MANAGEMENT: CMD 'kill alice'"));
  EXPECT_FALSE(echoesStatusPoll("MANAGEMENT: CMD 'status 3' and more"));
  EXPECT_FALSE(echoesStatusPoll("MANAGEMENT: CMD 'status 9'"));
  EXPECT_FALSE(echoesStatusPoll("alice/192.0.2.50:1194 MANAGEMENT: CMD 'statusx'"));
  EXPECT_FALSE(echoesStatusPoll(""));
}

TEST_F(ManagementTest, ReadyAfterBannerEvenIfTheServerAppearsLate) {
  OpenVpnManagement management(io_, path_, [](const std::string&) {});
  bool ready = false;
  management.open([&] { ready = true; }, [] {}, std::chrono::milliseconds(10));
  io_.run_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(ready);
  serve({});
  runUntil([&] { return ready; });
  EXPECT_TRUE(ready);
  EXPECT_TRUE(management.connected());
}

TEST_F(ManagementTest, StatusAndCommandsAreQueuedInOrder) {
  serve({{"status 3",
          "TITLE\tOpenVPN 2.6.3\r\n"
          "HEADER\tCLIENT_LIST\tCommon Name\tReal Address\tVirtual Address\tVirtual IPv6 "
          "Address\tBytes Received\tBytes Sent\tConnected Since\tConnected Since (time_t)\t"
          "Username\tClient ID\tPeer ID\tData Channel Cipher\r\n"
          "CLIENT_LIST\talice\t192.0.2.50:41234\t172.16.1.66\t\t1000\t2000\t2026-11-25 "
          "12:00:00\t1795608000\tUNDEF\t3\t0\tAES-256-GCM\r\n"
          ">BYTECOUNT:1,2\r\n"
          "END\r\n"},
         {"kill alice", "SUCCESS: common name 'alice' found, 1 client(s) killed\r\n"}});
  OpenVpnManagement management(io_, path_, [](const std::string&) {});
  management.open([] {}, [] {});
  std::optional<StatusReport> report;
  std::optional<bool> killed;
  management.status([&](const StatusReport& r) { report = r; });
  management.command("kill alice", false,
                     [&](bool ok, const std::vector<std::string>&) { killed = ok; });
  runUntil([&] { return report && killed; });
  ASSERT_TRUE(report);
  ASSERT_EQ(report->clients.size(), 1u);
  EXPECT_EQ(report->clients[0].common_name, "alice");
  EXPECT_EQ(report->clients[0].bytes_sent, 2000u);
  EXPECT_EQ(killed, true);
  EXPECT_EQ(received_, (std::vector<std::string>{"status 3", "kill alice"}));
}

TEST_F(ManagementTest, ErrorRepliesAndNewlineInjection) {
  serve({});
  OpenVpnManagement management(io_, path_, [](const std::string&) {});
  management.open([] {}, [] {});
  std::optional<bool> first, second;
  std::vector<std::string> second_lines;
  management.command("bogus", false, [&](bool ok, const std::vector<std::string>&) { first = ok; });
  management.command("kill alice\nsignal SIGTERM", false,
                     [&](bool ok, const std::vector<std::string>& lines) {
                       second = ok;
                       second_lines = lines;
                     });
  runUntil([&] { return first && second; });
  EXPECT_EQ(first, false);
  EXPECT_EQ(second, false);
  EXPECT_NE(second_lines.at(0).find("line break"), std::string::npos);
  EXPECT_EQ(received_, std::vector<std::string>{"bogus"});
}

TEST_F(ManagementTest, LostConnectionFailsPendingCommands) {
  serve({});
  OpenVpnManagement management(io_, path_, [](const std::string&) {});
  bool lost = false;
  management.open([] {}, [&] { lost = true; });
  runUntil([&] { return management.connected(); });
  server_->close();
  runUntil([&] { return lost; });
  EXPECT_TRUE(lost);
  std::optional<bool> ok;
  management.command("status 3", true, [&](bool r, const std::vector<std::string>&) { ok = r; });
  EXPECT_EQ(ok, false);
}

// A server that never answers, or answers without ever ending: the connection is dropped (the
// command fails, on_lost runs) instead of the queue stalling or the reply filling memory.
TEST_F(ManagementTest, AReplyThatNeverEndsDropsTheConnection) {
  serve({{"status 3", "TITLE\tOpenVPN\r\n"}});  // no END, ever
  std::vector<std::string> log;
  OpenVpnManagement management(io_, path_, [&](const std::string& line) { log.push_back(line); });
  bool lost = false;
  management.open([] {}, [&] { lost = true; }, std::chrono::milliseconds(10),
                  std::chrono::milliseconds(200));
  std::optional<bool> ok;
  management.command("status 3", true, [&](bool r, const std::vector<std::string>&) { ok = r; });
  runUntil([&] { return lost && ok; });
  EXPECT_TRUE(lost);
  EXPECT_EQ(ok, false);
  ASSERT_FALSE(log.empty());
  EXPECT_NE(log.back().find("no complete reply to \"status 3\" within 200 ms"), std::string::npos)
      << log.back();
}

TEST(ManagementLines, AMultilineReplyIsBounded) {
  using Kind = ManagementReplies::Outcome::Kind;
  ManagementReplies replies;
  replies.feed(">INFO:banner");
  replies.sent(true);
  ManagementReplies::Outcome last;
  std::size_t fed = 0;
  do {
    last = replies.feed("CLIENT_LIST\talice");
    ++fed;
  } while (last.kind == Kind::kPartial && fed <= ManagementReplies::kMaxReplyLines + 1);
  EXPECT_EQ(last.kind, Kind::kOverflow);
  EXPECT_EQ(fed, ManagementReplies::kMaxReplyLines + 1);
  EXPECT_FALSE(replies.waiting());
  EXPECT_EQ(replies.feed("END").kind, Kind::kUnexpected);  // the rest of it is not a reply
  replies.sent(true);                                      // the next command starts clean
  const std::string wide(1 << 20, 'x');
  for (fed = 0; (last = replies.feed(wide)).kind == Kind::kPartial; ++fed) {
  }
  EXPECT_EQ(last.kind, Kind::kOverflow);
  EXPECT_EQ(fed, ManagementReplies::kMaxReplyBytes / (wide.size() + 1));
}

// A dropped connection fails what was queued, refuses commands meanwhile, and comes back by
// itself once the interface answers again (on_ready runs again).
TEST_F(ManagementTest, ReconnectsAfterTheConnectionDrops) {
  serve({{"status", "SUCCESS: fine\r\n"}});
  OpenVpnManagement management(io_, path_, [](const std::string&) {});
  int ready = 0;
  bool lost = false;
  management.open([&] { ++ready; }, [&] { lost = true; });
  runUntil([&] { return ready == 1; });
  acceptor_->async_accept([this](const boost::system::error_code& ec, Protocol::socket s) {
    if (ec) return;
    server_.emplace(std::move(s));
    asio::write(*server_, asio::buffer(std::string(">INFO:again\r\n")));
    readCommand({{"status", "SUCCESS: fine\r\n"}});
  });
  server_->close();
  runUntil([&] { return lost; });
  ASSERT_TRUE(lost);
  EXPECT_FALSE(management.connected());
  std::optional<bool> refused;
  management.command("status", false,
                     [&](bool ok, const std::vector<std::string>&) { refused = ok; });
  EXPECT_EQ(refused, false);
  runUntil([&] { return ready == 2; });
  EXPECT_EQ(ready, 2);
  EXPECT_TRUE(management.connected());
  std::optional<bool> ok;
  management.command("status", false, [&](bool r, const std::vector<std::string>&) { ok = r; });
  runUntil([&] { return ok.has_value(); });
  EXPECT_EQ(ok, true);
}

// The pure line handling OpenVpnManagement runs (and the fuzzer drives).
TEST(ManagementLines, TakeLineStripsTheLineEnd) {
  std::string buffer = "one\r\ntwo\nthree\r\r\npartial";
  EXPECT_EQ(takeManagementLine(buffer), "one");
  EXPECT_EQ(takeManagementLine(buffer), "two");
  EXPECT_EQ(takeManagementLine(buffer), "three\r");  // only the last \r is the line end
  EXPECT_EQ(takeManagementLine(buffer), std::nullopt);
  EXPECT_EQ(buffer, "partial");
  buffer += "\n";
  EXPECT_EQ(takeManagementLine(buffer), "partial");
  EXPECT_TRUE(buffer.empty());
}

TEST(ManagementLines, ReadyOnlyAfterTheFirstInfoBanner) {
  using Kind = ManagementReplies::Outcome::Kind;
  ManagementReplies replies;
  EXPECT_EQ(replies.feed(">HOLD:Waiting for hold release:0").kind, Kind::kNotification);
  EXPECT_EQ(replies.feed("SUCCESS: early").kind, Kind::kUnexpected);
  EXPECT_FALSE(replies.ready());
  EXPECT_EQ(replies.feed(">INFO:OpenVPN Management Interface Version 5").kind, Kind::kReady);
  EXPECT_TRUE(replies.ready());
  EXPECT_EQ(replies.feed(">INFO:again").kind, Kind::kNotification);
  EXPECT_EQ(replies.feed("END").kind, Kind::kUnexpected);  // nothing in flight
}

TEST(ManagementLines, NotificationsNeverJoinAReply) {
  using Kind = ManagementReplies::Outcome::Kind;
  ManagementReplies replies;
  replies.feed(">INFO:banner");
  replies.sent(true);
  EXPECT_EQ(replies.feed("TITLE\tOpenVPN").kind, Kind::kPartial);
  EXPECT_EQ(replies.feed(">CLIENT:CONNECT,0,1").kind, Kind::kNotification);
  EXPECT_EQ(replies.feed(">CLIENT:ENV,END").kind, Kind::kNotification);
  EXPECT_EQ(replies.feed("ERROR: not first, so data").kind, Kind::kPartial);
  auto done = replies.feed("END");
  EXPECT_EQ(done.kind, Kind::kReply);
  EXPECT_TRUE(done.ok);
  EXPECT_EQ(done.lines, (std::vector<std::string>{"TITLE\tOpenVPN", "ERROR: not first, so data"}));
  EXPECT_FALSE(replies.waiting());
}

TEST(ManagementLines, OneLineRepliesAndErrors) {
  using Kind = ManagementReplies::Outcome::Kind;
  ManagementReplies replies;
  replies.feed(">INFO:banner");
  replies.sent(false);
  EXPECT_TRUE(replies.waiting());
  auto killed = replies.feed("SUCCESS: common name 'alice' found, 1 client(s) killed");
  EXPECT_EQ(killed.kind, Kind::kReply);
  EXPECT_TRUE(killed.ok);
  ASSERT_EQ(killed.lines.size(), 1u);
  replies.sent(false);
  auto odd = replies.feed("neither");  // one line all the same: not a success
  EXPECT_EQ(odd.kind, Kind::kReply);
  EXPECT_FALSE(odd.ok);
  replies.sent(true);
  auto error = replies.feed("ERROR: unknown command");
  EXPECT_EQ(error.kind, Kind::kReply);
  EXPECT_FALSE(error.ok);
  EXPECT_EQ(error.lines, std::vector<std::string>{"ERROR: unknown command"});
}

// What the control socket lets through to OpenVPN (the "openvpn" command).
TEST(ManagementCommandFilter, AllowsOnlyReadingAndDisconnecting) {
  for (const char* ok :
       {"status", "status 3", "kill alice", "kill shared_public", "client-kill 17"}) {
    EXPECT_TRUE(allowedManagementCommand(ok)) << ok;
  }
  for (const char* bad : {"signal SIGTERM", "kill", "kill a b", "kill a;b", "client-kill x",
                          "status 3\nsignal SIGTERM", "hold release", "", "kill 192.0.2.1:1194"}) {
    EXPECT_FALSE(allowedManagementCommand(bad)) << bad;
  }
}

}  // namespace
}  // namespace meshbroker::backends
