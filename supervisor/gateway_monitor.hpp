// Health checks and route failover on the daemon's event loop: probes every peer (gateways on
// a server, servers on a gateway), turns results into verdicts (health::HealthCheck), verdicts
// into desired routes (routing::desiredRoutes) and those into netlink changes (routing::
// planChanges + RouteTable). Routes carrying our protocol number that it finds at start-up are
// adopted, never flushed; a periodic re-sync repairs routes someone changed by hand.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "health/check.hpp"
#include "health/prober.hpp"
#include "io/asio.hpp"
#include "model/snapshot.hpp"
#include "routing/policy.hpp"
#include "routing/reconcile.hpp"
#include "supervisor/clock.hpp"

namespace meshbroker::supervisor {

class GatewayMonitor {
 public:
  static constexpr std::size_t kHistory = 100;

  // table may be nullptr (no route changes: verdicts only, e.g. in unit tests).
  GatewayMonitor(asio::io_context& io, health::Prober& prober, routing::RouteTable* table,
                 std::function<void()> changed);
  ~GatewayMonitor();
  GatewayMonitor(const GatewayMonitor&) = delete;
  GatewayMonitor& operator=(const GatewayMonitor&) = delete;

  // Starts, or applies a reloaded config: checks whose target did not change keep their state.
  void configure(const config::NodeConfig& config);
  // Our own tincd is not running (restarting): verdicts are frozen, it is not the peers' fault.
  void setLocalHold(bool held);
  // Takes a gateway out of every route set without failing it. False: no such peer.
  bool drain(const std::string& peer, bool drained);
  // Re-reads the kernel and applies what differs now (also runs every resync_ms).
  void reconcile(const std::string& why);
  // What reconcile() would change now, in `ip route` words (nothing is changed).
  std::vector<std::string> dryRun();
  void stop();
  // Per probed peer, when any of its checks last got a reply (nullopt: never).
  std::map<std::string, std::optional<health::TimePoint>> lastReplies() const;

  // {"peers": {...}, "route_sets": [...], "events": [...], "route_errors": [...],
  //  "route_conflicts": [...]}
  // The monitor's state as values (the snapshot's `health`), and its JSON form.
  model::HealthSnapshot snapshot() const;
  nlohmann::json toJson() const { return model::toJson(snapshot()); }

 private:
  struct Check;
  struct Peer;
  struct Event {
    std::int64_t at_ms;
    std::string what;
  };

  void arm();
  void onTimer();
  void send(Peer& peer, Check& check, const health::HealthCheck::Probe& probe);
  void onTransition(Peer& peer, Check& check, const health::Transition& transition);
  routing::PeerStates peerStates() const;
  void record(std::string what);
  // Logs and records the conflicts that are new and the ones that are gone.
  void noteConflicts(std::vector<routing::RouteConflict> conflicts);

  asio::io_context& io_;
  health::Prober& prober_;
  routing::RouteTable* table_;
  std::function<void()> changed_;
  std::optional<config::NodeConfig> config_;  // set by configure()
  bool held_ = false;
  std::map<std::string, std::unique_ptr<Peer>> peers_;
  std::map<std::string, routing::SetDecision> decisions_;
  std::vector<std::string> route_errors_;
  // Keys of ours held by other programs' routes: ours stepped aside (routing::stepAside).
  std::vector<routing::RouteConflict> route_conflicts_;
  std::deque<Event> events_;
  // How late the probe timer fires (the event loop was busy): the last kLatenessWindow wakes.
  static constexpr std::size_t kLatenessWindow = 1024;
  health::Clock::time_point scheduled_{};
  health::Clock::time_point armed_at_{};
  std::vector<std::int64_t> lateness_us_;
  std::size_t lateness_next_ = 0;
  std::uint64_t wakeups_ = 0;
  Timer timer_;
  Timer resync_;
  std::shared_ptr<bool> alive_;
  bool reconcile_pending_ = false;
};

}  // namespace meshbroker::supervisor
