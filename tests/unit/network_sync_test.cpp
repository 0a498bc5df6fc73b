// supervisor::NetworkSync (issue 20) fed what a server could answer: it keeps only a verified,
// newer document of its own network, writes it to the state folder, and refuses a replay, a
// forgery and another network's document without touching what it holds. Also: the network
// section of the config is checked like the rest.
#include "supervisor/network_sync.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "model/runtime_layout.hpp"
#include "network/envelope.hpp"
#include "network/overlay.hpp"
#include "network/signing.hpp"
#include "tests/unit/test_support.hpp"
#include "web/network_handler.hpp"
#include "web/server.hpp"

namespace meshbroker::supervisor {
namespace {

namespace fs = std::filesystem;

class NetworkSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mb-network-sync-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    auto json = testing::example("comegato");
    json["network"] = {{"name", "seed"}, {"registry", "chip"}, {"key", pub_}};
    json["paths"]["state_dir"] = dir_.string();
    auto loaded = testing::parseAs("comegato", json.dump());
    ASSERT_TRUE(loaded.config) << testing::describe(loaded.diagnostics);
    config_.emplace(std::move(*loaded.config));
  }
  void TearDown() override { fs::remove_all(dir_); }

  model::NetworkDocument document(std::uint64_t version, std::string network = "seed") {
    model::NetworkDocument d;
    d.network = std::move(network);
    d.version = version;
    d.nodes.push_back({"chip",
                       "server",
                       "100.64.12.11",
                       std::nullopt,
                       std::nullopt,
                       "-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----\n",
                       {},
                       {}});
    return d;
  }
  std::string held() { return testing::readText(model::StateLayout{dir_}.networkDocument()); }
  // comegato pulling from chip on loopback: chip's mesh address made 127.0.0.1, the document
  // asked for on `port`, the poll period an hour (only a peer-up or a retry pulls).
  config::NodeConfig pullingFromLoopback(int port) {
    auto json = testing::example("comegato");
    json["network"] = {{"name", "seed"},
                       {"registry", "chip"},
                       {"key", pub_},
                       {"port", port},
                       {"poll_ms", 3600000}};
    json["paths"]["state_dir"] = dir_.string();
    auto loaded = testing::parseAs("comegato", json.dump());
    EXPECT_TRUE(loaded.config) << testing::describe(loaded.diagnostics);
    if (!loaded.config) throw std::runtime_error("the example config does not load");
    auto config = std::move(*loaded.config);
    for (auto& host : config.hosts) {
      if (host.name.str() == "chip")
        host.mesh_address = *config::Ipv4Address::parse("127.0.0.1", nullptr);
    }
    return config;
  }

  fs::path dir_;
  std::string key_ = network::generateSigningKey();
  std::string pub_ = network::publicKeyOf(key_);
  std::optional<config::NodeConfig> config_;
  asio::io_context io_;  // never run: no poll, no listener
  std::vector<std::string> events_;
};

TEST_F(NetworkSyncTest, TakesOnlyAVerifiedNewerDocumentAndKeepsIt) {
  NetworkSync sync(io_, *config_,
                   {[&](std::string, std::string what) { events_.push_back(what); }, [] {}});
  sync.configure();
  ASSERT_TRUE(sync.state());
  EXPECT_EQ(sync.state()->version, 0u);
  EXPECT_EQ(sync.state()->key_fingerprint, network::fingerprintOf(pub_));

  const auto v2 = network::sealDocument(document(2), key_);
  sync.offer(v2, "chip");
  EXPECT_EQ(sync.state()->version, 2u);
  EXPECT_EQ(held(), v2);
  EXPECT_EQ(sync.state()->last_error, "");

  // A replay of an older version, a forgery, a document of another network, another key.
  sync.offer(network::sealDocument(document(1), key_), "chip");
  EXPECT_NE(sync.state()->last_error.find("older than 2"), std::string::npos)
      << sync.state()->last_error;
  auto forged = nlohmann::json::parse(network::sealDocument(document(3), key_));
  forged["document"] = forged["document"].get<std::string>() + " ";
  sync.offer(forged.dump(), "comegato");
  EXPECT_NE(sync.state()->last_error.find("signature does not match"), std::string::npos);
  sync.offer(network::sealDocument(document(9, "otra"), key_), "chip");
  EXPECT_NE(sync.state()->last_error.find("network \"otra\""), std::string::npos);
  sync.offer(network::sealDocument(document(10), network::generateSigningKey()), "chip");
  EXPECT_NE(sync.state()->last_error.find("another key"), std::string::npos);
  EXPECT_EQ(sync.state()->version, 2u);
  EXPECT_EQ(held(), v2) << "a refused document touched the held one";

  // The same one again is not news; it clears the last error (a good pull).
  sync.offer(v2, "chip");
  EXPECT_EQ(sync.state()->last_error, "");
  sync.stop();
}

TEST_F(NetworkSyncTest, AtStartTheHeldDocumentIsVerifiedAgain) {
  const auto layout = model::StateLayout{dir_};
  fs::create_directories(layout.networkDir());
  auto tampered = nlohmann::json::parse(network::sealDocument(document(5), key_));
  tampered["document"] = network::documentText(document(50));
  std::ofstream(layout.networkDocument()) << tampered.dump();
  {
    NetworkSync sync(io_, *config_, {[](std::string, std::string) {}, [] {}});
    sync.configure();
    EXPECT_EQ(sync.state()->version, 0u);
    EXPECT_NE(sync.state()->last_error.find("ignored"), std::string::npos);
  }
  std::ofstream(layout.networkDocument()) << network::sealDocument(document(5), key_);
  NetworkSync sync(io_, *config_, {[](std::string, std::string) {}, [] {}});
  sync.configure();
  EXPECT_EQ(sync.state()->version, 5u);
}

// When tinc says a server it pulls from is up, a node asks it at once, not at its next poll: the
// pull at start usually finds the mesh not there yet. The server is a real listener on loopback
// (chip's mesh address made 127.0.0.1) and the period an hour, so only the peer-up can have
// made the second pull.
TEST_F(NetworkSyncTest, PullsAtOnceWhenAServerItPullsFromComesUp) {
  web::NetworkHandler handler;
  web::ServerOptions options;
  options.listen = "127.0.0.1";
  options.port = 0;
  options.threads = 1;
  web::HttpServer server(handler, options);
  server.start();
  auto config = pullingFromLoopback(server.port());
  NetworkSync sync(io_, config, {[](std::string, std::string) {}, [] {}});
  const auto version = [&] { return sync.held() ? sync.held()->version : 0u; };
  const auto runUntil = [&](std::uint64_t want) {
    // The pull's thread posts its result to the loop; give up after 30 s (a broken pull).
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (version() != want && std::chrono::steady_clock::now() < give_up) {
      io_.run_for(std::chrono::milliseconds(50));
      io_.restart();
    }
  };
  handler.hold(network::sealDocument(document(1), key_));
  sync.configure();  // the first pull, a second from now
  runUntil(1);
  ASSERT_EQ(version(), 1u);

  handler.hold(network::sealDocument(document(2), key_));
  sync.peerUp("cometa");  // a gateway: not a server this node pulls from
  io_.run_for(std::chrono::milliseconds(300));
  io_.restart();
  EXPECT_EQ(version(), 1u) << "pulled when a gateway came up";
  sync.peerUp("chip");
  runUntil(2);
  EXPECT_EQ(version(), 2u) << "did not pull when chip came up";
  sync.stop();
  server.stop();
}

// A server whose pulls go unanswered (every SYN dropped, as over a tinc path whose packet key
// is out of step) is reported to the stale-path watch from the first such pull, and stays so
// over the next ones; one that answers, even with a refusal, is not.
TEST_F(NetworkSyncTest, AServerThatAnswersNoPullIsReportedUntilItAnswers) {
  testing::SilentPort chip;
  auto config = pullingFromLoopback(chip.port());
  NetworkSync sync(io_, config, {[](std::string, std::string) {}, [] {}});
  const auto runWhile = [&](auto&& condition) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (condition() && std::chrono::steady_clock::now() < give_up) {
      io_.run_for(std::chrono::milliseconds(50));
      io_.restart();
    }
  };
  EXPECT_TRUE(sync.unansweredServers().empty());
  const auto before = Clock::now();
  sync.configure();  // the first pull, a second from now; it times out after 2 s
  runWhile([&] { return sync.unansweredServers().empty(); });
  ASSERT_EQ(sync.unansweredServers().size(), 1u);
  ASSERT_EQ(sync.unansweredServers().begin()->first, "chip");
  const auto since = sync.unansweredServers().begin()->second;
  EXPECT_GE(since, before);
  EXPECT_LE(since, Clock::now() - std::chrono::seconds(2)) << "not the start of the pull";

  sync.peerUp("chip");  // another unanswered pull: the silence still counts from the first
  const auto second = Clock::now();
  runWhile([&] { return Clock::now() < second + std::chrono::milliseconds(2500); });
  ASSERT_EQ(sync.unansweredServers().count("chip"), 1u);
  EXPECT_EQ(sync.unansweredServers().at("chip"), since);

  chip.refuse();  // connection refused: chip's side answered
  sync.peerUp("chip");
  runWhile([&] { return !sync.unansweredServers().empty(); });
  EXPECT_TRUE(sync.unansweredServers().empty()) << "a refusal is an answer";
  EXPECT_EQ(sync.held(), std::nullopt);
  sync.stop();
}

TEST_F(NetworkSyncTest, TheDocumentAddsTheNodesTheFileDoesNotNameAndNothingElse) {
  auto json = testing::example("comegato");
  json["network"] = {{"name", "seed"}, {"registry", "chip"}, {"key", pub_}};
  json["routes"] = nlohmann::json::array();
  json["hosts"].erase(2);  // illimani: only the document knows it now
  auto loaded = testing::parseAs("comegato", json.dump());
  ASSERT_TRUE(loaded.config) << testing::describe(loaded.diagnostics);
  const auto& file = *loaded.config;
  ASSERT_EQ(file.findHost(*config::NodeName::parse("illimani", nullptr)), nullptr);

  auto d = document(4);
  d.nodes[0].mesh_address = "100.64.12.99";  // chip: the file names it, so the file wins
  const std::string key = "-----BEGIN RSA PUBLIC KEY-----\nBBBB\n-----END RSA PUBLIC KEY-----\n";
  d.nodes.push_back(
      {"illimani", "gateway", "100.64.12.10", "198.51.100.4", std::nullopt, key, {}, {}});
  d.nodes.push_back(
      {"nevado", "server", "100.64.12.20", "198.51.100.5", 656, key, {}, {"172.16.9.0/27"}});
  d.nodes.push_back({"comegato",
                     "server",
                     "100.64.12.77",
                     std::nullopt,
                     std::nullopt,
                     key,
                     {},
                     {}});  // itself: never a host
  auto result = network::overlay(file, d);
  ASSERT_TRUE(result.errors.empty()) << ::testing::PrintToString(result.errors);
  EXPECT_EQ(result.added, (std::vector<std::string>{"illimani", "nevado"}));
  const auto* illimani = result.config.findHost(*config::NodeName::parse("illimani", nullptr));
  ASSERT_NE(illimani, nullptr);
  EXPECT_EQ(illimani->role, config::Role::kGateway);
  EXPECT_EQ(illimani->mesh_address.str(), "100.64.12.10");
  EXPECT_EQ(illimani->public_endpoint->port.value(), 655);
  EXPECT_EQ(illimani->public_key->str(), key);
  const auto* nevado = result.config.findHost(*config::NodeName::parse("nevado", nullptr));
  ASSERT_NE(nevado, nullptr);
  EXPECT_EQ(nevado->public_endpoint->port.value(), 656);
  EXPECT_EQ(nevado->client_subnets.at(0).str(), "172.16.9.0/27");
  const auto* chip = result.config.findHost(*config::NodeName::parse("chip", nullptr));
  EXPECT_EQ(chip->mesh_address.str(), file.findHost(chip->name)->mesh_address.str());
  EXPECT_EQ(result.config.tinc.address.str(), file.tinc.address.str());

  // A node that would take this node's mesh address: the document is not used at all.
  d.nodes[1].mesh_address = file.tinc.address.str();
  result = network::overlay(file, d);
  ASSERT_FALSE(result.errors.empty());
  EXPECT_NE(result.errors.front().find("mesh_address"), std::string::npos) << result.errors.front();
  EXPECT_TRUE(result.added.empty());
  EXPECT_EQ(result.config.hosts.size(), file.hosts.size());
}

// The mesh listener's one rule: it serves the signed document and nothing else, whatever a
// caller on the mesh (a volunteer's router) asks for.
TEST(NetworkHandlerTest, ServesOnlyTheDocumentOnTheMesh) {
  web::NetworkHandler handler;
  auto ask = [&](const char* method, const char* path) {
    return handler.handle(web::Request{method, path, "", "", "100.64.12.9:4000", "x"});
  };
  EXPECT_EQ(ask("GET", web::kNetworkPath).status, 503) << "nothing held yet";
  handler.hold("{\"signed\":1}");
  const auto ok = ask("GET", web::kNetworkPath);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "{\"signed\":1}");
  for (const char* path : {"/", "/api/v1/status", "/metrics", "/live", "/api/v1/network/",
                           "/api/v1/network/../status", "/api/v1/clients"}) {
    const auto r = ask("GET", path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.body.find("signed"), std::string::npos) << path;
  }
  for (const char* method : {"POST", "PUT", "DELETE"}) {
    EXPECT_EQ(ask(method, web::kNetworkPath).status, 405) << method;
  }
  // With the status token the answer is the same: the mesh listener knows no token.
  auto with_token = web::Request{"GET", "/api/v1/status", "Bearer x", "", "", "x"};
  EXPECT_EQ(handler.handle(with_token).status, 404);
}

// The registry's join listener (every address, so anyone on the Internet may call it): it hands
// only a POST to /api/v1/join to the admission, whatever else a caller tries.
TEST(JoinHandlerTest, OnlyAPostToTheJoinPathReachesTheAdmission) {
  int admitted = 0;
  web::JoinHandler handler([&](const std::string& body, const std::string& remote) {
    ++admitted;
    EXPECT_EQ(body, "{\"request\":1}");
    EXPECT_EQ(remote, "203.0.113.9:4000");
    return web::Response{403, "application/json", "{\"error\":\"unknown invitation\"}", {}};
  });
  auto ask = [&](const char* method, const char* path) {
    return handler.handle(
        web::Request{method, path, "Bearer x", "{\"request\":1}", "203.0.113.9:4000", "x"});
  };
  for (const char* path : {"/", "/api/v1/network", "/api/v1/status", "/api/v1/join/",
                           "/api/v1/join/../status", "/metrics"}) {
    EXPECT_EQ(ask("POST", path).status, 404) << path;
  }
  for (const char* method : {"GET", "HEAD", "PUT", "DELETE"}) {
    EXPECT_EQ(ask(method, web::kJoinPath).status, 405) << method;
  }
  EXPECT_EQ(admitted, 0);
  const auto r = ask("POST", web::kJoinPath);
  EXPECT_EQ(admitted, 1);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body.find("signed"), std::string::npos);
}

TEST(NetworkConfigTest, TheSectionIsCheckedLikeTheRest) {
  auto json = testing::example("comegato");
  json["network"] = {{"name", "seed"}, {"registry", "chip"}, {"key", "ed25519:short"}};
  testing::expectError("comegato", json, "/network/key", "public key");
  json["network"]["key"] = network::publicKeyOf(network::generateSigningKey());
  json["network"]["registry"] = "nobody";
  testing::expectError("comegato", json, "/network/registry", "neither this node");
  json["network"]["registry"] = "cometa";
  testing::expectError("comegato", json, "/network/registry", "must be a server");
  json["network"]["registry"] = "chip";
  json["network"]["port"] = 8655;  // the status listener's default
  testing::expectError("comegato", json, "/network/port", "already used");
  json["network"].erase("port");
  json["network"]["extra"] = 1;
  testing::expectError("comegato", json, "/network/extra", "");
  json["network"].erase("extra");
  auto loaded = testing::parseAs("comegato", json.dump());
  ASSERT_TRUE(loaded.config) << testing::describe(loaded.diagnostics);
  EXPECT_EQ(loaded.config->network->port.value(), 8656);
  EXPECT_FALSE(loaded.config->isRegistry());
}

}  // namespace
}  // namespace meshbroker::supervisor
