// client init/add/shared/revoke/list/rate-limit: the PKI, the renderer and the management socket.
#include "cli/client_commands.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <iomanip>
#include <nlohmann/json.hpp>

#include "backends/openvpn_status.hpp"
#include "backends/pki.hpp"
#include "backends/rate_limit.hpp"
#include "cli/commands.hpp"
#include "config/loader.hpp"
#include "io/file_writer.hpp"
#include "io/unique_fd.hpp"
#include "model/runtime_layout.hpp"
#include "model/snapshot.hpp"
#include "supervisor/control_socket.hpp"
#include "supervisor/usage_keeper.hpp"
#include "templates/renderer.hpp"

namespace meshbroker::cli {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr milliseconds kManagementTimeout{3000};

// Warnings about tinc keys are noise here; errors still stop us.
std::optional<config::NodeConfig> load(const fs::path& file, std::ostream& err) {
  return loadConfig(file, err, Shown::kErrors);
}

std::string caName(const config::NodeConfig& node) {
  return "meshbroker " + node.tinc.netname.str() + " CA";
}

const config::OpenVpnInstance* localInstance(const config::NodeConfig& node,
                                             const std::string& name) {
  for (const auto& instance : node.openvpn) {
    if (instance.name.str() == name) return &instance;
  }
  return nullptr;
}

bool offeredByHost(const config::NodeConfig& node, const std::string& name) {
  for (const auto& host : node.hosts) {
    for (const auto& offer : host.openvpn) {
      if (offer.name.str() == name) return true;
    }
  }
  return false;
}

// The instance a client verb is about, with its kind. Prints why not and returns nullopt.
struct ChosenInstance {
  config::NodeName name;
  config::InstanceKind kind;
};

std::optional<ChosenInstance> chooseInstance(const config::NodeConfig& node,
                                             const std::string& requested,
                                             config::InstanceKind default_kind, std::ostream& err) {
  if (requested.empty()) {
    for (const auto& instance : node.openvpn) {
      if (instance.kind == default_kind) return ChosenInstance{instance.name, instance.kind};
    }
    err << "client: this node has no " << config::toString(default_kind)
        << " OpenVPN instance; name one with --instance\n";
    return std::nullopt;
  }
  std::string why;
  auto name = config::NodeName::parse(requested, &why);
  if (!name) {
    err << "client: --instance \"" << backends::escapeForMessage(requested) << "\" " << why << "\n";
    return std::nullopt;
  }
  if (const auto* instance = localInstance(node, requested)) {
    return ChosenInstance{instance->name, instance->kind};
  }
  if (offeredByHost(node, requested)) return ChosenInstance{*name, default_kind};
  err << "client: no OpenVPN instance \"" << requested
      << "\" on this node or offered by a host in /hosts\n";
  return std::nullopt;
}

int writeProfile(const std::string& profile, const fs::path& output, std::ostream& out,
                 std::ostream& err) {
  if (output.empty()) {
    out << profile;
    return kExitOk;
  }
  try {
    io::writeFileAtomically(output, profile, 0600);
  } catch (const io::WriteError& e) {
    err << "client: " << e.what() << "\n";
    return kExitFailure;
  }
  err << "client: wrote " << output.string() << " (0600)\n";
  return kExitOk;
}

std::string when(std::int64_t t) {
  std::time_t time = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&time, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M", &tm);
  return buffer;
}

// The reply to one management command for a local instance, and where it came from.
struct InstanceReply {
  std::optional<std::string> text;  // the reply lines, '\n'-separated
  std::string via;                  // the socket that answered
  std::string error;
};

// OpenVPN serves one management client at a time and a running daemon is that client: go
// through the daemon's control socket when it answers, else straight to the instance's
// management socket.
InstanceReply instanceCommand(const config::NodeConfig& node,
                              const config::OpenVpnInstance& instance, const std::string& line,
                              bool multi_line) {
  InstanceReply result;
  std::error_code ec;
  auto control = model::RuntimeLayout{node.paths.runtime_dir}.controlSocket();
  if (fs::exists(control, ec)) {
    nlohmann::json request = {
        {"command", "openvpn"}, {"instance", instance.name.str()}, {"line", line}};
    std::string why;
    if (auto reply =
            supervisor::controlRequest(control.string(), request, kManagementTimeout, &why)) {
      result.via = control.string();
      auto lines = reply->find("lines");
      if (lines != reply->end() && lines->is_array()) {
        std::string text;
        for (const auto& item : *lines) {
          if (item.is_string()) text += item.get<std::string>() + "\n";
        }
        result.text = text;
      } else {
        auto error = reply->find("error");
        result.error = control.string() + ": " +
                       (error != reply->end() && error->is_string() ? error->get<std::string>()
                                                                    : std::string("no reply"));
      }
      return result;
    }
  }
  auto socket = templates::managementSocket(node, instance);
  if (!fs::exists(socket, ec)) {
    result.error = "not running (no management socket)";
    return result;
  }
  std::string why;
  result.text = managementCommand(socket, line, multi_line, kManagementTimeout, &why);
  result.via = socket.string();
  if (!result.text) result.error = why;
  return result;
}

// Connected clients of one instance: the management interface when it answers, else the
// status file OpenVPN rewrites every few seconds.
struct Connected {
  std::string source;
  backends::StatusReport report;
  std::string error;
};

Connected connectedClients(const config::NodeConfig& node,
                           const config::OpenVpnInstance& instance) {
  Connected result;
  auto reply = instanceCommand(node, instance, "status 3", true);
  if (reply.text) {
    result.source = reply.via;
    result.report = backends::parseStatus(*reply.text);
    return result;
  }
  std::string why = reply.error;
  auto file = templates::statusFile(node, instance);
  if (auto text = config::readSmallFile(file, 16 << 20)) {
    result.source = file.string();
    result.report = backends::parseStatus(*text);
    return result;
  }
  result.error = why == "not running (no management socket)"
                     ? "not running (no management socket or status file)"
                     : why;
  return result;
}

}  // namespace

std::optional<std::string> managementCommand(const fs::path& socket_path,
                                             const std::string& command, bool multi_line,
                                             milliseconds timeout, std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<std::string> {
    if (error) *error = socket_path.string() + ": " + why;
    return std::nullopt;
  };
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.string().size() >= sizeof address.sun_path) return fail("path too long");
  std::strncpy(address.sun_path, socket_path.c_str(), sizeof address.sun_path - 1);
  io::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fail(std::strerror(errno));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    return fail(std::strerror(errno));
  }
  std::string line = command + "\n";
  if (::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(line.size())) {
    return fail(std::string("cannot send: ") + std::strerror(errno));
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string reply;
  std::size_t scanned = 0;
  while (true) {
    // Look at each complete line received so far.
    std::size_t end;
    while ((end = reply.find('\n', scanned)) != std::string::npos) {
      std::string_view current(reply.data() + scanned, end - scanned);
      if (current.ends_with('\r')) current.remove_suffix(1);
      scanned = end + 1;
      if (multi_line && current == "END") return reply.substr(0, scanned);
      if (multi_line && current.starts_with("ERROR:")) return reply.substr(0, scanned);
      if (!multi_line && backends::parseCommandReply(current, nullptr)) {
        return std::string(current);
      }
    }
    if (reply.size() > (16u << 20)) return fail("reply larger than 16 MiB");
    auto left =
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return fail("no complete reply within " + std::to_string(timeout.count()) +
                  " ms (is another management client, e.g. the daemon, connected?)");
    }
    pollfd p{fd.get(), POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) continue;
    char buffer[8192];
    ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("closed the connection before the reply was complete");
    reply.append(buffer, static_cast<std::size_t>(n));
  }
}

int runClientInit(const fs::path& config_file, std::ostream& out, std::ostream& err) {
  auto node = load(config_file, err);
  if (!node) return kExitInvalidConfig;
  try {
    backends::Pki pki(node->paths.pki_dir);
    pki.ensureCa(caName(*node));
    for (const auto& instance : node->openvpn) {
      pki.ensureServer(model::serverCertName(node->name.str(), instance.name.str()));
      pki.ensureTlsCrypt(instance.name.str());
      pki.ensureInstance(instance.name.str());
    }
    pki.writeCrl();
    out << "PKI ready in " << node->paths.pki_dir.string() << " (CA, CRLs, " << node->openvpn.size()
        << " server certificates, client CAs, trust files and tls-crypt keys)\n";
  } catch (const backends::PkiError& e) {
    err << "client init: " << e.what() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

int runClientAdd(const fs::path& config_file, const std::string& name,
                 const std::string& instance_name, const fs::path& output, std::ostream& out,
                 std::ostream& err) {
  auto node = load(config_file, err);
  if (!node) return kExitInvalidConfig;
  auto instance = chooseInstance(*node, instance_name, config::InstanceKind::kPrivate, err);
  if (!instance) return kExitUsage;
  if (instance->kind == config::InstanceKind::kPublic) {
    err << "client add: instance \"" << instance->name.str()
        << "\" is public: its users share one certificate (meshbroker client shared --instance "
        << instance->name.str() << ")\n";
    return kExitUsage;
  }
  try {
    if (templates::profileRemotes(*node, instance->name).empty()) {
      throw templates::RenderError("no server with a public address offers instance \"" +
                                   instance->name.str() + "\"");
    }
    backends::Pki pki(node->paths.pki_dir);
    pki.ensureCa(caName(*node));
    pki.ensureTlsCrypt(instance->name.str());
    auto creds = pki.issueClient(name, instance->name.str());
    auto profile = templates::renderClientProfile(
        *node, instance->name, instance->kind, name,
        {creds.ca_pem, creds.cert_pem, creds.key_pem, creds.tls_crypt_key});
    return writeProfile(profile, output, out, err);
  } catch (const backends::PkiError& e) {
    err << "client add: " << e.what() << "\n";
  } catch (const templates::RenderError& e) {
    err << "client add: " << e.what() << "\n";
  }
  return kExitFailure;
}

int runClientShared(const fs::path& config_file, const std::string& instance_name,
                    const fs::path& output, std::ostream& out, std::ostream& err) {
  auto node = load(config_file, err);
  if (!node) return kExitInvalidConfig;
  auto instance = chooseInstance(*node, instance_name, config::InstanceKind::kPublic, err);
  if (!instance) return kExitUsage;
  if (instance->kind != config::InstanceKind::kPublic) {
    err << "client shared: instance \"" << instance->name.str()
        << "\" is private: issue a profile per person (meshbroker client add NAME)\n";
    return kExitUsage;
  }
  try {
    backends::Pki pki(node->paths.pki_dir);
    pki.ensureCa(caName(*node));
    pki.ensureTlsCrypt(instance->name.str());
    auto creds = pki.sharedClient(instance->name.str());
    auto profile = templates::renderClientProfile(
        *node, instance->name, instance->kind, model::sharedClientName(instance->name.str()),
        {creds.ca_pem, creds.cert_pem, creds.key_pem, creds.tls_crypt_key});
    return writeProfile(profile, output, out, err);
  } catch (const backends::PkiError& e) {
    err << "client shared: " << e.what() << "\n";
  } catch (const templates::RenderError& e) {
    err << "client shared: " << e.what() << "\n";
  }
  return kExitFailure;
}

int runClientRevoke(const fs::path& config_file, const std::string& name, std::ostream& out,
                    std::ostream& err) {
  auto node = load(config_file, err);
  if (!node) return kExitInvalidConfig;
  std::string why;
  if (!config::NodeName::parse(name, &why)) {
    err << "client revoke: \"" << backends::escapeForMessage(name) << "\" " << why << "\n";
    return kExitUsage;
  }
  try {
    backends::Pki pki(node->paths.pki_dir);
    auto result = pki.revoke(name);
    if (result.revoked + result.already_revoked == 0) {
      err << "client revoke: no certificate named \"" << name << "\"\n";
      return kExitFailure;
    }
    auto crls = (pki.layout().dir / "crl").string() + "/*.pem";
    if (result.revoked > 0) {
      out << "revoked " << result.revoked << " certificate(s) of " << name << "; CRL files " << crls
          << " rewritten (copy them to every server)\n";
    } else {
      out << name << " has no valid certificate (" << result.already_revoked
          << " revoked before); CRL files " << crls << " rewritten to hold them\n";
    }
  } catch (const backends::PkiError& e) {
    err << "client revoke: " << e.what() << "\n";
    return kExitFailure;
  }
  // OpenVPN checks the CRL only at a handshake: drop the running session too.
  for (const auto& instance : node->openvpn) {
    auto reply = instanceCommand(*node, instance, "kill " + name, false);
    if (!reply.text) {
      if (reply.error == "not running (no management socket)") continue;
      err << "client revoke: cannot reach instance " << instance.name.str() << ": " << reply.error
          << " (the client stays connected until its next renegotiation)\n";
      continue;
    }
    std::optional<bool> killed;
    std::string message = "no reply";
    std::size_t start = 0;
    while (!killed && start < reply.text->size()) {
      auto end = reply.text->find('\n', start);
      if (end == std::string::npos) end = reply.text->size();
      killed = backends::parseCommandReply(std::string_view(*reply.text).substr(start, end - start),
                                           &message);
      start = end + 1;
    }
    if (killed.value_or(false)) {
      out << instance.name.str() << ": " << message << "\n";
    } else {
      out << instance.name.str() << ": not connected (" << message << ")\n";
    }
  }
  return kExitOk;
}

int runClientList(const fs::path& config_file, bool json, std::ostream& out, std::ostream& err) {
  auto node = load(config_file, err);
  if (!node) return kExitInvalidConfig;
  std::vector<backends::IssuedClient> issued;
  try {
    backends::Pki pki(node->paths.pki_dir);
    issued = pki.list();
  } catch (const backends::PkiError& e) {
    err << "client list: " << e.what() << "\n";
    return kExitFailure;
  }
  nlohmann::json doc = {{"issued", nlohmann::json::array()},
                        {"instances", nlohmann::json::array()}};
  if (!json) {
    out << std::left << std::setw(24) << "NAME" << std::setw(12) << "INSTANCE" << std::setw(9)
        << "STATE" << std::setw(18) << "ISSUED" << std::setw(18) << "EXPIRES"
        << "\n";
  }
  for (const auto& client : issued) {
    std::string state = client.revoked_at ? "revoked" : "valid";
    if (json) {
      nlohmann::json item = {{"name", client.name},
                             {"instance", client.instance},
                             {"state", state},
                             {"serial", client.serial},
                             {"issued_at", client.issued_at},
                             {"not_after", client.not_after},
                             {"shared", client.shared}};
      if (client.revoked_at) item["revoked_at"] = *client.revoked_at;
      doc["issued"].push_back(item);
    } else {
      out << std::setw(24) << client.name << std::setw(12) << client.instance << std::setw(9)
          << state << std::setw(18) << when(client.issued_at) << std::setw(18)
          << when(client.not_after) << "\n";
    }
  }
  for (const auto& instance : node->openvpn) {
    auto connected = connectedClients(*node, instance);
    nlohmann::json entry = {{"instance", instance.name.str()},
                            {"source", connected.source},
                            {"clients", nlohmann::json::array()}};
    if (!json) {
      out << "\ninstance " << instance.name.str() << " (" << config::toString(instance.kind)
          << "): ";
      if (!connected.error.empty()) {
        out << connected.error << "\n";
      } else {
        out << connected.report.clients.size() << " connected (from " << connected.source << ")\n";
        if (!connected.report.clients.empty()) {
          out << "  " << std::setw(24) << "NAME" << std::setw(24) << "REAL ADDRESS" << std::setw(16)
              << "VIRTUAL" << std::setw(14) << "RECEIVED" << std::setw(14) << "SENT"
              << "SINCE\n";
        }
      }
    }
    if (!connected.error.empty()) entry["error"] = connected.error;
    for (const auto& client : connected.report.clients) {
      if (json) {
        entry["clients"].push_back({{"name", client.common_name},
                                    {"real_address", client.real_address},
                                    {"virtual_address", client.virtual_address},
                                    {"bytes_received", client.bytes_received},
                                    {"bytes_sent", client.bytes_sent},
                                    {"connected_since", client.connected_since}});
      } else {
        out << "  " << std::setw(24) << client.common_name << std::setw(24) << client.real_address
            << std::setw(16) << client.virtual_address << std::setw(14) << client.bytes_received
            << std::setw(14) << client.bytes_sent << when(client.connected_since) << "\n";
      }
    }
    for (const auto& problem : connected.report.problems) {
      err << "client list: " << instance.name.str() << ": " << connected.source << ": "
          << problem.str() << "\n";
    }
    doc["instances"].push_back(entry);
  }
  // What each user used: the running daemon's ledger as it last saved it (every 5 s).
  const auto usage_file = model::StateLayout{node->paths.state_dir}.openvpnUsage();
  doc["usage"] = nlohmann::json::array();
  std::error_code exists_error;
  if (fs::exists(usage_file, exists_error)) {
    std::string why;
    auto ledger = supervisor::UsageKeeper::read(usage_file, &why);
    if (!ledger) {
      err << "client list: " << usage_file.string() << ": " << why << "\n";
    } else if (json) {
      for (const auto& u : ledger->users()) doc["usage"].push_back(model::toJson(u));
    } else if (!ledger->users().empty()) {
      out << "\nusage (" << usage_file.string() << ", saved every 5 s)\n  " << std::setw(12)
          << "INSTANCE" << std::setw(24) << "USER" << std::setw(16) << "RECEIVED" << std::setw(16)
          << "SENT" << std::setw(12) << "CONNECTED" << std::setw(10) << "SESSIONS"
          << "THIS MONTH (received/sent)\n";
      for (const auto& u : ledger->users()) {
        out << "  " << std::setw(12) << u.instance << std::setw(24) << u.user << std::setw(16)
            << u.total.bytes_received << std::setw(16) << u.total.bytes_sent << std::setw(12)
            << (std::to_string(u.total.connected_s) + " s") << std::setw(10) << u.total.sessions
            << u.month << ": " << u.this_month.bytes_received << "/" << u.this_month.bytes_sent
            << "\n";
      }
    }
  }
  if (json) out << doc.dump(2, ' ', true, nlohmann::json::error_handler_t::replace) << "\n";
  return kExitOk;
}

int runClientRateLimit(const fs::path& config_file, const std::string& instance_name, bool clear,
                       std::ostream& out, std::ostream& err) {
  auto node = load(config_file, err);
  if (!node) return kExitInvalidConfig;
  const auto* instance = localInstance(*node, instance_name);
  if (!instance) {
    err << "client rate-limit: no OpenVPN instance \"" << backends::escapeForMessage(instance_name)
        << "\" on this node\n";
    return kExitUsage;
  }
  if (!instance->rate_limit) {
    err << "client rate-limit: instance \"" << instance_name << "\" has no rate_limit\n";
    return kExitUsage;
  }
  try {
    auto plan = backends::planRateLimit(*instance);
    backends::NetlinkRateLimiter limiter;
    if (clear) {
      limiter.clear(plan);
      out << "removed the limits of " << instance_name << " from " << plan.device << " and "
          << plan.ifb_device << "\n";
    } else {
      limiter.apply(plan);
      out << "limited each of " << plan.classes.size() << " client addresses of "
          << plan.subnet.str() << " to " << plan.bits_per_second << " bit/s both ways ("
          << plan.device << " egress, " << plan.ifb_device << " for upload)\n";
    }
  } catch (const backends::RateLimitError& e) {
    err << "client rate-limit: " << e.what() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace meshbroker::cli
