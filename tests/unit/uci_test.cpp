// OpenWrt's UCI form of the config (/etc/config/meshbroker): the same config as the JSON one,
// and every problem named by the UCI option the operator wrote.
#include "config/uci.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "config/loader.hpp"
#include "test_support.hpp"

namespace meshbroker::config {
namespace {

using Json = nlohmann::json;

// The UCI text of a JSON config, as an operator would write it: top-level values in
// `config meshbroker 'node'`, one section per object, one per array item (named by its name).
std::string toUci(const Json& config) {
  auto value = [](const Json& v) {
    if (v.is_boolean()) return std::string(v.get<bool>() ? "1" : "0");
    if (v.is_number()) return v.dump();
    return "'" + v.get<std::string>() + "'";
  };
  auto options = [&](const Json& object) {
    std::string out;
    for (const auto& [key, v] : object.items()) {
      if (v.is_array()) {
        for (const auto& item : v) out += "\tlist " + key + " " + value(item) + "\n";
      } else {
        out += "\toption " + key + " " + value(v) + "\n";
      }
    }
    return out;
  };
  std::string top = "config meshbroker 'node'\n\toption enabled '1'\n", rest;
  for (const auto& [key, v] : config.items()) {
    if (v.is_object()) {
      rest += "\nconfig " + key + " '" + key + "'\n" + options(v);
    } else if (v.is_array() && !v.empty() && v[0].is_object()) {
      const std::string type = key == "hosts" ? "host" : key == "routes" ? "route" : key;
      for (auto item : v) {
        const auto name = item["name"].get<std::string>();
        item.erase("name");
        rest += "\nconfig " + type + " '" + name + "'\n" + options(item);
      }
    } else {
      top += "\toption " + key + " " + value(v) + "\n";
    }
  }
  return top + rest;
}

// A seed config without what UCI cannot say (lists of objects: a route set's gateways, the
// OpenVPN offers of other servers).
Json uciExpressible(const std::string& node) {
  auto config = testing::example(node);
  for (auto& host : config["hosts"]) host.erase("openvpn");
  if (config.contains("routes")) {
    for (auto& set : config["routes"]) set["via"] = "all_gateways";
  }
  return config;
}

TEST(Uci, EverySeedConfigReadsAsTheSameJson) {
  for (const char* node : {"cometa", "illimani", "chip", "comegato"}) {
    SCOPED_TRACE(node);
    const auto config = uciExpressible(node);
    const auto text = toUci(config);
    ASSERT_TRUE(looksLikeUci(text));
    auto uci = parseUci(text);
    ASSERT_TRUE(uci.document) << uci.error << "\n" << text;
    EXPECT_EQ(uci.document->json, config) << text;
  }
}

// What a router's operator writes, with OpenWrt's usual spellings (quotes of either kind,
// bare words, '1' for true, comments).
constexpr std::string_view kCometa = R"(# /etc/config/meshbroker on cometa
package meshbroker

config meshbroker 'node'
	option enabled '1'          # the init script's switch
	option name 'cometa'
	option role gateway

config tinc 'tinc'
	option netname "meshnet"
	option interface 'meshnet0'
	option address '100.64.12.9'
	option prefix '100.64.12.0/27'
	option compression '10'
	option insecure 'no'
	list connect_to 'chip'

config host 'chip'
	option role 'server'
	option mesh_address '100.64.12.11'
	option public_address '192.0.2.11'
	option public_key_file '/etc/meshbroker/keys/chip.pub'
	list client_subnets '172.16.1.64/27'
	list client_subnets '172.16.1.96/27'

config status
	option enabled off
)";

TEST(Uci, ARoutersConfigInOpenWrtSpelling) {
  auto uci = parseUci(kCometa);
  ASSERT_TRUE(uci.document) << uci.error;
  const auto& json = uci.document->json;
  EXPECT_EQ(json["name"], "cometa");
  EXPECT_FALSE(json.contains("enabled"));  // the init script's, not the daemon's
  EXPECT_EQ(json["tinc"]["compression"], 10);
  EXPECT_EQ(json["tinc"]["insecure"], false);
  EXPECT_EQ(json["tinc"]["connect_to"], Json::array({"chip"}));
  EXPECT_EQ(json["hosts"][0]["name"], "chip");
  EXPECT_EQ(json["hosts"][0]["client_subnets"].size(), 2u);
  EXPECT_EQ(json["status"]["enabled"], false);
  // A number where the config takes a string stays a string (a node named 10 is a name).
  auto named = parseUci("config meshbroker\n\toption name '10'\n");
  ASSERT_TRUE(named.document);
  EXPECT_EQ(named.document->json["name"], "10");
}

TEST(Uci, ProblemsNameTheUciOption) {
  // kCometa with one thing changed: its problems, one per line.
  auto problems = [](std::string_view was, std::string_view is) {
    std::string text(kCometa);
    text.replace(text.find(was), was.size(), is);
    auto loaded = parseConfig(text, "/etc/config", [](const auto&) { return std::nullopt; });
    EXPECT_FALSE(loaded.config);
    std::string all;
    for (const auto& d : loaded.diagnostics.all()) all += d.str() + "\n";
    return all;
  };
  auto all = problems("100.64.12.9", "100.64.13.9");  // outside the prefix
  EXPECT_NE(all.find("meshbroker.tinc.address: \"100.64.13.9\""), std::string::npos) << all;
  // No JSON pointer shown, in the path or in the message; file paths stay as they are.
  EXPECT_NE(all.find("outside the mesh prefix 100.64.12.0/27 (meshbroker.tinc.prefix)"),
            std::string::npos)
      << all;
  EXPECT_EQ(all.find("/tinc/prefix"), std::string::npos) << all;
  EXPECT_NE(all.find("\"/etc/meshbroker/keys/chip.pub\" is missing"), std::string::npos) << all;
  all = problems("'172.16.1.96/27'", "'172.16.1.97/27'");  // host bits set
  EXPECT_NE(all.find("meshbroker.chip.client_subnets item 2: "), std::string::npos) << all;
  all = problems("'10'", "'ten'");  // not a number
  EXPECT_NE(all.find("meshbroker.tinc.compression: \"ten\" is not a whole number"),
            std::string::npos)
      << all;

  // A missing section or option, an anonymous section, an unknown option.
  auto missing = parseConfig(
      "config meshbroker 'node'\n\toption name 'x'\n\toption role gateway\n"
      "config host\n\toption role server\n\toption colour 'red'\n",
      "/etc/config", [](const auto&) { return std::nullopt; });
  all.clear();
  for (const auto& d : missing.diagnostics.all()) all += d.str() + "\n";
  EXPECT_NE(all.find("meshbroker.tinc: is missing"), std::string::npos) << all;
  EXPECT_NE(all.find("meshbroker.@host[0].name: is missing"), std::string::npos) << all;
  EXPECT_NE(all.find("meshbroker.@host[0].colour: "), std::string::npos) << all;
}

TEST(Uci, MalformedTextIsRefusedWithItsLine) {
  struct Case {
    std::string text;
    std::string why;
  };
  for (const auto& [text, why] : std::vector<Case>{
           {"config tinc\n\toption netname 'mesh\n", "line 2: a ' quote is not closed"},
           {"config tinc\n\toption netname \"mesh\n", "line 2: a \" quote is not closed"},
           {"config tinc\nconfig tinc\n", "line 2: a second \"config tinc\" section (line 1"},
           {"config firewall\n", "line 1: \"config firewall\": not a section type"},
           {"option name 'x'\n", "before any \"config\" section"},
           {"config tinc\n\toption 'net name' 'x'\n", "line 2: the option name \"net name\""},
           {"config tinc 'a-b'\n", "the section name \"a-b\""},
           {"config tinc\n\toption netname\n", "line 2: \"option NAME 'VALUE'\" is expected"},
           {"config tinc\n\tlist connect_to 'a'\n\toption connect_to 'b'\n", "is a list here"},
           {"config tinc\n\toption connect_to 'b'\n\tlist connect_to 'a'\n", "is an option here"},
           {"config host 'chip'\n\toption name 'other'\n", "not the section's name"},
           {"package network\n", "only \"package meshbroker\""},
           {"config tinc\n\tvalue x 'y'\n", "line 2: \"value\": a line is"},
       }) {
    auto result = parseUci(text);
    EXPECT_FALSE(result.document) << text;
    EXPECT_NE(result.error.find(why), std::string::npos) << text << " -> " << result.error;
  }
  // Through the loader: one clear problem, nothing half-read.
  auto loaded = parseConfig("config tinc\n\toption netname 'x\n", "/",
                            [](const auto&) { return std::nullopt; });
  ASSERT_EQ(loaded.diagnostics.all().size(), 1u);
  EXPECT_NE(loaded.diagnostics.all()[0].str().find("is not valid UCI: line 2"), std::string::npos);
}

// Nothing in a value can become a directive in a rendered file: UCI values are one line, and
// a control character or a second word still reaches the config's own checks, by UCI name.
TEST(Uci, HostileValuesMeetTheConfigsChecks) {
  std::string text(kCometa);
  text.replace(text.find("'meshnet0'"), 10, "'mesh\tPort = 1'");
  auto loaded = parseConfig(text, "/etc/config", [](const auto&) { return std::nullopt; });
  ASSERT_FALSE(loaded.config);
  std::string all;
  for (const auto& d : loaded.diagnostics.all()) all += d.str() + "\n";
  EXPECT_NE(all.find("meshbroker.tinc.interface: \"mesh\\tPort = 1\""), std::string::npos) << all;
  EXPECT_FALSE(looksLikeUci("{\"name\": \"config\"}"));
  EXPECT_FALSE(looksLikeUci("# config\n{}"));
}

TEST(Uci, NamesOfJsonPointers) {
  auto uci = parseUci(kCometa);
  ASSERT_TRUE(uci.document);
  EXPECT_EQ(uciName(*uci.document, "/name"), "meshbroker.node.name");
  EXPECT_EQ(uciName(*uci.document, "/hosts/0/client_subnets/0"),
            "meshbroker.chip.client_subnets item 1");
  EXPECT_EQ(uciName(*uci.document, "/hosts/0/port"), "meshbroker.chip.port");
  EXPECT_EQ(uciName(*uci.document, "/health/interval_ms"), "meshbroker.health.interval_ms");
  EXPECT_EQ(uciName(*uci.document, "/status"), "meshbroker.@status[0]");
  EXPECT_EQ(uciName(*uci.document, ""), "meshbroker");
}

}  // namespace
}  // namespace meshbroker::config
