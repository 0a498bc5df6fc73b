// Golden files pin every rendered file of every example node (tests/golden/NODE/...).
// After an intended change: UPDATE_GOLDEN=1 ctest -R Render, then review the diff.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>

#include "templates/rendered_check.hpp"
#include "templates/renderer.hpp"
#include "unit/test_support.hpp"

namespace meshbroker::templates {
namespace {

namespace fs = std::filesystem;
using meshbroker::testing::exampleText;
using meshbroker::testing::kSourceDir;
using meshbroker::testing::parseAs;
using meshbroker::testing::readText;

std::vector<RenderedFile> renderText(const std::string& node, const std::string& text) {
  auto result = parseAs(node, text);
  if (!result.config) throw std::runtime_error(meshbroker::testing::describe(result.diagnostics));
  return renderNode(*result.config, {"/usr/bin/meshbroker"});
}

std::vector<RenderedFile> renderExample(const std::string& node) {
  return renderText(node, exampleText(node));
}

std::string modesListing(const std::vector<RenderedFile>& files) {
  std::string out;
  for (const auto& file : files) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", file.mode);
    out += std::string(mode) + " " + file.path.string() + "\n";
  }
  return out;
}

// Two sets: the seed as shipped (dual stack, tests/golden/NODE) and the same nodes without
// their IPv6 fields (tests/golden/ipv4-only/NODE: byte for byte what they rendered before IPv6
// existed, the proof that a node without IPv6 keeps working exactly as before).
struct GoldenCase {
  std::string node;
  bool ipv4_only;
};

class RenderGolden : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(RenderGolden, MatchesGoldenFiles) {
  const auto& [node, ipv4_only] = GetParam();
  auto files = renderText(
      node, ipv4_only ? meshbroker::testing::exampleIpv4OnlyText(node) : exampleText(node));
  fs::path golden = kSourceDir / "tests" / "golden" / (ipv4_only ? "ipv4-only" : "") / node;
  if (std::getenv("UPDATE_GOLDEN")) {
    fs::remove_all(golden);
    for (const auto& file : files) {
      fs::create_directories((golden / file.path).parent_path());
      std::ofstream(golden / file.path, std::ios::binary) << file.content;
    }
    std::ofstream(golden / "MODES", std::ios::binary) << modesListing(files);
    GTEST_SKIP() << "golden files rewritten in " << golden;
  }
  EXPECT_EQ(modesListing(files), readText(golden / "MODES"));
  std::size_t on_disk = 0;
  for (const auto& entry : fs::recursive_directory_iterator(golden)) {
    if (entry.is_regular_file() && entry.path().filename() != "MODES") ++on_disk;
  }
  EXPECT_EQ(on_disk, files.size()) << "golden folder has files the renderer no longer makes";
  for (const auto& file : files) {
    EXPECT_EQ(file.content, readText(golden / file.path)) << golden << ": " << file.path;
  }
}

std::vector<GoldenCase> goldenCases() {
  std::vector<GoldenCase> out;
  for (const auto& node : meshbroker::testing::kExampleNodes) {
    out.push_back({node, false});
    out.push_back({node, true});
  }
  return out;
}

std::string goldenCaseName(const ::testing::TestParamInfo<GoldenCase>& param) {
  return param.param.node + (param.param.ipv4_only ? "_ipv4_only" : "");
}

INSTANTIATE_TEST_SUITE_P(Examples, RenderGolden, ::testing::ValuesIn(goldenCases()),
                         goldenCaseName);

const RenderedFile& fileNamed(const std::vector<RenderedFile>& files, const std::string& path) {
  for (const auto& file : files) {
    if (file.path == path) return file;
  }
  throw std::runtime_error("not rendered: " + path);
}

TEST(Render, GatewayRoutesBackToEveryServersClientSubnet) {
  auto files = renderExample("cometa");
  const auto& up = fileNamed(files, "tinc/tinc-up").content;
  EXPECT_NE(up.find("ip route replace 172.16.1.64/27 via 100.64.12.11 dev \"$INTERFACE\""),
            std::string::npos);
  EXPECT_NE(up.find("ip route replace 172.16.1.96/27 via 100.64.12.11 dev \"$INTERFACE\""),
            std::string::npos);
  EXPECT_NE(up.find("ip route replace 172.16.1.128/27 via 100.64.12.12 dev \"$INTERFACE\""),
            std::string::npos);
  EXPECT_EQ(up.find("route add"), std::string::npos);
  EXPECT_EQ(up.find("ifconfig"), std::string::npos);
}

TEST(Render, ServerHasNoRoutesBack) {
  auto files = renderExample("chip");
  EXPECT_EQ(fileNamed(files, "tinc/tinc-up").content.find("ip route"), std::string::npos);
}

TEST(Render, ScriptsAreExecutableAndOthersNot) {
  for (const auto& file : renderExample("chip")) {
    bool script = file.content.starts_with("#!/bin/sh\n");
    EXPECT_EQ(file.mode, script ? 0755u : 0644u) << file.path;
  }
}

TEST(Render, HostFilesCarryAddressCryptoAndKey) {
  auto files = renderExample("cometa");
  const auto& chip = fileNamed(files, "tinc/hosts/chip").content;
  EXPECT_NE(chip.find("Address = 192.0.2.11 655\n"), std::string::npos);
  EXPECT_NE(chip.find("Compression = 10\nCipher = aes-256-cbc\nDigest = sha256\n"),
            std::string::npos);
  EXPECT_NE(chip.find(readText(kSourceDir / "tests/data/keys/chip.pub")), std::string::npos);
  // A gateway behind NAT has no Address line: it only dials out.
  EXPECT_EQ(fileNamed(files, "tinc/hosts/cometa").content.find("Address"), std::string::npos);
}

TEST(Render, RouterModeAddsSubnets) {
  auto result = parseAs("cometa", exampleText("cometa"));
  ASSERT_TRUE(result.config);
  auto node = *result.config;
  node.tinc.mode = config::TincMode::kRouter;
  auto files = renderNode(node, {});
  const auto& chip = fileNamed(files, "tinc/hosts/chip").content;
  EXPECT_NE(chip.find("Subnet = 100.64.12.11/32\nSubnet = 172.16.1.64/27\n"), std::string::npos);
}

// IPv6 (issue 21): the seed with IPv6 mesh addresses, chip's private instance with a pool.
config::NodeConfig withIpv6(const std::string& name) {
  auto json = meshbroker::testing::exampleIpv4Only(name);
  json["tinc"]["prefix6"] = "fd00:64:12::/64";
  const std::map<std::string, std::string> address6 = {{"chip", "fd00:64:12::11"},
                                                       {"comegato", "fd00:64:12::12"},
                                                       {"cometa", "fd00:64:12::9"},
                                                       {"illimani", "fd00:64:12::a"}};
  json["tinc"]["address6"] = address6.at(name);
  for (auto& host : json["hosts"]) {
    host["mesh_address6"] = address6.at(host["name"].get<std::string>());
    if (host["name"] == "chip") host["client_subnets6"] = {"fd00:172:16:1::/64"};
  }
  if (name == "chip") json["openvpn"][1]["subnet6"] = "fd00:172:16:1::/64";
  auto result = parseAs(name, json.dump());
  if (!result.config) throw std::runtime_error(meshbroker::testing::describe(result.diagnostics));
  return *result.config;
}

TEST(RenderIpv6, TincUpGivesTheInterfaceBothFamilies) {
  const auto up = fileNamed(renderNode(withIpv6("chip"), {}), "tinc/tinc-up").content;
  EXPECT_NE(up.find("ip addr replace 100.64.12.11/27 dev \"$INTERFACE\"\n"), std::string::npos);
  EXPECT_NE(up.find("ip -6 addr replace fd00:64:12::11/64 dev \"$INTERFACE\" nodad\n"),
            std::string::npos)
      << up;
}

// A gateway must not be able to claim a server's IPv6 address with a neighbour advertisement:
// every host's IPv6 mesh address is pinned to its mesh MAC, as the IPv4 one is.
TEST(RenderIpv6, PeersIpv6AddressesArePinnedToTheirMeshMac) {
  const auto up = fileNamed(renderNode(withIpv6("chip"), {}), "tinc/tinc-up").content;
  EXPECT_NE(up.find("ip -6 neigh replace fd00:64:12::12 lladdr 02:00:64:40:0c:0c dev "
                    "\"$INTERFACE\" nud permanent || true\n"),
            std::string::npos)
      << up;
  EXPECT_NE(up.find("ip -6 neigh replace fd00:64:12::9 lladdr 02:00:64:40:0c:09"),
            std::string::npos);
  EXPECT_NE(up.find("ip neigh replace 100.64.12.12 lladdr 02:00:64:40:0c:0c"), std::string::npos);
}

TEST(RenderIpv6, GatewayRoutesTheIpv6PoolBackToItsServer) {
  const auto up = fileNamed(renderNode(withIpv6("cometa"), {}), "tinc/tinc-up").content;
  EXPECT_NE(up.find("ip -6 route replace fd00:172:16:1::/64 via fd00:64:12::11 dev \"$INTERFACE\" "
                    "proto 177\n"),
            std::string::npos)
      << up;
  // The IPv4 routes back are still there.
  EXPECT_NE(up.find("ip route replace 172.16.1.96/27 via 100.64.12.11"), std::string::npos);
}

TEST(RenderIpv6, OpenVpnServesThePoolAndPushesTheMeshPrefix) {
  const auto files = renderNode(withIpv6("chip"), {});
  const auto conf = fileNamed(files, "openvpn/private.conf").content;
  EXPECT_NE(conf.find("\nserver-ipv6 fd00:172:16:1::/64\n"), std::string::npos) << conf;
  EXPECT_NE(conf.find("\npush \"route-ipv6 fd00:64:12::/64\"\n"), std::string::npos) << conf;
  EXPECT_NE(conf.find("\nserver 172.16.1.96 255.255.255.224\n"), std::string::npos);
  // A route set's IPv6 destination is pushed to clients with an IPv6 address too.
  auto node = withIpv6("chip");
  node.hosts[1].mesh_address6 = config::Ipv6Address::parse("fd00:64:12::9", nullptr);
  node.hosts[2].mesh_address6 = config::Ipv6Address::parse("fd00:64:12::a", nullptr);
  node.routes[0].to.push_back(*config::IpPrefix::parse("fd00:65::/48", nullptr));
  const auto with_set = fileNamed(renderNode(node, {}), "openvpn/private.conf").content;
  EXPECT_NE(
      with_set.find("push \"route-ipv6 fd00:64:12::/64\"\npush \"route-ipv6 fd00:65::/48\"\n"),
      std::string::npos)
      << with_set;
  // The public instance has no pool: no IPv6 in its file.
  const auto pub = fileNamed(files, "openvpn/public.conf").content;
  EXPECT_EQ(pub.find("ipv6"), std::string::npos) << pub;
}

TEST(RenderIpv6, RouterModeHostFilesOwnTheIpv6Subnets) {
  auto node = withIpv6("cometa");
  node.tinc.mode = config::TincMode::kRouter;
  const auto chip = fileNamed(renderNode(node, {}), "tinc/hosts/chip").content;
  EXPECT_NE(chip.find("Subnet = fd00:64:12::11/128\nSubnet = fd00:172:16:1::/64\n"),
            std::string::npos)
      << chip;
}

// The third wall: a rendered server file whose IPv6 lines are not exactly ours fails.
TEST(RenderIpv6, RenderedCheckKnowsTheIpv6LinesAndNothingNear) {
  const auto good = fileNamed(renderNode(withIpv6("chip"), {}), "openvpn/private.conf").content;
  EXPECT_FALSE(checkRenderedText(RenderedKind::kOpenVpnServer, good)) << good;
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"server-ipv6 fd00:172:16:1::/64", "server-ipv6 fd00:172:16:1::/64 nopool"},
           {"server-ipv6 fd00:172:16:1::/64", "server-ipv6 fd00:172:16:1::1/64"},
           {"push \"route-ipv6 fd00:64:12::/64\"", "push \"route-ipv6 fd00:64:12::/64 ::1\""},
           {"push \"route-ipv6 fd00:64:12::/64\"", "push \"route-ipv6 up\""},
           {"push \"route-ipv6 fd00:64:12::/64\"", "push \"redirect-gateway ipv6\""}}) {
    auto bad = good;
    bad.replace(bad.find(from), from.size(), to);
    EXPECT_TRUE(checkRenderedText(RenderedKind::kOpenVpnServer, bad)) << to;
  }
}

TEST(Render, IsDeterministic) { EXPECT_EQ(renderExample("chip"), renderExample("chip")); }

}  // namespace
}  // namespace meshbroker::templates
