// check, render, keygen and notify.
#include "cli/commands.hpp"

#include <cstdlib>

#include "backends/tinc_hook_message.hpp"
#include "backends/tinc_keys.hpp"
#include "cli/server_run.hpp"
#include "config/loader.hpp"
#include "io/file_writer.hpp"
#include "model/runtime_layout.hpp"
#include "templates/renderer.hpp"

namespace meshbroker::cli {
namespace fs = std::filesystem;

config::Diagnostics notForThisBuild(const config::NodeConfig& config) {
  config::Diagnostics diag;
  if (ServerRun::built()) return diag;
  static constexpr const char* kWhy =
      "this meshbroker is built for the gateway role only (MESHBROKER_GATEWAY_ONLY); a server "
      "needs the full build";
  if (config.role != config::Role::kGateway) {
    diag.error("/role", "\"" + std::string(config::toString(config.role)) + "\"", kWhy);
  }
  if (!config.openvpn.empty()) diag.error("/openvpn", "", kWhy);
  return diag;
}

std::optional<config::NodeConfig> loadConfig(const fs::path& file, std::ostream& err, Shown shown) {
  auto result = config::loadConfigFile(file);
  for (const auto& problem : result.diagnostics.all()) {
    if (shown == Shown::kAll || problem.severity == config::Diagnostic::Severity::kError) {
      err << file.string() << ": " << problem.str() << "\n";
    }
  }
  if (!result.config) return std::nullopt;
  auto refused = notForThisBuild(*result.config);
  for (const auto& problem : refused.all()) err << file.string() << ": " << problem.str() << "\n";
  if (refused.hasErrors()) return std::nullopt;
  return std::move(result.config);
}

int runCheck(const fs::path& config_file, std::ostream& out, std::ostream& err) {
  auto node = loadConfig(config_file, err);
  if (!node) return kExitInvalidConfig;
  out << config_file.string() << ": ok (node " << node->name.str() << ", "
      << config::toString(node->role) << ", " << node->hosts.size() << " hosts, "
      << node->openvpn.size() << " OpenVPN instances, " << node->routes.size() << " route sets)\n";
  return kExitOk;
}

int runRender(const fs::path& config_file, const fs::path& out_dir,
              const fs::path& meshbroker_binary, std::ostream& out, std::ostream& err) {
  auto node = loadConfig(config_file, err);
  if (!node) return kExitInvalidConfig;
  fs::path root = out_dir.empty() ? node->paths.render_dir : out_dir;
  try {
    auto files = templates::renderNode(*node, {meshbroker_binary});
    auto report = io::writeFiles(root, files);
    for (const auto& path : report.changed) out << "wrote     " << (root / path).string() << "\n";
    for (const auto& path : report.unchanged) out << "unchanged " << (root / path).string() << "\n";
  } catch (const templates::RenderError& e) {
    err << config_file.string() << ": cannot render: " << e.what() << "\n";
    return kExitInvalidConfig;
  } catch (const io::WriteError& e) {
    err << "render: " << e.what() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

int runKeygen(const fs::path& config_file, std::ostream& out, std::ostream& err) {
  auto node = loadConfig(config_file, err);
  if (!node) return kExitInvalidConfig;
  const auto& tinc = node->tinc;
  try {
    std::string public_pem;
    if (auto existing = config::readSmallFile(tinc.private_key_file)) {
      public_pem = backends::publicKeyOf(*existing);
      err << "keygen: keeping the existing private key " << tinc.private_key_file.string() << "\n";
    } else {
      std::error_code ec;
      if (fs::exists(tinc.private_key_file, ec)) {
        err << "keygen: " << tinc.private_key_file.string()
            << " exists but cannot be read; not replacing it\n";
        return kExitFailure;
      }
      err << "keygen: generating a " << tinc.key_size << "-bit RSA key for " << node->name.str()
          << "\n";
      // The key's folder is private too, when we are the ones making it.
      auto key_dir = tinc.private_key_file.parent_path();
      if (!fs::exists(key_dir, ec)) {
        fs::create_directories(key_dir, ec);
        fs::permissions(key_dir, fs::perms::owner_all, ec);
      }
      auto pair = backends::generateTincKeyPair(tinc.key_size, node->supervisor.tincd, key_dir);
      io::writeFileAtomically(tinc.private_key_file, pair.private_pem, 0600, /*exclusive=*/true);
      err << "keygen: wrote " << tinc.private_key_file.string() << " (0600)\n";
      public_pem = pair.public_pem;
    }
    auto existing_public = config::readSmallFile(tinc.public_key_file);
    if (!existing_public || *existing_public != public_pem) {
      io::writeFileAtomically(tinc.public_key_file, public_pem, 0644);
      err << "keygen: wrote " << tinc.public_key_file.string() << "\n";
    }
    // Render the node again, now with its key, and print its own host file for the peers.
    auto reloaded = config::loadConfigFile(config_file);
    if (!reloaded.config) return kExitInvalidConfig;
    auto files = templates::renderNode(*reloaded.config, {});
    for (const auto& file : files) {
      if (file.path == fs::path("tinc/hosts") / node->name.str()) out << file.content;
    }
    err << "keygen: hand the host file above to the peers as hosts/" << node->name.str()
        << " (or point their public_key_file at " << tinc.public_key_file.string() << ")\n";
  } catch (const std::exception& e) {
    err << "keygen: " << e.what() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

int runNotify(const std::string& event, const fs::path& runtime_dir, std::ostream& err) {
  const auto result = backends::notifyDaemon(event, runtime_dir);
  switch (result.outcome) {
    case backends::HookSend::kSent:
    case backends::HookSend::kNoDaemon:  // tincd by hand, a daemon restarting: stay quiet
      return kExitOk;
    case backends::HookSend::kPathTooLong:
      err << "notify: " << result.error << "\n";
      return kExitUsage;
    case backends::HookSend::kFailed:
      break;
  }
  err << "notify: " << result.error << "\n";
  return kExitFailure;
}

}  // namespace meshbroker::cli
