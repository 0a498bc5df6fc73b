// Monthly quotas (issue 21): who is over, until when (pure), and what the keeper does about it
// (client-config-dir files, blocked addresses, sessions to end), in a temporary state folder.
#include "supervisor/quota.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <optional>
#include <sstream>

#include "supervisor/quota_keeper.hpp"
#include "supervisor/usage_ledger.hpp"
#include "unit/test_support.hpp"

namespace meshbroker::supervisor {
namespace {

using model::ConnectedClient;
using model::UserUsage;
namespace fs = std::filesystem;

constexpr std::int64_t kDec5 = 1796428800;  // 2026-12-05 00:00:00 UTC
constexpr std::int64_t kJan1 = 1798761600;  // 2027-01-01 00:00:00 UTC

config::NodeConfig chipWithQuotas(const fs::path& state_dir) {
  auto json = meshbroker::testing::example("chip");
  json["paths"]["state_dir"] = state_dir.string();
  for (auto& instance : json["openvpn"]) instance["quota"] = "1MB";
  auto result = meshbroker::testing::parseAs("chip", json.dump());
  if (!result.config) throw std::runtime_error(meshbroker::testing::describe(result.diagnostics));
  return *result.config;
}

UserUsage usage(std::string instance, std::string user, std::uint64_t in, std::uint64_t out,
                std::string month = "2026-12") {
  UserUsage u;
  u.instance = std::move(instance);
  u.user = std::move(user);
  u.month = std::move(month);
  u.this_month.bytes_received = in;
  u.this_month.bytes_sent = out;
  u.total = u.this_month;
  return u;
}

ConnectedClient client(std::string name, std::string from, std::uint64_t id) {
  ConnectedClient c;
  c.common_name = std::move(name);
  c.real_address = std::move(from);
  c.client_id = id;
  return c;
}

TEST(Quota, NextMonthStartIsUtcAndWrapsTheYear) {
  EXPECT_EQ(nextMonthStart(kDec5), kJan1);
  EXPECT_EQ(nextMonthStart(kJan1 - 1), kJan1);
  EXPECT_EQ(nextMonthStart(kJan1), kJan1 + 31 * 86400);  // 2027-02-01
}

TEST(Quota, OverIsBothDirectionsThisMonthNeverOther) {
  auto node = chipWithQuotas("/nonexistent");
  auto blocks = overQuota(
      node,
      {usage("private", "alice", 600'000, 400'000),         // exactly 1 MB: over
       usage("private", "bob", 500'000, 400'000),           // under
       usage("private", "carol", 5'000'000, 0, "2026-11"),  // last month
       usage("public", "192.0.2.50", 0, 2'000'000),
       usage("public", UsageLedger::kOther, 9'000'000, 0), usage("gone", "dave", 9'000'000, 0)},
      kDec5 + 3600);
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks[0].instance, "private");
  EXPECT_EQ(blocks[0].user, "alice");
  EXPECT_FALSE(blocks[0].by_address);
  EXPECT_EQ(blocks[0].used, 1'000'000u);
  EXPECT_EQ(blocks[0].quota, 1'000'000u);
  EXPECT_EQ(blocks[0].until_s, kJan1);
  EXPECT_EQ(blocks[1].instance, "public");
  EXPECT_EQ(blocks[1].user, "192.0.2.50");
  EXPECT_TRUE(blocks[1].by_address);
  // An instance without a quota blocks nobody.
  auto plain = meshbroker::testing::example("chip");
  auto result = meshbroker::testing::parseAs("chip", plain.dump());
  ASSERT_TRUE(result.config);
  EXPECT_TRUE(
      overQuota(*result.config, {usage("private", "alice", 9'000'000'000, 0)}, kDec5).empty());
}

TEST(Quota, CcdNamesThatCannotEscapeTheFolder) {
  for (const char* ok : {"alice", "bob.smith", "a-b_c@example.org", "X1"}) {
    EXPECT_TRUE(ccdSafeName(ok)) << ok;
  }
  for (const char* bad :
       {"", ".", "..", ".hidden", "../etc/passwd", "a/b", "a b", "a\nb", "a\\b", "caf\xc3\xa9"}) {
    EXPECT_FALSE(ccdSafeName(bad)) << bad;
  }
  EXPECT_FALSE(ccdSafeName(std::string(65, 'a')));
}

class QuotaKeeperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("quota_keeper_test." + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    node_.emplace(chipWithQuotas(dir_));
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string read(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  fs::path dir_;
  std::optional<config::NodeConfig> node_;
};

TEST_F(QuotaKeeperTest, PrivateUsersGetADisableFilePublicAddressesGoToTheFirewall) {
  std::vector<std::map<std::string, std::vector<std::string>>> installed;
  std::vector<std::string> events;
  QuotaKeeper keeper(
      *node_,
      [&](const std::map<std::string, std::vector<std::string>>& blocked) {
        installed.push_back(blocked);
      },
      {[&](std::string source, std::string what) { events.push_back(source + ": " + what); },
       [] {}});
  const auto ccd = QuotaKeeper::ccdDir(*node_, "private");
  std::vector<UserUsage> users = {usage("private", "alice", 2'000'000, 0),
                                  usage("private", "bob", 1000, 0),
                                  usage("public", "192.0.2.50", 2'000'000, 0)};
  auto end = keeper.afterPoll(
      "private", false, {client("alice", "192.0.2.7:1194", 3), client("bob", "192.0.2.8:1194", 4)},
      users, kDec5);
  ASSERT_EQ(end.size(), 1u);
  EXPECT_EQ(end[0].common_name, "alice");
  EXPECT_NE(read(ccd / "alice").find("\ndisable\n"), std::string::npos);
  EXPECT_FALSE(fs::exists(ccd / "bob"));
  ASSERT_EQ(installed.size(), 1u);
  EXPECT_EQ(installed[0].at("public"), std::vector<std::string>{"192.0.2.50"});
  ASSERT_EQ(events.size(), 2u);
  EXPECT_NE(events[0].find("alice is over the monthly quota (2.00 MB of 1.00 MB)"),
            std::string::npos)
      << events[0];
  EXPECT_NE(events[0].find("refused until 2027-01-01 00:00 UTC"), std::string::npos) << events[0];

  // The public instance's sessions from the blocked address are ended, whatever their name.
  end = keeper.afterPoll("public", true,
                         {client("shared_public", "192.0.2.50:5000", 9),
                          client("shared_public", "192.0.2.51:5000", 10)},
                         users, kDec5 + 5);
  ASSERT_EQ(end.size(), 1u);
  EXPECT_EQ(end[0].client_id, 9u);
  EXPECT_EQ(installed.size(), 1u);  // unchanged: not installed again

  // Alice tries again after the block: OpenVPN refuses her itself (the client gets AUTH_FAILED
  // and stops); ending that session as well would only tell her client to retry.
  auto again = client("alice", "192.0.2.7:1195", 11);
  again.connected_since = kDec5 + 10;
  EXPECT_TRUE(keeper.afterPoll("private", false, {again}, users, kDec5 + 12).empty());

  // A new month: everyone may connect again; the file goes, the firewall set empties.
  keeper.apply(users, kJan1 + 60);
  EXPECT_FALSE(fs::exists(ccd / "alice"));
  ASSERT_EQ(installed.size(), 2u);
  EXPECT_TRUE(installed[1].empty());
  EXPECT_TRUE(keeper.blocks().empty());
}

TEST_F(QuotaKeeperTest, LeftoversAndUnsafeNamesNeverBecomeFiles) {
  QuotaKeeper keeper(*node_, nullptr, {nullptr, nullptr});
  const auto ccd = QuotaKeeper::ccdDir(*node_, "private");
  fs::create_directories(ccd);
  std::ofstream(ccd / "carol") << "disable\n";  // blocked last month, meshbroker was down since
  std::ofstream(ccd / ".x.new") << "half";
  keeper.apply({usage("private", "../escape", 5'000'000, 0)}, kDec5);
  EXPECT_FALSE(fs::exists(ccd / "carol"));
  EXPECT_FALSE(fs::exists(ccd / ".x.new"));
  EXPECT_FALSE(fs::exists(ccd.parent_path() / "escape"));
  EXPECT_EQ(keeper.blocks().size(), 1u);  // still blocked: ended at every poll
  auto end = keeper.afterPoll("private", false, {client("../escape", "192.0.2.9:1", 1)},
                              {usage("private", "../escape", 5'000'000, 0)}, kDec5 + 5);
  EXPECT_EQ(end.size(), 1u);
}

}  // namespace
}  // namespace meshbroker::supervisor
