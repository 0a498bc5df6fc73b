// The registry's side of issue 20: route sets that follow the network ("all_gateways"), nodes
// taken out with `node remove` (dropped everywhere, even where a file names them), the
// registry's own record (strict, never read as empty when garbled), and CRLs carried by the
// document onto every server that runs the instance.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "model/pki_layout.hpp"
#include "model/runtime_layout.hpp"
#include "network/envelope.hpp"
#include "network/overlay.hpp"
#include "network/registry.hpp"
#include "network/registry_state.hpp"
#include "network/signing.hpp"
#include "supervisor/network_sync.hpp"
#include "tests/unit/test_support.hpp"

namespace meshbroker {
namespace {

namespace fs = std::filesystem;

const std::string kKey = "-----BEGIN RSA PUBLIC KEY-----\nBBBB\n-----END RSA PUBLIC KEY-----\n";
const std::string kCrl = "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n";

config::NodeName name(const char* text) { return *config::NodeName::parse(text, nullptr); }

std::vector<std::string> gatewaysOf(const config::RouteSet& set) {
  std::vector<std::string> out;
  for (const auto& via : set.via) out.push_back(via.gateway.str());
  return out;
}

model::NetworkNode gateway(const std::string& node, const std::string& address) {
  return {node, "gateway", address, std::nullopt, std::nullopt, kKey, {}, {}};
}

TEST(AllGateways, ARouteSetCanFollowEveryGatewayTheNodeKnows) {
  auto json = testing::example("chip");
  json["routes"][0]["via"] = "all_gateways";
  auto loaded = testing::parseAs("chip", json.dump());
  ASSERT_TRUE(loaded.config) << testing::describe(loaded.diagnostics);
  EXPECT_TRUE(loaded.config->routes[0].all_gateways);
  EXPECT_EQ(gatewaysOf(loaded.config->routes[0]), (std::vector<std::string>{"cometa", "illimani"}));

  json["routes"][0]["via"] = "all_the_gateways";
  testing::expectError("chip", json, "/routes/0/via", "\"all_gateways\"");
  json["routes"][0]["via"] = nlohmann::json::array();
  testing::expectError("chip", json, "/routes/0/via", "is empty");

  // No gateway known yet: a warning, not an error (one may join).
  json["routes"][0]["via"] = "all_gateways";
  json["hosts"] = nlohmann::json::array({json["hosts"][0]});  // comegato, a server
  loaded = testing::parseAs("chip", json.dump());
  ASSERT_TRUE(loaded.config) << testing::describe(loaded.diagnostics);
  EXPECT_TRUE(loaded.config->routes[0].via.empty());
  EXPECT_NE(testing::describe(loaded.diagnostics).find("names no gateway yet"), std::string::npos);

  // A gateway from the network document joins the set; the file's explicit sets are unchanged.
  model::NetworkDocument d;
  d.network = "seed";
  d.version = 3;
  d.nodes.push_back(gateway("nevado", "100.64.12.20"));
  auto result = network::overlay(*loaded.config, d);
  ASSERT_TRUE(result.errors.empty()) << ::testing::PrintToString(result.errors);
  EXPECT_EQ(gatewaysOf(result.config.routes[0]), (std::vector<std::string>{"nevado"}));
}

TEST(NodeRemoval, TheDocumentsRemovalWinsOverTheFile) {
  auto loaded = testing::parseAs("chip", testing::example("chip").dump());
  ASSERT_TRUE(loaded.config);
  const auto& file = *loaded.config;
  model::NetworkDocument d;
  d.network = "seed";
  d.version = 9;
  d.nodes.push_back(gateway("nevado", "100.64.12.20"));
  d.removed = {"illimani", "nevado_old"};
  auto result = network::overlay(file, d);
  ASSERT_TRUE(result.errors.empty()) << ::testing::PrintToString(result.errors);
  EXPECT_EQ(result.dropped, (std::vector<std::string>{"illimani"}));
  EXPECT_EQ(result.config.findHost(name("illimani")), nullptr);
  EXPECT_NE(file.findHost(name("illimani")), nullptr) << "the file's config is not touched";
  EXPECT_EQ(gatewaysOf(result.config.routes[0]), (std::vector<std::string>{"cometa"}));
  EXPECT_EQ(result.config.routes[0].removed_via, (std::vector<std::string>{"illimani"}));

  // Every gateway of an explicit set removed: still a valid config; all_down applies.
  d.removed = {"cometa", "illimani"};
  result = network::overlay(file, d);
  ASSERT_TRUE(result.errors.empty()) << ::testing::PrintToString(result.errors);
  EXPECT_TRUE(result.config.routes[0].via.empty());
}

// IPv6 (issue 21): the registry publishes each node's IPv6 address and pools; a node with an
// IPv6 prefix takes them, a node without one leaves them out and keeps working on IPv4.
TEST(NetworkIpv6, TheDocumentCarriesIpv6ToNodesThatUseIt) {
  auto json = testing::exampleIpv4Only("chip");
  json["tinc"]["prefix6"] = "fd00:64:12::/64";
  json["tinc"]["address6"] = "fd00:64:12::11";
  json["openvpn"][1]["subnet6"] = "fd00:172:16:1::/64";
  json["hosts"][1]["mesh_address6"] = "fd00:64:12::9";
  auto registry = testing::parseAs("chip", json.dump());
  ASSERT_TRUE(registry.config) << testing::describe(registry.diagnostics);
  const auto described = network::describeNetwork(*registry.config, {}, {});
  const auto* chip = described.node("chip");
  ASSERT_NE(chip, nullptr);
  EXPECT_EQ(chip->mesh_address6, "fd00:64:12::11");
  EXPECT_EQ(chip->client_subnets6, (std::vector<std::string>{"fd00:172:16:1::/64"}));

  model::NetworkDocument d = described;
  d.version = 4;
  d.nodes.push_back(gateway("nevado", "100.64.12.20"));
  d.nodes.back().mesh_address6 = "fd00:64:12::20";

  // cometa with IPv6: chip's pool is routed back, nevado has its IPv6 address.
  auto cometa_json = testing::exampleIpv4Only("cometa");
  cometa_json["tinc"]["prefix6"] = "fd00:64:12::/64";
  cometa_json["tinc"]["address6"] = "fd00:64:12::9";
  auto cometa6 = testing::parseAs("cometa", cometa_json.dump());
  ASSERT_TRUE(cometa6.config) << testing::describe(cometa6.diagnostics);
  auto result = network::overlay(*cometa6.config, d);
  ASSERT_TRUE(result.errors.empty()) << ::testing::PrintToString(result.errors);
  const auto* nevado = result.config.findHost(name("nevado"));
  ASSERT_NE(nevado, nullptr);
  ASSERT_TRUE(nevado->mesh_address6);
  EXPECT_EQ(nevado->mesh_address6->str(), "fd00:64:12::20");

  // cometa without IPv6: the same document applies, with no IPv6 in it.
  auto cometa4 = testing::parseAs("cometa", testing::exampleIpv4OnlyText("cometa"));
  ASSERT_TRUE(cometa4.config);
  result = network::overlay(*cometa4.config, d);
  ASSERT_TRUE(result.errors.empty()) << ::testing::PrintToString(result.errors);
  ASSERT_NE(result.config.findHost(name("nevado")), nullptr);
  EXPECT_FALSE(result.config.findHost(name("nevado"))->mesh_address6);

  // An IPv6 address outside cometa's prefix is refused like an IPv4 one outside the mesh.
  d.nodes.back().mesh_address6 = "fd00:99::20";
  result = network::overlay(*cometa6.config, d);
  EXPECT_FALSE(result.errors.empty());
  EXPECT_EQ(result.config.findHost(name("nevado")), nullptr) << "the file's config is kept";
}

TEST(RegistryState, DescribesJoinedNodesAndListsTheRemoved) {
  auto loaded = testing::parseAs("chip", testing::example("chip").dump());
  ASSERT_TRUE(loaded.config);
  network::RegistryState state;
  state.joined.push_back(gateway("nevado", "100.64.12.20"));
  auto d = network::describeNetwork(*loaded.config, {{"public", kCrl}}, state);
  ASSERT_NE(d.node("nevado"), nullptr);
  ASSERT_NE(d.node("illimani"), nullptr);
  const auto* chip = d.node("chip");
  ASSERT_NE(chip, nullptr);
  ASSERT_EQ(chip->openvpn.size(), 2u);
  EXPECT_EQ(chip->openvpn[1], (model::NetworkOffer{"private", 443, "tcp"}));

  // Refusals: the registry itself, a stranger, twice.
  EXPECT_NE(network::removeNode(state, d, "chip", "chip", 1).find("is the registry"),
            std::string::npos);
  EXPECT_NE(network::removeNode(state, d, "chip", "nobody", 1).find("no node named"),
            std::string::npos);
  EXPECT_EQ(network::removeNode(state, d, "chip", "illimani", 1), "");
  EXPECT_EQ(network::removeNode(state, d, "chip", "nevado", 2), "");
  EXPECT_TRUE(state.joined.empty());
  EXPECT_NE(network::removeNode(state, d, "chip", "nevado", 3).find("already"), std::string::npos);

  d = network::describeNetwork(*loaded.config, {}, state);
  EXPECT_EQ(d.node("illimani"), nullptr) << "removal wins over the registry's own file";
  EXPECT_EQ(d.node("nevado"), nullptr);
  EXPECT_EQ(d.removed, (std::vector<std::string>{"illimani", "nevado"}));
  // A removal is news: a new version.
  auto held = d;
  held.removed.pop_back();
  held.version = 4;
  auto next = network::nextVersion(held, d, 100);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->version, 5u);

  // The record round-trips, and garbage in it is an error naming the field, never "empty".
  auto parsed = network::parseRegistryState(network::toJson(state).dump());
  ASSERT_TRUE(parsed.state) << parsed.error;
  EXPECT_EQ(*parsed.state, state);
  auto bad = network::toJson(state);
  bad["removed"][0]["name"] = "ill imani";
  EXPECT_NE(network::parseRegistryState(bad.dump()).error.find("removed[0].name"),
            std::string::npos);
  bad = network::toJson(state);
  bad["joined"] = {{{"name", "x"}}};
  EXPECT_NE(network::parseRegistryState(bad.dump()).error.find("joined[0]"), std::string::npos);
  EXPECT_FALSE(network::parseRegistryState("{\"format\":\"meshbroker-registry/1\"").state);
  EXPECT_FALSE(network::parseRegistryState("").state);
}

class RegistrySyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mb-registry-sync-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  config::NodeConfig load(const char* node) {
    auto json = testing::example(node);
    json["network"] = {{"name", "seed"}, {"registry", "chip"}, {"key", pub_}};
    json["network"]["signing_key_file"] = (dir_ / "signing.key").string();
    json["paths"]["state_dir"] = (dir_ / node / "state").string();
    json["paths"]["pki_dir"] = (dir_ / node / "pki").string();
    auto loaded = testing::parseAs(node, json.dump());
    EXPECT_TRUE(loaded.config) << testing::describe(loaded.diagnostics);
    return *loaded.config;
  }
  void write(const fs::path& file, const std::string& text) {
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
  }

  fs::path dir_;
  std::string key_ = network::generateSigningKey();
  std::string pub_ = network::publicKeyOf(key_);
  asio::io_context io_;  // never run: no timers fire
  supervisor::PartHooks hooks_{[](std::string, std::string) {}, [] {}};
};

TEST_F(RegistrySyncTest, NodeRemoveIsKeptAndSignedAndAGarbledRecordStopsPublishing) {
  write(dir_ / "signing.key", key_);
  auto chip = load("chip");
  const model::PkiLayout pki{chip.paths.pki_dir};
  write(pki.instanceCrl("public"), kCrl);
  supervisor::NetworkSync sync(io_, chip, hooks_);
  sync.prepare();
  sync.describe(chip);
  sync.configure();
  ASSERT_TRUE(sync.held());
  EXPECT_EQ(sync.held()->version, 1u);
  EXPECT_EQ(sync.held()->crls.at("public"), kCrl);
  ASSERT_NE(sync.held()->node("illimani"), nullptr);

  EXPECT_NE(sync.removeNode("chip").find("is the registry"), std::string::npos);
  EXPECT_EQ(sync.removeNode("illimani"), "");
  const auto record = model::StateLayout{chip.paths.state_dir}.registryState();
  struct stat st {};
  ASSERT_EQ(::stat(record.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(sync.describe(chip).node("illimani"), nullptr);
  sync.configure();  // what the reload after `node remove` does
  EXPECT_EQ(sync.held()->version, 2u);
  EXPECT_EQ(sync.held()->removed, (std::vector<std::string>{"illimani"}));
  EXPECT_EQ(sync.state()->removed, (std::vector<std::string>{"illimani"}));
  sync.stop();

  // A garbled record is never read as "nobody removed": the registry stops publishing.
  write(record, "{\"format\":\"meshbroker-registry/1\",\"joined\":[],\"removed\":[{\"name\":5}]}");
  write(pki.instanceCrl("public"), kCrl + kCrl);  // would be a new version
  supervisor::NetworkSync again(io_, chip, hooks_);
  again.prepare();
  again.configure();
  EXPECT_EQ(again.held()->version, 2u);
  EXPECT_NE(again.state()->last_error.find("not publishing"), std::string::npos)
      << again.state()->last_error;
  EXPECT_NE(again.removeNode("cometa").find("removed[0].name"), std::string::npos);
  again.stop();
}

TEST_F(RegistrySyncTest, AServerTakesTheCrlOfItsInstancesFromTheDocument) {
  auto comegato = load("comegato");
  const model::PkiLayout pki{comegato.paths.pki_dir};
  write(pki.instanceCrl("public"), kCrl);
  write(pki.instanceCrl("private"), kCrl);
  supervisor::NetworkSync sync(io_, comegato, hooks_);
  sync.configure();
  model::NetworkDocument d;
  d.network = "seed";
  d.version = 2;
  d.nodes.push_back(gateway("cometa", "100.64.12.9"));
  const std::string revoked = kCrl + "-----BEGIN X509 CRL-----\nBBBB\n-----END X509 CRL-----\n";
  d.crls = {{"public", revoked}, {"elsewhere", revoked}};
  sync.offer(network::sealDocument(d, key_), "chip");
  ASSERT_EQ(sync.held()->version, 2u);
  EXPECT_EQ(testing::readText(pki.instanceCrl("public")), revoked);
  EXPECT_EQ(testing::readText(pki.instanceCrl("private")), kCrl) << "not in the document";
  EXPECT_FALSE(fs::exists(pki.instanceCrl("elsewhere"))) << "not an instance of this server";

  // A server that holds the instance's CA key makes its own CRL: the document does not
  // overwrite it.
  write(pki.instanceCaKey("private"), "key");
  d.version = 3;
  d.crls = {{"private", revoked}};
  sync.offer(network::sealDocument(d, key_), "chip");
  ASSERT_EQ(sync.held()->version, 3u);
  EXPECT_EQ(testing::readText(pki.instanceCrl("private")), kCrl);
  sync.stop();
}

}  // namespace
}  // namespace meshbroker
