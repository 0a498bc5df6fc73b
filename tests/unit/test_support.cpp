// Hermetic loading of the examples for unit tests.
#include "unit/test_support.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace meshbroker::testing {

std::filesystem::path freshTestDir(const std::string& prefix) {
  auto dir = std::filesystem::temp_directory_path() /
             (prefix + "-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void copyExampleKeys(const std::filesystem::path& folder) {
  std::filesystem::create_directories(folder);
  for (const auto& node : kExampleNodes) {
    std::filesystem::copy_file(kSourceDir / "tests/data/keys" / (node + ".pub"),
                               folder / (node + ".pub"));
  }
}

std::string readText(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + file.string());
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string exampleText(const std::string& node) {
  return readText(kSourceDir / "examples" / "seed" / (node + ".json"));
}

config::FileReader testKeys(const std::string& node) {
  return [node](const std::filesystem::path& path) -> std::optional<std::string> {
    auto keys = kSourceDir / "tests" / "data" / "keys";
    if (path.filename() == "rsa_key.pub") return readText(keys / (node + ".pub"));
    if (path.parent_path().filename() == "keys" && path.extension() == ".pub" &&
        std::filesystem::exists(keys / path.filename())) {
      return readText(keys / path.filename());
    }
    return std::nullopt;
  };
}

config::LoadResult parseAs(const std::string& node, const std::string& text) {
  return config::parseConfig(text, "/etc/meshbroker", testKeys(node));
}

std::string describe(const config::Diagnostics& diagnostics) {
  std::string out;
  for (const auto& item : diagnostics.all()) out += item.str() + "\n";
  return out;
}

nlohmann::json example(const std::string& node) { return nlohmann::json::parse(exampleText(node)); }

nlohmann::json exampleIpv4Only(const std::string& node) {
  auto config = example(node);
  config["tinc"].erase("prefix6");
  config["tinc"].erase("address6");
  for (auto& host : config["hosts"]) {
    host.erase("mesh_address6");
    host.erase("client_subnets6");
  }
  if (config.contains("openvpn")) {
    for (auto& instance : config["openvpn"]) instance.erase("subnet6");
  }
  if (config.contains("health")) config["health"].erase("through_target6");
  if (config.contains("routes")) {
    for (auto& set : config["routes"]) {
      auto to = nlohmann::json::array();
      for (const auto& prefix : set["to"]) {
        if (prefix.get<std::string>().find(':') == std::string::npos) to.push_back(prefix);
      }
      set["to"] = to;
    }
  }
  return config;
}

std::string exampleIpv4OnlyText(const std::string& node) { return exampleIpv4Only(node).dump(2); }

void expectError(const std::string& node, const nlohmann::json& config, const std::string& path,
                 const std::string& fragment) {
  auto result = parseAs(node, config.dump());
  EXPECT_FALSE(result.config) << "accepted a bad config";
  for (const auto& item : result.diagnostics.all()) {
    if (item.severity == config::Diagnostic::Severity::kError && item.path == path &&
        item.str().find(fragment) != std::string::npos) {
      return;
    }
  }
  ADD_FAILURE() << "no error at " << path << " containing '" << fragment << "'; got:\n"
                << describe(result.diagnostics);
}

SilentPort::SilentPort() {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      ::listen(listener_, 0) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    throw std::runtime_error("SilentPort: cannot listen on 127.0.0.1");
  }
  port_ = ntohs(address.sin_port);
  filler_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (filler_ < 0 || ::connect(filler_, reinterpret_cast<sockaddr*>(&address), length) != 0)
    throw std::runtime_error("SilentPort: cannot fill the accept queue");
}

SilentPort::~SilentPort() {
  if (filler_ >= 0) ::close(filler_);
  refuse();
}

void SilentPort::refuse() {
  if (listener_ >= 0) ::close(listener_);
  listener_ = -1;
}

}  // namespace meshbroker::testing
