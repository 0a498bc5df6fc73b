// `meshbroker status`: fetches /api/v1/status from the running daemon and formats it.
#include "cli/status_command.hpp"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "cli/commands.hpp"
#include "config/loader.hpp"
#include "model/runtime_layout.hpp"
#include "supervisor/control_socket.hpp"
#include "web/auth.hpp"
#include "web/client.hpp"
#include "web/json_fields.hpp"

namespace meshbroker::cli {
namespace {

std::string ago(std::int64_t since_ms, std::int64_t now_ms) {
  if (since_ms <= 0) return "-";
  auto seconds = (now_ms - since_ms) / 1000;
  if (seconds < 0) seconds = 0;
  if (seconds < 120) return std::to_string(seconds) + "s";
  if (seconds < 7200) return std::to_string(seconds / 60) + "m";
  return std::to_string(seconds / 3600) + "h";
}

std::string padded(const std::string& text, std::size_t width) {
  return text.size() >= width ? text + " " : text + std::string(width - text.size(), ' ');
}

std::string hostForUrl(const std::string& listen) {
  if (listen == "0.0.0.0") return "127.0.0.1";
  if (listen == "::") return "::1";
  return listen;
}

}  // namespace

int runStatus(const std::filesystem::path& config_file, bool as_json, std::ostream& out,
              std::ostream& err) {
  auto config = loadConfig(config_file, err, Shown::kErrors);
  if (!config) return kExitInvalidConfig;
  const auto& status_config = config->status;
  const auto absolute = std::filesystem::absolute(config_file).lexically_normal();
  // The HTTP API first; then the same document over the control socket, which also works
  // from another network namespace or with the HTTP listener off.
  nlohmann::json status;
  std::string http_problem;
  const std::string host = hostForUrl(status_config.listen);
  const int port = status_config.port.value();
  const std::string url = "http://" +
                          (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                          std::to_string(port) + "/api/v1/status";
  if (status_config.enabled) {
    // The token, when this user can read its file, gets the full view (users, addresses).
    std::string authorization;
    if (status_config.token_file) {
      try {
        authorization = "Bearer " + web::loadToken(*status_config.token_file);
      } catch (const std::exception&) {
        // Not readable by this user, or unsafe: the public view.
      }
    }
    constexpr std::size_t kMaxBody = 16 * 1024 * 1024;
    auto result = web::httpGet(host, port, "/api/v1/status", std::chrono::seconds(5), kMaxBody,
                               authorization);
    if (result.ok && (result.status == 401 || result.status == 403) && !authorization.empty()) {
      // The daemon does not take this token (it runs with another one): the public view.
      result = web::httpGet(host, port, "/api/v1/status", std::chrono::seconds(5));
    }
    if (!result.ok) {
      http_problem = "nothing answers at " + url + " (" + result.error + ")";
    } else {
      status = nlohmann::json::parse(result.body, nullptr, false);
      if (result.status != 200 || status.is_discarded() || !status.is_object()) {
        http_problem = url + " answered HTTP " + std::to_string(result.status);
        status = nullptr;
      }
    }
  } else {
    http_problem = "the HTTP status API is off (status.enabled = false)";
  }
  const auto daemon_of = [](const nlohmann::json& document) {
    return document.is_object() ? document.value("daemon", nlohmann::json::object())
                                : nlohmann::json::object();
  };
  const auto belongs = [&](const nlohmann::json& document) {
    const std::string theirs = daemon_of(document).value("config_file", "");
    return document.value("node", "") == config->name.str() &&
           (theirs.empty() || std::filesystem::path(theirs).lexically_normal() == absolute);
  };
  if (status.is_object() && !belongs(status)) {
    http_problem = "another meshbroker answers at " + url + " (node " + status.value("node", "?") +
                   ", config " + daemon_of(status).value("config_file", "") + ")";
    status = nullptr;
  }
  // The control socket (root's) has the full view: ask it when HTTP failed or gave the
  // public one.
  if (!status.is_object() || status.value("access", "") == "public") {
    auto socket = model::RuntimeLayout{config->paths.runtime_dir}.controlSocket();
    std::string why;
    auto reply = supervisor::controlRequest(socket.string(), {{"command", "status"}},
                                            std::chrono::seconds(3), &why);
    if (reply && reply->is_object() && reply->value("ok", false) && reply->contains("api") &&
        (*reply)["api"].is_object() && belongs((*reply)["api"])) {
      status = (*reply)["api"];
    } else if (status.is_object()) {
      // Keep the public view.
    } else {
      err << "status: meshbroker is not running for " << config_file.string() << ": "
          << http_problem << "; control socket " << socket.string() << ": "
          << (why.empty() ? "no status document yet" : why)
          << "\n       (start it with: meshbroker run -c " << config_file.string() << ")\n";
      return kExitFailure;
    }
  }
  if (as_json) {
    out << status.dump(2) << "\n";
    return kExitOk;
  }
  try {
    return printStatusTable(status, out);
  } catch (const std::exception& e) {  // web::DocumentError, nlohmann::json::exception
    err << "status: the daemon's reply is not what this meshbroker expects (" << e.what()
        << "); is it another version? `meshbroker status --json` shows it as it came\n";
    return kExitFailure;
  }
}

int printStatusTable(const nlohmann::json& status, std::ostream& out) {
  // The daemon's one status document (docs/api.md), read strictly: a field this CLI expects
  // and the daemon lacks is a web::DocumentError naming it, not a blank column.
  using web::arrayAt, web::boolAt, web::integerAt, web::member, web::numberAt, web::optionalMember,
      web::textAt;
  const std::int64_t now = integerAt(status, "updated_ms");
  const auto& daemon = member(status, "daemon");
  out << "node " << textAt(status, "node") << " (" << textAt(daemon, "role") << "), pid "
      << textAt(daemon, "pid") << ", up " << ago(integerAt(daemon, "started_ms"), now)
      << ", snapshot " << textAt(status, "generation") << "\n\n";
  out << padded("BACKEND", 18) << padded("STATE", 10) << padded("PID", 8) << padded("RESTARTS", 10)
      << padded("SINCE", 7) << "LAST EXIT\n";
  bool failed = false;
  for (const auto& b : arrayAt(status, "backends")) {
    const std::string state = textAt(b, "state");
    failed = failed || state == "failed";
    out << padded(textAt(b, "id"), 18) << padded(state == "failed" ? "FAILED" : state, 10)
        << padded(std::to_string(integerAt(b, "pid")), 8)
        << padded(std::to_string(integerAt(b, "restarts")), 10)
        << padded(ago(integerAt(b, "since_ms"), now), 7) << textAt(b, "last_exit") << "\n";
    if (state == "failed") out << "  ! " << textAt(b, "failure") << "\n";
  }
  // The network document (issue 20): its version and source, and the nodes it removed, which
  // are shown as removed rather than down.
  std::set<std::string> removed;
  const auto& network = optionalMember(status, "network");
  if (!network.is_null()) {
    for (const auto& name : arrayAt(network, "removed")) {
      if (name.is_string()) removed.insert(name.get<std::string>());
    }
    out << "\nnetwork " << textAt(network, "name") << ": version " << integerAt(network, "version")
        << (boolAt(network, "is_registry") ? " (signed here, the registry)"
                                           : " from " + textAt(network, "last_pull_from") +
                                                 " (registry " + textAt(network, "registry") + ")");
    if (!removed.empty()) {
      std::string names;
      for (const auto& name : removed) names += (names.empty() ? "" : ", ") + name;
      out << "; removed: " << names;
    }
    out << "\n";
    if (!textAt(network, "last_error").empty())
      out << "  ! " << textAt(network, "last_error") << "\n";
  }
  out << "\n" << padded("MESH NODE", 18) << padded("STATE", 10) << "ADDRESS\n";
  for (const auto& node : arrayAt(status, "mesh")) {
    // remote_address: only in the full view.
    const auto& address = optionalMember(node, "remote_address");
    const std::string state = removed.contains(textAt(node, "name")) ? "removed"
                              : boolAt(node, "up")                   ? "up"
                                                                     : "down";
    out << padded(textAt(node, "name"), 18) << padded(state, 10)
        << (address.is_string() && !address.get<std::string>().empty() ? address.get<std::string>()
                                                                       : "-")
        << "\n";
  }
  const auto& gateways = arrayAt(status, "gateways");
  if (!gateways.empty()) {
    out << "\n"
        << padded("PEER", 18) << padded("STATE", 10) << padded("RTT", 10) << padded("LOSS", 7)
        << "WHY\n";
    for (const auto& peer : gateways) {
      // rtt_ms: only once it replied; loss_pct: only with an icmp check.
      std::string rtt = "-";
      if (!optionalMember(peer, "rtt_ms").is_null()) {
        char text[32];
        std::snprintf(text, sizeof text, "%.1f ms", numberAt(peer, "rtt_ms"));
        rtt = text;
      }
      std::string loss = "-";
      if (!optionalMember(peer, "loss_pct").is_null()) {
        loss = std::to_string(static_cast<int>(numberAt(peer, "loss_pct") + 0.5)) + "%";
      }
      std::string state = textAt(peer, "verdict");
      if (boolAt(peer, "drained")) state += "*";
      out << padded(textAt(peer, "name"), 18) << padded(state, 10) << padded(rtt, 10)
          << padded(loss, 7) << textAt(peer, "reason") << "\n";
    }
  }
  for (const auto& set : arrayAt(status, "routes")) {
    const bool all_down = boolAt(set, "all_down");
    out << "route set " << textAt(set, "name") << ": " << (all_down ? "ALL GATEWAYS DOWN: " : "")
        << textAt(set, "why") << "\n";
    failed = failed || all_down;
  }
  for (const auto& instance : arrayAt(status, "clients")) {
    out << "\nopenvpn " << textAt(instance, "instance") << ": " << integerAt(instance, "connected")
        << " client(s)"
        << (boolAt(instance, "management_connected") ? "" : " (management not connected)") << "\n";
    // clients: only in the full view.
    for (const auto& c : web::arrayOf(optionalMember(instance, "clients"), "clients")) {
      out << "  " << padded(textAt(c, "common_name"), 16)
          << padded(textAt(c, "virtual_address"), 16) << padded(textAt(c, "real_address"), 24)
          << "in " << integerAt(c, "bytes_received") << " B, out " << integerAt(c, "bytes_sent")
          << " B\n";
    }
  }
  const auto& reload = member(daemon, "last_reload");
  if (!boolAt(reload, "ok")) {
    out << "\nlast reload FAILED (old config still running):\n";
    for (const auto& e : arrayAt(reload, "errors")) {
      if (e.is_string()) out << "  " << e.get<std::string>() << "\n";
    }
  }
  bool drained = false;
  for (const auto& g : gateways) drained = drained || boolAt(g, "drained");
  if (drained) out << "\n* drained by an operator (meshbroker undrain NAME)\n";
  if (textAt(status, "access") == "public") {
    out << "\n(public view: users' names and addresses need the token in status.token_file;"
           " run as its owner)\n";
  }
  return failed ? kExitDegraded : kExitOk;
}

}  // namespace meshbroker::cli
