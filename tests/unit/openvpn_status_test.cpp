// Management-interface output: real "status 3" replies parse; every bad line is reported with
// its number and skipped, never a crash.
#include "backends/openvpn_status.hpp"

#include <gtest/gtest.h>

namespace meshbroker::backends {
namespace {

const char* kStatus =
    ">INFO:OpenVPN Management Interface Version 5 -- type 'help' for more info\r\n"
    "TITLE\tOpenVPN 2.6.14 x86_64-pc-linux-gnu [SSL (OpenSSL)]\r\n"
    "TIME\t2026-11-25 13:30:11\t1795613411\r\n"
    "HEADER\tCLIENT_LIST\tCommon Name\tReal Address\tVirtual Address\tVirtual IPv6 Address\t"
    "Bytes Received\tBytes Sent\tConnected Since\tConnected Since (time_t)\tUsername\t"
    "Client ID\tPeer ID\tData Channel Cipher\r\n"
    "CLIENT_LIST\tbob\t192.0.2.102:45079\t172.16.1.98\t\t2460\t2412\t2026-11-25 13:30:09\t"
    "1795613409\tUNDEF\t3\t0\tAES-256-GCM\r\n"
    "CLIENT_LIST\tshared_public\t[2001:db8::5]:1194\t\t\t0\t0\t2026-11-25 13:30:10\t"
    "1795613410\tUNDEF\t4\t1\tAES-256-GCM\r\n"
    "HEADER\tROUTING_TABLE\tVirtual Address\tCommon Name\tReal Address\tLast Ref\t"
    "Last Ref (time_t)\r\n"
    "ROUTING_TABLE\t172.16.1.98\tbob\t192.0.2.102:45079\t2026-11-25 13:30:10\t1795613410\r\n"
    "GLOBAL_STATS\tMax bcast/mcast queue length\t0\r\n"
    "END\r\n";

TEST(OpenVpnStatus, ParsesStatus3) {
  auto report = parseStatus(kStatus);
  EXPECT_TRUE(report.complete);
  EXPECT_TRUE(report.problems.empty()) << report.problems[0].str();
  ASSERT_EQ(report.clients.size(), 2u);
  const auto& bob = report.clients[0];
  EXPECT_EQ(bob.common_name, "bob");
  EXPECT_EQ(bob.real_address, "192.0.2.102:45079");
  EXPECT_EQ(bob.virtual_address, "172.16.1.98");
  EXPECT_EQ(bob.bytes_received, 2460u);
  EXPECT_EQ(bob.bytes_sent, 2412u);
  EXPECT_EQ(bob.connected_since, 1795613409);
  EXPECT_EQ(bob.client_id, std::optional<std::uint64_t>(3));
  EXPECT_EQ(report.clients[1].virtual_address, "");
}

TEST(OpenVpnStatus, ColumnsFollowTheHeader) {
  auto report = parseStatus(
      "HEADER\tCLIENT_LIST\tCommon Name\tBytes Sent\tReal Address\tVirtual Address\t"
      "Bytes Received\tX\n"
      "CLIENT_LIST\tann\t7\t192.0.2.1:5\t172.16.1.66\t9\tx\nEND\n");
  ASSERT_EQ(report.clients.size(), 1u) << report.problems[0].str();
  EXPECT_EQ(report.clients[0].bytes_sent, 7u);
  EXPECT_EQ(report.clients[0].bytes_received, 9u);
}

TEST(OpenVpnStatus, GarbageIsReportedAndSkipped) {
  std::string text =
      "hello world\n"
      "CLIENT_LIST\tbob\n"
      "CLIENT_LIST\tbob\tnot-an-address\t172.16.1.98\t\t1\t2\tx\t1\tUNDEF\t1\t0\tc\n"
      "CLIENT_LIST\tbob\t192.0.2.1:99999\t172.16.1.98\t\t1\t2\tx\t1\tUNDEF\t1\t0\tc\n"
      "CLIENT_LIST\tbob\t192.0.2.1:5\t172.16.1.300\t\t1\t2\tx\t1\tUNDEF\t1\t0\tc\n"
      "CLIENT_LIST\tbob\t192.0.2.1:5\t172.16.1.98\t\t-1\t2\tx\t1\tUNDEF\t1\t0\tc\n"
      "CLIENT_LIST\tbob\t192.0.2.1:5\t172.16.1.98\t\t99999999999999999999999\t2\tx\t1\tU\t1\t0\tc\n"
      "CLIENT_LIST\tb\x01ob\t192.0.2.1:5\t172.16.1.98\t\t1\t2\tx\t1\tUNDEF\t1\t0\tc\n"
      "ERROR: unknown command\n"
      "CLIENT_LIST\tok\t192.0.2.1:5\t172.16.1.98\t\t1\t2\tx\t1\tUNDEF\t1\t0\tc\n"
      "END\n"
      "CLIENT_LIST\tlate\t192.0.2.1:5\t172.16.1.98\t\t1\t2\tx\t1\tUNDEF\t1\t0\tc\n";
  auto report = parseStatus(text);
  ASSERT_EQ(report.clients.size(), 1u);
  EXPECT_EQ(report.clients[0].common_name, "ok");
  ASSERT_EQ(report.problems.size(), 10u);
  EXPECT_EQ(report.problems[0].line, 1u);
  EXPECT_NE(report.problems[0].why.find("not a status 3 record"), std::string::npos);
  EXPECT_NE(report.problems[1].why.find("1 fields"), std::string::npos);
  EXPECT_NE(report.problems[2].why.find("bad real address \"not-an-address\""), std::string::npos);
  EXPECT_NE(report.problems[3].why.find("bad real address"), std::string::npos);
  EXPECT_NE(report.problems[4].why.find("bad virtual address"), std::string::npos);
  EXPECT_NE(report.problems[5].why.find("not a number"), std::string::npos);
  EXPECT_NE(report.problems[6].why.find("not a number"), std::string::npos);
  EXPECT_NE(report.problems[7].why.find("control character"), std::string::npos);
  EXPECT_NE(report.problems[7].str().find("b\\x01ob"), std::string::npos);
  EXPECT_NE(report.problems[8].why.find("error"), std::string::npos);
  EXPECT_EQ(report.problems[9].line, 12u);
  EXPECT_NE(report.problems[9].why.find("after END"), std::string::npos);
  for (const auto& problem : report.problems) {
    EXPECT_EQ(problem.str().find('\n'), std::string::npos);
  }
}

TEST(OpenVpnStatus, HugeAndBinaryInputStaysBounded) {
  std::string huge(100000, 'A');
  auto report = parseStatus(huge + "\n" + std::string("\0\xff\n", 3));
  ASSERT_EQ(report.problems.size(), 2u);
  EXPECT_LT(report.problems[0].text.size(), 200u);
  std::string flood;
  for (int i = 0; i < 5000; ++i) flood += "junk\n";
  EXPECT_EQ(parseStatus(flood).problems.size(), 1000u);
}

TEST(OpenVpnStatus, CommandReplies) {
  std::string message;
  EXPECT_EQ(parseCommandReply("SUCCESS: common name 'bob' found, 1 client(s) killed\r", &message),
            std::optional<bool>(true));
  EXPECT_EQ(message, "common name 'bob' found, 1 client(s) killed");
  EXPECT_EQ(parseCommandReply("ERROR: common name 'x' not found", &message),
            std::optional<bool>(false));
  EXPECT_EQ(message, "common name 'x' not found");
  EXPECT_FALSE(parseCommandReply(">INFO:hello", &message));
  EXPECT_EQ(escapeForMessage("a\tb\x01\"", 100), "a\\tb\\x01\\\"");
}

}  // namespace
}  // namespace meshbroker::backends
