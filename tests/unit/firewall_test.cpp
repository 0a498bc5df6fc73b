// meshbroker's nftables table, rendered from the config (issue 18, finding 9).
#include "templates/firewall.hpp"

#include <gtest/gtest.h>

#include "unit/test_support.hpp"

namespace meshbroker::templates {
namespace {

using meshbroker::testing::example;

config::NodeConfig load(const std::string& node, const nlohmann::json& config) {
  auto result = meshbroker::testing::parseAs(node, config.dump());
  if (!result.config) throw std::runtime_error(meshbroker::testing::describe(result.diagnostics));
  return *result.config;
}

bool has(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

TEST(Firewall, PublicInstancesGetPerSourceCapsByDefaultPrivateOnesDoNot) {
  auto text = renderFirewall(load("chip", example("chip")));
  // The table is replaced whole, in one transaction, and only ours.
  EXPECT_EQ(
      text.find("table inet meshbroker\ndelete table inet meshbroker\ntable inet meshbroker {"),
      text.find("table inet meshbroker"))
      << text;
  EXPECT_TRUE(has(text,
                  "udp dport 1194 ct state new add @public_new4 { ip saddr limit rate over "
                  "20/minute burst 20 packets } counter name public_rate_dropped drop\n"))
      << text;
  EXPECT_TRUE(has(text,
                  "udp dport 1194 ct state new add @public_conns4 { ip saddr ct count over "
                  "16 } counter name public_count_dropped drop\n"))
      << text;
  EXPECT_TRUE(has(text, "add @public_new6 { ip6 saddr limit rate over 20/minute")) << text;
  EXPECT_FALSE(has(text, "@private_")) << text;
}

TEST(Firewall, CapsFollowTheConfigAndTheProtocol) {
  auto config = example("chip");
  for (auto& instance : config["openvpn"]) {
    if (instance["name"] == "private") {
      instance["per_source_new_per_minute"] = 5;
      instance["per_source_connections"] = 2;
    } else {
      instance["per_source_new_per_minute"] = 0;
      instance["per_source_connections"] = 0;
    }
  }
  auto text = renderFirewall(load("chip", config));
  EXPECT_FALSE(has(text, "@public_")) << text;
  EXPECT_TRUE(has(text,
                  "tcp dport 443 ct state new add @private_new4 { ip saddr limit rate over "
                  "5/minute burst 5 packets }"))
      << text;
  EXPECT_TRUE(has(text,
                  "tcp dport 443 ct state new add @private_conns4 { ip saddr ct count over "
                  "2 }"))
      << text;
}

TEST(Firewall, ForwardsOnlyClientSubnetsToAndFromTheMesh) {
  auto text = renderFirewall(load("chip", example("chip")));
  for (const char* line :
       {"iifname \"vpn_public\" oifname \"meshnet0\" ip saddr 172.16.1.64/27 accept\n",
        "iifname \"meshnet0\" oifname \"vpn_public\" ip daddr 172.16.1.64/27 accept\n",
        "iifname \"vpn_private\" oifname \"meshnet0\" ip saddr 172.16.1.96/27 accept\n",
        "iifname { \"vpn_public\", \"vpn_private\" } counter name forward_dropped drop\n",
        "oifname { \"vpn_public\", \"vpn_private\" } counter name forward_dropped drop\n",
        "iifname != \"meshnet0\" oifname \"meshnet0\" counter name forward_dropped drop\n"}) {
    EXPECT_TRUE(has(text, line)) << line << "\n" << text;
  }
  // In the forward chain, the accepts come before the drops.
  const auto forward = text.find("hook forward");
  ASSERT_NE(forward, std::string::npos);
  EXPECT_LT(text.find("accept", forward), text.find("drop", forward));
  auto config = example("chip");
  config["routing"]["forward_filter"] = false;
  EXPECT_FALSE(has(renderFirewall(load("chip", config)), "hook forward"));
}

// IPv6 (issue 21): a pool is forwarded like its IPv4 twin, and only it.
TEST(Firewall, ForwardsTheIpv6PoolToAndFromTheMeshOnly) {
  auto config = meshbroker::testing::exampleIpv4Only("chip");
  config["tinc"]["prefix6"] = "fd00:64:12::/64";
  config["tinc"]["address6"] = "fd00:64:12::11";
  config["openvpn"][1]["subnet6"] = "fd00:172:16:1::/64";
  auto text = renderFirewall(load("chip", config));
  EXPECT_TRUE(has(text,
                  "iifname \"vpn_private\" oifname \"meshnet0\" ip6 saddr "
                  "fd00:172:16:1::/64 accept\n"))
      << text;
  EXPECT_TRUE(has(text,
                  "iifname \"meshnet0\" oifname \"vpn_private\" ip6 daddr "
                  "fd00:172:16:1::/64 accept\n"))
      << text;
  // No IPv6 accept for the public instance (no pool): its IPv6 falls to the drops.
  EXPECT_FALSE(has(text, "iifname \"vpn_public\" oifname \"meshnet0\" ip6")) << text;
  const auto forward = text.find("hook forward");
  EXPECT_LT(text.find("ip6 saddr", forward), text.find("drop", forward));
}

TEST(Firewall, AGatewayWithoutOpenVpnHasNoTable) {
  EXPECT_EQ(renderFirewall(load("cometa", example("cometa"))), "");
  EXPECT_EQ(removeFirewall(), "table inet meshbroker\ndelete table inet meshbroker\n");
}

TEST(Firewall, PublicQuotaDropsBlockedAddressesAndNothingForged) {
  auto config = example("chip");
  for (auto& instance : config["openvpn"]) instance["quota"] = "10GB";
  auto node = load("chip", config);
  auto text = renderFirewall(node);
  // Declared even when nobody is over it, so the rules stand; private ones use files instead.
  EXPECT_TRUE(has(text, "set public_quota4 {\n\t\ttype ipv4_addr\n\t}")) << text;
  EXPECT_TRUE(
      has(text, "udp dport 1194 ip saddr @public_quota4 counter name public_quota_dropped drop\n"))
      << text;
  EXPECT_TRUE(has(text, "ip6 saddr @public_quota6")) << text;
  EXPECT_FALSE(has(text, "private_quota")) << text;
  // The blocked rules come before the caps: a blocked address is not even counted.
  EXPECT_LT(text.find("@public_quota4"), text.find("@public_new4")) << text;

  // Addresses come from OpenVPN's status (the peer's socket address): only real addresses get
  // into the text, whatever else arrives.
  text = renderFirewall(node, {{"public",
                                {"192.0.2.50", "2001:db8::0:1", "192.0.2.51 } ; flush ruleset",
                                 "192.0.2.300", "", "garbage\nflush ruleset"}}});
  EXPECT_TRUE(has(text, "elements = { 192.0.2.50 }")) << text;
  EXPECT_TRUE(has(text, "elements = { 2001:db8::1 }")) << text;
  EXPECT_FALSE(has(text, "flush")) << text;
  EXPECT_FALSE(has(text, "192.0.2.51")) << text;
  EXPECT_FALSE(has(text, "192.0.2.300")) << text;
}

}  // namespace
}  // namespace meshbroker::templates
