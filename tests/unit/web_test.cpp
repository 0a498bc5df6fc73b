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

#include <atomic>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "tests/unit/test_support.hpp"
#include "web/api.hpp"
#include "web/auth.hpp"
#include "web/client.hpp"
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
supervisor::Snapshot seedSnapshot() {
  auto loaded = testing::parseAs("chip", testing::exampleText("chip"));
  EXPECT_TRUE(loaded.config) << testing::describe(loaded.diagnostics);
  supervisor::Snapshot s;
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
  supervisor::OpenVpnSnapshot ovpn;
  ovpn.management_connected = true;
  ovpn.updated_ms = kNow - 2000;
  ovpn.clients.push_back(
      {"alice", "198.51.100.7:5000", "172.16.1.66", 1000, 2000, 1795000000, std::nullopt});
  ovpn.clients.push_back({"<script>alert(1)</script>", "198.51.100.8:5000", "172.16.1.67", 5, 6,
                          1795000000, std::nullopt});
  s.openvpn["public"] = ovpn;
  s.health = {
      {"peers",
       {{"cometa",
         {{"verdict", "up"},
          {"drained", false},
          {"rtt_ms", 1.5},
          {"checks",
           {{"icmp",
             {{"verdict", "up"},
              {"reason", "replies"},
              {"since_ms", kNow - 30000},
              {"loss_pct", 2.0},
              {"sent", 500},
              {"replies", 490},
              {"rtt_ms", 1.5}}}}}}},
        {"illimani",
         {{"verdict", "down"},
          {"drained", false},
          {"checks",
           {{"icmp",
             {{"verdict", "down"},
              {"reason", "7 probes in a row lost"},
              {"since_ms", kNow - 5000},
              {"loss_pct", 100.0},
              {"sent", 400},
              {"replies", 100}}}}}}}}},
      {"route_sets", json::array({{{"name", "mesh"},
                                   {"chosen", {"cometa"}},
                                   {"all_down", false},
                                   {"settled", true},
                                   {"why", "cometa has the lowest priority among the healthy"},
                                   {"routes", {"10.64.0.0/11 via 100.64.12.9"}}}})},
      {"events", json::array({{{"at_ms", kNow - 5000}, {"what", "illimani icmp: up -> down"}}})},
      {"route_errors", json::array()},
      {"held", false},
      {"timer",
       {{"wakeups", 900}, {"window", 900}, {"lateness_p99_ms", 0.2}, {"lateness_max_ms", 0.9}}}};
  s.events.push_back({kNow - 60000, "backend", "tinc: starting -> running (ready)"});
  s.events.push_back({kNow - 1000, "backend", "openvpn-public: backoff -> failed"});
  s.topology = supervisor::topologyJson(*loaded.config);
  return s;
}

TEST(WebApiTest, StatusHoldsEveryDocumentWithGenerationAndTimes) {
  const auto s = seedSnapshot();
  const auto status = document(s, {"0.1.0"}, Document::kStatus);
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
    auto alone = document(s, {"0.1.0"}, *which);
    EXPECT_EQ(alone[name], status[name]) << name;
    EXPECT_EQ(alone["generation"], 42);
  }
  EXPECT_FALSE(documentNamed("secrets"));
}

TEST(WebApiTest, GatewaysRoutesClientsAndEvents) {
  const auto status = document(seedSnapshot(), {"0.1.0"}, Document::kStatus);
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

TEST(WebApiTest, GarbageHealthIsIgnoredNotFatal) {
  auto s = seedSnapshot();
  s.health = json::array({1, "x"});
  s.topology = "nonsense";
  const auto status = document(s, {"0.1.0"}, Document::kStatus);
  EXPECT_TRUE(status["gateways"].empty());
  EXPECT_TRUE(status["routes"].empty());
  EXPECT_NO_THROW(renderMetrics(status));
  EXPECT_NO_THROW(renderPage(status));
}

TEST(WebMetricsTest, FamiliesAndSamples) {
  const auto text = renderMetrics(document(seedSnapshot(), {"0.1.0"}, Document::kStatus));
  for (const char* line : {
           "meshbroker_build_info{version=\"0.1.0\",node=\"chip\",role=\"server\"} 1",
           "meshbroker_gateway_up{gateway=\"cometa\"} 1",
           "meshbroker_gateway_up{gateway=\"illimani\"} 0",
           "meshbroker_gateway_rtt_seconds{gateway=\"cometa\"} 0.0015",
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

TEST(WebMetricsTest, LabelValuesAreEscaped) {
  EXPECT_EQ(escapeLabel("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(WebPageTest, ShowsGatewaysStatesAndEscapesEverything) {
  const auto status = document(seedSnapshot(), {"0.1.0"}, Document::kStatus);
  const auto page = renderPage(status);
  EXPECT_NE(page.find("<!DOCTYPE html>"), std::string::npos);
  EXPECT_NE(page.find("data-gateway=\"cometa\" data-state=\"up\""), std::string::npos);
  EXPECT_NE(page.find("data-gateway=\"illimani\" data-state=\"down\""), std::string::npos);
  EXPECT_NE(page.find("data-instance=\"public\" data-clients=\"2\""), std::string::npos);
  EXPECT_NE(page.find("<svg id=\"topology\""), std::string::npos);
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
  s.health["peers"].erase("illimani");
  const auto page = renderPage(document(s, {"0.1.0"}, Document::kStatus));
  EXPECT_NE(page.find("class=\"headline ok\""), std::string::npos);
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
  EXPECT_EQ(body(index)["endpoints"].size(), 7U);

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
    ASSERT_TRUE(slow.back()->send("GET /api/v1/status HTTP/1.1\r\nHost: x\r\n"));
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
  ASSERT_TRUE(served.send("GET /live HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(served.receive(std::chrono::seconds(2)).find("HTTP/1.1 503"), 0u);
  std::vector<std::unique_ptr<RawClient>> flood;
  for (int i = 0; i < 12; ++i) {
    flood.push_back(std::make_unique<RawClient>(server.port()));
    ASSERT_TRUE(flood.back()->connected());
  }
  eventually([&] { return server.counters().evicted >= 9; }, std::chrono::seconds(2));
  EXPECT_GE(server.counters().evicted, 9u);
  ASSERT_TRUE(served.send("GET /live HTTP/1.1\r\nHost: x\r\n\r\n"));
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
  ASSERT_TRUE(
      raw.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /nothing HTTP/1.1\r\nHost: x\r\n"
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

  CannedServer silent(std::nullopt, /*accept_at_all=*/false);
  const auto start = std::chrono::steady_clock::now();
  auto timed_out = httpGet("127.0.0.1", silent.port, "/", std::chrono::milliseconds(300));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(timed_out.ok);
  EXPECT_NE(timed_out.error.find("timed out after 300 ms"), std::string::npos) << timed_out.error;
  EXPECT_LT(took, std::chrono::seconds(2));

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

}  // namespace
}  // namespace meshbroker::web
