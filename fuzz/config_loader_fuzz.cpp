// libFuzzer target: arbitrary bytes through the config loader and, when they load, the renderer.
// Invariants: no crash, no sanitizer report; every config that loads renders (a RenderError
// means validation let through something the renderer refuses), and every rendered file and
// client profile passes checkRenderedFile/checkRenderedText: a path renderNode may make, only
// '\n' as a control character, and every line a comment or a known directive or command of
// that file's kind (so no value injected a directive).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "config/loader.hpp"
#include "templates/rendered_check.hpp"
#include "templates/renderer.hpp"

namespace {

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "config_loader_fuzz: %s\n", why.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace templates = meshbroker::templates;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto result = meshbroker::config::parseConfig(
      text, "/etc/meshbroker", [](const std::filesystem::path&) { return std::nullopt; });
  if (!result.config) return 0;
  const auto& node = *result.config;
  try {
    for (const auto& file : templates::renderNode(node, {})) {
      if (auto why = templates::checkRenderedFile(file)) fail(*why);
    }
    // Profiles list other servers' public addresses: every instance name a profile could be
    // made for (this node's and those its hosts offer).
    const templates::ProfileSecrets secrets{"-----BEGIN CERTIFICATE-----\nAA==\n", "c", "k", "t"};
    std::vector<meshbroker::config::NodeName> names;
    for (const auto& instance : node.openvpn) names.push_back(instance.name);
    for (const auto& host : node.hosts) {
      for (const auto& offer : host.openvpn) names.push_back(offer.name);
    }
    for (const auto& name : names) {
      if (templates::profileRemotes(node, name).empty()) continue;
      auto profile = templates::renderClientProfile(
          node, name, meshbroker::config::InstanceKind::kPrivate, "alice", secrets);
      if (auto why =
              templates::checkRenderedText(templates::RenderedKind::kOpenVpnClient, profile)) {
        fail("profile " + name.str() + ": " + *why);
      }
    }
  } catch (const templates::RenderError& e) {
    fail(std::string("validation let through something the renderer refuses: ") + e.what());
  }
  return 0;
}
