// The push nudge (network/nudge): its one datagram, read strictly (anything on the mesh can send
// one), and how a node follows nudges: a pull now, a few more while its servers catch up, never
// more than NudgeFollow::kPulls for one nudge, however forged.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "network/nudge.hpp"

namespace meshbroker::network {
namespace {

TEST(Nudge, TheDatagramRoundTrips) {
  const Nudge nudge{"seed", 42};
  EXPECT_EQ(nudgeText(nudge), "meshbroker-nudge/1 seed 42\n");
  EXPECT_EQ(parseNudge(nudgeText(nudge)), nudge);
  EXPECT_EQ(parseNudge("meshbroker-nudge/1 seed 42"), nudge);  // without the newline
  EXPECT_EQ(parseNudge("meshbroker-nudge/1 seed 9007199254740992"),
            (Nudge{"seed", 9007199254740992ull}));
}

TEST(Nudge, AnythingElseIsNoNudge) {
  const std::vector<std::string> bad_ones = {
      "",
      "meshbroker-nudge/1 ",
      "meshbroker-nudge/1 seed",
      "meshbroker-nudge/1 seed ",
      "meshbroker-nudge/2 seed 42",
      "MESHBROKER-NUDGE/1 seed 42",
      "meshbroker-nudge/1  seed 42",
      "meshbroker-nudge/1 seed 042",
      "meshbroker-nudge/1 seed 0",
      "meshbroker-nudge/1 seed -1",
      "meshbroker-nudge/1 seed +1",
      "meshbroker-nudge/1 seed 4 2",
      "meshbroker-nudge/1 seed 42\n\n",
      "meshbroker-nudge/1 seed 42\r\n",
      "meshbroker-nudge/1 seed 9007199254740993",  // past 2^53
      "meshbroker-nudge/1 seed 99999999999999999999",
      "meshbroker-nudge/1 se-ed 42",
      "meshbroker-nudge/1 se\001ed 42",
      std::string("meshbroker-nudge/1 seed 42\0", 27),
      "meshbroker-nudge/1 " + std::string(65, 'a') + " 42",
      "meshbroker-nudge/1 seed 42" + std::string(200, ' '),
  };
  for (const auto& bad : bad_ones) {
    EXPECT_FALSE(parseNudge(bad)) << "'" << bad << "'";
  }
}

TEST(NudgeFollow, PullsNowThenUntilTheServersCatchUp) {
  NudgeFollow follow;
  EXPECT_FALSE(follow.nudge(3, 3));  // not newer than what it holds
  EXPECT_FALSE(follow.nudge(2, 3));  // a replay of an old one
  EXPECT_TRUE(follow.nudge(4, 3));
  EXPECT_TRUE(follow.pullAgain(3));  // the server did not have 4 yet
  EXPECT_TRUE(follow.pullAgain(3));
  EXPECT_FALSE(follow.pullAgain(4));  // caught up: back to the poll period
  EXPECT_EQ(follow.wanted, 0u);
  EXPECT_FALSE(follow.pullAgain(4));  // nothing wanted, nothing more
}

TEST(NudgeFollow, ANudgeNobodyCanServeCostsAtMostKPulls) {
  NudgeFollow follow;
  ASSERT_TRUE(follow.nudge(9007199254740992ull, 3));  // forged: no server will ever have it
  int pulls = 1;                                      // the one at once
  while (follow.pullAgain(3)) ++pulls;
  EXPECT_EQ(pulls, NudgeFollow::kPulls);
  // The same forged nudge again while following it: no new pulls beyond the budget.
  NudgeFollow busy;
  ASSERT_TRUE(busy.nudge(100, 3));
  for (int i = 0; i < 5; ++i) busy.pullAgain(3);
  EXPECT_TRUE(busy.nudge(100, 3));  // still within the budget of that version
  int more = 0;
  while (busy.pullAgain(3)) ++more;
  EXPECT_EQ(5 + more + 1, NudgeFollow::kPulls);
  // A higher version restarts the count (a real new version during a slow catch-up).
  NudgeFollow newer;
  ASSERT_TRUE(newer.nudge(5, 3));
  for (int i = 0; i < 9; ++i) newer.pullAgain(3);
  EXPECT_TRUE(newer.nudge(6, 3));
  EXPECT_EQ(newer.pulls, 0);
}

}  // namespace
}  // namespace meshbroker::network
