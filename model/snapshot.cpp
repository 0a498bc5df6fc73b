// JSON form of the snapshot (field names are a contract: docs/api.md pins them).
#include "model/snapshot.hpp"

namespace meshbroker::model {

nlohmann::json toJson(const CheckHealth& check) {
  nlohmann::json out = {{"verdict", check.verdict},   {"target", check.target},
                        {"reason", check.reason},     {"since_ms", check.since_ms},
                        {"loss_pct", check.loss_pct}, {"sent", check.sent},
                        {"replies", check.replies},   {"held", check.held}};
  if (check.fwmark != 0) out["fwmark"] = check.fwmark;
  if (check.rtt_ms) out["rtt_ms"] = *check.rtt_ms;
  return out;
}

nlohmann::json toJson(const GatewayHealth& gateway) {
  nlohmann::json checks = nlohmann::json::object();
  for (const auto& [name, check] : gateway.checks) checks[name] = toJson(check);
  nlohmann::json out = {{"verdict", gateway.verdict},
                        {"verdict_since_ms", gateway.verdict_since_ms},
                        {"drained", gateway.drained},
                        {"checks", checks}};
  if (gateway.rtt_ms) out["rtt_ms"] = *gateway.rtt_ms;
  return out;
}

nlohmann::json toJson(const RouteSetHealth& set) {
  return {{"name", set.name},       {"chosen", set.chosen}, {"all_down", set.all_down},
          {"settled", set.settled}, {"why", set.why},       {"routes", set.routes}};
}

nlohmann::json toJson(const ProbeTimerHealth& timer) {
  nlohmann::json out = {{"wakeups", timer.wakeups}, {"window", timer.window}};
  if (timer.lateness_p50_ms) out["lateness_p50_ms"] = *timer.lateness_p50_ms;
  if (timer.lateness_p99_ms) out["lateness_p99_ms"] = *timer.lateness_p99_ms;
  if (timer.lateness_max_ms) out["lateness_max_ms"] = *timer.lateness_max_ms;
  return out;
}

nlohmann::json toJson(const HealthSnapshot& health) {
  nlohmann::json peers = nlohmann::json::object();
  for (const auto& [name, gateway] : health.peers) peers[name] = toJson(gateway);
  nlohmann::json sets = nlohmann::json::array();
  for (const auto& set : health.route_sets) sets.push_back(toJson(set));
  nlohmann::json events = nlohmann::json::array();
  for (const auto& e : health.events) events.push_back({{"at_ms", e.at_ms}, {"what", e.what}});
  return {{"peers", peers},
          {"route_sets", sets},
          {"timer", toJson(health.timer)},
          {"events", events},
          {"route_errors", health.route_errors},
          {"route_conflicts", health.route_conflicts},
          {"held", health.held}};
}

nlohmann::json toJson(const Snapshot& snapshot) {
  nlohmann::json backends = nlohmann::json::array();
  for (const auto& b : snapshot.backends) {
    backends.push_back({{"id", b.id},
                        {"state", b.state},
                        {"pid", b.pid},
                        {"restarts", b.restarts},
                        {"crashes_in_a_row", b.crashes_in_a_row},
                        {"since_ms", b.since_ms},
                        {"last_exit", b.last_exit},
                        {"failure", b.failure},
                        {"log_tail", b.log_tail},
                        {"adopted", b.adopted}});
  }
  nlohmann::json mesh = nlohmann::json::object();
  for (const auto& [name, node] : snapshot.mesh) {
    mesh[name] = {
        {"up", node.up}, {"remote_address", node.remote_address}, {"since_ms", node.since_ms}};
  }
  nlohmann::json openvpn = nlohmann::json::object();
  for (const auto& [name, instance] : snapshot.openvpn) {
    nlohmann::json clients = nlohmann::json::array();
    for (const auto& c : instance.clients) {
      clients.push_back({{"common_name", c.common_name},
                         {"real_address", c.real_address},
                         {"virtual_address", c.virtual_address},
                         {"bytes_received", c.bytes_received},
                         {"bytes_sent", c.bytes_sent},
                         {"connected_since", c.connected_since}});
    }
    openvpn[name] = {{"management_connected", instance.management_connected},
                     {"clients", clients},
                     {"updated_ms", instance.updated_ms},
                     {"problems", instance.problems}};
  }
  nlohmann::json pki = nullptr;
  if (snapshot.pki.checked) {
    pki = {{"crl_next_update", snapshot.pki.crl_next_update
                                   ? nlohmann::json(*snapshot.pki.crl_next_update)
                                   : nlohmann::json(nullptr)},
           {"advice", snapshot.pki.advice}};
  }
  nlohmann::json events = nlohmann::json::array();
  for (const auto& e : snapshot.events) {
    events.push_back({{"at_ms", e.at_ms}, {"source", e.source}, {"what", e.what}});
  }
  return {{"generation", snapshot.generation},
          {"updated_ms", snapshot.updated_ms},
          {"started_ms", snapshot.started_ms},
          {"daemon_pid", snapshot.daemon_pid},
          {"node", snapshot.node},
          {"role", snapshot.role},
          {"config_file", snapshot.config_file},
          {"backends", backends},
          {"mesh", mesh},
          {"openvpn", openvpn},
          {"last_reload",
           {{"at_ms", snapshot.last_reload.at_ms},
            {"ok", snapshot.last_reload.ok},
            {"errors", snapshot.last_reload.errors},
            {"actions", snapshot.last_reload.actions}}},
          {"pki", pki},
          {"health", snapshot.health ? toJson(*snapshot.health) : nlohmann::json(nullptr)},
          {"events", events},
          {"topology", snapshot.topology}};
}

}  // namespace meshbroker::model
