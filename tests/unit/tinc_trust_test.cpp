// Issue 18's tinc findings, attacked: a node can only be who it is (each host file pins one MAC,
// StrictSubnets, permanent neighbours), a peer's bad key costs that peer and never the node,
// and weak crypto needs "insecure": true. The namespace half is tests/integration/tinc_spoof.sh.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cli/commands.hpp"
#include "routing/static_routes.hpp"
#include "templates/rendered_check.hpp"
#include "templates/renderer.hpp"
#include "unit/test_support.hpp"

namespace meshbroker {
namespace {

namespace fs = std::filesystem;
using config::Diagnostic;
using meshbroker::testing::describe;
using meshbroker::testing::example;
using meshbroker::testing::exampleText;
using meshbroker::testing::kExampleNodes;
using meshbroker::testing::kSourceDir;
using meshbroker::testing::parseAs;
using meshbroker::testing::readText;
using nlohmann::json;

const templates::RenderedFile& fileNamed(const std::vector<templates::RenderedFile>& files,
                                         const std::string& path) {
  for (const auto& file : files) {
    if (file.path == path) return file;
  }
  throw std::runtime_error("not rendered: " + path);
}

std::vector<std::string> linesStartingWith(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(prefix)) out.push_back(line);
  }
  return out;
}

std::vector<templates::RenderedFile> renderOf(const config::LoadResult& result) {
  if (!result.config) throw std::runtime_error(describe(result.diagnostics));
  return templates::renderNode(*result.config, {"/usr/bin/meshbroker"});
}

// --- finding 4: every node can only be who it is ------------------------------------------

TEST(TincTrust, EveryHostFilePinsExactlyItsOwnMac) {
  for (const auto& node : kExampleNodes) {
    auto result = parseAs(node, exampleText(node));
    auto files = renderOf(result);
    const auto& config = *result.config;
    std::map<std::string, config::Ipv4Address> addresses = {
        {config.name.str(), config.tinc.address}};
    for (const auto& host : config.hosts) addresses.emplace(host.name.str(), host.mesh_address);
    std::set<std::string> claimed;
    for (const auto& [name, address] : addresses) {
      const auto& text = fileNamed(files, "tinc/hosts/" + name).content;
      auto subnets = linesStartingWith(text, "Subnet");
      ASSERT_EQ(subnets.size(), 1u) << node << ": hosts/" << name << "\n" << text;
      EXPECT_EQ(subnets[0], "Subnet = " + routing::meshMac(address)) << node << "/" << name;
      EXPECT_TRUE(claimed.insert(subnets[0]).second) << "two hosts claim " << subnets[0];
      EXPECT_EQ(linesStartingWith(text, "MACLength"), std::vector<std::string>{"MACLength = 16"})
          << node << "/" << name;
    }
    // The MAC the tinc-up sets is the one the own host file claims.
    const auto& up = fileNamed(files, "tinc/tinc-up").content;
    EXPECT_NE(up.find("address " + routing::meshMac(config.tinc.address) + "\n"),
              std::string::npos);
  }
}

TEST(TincTrust, TincConfIsStrictOnEveryNode) {
  for (const auto& node : kExampleNodes) {
    auto files = renderOf(parseAs(node, exampleText(node)));
    EXPECT_EQ(linesStartingWith(fileNamed(files, "tinc/tinc.conf").content, "StrictSubnets"),
              std::vector<std::string>{"StrictSubnets = yes"})
        << node;
  }
}

TEST(TincTrust, KnownNeighboursArePermanent) {
  auto result = parseAs("chip", exampleText("chip"));
  auto files = renderOf(result);
  const auto& up = fileNamed(files, "tinc/tinc-up").content;
  auto neighbours = linesStartingWith(up, "ip neigh");
  ASSERT_EQ(neighbours.size(), result.config->hosts.size()) << up;
  for (const auto& host : result.config->hosts) {
    EXPECT_NE(up.find("ip neigh replace " + host.mesh_address.str() + " lladdr " +
                      routing::meshMac(host.mesh_address) +
                      " dev \"$INTERFACE\" nud permanent || true\n"),
              std::string::npos)
        << host.name.str() << "\n"
        << up;
  }
  EXPECT_EQ(up.find("nud stale"), std::string::npos);
}

TEST(TincTrust, NoMacLengthWithoutADigest) {
  auto config = example("chip");
  config["tinc"]["digest"] = "none";
  config["tinc"]["insecure"] = true;
  auto files = renderOf(parseAs("chip", config.dump()));
  EXPECT_TRUE(linesStartingWith(fileNamed(files, "tinc/hosts/chip").content, "MACLength").empty());
}

// The grammar is the second wall: a tinc.conf that lost StrictSubnets or turned it off, or a
// host file with a second or bogus MACLength, is not a file meshbroker renders.
TEST(TincTrust, RenderedCheckRequiresStrictSubnets) {
  auto files = renderOf(parseAs("chip", exampleText("chip")));
  const auto& conf = fileNamed(files, "tinc/tinc.conf").content;
  ASSERT_EQ(templates::checkRenderedText(templates::RenderedKind::kTincConf, conf), std::nullopt);
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string text = conf;
    text.replace(text.find(from), from.size(), to);
    return templates::checkRenderedText(templates::RenderedKind::kTincConf, text);
  };
  EXPECT_NE(replaced("StrictSubnets = yes\n", ""), std::nullopt);
  EXPECT_NE(replaced("StrictSubnets = yes\n", "StrictSubnets = no\n"), std::nullopt);
  EXPECT_NE(replaced("StrictSubnets = yes\n", "StrictSubnets = yes\nStrictSubnets = yes\n"),
            std::nullopt);
  EXPECT_NE(replaced("StrictSubnets = yes\n", "TunnelServer = no\n"), std::nullopt);

  const auto& host = fileNamed(files, "tinc/hosts/cometa").content;
  ASSERT_EQ(templates::checkRenderedText(templates::RenderedKind::kTincHost, host), std::nullopt);
  for (const char* bad : {"MACLength = 16\nMACLength = 0\n", "MACLength = sixteen\n"}) {
    std::string text = host;
    text.replace(text.find("MACLength = 16\n"), 15, bad);
    EXPECT_NE(templates::checkRenderedText(templates::RenderedKind::kTincHost, text), std::nullopt)
        << bad;
  }
}

// --- finding 8: one bad peer key drops that peer, never the node --------------------------

// Key files as a volunteer's router might hand them over: broken, hostile, or not a key at all.
std::vector<std::pair<std::string, std::string>> badKeyFiles() {
  const std::string good = readText(kSourceDir / "tests/data/keys/comegato.pub");
  std::string truncated = good.substr(0, good.size() / 2);
  std::string directive = good;
  directive.insert(directive.find('\n') + 1, "Address = 203.0.113.66 655\n");
  std::string subnet = good;
  subnet.insert(subnet.find('\n') + 1, "Subnet = 02:00:64:40:0c:0b\n");
  std::string crlf = good;
  for (std::size_t at = crlf.find('\n'); at != std::string::npos; at = crlf.find('\n', at + 2)) {
    crlf.insert(at, "\r");
  }
  return {{"empty", ""},
          {"truncated", truncated},
          {"an injected Address line", directive},
          {"an injected Subnet claiming chip's MAC", subnet},
          {"CRLF line ends", crlf},
          {"a NUL", good.substr(0, 40) + std::string(1, '\0') + good.substr(40)},
          {"a private key",
           "-----BEGIN RSA PRIVATE KEY-----\nMIIEow==\n"
           "-----END RSA PRIVATE KEY-----\n"},
          {"HTML", "<html><body>502 Bad Gateway</body></html>\n"},
          {"binary", std::string("\x30\x82\x01\x0a\xff\xfe", 6)}};
}

// chip's config, with comegato's key file (hosts[0]) replaced by text.
config::LoadResult chipWithComegatoKey(const std::optional<std::string>& text) {
  auto keys = meshbroker::testing::testKeys("chip");
  return config::parseConfig(exampleText("chip"), "/etc/meshbroker",
                             [&](const fs::path& path) -> std::optional<std::string> {
                               if (path.filename() == "comegato.pub") return text;
                               return keys(path);
                             });
}

TEST(TincTrust, BadPeerKeyFileIsAWarningThatDropsOnlyThatPeer) {
  for (const auto& [what, text] : badKeyFiles()) {
    SCOPED_TRACE(what);
    auto result = chipWithComegatoKey(text);
    ASSERT_TRUE(result.config) << describe(result.diagnostics);
    EXPECT_FALSE(result.diagnostics.hasErrors());
    // One warning, at the field, naming the file and the peer it drops.
    std::vector<Diagnostic> warnings;
    for (const auto& item : result.diagnostics.all()) {
      if (item.severity == Diagnostic::Severity::kWarning) warnings.push_back(item);
    }
    ASSERT_EQ(warnings.size(), 1u) << describe(result.diagnostics);
    EXPECT_EQ(warnings[0].path, "/hosts/0/public_key_file");
    EXPECT_NE(warnings[0].str().find("/etc/meshbroker/keys/comegato.pub"), std::string::npos);
    EXPECT_NE(warnings[0].message.find("holds a key that"), std::string::npos);
    EXPECT_NE(warnings[0].message.find("comegato is dropped"), std::string::npos);

    const auto& config = *result.config;
    EXPECT_FALSE(config.hosts[0].public_key);
    for (std::size_t i = 1; i < config.hosts.size(); ++i) EXPECT_TRUE(config.hosts[i].public_key);

    // Rendered: comegato's host file has no key (tincd refuses it) but keeps its Subnet, so no
    // one else can claim its MAC meanwhile; nothing of the bad file reaches any file.
    auto files = renderOf(result);
    const auto& comegato = fileNamed(files, "tinc/hosts/comegato").content;
    EXPECT_EQ(comegato.find("BEGIN"), std::string::npos) << comegato;
    EXPECT_NE(comegato.find("Subnet = 02:00:64:40:0c:0c\n"), std::string::npos) << comegato;
    EXPECT_NE(fileNamed(files, "tinc/hosts/cometa").content.find("BEGIN RSA PUBLIC KEY"),
              std::string::npos);
    for (const auto& file : files) {
      EXPECT_EQ(templates::checkRenderedFile(file), std::nullopt) << file.path;
      EXPECT_EQ(file.content.find("203.0.113.66"), std::string::npos) << file.path;
      if (file.path != "tinc/hosts/chip") {
        EXPECT_EQ(file.content.find("Subnet = 02:00:64:40:0c:0b"), std::string::npos) << file.path;
      }
    }
  }
}

TEST(TincTrust, MissingPeerKeyFileIsAWarningToo) {
  auto result = chipWithComegatoKey(std::nullopt);
  ASSERT_TRUE(result.config) << describe(result.diagnostics);
  EXPECT_NE(describe(result.diagnostics)
                .find("/hosts/0/public_key_file: warning: "
                      "\"/etc/meshbroker/keys/comegato.pub\" is missing"),
            std::string::npos)
      << describe(result.diagnostics);
}

TEST(TincTrust, BadInlinePeerKeyIsAWarning) {
  auto config = example("chip");
  config["hosts"][0].erase("public_key_file");
  config["hosts"][0]["public_key"] =
      "-----BEGIN RSA PUBLIC KEY-----\nnot base64!\n"
      "-----END RSA PUBLIC KEY-----\n";
  auto result = parseAs("chip", config.dump());
  ASSERT_TRUE(result.config) << describe(result.diagnostics);
  EXPECT_NE(describe(result.diagnostics).find("/hosts/0/public_key: "), std::string::npos);
  EXPECT_NE(describe(result.diagnostics).find("comegato is dropped"), std::string::npos);
  // The shape of the JSON stays an error: a key that is not a string at all.
  config["hosts"][0]["public_key"] = 42;
  meshbroker::testing::expectError("chip", config, "/hosts/0/public_key", "is not a PEM string");
}

TEST(TincTrust, OwnBadKeyStaysAnError) {
  auto keys = meshbroker::testing::testKeys("chip");
  auto result = config::parseConfig(exampleText("chip"), "/etc/meshbroker",
                                    [&](const fs::path& path) -> std::optional<std::string> {
                                      if (path.filename() == "rsa_key.pub") return "garbage\n";
                                      return keys(path);
                                    });
  EXPECT_FALSE(result.config);
  EXPECT_NE(describe(result.diagnostics).find("/tinc/public_key_file: "), std::string::npos)
      << describe(result.diagnostics);
}

// On real files, the way systemd runs it (ExecStartPre=meshbroker check): every peer key but
// one is fine, that one is garbage; check passes with a warning and render writes the rest.
TEST(TincTrust, CheckAndRenderPassWithOneCorruptPeerKeyFile) {
  fs::path dir = fs::temp_directory_path() / ("mb-trust-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "keys");
  for (const auto& node : kExampleNodes) {
    fs::copy_file(kSourceDir / "tests/data/keys" / (node + ".pub"), dir / "keys" / (node + ".pub"));
  }
  std::ofstream(dir / "keys" / "comegato.pub", std::ios::trunc) << "<html>oops</html>\n";
  // A gateway (cometa), so that the gateway-only build runs it too.
  auto config = example("cometa");
  config["paths"] = {{"state_dir", (dir / "state").string()},
                     {"runtime_dir", (dir / "run").string()}};
  fs::create_directories(dir / "state" / "tinc");
  fs::copy_file(kSourceDir / "tests/data/keys/cometa.pub", dir / "state" / "tinc" / "rsa_key.pub");
  std::ofstream(dir / "cometa.json") << config.dump(2);

  std::ostringstream out, err;
  EXPECT_EQ(cli::runCheck(dir / "cometa.json", out, err), cli::kExitOk) << err.str();
  EXPECT_NE(err.str().find("/hosts/1/public_key_file: warning: \"" +
                           (dir / "keys/comegato.pub").string() + "\" holds a key that"),
            std::string::npos)
      << err.str();
  EXPECT_NE(err.str().find("comegato is dropped"), std::string::npos) << err.str();
  EXPECT_EQ(cli::runRender(dir / "cometa.json", dir / "out", "/usr/bin/meshbroker", out, err),
            cli::kExitOk)
      << err.str();
  EXPECT_EQ(readText(dir / "out/tinc/hosts/comegato").find("BEGIN"), std::string::npos);
  EXPECT_NE(readText(dir / "out/tinc/hosts/chip").find("BEGIN RSA PUBLIC KEY"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace meshbroker
