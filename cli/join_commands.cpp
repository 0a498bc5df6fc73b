#include "cli/join_commands.hpp"

#include <nlohmann/json.hpp>

#include "backends/tinc_keys.hpp"
#include "cli/commands.hpp"
#include "config/loader.hpp"
#include "io/file_writer.hpp"
#include "model/runtime_layout.hpp"
#include "network/envelope.hpp"
#include "network/invitation.hpp"
#include "supervisor/clock.hpp"
#include "supervisor/control_socket.hpp"
#include "web/client.hpp"
#include "web/network_handler.hpp"

namespace meshbroker::cli {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::optional<json> ask(const fs::path& config_file, const json& request, const char* verb,
                        std::ostream& err) {
  auto config = loadConfig(config_file, err, Shown::kErrors);
  if (!config) return std::nullopt;
  if (!config->network || !config->isRegistry()) {
    err << verb << ": run it on the network's registry"
        << (config->network ? " (" + config->network->registry.str() + ")" : std::string()) << "; "
        << config_file.string() << " is " << config->name.str() << "'s\n";
    return std::nullopt;
  }
  std::string why;
  auto reply = supervisor::controlRequest(
      model::RuntimeLayout{config->paths.runtime_dir}.controlSocket().string(), request,
      std::chrono::seconds(5), &why);
  if (!reply) {
    err << verb << ": meshbroker is not running: " << why << "\n";
    return std::nullopt;
  }
  if (!reply->value("ok", false)) {
    err << verb << ": " << reply->value("error", "failed") << "\n";
    return std::nullopt;
  }
  return reply;
}

// "24h", "30m", "7d", "90s", "3600" (seconds): seconds, or nullopt.
std::optional<std::int64_t> seconds(const std::string& text) {
  if (text.empty()) return std::nullopt;
  std::size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  const auto unit = text.substr(used);
  const std::int64_t scale = unit.empty() || unit == "s" ? 1
                             : unit == "m"               ? 60
                             : unit == "h"               ? 3600
                             : unit == "d"               ? 86400
                                                         : 0;
  if (scale == 0 || value <= 0) return std::nullopt;
  return value * scale;
}

std::string when(std::int64_t ms) { return supervisor::utcMinute(ms / 1000); }

}  // namespace

int runInvite(const fs::path& config_file, const InviteOptions& options, std::ostream& out,
              std::ostream& err) {
  auto ttl = seconds(options.ttl);
  if (!ttl) {
    err << "invite: --ttl " << options.ttl << " is not a duration (e.g. 24h, 30m, 7d)\n";
    return kExitUsage;
  }
  json request = {{"command", "invite"},
                  {"name", options.name},
                  {"role", options.role},
                  {"ttl_s", *ttl},
                  {"address", options.address}};
  if (options.mesh_address) request["mesh_address"] = *options.mesh_address;
  if (options.mesh_address6) request["mesh_address6"] = *options.mesh_address6;
  auto reply = ask(config_file, request, "invite", err);
  if (!reply) return kExitFailure;
  const auto& invitation = (*reply)["invitation"];
  err << "invite: " << options.name << " may join as a " << options.role << " at "
      << invitation.value("mesh_address", "")
      << (invitation.contains("mesh_address6") ? " and " + invitation.value("mesh_address6", "")
                                               : std::string())
      << " once, until " << when(invitation.value("expires_ms", std::int64_t{0})) << " (id "
      << invitation.value("id", "") << "). Hand this line to its operator, privately:\n";
  out << reply->value("line", "") << "\n";
  return kExitOk;
}

int runInviteList(const fs::path& config_file, std::ostream& out, std::ostream& err) {
  auto reply = ask(config_file, {{"command", "invite-list"}}, "invite --list", err);
  if (!reply) return kExitFailure;
  const auto now = static_cast<std::int64_t>(std::time(nullptr)) * 1000;
  out << "ID                                NAME             ROLE     ADDRESS          "
         "ADDRESS6                 STATE\n";
  for (const auto& i : (*reply)["invitations"]) {
    std::string state;
    if (i.value("revoked", false)) {
      state = "revoked";
    } else if (i.value("used_ms", std::int64_t{0}) != 0) {
      state =
          "used " + when(i.value("used_ms", std::int64_t{0})) + " from " + i.value("used_from", "");
    } else if (i.value("expires_ms", std::int64_t{0}) <= now) {
      state = "expired " + when(i.value("expires_ms", std::int64_t{0}));
    } else {
      state = "pending until " + when(i.value("expires_ms", std::int64_t{0}));
    }
    char line[256];
    std::snprintf(line, sizeof line, "%-33s %-16s %-8s %-16s %-24s ", i.value("id", "").c_str(),
                  i.value("name", "").c_str(), i.value("role", "").c_str(),
                  i.value("mesh_address", "").c_str(), i.value("mesh_address6", "-").c_str());
    out << line << state << "\n";
  }
  return kExitOk;
}

int runInviteRevoke(const fs::path& config_file, const std::string& id_or_token, std::ostream& out,
                    std::ostream& err) {
  auto reply = ask(config_file, {{"command", "invite-revoke"}, {"invitation", id_or_token}},
                   "invite --revoke", err);
  if (!reply) return kExitFailure;
  out << "invitation revoked: nobody can join with it\n";
  return kExitOk;
}

int runJoin(const JoinOptions& options, std::ostream& out, std::ostream& err) {
  std::string text = options.invitation;
  if (text.starts_with("meshbroker join ")) text = text.substr(16);
  std::string why;
  auto line = network::parseInvitation(text, why);
  if (!line) {
    err << "join: " << why << "\n";
    return kExitUsage;
  }
  std::error_code ec;
  if (fs::exists(options.config_file, ec)) {
    err << "join: " << options.config_file.string()
        << " exists: this node has a config already (a node joins once; move it away to join "
           "again)\n";
    return kExitFailure;
  }
  // The tinc key is made here and never leaves this node; kept if one exists (a retry).
  const auto private_key = options.state_dir / "tinc" / "rsa_key.priv";
  const auto public_key = options.state_dir / "tinc" / "rsa_key.pub";
  std::string public_pem;
  try {
    if (auto existing = config::readSmallFile(private_key)) {
      public_pem = backends::publicKeyOf(*existing);
      err << "join: using the existing tinc key " << private_key.string() << "\n";
    } else {
      err << "join: making this node's tinc key (3072-bit RSA)\n";
      if (!fs::exists(private_key.parent_path(), ec)) {
        fs::create_directories(private_key.parent_path(), ec);
        fs::permissions(private_key.parent_path(), fs::perms::owner_all, ec);
      }
      auto pair = backends::generateTincKeyPair(3072, config::SupervisorConfig{}.tincd,
                                                private_key.parent_path());
      io::writeFileAtomically(private_key, pair.private_pem, 0600, /*exclusive=*/true);
      public_pem = pair.public_pem;
    }
    io::writeFileAtomically(public_key, public_pem, 0644);
  } catch (const std::exception& e) {
    err << "join: cannot make the tinc key: " << e.what() << "\n";
    return kExitFailure;
  }

  network::JoinRequest request{
      network::inviteId(line->token), "",          public_pem, network::newNonce(),
      options.public_address,         std::nullopt};
  const auto body = network::sealJoinRequest(request, line->token);
  err << "join: asking the registry at " << line->host << ":" << line->port << "\n";
  auto answer = web::httpPost(line->host, line->port, web::kJoinPath, body,
                              std::chrono::seconds(options.timeout_s), 8 * 1024 * 1024);
  if (!answer.ok) {
    err << "join: cannot reach the registry at " << line->host << ":" << line->port << ": "
        << answer.error << " (is it running, and its join port open?); nothing changed\n";
    return kExitFailure;
  }
  if (answer.status != 200) {
    auto reason = json::parse(answer.body, nullptr, false);
    err << "join: the registry refused: "
        << (reason.is_object() && reason.contains("error") && reason["error"].is_string()
                ? reason["error"].get<std::string>()
                : "HTTP " + std::to_string(answer.status))
        << "; nothing changed\n";
    return kExitFailure;
  }
  auto opened = network::openJoinReply(answer.body, request.nonce, line->fingerprint);
  if (!opened.reply) {
    err << "join: " << opened.error << "; nothing changed\n";
    return kExitFailure;
  }
  const auto envelope = (*opened.reply)["envelope"].get<std::string>();
  auto document = network::openEnvelope(envelope, opened.key);
  auto config = (*opened.reply)["config"];
  const auto name = config.value("name", "");
  const auto* self = document.document ? document.document->node(name) : nullptr;
  if (!self || self->tinc_public_key != public_pem) {
    err << "join: the registry's document does not list this node with its key ("
        << (document.document ? "not in it" : document.error) << "); nothing changed\n";
    return kExitFailure;
  }
  config["paths"] = {{"state_dir", options.state_dir.string()},
                     {"runtime_dir", options.runtime_dir.string()}};
  if (options.public_address) config["tinc"]["public_address"] = *options.public_address;
  // Checked like any config before it is the node's: written aside, loaded, then renamed.
  const auto staged = options.config_file.string() + ".joining";
  try {
    fs::create_directories(options.config_file.parent_path(), ec);
    io::writeFileAtomically(staged, config.dump(2) + "\n", 0644);
    auto loaded = config::loadConfigFile(staged);
    if (!loaded.config) {
      err << "join: the config the registry sent does not load here:\n";
      for (const auto& problem : loaded.diagnostics.all()) err << "  " << problem.str() << "\n";
      fs::remove(staged, ec);
      return kExitFailure;
    }
    const model::StateLayout layout{options.state_dir};
    fs::create_directories(layout.networkDir(), ec);
    io::writeFileAtomically(layout.networkDocument(), envelope, 0644);
    fs::rename(staged, options.config_file);
  } catch (const std::exception& e) {
    err << "join: cannot write the config: " << e.what() << "\n";
    fs::remove(staged, ec);
    return kExitFailure;
  }
  out << "joined " << document.document->network << " as " << name << " (" << self->role
      << ", mesh address " << self->mesh_address
      << (self->mesh_address6 ? " and " + *self->mesh_address6 : std::string()) << "); config in "
      << options.config_file.string() << "\nstart it: systemctl enable --now meshbroker (or: "
      << "meshbroker run -c " << options.config_file.string() << ")\n";
  return kExitOk;
}

}  // namespace meshbroker::cli
