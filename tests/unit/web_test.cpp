// The web room: API documents, metrics, page, token auth, and the router over real HTTP on an
// ephemeral loopback port (the Beast listener, cpp-httplib's client and raw sockets for what no
// polite client sends), with a fake snapshot and a fake daemon behind it.
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "cli/status_command.hpp"
#include "supervisor/topology.hpp"
#include "tests/unit/test_support.hpp"
#include "web/api.hpp"
#include "web/auth.hpp"
#include "web/client.hpp"
#include "web/host_check.hpp"
#include "web/json_fields.hpp"
#include "web/metrics.hpp"
#include "web/page.hpp"
#include "web/router.hpp"
#include "web/server.hpp"
#include "web/status_service.hpp"
#include "web/store.hpp"

namespace meshbroker::web {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kToken = "0123456789abcdef0123456789abcdef";
constexpr std::int64_t kNow = 1795000000000;

// The seed server chip with two gateways (cometa up and carrying traffic, illimani down), a
// public OpenVPN instance with two clients (one with a hostile common name), and events.
model::Snapshot seedSnapshot() {
  auto loaded = testing::parseAs("chip", testing::exampleText("chip"));
  EXPECT_TRUE(loaded.config) << testing::describe(loaded.diagnostics);
  model::Snapshot s;
  s.generation = 42;
  s.updated_ms = kNow;
  s.started_ms = kNow - 3600000;
  s.daemon_pid = 1234;
  s.node = "chip";
  s.role = "server";
  s.config_file = "/etc/meshbroker/chip.json";
  s.backends.push_back({"tinc", "running", 2000, 1, 0, kNow - 60000, "", "", {"tincd ready"}});
  s.backends.push_back({"openvpn-public",
                        "failed",
                        0,
                        10,
                        10,
                        kNow - 1000,
                        "exited with status 1",
                        "gave up after 10 crashes in a row",
                        {}});
  s.mesh["comegato"] = {true, "192.0.2.12 port 655", kNow - 50000};
  s.mesh["cometa"] = {true, "192.0.2.9 port 40000", kNow - 40000};
  model::OpenVpnSnapshot ovpn;
  ovpn.management_connected = true;
  ovpn.updated_ms = kNow - 2000;
  ovpn.clients.push_back(
      {"alice", "198.51.100.7:5000", "172.16.1.66", 1000, 2000, 1795000000, std::nullopt});
  ovpn.clients.push_back({"<script>alert(1)</script>", "198.51.100.8:5000", "172.16.1.67", 5, 6,
                          1795000000, std::nullopt});
  s.openvpn["public"] = ovpn;
  model::HealthSnapshot health;
  auto& cometa = health.peers["cometa"];
  cometa.verdict = "up";
  cometa.verdict_since_ms = kNow - 600000;  // up 10 min; its check's last change 30 s ago
  cometa.rtt_ms = 1.5;
  cometa.checks["icmp"] = {"up", "100.64.12.9", "replies", kNow - 30000, 2.0, 500,
                           490,  false,         0,         1.5};
  auto& illimani = health.peers["illimani"];
  illimani.verdict = "down";
  illimani.verdict_since_ms = kNow - 5000;
  illimani.checks["icmp"] = {
      "down", "100.64.12.10", "7 probes in a row lost", kNow - 5000, 100.0, 400, 100, false,
      0,      std::nullopt};
  health.route_sets.push_back({"mesh",
                               {"cometa"},
                               false,
                               true,
                               "cometa has the lowest priority among the healthy",
                               {"10.64.0.0/11 via 100.64.12.9"}});
  health.events.push_back({kNow - 5000, "illimani icmp: up -> down"});
  health.timer = {900, 900, std::nullopt, 0.2, 0.9};
  s.health = health;
  s.events.push_back({kNow - 60000, "backend", "tinc: starting -> running (ready)"});
  s.events.push_back({kNow - 1000, "backend", "openvpn-public: backoff -> failed"});
  s.topology = supervisor::topologyOf(*loaded.config);
  return s;
}

TEST(WebApiTest, StatusHoldsEveryDocumentWithGenerationAndTimes) {
  const auto s = seedSnapshot();
  const auto status = document(s, {"0.1.0"}, Document::kStatus, Access::kFull);
  EXPECT_EQ(status["generation"], 42);
  EXPECT_EQ(status["updated_ms"], kNow);
  EXPECT_EQ(status["node"], "chip");
  for (const char* key :
       {"daemon", "backends", "gateways", "routes", "mesh", "clients", "events", "topology"}) {
    EXPECT_TRUE(status.contains(key)) << key;
  }
  for (const char* key : {"backends", "gateways", "routes", "mesh", "clients"}) {
    for (const auto& item : status[key]) EXPECT_TRUE(item.contains("updated_ms")) << key;
  }
  EXPECT_EQ(status["daemon"]["version"], "0.1.0");
  EXPECT_EQ(status["daemon"]["pid"], 1234);
  // Each document alone equals its part of status.
  for (const char* name : {"backends", "gateways", "routes", "mesh", "clients", "events"}) {
    auto which = documentNamed(name);
    ASSERT_TRUE(which) << name;
    auto alone = document(s, {"0.1.0"}, *which, Access::kFull);
    EXPECT_EQ(alone[name], status[name]) << name;
    EXPECT_EQ(alone["generation"], 42);
  }
  EXPECT_FALSE(documentNamed("secrets"));
}

TEST(WebApiTest, GatewaysRoutesClientsAndEvents) {
  const auto status = document(seedSnapshot(), {"0.1.0"}, Document::kStatus, Access::kFull);
  ASSERT_EQ(status["gateways"].size(), 2U);
  const auto& cometa = status["gateways"][0];
  EXPECT_EQ(cometa["name"], "cometa");
  EXPECT_EQ(cometa["verdict"], "up");
  EXPECT_EQ(cometa["up"], true);
  EXPECT_EQ(cometa["rtt_ms"], 1.5);
  EXPECT_EQ(cometa["loss_pct"], 2.0);
  EXPECT_EQ(cometa["role"], "gateway");
  EXPECT_EQ(cometa["mesh_address"], "100.64.12.9");
  const auto& illimani = status["gateways"][1];
  EXPECT_EQ(illimani["up"], false);
  EXPECT_EQ(illimani["reason"], "icmp: 7 probes in a row lost");
  EXPECT_EQ(illimani["since_ms"], kNow - 5000);
  EXPECT_EQ(illimani["verdict_since_ms"], kNow - 5000);
  EXPECT_EQ(cometa["verdict_since_ms"], kNow - 600000);

  ASSERT_EQ(status["routes"].size(), 1U);
  EXPECT_EQ(status["routes"][0]["next_hops"], 1);
  EXPECT_EQ(status["routes"][0]["policy"], "failover");
  EXPECT_EQ(status["routes"][0]["to"][0], "10.64.0.0/11");

  ASSERT_GE(status["clients"].size(), 1U);
  EXPECT_EQ(status["clients"][0]["instance"], "public");
  EXPECT_EQ(status["clients"][0]["connected"], 2);
  EXPECT_EQ(status["clients"][0]["bytes_received"], 1005);
  EXPECT_EQ(status["clients"][0]["subnet"], "172.16.1.64/27");

  // Daemon and health events merged, oldest first.
  const auto& events = status["events"];
  ASSERT_EQ(events.size(), 3U);
  EXPECT_EQ(events[0]["source"], "backend");
  EXPECT_EQ(events[1]["source"], "health");
  EXPECT_EQ(events[2]["what"], "openvpn-public: backoff -> failed");
}

TEST(WebApiTest, NoHealthAndNoTopologyAreNotFatal) {
  auto s = seedSnapshot();
  s.health.reset();
  s.topology = {};
  const auto status = document(s, {"0.1.0"}, Document::kStatus, Access::kFull);
  EXPECT_TRUE(status["gateways"].empty());
  EXPECT_TRUE(status["routes"].empty());
  EXPECT_TRUE(status["topology"]["hosts"].empty());
  EXPECT_EQ(status["clients"].size(), s.openvpn.size()) << "instances not in the config are shown";
  EXPECT_NO_THROW(renderMetrics(status));
  EXPECT_NO_THROW(renderPage(status));
}

// The page, /metrics and `meshbroker status` read the one document strictly (web/json_fields):
// a field they need that is missing or of the wrong type is an error naming it, never a blank
// cell, while the public view (which leaves fields out on purpose) renders.
TEST(WebStrictReadsTest, AMissingOrMistypedFieldIsAnErrorNotABlank) {
  const auto s = seedSnapshot();
  for (auto access : {Access::kFull, Access::kPublic}) {
    const auto status = document(s, {"0.1.0"}, Document::kStatus, access);
    EXPECT_NO_THROW(renderPage(status));
    EXPECT_NO_THROW(renderMetrics(status));
    std::ostringstream table;
    EXPECT_NO_THROW(cli::printStatusTable(status, table));
  }
  const auto full = document(s, {"0.1.0"}, Document::kStatus, Access::kFull);
  auto expect_named = [](const std::function<void()>& render, const std::string& field) {
    try {
      render();
      ADD_FAILURE() << "rendered without " << field;
    } catch (const DocumentError& e) {
      EXPECT_NE(std::string(e.what()).find("'" + field + "'"), std::string::npos) << e.what();
    }
  };
  std::ostringstream sink;
  auto broken = full;
  broken["gateways"][0].erase("verdict");
  expect_named([&] { renderPage(broken); }, "verdict");
  expect_named([&] { renderMetrics(broken); }, "verdict");
  expect_named([&] { cli::printStatusTable(broken, sink); }, "verdict");
  broken = full;
  broken["daemon"].erase("role");
  expect_named([&] { renderPage(broken); }, "role");
  expect_named([&] { renderMetrics(broken); }, "role");
  expect_named([&] { cli::printStatusTable(broken, sink); }, "role");
  broken = full;
  broken["mesh"][0]["up"] = "yes";
  expect_named([&] { renderPage(broken); }, "up");
  expect_named([&] { renderMetrics(broken); }, "up");
  expect_named([&] { cli::printStatusTable(broken, sink); }, "up");
  broken = full;
  broken["gateways"][0]["rtt_ms"] = "fast";
  expect_named([&] { renderPage(broken); }, "rtt_ms");
  expect_named([&] { renderMetrics(broken); }, "rtt_ms");
  expect_named([&] { cli::printStatusTable(broken, sink); }, "rtt_ms");
}

// Issue 21: what each OpenVPN user used. /metrics without the token sums each instance and
// names nobody; with it, one counter per user. The API's usage document likewise.
TEST(WebUsageTest, PerUserFiguresOnlyWithTheToken) {
  auto s = seedSnapshot();
  s.usage.push_back(
      {"private", "alice", {1000, 2000, 30, 2}, "2026-12", {100, 200, 3, 1}, 5, true});
  s.usage.push_back({"private", "bob", {1, 2, 3, 1}, "2026-12", {1, 2, 3, 1}, 5, false});
  s.usage.push_back({"public", "192.0.2.7", {7, 8, 9, 1}, "2026-12", {7, 8, 9, 1}, 5, false});
  const auto full = renderMetrics(document(s, {"0.1.0"}, Document::kStatus, Access::kFull));
  EXPECT_NE(full.find("meshbroker_openvpn_user_received_bytes_total{instance=\"private\","
                      "user=\"alice\"} 1000\n"),
            std::string::npos)
      << full;
  EXPECT_NE(
      full.find(
          "meshbroker_openvpn_user_sessions_total{instance=\"public\",user=\"192.0.2.7\"} 1\n"),
      std::string::npos);
  const auto open = renderMetrics(document(s, {"0.1.0"}, Document::kStatus, Access::kPublic));
  EXPECT_NE(open.find("meshbroker_openvpn_usage_received_bytes_total{instance=\"private\"} 1001\n"),
            std::string::npos)
      << open;
  EXPECT_NE(open.find("meshbroker_openvpn_usage_sent_bytes_total{instance=\"public\"} 8\n"),
            std::string::npos);
  for (const char* secret : {"alice", "bob", "192.0.2.7", "openvpn_user_"}) {
    EXPECT_EQ(open.find(secret), std::string::npos) << secret;
  }
  const auto api = document(s, {"0.1.0"}, Document::kUsage, Access::kPublic);
  ASSERT_EQ(api["usage"].size(), 2u);
  EXPECT_EQ(api["usage"][0]["users"], 2);
  EXPECT_EQ(api["usage"][0]["total"]["bytes_sent"], 2002);
  EXPECT_EQ(api.dump().find("alice"), std::string::npos);
  const auto page = renderPage(document(s, {"0.1.0"}, Document::kStatus, Access::kFull));
  EXPECT_NE(page.find("<td>private</td><td>alice</td>"), std::string::npos);
  const auto public_page = renderPage(document(s, {"0.1.0"}, Document::kStatus, Access::kPublic));
  EXPECT_NE(public_page.find("<td>private</td><td>2 users</td>"), std::string::npos);
  EXPECT_EQ(public_page.find("alice"), std::string::npos);
  const auto mine = document(s, {"0.1.0"}, Document::kUsage, Access::kFull);
  EXPECT_EQ(mine["usage"][0]["user"], "alice");
  EXPECT_EQ(mine["usage"][0]["this_month"]["bytes_received"], 100);
  EXPECT_FALSE(mine["usage"][0].contains("over_quota_until_s"));
}

// Issue 21: a user over the monthly quota is shown so with the token; without it, only how many
// of an instance's users are (never who).
TEST(WebUsageTest, OverQuotaShownToTheOperatorCountedForEveryoneElse) {
  auto s = seedSnapshot();
  s.usage.push_back({"private", "alice", {9, 9, 1, 1}, "2026-12", {9, 9, 1, 1}, 5, false});
  s.usage.push_back({"public", "192.0.2.7", {7, 8, 9, 1}, "2026-12", {7, 8, 9, 1}, 5, false});
  s.over_quota_until_s["private/alice"] = 1798761600;  // 2027-01-01
  s.over_quota_until_s["public/192.0.2.7"] = 1798761600;
  const auto mine = document(s, {"0.1.0"}, Document::kUsage, Access::kFull);
  EXPECT_EQ(mine["usage"][0]["over_quota_until_s"], 1798761600);
  const auto open = document(s, {"0.1.0"}, Document::kUsage, Access::kPublic);
  EXPECT_EQ(open["usage"][0]["over_quota"], 1);
  EXPECT_EQ(open["usage"][1]["over_quota"], 1);
  EXPECT_EQ(open.dump().find("alice"), std::string::npos);
  EXPECT_EQ(open.dump().find("192.0.2.7"), std::string::npos);
  const auto page = renderPage(document(s, {"0.1.0"}, Document::kStatus, Access::kFull));
  EXPECT_NE(page.find("alice (over quota until 2027-01-01)"), std::string::npos);
  const auto public_page = renderPage(document(s, {"0.1.0"}, Document::kStatus, Access::kPublic));
  EXPECT_NE(public_page.find("1 users, 1 over quota"), std::string::npos);
  EXPECT_EQ(public_page.find("alice"), std::string::npos);
}

// Issue 21: the quota's events name a user (a common name, or an address on a public
// instance); without the token they say only that something happened.
TEST(WebUsageTest, QuotaEventsNameNobodyWithoutTheToken) {
  auto s = seedSnapshot();
  s.events.push_back({1, "quota",
                      "openvpn-private: alice is over the monthly quota (1.20 MB of 1.00 MB): "
                      "sessions ended, refused until 2027-01-01 00:00 UTC"});
  s.events.push_back({2, "quota", "openvpn-public: 192.0.2.7 may connect again (a new month)"});
  s.events.push_back({3, "operator", "openvpn-public: ended a session: over the monthly quota"});
  const auto open = document(s, {"0.1.0"}, Document::kEvents, Access::kPublic).dump();
  for (const char* secret : {"alice", "192.0.2.7", "1.20 MB"}) {
    EXPECT_EQ(open.find(secret), std::string::npos) << secret << " in " << open;
  }
  EXPECT_NE(open.find("quota event (details need the token)"), std::string::npos) << open;
  const auto full = document(s, {"0.1.0"}, Document::kEvents, Access::kFull).dump();
  EXPECT_NE(full.find("alice is over the monthly quota"), std::string::npos) << full;
  EXPECT_NE(full.find("192.0.2.7 may connect again"), std::string::npos) << full;
}

// `meshbroker status`: the network document's line, and a node the registry removed shown as
// removed, not as down.
TEST(StatusTableTest, ShowsTheNetworkAndRemovedNodes) {
  auto s = seedSnapshot();
  model::NetworkSnapshot network;
  network.name = "seed";
  network.registry = "chip";
  network.version = 7;
  network.last_pull_from = "chip";
  network.removed = {"comegato"};
  s.network = network;
  std::ostringstream table;
  cli::printStatusTable(document(s, {"0.1.0"}, Document::kStatus, Access::kFull), table);
  EXPECT_NE(
      table.str().find("network seed: version 7 from chip (registry chip); removed: comegato"),
      std::string::npos)
      << table.str();
  EXPECT_NE(table.str().find("comegato          removed"), std::string::npos) << table.str();
}

TEST(WebMetricsTest, FamiliesAndSamples) {
  const auto text =
      renderMetrics(document(seedSnapshot(), {"0.1.0"}, Document::kStatus, Access::kPublic));
  for (const char* line : {
           "meshbroker_build_info{version=\"0.1.0\",node=\"chip\",role=\"server\"} 1",
           "meshbroker_gateway_up{gateway=\"cometa\"} 1",
           "meshbroker_gateway_up{gateway=\"illimani\"} 0",
           "meshbroker_gateway_rtt_seconds{gateway=\"cometa\"} 0.0015",
           "meshbroker_gateway_verdict_since_timestamp_seconds{gateway=\"illimani\"} 1794999995",
           "meshbroker_gateway_probe_loss_ratio{gateway=\"illimani\",check=\"icmp\"} 1",
           "meshbroker_gateway_probes_sent_total{gateway=\"cometa\",check=\"icmp\"} 500",
           "meshbroker_route_set_next_hops{route_set=\"mesh\"} 1",
           "meshbroker_backend_up{backend=\"tinc\"} 1",
           "meshbroker_backend_failed{backend=\"openvpn-public\"} 1",
           "meshbroker_backend_restarts_total{backend=\"openvpn-public\"} 10",
           "meshbroker_openvpn_clients{instance=\"public\"} 2",
           "meshbroker_openvpn_clients_received_bytes{instance=\"public\"} 1005",
           "meshbroker_mesh_node_up{node=\"comegato\"} 1",
           "# TYPE meshbroker_backend_restarts_total counter",
       }) {
    EXPECT_NE(text.find(std::string(line) + "\n"), std::string::npos) << line << "\n" << text;
  }
  // No rtt sample for a gateway without replies.
  EXPECT_EQ(text.find("meshbroker_gateway_rtt_seconds{gateway=\"illimani\"}"), std::string::npos);
}

// Where OpenVPN runs, the CRLs' expiry is a metric and status field; the advice (it names
// folders) only with the token.
TEST(WebMetricsTest, CrlExpiryAndProblem) {
  auto s = seedSnapshot();
  EXPECT_EQ(renderMetrics(document(s, {"0.1.0"}, Document::kStatus, Access::kPublic))
                .find("meshbroker_crl"),
            std::string::npos);
  s.pki = {true, 1'800'000'000, ""};
  auto text = renderMetrics(document(s, {"0.1.0"}, Document::kStatus, Access::kPublic));
  EXPECT_NE(text.find("meshbroker_crl_next_update_timestamp_seconds 1800000000\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("meshbroker_crl_problem 0\n"), std::string::npos) << text;
  s.pki = {true, std::nullopt, "a CRL file is missing: /var/lib/meshbroker/pki/crl/x.pem"};
  auto pub = document(s, {"0.1.0"}, Document::kStatus, Access::kPublic);
  text = renderMetrics(pub);
  EXPECT_NE(text.find("meshbroker_crl_problem 1\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("meshbroker_crl_next_update_timestamp_seconds"), std::string::npos);
  EXPECT_FALSE(pub["daemon"]["pki"].contains("advice"));
  EXPECT_FALSE(pub["daemon"]["pki"]["crl_ok"].get<bool>());
  auto full = document(s, {"0.1.0"}, Document::kStatus, Access::kFull);
  EXPECT_EQ(full["daemon"]["pki"]["advice"], s.pki.advice);
}

TEST(WebMetricsTest, LabelValuesAreEscaped) {
  EXPECT_EQ(escapeLabel("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(WebPageTest, ShowsGatewaysStatesAndEscapesEverything) {
  const auto status = document(seedSnapshot(), {"0.1.0"}, Document::kStatus, Access::kFull);
  const auto page = renderPage(status);
  EXPECT_NE(page.find("<!DOCTYPE html>"), std::string::npos);
  EXPECT_NE(page.find("data-gateway=\"cometa\" data-state=\"up\""), std::string::npos);
  EXPECT_NE(page.find("data-gateway=\"illimani\" data-state=\"down\""), std::string::npos);
  EXPECT_NE(page.find("data-instance=\"public\" data-clients=\"2\""), std::string::npos);
  // "for": since the verdict last changed (cometa up 10 min), not since its check's last change.
  EXPECT_NE(page.find("</td><td>10 min</td><td>"), std::string::npos);
  EXPECT_NE(page.find("<svg id=\"topology\""), std::string::npos);
  // The mesh box names the hosts probed through each gateway, both families (seed chip).
  EXPECT_NE(page.find(">host 10.65.2.8<"), std::string::npos);
  EXPECT_NE(page.find(">host fd00:65:2::8<"), std::string::npos);
  EXPECT_NE(page.find("People are cut off: openvpn-public failed"), std::string::npos);
  // The hostile common name is text, never markup; no external asset is referenced.
  EXPECT_EQ(page.find("<script>alert"), std::string::npos);
  EXPECT_NE(page.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_EQ(page.find("src=\"http"), std::string::npos);
  EXPECT_EQ(page.find("href=\"http"), std::string::npos);
  // Works without JavaScript: the tables are in the page itself, and it reloads itself.
  EXPECT_NE(page.find("<table id=\"gateways\">"), std::string::npos);
  EXPECT_NE(page.find("http-equiv=\"refresh\""), std::string::npos);
  const auto live = renderLive(status);
  EXPECT_EQ(live.find("<html"), std::string::npos);
  EXPECT_NE(live.find("data-generation=\"42\""), std::string::npos);
}

TEST(WebPageTest, AllGoodHeadline) {
  auto s = seedSnapshot();
  s.backends.pop_back();
  s.health->peers.erase("illimani");
  const auto page = renderPage(document(s, {"0.1.0"}, Document::kStatus, Access::kFull));
  EXPECT_NE(page.find("class=\"headline ok\""), std::string::npos);
}

// The page comes from mustache templates: every value a peer, a user or a config can set is
// escaped by them (the attribute values too), control characters included.
TEST(WebPageTest, TheTemplatesEscapeEveryValue) {
  auto s = seedSnapshot();
  const std::string evil = "x\"><img src=x onerror=alert(1)>\x01";
  s.node = evil;
  s.health->peers[evil] = s.health->peers["cometa"];
  s.mesh[evil] = {true, evil, kNow};
  s.events.push_back({kNow, "backend", evil});
  s.backends[0].last_exit = evil;
  s.openvpn["public"].clients[0].common_name = evil;
  s.topology.hosts.push_back({evil, "server", evil, {}, std::nullopt});
  s.topology.route_sets[0].to.push_back(evil);
  s.health->route_sets[0].why = evil;
  for (auto access : {Access::kFull, Access::kPublic}) {
    const auto page = renderPage(document(s, {evil}, Document::kStatus, access));
    EXPECT_EQ(page.find("<img"), std::string::npos);
    EXPECT_NE(page.find("x&quot;&gt;&lt;img"), std::string::npos) << "quotes escaped too";
    EXPECT_EQ(page.find('\x01'), std::string::npos);
    EXPECT_NE(page.find("&lt;img src=x onerror=alert(1)&gt;"), std::string::npos);
  }
}

TEST(WebPageTest, EscapeHtml) {
  EXPECT_EQ(escapeHtml("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
  EXPECT_EQ(escapeHtml(std::string("a\x01"
                                   "b",
                                   3)),
            "a\xEF\xBF\xBD"
            "b");
}

class TokenFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("meshbroker-token-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& content, mode_t mode) {
    auto file = dir_ / "token";
    std::ofstream(file, std::ios::trunc) << content;
    ::chmod(file.c_str(), mode);
    return file;
  }
  fs::path dir_;
};

TEST_F(TokenFileTest, ReadsA0600Token) {
  EXPECT_EQ(loadToken(write(std::string(kToken) + "\n", 0600)), kToken);
}

TEST_F(TokenFileTest, RefusesWhatOthersCanRead) {
  try {
    loadToken(write(kToken, 0644));
    FAIL() << "a 0644 token file was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("mode 0644"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("chmod 600"), std::string::npos) << e.what();
  }
}

TEST_F(TokenFileTest, RefusesShortSpacedMissingAndFolders) {
  EXPECT_THROW(loadToken(write("short", 0600)), std::runtime_error);
  EXPECT_THROW(loadToken(write("0123456789 abcdef0123456789", 0600)), std::runtime_error);
  EXPECT_THROW(loadToken(dir_ / "absent"), std::runtime_error);
  EXPECT_THROW(loadToken(dir_), std::runtime_error);
}

TEST(TokenAuthTest, Results) {
  TokenAuth auth;
  EXPECT_EQ(auth.check(""), TokenAuth::Result::kMissing);
  EXPECT_EQ(auth.check(std::string("Bearer ") + kToken), TokenAuth::Result::kDisabled);
  auth.set(std::string(kToken));
  EXPECT_EQ(auth.check(std::string("Bearer ") + kToken), TokenAuth::Result::kOk);
  EXPECT_EQ(auth.check("Bearer wrong"), TokenAuth::Result::kWrong);
  EXPECT_EQ(auth.check(std::string("Bearer ") + kToken + "x"), TokenAuth::Result::kWrong);
  EXPECT_EQ(auth.check(std::string("Basic ") + kToken), TokenAuth::Result::kMalformed);
  EXPECT_EQ(auth.check("Bearer "), TokenAuth::Result::kMalformed);
}

// The real server on 127.0.0.1:<ephemeral>, a fake daemon recording what it was asked.
class WebServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auth_.set(std::string(kToken));
    router_ = std::make_unique<Router>(
        store_, auth_,
        [this](const json& request, const std::string& caller) -> std::optional<json> {
          std::lock_guard lock(mutex_);
          requests_.push_back(request);
          callers_.push_back(caller);
          if (hang_) return std::nullopt;
          return reply_;
        },
        [this](const std::string& line) {
          std::lock_guard lock(mutex_);
          log_.push_back(line);
        });
    ServerOptions options;
    options.port = 0;
    options.threads = 2;
    options.max_body = 1024;
    server_ = std::make_unique<HttpServer>(*router_, options);
    server_->start();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(5, 0);
  }
  void TearDown() override { server_->stop(); }

  void publish() { store_.publish(seedSnapshot()); }
  httplib::Headers bearer(const std::string& token = kToken) {
    return {{"Authorization", "Bearer " + token}};
  }
  static json body(const httplib::Result& r) { return json::parse(r->body); }
  // Error responses: JSON with the status repeated, a code and a message.
  static void expectError(const httplib::Result& r, int status, const std::string& code) {
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, status) << r->body;
    auto j = json::parse(r->body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << r->body;
    EXPECT_EQ(j["error"]["status"], status) << r->body;
    EXPECT_EQ(j["error"]["code"], code) << r->body;
    EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  }

  SnapshotStore store_{{"0.1.0"}};
  TokenAuth auth_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
  std::mutex mutex_;
  std::vector<json> requests_;
  std::vector<std::string> callers_;
  std::vector<std::string> log_;
  json reply_ = {{"ok", true}};
  bool hang_ = false;
};

TEST_F(WebServerTest, BeforeTheFirstSnapshotReadsAre503) {
  auto r = client_->Get("/api/v1/status");
  expectError(r, 503, "starting");
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
}

TEST_F(WebServerTest, EveryReadEndpoint) {
  publish();
  for (const char* name :
       {"status", "backends", "gateways", "routes", "mesh", "clients", "events"}) {
    auto r = client_->Get((std::string("/api/v1/") + name).c_str());
    ASSERT_TRUE(r) << name;
    EXPECT_EQ(r->status, 200) << name;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << name;
    EXPECT_EQ(r->get_header_value("Cache-Control"), "no-store");
    auto j = body(r);
    EXPECT_EQ(j["generation"], 42) << name;
    EXPECT_EQ(j["node"], "chip");
    if (std::string(name) != "status") {
      EXPECT_TRUE(j.contains(name)) << name;
    }
  }
  auto index = client_->Get("/api/v1/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(body(index)["endpoints"].size(), 8U);

  auto page = client_->Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("default-src 'none'"),
            std::string::npos);
  EXPECT_NE(page->body.find("data-gateway=\"cometa\""), std::string::npos);
  auto live = client_->Get("/live");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200);
  EXPECT_NE(live->body.find("id=\"live-inner\""), std::string::npos);
  auto metrics = client_->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics->body.find("meshbroker_gateway_up{gateway=\"cometa\"} 1"), std::string::npos);
  auto head = client_->Head("/api/v1/status");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());
}

TEST_F(WebServerTest, ANewSnapshotIsServedAtOnce) {
  publish();
  EXPECT_EQ(body(client_->Get("/api/v1/status"))["generation"], 42);
  auto s = seedSnapshot();
  s.generation = 43;
  store_.publish(s);
  EXPECT_EQ(body(client_->Get("/api/v1/status"))["generation"], 43);
}

TEST_F(WebServerTest, BadPathsAre404BadMethods405) {
  publish();
  expectError(client_->Get("/nothing"), 404, "not_found");
  expectError(client_->Get("/api/v1/secrets"), 404, "not_found");
  expectError(client_->Get("/api/v1/../../etc/passwd"), 404, "not_found");
  expectError(client_->Get("/api/v2/status"), 404, "not_found");
  expectError(client_->Post("/api/v1/nothing/x/y", "", "application/json"), 404, "not_found");
  auto r = client_->Post("/api/v1/status", "", "application/json");
  expectError(r, 405, "method_not_allowed");
  EXPECT_EQ(r->get_header_value("Allow"), "GET, HEAD");
  expectError(client_->Delete("/api/v1/status"), 405, "method_not_allowed");
  expectError(client_->Put("/metrics", "", "text/plain"), 405, "method_not_allowed");
  expectError(client_->Post("/", "", "text/plain"), 405, "method_not_allowed");
  r = client_->Get("/api/v1/gateways/cometa/drain");
  expectError(r, 405, "method_not_allowed");
  EXPECT_EQ(r->get_header_value("Allow"), "POST");
  // A name that could smuggle something is refused before anything runs.
  expectError(client_->Post("/api/v1/clients/public/a%0Akill%20x/disconnect", bearer(), "",
                            "application/json"),
              404, "not_found");
  std::lock_guard lock(mutex_);
  EXPECT_TRUE(requests_.empty());
}

TEST_F(WebServerTest, ActionsNeedTheToken) {
  publish();
  auto r = client_->Post("/api/v1/gateways/cometa/drain", "", "application/json");
  expectError(r, 401, "unauthorized");
  EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer realm=\"meshbroker\"");
  expectError(client_->Post("/api/v1/gateways/cometa/drain", {{"Authorization", "Basic abc"}}, "",
                            "application/json"),
              401, "unauthorized");
  expectError(client_->Post("/api/v1/gateways/cometa/drain", bearer("wrong-token-wrong-token"), "",
                            "application/json"),
              403, "forbidden");
  {
    std::lock_guard lock(mutex_);
    EXPECT_TRUE(requests_.empty());
  }
  auth_.set(std::nullopt);
  expectError(client_->Post("/api/v1/gateways/cometa/drain", bearer(), "", "application/json"), 403,
              "actions_disabled");
  std::lock_guard lock(mutex_);
  EXPECT_TRUE(requests_.empty());
  EXPECT_FALSE(log_.empty());
}

TEST_F(WebServerTest, EveryActionReachesTheDaemonAndIsLogged) {
  publish();
  struct Case {
    std::string path;
    json request;
  };
  const std::vector<Case> cases = {
      {"/api/v1/backends/tinc/restart", {{"command", "restart"}, {"backend", "tinc"}}},
      {"/api/v1/gateways/cometa/drain", {{"command", "drain"}, {"gateway", "cometa"}}},
      {"/api/v1/gateways/cometa/undrain", {{"command", "undrain"}, {"gateway", "cometa"}}},
      {"/api/v1/clients/public/alice/disconnect",
       {{"command", "openvpn"}, {"instance", "public"}, {"line", "kill alice"}}},
  };
  for (const auto& c : cases) {
    auto r = client_->Post(c.path.c_str(), bearer(), "", "application/json");
    ASSERT_TRUE(r) << c.path;
    EXPECT_EQ(r->status, 200) << c.path << ": " << r->body;
    EXPECT_EQ(body(r)["ok"], true);
  }
  std::lock_guard lock(mutex_);
  ASSERT_EQ(requests_.size(), cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(requests_[i], cases[i].request) << cases[i].path;
    EXPECT_NE(callers_[i].find("http 127.0.0.1:"), std::string::npos) << callers_[i];
  }
  ASSERT_EQ(log_.size(), cases.size());
  EXPECT_NE(log_[1].find("POST /api/v1/gateways/cometa/drain from 127.0.0.1:"), std::string::npos)
      << log_[1];
  EXPECT_NE(log_[1].find(": 200 drain cometa: done"), std::string::npos) << log_[1];
}

TEST_F(WebServerTest, ActionBodiesAndTargets) {
  publish();
  expectError(
      client_->Post("/api/v1/gateways/cometa/drain", bearer(), "{not json", "application/json"),
      400, "bad_json");
  expectError(client_->Post("/api/v1/gateways/cometa/drain", bearer(), "[1]", "application/json"),
              400, "bad_json");
  expectError(client_->Post("/api/v1/gateways/cometa/drain", bearer(), R"({"reason": 5})",
                            "application/json"),
              400, "bad_json");
  expectError(client_->Post("/api/v1/gateways/nosuch/drain", bearer(), "", "application/json"), 404,
              "not_found");
  expectError(client_->Post("/api/v1/backends/nosuch/restart", bearer(), "", "application/json"),
              404, "not_found");
  expectError(
      client_->Post("/api/v1/clients/private/bob/disconnect", bearer(), "", "application/json"),
      404, "not_found");
  {
    std::lock_guard lock(mutex_);
    EXPECT_TRUE(requests_.empty());
  }
  auto r = client_->Post("/api/v1/gateways/cometa/drain", bearer(),
                         R"({"reason": "radio maintenance"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  std::lock_guard lock(mutex_);
  ASSERT_EQ(callers_.size(), 1U);
  EXPECT_NE(callers_[0].find("reason: radio maintenance"), std::string::npos);
}

TEST_F(WebServerTest, DaemonRefusalsAndTimeouts) {
  publish();
  reply_ = {{"ok", false}, {"lines", {"ERROR: common name 'bob' not found"}}};
  expectError(
      client_->Post("/api/v1/clients/public/bob/disconnect", bearer(), "", "application/json"), 404,
      "not_found");
  reply_ = {{"ok", false}, {"error", "openvpn-public is not connected (state backoff)"}};
  expectError(
      client_->Post("/api/v1/clients/public/alice/disconnect", bearer(), "", "application/json"),
      409, "conflict");
  hang_ = true;
  expectError(client_->Post("/api/v1/backends/tinc/restart", bearer(), "", "application/json"), 503,
              "timeout");
}

TEST_F(WebServerTest, OversizeBodiesHeadersAndUris) {
  publish();
  auto r = client_->Post("/api/v1/gateways/cometa/drain", bearer(), std::string(4096, 'x'),
                         "application/json");
  expectError(r, 413, "too_large");
  httplib::Headers huge = {{"X-Big", std::string(16384, 'a')}};
  r = client_->Get("/api/v1/status", huge);
  ASSERT_TRUE(r);
  EXPECT_GE(r->status, 400);
  EXPECT_LT(r->status, 500);
  r = client_->Get(("/" + std::string(10000, 'a')).c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 414);
  // Still serving.
  r = client_->Get("/api/v1/status");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(WebServerTest, NoSecretInAnyResponse) {
  publish();
  std::string all;
  for (const char* path : {"/", "/live", "/metrics", "/api/v1/", "/api/v1/status",
                           "/api/v1/backends", "/api/v1/gateways", "/api/v1/routes", "/api/v1/mesh",
                           "/api/v1/clients", "/api/v1/events"}) {
    auto r = client_->Get(path);
    ASSERT_TRUE(r) << path;
    all += r->body;
  }
  auto r = client_->Post("/api/v1/backends/tinc/restart", bearer("wrong-token-wrong-token"), "",
                         "application/json");
  all += r->body;
  EXPECT_EQ(all.find(kToken), std::string::npos);
  EXPECT_EQ(all.find("wrong-token"), std::string::npos);
  EXPECT_EQ(all.find("PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(all.find("OpenVPN Static key"), std::string::npos);
  EXPECT_EQ(all.find("token_file"), std::string::npos);
}

TEST_F(WebServerTest, ConcurrentReadersWhilePublishing) {
  publish();
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      httplib::Client client("127.0.0.1", server_->port());
      while (!stop) {
        auto r = client.Get(t % 2 ? "/metrics" : "/api/v1/status");
        (r && r->status == 200) ? ++ok : ++bad;
      }
    });
  }
  for (int i = 0; i < 200; ++i) {
    auto s = seedSnapshot();
    s.generation = 100 + static_cast<std::uint64_t>(i);
    store_.publish(s);
  }
  stop = true;
  for (auto& reader : readers) reader.join();
  EXPECT_GT(ok.load(), 0);
  EXPECT_EQ(bad.load(), 0);
}

// Idle keep-alive clients, more than there are threads, must not lock a new client out.
TEST_F(WebServerTest, IdleKeepAliveClientsDoNotLockOthersOut) {
  publish();
  std::vector<std::unique_ptr<httplib::Client>> idle;
  for (int i = 0; i < 4; ++i) {  // the fixture's server has 2 threads
    idle.push_back(std::make_unique<httplib::Client>("127.0.0.1", server_->port()));
    idle.back()->set_keep_alive(true);
    auto r = idle.back()->Get("/api/v1/status");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  httplib::Client late("127.0.0.1", server_->port());
  late.set_read_timeout(4, 0);
  const auto start = std::chrono::steady_clock::now();
  auto r = late.Get("/api/v1/status");
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  EXPECT_LT(waited, std::chrono::seconds(3));
}

// A client socket for what well-behaved clients never send: partial heads, trickles, garbage.
class RawClient {
 public:
  explicit RawClient(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0;
  }
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;
  bool connected() const { return connected_; }
  bool send(std::string_view data) {
    return ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }
  // Everything the server sends until it closes or `wait` passes; `closed` tells which.
  std::string receive(std::chrono::milliseconds wait, bool* closed = nullptr) {
    std::string got;
    const auto deadline = std::chrono::steady_clock::now() + wait;
    bool eof = false;
    while (!eof) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[4096];
      const auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        eof = true;
      } else {
        got.append(buf, static_cast<std::size_t>(n));
      }
    }
    if (closed) *closed = eof;
    return got;
  }

 private:
  int fd_;
  bool connected_ = false;
};

// Slowloris: many more clients than threads each trickle a header byte now and then and never
// finish. Ordinary requests go on being answered meanwhile.
TEST_F(WebServerTest, SlowClientsCannotLockOthersOut) {
  publish();
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int i = 0; i < 40; ++i) {
    slow.push_back(std::make_unique<RawClient>(server_->port()));
    ASSERT_TRUE(slow.back()->connected());
    ASSERT_TRUE(slow.back()->send("GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
  }
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    while (!stop) {
      for (auto& client : slow) client->send("X");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  int answered = 0;
  for (int i = 0; i < 20; ++i) {
    httplib::Client client("127.0.0.1", server_->port());
    client.set_read_timeout(3, 0);
    auto r = client.Get("/api/v1/status");
    if (r && r->status == 200) ++answered;
  }
  stop = true;
  trickle.join();
  EXPECT_EQ(answered, 20);
}

// A listener with an empty store and no daemon behind it, for the connection-level limits.
struct BareServer {
  explicit BareServer(const std::function<void(ServerOptions&)>& tune) {
    ServerOptions options;
    options.port = 0;
    tune(options);
    server = std::make_unique<HttpServer>(router, options);
    server->start();
  }
  SnapshotStore store{{"0.1.0"}};
  TokenAuth auth;
  Router router{store, auth, nullptr, nullptr};
  std::unique_ptr<HttpServer> server;
};

// Polls `done` every 5 ms for at most `limit`: the server counts a connection a moment after
// its client sees what happened to it.
bool eventually(const std::function<bool()>& done,
                std::chrono::milliseconds limit = std::chrono::seconds(1)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// However slowly its bytes come, a request must be whole within read_timeout_s.
TEST(WebServerLimitsTest, ARequestMustArriveWithinTheReadTimeout) {
  BareServer bare([](ServerOptions& o) { o.read_timeout_s = 1; });
  auto& server = *bare.server;
  RawClient slow(server.port());
  ASSERT_TRUE(slow.connected());
  ASSERT_TRUE(slow.send("GET / HTTP/1.1\r\n"));
  const auto start = std::chrono::steady_clock::now();
  bool closed = false;
  for (int i = 0; i < 40 && !closed; ++i) {  // a byte every 100 ms, for 4 s at most
    slow.send("Y");
    slow.receive(std::chrono::milliseconds(100), &closed);
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  eventually([&] { return server.counters().timed_out > 0; });
  EXPECT_EQ(server.counters().timed_out, 1u);
}

// Past max_connections, the connection that has waited longest for its request makes room.
TEST(WebServerLimitsTest, PastMaxConnectionsTheOldestWaitingOneIsClosed) {
  BareServer bare([](ServerOptions& o) { o.max_connections = 4; });
  auto& server = *bare.server;
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 4; ++i) {
    idle.push_back(std::make_unique<RawClient>(server.port()));
    ASSERT_TRUE(idle.back()->connected());
    // The server counts each one before the next comes.
    eventually([&] { return server.counters().open >= idle.size(); });
  }
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(3, 0);
  auto r = client.Get("/api/v1/status");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 503);  // no snapshot yet: the Router answered
  bool closed = false;
  idle.front()->receive(std::chrono::seconds(2), &closed);
  EXPECT_TRUE(closed);
  EXPECT_GE(server.counters().evicted, 1u);
  eventually([&] { return server.counters().open <= 4; });
  EXPECT_LE(server.counters().open, 4u);
}

// A keep-alive client between requests is not pushed out by a flood of new connections that
// never send a request: those make room for each other first.
TEST(WebServerLimitsTest, AFloodOfNewConnectionsDoesNotEvictAServedClient) {
  BareServer bare([](ServerOptions& o) { o.max_connections = 4; });
  auto& server = *bare.server;
  RawClient served(server.port());
  ASSERT_TRUE(served.connected());
  ASSERT_TRUE(served.send("GET /live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  EXPECT_EQ(served.receive(std::chrono::seconds(2)).find("HTTP/1.1 503"), 0u);
  std::vector<std::unique_ptr<RawClient>> flood;
  for (int i = 0; i < 12; ++i) {
    flood.push_back(std::make_unique<RawClient>(server.port()));
    ASSERT_TRUE(flood.back()->connected());
  }
  eventually([&] { return server.counters().evicted >= 9; }, std::chrono::seconds(2));
  EXPECT_GE(server.counters().evicted, 9u);
  ASSERT_TRUE(served.send("GET /live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  EXPECT_EQ(served.receive(std::chrono::seconds(2)).find("HTTP/1.1 503"), 0u);
}

TEST_F(WebServerTest, HeadQueriesEscapesAndPipelining) {
  publish();
  auto get = client_->Get("/api/v1/status");
  auto head = client_->Head("/api/v1/status");
  ASSERT_TRUE(get);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());
  EXPECT_EQ(head->get_header_value("Content-Length"), std::to_string(get->body.size()));
  auto r = client_->Get("/api/v1/status?fields=all&x=%20");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = client_->Get("/api/v1/st%61tus");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  expectError(client_->Get("/api/v1/status%00"), 404, "not_found");
  expectError(client_->Get("/api/v1/%zzstatus"), 404, "not_found");
  EXPECT_EQ(decodeTargetPath("/a%2"), "/a%2");
  EXPECT_EQ(decodeTargetPath("/a%41?b%41"), "/aA");

  RawClient raw(server_->port());
  ASSERT_TRUE(raw.connected());
  ASSERT_TRUE(raw.send(
      "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Connection: close\r\n\r\n"));
  bool closed = false;
  const auto both = raw.receive(std::chrono::seconds(3), &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(both.find("HTTP/1.1 200"), 0u) << both.substr(0, 200);
  EXPECT_NE(both.find("HTTP/1.1 404"), std::string::npos);
}

TEST_F(WebServerTest, GarbageGetsAJsonErrorAndTheConnectionCloses) {
  publish();
  for (std::string garbage : {std::string("\x01\x02 nonsense\r\n\r\n"),
                              std::string("GET /api/v1/status HTTP/9.9\r\n\r\n"),
                              std::string("GET / HTTP/1.1\r\nContent-Length: -5\r\n\r\n"),
                              std::string("GET / HTTP/1.1\r\nno colon here\r\n\r\n"),
                              std::string("POST /api/v1/backends/tinc/restart HTTP/1.1\r\n"
                                          "Transfer-Encoding: chunked\r\n\r\nzz\r\n")}) {
    RawClient raw(server_->port());
    ASSERT_TRUE(raw.connected());
    ASSERT_TRUE(raw.send(garbage));
    bool closed = false;
    const auto reply = raw.receive(std::chrono::seconds(3), &closed);
    EXPECT_TRUE(closed) << garbage;
    EXPECT_EQ(reply.find("HTTP/1.1 400"), 0u) << garbage << " -> " << reply.substr(0, 100);
    EXPECT_NE(reply.find("\"bad_request\""), std::string::npos) << reply;
  }
  auto r = client_->Get("/api/v1/status");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(WebServerBindTest, ABusyPortIsAClearError) {
  SnapshotStore store({"0.1.0"});
  TokenAuth auth;
  Router router(store, auth, nullptr, nullptr);
  ServerOptions options;
  options.port = 0;
  HttpServer first(router, options);
  first.start();
  options.port = first.port();
  HttpServer second(router, options);
  try {
    second.start();
    FAIL() << "two servers bound port " << options.port;
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("port " + std::to_string(options.port)), std::string::npos)
        << e.what();
  }
}

TEST(WebLoopTest, PerformOnLoopRunsOnTheLoopAndTimesOut) {
  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  std::thread loop([&io] { io.run(); });
  std::thread::id loop_id = loop.get_id();
  std::atomic<bool> on_loop{false};
  auto perform = performOnLoop(
      io,
      [&](const json& request, const std::string& caller, std::function<void(const json&)> reply) {
        on_loop = std::this_thread::get_id() == loop_id;
        if (request.value("command", "") == "hang") return;  // never replies
        reply({{"ok", true}, {"caller", caller}});
      },
      std::chrono::milliseconds(200));
  auto reply = perform({{"command", "restart"}}, "http 127.0.0.1:1");
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["caller"], "http 127.0.0.1:1");
  EXPECT_TRUE(on_loop);
  EXPECT_FALSE(perform({{"command", "hang"}}, "x"));
  guard.reset();
  io.stop();
  loop.join();
}

TEST(WebLoopTest, LoopbackAddresses) {
  EXPECT_TRUE(isLoopback("127.0.0.1"));
  EXPECT_TRUE(isLoopback("127.1.2.3"));
  EXPECT_TRUE(isLoopback("::1"));
  EXPECT_FALSE(isLoopback("0.0.0.0"));
  EXPECT_FALSE(isLoopback("192.0.2.11"));
}

// A loopback listener on an ephemeral port that accepts one connection and, if told to, reads
// the request head and writes `reply` (nothing at all otherwise).
struct CannedServer {
  explicit CannedServer(std::optional<std::string> reply_text, bool accept_at_all = true)
      : reply(std::move(reply_text)) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    EXPECT_EQ(::listen(fd, 4), 0);
    EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
    port = ntohs(address.sin_port);
    if (!accept_at_all) return;  // the kernel completes the handshake; nobody ever reads
    worker = std::thread([this] {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 5000) != 1) return;
      int c = ::accept(fd, nullptr, nullptr);
      if (c < 0) return;
      std::string head;
      char buffer[512];
      while (head.find("\r\n\r\n") == std::string::npos) {
        auto n = ::read(c, buffer, sizeof buffer);
        if (n <= 0) break;
        head.append(buffer, static_cast<std::size_t>(n));
      }
      request_head = head;
      if (reply) {
        auto n = ::write(c, reply->data(), reply->size());
        (void)n;
      } else {
        pollfd q{c, POLLIN, 0};
        ::poll(&q, 1, 3000);  // hold the connection without answering
      }
      ::close(c);
    });
  }
  ~CannedServer() {
    if (worker.joinable()) worker.join();
    ::close(fd);
  }
  std::optional<std::string> reply;
  int fd = -1;
  int port = 0;
  std::thread worker;
  std::string request_head;
};

TEST(WebClientTest, GetsStatusAndBodyFromTheRealServer) {
  BareServer bare([](ServerOptions&) {});
  bare.store.publish(seedSnapshot());
  auto r = httpGet("127.0.0.1", bare.server->port(), "/api/v1/status");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["node"], "chip");
  auto missing = httpGet("127.0.0.1", bare.server->port(), "/nothing-here");
  ASSERT_TRUE(missing.ok) << missing.error;
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(json::parse(missing.body)["error"]["code"], "not_found");
}

TEST(WebClientTest, SendsAHostHeaderAndAsksToClose) {
  CannedServer canned(std::string("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"));
  auto r = httpGet("127.0.0.1", canned.port, "/x");
  canned.worker.join();
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 204);
  EXPECT_NE(canned.request_head.find("GET /x HTTP/1.1\r\n"), std::string::npos);
  EXPECT_NE(canned.request_head.find("Host: 127.0.0.1:" + std::to_string(canned.port)),
            std::string::npos);
  EXPECT_NE(canned.request_head.find("Connection: close"), std::string::npos);
}

TEST(WebClientTest, RefusedSilentGarbageAndOversizeAreErrorsNotThrows) {
  int free_port = 0;
  {
    CannedServer closed(std::nullopt, /*accept_at_all=*/false);
    free_port = closed.port;
  }
  auto refused = httpGet("127.0.0.1", free_port, "/");
  EXPECT_FALSE(refused.ok);
  EXPECT_NE(refused.error.find("connect"), std::string::npos) << refused.error;
  EXPECT_FALSE(refused.connect_timed_out) << "a refusal is an answer";

  CannedServer silent(std::nullopt, /*accept_at_all=*/false);
  const auto start = std::chrono::steady_clock::now();
  auto timed_out = httpGet("127.0.0.1", silent.port, "/", std::chrono::milliseconds(300));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(timed_out.ok);
  EXPECT_NE(timed_out.error.find("timed out after 300 ms"), std::string::npos) << timed_out.error;
  EXPECT_LT(took, std::chrono::seconds(2));
  EXPECT_FALSE(timed_out.connect_timed_out) << "connected, then no reply: the path answered";

  testing::SilentPort unanswered;  // every SYN dropped
  auto no_answer = httpGet("127.0.0.1", unanswered.port(), "/", std::chrono::milliseconds(300));
  EXPECT_FALSE(no_answer.ok);
  EXPECT_NE(no_answer.error.find("timed out after 300 ms (connect)"), std::string::npos)
      << no_answer.error;
  EXPECT_TRUE(no_answer.connect_timed_out);

  CannedServer garbage(std::string("SSH-2.0-OpenSSH_9.2\r\n\r\n"));
  auto not_http = httpGet("127.0.0.1", garbage.port, "/");
  EXPECT_FALSE(not_http.ok);
  EXPECT_NE(not_http.error.find("read"), std::string::npos) << not_http.error;

  CannedServer big(std::string("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n") +
                   std::string(5000, 'x'));
  auto too_big = httpGet("127.0.0.1", big.port, "/", std::chrono::seconds(2), 1000);
  EXPECT_FALSE(too_big.ok) << too_big.status << " " << too_big.body.size();
  EXPECT_NE(too_big.error.find("read"), std::string::npos) << too_big.error;

  auto bad_port = httpGet("127.0.0.1", 70000, "/");
  EXPECT_FALSE(bad_port.ok);
  EXPECT_NE(bad_port.error.find("out of range"), std::string::npos);
  auto bad_host = httpGet("no such host.invalid", 80, "/", std::chrono::milliseconds(500));
  EXPECT_FALSE(bad_host.ok);
}

// ---- privacy by default (issue 18, finding 6) ----------------------------------------------

// The seed snapshot with everything an anonymous reader must not learn: OpenVPN users' names
// and real and virtual addresses, management lines quoting them, backend log lines, tinc peers'
// home addresses (in the mesh and in events), and an operator's address in an event.
model::Snapshot privateSnapshot() {
  auto s = seedSnapshot();
  s.backends[0].log_tail = {"Connection from 192.0.2.9 port 40000 (cometa)"};
  s.backends[1].log_tail = {"alice/198.51.100.7:5000 Peer Connection Initiated"};
  s.usage.push_back({"private", "alice", {10, 20, 30, 1}, "2026-12", {10, 20, 30, 1}, 5, true});
  s.usage.push_back({"public", "198.51.100.8", {1, 2, 3, 1}, "2026-12", {1, 2, 3, 1}, 5, false});
  s.openvpn["public"].problems = {"line 3: \"CLIENT_LIST,mallory,198.51.100.9:1\": too few fields"};
  s.events.push_back({kNow - 900, "mesh", "cometa up (192.0.2.9 port 40000)"});
  s.events.push_back(
      {kNow - 800, "operator", "openvpn-public: kill alice (http 203.0.113.5:41000, reason: x)"});
  s.events.push_back({kNow - 700, "operator", "drain cometa (http 203.0.113.5:41001)"});
  return s;
}

// What must never reach a reader without the token. 192.0.2.x are the servers' and volunteers'
// public addresses (tinc remote addresses, the hosts' public_address).
const std::vector<std::string> kPrivate = {
    "alice",           "mallory",      "198.51.100.7",    "198.51.100.8",
    "198.51.100.9",    "172.16.1.66",  "172.16.1.67",     "Peer Connection Initiated",
    "Connection from", "192.0.2.",     "203.0.113.5",     "script&gt;alert",
    "script>alert",    "real_address", "virtual_address", "log_tail"};

const std::vector<std::string> kEveryRead = {"/",
                                             "/live",
                                             "/metrics",
                                             "/api/v1/",
                                             "/api/v1/status",
                                             "/api/v1/backends",
                                             "/api/v1/gateways",
                                             "/api/v1/routes",
                                             "/api/v1/mesh",
                                             "/api/v1/clients",
                                             "/api/v1/events",
                                             "/api/v1/usage"};

TEST(WebPrivacyTest, PublicDocumentsHoldCountsAndStatesOnly) {
  const auto s = privateSnapshot();
  const auto status = document(s, {"0.1.0"}, Document::kStatus, Access::kPublic);
  const std::string text = status.dump();
  for (const auto& secret : kPrivate) {
    EXPECT_EQ(text.find(secret), std::string::npos) << secret << " in " << text;
  }
  EXPECT_EQ(status["access"], "public");
  // What stays: counts, states, sums, names of nodes and instances.
  EXPECT_EQ(status["clients"][0]["connected"], 2);
  EXPECT_EQ(status["clients"][0]["bytes_received"], 1005);
  EXPECT_EQ(status["clients"][0]["problem_count"], 1);
  EXPECT_FALSE(status["clients"][0].contains("clients"));
  EXPECT_EQ(status["mesh"][1]["name"], "cometa");
  EXPECT_EQ(status["mesh"][1]["up"], true);
  EXPECT_EQ(status["backends"][1]["state"], "failed");
  EXPECT_EQ(status["gateways"][0]["verdict"], "up");
  EXPECT_EQ(status["topology"]["hosts"][0]["mesh_address"], "100.64.12.12");
  std::vector<std::string> events;
  for (const auto& e : status["events"]) events.push_back(e["what"]);
  EXPECT_NE(std::find(events.begin(), events.end(), "cometa up"), events.end()) << text;
  EXPECT_NE(std::find(events.begin(), events.end(), "drain cometa"), events.end()) << text;
  EXPECT_NE(
      std::find(events.begin(), events.end(), "openvpn-public: kill (details need the token)"),
      events.end())
      << text;
  // Each part document alone is the same public view.
  for (const char* name :
       {"backends", "gateways", "routes", "mesh", "clients", "events", "usage"}) {
    auto alone = document(s, {"0.1.0"}, *documentNamed(name), Access::kPublic);
    EXPECT_EQ(alone[name], status[name]) << name;
    EXPECT_EQ(alone["access"], "public");
  }
  // The full view has it all.
  const auto full = document(s, {"0.1.0"}, Document::kStatus, Access::kFull).dump();
  for (const char* secret : {"alice", "198.51.100.7", "172.16.1.66", "Peer Connection Initiated",
                             "192.0.2.9 port 40000", "203.0.113.5", "mallory", "192.0.2.12"}) {
    EXPECT_NE(full.find(secret), std::string::npos) << secret;
  }
}

TEST(WebPrivacyTest, PublicEventTexts) {
  EXPECT_EQ(publicEventText("mesh", "cometa up (192.0.2.9 port 40000)"), "cometa up");
  EXPECT_EQ(publicEventText("mesh", "cometa down (2001:db8::9 port 655)"), "cometa down");
  EXPECT_EQ(publicEventText("mesh", "restarting tincd: cometa connected but silent for 25 s"),
            "restarting tincd: cometa connected but silent for 25 s");
  EXPECT_EQ(publicEventText("operator", "restart tinc (http 127.0.0.1:5000, reason: r)"),
            "restart tinc");
  EXPECT_EQ(publicEventText("operator", "openvpn-users: kill alice (control socket)"),
            "openvpn-users: kill (details need the token)");
  EXPECT_EQ(publicEventText("operator", "openvpn-users: client-kill 7 (http 10.0.0.1:1)"),
            "openvpn-users: client-kill (details need the token)");
  EXPECT_EQ(publicEventText("backend", "tinc: starting -> running (ready)"),
            "tinc: starting -> running (ready)");
  // Addresses anywhere, glued to words or not, bracketed or with ports.
  EXPECT_EQ(publicEventText("backend", "x198.51.100.7y and [2001:db8::1]:1194, ::1"),
            "x<address>y and [<address>]:1194, <address>");
  EXPECT_EQ(publicEventText("backend", "pid 1198.51.100.7"), "pid 1<address>");
  EXPECT_EQ(publicEventText("health", "cometa: no reply from 100.64.12.9"),
            "cometa: no reply from <address>");
  // A source this build does not know yet says nothing.
  EXPECT_EQ(publicEventText("openvpn", "alice connected from 198.51.100.7"),
            "openvpn event (details need the token)");
}

TEST(WebPrivacyTest, MetricsAndPageCarryNoNamesOrAddresses) {
  const auto s = privateSnapshot();
  const auto metrics = renderMetrics(document(s, {"0.1.0"}, Document::kStatus, Access::kPublic));
  const auto page = renderPage(document(s, {"0.1.0"}, Document::kStatus, Access::kPublic));
  for (const auto& secret : kPrivate) {
    EXPECT_EQ(metrics.find(secret), std::string::npos) << secret;
    EXPECT_EQ(page.find(secret), std::string::npos) << secret;
  }
  EXPECT_NE(page.find("data-access=\"public\""), std::string::npos);
  EXPECT_NE(page.find("2 connected"), std::string::npos);
  EXPECT_NE(page.find("data-instance=\"public\" data-clients=\"2\""), std::string::npos);
  const auto full = renderPage(document(s, {"0.1.0"}, Document::kStatus, Access::kFull));
  EXPECT_NE(full.find("data-access=\"full\""), std::string::npos);
  for (const char* secret : {"alice", "172.16.1.66", "192.0.2.9 port 40000"}) {
    EXPECT_NE(full.find(secret), std::string::npos) << secret;
  }
}

// Over real HTTP: every read without a token, then with it.
TEST_F(WebServerTest, WithoutTheTokenNoReadCarriesNamesOrAddresses) {
  store_.publish(privateSnapshot());
  for (const auto& path : kEveryRead) {
    for (bool head : {false, true}) {
      auto r = head ? client_->Head(path.c_str()) : client_->Get(path.c_str());
      ASSERT_TRUE(r) << path;
      EXPECT_EQ(r->status, 200) << path;
      for (const auto& secret : kPrivate) {
        EXPECT_EQ(r->body.find(secret), std::string::npos) << secret << " in " << path;
      }
    }
  }
  // With the token: the documents, the page and its live part show who and from where.
  for (const char* path : {"/api/v1/status", "/api/v1/clients"}) {
    auto r = client_->Get(path, bearer());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(body(r)["access"], "full");
    for (const char* secret : {"alice", "198.51.100.7", "172.16.1.66"}) {
      EXPECT_NE(r->body.find(secret), std::string::npos) << secret << " not in " << path;
    }
  }
  for (const char* path : {"/api/v1/status", "/api/v1/backends"}) {
    auto r = client_->Get(path, bearer());
    ASSERT_TRUE(r);
    EXPECT_NE(r->body.find("Peer Connection Initiated"), std::string::npos) << path;
  }
  for (const char* path : {"/api/v1/mesh", "/", "/live"}) {
    auto r = client_->Get(path, bearer());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(r->body.find("192.0.2.9 port 40000"), std::string::npos) << path;
  }
  for (const char* path : {"/", "/live"}) {
    auto r = client_->Get(path, bearer());
    ASSERT_TRUE(r);
    EXPECT_NE(r->body.find("alice"), std::string::npos) << path;
    EXPECT_NE(r->body.find("data-access=\"full\""), std::string::npos) << path;
  }
  // /metrics: each user's counters only with the token (issue 21); the rest the same text.
  const auto named = client_->Get("/metrics", bearer())->body;
  const auto open = client_->Get("/metrics")->body;
  for (const char* secret : {"user=\"alice\"", "user=\"198.51.100.8\""}) {
    EXPECT_NE(named.find(secret), std::string::npos) << secret;
  }
  EXPECT_NE(open.find("meshbroker_openvpn_usage_received_bytes_total{instance=\"private\"} 10\n"),
            std::string::npos)
      << open;
  auto usage = client_->Get("/api/v1/usage", bearer());
  ASSERT_TRUE(usage);
  EXPECT_EQ(body(usage)["usage"][0]["user"], "alice");
}

TEST_F(WebServerTest, AReadWithABadTokenIsRefusedNotDowngraded) {
  store_.publish(privateSnapshot());
  auto wrong = client_->Get("/api/v1/clients", bearer("wrong-token-wrong-token"));
  expectError(wrong, 403, "forbidden");
  EXPECT_EQ(wrong->body.find("alice"), std::string::npos);
  // A scraper with a wrong token gets no metrics at all, not the per-user ones.
  for (const char* path : {"/metrics", "/api/v1/usage"}) {
    auto refused = client_->Get(path, bearer("wrong-token-wrong-token"));
    expectError(refused, 403, "forbidden");
    EXPECT_EQ(refused->body.find("alice"), std::string::npos) << path;
  }
  auto basic = client_->Get("/api/v1/clients", {{"Authorization", std::string("Basic ") + kToken}});
  expectError(basic, 401, "unauthorized");
  EXPECT_EQ(basic->body.find("alice"), std::string::npos);
  auth_.set(std::nullopt);  // no token configured: nobody gets the full view
  auto disabled = client_->Get("/api/v1/clients", bearer());
  expectError(disabled, 403, "details_disabled");
  EXPECT_EQ(disabled->body.find("alice"), std::string::npos);
  auto anonymous = client_->Get("/api/v1/clients");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 200);
  EXPECT_EQ(body(anonymous)["access"], "public");
}

// ---- the Host header (DNS rebinding) ---------------------------------------------------------

// One request on a fresh connection; the whole reply (the server closes after it).
std::string rawExchange(int port, const std::string& request) {
  RawClient raw(port);
  if (!raw.connected() || !raw.send(request)) return "";
  return raw.receive(std::chrono::seconds(3));
}

std::string getWithHost(int port, const std::string& host,
                        const std::string& path = "/api/v1/status", const std::string& extra = "") {
  return rawExchange(port, "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra +
                               "Connection: close\r\n\r\n");
}

TEST_F(WebServerTest, AForeignHostIsRefusedBeforeAnything) {
  store_.publish(privateSnapshot());
  const std::string port = std::to_string(server_->port());
  for (const std::string& host : std::vector<std::string>{
           "evil.example", "evil.example:" + port, "127.0.0.1.evil.example",
           "127.0.0.1.evil.example:" + port, "localhost.evil.example:" + port, "localhost.:" + port,
           "127.0.0.1@evil.example", "evil.example#127.0.0.1", "127.1:" + port,
           "0x7f.0.0.1:" + port, "[evil.example]:" + port, "[::1", "127.0.0.1:" + port + ":" + port,
           "127.0.0.1:0", "127.0.0.1:99999", "127.0.0.1:", std::string("")}) {
    for (const char* path : {"/api/v1/status", "/", "/metrics", "/nothing"}) {
      const auto reply = getWithHost(server_->port(), host, path);
      EXPECT_EQ(reply.find("HTTP/1.1 421"), 0u)
          << host << " " << path << ": " << reply.substr(0, 80);
      EXPECT_NE(reply.find("\"unknown_host\""), std::string::npos) << host;
      EXPECT_EQ(reply.find("cometa"), std::string::npos) << host;
    }
  }
  // With the token, too: the page of a rebound name never reaches a document or an action.
  const auto with_token = getWithHost(server_->port(), "evil.example:" + port, "/api/v1/clients",
                                      std::string("Authorization: Bearer ") + kToken + "\r\n");
  EXPECT_EQ(with_token.find("HTTP/1.1 421"), 0u);
  EXPECT_EQ(with_token.find("alice"), std::string::npos);
  const auto action = rawExchange(
      server_->port(), "POST /api/v1/gateways/cometa/drain HTTP/1.1\r\nHost: evil.example:" + port +
                           "\r\nAuthorization: Bearer " + kToken +
                           "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(action.find("HTTP/1.1 421"), 0u) << action.substr(0, 80);
  std::lock_guard lock(mutex_);
  EXPECT_TRUE(requests_.empty());
}

TEST_F(WebServerTest, TheListenAddressLoopbackNamesAndConfiguredNamesPass) {
  publish();
  const std::string port = std::to_string(server_->port());
  auto passes = [&](const std::string& host) {
    const auto reply = getWithHost(server_->port(), host);
    EXPECT_EQ(reply.find("HTTP/1.1 200"), 0u) << host << ": " << reply.substr(0, 120);
  };
  for (const std::string& host : {"127.0.0.1:" + port, std::string("127.0.0.1"),
                                  "localhost:" + port, std::string("LocalHost"), "[::1]:" + port,
                                  std::string("localhost:9000")}) {  // an ssh -L forward
    passes(host);
  }
  router_->setHosts({"127.0.0.1", {"status.example.org", "192.0.2.11"}});
  passes("status.example.org:" + port);
  passes("Status.Example.ORG");
  passes("192.0.2.11:8443");
  EXPECT_EQ(getWithHost(server_->port(), "evil.status.example.org").find("HTTP/1.1 421"), 0u);
  EXPECT_EQ(getWithHost(server_->port(), "status.example.org.evil").find("HTTP/1.1 421"), 0u);
  EXPECT_EQ(getWithHost(server_->port(), "192.0.2.12").find("HTTP/1.1 421"), 0u);
  // cpp-httplib and the CLI's own client send "127.0.0.1:port".
  auto r = client_->Get("/api/v1/status");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto cli = httpGet("127.0.0.1", server_->port(), "/api/v1/status");
  ASSERT_TRUE(cli.ok) << cli.error;
  EXPECT_EQ(cli.status, 200);
}

TEST_F(WebServerTest, NoHostOnlyInHttp10AndNeverTwo) {
  publish();
  const auto http10 =
      rawExchange(server_->port(), "GET /api/v1/status HTTP/1.0\r\n\r\n");  // nc, old scripts
  EXPECT_EQ(http10.find("HTTP/1.0 200"), 0u) << http10.substr(0, 80);
  const auto http11 =
      rawExchange(server_->port(), "GET /api/v1/status HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(http11.find("HTTP/1.1 400"), 0u) << http11.substr(0, 80);
  EXPECT_NE(http11.find("needs a Host header"), std::string::npos);
  const auto two = rawExchange(server_->port(),
                               "GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: "
                               "evil.example\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(two.find("HTTP/1.1 400"), 0u) << two.substr(0, 80);
  const auto two_10 = rawExchange(server_->port(),
                                  "GET /api/v1/status HTTP/1.0\r\nHost: evil.example\r\nHost: "
                                  "127.0.0.1\r\n\r\n");
  EXPECT_EQ(two_10.find("HTTP/1.1 400"), 0u) << two_10.substr(0, 80);  // wire errors: 1.1
  const auto foreign_10 =
      rawExchange(server_->port(), "GET /api/v1/status HTTP/1.0\r\nHost: evil.example\r\n\r\n");
  EXPECT_EQ(foreign_10.find("HTTP/1.0 421"), 0u) << foreign_10.substr(0, 80);
}

TEST(WebHostCheckTest, ListenAddressesAndWildcards) {
  const HostPolicy mesh{"192.0.2.11", {}};
  EXPECT_TRUE(hostAllowed("192.0.2.11", mesh));
  EXPECT_TRUE(hostAllowed("192.0.2.11:8655", mesh));
  EXPECT_TRUE(hostAllowed("localhost:8655", mesh));
  EXPECT_TRUE(hostAllowed("127.0.0.1:1", mesh));
  EXPECT_FALSE(hostAllowed("192.0.2.12", mesh));
  EXPECT_FALSE(hostAllowed("192.0.2.011", mesh));  // no octal or zero-padded spellings
  EXPECT_FALSE(hostAllowed("meshbroker.local", mesh));
  const HostPolicy any4{"0.0.0.0", {}};
  EXPECT_TRUE(hostAllowed("198.51.100.1:80", any4));
  EXPECT_TRUE(hostAllowed("[2001:db8::1]:80", any4));
  EXPECT_FALSE(hostAllowed("evil.example", any4));
  const HostPolicy v6{"2001:db8::5", {}};
  EXPECT_TRUE(hostAllowed("[2001:db8:0::5]:8655", v6));
  EXPECT_TRUE(hostAllowed("[2001:DB8::5]", v6));
  EXPECT_FALSE(hostAllowed("2001:db8::5", v6));  // an IPv6 Host needs its brackets
  EXPECT_FALSE(hostAllowed("[2001:db8::6]", v6));
  EXPECT_TRUE(hostAllowed("[::1]", v6));
  const HostPolicy named{"127.0.0.1", {"status.example.org", "2001:db8::7"}};
  EXPECT_TRUE(hostAllowed("STATUS.example.org:443", named));
  EXPECT_TRUE(hostAllowed("[2001:db8::7]", named));
  EXPECT_FALSE(hostAllowed("status.example.org.", named));
  EXPECT_FALSE(hostAllowed("xstatus.example.org", named));
  EXPECT_FALSE(hostAllowed("status.example.org:http", named));
  EXPECT_FALSE(hostAllowed("status.example.org\r\nX: y", named));
  EXPECT_FALSE(hostAllowed("user@status.example.org", named));
}

// ---- config: status.hosts and where the listener may sit -------------------------------------

TEST(WebConfigTest, StatusHostsAreValidatedStrictly) {
  auto config = testing::example("chip");
  config["status"]["hosts"] = {"status.example.org", "192.0.2.11", "2001:db8::1"};
  auto loaded = testing::parseAs("chip", config.dump());
  ASSERT_TRUE(loaded.config) << testing::describe(loaded.diagnostics);
  EXPECT_EQ(loaded.config->status.hosts.size(), 3U);
  for (const json& bad : {json("evil..example"), json("a b"), json("name.with.dot."),
                          json("http://x"), json(std::string(300, 'a')), json(5), json("")}) {
    config["status"]["hosts"] = json::array({"ok.example", bad});
    testing::expectError("chip", config, "/status/hosts/1", "");
  }
  config["status"]["hosts"] = "status.example.org";
  testing::expectError("chip", config, "/status/hosts", "is not an array");
  config["status"].erase("hosts");
  config["status"]["allow_public_clients"] = "yes";
  testing::expectError("chip", config, "/status/allow_public_clients", "true or false");
}

TEST(WebConfigTest, TheListenerIsNeverWherePublicClientsAreRouted) {
  const auto base = testing::example("chip");  // has a public instance, 172.16.1.64/27
  struct Case {
    std::string listen;
    std::string fragment;
  };
  for (const Case& c : std::vector<Case>{
           {"100.64.12.11", "inside 100.64.12.0/27"},  // its own mesh address
           {"100.64.12.30", "inside 100.64.12.0/27"},  // anywhere in the mesh prefix
           {"172.16.1.65", "inside 172.16.1.64/27"},   // the public instance's tun address
           {"10.64.1.1", "inside 10.64.0.0/11"},       // a route set pushed to it
           {"::ffff:100.64.12.11", "inside 100.64.12.0/27"},
           {"0.0.0.0", "listens on every address"},
           {"::", "listens on every address"}}) {
    auto config = base;
    config["status"]["listen"] = c.listen;
    testing::expectError("chip", config, "/status/listen", c.fragment);
    testing::expectError("chip", config, "/status/listen", "/status/allow_public_clients");
    config["status"]["allow_public_clients"] = true;  // the explicit choice
    auto loaded = testing::parseAs("chip", config.dump());
    EXPECT_TRUE(loaded.config) << c.listen << ": " << testing::describe(loaded.diagnostics);
  }
  for (const char* fine : {"127.0.0.1", "127.0.0.2", "::1", "192.0.2.11", "2001:db8::1"}) {
    auto config = base;
    config["status"]["listen"] = fine;
    auto loaded = testing::parseAs("chip", config.dump());
    EXPECT_TRUE(loaded.config) << fine << ": " << testing::describe(loaded.diagnostics);
  }
  // No public instance: the mesh address is the operators' own network.
  auto config = base;
  config["openvpn"].erase(0);
  config["status"]["listen"] = "100.64.12.11";
  auto loaded = testing::parseAs("chip", config.dump());
  EXPECT_TRUE(loaded.config) << testing::describe(loaded.diagnostics);
  // A disabled listener sits nowhere.
  config = base;
  config["status"]["listen"] = "0.0.0.0";
  config["status"]["enabled"] = false;
  loaded = testing::parseAs("chip", config.dump());
  EXPECT_TRUE(loaded.config) << testing::describe(loaded.diagnostics);
}

// ---- meshbroker status on the public view ----------------------------------------------------

TEST(WebCliTest, TheTableCountsClientsInThePublicViewAndSaysWhatIsHidden) {
  const auto s = privateSnapshot();
  std::ostringstream pub;
  const int public_exit =
      cli::printStatusTable(document(s, {"0.1.0"}, Document::kStatus, Access::kPublic), pub);
  EXPECT_NE(pub.str().find("openvpn public: 2 client(s)"), std::string::npos) << pub.str();
  EXPECT_NE(pub.str().find("public view"), std::string::npos) << pub.str();
  for (const auto& secret : kPrivate) {
    EXPECT_EQ(pub.str().find(secret), std::string::npos) << secret;
  }
  std::ostringstream full;
  const int full_exit =
      cli::printStatusTable(document(s, {"0.1.0"}, Document::kStatus, Access::kFull), full);
  EXPECT_NE(full.str().find("openvpn public: 2 client(s)"), std::string::npos);
  EXPECT_NE(full.str().find("alice"), std::string::npos);
  EXPECT_NE(full.str().find("198.51.100.7:5000"), std::string::npos);
  EXPECT_EQ(full.str().find("public view"), std::string::npos);
  // Same exit code either way (4 here: openvpn-public has failed).
  EXPECT_EQ(public_exit, full_exit);
  EXPECT_EQ(public_exit, 4);
}

TEST(WebClientTest, SendsTheBearerTokenWhenGivenOne) {
  CannedServer canned(std::string("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"));
  auto r = httpGet("127.0.0.1", canned.port, "/x", std::chrono::seconds(2), 1024,
                   std::string("Bearer ") + kToken);
  canned.worker.join();
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_NE(canned.request_head.find(std::string("Authorization: Bearer ") + kToken),
            std::string::npos);
}

}  // namespace
}  // namespace meshbroker::web
