// JSON form of the health state, one toJson per type (the API, status.json and `meshbroker
// routes` use them; field names are a contract: docs/api.md pins them). The whole snapshot is
// serialised once, by web::document.
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

nlohmann::json toJson(const Topology& topology) {
  nlohmann::json hosts = nlohmann::json::array();
  for (const auto& host : topology.hosts) {
    nlohmann::json entry = {{"name", host.name},
                            {"role", host.role},
                            {"mesh_address", host.mesh_address},
                            {"client_subnets", host.client_subnets}};
    if (host.public_address) entry["public_address"] = *host.public_address;
    hosts.push_back(entry);
  }
  nlohmann::json openvpn = nlohmann::json::array();
  for (const auto& i : topology.openvpn) {
    openvpn.push_back({{"name", i.name},
                       {"kind", i.kind},
                       {"port", i.port},
                       {"proto", i.proto},
                       {"subnet", i.subnet},
                       {"max_clients", i.max_clients}});
  }
  nlohmann::json sets = nlohmann::json::array();
  for (const auto& set : topology.route_sets) {
    nlohmann::json via = nlohmann::json::array();
    for (const auto& v : set.via) {
      via.push_back({{"gateway", v.gateway}, {"weight", v.weight}, {"priority", v.priority}});
    }
    sets.push_back({{"name", set.name},
                    {"to", set.to},
                    {"from", set.from},
                    {"policy", set.policy},
                    {"via", via}});
  }
  nlohmann::json out = {{"address", topology.address},
                        {"prefix", topology.prefix},
                        {"interface", topology.interface},
                        {"hosts", hosts},
                        {"openvpn", openvpn},
                        {"route_sets", sets}};
  if (topology.through_target) out["through_target"] = *topology.through_target;
  if (topology.through_target6) out["through_target6"] = *topology.through_target6;
  return out;
}

nlohmann::json toJson(const UsageCounters& c) {
  return {{"bytes_received", c.bytes_received},
          {"bytes_sent", c.bytes_sent},
          {"connected_s", c.connected_s},
          {"sessions", c.sessions}};
}

nlohmann::json toJson(const UserUsage& u) {
  return {{"instance", u.instance},
          {"user", u.user},
          {"connected", u.connected},
          {"last_seen_s", u.last_seen_s},
          {"total", toJson(u.total)},
          {"month", u.month},
          {"this_month", toJson(u.this_month)}};
}

}  // namespace meshbroker::model
