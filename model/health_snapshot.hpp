// The gateway monitor's state as values (supervisor/gateway_monitor.* fills it; the snapshot
// carries it; web/ reads it). Its JSON form is model::toJson in snapshot.cpp, the one place
// a field gets its name: status.json, the control socket and /api/v1/status all use it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace meshbroker::model {

// One health check of one peer (icmp, udp or through).
struct CheckHealth {
  std::string verdict;        // unknown, up, down
  std::string target;         // the probed address
  std::string reason;         // why the verdict is what it is
  std::int64_t since_ms = 0;  // wall clock of the check's last verdict change
  double loss_pct = 0;
  std::uint64_t sent = 0;
  std::uint64_t replies = 0;
  bool held = false;             // results ignored while our tincd is down
  std::uint32_t fwmark = 0;      // through-gateway probes: the mark that steers them (0: none)
  std::optional<double> rtt_ms;  // smoothed, when there were replies
};

// One probed peer: a gateway (on a server) or a server (on a gateway).
struct GatewayHealth {
  std::string verdict;  // unknown, up, down, degraded (up, but its through check fails)
  std::int64_t verdict_since_ms = 0;  // wall clock of the last change of `verdict` (0: none yet)
  bool drained = false;               // an operator took it out of use
  std::optional<double> rtt_ms;
  std::map<std::string, CheckHealth> checks;  // by check name
};

// What the route policy decided for one route set.
struct RouteSetHealth {
  std::string name;
  std::vector<std::string> chosen;  // gateways in use
  bool all_down = false;
  bool settled = true;  // false while a gateway's verdict is unknown: routes kept as they are
  std::string why;
  std::vector<std::string> routes;  // in `ip route` words
};

// How late the probe timer fires (a busy event loop shows here first).
struct ProbeTimerHealth {
  std::uint64_t wakeups = 0;
  std::size_t window = 0;  // how many recent wake-ups the quantiles cover
  std::optional<double> lateness_p50_ms;
  std::optional<double> lateness_p99_ms;
  std::optional<double> lateness_max_ms;
};

struct HealthEvent {
  std::int64_t at_ms = 0;
  std::string what;
};

struct HealthSnapshot {
  std::map<std::string, GatewayHealth> peers;
  std::vector<RouteSetHealth> route_sets;
  ProbeTimerHealth timer;
  std::vector<HealthEvent> events;
  std::vector<std::string> route_errors;
  std::vector<std::string> route_conflicts;  // ours stepped aside for another program's route
  bool held = false;                         // routes left as they are while our tincd is down
};

}  // namespace meshbroker::model
