// libFuzzer target: arbitrary bytes through the config loader and, when they load, the renderer.
// Invariants: no crash, no sanitizer report, and a config that loads renders without a control
// character in any value (the renderer would throw RenderError, which we treat as a bug here).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/loader.hpp"
#include "templates/renderer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto result = meshbroker::config::parseConfig(
      text, "/etc/meshbroker", [](const std::filesystem::path&) { return std::nullopt; });
  if (result.config) {
    try {
      meshbroker::templates::renderNode(*result.config, {});
    } catch (const meshbroker::templates::RenderError&) {
      std::abort();  // validation let through something the renderer refuses
    }
  }
  return 0;
}
