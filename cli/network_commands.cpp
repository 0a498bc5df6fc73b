#include "cli/network_commands.hpp"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "config/loader.hpp"
#include "io/file_writer.hpp"
#include "model/runtime_layout.hpp"
#include "network/envelope.hpp"
#include "network/signing.hpp"
#include "supervisor/control_socket.hpp"

namespace meshbroker::cli {

namespace fs = std::filesystem;

int runNetworkInit(const fs::path& key_file, std::ostream& out, std::ostream& err) {
  std::error_code ec;
  if (fs::exists(key_file, ec)) {
    err << "network init: " << key_file.string()
        << " exists: this network has its signing key already (a second one would split "
           "it); nothing changed\n";
    if (auto pem = config::readSmallFile(key_file, 64 * 1024)) {
      try {
        const auto pub = network::publicKeyOf(*pem);
        err << "  its public key: " << pub << "\n  fingerprint:    " << network::fingerprintOf(pub)
            << "\n";
      } catch (const network::CryptoError& e) {
        err << "  and it is not a usable key: " << e.what() << "\n";
      }
    }
    return kExitFailure;
  }
  try {
    // A folder it makes is 0700; one that exists is left as it is (it may be /tmp).
    const auto folder = key_file.parent_path();
    if (!folder.empty() && !fs::exists(folder)) {
      fs::create_directories(folder);
      ::chmod(folder.c_str(), 0700);
    }
    const auto pem = network::generateSigningKey();
    io::writeFileAtomically(key_file, pem, 0600, /*exclusive=*/true);
    const auto pub = network::publicKeyOf(pem);
    out << "signing key written to " << key_file.string() << " (0600; keep it only here)\n"
        << "public key:  " << pub << "\n"
        << "fingerprint: " << network::fingerprintOf(pub) << "\n"
        << "every node's config: \"network\": {\"name\": \"...\", \"registry\": \"THIS NODE\", "
           "\"key\": \""
        << pub << "\"}\n";
    return kExitOk;
  } catch (const std::exception& e) {
    err << "network init: " << e.what() << "\n";
    return kExitFailure;
  }
}

int runNetworkKey(const fs::path& key_file, std::ostream& out, std::ostream& err) {
  auto pem = config::readSmallFile(key_file, 64 * 1024);
  if (!pem) {
    err << "network key: cannot read " << key_file.string()
        << " (no signing key here; `meshbroker network init` makes it, on the registry only)\n";
    return kExitFailure;
  }
  try {
    const auto pub = network::publicKeyOf(*pem);
    out << "public key:  " << pub << "\nfingerprint: " << network::fingerprintOf(pub) << "\n";
    return kExitOk;
  } catch (const network::CryptoError& e) {
    err << "network key: " << key_file.string() << " is not a usable signing key: " << e.what()
        << "\n";
    return kExitFailure;
  }
}

int runNetworkShow(const fs::path& config_file, std::ostream& out, std::ostream& err) {
  auto config = loadConfig(config_file, err, Shown::kErrors);
  if (!config) return kExitInvalidConfig;
  if (!config->network) {
    err << "network show: " << config_file.string() << " has no \"network\" section\n";
    return kExitFailure;
  }
  const auto path = model::StateLayout{config->paths.state_dir}.networkDocument();
  auto text = config::readSmallFile(path, network::kMaxEnvelopeBytes);
  if (!text) {
    err << "network show: no network document at " << path.string() << " yet\n";
    return kExitFailure;
  }
  auto opened = network::openEnvelope(*text, config->network->key);
  if (!opened.document) {
    err << "network show: " << path.string() << ": " << opened.error << "\n";
    return kExitFailure;
  }
  out << model::toJson(*opened.document).dump(2) << "\n";
  return kExitOk;
}

int runNodeRemove(const fs::path& config_file, const std::string& name, std::ostream& out,
                  std::ostream& err) {
  auto config = loadConfig(config_file, err, Shown::kErrors);
  if (!config) return kExitInvalidConfig;
  if (!config->network || !config->isRegistry()) {
    err << "node remove: run it on the network's registry"
        << (config->network ? " (" + config->network->registry.str() + ")" : std::string()) << "; "
        << config_file.string() << " is " << config->name.str() << "'s\n";
    return kExitFailure;
  }
  std::string why;
  auto reply = supervisor::controlRequest(
      model::RuntimeLayout{config->paths.runtime_dir}.controlSocket().string(),
      {{"command", "node-remove"}, {"name", name}}, std::chrono::seconds(3), &why);
  if (!reply) {
    err << "node remove: meshbroker is not running: " << why << "\n";
    return kExitFailure;
  }
  if (!reply->value("ok", false)) {
    err << "node remove: " << reply->value("error", "failed") << "\n";
    return kExitFailure;
  }
  out << name << " removed from " << config->network->name.str()
      << ": the next network document (signed now) takes it out everywhere\n";
  return kExitOk;
}

}  // namespace meshbroker::cli
