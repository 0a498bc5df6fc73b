// Reading tincd 1.0's SIGUSR2 node list (lines as tincd 1.0.36 writes them, captured in a lab).
#include "backends/tinc_dump.hpp"

#include <gtest/gtest.h>

namespace meshbroker::backends {
namespace {

constexpr const char* kMyself =
    " nodea at MYSELF cipher 0 digest 0 maclength 0 compression 0 options c status 0018 nexthop "
    "nodea via nodea pmtu 1518 (min 0 max 1518)";
constexpr const char* kPeer =
    " nodeb at 10.99.0.2 port 655 cipher 427 digest 672 maclength 4 compression 0 options c "
    "status 001a nexthop nodeb via nodeb pmtu 1465 (min 1440 max 1465)";
constexpr const char* kGone =
    " nodec at unknown cipher 0 digest 0 maclength 0 compression 0 options 0 status 0000 nexthop "
    "- via - pmtu 0 (min 0 max 0)";

TEST(TincDump, ParsesAPeerItsAddressAndReachability) {
  std::string why;
  auto node = parseTincDumpNode(kPeer, &why);
  ASSERT_TRUE(node) << why;
  EXPECT_EQ(node->name, "nodeb");
  EXPECT_EQ(node->address, "10.99.0.2");
  EXPECT_TRUE(node->reachable);
  EXPECT_FALSE(node->myself);
}

TEST(TincDump, ItselfAndAnUnreachableNode) {
  auto self = parseTincDumpNode(kMyself, nullptr);
  ASSERT_TRUE(self);
  EXPECT_TRUE(self->myself);
  EXPECT_EQ(self->address, "");
  auto gone = parseTincDumpNode(kGone, nullptr);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->reachable);
  EXPECT_EQ(gone->address, "");
}

TEST(TincDump, GarbageIsRefusedWithAReason) {
  for (const char* line :
       {"", " ", "Nodes:", "nodeb at 10.99.0.2 port 655 cipher 1 status 0010",  // no indent
        " no.de at x cipher 1 status 0010",                                     // bad name
        " nodeb at x status 0010",                                              // no cipher
        " nodeb at x cipher 1 nexthop y",                                       // no status
        " nodeb at x cipher 1 status zz nexthop y", " nodeb at x cipher 1 status ",
        " nodeb at x cipher 1 status 123456789 nexthop y"}) {
    std::string why;
    EXPECT_FALSE(parseTincDumpNode(line, &why)) << line;
    EXPECT_FALSE(why.empty()) << line;
  }
  std::string long_line = " nodeb at x cipher 1 status 0010 " + std::string(2000, 'x');
  EXPECT_FALSE(parseTincDumpNode(long_line, nullptr));
}

TEST(TincDump, ReaderCollectsOneListAndLeavesOtherLinesAlone) {
  TincDumpReader reader;
  using Step = TincDumpReader::Step;
  EXPECT_EQ(reader.feed("Ready"), Step::kNotMine);
  EXPECT_EQ(reader.feed(kPeer), Step::kNotMine);  // a node line outside a list is not one
  EXPECT_EQ(reader.feed("Nodes:"), Step::kConsumed);
  EXPECT_EQ(reader.feed(kMyself), Step::kConsumed);
  EXPECT_EQ(reader.feed(" broken"), Step::kConsumed);
  EXPECT_EQ(reader.feed(kPeer), Step::kConsumed);
  EXPECT_EQ(reader.feed(kGone), Step::kConsumed);
  EXPECT_EQ(reader.feed("End of nodes."), Step::kComplete);
  EXPECT_EQ(reader.malformed(), 1U);
  auto nodes = reader.take();
  ASSERT_EQ(nodes.size(), 3U);
  EXPECT_EQ(nodes[1].name, "nodeb");
  EXPECT_EQ(reader.feed("End of nodes."), Step::kNotMine);  // no list open
}

TEST(TincDump, TheRestOfTheDumpIsConsumedToo) {
  TincDumpReader reader;
  using Step = TincDumpReader::Step;
  // What tincd 1.0.36 writes on SIGUSR2, in order (captured).
  EXPECT_EQ(reader.feed("Statistics for Linux tun/tap device (tap mode) /dev/net/tun:"),
            Step::kConsumed);
  EXPECT_EQ(reader.feed(" total bytes in:           0"), Step::kConsumed);
  EXPECT_EQ(reader.feed(" total bytes out:          0"), Step::kConsumed);
  EXPECT_EQ(reader.feed("Nodes:"), Step::kConsumed);
  EXPECT_EQ(reader.feed(kPeer), Step::kConsumed);
  EXPECT_EQ(reader.feed("End of nodes."), Step::kComplete);
  EXPECT_EQ(reader.feed("Edges:"), Step::kConsumed);
  EXPECT_EQ(reader.feed(" nodea to nodeb at 10.99.0.2 port 655 options c weight 42"),
            Step::kConsumed);
  EXPECT_EQ(reader.feed("End of edges."), Step::kConsumed);
  EXPECT_EQ(reader.feed("Subnet list:"), Step::kConsumed);
  EXPECT_EQ(reader.feed(" 2:0:64:40:c:b#10 owner chip"), Step::kConsumed);
  EXPECT_EQ(reader.feed("End of subnet list."), Step::kConsumed);
  EXPECT_EQ(reader.feed("Got HUP signal"), Step::kNotMine);
  // Statistics end at the first line that is not one of theirs, which is read as usual.
  EXPECT_EQ(reader.feed("Statistics for x:"), Step::kConsumed);
  EXPECT_EQ(reader.feed("Ready"), Step::kNotMine);
}

TEST(TincDump, AListThatNeverEndsIsAbandoned) {
  TincDumpReader reader;
  using Step = TincDumpReader::Step;
  ASSERT_EQ(reader.feed("Nodes:"), Step::kConsumed);
  for (std::size_t i = 0; i < TincDumpReader::kMaxNodes; ++i) {
    ASSERT_EQ(reader.feed(kPeer), Step::kConsumed);
  }
  EXPECT_EQ(reader.feed(kPeer), Step::kNotMine);
  EXPECT_EQ(reader.feed("Ready"), Step::kNotMine);
  EXPECT_EQ(reader.feed("End of nodes."), Step::kNotMine);
  EXPECT_TRUE(reader.take().empty());
}

TEST(TincDump, ANewListStartsAfresh) {
  TincDumpReader reader;
  reader.feed("Nodes:");
  reader.feed(kPeer);
  reader.feed("Nodes:");  // tincd restarted its dump (a second SIGUSR2 mid-way): not a node line
  reader.feed(kGone);
  ASSERT_EQ(reader.feed("End of nodes."), TincDumpReader::Step::kComplete);
  EXPECT_EQ(reader.take().size(), 2U);
  EXPECT_EQ(reader.malformed(), 1U);
  // An edge list that never ends is abandoned too.
  ASSERT_EQ(reader.feed("Edges:"), TincDumpReader::Step::kConsumed);
  for (std::size_t i = 0; i < TincDumpReader::kMaxNodes; ++i) reader.feed(" a to b");
  EXPECT_EQ(reader.feed(" a to b"), TincDumpReader::Step::kNotMine);
  EXPECT_EQ(reader.feed("Ready"), TincDumpReader::Step::kNotMine);
}

}  // namespace
}  // namespace meshbroker::backends
