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

TEST(RateLimitPlan, IfbNamesFitAndDiffer) {
  EXPECT_EQ(ifbNameFor("vpn_public"), ifbNameFor("vpn_public"));
  EXPECT_NE(ifbNameFor("vpn_public"), ifbNameFor("vpn_private"));
  EXPECT_EQ(ifbNameFor("a_very_long_nam").size(), 11u);
  EXPECT_TRUE(config::InterfaceName::parse(ifbNameFor("x"), nullptr));
}

}  // namespace
}  // namespace meshbroker::backends
