// One test per validation rule: each breaks one thing in an example and expects one message
// naming the JSON path and the value.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <tuple>
#include <vector>

#include "unit/test_support.hpp"

namespace meshbroker::config {
namespace {

using meshbroker::testing::describe;
using meshbroker::testing::example;
using meshbroker::testing::exampleIpv4Only;
using meshbroker::testing::exampleText;
using meshbroker::testing::expectError;
using meshbroker::testing::parseAs;
using nlohmann::json;

TEST(Validate, EveryExampleIsValidWithKeys) {
  for (const auto& node : meshbroker::testing::kExampleNodes) {
    auto result = parseAs(node, exampleText(node));
    EXPECT_TRUE(result.config) << node << ":\n" << describe(result.diagnostics);
    EXPECT_TRUE(result.diagnostics.all().empty()) << node << ":\n" << describe(result.diagnostics);
  }
}

TEST(Validate, SeedRouteLiteralIsRejectedNamingFieldAndValue) {
  auto config = example("chip");
  config["routes"][0]["to"] = {"10.1.0.0 netmask 255.224.0.0"};
  expectError("chip", config, "/routes/0/to/0", "\"10.1.0.0 netmask 255.224.0.0\"");
  expectError("chip", config, "/routes/0/to/0", "did you mean 10.0.0.0/11?");
}

TEST(Validate, HostBitsInRoute) {
  auto config = example("chip");
  config["routes"][0]["to"] = {"10.1.0.0/11"};
  auto result = parseAs("chip", config.dump());
  ASSERT_EQ(result.diagnostics.all().size(), 1u) << describe(result.diagnostics);
  EXPECT_EQ(result.diagnostics.all()[0].str(),
            "/routes/0/to/0: \"10.1.0.0/11\" has host bits set (did you mean 10.0.0.0/11?)");
}

// A user's name goes into openvpn's config and tincd's command line: nothing else passes.
TEST(Validate, ServiceUsersAreSystemUserNames) {
  for (const char* bad : {"", "Root", "tinc user", "x;user root", "-rf", "9lives", "a/b",
                          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    for (const char* key : {"tinc_user", "openvpn_user"}) {
      auto config = example("chip");
      config["supervisor"][key] = bad;
      expectError("chip", config, std::string("/supervisor/") + key, "is not a system user's name");
    }
  }
  auto config = example("chip");
  config["supervisor"]["tinc_user"] = "_tinc-1";
  auto result = parseAs("chip", config.dump());
  ASSERT_TRUE(result.config) << describe(result.diagnostics);
  EXPECT_EQ(result.config->supervisor.tinc_user, "_tinc-1");
  EXPECT_EQ(result.config->supervisor.openvpn_user, "meshbroker-openvpn");
}

TEST(Validate, UnknownConnectToHost) {
  auto config = example("chip");
  config["tinc"]["connect_to"] = {"nobody"};
  expectError("chip", config, "/tinc/connect_to/0", "\"nobody\" is not a known host");
}

TEST(Validate, ConnectToSelf) {
  auto config = example("chip");
  config["tinc"]["connect_to"] = {"chip"};
  expectError("chip", config, "/tinc/connect_to/0", "is this node itself");
}

TEST(Validate, ConnectToHostWithoutAddress) {
  auto config = example("chip");
  config["tinc"]["connect_to"] = {"cometa"};
  expectError("chip", config, "/tinc/connect_to/0", "has no public_address");
}

TEST(Validate, ConnectToTwice) {
  auto config = example("cometa");
  config["tinc"]["connect_to"] = {"chip", "chip"};
  expectError("cometa", config, "/tinc/connect_to/1", "listed twice");
}

TEST(Validate, MeshAddressOutsidePrefix) {
  auto config = example("chip");
  config["tinc"]["address"] = "100.64.13.11";
  expectError("chip", config, "/tinc/address", "\"100.64.13.11\" is outside the mesh prefix");
  config = example("chip");
  config["hosts"][1]["mesh_address"] = "100.64.12.40";
  expectError("chip", config, "/hosts/1/mesh_address", "outside the mesh prefix 100.64.12.0/27");
}

TEST(Validate, MeshAddressIsNetworkOrBroadcast) {
  auto config = example("chip");
  config["hosts"][1]["mesh_address"] = "100.64.12.31";
  expectError("chip", config, "/hosts/1/mesh_address", "broadcast");
}

TEST(Validate, DuplicateMeshAddress) {
  auto config = example("chip");
  config["hosts"][1]["mesh_address"] = "100.64.12.11";
  expectError("chip", config, "/hosts/1/mesh_address", "already used by /tinc/address");
}

TEST(Validate, DuplicateNames) {
  auto config = example("chip");
  config["hosts"][2]["name"] = "cometa";
  expectError("chip", config, "/hosts/2/name", "already used by /hosts/1/name");
  config = example("chip");
  config["hosts"][0]["name"] = "chip";
  expectError("chip", config, "/hosts/0/name", "already used by /name");
}

TEST(Validate, DuplicatePorts) {
  auto config = example("chip");
  config["openvpn"][0]["port"] = 655;
  expectError("chip", config, "/openvpn/0/port", "already used (udp) by /tinc/port");
  config = example("chip");
  config["status"]["port"] = 443;
  config["openvpn"][1]["proto"] = "tcp";
  expectError("chip", config, "/openvpn/1/port", "already used (tcp) by /status/port");
}

TEST(Validate, SamePortDifferentProtoIsFine) {
  auto config = example("chip");
  config["openvpn"][0]["port"] = 443;  // udp, while the private instance has tcp 443
  auto result = parseAs("chip", config.dump());
  EXPECT_TRUE(result.config) << describe(result.diagnostics);
}

TEST(Validate, OverlappingClientSubnets) {
  auto config = example("chip");
  config["openvpn"][1]["subnet"] = "172.16.1.64/26";
  expectError("chip", config, "/openvpn/1/subnet", "overlaps 172.16.1.64/27 at /openvpn/0/subnet");
  config = example("chip");
  config["hosts"][0]["client_subnets"] = {"172.16.1.96/27"};
  expectError("chip", config, "/hosts/0/client_subnets/0", "overlaps");
}

TEST(Validate, ClientSubnetOverlapsMesh) {
  auto config = example("chip");
  config["openvpn"][0]["subnet"] = "100.64.0.0/16";
  expectError("chip", config, "/openvpn/0/subnet", "overlaps 100.64.12.0/27 at /tinc/prefix");
}

TEST(Validate, ClientSubnetsOnGateway) {
  auto config = example("chip");
  config["hosts"][1]["client_subnets"] = {"172.16.9.0/24"};
  expectError("chip", config, "/hosts/1/client_subnets/0", "only servers");
}

TEST(Validate, RouteViaNonGateway) {
  auto config = example("chip");
  config["routes"][0]["via"][0]["gateway"] = "comegato";
  expectError("chip", config, "/routes/0/via/0/gateway", "\"comegato\" is a server, not a gateway");
}

TEST(Validate, RouteViaUnknownHost) {
  auto config = example("chip");
  config["routes"][0]["via"][0]["gateway"] = "nobody";
  expectError("chip", config, "/routes/0/via/0/gateway", "is not a known host");
}

TEST(Validate, RouteViaTwice) {
  auto config = example("chip");
  config["routes"][0]["via"][1]["gateway"] = "cometa";
  expectError("chip", config, "/routes/0/via/1/gateway", "listed twice");
}

TEST(Validate, RouteOverMeshPrefix) {
  auto config = example("chip");
  config["routes"][0]["to"] = {"100.64.0.0/10"};
  expectError("chip", config, "/routes/0/to/0", "overlaps the mesh prefix");
}

TEST(Validate, EmptyRouteSet) {
  auto config = example("chip");
  config["routes"][0]["via"] = json::array();
  expectError("chip", config, "/routes/0/via", "is empty");
  config = example("chip");
  config["routes"][0]["to"] = json::array();
  expectError("chip", config, "/routes/0/to", "is empty");
}

TEST(Validate, DuplicateRouteSetName) {
  auto config = example("chip");
  config["routes"].push_back(config["routes"][0]);
  config["routes"][1]["to"] = {"10.200.0.0/16"};
  expectError("chip", config, "/routes/1/name", "already used by /routes/0/name");
}

TEST(Validate, DuplicateOpenVpnNameAndInterface) {
  auto config = example("chip");
  config["openvpn"][1]["name"] = "public";
  expectError("chip", config, "/openvpn/1/name", "already used by /openvpn/0/name");
  config = example("chip");
  config["openvpn"][1]["interface"] = "meshnet0";
  expectError("chip", config, "/openvpn/1/interface", "already used by /tinc/interface");
}

TEST(Validate, OpenVpnOnGateway) {
  auto config = example("cometa");
  config["openvpn"] = example("chip")["openvpn"];
  config["hosts"][0]["client_subnets"] = json::array();
  expectError("cometa", config, "/openvpn", "only servers run OpenVPN");
}

TEST(Validate, RateLimitOnPrivateInstance) {
  auto config = example("chip");
  config["openvpn"][1]["rate_limit"] = "1mbit";
  expectError("chip", config, "/openvpn/1/rate_limit", "only public instances");
}

TEST(Validate, RateWithoutUnit) {
  auto config = example("chip");
  config["openvpn"][0]["rate_limit"] = "2000";
  expectError("chip", config, "/openvpn/0/rate_limit", "\"2000\" is not a rate");
}

TEST(Validate, UnknownKeySuggestsTheRightOne) {
  auto config = example("chip");
  config["tinc"]["conect_to"] = {"comegato"};
  expectError("chip", config, "/tinc/conect_to", "unknown key (did you mean \"connect_to\"?)");
  config = example("chip");
  config["frobnicate"] = true;
  expectError("chip", config, "/frobnicate", "unknown key (known keys here:");
}

TEST(Validate, UnknownKeyWithSlashCannotFakeAPath) {
  auto config = example("chip");
  config["a/b"] = 1;
  expectError("chip", config, "/a~1b", "unknown key");
}

TEST(Validate, MissingRequiredField) {
  auto config = example("chip");
  config["tinc"].erase("address");
  expectError("chip", config, "/tinc/address", "is missing");
  config = example("chip");
  config.erase("tinc");
  expectError("chip", config, "/tinc", "is missing");
}

TEST(Validate, WrongTypes) {
  auto config = example("chip");
  config["tinc"]["port"] = "655";
  expectError("chip", config, "/tinc/port", "\"655\" is not a whole number");
  config = example("chip");
  config["hosts"] = json::object();
  expectError("chip", config, "/hosts", "is not an array");
  config = example("chip");
  config["tinc"]["connect_to"] = "comegato";
  expectError("chip", config, "/tinc/connect_to", "is not an array");
  config = example("chip");
  config["name"] = 7;
  expectError("chip", config, "/name", "7 is not a string");
}

TEST(Validate, NumbersOutOfRange) {
  auto config = example("chip");
  config["tinc"]["port"] = 70000;
  expectError("chip", config, "/tinc/port", "70000 is out of range (1..65535)");
  config = example("chip");
  config["tinc"]["compression"] = 12;
  expectError("chip", config, "/tinc/compression", "out of range (0..11)");
  config = example("chip");
  config["tinc"]["key_size"] = 1024;
  expectError("chip", config, "/tinc/key_size", "out of range (2048..8192)");
  config = example("chip");
  config["tinc"]["port"] = 18446744073709551615ULL;
  expectError("chip", config, "/tinc/port", "out of range");
  config = example("chip");
  config["routes"][0]["via"][0]["weight"] = 0;
  expectError("chip", config, "/routes/0/via/0/weight", "out of range (1..256)");
}

TEST(Validate, CipherNotInAllowList) {
  auto config = example("chip");
  config["tinc"]["cipher"] = "rot13";
  expectError("chip", config, "/tinc/cipher", "\"rot13\" is not one of: aes-128-cbc");
}

// Finding 9 of issue 18: what gives up encryption, authentication or isolation is refused,
// naming the field and the value, unless the operator writes "insecure": true.
TEST(Validate, WeakTincCryptoIsRefusedNamingTheField) {
  const std::vector<std::tuple<std::string, std::string, std::string>> weak = {
      {"cipher", "none", "disables encryption"},
      {"cipher", "bf-cbc", "is Blowfish, a 64-bit block cipher"},
      {"digest", "none", "disables packet authentication"},
      {"digest", "sha1", "is deprecated"},
      {"mode", "hub", "sends every frame to every node, so any gateway router reads"}};
  for (const auto& [field, value, why] : weak) {
    auto config = example("chip");
    config["tinc"][field] = value;
    expectError("chip", config, "/tinc/" + field, "\"" + value + "\" " + why);
    expectError("chip", config, "/tinc/" + field, "set \"insecure\": true in /tinc");
    // Case and spacing tricks are not other names for it: the allow-list refuses them.
    config["tinc"][field] = value == "none" ? "NONE" : " " + value;
    expectError("chip", config, "/tinc/" + field, "is not one of");
  }
}

TEST(Validate, InsecureAcceptsWeakCryptoWithAWarning) {
  auto config = example("chip");
  config["tinc"]["cipher"] = "none";
  config["tinc"]["digest"] = "none";
  config["tinc"]["insecure"] = true;
  auto result = parseAs("chip", config.dump());
  ASSERT_TRUE(result.config) << describe(result.diagnostics);
  EXPECT_TRUE(result.config->tinc.insecure);
  std::string text = describe(result.diagnostics);
  EXPECT_NE(text.find("/tinc/cipher: warning: \"none\" disables encryption"), std::string::npos)
      << text;
  EXPECT_NE(text.find("/tinc/digest: warning: \"none\" disables packet authentication"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("accepted: \"insecure\": true"), std::string::npos) << text;
}

TEST(Validate, InsecureIsABooleanAndSaysWhenItIsNotNeeded) {
  auto config = example("chip");
  config["tinc"]["insecure"] = "yes";
  expectError("chip", config, "/tinc/insecure", "is not true or false");
  config["tinc"]["insecure"] = true;
  auto result = parseAs("chip", config.dump());
  ASSERT_TRUE(result.config) << describe(result.diagnostics);
  EXPECT_NE(describe(result.diagnostics)
                .find("/tinc/insecure: warning: true is set but nothing needs it"),
            std::string::npos)
      << describe(result.diagnostics);
}

TEST(Validate, EveryOtherCipherAndDigestIsAccepted) {
  for (const char* cipher :
       {"aes-128-cbc", "aes-192-cbc", "aes-256-cbc", "aes-128-cfb", "aes-256-cfb", "aes-128-ofb",
        "aes-256-ofb", "camellia-128-cbc", "camellia-256-cbc"}) {
    for (const char* digest : {"sha256", "sha384", "sha512"}) {
      auto config = example("chip");
      config["tinc"]["cipher"] = cipher;
      config["tinc"]["digest"] = digest;
      auto result = parseAs("chip", config.dump());
      EXPECT_TRUE(result.config) << cipher << " " << digest << describe(result.diagnostics);
    }
  }
}

TEST(Validate, EnumsNameTheChoices) {
  auto config = example("chip");
  config["role"] = "router";
  expectError("chip", config, "/role", "\"router\" is not one of: server, gateway");
}

TEST(Validate, HealthTimeoutTooLong) {
  auto config = example("chip");
  config["health"]["timeout_ms"] = 5000;
  expectError("chip", config, "/health/timeout_ms", "longer than interval_ms x down_after");
}

TEST(Validate, PathsWithShellCharacters) {
  auto config = example("chip");
  config["paths"]["runtime_dir"] = "/run/$(reboot)";
  expectError("chip", config, "/paths/runtime_dir", "is not an acceptable path");
  config = example("chip");
  config["tinc"]["private_key_file"] = "/etc/a b";
  expectError("chip", config, "/tinc/private_key_file", "is not an acceptable path");
}

TEST(Validate, StatusListenMustBeAnAddress) {
  auto config = example("chip");
  config["status"]["listen"] = "localhost";
  expectError("chip", config, "/status/listen", "is not an IP address");
}

TEST(Validate, KeyInlineAndFileConflict) {
  auto config = example("chip");
  config["hosts"][0]["public_key"] = meshbroker::testing::readText(meshbroker::testing::kSourceDir /
                                                                   "tests/data/keys/comegato.pub");
  expectError("chip", config, "/hosts/0/public_key_file", "conflicts with public_key");
}

TEST(Validate, InlineKeyIsAccepted) {
  auto config = example("chip");
  config["hosts"][0].erase("public_key_file");
  config["hosts"][0]["public_key"] = meshbroker::testing::readText(meshbroker::testing::kSourceDir /
                                                                   "tests/data/keys/comegato.pub");
  auto result = parseAs("chip", config.dump());
  ASSERT_TRUE(result.config) << describe(result.diagnostics);
  EXPECT_TRUE(result.config->hosts[0].public_key);
}

TEST(Validate, MissingKeysAreWarningsNotErrors) {
  auto result = config::parseConfig(exampleText("chip"), "/nonexistent",
                                    [](const std::filesystem::path&) { return std::nullopt; });
  ASSERT_TRUE(result.config) << describe(result.diagnostics);
  EXPECT_EQ(result.diagnostics.all().size(), 4u) << describe(result.diagnostics);
  for (const auto& item : result.diagnostics.all()) {
    EXPECT_EQ(item.severity, Diagnostic::Severity::kWarning);
  }
}

// chip with IPv6 (issue 21): the mesh prefix and address, comegato's, the private instance's
// pool and comegato's pool. Each test below breaks one of them.
json chipWithIpv6() {
  auto config = exampleIpv4Only("chip");
  config["tinc"]["prefix6"] = "fd00:64:12::/64";
  config["tinc"]["address6"] = "fd00:64:12::11";
  config["hosts"][0]["mesh_address6"] = "fd00:64:12::12";
  config["hosts"][0]["client_subnets6"] = {"fd00:172:16:2::/64"};
  config["openvpn"][1]["subnet6"] = "fd00:172:16:1::/64";
  return config;
}

TEST(ValidateIpv6, ADualStackNodeIsValidAndKeepsEveryField) {
  auto result = parseAs("chip", chipWithIpv6().dump());
  ASSERT_TRUE(result.config) << describe(result.diagnostics);
  EXPECT_TRUE(result.diagnostics.all().empty()) << describe(result.diagnostics);
  const auto& c = *result.config;
  EXPECT_EQ(c.tinc.prefix6->str(), "fd00:64:12::/64");
  EXPECT_EQ(c.tinc.address6->str(), "fd00:64:12::11");
  EXPECT_EQ(c.hosts[0].mesh_address6->str(), "fd00:64:12::12");
  ASSERT_EQ(c.hosts[0].client_subnets6.size(), 1u);
  EXPECT_EQ(c.hosts[0].client_subnets6[0].str(), "fd00:172:16:2::/64");
  EXPECT_EQ(c.openvpn[1].subnet6->str(), "fd00:172:16:1::/64");
  EXPECT_FALSE(c.openvpn[0].subnet6);
}

TEST(ValidateIpv6, WithoutItNothingChanges) {
  auto result = parseAs("chip", exampleIpv4Only("chip").dump());
  ASSERT_TRUE(result.config);
  EXPECT_FALSE(result.config->tinc.prefix6);
  EXPECT_FALSE(result.config->tinc.address6);
  for (const auto& host : result.config->hosts) {
    EXPECT_FALSE(host.mesh_address6);
    EXPECT_TRUE(host.client_subnets6.empty());
  }
}

// health.through_target6: an IPv6 address, only on a dual-stack node, and (a warning) beyond
// a gateway like through_target.
TEST(ValidateIpv6, ThroughTarget6) {
  auto config = chipWithIpv6();
  config["routes"][0]["to"].push_back("fd00:65::/32");
  config["hosts"][1]["mesh_address6"] = "fd00:64:12::9";  // cometa
  config["hosts"][2]["mesh_address6"] = "fd00:64:12::a";  // illimani
  config["health"]["through_target6"] = "fd00:65:2::8";
  auto result = parseAs("chip", config.dump());
  ASSERT_TRUE(result.config) << describe(result.diagnostics);
  EXPECT_TRUE(result.diagnostics.all().empty()) << describe(result.diagnostics);
  EXPECT_EQ(result.config->health.through_target6->str(), "fd00:65:2::8");
  config["health"]["through_target6"] = "10.65.2.8";
  expectError("chip", config, "/health/through_target6", "is not an IPv6 address");
  config["health"]["through_target6"] = "fd00:65:2::8\nSubnet = ::/0";
  expectError("chip", config, "/health/through_target6", "");
  config["health"]["through_target6"] = "fd00:66::8";
  result = parseAs("chip", config.dump());
  ASSERT_TRUE(result.config);
  EXPECT_NE(describe(result.diagnostics).find("not inside any route set"), std::string::npos)
      << describe(result.diagnostics);
  auto v4 = exampleIpv4Only("chip");
  v4["health"]["through_target6"] = "fd00:65:2::8";
  expectError("chip", v4, "/health/through_target6", "this node has no /tinc/address6");
}

TEST(ValidateIpv6, AddressAndPrefixComeTogether) {
  auto config = chipWithIpv6();
  config["tinc"].erase("prefix6");
  expectError("chip", config, "/tinc/prefix6", "is missing: /tinc/address6 needs");
  config = chipWithIpv6();
  config["tinc"].erase("address6");
  expectError("chip", config, "/tinc/address6", "is missing: /tinc/prefix6 is set");
}

TEST(ValidateIpv6, PrefixMustBeUlaOrGlobalAndAligned) {
  auto config = chipWithIpv6();
  config["tinc"]["prefix6"] = "fe80::/64";
  expectError("chip", config, "/tinc/prefix6", "neither unique local");
  config["tinc"]["prefix6"] = "fd00:64:12::1/64";
  expectError("chip", config, "/tinc/prefix6", "has host bits set (did you mean fd00:64:12::/64?)");
  config["tinc"]["prefix6"] = "fd00:64:12::/127";
  config["tinc"]["address6"] = "fd00:64:12::1";
  expectError("chip", config, "/tinc/prefix6", "at most /126");
  config["tinc"]["prefix6"] = "100.64.12.0/27";
  expectError("chip", config, "/tinc/prefix6", "is not an IPv6 prefix");
}

TEST(ValidateIpv6, MeshAddressesInsidePrefixUniqueNotAnycast) {
  auto config = chipWithIpv6();
  config["tinc"]["address6"] = "fd00:64:13::11";
  expectError("chip", config, "/tinc/address6", "is outside the IPv6 mesh prefix fd00:64:12::/64");
  config = chipWithIpv6();
  config["hosts"][0]["mesh_address6"] = "fd00:64:12::";
  expectError("chip", config, "/hosts/0/mesh_address6", "subnet-router anycast");
  config = chipWithIpv6();
  config["hosts"][0]["mesh_address6"] = "FD00:64:12:0::11";  // the same address, written longer
  expectError("chip", config, "/hosts/0/mesh_address6", "already used by /tinc/address6");
  config = chipWithIpv6();
  config["hosts"][1]["mesh_address6"] = "100.64.12.9";
  expectError("chip", config, "/hosts/1/mesh_address6", "is not an IPv6 address");
  // A host's IPv6 address on a node without IPv6 cannot be checked against anything.
  config = exampleIpv4Only("chip");
  config["hosts"][1]["mesh_address6"] = "fd00:64:12::9";
  expectError("chip", config, "/hosts/1/mesh_address6", "needs /tinc/prefix6");
}

TEST(ValidateIpv6, OpenVpnPoolSizeAndHome) {
  auto config = chipWithIpv6();
  config["openvpn"][1]["subnet6"] = "fd00:172:16::/48";
  expectError("chip", config, "/openvpn/1/subnet6", "server-ipv6 takes /64 to /124");
  config["openvpn"][1]["subnet6"] = "fd00:172:16:1::/125";
  expectError("chip", config, "/openvpn/1/subnet6", "server-ipv6 takes /64 to /124");
  config["openvpn"][1]["subnet6"] = "fe80::/64";
  expectError("chip", config, "/openvpn/1/subnet6", "neither unique local");
  config = chipWithIpv6();
  config["tinc"].erase("address6");
  config["tinc"].erase("prefix6");
  config["hosts"][0].erase("mesh_address6");
  expectError("chip", config, "/openvpn/1/subnet6", "needs /tinc/address6");
}

TEST(ValidateIpv6, PoolsOverlapNothing) {
  auto config = chipWithIpv6();
  config["openvpn"][1]["subnet6"] = "fd00:64:12::/64";
  expectError("chip", config, "/openvpn/1/subnet6", "overlaps fd00:64:12::/64 at /tinc/prefix6");
  config = chipWithIpv6();
  config["hosts"][0]["client_subnets6"] = {"fd00:172:16::/56"};
  expectError("chip", config, "/hosts/0/client_subnets6/0",
              "overlaps fd00:172:16:1::/64 at /openvpn/1/subnet6");
  config = chipWithIpv6();
  config["hosts"][1]["client_subnets6"] = {"fd00:172:16:9::/64"};
  expectError("chip", config, "/hosts/1/client_subnets6/0", "belongs to a gateway");
}

// A rate-limited public instance may be dual stack: the limiter shapes IPv6 in the same class.
TEST(ValidateIpv6, ARateLimitedInstanceMayHaveAnIpv6Pool) {
  auto config = chipWithIpv6();
  config["openvpn"][0]["subnet6"] = "fd00:172:16:3::/64";
  auto result = parseAs("chip", config.dump());
  ASSERT_TRUE(result.config) << describe(result.diagnostics);
  EXPECT_TRUE(result.config->openvpn[0].rate_limit);
}

TEST(ValidateIpv6, RouteSetsMayHoldIpv6Destinations) {
  auto config = chipWithIpv6();
  config["hosts"][1]["mesh_address6"] = "fd00:64:12::9";
  config["hosts"][2]["mesh_address6"] = "fd00:64:12::a";
  config["routes"][0]["to"].push_back("fd00:65::/48");
  auto result = parseAs("chip", config.dump());
  ASSERT_TRUE(result.config) << describe(result.diagnostics);
  ASSERT_EQ(result.config->routes[0].to.size(), 3u);
  EXPECT_TRUE(result.config->routes[0].to[2].isV6());

  auto bad = config;
  bad["routes"][0]["to"][2] = "fd00:64:12::/48";
  expectError("chip", bad, "/routes/0/to/2", "overlaps the mesh prefix fd00:64:12::/64");
  bad = config;
  bad["routes"][0]["to"][2] = "fd00:65::1/48";
  expectError("chip", bad, "/routes/0/to/2", "did you mean fd00:65::/48?");
  bad = config;
  bad["hosts"][2].erase("mesh_address6");
  expectError("chip", bad, "/routes/0/to/2", "\"illimani\" (/hosts/2) in /routes/0/via");
  bad = config;
  bad["routes"][0]["from"] = {"172.16.1.64/27"};
  expectError("chip", bad, "/routes/0/to/2", "is IPv6 in a set with \"from\"");
  bad = exampleIpv4Only("chip");
  bad["routes"][0]["to"].push_back("fd00:65::/48");
  expectError("chip", bad, "/routes/0/to/2", "no /tinc/address6");
}

TEST(ValidateIpv6, StatusListenerNotOnAnAddressPublicClientsReach) {
  auto config = chipWithIpv6();
  config["openvpn"][0].erase("rate_limit");
  config["openvpn"][0]["subnet6"] = "fd00:172:16:3::/64";
  config["status"]["listen"] = "fd00:172:16:3::1";
  expectError("chip", config, "/status/listen", "is inside fd00:172:16:3::/64");
  config["status"]["listen"] = "fd00:64:12::11";
  expectError("chip", config, "/status/listen", "is inside fd00:64:12::/64");
  config["status"]["listen"] = "::1";
  auto result = parseAs("chip", config.dump());
  EXPECT_TRUE(result.config) << describe(result.diagnostics);
}

TEST(Validate, NotJsonAtAll) {
  auto result = parseAs("chip", "{\"name\": ");
  EXPECT_FALSE(result.config);
  EXPECT_NE(describe(result.diagnostics).find("is not valid JSON"), std::string::npos);
  result = parseAs("chip", "[]");
  EXPECT_NE(describe(result.diagnostics).find("is not an object"), std::string::npos);
}

TEST(Validate, NumberTooLargeForJsonIsAnErrorNotACrash) {
  // Found by the fuzzer: nlohmann::json throws out_of_range, not parse_error, for this.
  auto result = parseAs("chip", "{\"name\": 5555515555E5555555555}");
  EXPECT_FALSE(result.config);
  EXPECT_NE(describe(result.diagnostics).find("number overflow"), std::string::npos)
      << describe(result.diagnostics);
}

TEST(Validate, TooLongStringIsShortenedInTheMessage) {
  auto config = example("chip");
  config["tinc"]["netname"] = std::string(5000, 'a');
  auto result = parseAs("chip", config.dump());
  EXPECT_FALSE(result.config);
  std::string text = describe(result.diagnostics);
  EXPECT_NE(text.find("/tinc/netname"), std::string::npos);
  EXPECT_LT(text.size(), 2000u);
}

}  // namespace
}  // namespace meshbroker::config
