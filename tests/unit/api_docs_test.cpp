// docs/api.md is checked against the one place the status document is made (web::document):
// every field the full view can carry is named in its "Documents" section, and every field the
// section lists in a document's [{...}] summary is in the document. A field added in code
// without a word in the docs, or renamed in one and not the other, fails here.
#include <gtest/gtest.h>

#include <functional>
#include <regex>
#include <set>
#include <string>

#include "tests/unit/test_support.hpp"
#include "web/api.hpp"

namespace meshbroker::web {
namespace {

using nlohmann::json;

// One of everything that can appear, optional fields included.
model::Snapshot everything() {
  model::Snapshot s;
  s.generation = 1;
  s.updated_ms = 1795000000000;
  s.started_ms = 1794999000000;
  s.daemon_pid = 7;
  s.node = "chip";
  s.role = "server";
  s.config_file = "/etc/meshbroker/meshbroker.json";
  s.backends.push_back({"tinc", "running", 100, 0, 0, 1, "", "", {"Ready"}});
  s.backends.back().adopted = true;
  s.mesh["cometa"] = {true, "192.0.2.9 port 655", 1};
  model::OpenVpnSnapshot instance;
  instance.management_connected = true;
  instance.updated_ms = 1;
  instance.clients.push_back({"alice", "198.51.100.7:5000", "172.16.1.66", 1, 2, 3, std::nullopt});
  instance.problems.push_back("a line that did not parse");
  s.openvpn["public"] = instance;
  s.last_reload = {1, true, {"an error"}, {{"tinc", "signal"}}};
  s.pki.checked = true;
  s.pki.crl_next_update = 1797000000;
  s.pki.advice = "renew";
  model::HealthSnapshot health;
  auto& gateway = health.peers["cometa"];
  gateway.verdict = "up";
  gateway.verdict_since_ms = 1;
  gateway.rtt_ms = 1.5;
  gateway.checks["icmp"] = {"up", "100.64.12.9", "replies", 1, 0, 10, 10, false, 0, 1.5};
  gateway.checks["through"] = {"up", "10.65.2.8", "replies", 1, 0, 10, 10, false, 7701, 2.0};
  health.route_sets.push_back({"mesh", {"cometa"}, false, true, "why", {"10.64.0.0/11 via x"}});
  health.timer = {10, 10, 0.1, 0.2, 0.3};
  health.events.push_back({1, "cometa icmp: unknown -> up"});
  health.route_errors.push_back("an error");
  health.route_conflicts.push_back("a conflict");
  s.health = health;
  s.events.push_back({1, "backend", "tinc: starting -> running"});
  s.topology.address = "100.64.12.11";
  s.topology.prefix = "100.64.0.0/10";
  s.topology.interface = "meshnet0";
  s.topology.hosts.push_back(
      {"cometa", "gateway", "100.64.12.9", {"10.65.2.0/24"}, std::string("192.0.2.9")});
  s.topology.openvpn.push_back({"public", "public", 1194, "udp", "172.16.1.64/27", 30});
  s.topology.route_sets.push_back(
      {"mesh", {"10.64.0.0/11"}, {"172.16.1.64/27"}, "failover", {{"cometa", 1, 0}}});
  s.topology.through_target = "10.65.2.8";
  s.topology.through_target6 = "fd00:65:2::8";
  s.usage.push_back({"private", "alice", {1, 2, 3, 4}, "2026-12", {1, 2, 3, 4}, 1796428800, true});
  s.network = model::NetworkSnapshot{"comunidad", "chip", "sha256:x", true,         3,  1, 2,
                                     4,           5,      "chip",     {"illimani"}, "", 0, true};
  return s;
}

std::string documentsSection() {
  const std::string docs = testing::readText(testing::kSourceDir / "docs/api.md");
  const auto begin = docs.find("## Documents");
  const auto end = docs.find("\n## ", begin + 1);
  EXPECT_NE(begin, std::string::npos);
  return docs.substr(begin, end - begin);
}

bool named(const std::string& docs, const std::string& field) {
  return std::regex_search(docs, std::regex("[^a-z_]" + field + "[^a-z_]"));
}

TEST(ApiDocsTest, EveryFieldOfTheStatusDocumentIsDocumented) {
  const auto status = document(everything(), {"0.1.0"}, Document::kStatus, Access::kFull);
  const std::string docs = documentsSection();
  std::set<std::string> undocumented;
  std::size_t fields = 0;
  // Keys that are data, not names: backend ids in last_reload.actions.
  std::function<void(const json&, const std::string&)> walk = [&](const json& j,
                                                                  const std::string& path) {
    if (j.is_array()) {
      for (const auto& element : j) walk(element, path + "[]");
      return;
    }
    if (!j.is_object() || path.ends_with(".actions")) return;
    for (const auto& [key, value] : j.items()) {
      ++fields;
      if (!named(docs, key)) undocumented.insert(path + "." + key);
      walk(value, path + "." + key);
    }
  };
  walk(status, "");
  EXPECT_GT(fields, 100u) << "the snapshot above should fill every part of the document";
  EXPECT_TRUE(undocumented.empty()) << [&] {
    std::string list;
    for (const auto& f : undocumented) list += " " + f;
    return "fields in the status document that docs/api.md does not name:" + list;
  }();
}

TEST(ApiDocsTest, EveryFieldTheDocsListIsInTheDocument) {
  const auto status = document(everything(), {"0.1.0"}, Document::kStatus, Access::kFull);
  const std::string docs = documentsSection();
  // "### `backends`" followed by "`[{id, state, ...}]`": the element fields of that document.
  const std::regex section("### `([a-z]+)`\\s*\\n(?:(?!###)[\\s\\S])*?`\\[\\{([^}]*)\\}\\]");
  std::size_t documents = 0;
  for (std::sregex_iterator it(docs.begin(), docs.end(), section), end; it != end; ++it) {
    const std::string name = (*it)[1];
    ASSERT_TRUE(status.contains(name)) << name;
    ASSERT_TRUE(status[name].is_array() && !status[name].empty()) << name;
    ++documents;
    std::string list = (*it)[2];
    const std::regex field("([a-z_]+)(\\?)?");
    for (std::sregex_iterator f(list.begin(), list.end(), field), fend; f != fend; ++f) {
      const std::string key = (*f)[1];
      if (key == "full" || key == "view") continue;  // "(full view)"
      EXPECT_TRUE(status[name][0].contains(key))
          << "docs/api.md lists " << name << "." << key << "; the document has no such field";
    }
  }
  EXPECT_EQ(documents, 7u) << "backends, gateways, routes, mesh, clients, events, usage";
}

}  // namespace
}  // namespace meshbroker::web
