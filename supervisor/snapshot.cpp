// JSON form of the snapshot (field names are a contract: docs/api.md will pin them).
#include "supervisor/snapshot.hpp"

#include <chrono>

namespace meshbroker::supervisor {

std::int64_t wallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
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
          {"health", snapshot.health},
          {"events", events},
          {"topology", snapshot.topology}};
}

namespace {

nlohmann::json cidrs(const std::vector<config::Cidr>& list) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& cidr : list) out.push_back(cidr.str());
  return out;
}

}  // namespace

nlohmann::json topologyJson(const config::NodeConfig& config) {
  nlohmann::json hosts = nlohmann::json::array();
  for (const auto& host : config.hosts) {
    nlohmann::json entry = {{"name", host.name.str()},
                            {"role", std::string(config::toString(host.role))},
                            {"mesh_address", host.mesh_address.str()},
                            {"client_subnets", cidrs(host.client_subnets)}};
    if (host.public_endpoint) entry["public_address"] = host.public_endpoint->address.str();
    hosts.push_back(entry);
  }
  nlohmann::json openvpn = nlohmann::json::array();
  for (const auto& instance : config.openvpn) {
    openvpn.push_back({{"name", instance.name.str()},
                       {"kind", std::string(config::toString(instance.kind))},
                       {"port", instance.port.value()},
                       {"proto", std::string(config::toString(instance.proto))},
                       {"subnet", instance.subnet.str()},
                       {"max_clients", instance.max_clients}});
  }
  nlohmann::json sets = nlohmann::json::array();
  for (const auto& set : config.routes) {
    nlohmann::json via = nlohmann::json::array();
    for (const auto& v : set.via) {
      via.push_back({{"gateway", v.gateway.str()}, {"weight", v.weight}, {"priority", v.priority}});
    }
    sets.push_back({{"name", set.name.str()},
                    {"to", cidrs(set.to)},
                    {"from", cidrs(set.from)},
                    {"policy", std::string(config::toString(set.policy))},
                    {"via", via}});
  }
  nlohmann::json topology = {{"address", config.tinc.address.str()},
                             {"prefix", config.tinc.prefix.str()},
                             {"interface", config.tinc.interface.str()},
                             {"hosts", hosts},
                             {"openvpn", openvpn},
                             {"route_sets", sets}};
  if (config.health.through_target) {
    topology["through_target"] = config.health.through_target->str();
  }
  return topology;
}

}  // namespace meshbroker::supervisor
