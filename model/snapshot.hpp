// The daemon's state as one value: what the status API, `status.json` and tests read. The
// daemon (supervisor/) fills it; web/ and the CLI read it; nothing here knows either.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "model/health_snapshot.hpp"
#include "model/network_document.hpp"
#include "model/openvpn_client.hpp"
#include "model/openvpn_usage.hpp"
#include "model/topology.hpp"

namespace meshbroker::model {

struct BackendSnapshot {
  std::string id;     // "tinc", "openvpn-public"
  std::string state;  // down, starting, running, backoff, stopping, failed
  int pid = 0;
  int restarts = 0;
  int crashes_in_a_row = 0;
  std::int64_t since_ms = 0;  // wall clock (ms since epoch) of the last state change
  std::string last_exit;
  std::string failure;  // set when state is "failed": loud in status
  std::vector<std::string> log_tail;
  bool adopted = false;  // its process was left running by a previous meshbroker and taken over
};

struct MeshNodeSnapshot {
  bool up = false;
  std::string remote_address;
  std::int64_t since_ms = 0;
};

struct OpenVpnSnapshot {
  bool management_connected = false;
  std::vector<ConnectedClient> clients;
  std::int64_t updated_ms = 0;
  std::vector<std::string> problems;  // management output that could not be parsed
};

struct ReloadSnapshot {
  std::int64_t at_ms = 0;
  bool ok = true;
  std::vector<std::string> errors;
  std::map<std::string, std::string> actions;  // backend id -> none/signal/restart/start/stop
};

// The CRLs of a node with OpenVPN instances (Daemon::checkCrl).
struct PkiSnapshot {
  bool checked = false;                         // false: no OpenVPN here, or not checked yet
  std::optional<std::int64_t> crl_next_update;  // seconds since the epoch, the earliest of all
  std::string advice;                           // backends::crlAdvice, or why the check failed
};

// One state change worth showing an operator (backends, mesh nodes, reloads, operator actions;
// the gateway monitor keeps its own in `health.events`).
struct EventSnapshot {
  std::int64_t at_ms = 0;
  std::string source;  // "backend", "mesh", "reload", "operator"
  std::string what;
};

struct Snapshot {
  std::uint64_t generation = 0;
  std::int64_t updated_ms = 0;
  std::int64_t started_ms = 0;
  int daemon_pid = 0;
  std::string node;
  std::string role;
  std::string config_file;
  std::vector<BackendSnapshot> backends;
  std::map<std::string, MeshNodeSnapshot> mesh;
  std::map<std::string, OpenVpnSnapshot> openvpn;
  ReloadSnapshot last_reload;
  PkiSnapshot pki;
  std::optional<HealthSnapshot> health;  // none when health checks are not running
  std::vector<EventSnapshot> events;     // oldest first, at most Daemon::kEventHistory
  // What the config says the network looks like around this node (model/topology.hpp). The
  // status page draws it.
  Topology topology;
  std::optional<NetworkSnapshot> network;  // none without a `network` section (issue 20)
  std::vector<UserUsage> usage;            // each OpenVPN user's figures (issue 21)
  // Users over their instance's monthly quota: "INSTANCE/USER" -> the time_t until which they
  // are refused (supervisor/quota_keeper).
  std::map<std::string, std::int64_t> over_quota_until_s;
};

nlohmann::json toJson(const HealthSnapshot& health);
nlohmann::json toJson(const GatewayHealth& gateway);
nlohmann::json toJson(const CheckHealth& check);
nlohmann::json toJson(const RouteSetHealth& set);
nlohmann::json toJson(const ProbeTimerHealth& timer);
nlohmann::json toJson(const Topology& topology);
nlohmann::json toJson(const UsageCounters& counters);
// {instance, user, connected, last_seen_s, total, month, this_month}
nlohmann::json toJson(const UserUsage& usage);

}  // namespace meshbroker::model
