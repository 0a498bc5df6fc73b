// Parsing the datagrams that tinc's hook scripts send.
#include "backends/tinc_events.hpp"

#include <gtest/gtest.h>

namespace meshbroker::backends {
namespace {

TEST(TincEvents, ParsesHostUp) {
  std::string why;
  auto event = parseTincEvent(
      R"({"event":"host-up","node":"comegato","remoteaddress":"192.0.2.12","netname":"x"})", &why);
  ASSERT_TRUE(event) << why;
  EXPECT_EQ(event->kind, TincEventKind::kHostUp);
  EXPECT_EQ(event->node, "comegato");
  EXPECT_EQ(event->remote_address, "192.0.2.12");
}

TEST(TincEvents, TincUpNeedsNoNode) {
  auto event = parseTincEvent(R"({"event":"tinc-up","interface":"meshnet0"})", nullptr);
  ASSERT_TRUE(event);
  EXPECT_EQ(event->kind, TincEventKind::kTincUp);
}

TEST(TincEvents, RejectsGarbage) {
  for (const char* text : {"", "not json", "[]", "{}", R"({"event":7})", R"({"event":"reboot"})",
                           R"({"event":"host-up"})", R"({"event":"host-up","node":"../x"})",
                           R"({"event":"host-up","node":"a\nb"})",
                           R"({"event":"host-down","node":"a","remoteaddress":"x\u0000y"})"}) {
    std::string why;
    EXPECT_FALSE(parseTincEvent(text, &why)) << text;
    EXPECT_FALSE(why.empty()) << text;
  }
  EXPECT_FALSE(parseTincEvent(std::string(5000, '{'), nullptr));
}

}  // namespace
}  // namespace meshbroker::backends
