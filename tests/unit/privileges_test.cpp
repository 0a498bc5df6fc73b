// Whether the users tincd and openvpn drop root to can reach what they read afterwards.
#include "backends/privileges.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace meshbroker::backends {
namespace {

namespace fs = std::filesystem;

const SystemUser kTinc{"meshbroker-tinc", 901, 902, {902, 903}};

TEST(Permits, OwnerGroupAndOthersAreDecidedInThatOrderOnly) {
  EXPECT_TRUE(permits({901, 0, 0700}, kTinc, 7));
  EXPECT_FALSE(permits({901, 902, 0070}, kTinc, 4));  // the owner's bits decide, not the group's
  EXPECT_TRUE(permits({0, 903, 0710}, kTinc, 1));     // a supplementary group counts
  EXPECT_FALSE(permits({0, 903, 0710}, kTinc, 4));
  EXPECT_FALSE(permits({0, 0, 0750}, kTinc, 1));
  EXPECT_TRUE(permits({0, 0, 0711}, kTinc, 1));
  EXPECT_FALSE(permits({0, 0, 0711}, kTinc, 5));
  EXPECT_TRUE(permits({0, 0, 0}, SystemUser{"root", 0, 0, {0}}, 7));
}

class WhyUnreachableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mb-priv-" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "a" / "b");
    std::ofstream(dir_ / "a" / "b" / "file") << "x";
    ::chmod(dir_.c_str(), 0711);
    ::chmod((dir_ / "a").c_str(), 0755);
    ::chmod((dir_ / "a" / "b").c_str(), 0755);
    ::chmod((dir_ / "a" / "b" / "file").c_str(), 0644);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
  // Someone who owns nothing here and is in no group of these files.
  SystemUser stranger_{"stranger", 54321, 54321, {54321}};
};

TEST_F(WhyUnreachableTest, ReachableThroughSearchableFolders) {
  EXPECT_EQ(whyUnreachable(dir_ / "a" / "b" / "file", stranger_, Access::kRead), "");
  EXPECT_EQ(whyUnreachable(dir_ / "a" / "b", stranger_, Access::kExecute), "");
  EXPECT_EQ(whyUnreachable(dir_, stranger_, Access::kSearch), "");
}

TEST_F(WhyUnreachableTest, AClosedFolderAboveIsNamedWithItsMode) {
  ::chmod((dir_ / "a").c_str(), 0700);
  auto why = whyUnreachable(dir_ / "a" / "b" / "file", stranger_, Access::kRead);
  EXPECT_NE(why.find("stranger cannot enter " + (dir_ / "a").string() + " (mode 0700"),
            std::string::npos)
      << why;
}

TEST_F(WhyUnreachableTest, AFileItMayNotReadOrRunIsNamed) {
  ::chmod((dir_ / "a" / "b" / "file").c_str(), 0640);
  EXPECT_NE(whyUnreachable(dir_ / "a" / "b" / "file", stranger_, Access::kRead)
                .find("stranger cannot read"),
            std::string::npos);
  ::chmod((dir_ / "a" / "b" / "file").c_str(), 0644);
  EXPECT_NE(whyUnreachable(dir_ / "a" / "b" / "file", stranger_, Access::kExecute)
                .find("stranger cannot run"),
            std::string::npos);
}

TEST_F(WhyUnreachableTest, SymlinksAreFollowedToWhereTheyLead) {
  fs::create_directories(dir_ / "closed");
  ::chmod((dir_ / "closed").c_str(), 0700);
  std::ofstream(dir_ / "closed" / "secret") << "x";
  fs::create_symlink(dir_ / "closed" / "secret", dir_ / "a" / "link");
  auto why = whyUnreachable(dir_ / "a" / "link", stranger_, Access::kRead);
  EXPECT_NE(why.find("cannot enter " + (dir_ / "closed").string()), std::string::npos) << why;
}

TEST_F(WhyUnreachableTest, AMissingPathSaysSo) {
  auto why = whyUnreachable(dir_ / "nothing", stranger_, Access::kRead);
  EXPECT_NE(why.find("No such file"), std::string::npos) << why;
}

TEST(FindSystemUser, RootExistsAndAMadeUpNameDoesNot) {
  auto root = findSystemUser("root");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->uid, 0u);
  EXPECT_FALSE(findSystemUser("mb-no-such-user-xyz"));
}

// A router's /etc/passwd and /etc/group, read without NSS (what a static binary on OpenWrt
// has): the user, its primary group and the groups that list it; garbage lines are skipped.
TEST(FindSystemUser, FromThePasswdAndGroupFilesThemselves) {
  const auto dir = fs::path(::testing::TempDir()) / "mb-passwd-files";
  fs::create_directories(dir);
  std::ofstream(dir / "passwd") << "root:x:0:0:root:/root:/bin/ash\n"
                                   "this line is not a passwd entry\n"
                                   "network:x:101:101:network:/var:/bin/false\n"
                                   "meshbroker-tinc:x:372:372:tinc:/var:/bin/false\n";
  std::ofstream(dir / "group") << "root:x:0:\nmeshbroker-tinc:x:372:\ngarbage\n"
                                  "netdev:x:500:network,meshbroker-tinc\nother:x:501:network\n";
  auto user = findSystemUserInFiles("meshbroker-tinc", dir / "passwd", dir / "group");
  ASSERT_TRUE(user);
  EXPECT_EQ(user->uid, 372u);
  EXPECT_EQ(user->gid, 372u);
  EXPECT_EQ(user->groups, (std::vector<gid_t>{372, 500}));
  EXPECT_FALSE(findSystemUserInFiles("nobody", dir / "passwd", dir / "group"));
  EXPECT_FALSE(findSystemUserInFiles("root", dir / "missing", dir / "group"));
  auto without_groups = findSystemUserInFiles("network", dir / "passwd", dir / "missing");
  ASSERT_TRUE(without_groups);
  EXPECT_EQ(without_groups->groups, std::vector<gid_t>{101});
  fs::remove_all(dir);
}

}  // namespace
}  // namespace meshbroker::backends
