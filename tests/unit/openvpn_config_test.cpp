// OpenVPN in the config and the renderer: the rules for offered instances and limits, the
// server config of each kind, and client profiles that list every server.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "templates/renderer.hpp"
#include "unit/test_support.hpp"

namespace meshbroker {
namespace {

using meshbroker::testing::describe;
using meshbroker::testing::example;
using meshbroker::testing::exampleText;
using meshbroker::testing::expectError;
using meshbroker::testing::parseAs;
using nlohmann::json;

config::NodeConfig load(const std::string& node, const json& config) {
  auto result = parseAs(node, config.dump());
  if (!result.config) throw std::runtime_error(describe(result.diagnostics));
  return *result.config;
}

const templates::RenderedFile& fileNamed(const std::vector<templates::RenderedFile>& files,
                                         const std::string& path) {
  for (const auto& file : files) {
    if (file.path == path) return file;
  }
  throw std::runtime_error("not rendered: " + path);
}

TEST(OpenVpnValidate, OfferedByGateway) {
  auto config = example("chip");
  config["hosts"][1]["openvpn"] = {{{"name", "public"}, {"port", 1194}}};
  expectError("chip", config, "/hosts/1/openvpn/0/name", "\"public\" is offered by a gateway");
}

TEST(OpenVpnValidate, OfferedWithoutPublicAddress) {
  auto config = example("chip");
  config["hosts"][0].erase("public_address");
  config["tinc"]["connect_to"] = json::array();
  expectError("chip", config, "/hosts/0/openvpn/0/name", "has no public_address");
}

TEST(OpenVpnValidate, OfferedTwice) {
  auto config = example("chip");
  config["hosts"][0]["openvpn"].push_back({{"name", "public"}, {"port", 1195}});
  expectError("chip", config, "/hosts/0/openvpn/1/name", "already offered at /hosts/0/openvpn/0");
}

TEST(OpenVpnValidate, OfferedFieldValues) {
  auto config = example("chip");
  config["hosts"][0]["openvpn"][0]["port"] = 70000;
  expectError("chip", config, "/hosts/0/openvpn/0/port", "70000");
  config = example("chip");
  config["hosts"][0]["openvpn"][0]["proto"] = "sctp";
  expectError("chip", config, "/hosts/0/openvpn/0/proto", "\"sctp\"");
  config = example("chip");
  config["hosts"][0]["openvpn"][0]["name"] = "pub-lic";
  expectError("chip", config, "/hosts/0/openvpn/0/name", "\"pub-lic\"");
}

TEST(OpenVpnValidate, RateLimitedSubnetTooLarge) {
  auto config = example("chip");
  config["openvpn"][0]["subnet"] = "172.16.0.0/23";
  config["openvpn"][1]["subnet"] = "172.16.8.0/27";
  expectError("chip", config, "/openvpn/0/subnet", "\"172.16.0.0/23\" is too large");
}

// Issue 21: the keepalive is the instance's (defaults measured by bench/client-failover); a
// restart shorter than two pings, or values OpenVPN would not take, are refused.
TEST(OpenVpnValidate, KeepaliveBounds) {
  auto config = example("chip");
  config["openvpn"][0]["ping_s"] = 2;
  config["openvpn"][0]["ping_restart_s"] = 3;
  expectError("chip", config, "/openvpn/0/ping_restart_s", "is less than twice ping_s (2)");
  config = example("chip");
  config["openvpn"][0]["ping_s"] = 0;
  expectError("chip", config, "/openvpn/0/ping_s", "0");
  config = example("chip");
  config["openvpn"][1]["ping_restart_s"] = "4s";
  expectError("chip", config, "/openvpn/1/ping_restart_s", "\"4s\"");
  config = example("chip");
  config["openvpn"][1]["ping_restart_s"] = 3601;
  expectError("chip", config, "/openvpn/1/ping_restart_s", "3601");
}

TEST(OpenVpnRender, KeepaliveDefaultsAndConfigured) {
  auto config = example("chip");
  config["openvpn"][1]["ping_s"] = 10;
  config["openvpn"][1]["ping_restart_s"] = 120;
  auto files = templates::renderNode(load("chip", config), {});
  EXPECT_NE(fileNamed(files, "openvpn/public.conf").content.find("\nkeepalive 1 4\n"),
            std::string::npos);
  EXPECT_NE(fileNamed(files, "openvpn/private.conf").content.find("\nkeepalive 10 120\n"),
            std::string::npos);
}

TEST(OpenVpnValidate, PkiDirDefaultsUnderStateDir) {
  auto node = load("chip", example("chip"));
  EXPECT_EQ(node.paths.pki_dir, "/var/lib/meshbroker/pki");
  auto config = example("chip");
  config["paths"]["pki_dir"] = "pki";
  EXPECT_EQ(load("chip", config).paths.pki_dir, "/etc/meshbroker/pki");
  config["paths"]["pki_dir"] = "p ki";
  expectError("chip", config, "/paths/pki_dir", "not an acceptable path");
}

TEST(OpenVpnRender, PublicAndPrivateServerConfigs) {
  auto node = load("chip", example("chip"));
  auto files = templates::renderNode(node, {});
  const auto& pub = fileNamed(files, "openvpn/public.conf").content;
  const auto& priv = fileNamed(files, "openvpn/private.conf").content;
  for (const char* line :
       {"dev vpn_public\n", "dev-type tun\n", "topology subnet\n",
        "server 172.16.1.64 255.255.255.224\n", "push \"route 10.64.0.0 255.224.0.0\"\n",
        "push \"route 100.64.12.0 255.255.255.224\"\n", "duplicate-cn\n", "max-clients 25\n",
        "ca /var/lib/meshbroker/pki/trust/public.pem\n",
        "crl-verify /var/lib/meshbroker/pki/crl/public.pem\n",
        "tls-crypt /var/lib/meshbroker/pki/private/tls-crypt/public.key\n",
        "cert /var/lib/meshbroker/pki/servers/chip_public.crt\n",
        "management /run/meshbroker/openvpn-public.sock unix\n", "script-security 1\n",
        "user meshbroker-openvpn\n", "group meshbroker-openvpn\n", "persist-tun\n",
        "explicit-exit-notify 2\n", "data-ciphers AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305\n"}) {
    EXPECT_NE(pub.find(line), std::string::npos) << line;
  }
  EXPECT_NE(priv.find("proto tcp-server\n"), std::string::npos);
  // Each instance trusts its own client CA and CRL only (issue 18, finding 1).
  EXPECT_NE(priv.find("ca /var/lib/meshbroker/pki/trust/private.pem\n"), std::string::npos);
  EXPECT_NE(priv.find("crl-verify /var/lib/meshbroker/pki/crl/private.pem\n"), std::string::npos);
  EXPECT_EQ(priv.find("duplicate-cn"), std::string::npos);
  EXPECT_EQ(priv.find("max-clients"), std::string::npos);
  EXPECT_EQ(priv.find("explicit-exit-notify"), std::string::npos);  // udp only
  for (const auto* text : {&pub, &priv}) {
    EXPECT_EQ(text->find("\nup "), std::string::npos);
    EXPECT_EQ(text->find("\ndown "), std::string::npos);
  }
  // Gateways run no OpenVPN.
  for (const auto& file : templates::renderNode(load("cometa", example("cometa")), {})) {
    EXPECT_FALSE(file.path.string().starts_with("openvpn/")) << file.path;
  }
}

// Issue 18, finding 5: openvpn drops root to its own user, not the shared nobody; "root"
// keeps root (no user/group lines at all).
TEST(OpenVpnRender, DropsRootToTheConfiguredUser) {
  auto config = example("chip");
  config["supervisor"]["openvpn_user"] = "vpn_users";
  auto files = templates::renderNode(load("chip", config), {});
  const auto& pub = fileNamed(files, "openvpn/public.conf").content;
  EXPECT_NE(pub.find("\nuser vpn_users\ngroup vpn_users\n"), std::string::npos) << pub;
  config["supervisor"]["openvpn_user"] = "root";
  files = templates::renderNode(load("chip", config), {});
  const auto& kept = fileNamed(files, "openvpn/public.conf").content;
  EXPECT_EQ(kept.find("\nuser "), std::string::npos) << kept;
  EXPECT_EQ(kept.find("\ngroup "), std::string::npos) << kept;
}

TEST(OpenVpnRender, PushesOnlyRouteSetsForTheInstance) {
  auto config = meshbroker::testing::exampleIpv4Only("chip");  // "from" sets are IPv4-only
  config["routes"][0]["from"] = {"172.16.1.96/27"};            // the private instance only
  auto files = templates::renderNode(load("chip", config), {});
  EXPECT_EQ(fileNamed(files, "openvpn/public.conf").content.find("10.64.0.0"), std::string::npos);
  EXPECT_NE(fileNamed(files, "openvpn/private.conf").content.find("10.64.0.0"), std::string::npos);
}

TEST(OpenVpnProfile, ListsEveryServerOfferingTheInstance) {
  auto node = load("comegato", example("comegato"));
  auto name = *config::NodeName::parse("public", nullptr);
  auto remotes = templates::profileRemotes(node, name);
  ASSERT_EQ(remotes.size(), 2u);
  EXPECT_EQ(remotes[0].host, "192.0.2.12");  // this node first
  EXPECT_EQ(remotes[1].host, "192.0.2.11");
  auto priv = templates::profileRemotes(node, *config::NodeName::parse("private", nullptr));
  ASSERT_EQ(priv.size(), 1u);  // only chip offers it
  EXPECT_EQ(priv[0].proto, config::Proto::kTcp);
  EXPECT_EQ(priv[0].port.value(), 443);

  templates::ProfileSecrets secrets{
      "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n", "CERT\n", "KEY\n", "TLS\n"};
  auto profile =
      templates::renderClientProfile(node, name, config::InstanceKind::kPublic, "x", secrets);
  EXPECT_NE(profile.find("remote 192.0.2.12 1194 udp\nremote 192.0.2.11 1194 udp\n"
                         "remote-random\nserver-poll-timeout 2\nconnect-retry 0 5\n"),
            std::string::npos)
      << profile;
  EXPECT_NE(profile.find("<ca>\n-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n"
                         "</ca>\n<cert>\nCERT\n</cert>\n<key>\nKEY\n</key>\n"
                         "<tls-crypt>\nTLS\n</tls-crypt>\n"),
            std::string::npos)
      << profile;
  auto none = *config::NodeName::parse("nothing", nullptr);
  EXPECT_THROW(
      templates::renderClientProfile(node, none, config::InstanceKind::kPublic, "x", secrets),
      templates::RenderError);
  // A secret with a control character inside a line is refused, not written.
  secrets.key_pem = "KEY\r\nup /bin/sh\n";
  EXPECT_THROW(
      templates::renderClientProfile(node, name, config::InstanceKind::kPublic, "x", secrets),
      templates::RenderError);
}

}  // namespace
}  // namespace meshbroker
