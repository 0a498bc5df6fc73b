// The rate-limit plan: one class per client address, sizes from the rate, stable ifb names.
#include "backends/rate_limit.hpp"

#include <gtest/gtest.h>

#include "unit/test_support.hpp"

namespace meshbroker::backends {
namespace {

config::OpenVpnInstance publicInstance() {
  auto result = meshbroker::testing::parseAs("chip", meshbroker::testing::exampleText("chip"));
  if (!result.config) throw std::runtime_error("chip example does not load");
  return result.config->openvpn.at(0);  // public, 172.16.1.64/27, 2mbit
}

TEST(RateLimitPlan, OneClassPerClientAddress) {
  auto plan = planRateLimit(publicInstance());
  EXPECT_EQ(plan.device, "vpn_public");
  EXPECT_EQ(plan.bits_per_second, 2000000u);
  ASSERT_EQ(plan.classes.size(), 30u);
  EXPECT_EQ(plan.classes.front().address.str(), "172.16.1.65");
  EXPECT_EQ(plan.classes.front().minor, 1);
  EXPECT_EQ(plan.classes.back().address.str(), "172.16.1.94");
  EXPECT_EQ(plan.classes.back().minor, 30);
  EXPECT_EQ(plan.burst_bytes, 3200u);  // two full packets at low rates
  EXPECT_EQ(plan.queue_packets, 30u);  // at least 30
}

TEST(RateLimitPlan, SizesGrowWithTheRate) {
  auto instance = publicInstance();
  instance.rate_limit = config::Rate::parse("1gbit", nullptr);
  auto plan = planRateLimit(instance);
  EXPECT_EQ(plan.burst_bytes, 1250000u);  // 10 ms
  EXPECT_EQ(plan.queue_packets, 1000u);   // capped
}

TEST(RateLimitPlan, NeedsARateAndASmallSubnet) {
  auto instance = publicInstance();
  instance.rate_limit.reset();
  EXPECT_THROW(planRateLimit(instance), RateLimitError);
  instance = publicInstance();
  instance.subnet = *config::Cidr::parse("172.16.0.0/16", nullptr);
  EXPECT_THROW(planRateLimit(instance), RateLimitError);
}

// Dual stack: the class of a client's IPv4 address also holds the IPv6 address OpenVPN gives
// the same pool index (the lab openvpn_ipv6 saw alice get 172.16.1.98 and fd00:172:16:1::1000).
TEST(RateLimitPlan, ADualStackClassAlsoHoldsThePairedIpv6Address) {
  auto instance = publicInstance();
  instance.subnet6 = *config::Cidr6::parse("fd00:172:16:3::/64", nullptr);
  auto plan = planRateLimit(instance);
  ASSERT_EQ(plan.classes.size(), 30u);
  EXPECT_FALSE(plan.classes[0].address6) << "172.16.1.65 is the server's own";
  EXPECT_EQ(plan.classes[1].address.str(), "172.16.1.66");
  EXPECT_EQ(plan.classes[1].address6->str(), "fd00:172:16:3::1000");
  EXPECT_EQ(plan.classes[29].address6->str(), "fd00:172:16:3::101c");
  ASSERT_TRUE(plan.subnet6);
  // From /112 on OpenVPN's IPv6 pool starts at network+2, and a small one ends first.
  instance.subnet6 = *config::Cidr6::parse("fd00:172:16:3::ff0/124", nullptr);
  plan = planRateLimit(instance);
  EXPECT_EQ(plan.classes[1].address6->str(), "fd00:172:16:3::ff2");
  EXPECT_EQ(plan.classes[14].address6->str(), "fd00:172:16:3::fff");
  EXPECT_FALSE(plan.classes[15].address6);
  EXPECT_EQ(plus(*config::Ipv6Address::parse("fd00::ff", nullptr), 0x102).str(), "fd00::201");
  EXPECT_EQ(plus(*config::Ipv6Address::parse("fd00::ffff:ffff", nullptr), 1).str(), "fd00::1:0:0");
}

TEST(RateLimitPlan, IfbNamesFitAndDiffer) {
  EXPECT_EQ(ifbNameFor("vpn_public"), ifbNameFor("vpn_public"));
  EXPECT_NE(ifbNameFor("vpn_public"), ifbNameFor("vpn_private"));
  EXPECT_EQ(ifbNameFor("a_very_long_nam").size(), 11u);
  EXPECT_TRUE(config::InterfaceName::parse(ifbNameFor("x"), nullptr));
}

}  // namespace
}  // namespace meshbroker::backends
