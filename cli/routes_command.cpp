#include "cli/routes_command.hpp"

#include "cli/commands.hpp"
#include "config/loader.hpp"
#include "model/runtime_layout.hpp"
#include "routing/netlink_route_table.hpp"
#include "routing/policy.hpp"
#include "routing/reconcile.hpp"
#include "supervisor/control_socket.hpp"

namespace meshbroker::cli {
namespace {

void printChanges(const nlohmann::json& changes, std::ostream& out) {
  if (changes.empty()) {
    out << "no changes: the kernel's routes are what the policy wants\n";
    return;
  }
  for (const auto& line : changes) out << line.get<std::string>() << "\n";
}

}  // namespace

int runRoutes(const std::filesystem::path& config_file, bool as_json, std::ostream& out,
              std::ostream& err) {
  auto config = loadConfig(config_file, err, Shown::kErrors);
  if (!config) return kExitInvalidConfig;
  std::string why;
  auto reply = supervisor::controlRequest(
      model::RuntimeLayout{config->paths.runtime_dir}.controlSocket().string(),
      {{"command", "routes"}}, std::chrono::seconds(3), &why);
  if (reply && reply->value("ok", false)) {
    if (as_json) {
      out << reply->dump(2) << "\n";
      return kExitOk;
    }
    const auto& health = (*reply)["health"];
    // A named copy: items() of the temporary value() returns would dangle in the loop.
    const auto peers = health.value("peers", nlohmann::json::object());
    for (const auto& [name, peer] : peers.items()) {
      out << "peer " << name << ": " << peer.value("verdict", "?")
          << (peer.value("drained", false) ? " (drained)" : "");
      if (peer.contains("rtt_ms")) out << ", rtt " << peer["rtt_ms"].get<double>() << " ms";
      out << "\n";
    }
    for (const auto& set : health.value("route_sets", nlohmann::json::array())) {
      out << "route set " << set.value("name", "?") << ": " << set.value("why", "") << "\n";
    }
    for (const auto& conflict : health.value("route_conflicts", nlohmann::json::array())) {
      if (conflict.is_string()) out << "conflict: " << conflict.get<std::string>() << "\n";
    }
    out << "\n";
    printChanges(reply->value("changes", nlohmann::json::array()), out);
    return kExitOk;
  }

  // No daemon: what starting one would do if every peer answered.
  routing::PeerStates peers;
  for (const auto& host : config->hosts) {
    routing::PeerState state;
    state.known = state.up = true;
    peers[host.name.str()] = state;
  }
  auto desired = routing::desiredRoutes(*config, peers, {});
  nlohmann::json changes = nlohmann::json::array();
  nlohmann::json conflicts = nlohmann::json::array();
  try {
    routing::NetlinkRouteTable table(static_cast<std::uint8_t>(config->routing.protocol));
    for (const auto& conflict :
         routing::stepAside(desired.routes, desired.frozen, table.foreignRoutes())) {
      conflicts.push_back(routing::describe(conflict));
    }
    const auto current = table.routes();
    std::string rules_error;
    const auto current_rules = routing::rulesOrLeaveAlone(table, desired.rules, &rules_error);
    if (!rules_error.empty()) changes.push_back("! " + rules_error);
    const auto plan =
        routing::planChanges(desired.routes, desired.rules, current, current_rules, {});
    for (const auto& line : routing::describe(plan, current)) changes.push_back(line);
  } catch (const std::exception& e) {
    err << "routes: cannot read the kernel's routes: " << e.what() << "\n";
    return kExitFailure;
  }
  if (as_json) {
    out << nlohmann::json{{"daemon", false}, {"changes", changes}, {"conflicts", conflicts}}.dump(2)
        << "\n";
    return kExitOk;
  }
  for (const auto& conflict : conflicts) out << "conflict: " << conflict.get<std::string>() << "\n";
  out << "meshbroker is not running (" << why
      << "); assuming every gateway answers, starting it would:\n";
  printChanges(changes, out);
  return kExitOk;
}

int runDrain(const std::filesystem::path& config_file, const std::string& gateway, bool drain,
             std::ostream& out, std::ostream& err) {
  auto config = loadConfig(config_file, err, Shown::kErrors);
  if (!config) return kExitInvalidConfig;
  std::string why;
  auto reply = supervisor::controlRequest(
      model::RuntimeLayout{config->paths.runtime_dir}.controlSocket().string(),
      {{"command", drain ? "drain" : "undrain"}, {"gateway", gateway}}, std::chrono::seconds(3),
      &why);
  if (!reply) {
    err << (drain ? "drain" : "undrain") << ": meshbroker is not running: " << why << "\n";
    return kExitFailure;
  }
  if (!reply->value("ok", false)) {
    err << (drain ? "drain" : "undrain") << ": " << reply->value("error", "failed") << "\n";
    return kExitFailure;
  }
  out << gateway << (drain ? " drained: no route set uses it now\n" : " back in its route sets\n");
  return kExitOk;
}

}  // namespace meshbroker::cli
