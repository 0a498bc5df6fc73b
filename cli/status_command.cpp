// Formats the daemon's snapshot for a person.
#include "cli/status_command.hpp"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "config/loader.hpp"
#include "supervisor/control_socket.hpp"
#include "supervisor/snapshot.hpp"

namespace meshbroker::cli {
namespace {

std::string ago(std::int64_t since_ms) {
  if (since_ms <= 0) return "-";
  auto seconds = (supervisor::wallClockMs() - since_ms) / 1000;
  if (seconds < 120) return std::to_string(seconds) + "s";
  if (seconds < 7200) return std::to_string(seconds / 60) + "m";
  return std::to_string(seconds / 3600) + "h";
}

int printTable(const nlohmann::json& status, std::ostream& out);

std::string padded(const std::string& text, std::size_t width) {
  return text.size() >= width ? text + " " : text + std::string(width - text.size(), ' ');
}

}  // namespace

int runStatus(const std::filesystem::path& config_file, bool as_json, std::ostream& out,
              std::ostream& err) {
  auto loaded = config::loadConfigFile(config_file);
  if (!loaded.config) {
    for (const auto& problem : loaded.diagnostics.all()) {
      err << config_file.string() << ": " << problem.str() << "\n";
    }
    return kExitInvalidConfig;
  }
  auto socket = loaded.config->paths.runtime_dir / "control.sock";
  std::string why;
  auto reply = supervisor::controlRequest(socket.string(), {{"command", "status"}},
                                          std::chrono::seconds(3), &why);
  if (!reply || !reply->value("ok", false) || !reply->contains("status")) {
    err << "status: meshbroker is not running for " << config_file.string() << ": " << why
        << "\n       (start it with: meshbroker run -c " << config_file.string() << ")\n";
    return kExitFailure;
  }
  const auto& status = (*reply)["status"];
  if (as_json) {
    out << status.dump(2) << "\n";
    return kExitOk;
  }
  try {
    return printTable(status, out);
  } catch (const nlohmann::json::exception& e) {
    err << "status: the daemon's reply is not what this meshbroker expects: " << e.what() << "\n";
    return kExitFailure;
  }
}

namespace {

int printTable(const nlohmann::json& status, std::ostream& out) {
  out << "node " << status.value("node", "?") << " (" << status.value("role", "?") << "), pid "
      << status.value("daemon_pid", 0) << ", up " << ago(status.value("started_ms", 0LL)) << "\n\n";
  out << padded("BACKEND", 18) << padded("STATE", 10) << padded("PID", 8) << padded("RESTARTS", 10)
      << padded("SINCE", 7) << "LAST EXIT\n";
  bool failed = false;
  for (const auto& b : status.value("backends", nlohmann::json::array())) {
    std::string state = b.value("state", "?");
    failed = failed || state == "failed";
    out << padded(b.value("id", "?"), 18) << padded(state == "failed" ? "FAILED" : state, 10)
        << padded(std::to_string(b.value("pid", 0)), 8)
        << padded(std::to_string(b.value("restarts", 0)), 10)
        << padded(ago(b.value("since_ms", 0LL)), 7) << b.value("last_exit", "") << "\n";
    if (state == "failed") out << "  ! " << b.value("failure", "") << "\n";
  }
  out << "\n" << padded("MESH NODE", 18) << padded("STATE", 10) << "ADDRESS\n";
  const auto mesh = status.value("mesh", nlohmann::json::object());
  for (const auto& [name, node] : mesh.items()) {
    out << padded(name, 18) << padded(node.value("up", false) ? "up" : "down", 10)
        << node.value("remote_address", "") << "\n";
  }
  const auto health = status.value("health", nlohmann::json::object());
  const auto peers = health.is_object() ? health.value("peers", nlohmann::json::object())
                                        : nlohmann::json::object();
  if (!peers.empty()) {
    out << "\n" << padded("PEER", 18) << padded("STATE", 10) << padded("RTT", 10) << "WHY\n";
    for (const auto& [name, peer] : peers.items()) {
      std::string rtt = "-";
      if (peer.contains("rtt_ms")) {
        char text[32];
        std::snprintf(text, sizeof text, "%.1f ms", peer["rtt_ms"].get<double>());
        rtt = text;
      }
      std::string why;
      // A named copy: items() of the temporary value() returns would dangle in the loop.
      const auto checks = peer.value("checks", nlohmann::json::object());
      for (const auto& [check, c] : checks.items()) {
        if (c.value("verdict", "") != "up") why += check + ": " + c.value("reason", "") + "; ";
      }
      std::string state = peer.value("verdict", "?");
      if (peer.value("drained", false)) state += "*";
      out << padded(name, 18) << padded(state, 10) << padded(rtt, 10) << why << "\n";
    }
    for (const auto& set : health.value("route_sets", nlohmann::json::array())) {
      const bool all_down = set.value("all_down", false);
      out << (all_down ? "route set " : "route set ") << set.value("name", "?") << ": "
          << (all_down ? "ALL GATEWAYS DOWN: " : "") << set.value("why", "") << "\n";
      failed = failed || all_down;
    }
  }
  const auto openvpn = status.value("openvpn", nlohmann::json::object());
  for (const auto& [name, instance] : openvpn.items()) {
    const auto& clients = instance.value("clients", nlohmann::json::array());
    out << "\nopenvpn " << name << ": " << clients.size() << " client(s)"
        << (instance.value("management_connected", false) ? "" : " (management not connected)")
        << "\n";
    for (const auto& c : clients) {
      out << "  " << padded(c.value("common_name", "?"), 16)
          << padded(c.value("virtual_address", ""), 16) << padded(c.value("real_address", ""), 24)
          << "in " << c.value("bytes_received", 0ULL) << " B, out " << c.value("bytes_sent", 0ULL)
          << " B\n";
    }
  }
  const auto& reload = status.value("last_reload", nlohmann::json::object());
  if (!reload.value("ok", true)) {
    out << "\nlast reload FAILED (old config still running):\n";
    for (const auto& e : reload.value("errors", nlohmann::json::array())) {
      out << "  " << e.get<std::string>() << "\n";
    }
  }
  return failed ? kExitDegraded : kExitOk;
}

}  // namespace

}  // namespace meshbroker::cli
