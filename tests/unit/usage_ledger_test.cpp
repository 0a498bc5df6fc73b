// The usage ledger (issue 21): per-user figures from status polls, across reconnects, daemon
// restarts (its JSON), month ends and the cardinality cap; garbage files refused.
#include "supervisor/usage_ledger.hpp"

#include <gtest/gtest.h>

namespace meshbroker::supervisor {
namespace {

using model::ConnectedClient;
using nlohmann::json;

constexpr std::int64_t kDec5 = 1796428800;  // 2026-12-05 00:00:00 UTC

ConnectedClient session(std::string name, std::uint64_t id, std::uint64_t in, std::uint64_t out,
                        std::int64_t since, std::string from = "192.0.2.50:41234") {
  ConnectedClient c;
  c.common_name = std::move(name);
  c.real_address = std::move(from);
  c.bytes_received = in;
  c.bytes_sent = out;
  c.connected_since = since;
  c.client_id = id;
  return c;
}

const model::UserUsage& user(const std::vector<model::UserUsage>& all, const std::string& name) {
  for (const auto& u : all) {
    if (u.user == name) return u;
  }
  throw std::runtime_error("no user " + name);
}

TEST(UsageLedger, CountsDeltasAndTimeAcrossPollsAndReconnects) {
  UsageLedger ledger;
  const auto t0 = kDec5 + 100;
  EXPECT_TRUE(ledger.observe("private", false, {session("alice", 1, 1000, 5000, t0)}, t0 + 10));
  EXPECT_TRUE(ledger.observe("private", false, {session("alice", 1, 1500, 9000, t0)}, t0 + 15));
  auto u = user(ledger.users(), "alice");
  EXPECT_EQ(u.total.bytes_received, 1500u);
  EXPECT_EQ(u.total.bytes_sent, 9000u);
  EXPECT_EQ(u.total.connected_s, 15);
  EXPECT_EQ(u.total.sessions, 1u);
  EXPECT_TRUE(u.connected);
  // The session ends; she reconnects (new CID, new connected_since): her figures go on.
  EXPECT_TRUE(ledger.observe("private", false, {}, t0 + 20));
  EXPECT_FALSE(user(ledger.users(), "alice").connected);
  ledger.observe("private", false, {session("alice", 7, 200, 300, t0 + 30)}, t0 + 32);
  u = user(ledger.users(), "alice");
  EXPECT_EQ(u.total.bytes_received, 1700u);
  EXPECT_EQ(u.total.bytes_sent, 9300u);
  EXPECT_EQ(u.total.connected_s, 17);
  EXPECT_EQ(u.total.sessions, 2u);
  EXPECT_EQ(u.month, "2026-12");
  EXPECT_EQ(u.this_month, u.total);
  EXPECT_EQ(u.last_seen_s, t0 + 32);
}

TEST(UsageLedger, SharedCertificateCountsPerSourceAddress) {
  UsageLedger ledger;
  const auto t = kDec5;
  ledger.observe("public", true,
                 {session("shared", 1, 10, 20, t, "192.0.2.7:5000"),
                  session("shared", 2, 1, 2, t, "2001:db8::8"),
                  session("shared", 3, 3, 4, t, "[2001:db8::5]:1194")},
                 t + 1);
  auto all = ledger.users();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(user(all, "192.0.2.7").total.bytes_received, 10u);
  EXPECT_EQ(user(all, "2001:db8::8").total.bytes_sent, 2u);
  EXPECT_EQ(user(all, "2001:db8::5").total.bytes_sent, 4u);
  EXPECT_EQ(UsageLedger::userOf(false, session("bob", 1, 0, 0, t)), "bob");
}

TEST(UsageLedger, ARestartedOpenvpnsSmallerCountersAreCountedWhole) {
  UsageLedger ledger;
  ledger.observe("private", false, {session("alice", 1, 1000, 1000, kDec5)}, kDec5 + 5);
  // Same key (CID, since, address) but the counters went back: a new process reusing them.
  ledger.observe("private", false, {session("alice", 1, 100, 50, kDec5)}, kDec5 + 10);
  auto u = user(ledger.users(), "alice");
  EXPECT_EQ(u.total.bytes_received, 1100u);
  EXPECT_EQ(u.total.bytes_sent, 1050u);
}

TEST(UsageLedger, MonthEndStartsANewMonthButKeepsTheTotal) {
  UsageLedger ledger;
  const std::int64_t dec31 = 1798761540;  // 2026-12-31 23:59:00 UTC
  ASSERT_EQ(UsageLedger::monthOf(dec31), "2026-12");
  ASSERT_EQ(UsageLedger::monthOf(dec31 + 60), "2027-01");
  ledger.observe("private", false, {session("alice", 1, 100, 100, dec31)}, dec31 + 30);
  ledger.observe("private", false, {session("alice", 1, 150, 170, dec31)}, dec31 + 90);
  auto u = user(ledger.users(), "alice");
  EXPECT_EQ(u.month, "2027-01");
  EXPECT_EQ(u.this_month.bytes_received, 50u);
  EXPECT_EQ(u.this_month.bytes_sent, 70u);
  EXPECT_EQ(u.this_month.connected_s, 60);
  EXPECT_EQ(u.total.bytes_received, 150u);
}

TEST(UsageLedger, UsersPastTheCapShareOther) {
  UsageLedger ledger(2);
  std::vector<ConnectedClient> clients;
  for (int i = 0; i < 5; ++i) {
    clients.push_back(session("user" + std::to_string(i), i, 10, 10, kDec5));
  }
  ledger.observe("private", false, clients, kDec5 + 1);
  auto all = ledger.users();
  ASSERT_EQ(all.size(), 3u);  // user0, user1, other
  EXPECT_EQ(ledger.userCount(), 2u);
  EXPECT_EQ(user(all, "other").total.bytes_received, 30u);
  EXPECT_EQ(user(all, "other").total.sessions, 3u);
  // A user already counted keeps their own line; a new one still goes to other.
  ledger.observe("private", false,
                 {session("user0", 9, 5, 5, kDec5 + 2), session("zed", 10, 1, 1, kDec5)},
                 kDec5 + 3);
  all = ledger.users();
  EXPECT_EQ(user(all, "user0").total.bytes_received, 15u);
  EXPECT_EQ(user(all, "other").total.bytes_received, 31u);
}

TEST(UsageLedger, SurvivesARestartThroughItsJsonWithoutCountingTwice) {
  UsageLedger before;
  before.observe("private", false, {session("alice", 1, 1000, 2000, kDec5)}, kDec5 + 10);
  std::string error;
  auto after = UsageLedger::fromJson(json::parse(before.toJson().dump()), 500, &error);
  ASSERT_TRUE(after) << error;
  auto expected = before.users();
  for (auto& u : expected) u.connected = false;  // a live flag: not kept across restarts
  EXPECT_EQ(after->users(), expected);
  // The same session, still open after the restart: only what it moved since counts.
  after->observe("private", false, {session("alice", 1, 1200, 2100, kDec5)}, kDec5 + 20);
  auto u = user(after->users(), "alice");
  EXPECT_EQ(u.total.bytes_received, 1200u);
  EXPECT_EQ(u.total.bytes_sent, 2100u);
  EXPECT_EQ(u.total.connected_s, 20);
  EXPECT_EQ(u.total.sessions, 1u);
}

TEST(UsageLedger, GarbageIsRefusedWithWhere) {
  UsageLedger ledger;
  ledger.observe("private", false, {session("alice", 1, 1, 1, kDec5)}, kDec5 + 1);
  const auto good = ledger.toJson();
  std::string error;
  EXPECT_TRUE(UsageLedger::fromJson(good, 500, &error)) << error;
  auto bad = good;
  bad["version"] = 2;
  EXPECT_FALSE(UsageLedger::fromJson(bad, 500, &error));
  EXPECT_EQ(error, "/version: is not 1");
  bad = good;
  bad["users"][0]["total"]["bytes_sent"] = -5;
  EXPECT_FALSE(UsageLedger::fromJson(bad, 500, &error));
  EXPECT_EQ(error, "/users/0/total/bytes_sent: is not a number >= 0");
  bad = good;
  bad["users"][0].erase("month");
  EXPECT_FALSE(UsageLedger::fromJson(bad, 500, &error));
  EXPECT_EQ(error, "/users/0/month: is missing");
  bad = good;
  bad["users"].push_back(good["users"][0]);
  EXPECT_FALSE(UsageLedger::fromJson(bad, 500, &error));
  EXPECT_NE(error.find("twice"), std::string::npos) << error;
  bad = good;
  bad["sessions"][0]["user"] = "mallory";
  EXPECT_FALSE(UsageLedger::fromJson(bad, 500, &error));
  EXPECT_NE(error.find("names no user"), std::string::npos) << error;
  EXPECT_FALSE(UsageLedger::fromJson(json::array(), 500, &error));
  EXPECT_FALSE(UsageLedger::fromJson(
      json{{"version", 1}, {"users", 3}, {"sessions", json::array()}}, 500, &error));
}

}  // namespace
}  // namespace meshbroker::supervisor
