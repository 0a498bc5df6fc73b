// Health checks and routes on the event loop: probes out, verdicts in, desired routes planned
// and applied over netlink, re-synced against the kernel. (~410 lines: it is the one adapter
// between the pure health and routing parts and the loop; the decisions are in health/ and
// routing/.)
#include "supervisor/gateway_monitor.hpp"

#include <algorithm>
#include <set>

#include "io/log.hpp"
#include "model/snapshot.hpp"
#include "supervisor/clock.hpp"

namespace meshbroker::supervisor {

using io::Level;
using io::log;

using health::Clock;
using health::HealthCheck;
using health::Verdict;

struct GatewayMonitor::Check {
  std::string name;  // "icmp", "icmp6", "udp", "through", "through6"
  health::ProbeTarget target;
  HealthCheck state;
  std::int64_t since_ms = 0;
};

struct GatewayMonitor::Peer {
  std::string name;
  bool drained = false;
  std::vector<std::unique_ptr<Check>> checks;
  std::optional<Clock::time_point> last_reply;  // any check's
  std::string verdict = "unknown";              // as the snapshot shows it
  std::int64_t verdict_since_ms = 0;            // when it last changed

  const Check* find(const std::string& check_name) const {
    for (const auto& check : checks) {
      if (check->name == check_name) return check.get();
    }
    return nullptr;
  }
};

namespace {

std::string verdictText(const routing::PeerState& state) {
  if (!state.known) return "unknown";
  if (!state.up) return "down";
  return state.degraded ? "degraded" : "up";
}

bool sameTarget(const health::ProbeTarget& a, const health::ProbeTarget& b) {
  return a.kind == b.kind && a.address == b.address && a.port == b.port && a.payload == b.payload &&
         a.fwmark == b.fwmark && a.device == b.device;
}

// The peers this node probes: on a server the gateways its route sets use, on a gateway the
// servers whose OpenVPN clients it routes back to.
std::vector<std::size_t> peerIndexes(const config::NodeConfig& node) {
  std::set<std::string> used;
  for (const auto& set : node.routes) {
    for (const auto& via : set.via) used.insert(via.gateway.str());
  }
  std::vector<std::size_t> indexes;
  for (std::size_t i = 0; i < node.hosts.size(); ++i) {
    const auto& host = node.hosts[i];
    const bool serves_clients = node.role == config::Role::kGateway &&
                                host.role == config::Role::kServer && !host.client_subnets.empty();
    if (used.count(host.name.str()) || serves_clients) indexes.push_back(i);
  }
  return indexes;
}

}  // namespace

GatewayMonitor::GatewayMonitor(asio::io_context& io, health::Prober& prober,
                               routing::RouteTable* table, std::function<void()> changed)
    : io_(io),
      prober_(prober),
      table_(table),
      changed_(std::move(changed)),
      timer_(io),
      resync_(io),
      alive_(std::make_shared<bool>(true)) {}

GatewayMonitor::~GatewayMonitor() { stop(); }

void GatewayMonitor::stop() {
  *alive_ = false;
  alive_ = std::make_shared<bool>(true);
  timer_.cancel();
  resync_.cancel();
}

void GatewayMonitor::configure(const config::NodeConfig& config) {
  config_ = config;
  auto params = health::CheckParams::from(config.health);
  // A gateway probes servers for its routes back to their clients, which have no other way
  // through this gateway or any other: holding a flapping server down would only cut its
  // clients off (every gateway saw the same flaps). Its verdicts follow the replies.
  if (config.role == config::Role::kGateway) params.flap_hold = health::Duration(0);
  const auto now = Clock::now();
  std::map<std::string, std::unique_ptr<Peer>> peers;
  for (const std::size_t index : peerIndexes(config)) {
    const auto& host = config.hosts[index];
    auto peer = std::make_unique<Peer>();
    peer->name = host.name.str();
    std::vector<std::pair<std::string, health::ProbeTarget>> targets;
    health::ProbeTarget icmp;
    icmp.address = host.mesh_address;
    icmp.device = config.tinc.interface.str();
    targets.emplace_back("icmp", icmp);
    // On a dual-stack node, the peer's IPv6 mesh address too: its verdict decides only whether
    // the peer carries the route sets' IPv6 destinations (routing::PeerState::up6).
    if (config.tinc.address6 && host.mesh_address6) {
      health::ProbeTarget icmp6 = icmp;
      icmp6.address = *host.mesh_address6;
      targets.emplace_back("icmp6", icmp6);
    }
    if (config.health.udp_port) {
      health::ProbeTarget udp = icmp;
      udp.kind = health::ProbeKind::kUdp;
      udp.port = config.health.udp_port->value();
      udp.payload = config.health.udp_payload;
      targets.emplace_back("udp", udp);
    }
    if (config.health.through_target && host.role == config::Role::kGateway) {
      health::ProbeTarget through;
      through.address = *config.health.through_target;
      through.fwmark = routing::probeMark(config, index);
      targets.emplace_back("through", through);
    }
    if (routing::throughProbe6(config, host)) {
      health::ProbeTarget through6;
      through6.address = *config.health.through_target6;
      through6.fwmark = routing::probeMark(config, index);
      targets.emplace_back("through6", through6);
    }
    auto old = peers_.find(peer->name);
    if (old != peers_.end()) {
      peer->drained = old->second->drained;
      // The stale-path watch reads it: lost at a reload, every peer connected longer than the
      // watch's limit looked silent until its next reply, and tincd was restarted for it.
      peer->last_reply = old->second->last_reply;
    }
    for (auto& [name, target] : targets) {
      std::unique_ptr<Check> check;
      if (old != peers_.end()) {
        for (auto& existing : old->second->checks) {
          if (existing && existing->name == name && sameTarget(existing->target, target)) {
            check = std::move(existing);
            check->state.setParams(params);  // a reload's health settings apply at once
          }
        }
      }
      if (!check) {
        check =
            std::make_unique<Check>(Check{name, target, HealthCheck(params, now), wallClockMs()});
        if (held_) check->state.hold(now, true);
      }
      peer->checks.push_back(std::move(check));
    }
    peers[peer->name] = std::move(peer);
  }
  peers_ = std::move(peers);
  if (!peers_.empty()) {
    log(Level::kInfo, "health: probing " + std::to_string(peers_.size()) + " peer(s) every " +
                          std::to_string(config.health.interval_ms) + " ms");
  }
  reconcile("configured");
  arm();
}

void GatewayMonitor::setLocalHold(bool held) {
  if (held == held_) return;
  held_ = held;
  const auto now = Clock::now();
  for (auto& [name, peer] : peers_) {
    for (auto& check : peer->checks) check->state.hold(now, held);
  }
  record(held ? "our tincd is not running: gateway verdicts and routes are held"
              : "our tincd is running: verdicts resume after the warm-up");
  if (!held) reconcile("our tincd is running");
  arm();
}

bool GatewayMonitor::drain(const std::string& peer_name, bool drained) {
  auto it = peers_.find(peer_name);
  if (it == peers_.end()) return false;
  if (it->second->drained != drained) {
    it->second->drained = drained;
    record(peer_name + (drained ? " drained by the operator" : " undrained by the operator"));
    reconcile(drained ? "drain" : "undrain");
  }
  return true;
}

void GatewayMonitor::arm() {
  if (!config_) return;
  auto wake = Clock::now() + std::chrono::hours(1);
  for (const auto& [name, peer] : peers_) {
    for (const auto& check : peer->checks) wake = std::min(wake, check->state.nextWake());
  }
  scheduled_ = wake;
  armed_at_ = Clock::now();
  timer_.expires_at(wake);
  timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive) return;
    onTimer();
  });
}

void GatewayMonitor::onTimer() {
  const auto now = Clock::now();
  // Lateness of the timer itself: a wake that was already due when armed counts from then.
  const auto late =
      std::chrono::duration_cast<std::chrono::microseconds>(now - std::max(scheduled_, armed_at_));
  ++wakeups_;
  if (lateness_us_.size() < kLatenessWindow) {
    lateness_us_.push_back(late.count());
  } else {
    lateness_us_[lateness_next_] = late.count();
    lateness_next_ = (lateness_next_ + 1) % kLatenessWindow;
  }
  for (auto& [name, peer] : peers_) {
    for (auto& check : peer->checks) {
      if (auto transition = check->state.tick(now)) onTransition(*peer, *check, *transition);
      for (const auto& probe : check->state.due(now)) send(*peer, *check, probe);
    }
  }
  if (reconcile_pending_) reconcile("verdict changed");
  arm();
}

void GatewayMonitor::send(Peer& peer, Check& check, const HealthCheck::Probe& probe) {
  const std::string peer_name = peer.name;
  const std::string check_name = check.name;
  const std::uint64_t id = probe.id;
  prober_.probe(check.target, probe.timeout,
                [this, alive = alive_, peer_name, check_name, id](const health::ProbeResult& r) {
                  if (!*alive) return;
                  auto it = peers_.find(peer_name);
                  if (it == peers_.end()) return;
                  bool sooner = false;
                  for (auto& c : it->second->checks) {
                    if (c->name != check_name) continue;
                    if (r.ok) it->second->last_reply = Clock::now();
                    if (auto t = c->state.onResult(Clock::now(), id, r.ok, r.rtt)) {
                      onTransition(*it->second, *c, *t);
                      if (reconcile_pending_) reconcile("verdict changed");
                    }
                    sooner = sooner || c->state.nextWake() < scheduled_;
                  }
                  // A result moves only its own check's next wake, and only a miss moves it
                  // sooner (re-probes): re-arm then, not after every reply (1,000 a second at
                  // 100 gateways, each a scan of every check and a timerfd_settime).
                  if (sooner) arm();
                });
}

void GatewayMonitor::onTransition(Peer& peer, Check& check, const health::Transition& t) {
  check.since_ms = wallClockMs();
  const std::string what = peer.name + " " + check.name + ": " +
                           std::string(health::toString(t.from)) + " -> " +
                           std::string(health::toString(t.to)) + " (" + t.reason + ")";
  log(t.to == Verdict::kDown ? Level::kWarning : Level::kNotice, "health: " + what);
  record(what);
  const auto states = peerStates();
  if (auto it = states.find(peer.name); it != states.end()) {
    auto verdict = verdictText(it->second);
    if (verdict != peer.verdict) {
      peer.verdict = std::move(verdict);
      peer.verdict_since_ms = check.since_ms;
    }
  }
  reconcile_pending_ = true;
}

std::map<std::string, std::optional<health::TimePoint>> GatewayMonitor::lastReplies() const {
  std::map<std::string, std::optional<health::TimePoint>> replies;
  for (const auto& [name, peer] : peers_) replies[name] = peer->last_reply;
  return replies;
}

routing::PeerStates GatewayMonitor::peerStates() const {
  routing::PeerStates states;
  for (const auto& [name, peer] : peers_) {
    routing::PeerState state;
    state.known = true;
    state.up = true;
    state.drained = peer->drained;
    for (const auto& check : peer->checks) {
      const Verdict verdict = check->state.verdict();
      if (check->name == "through") {
        state.degraded = verdict == Verdict::kDown;
        continue;
      }
      if (check->name == "through6") {
        state.degraded6 = verdict == Verdict::kDown;
        continue;
      }
      if (check->name == "icmp6") {
        // Until it has a verdict, IPv6 follows IPv4 (as before there was an IPv6 check): an
        // unknown IPv6 check neither holds back the set's IPv4 routes nor flaps adopted IPv6
        // routes while its first reply is on the way. Only "down" takes IPv6 off the peer.
        state.up6 = verdict != Verdict::kDown;
        continue;
      }
      if (verdict == Verdict::kUnknown) state.known = false;
      if (verdict != Verdict::kUp) state.up = false;
      if (check->name == "icmp" && check->state.stats().srtt) {
        state.rtt_ms = static_cast<double>(check->state.stats().srtt->count()) / 1000.0;
      }
    }
    states[name] = state;
  }
  return states;
}

void GatewayMonitor::reconcile(const std::string& why) {
  reconcile_pending_ = false;
  if (!config_) return;
  auto desired = routing::desiredRoutes(*config_, peerStates(), decisions_);
  for (auto& decision : desired.sets) {
    auto old = decisions_.find(decision.name);
    const bool moved = old == decisions_.end() || old->second.chosen != decision.chosen ||
                       old->second.all_down != decision.all_down ||
                       old->second.settled != decision.settled;
    if (moved && decision.settled) {
      std::string chosen;
      for (const auto& name : decision.chosen) chosen += (chosen.empty() ? "" : ", ") + name;
      const std::string what =
          "route set " + decision.name + ": " +
          (decision.all_down ? "ALL GATEWAYS DOWN: " : "via " + chosen + ": ") + decision.why;
      log(decision.all_down ? Level::kError : Level::kNotice, what);
      record(what);
    }
    decisions_[decision.name] = decision;
  }
  // While our tincd is down its interface may not exist: the kernel keeps what it has.
  if (table_ && !held_) {
    try {
      noteConflicts(routing::stepAside(desired.routes, desired.frozen, table_->foreignRoutes()));
      const auto current = table_->routes();
      // Rules that cannot be read are left as they are: the routes still follow the verdicts.
      std::string rules_error;
      const auto current_rules = routing::rulesOrLeaveAlone(*table_, desired.rules, &rules_error);
      const auto plan = routing::planChanges(desired.routes, desired.rules, current, current_rules,
                                             desired.frozen);
      if (!plan.empty()) {
        for (const auto& line : routing::describe(plan, current)) {
          log(Level::kInfo, "routes (" + why + "): " + line);
        }
      }
      route_errors_ = routing::applyPlan(*table_, plan);
      if (!rules_error.empty()) route_errors_.insert(route_errors_.begin(), rules_error);
    } catch (const std::exception& e) {
      route_errors_ = {e.what()};
    }
    for (const auto& error : route_errors_) log(Level::kError, "routes: " + error);
  }
  if (changed_) changed_();

  resync_.expires_after(std::chrono::milliseconds(config_->routing.resync_ms));
  resync_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (!ec && *alive) reconcile("periodic re-sync");
  });
}

void GatewayMonitor::noteConflicts(std::vector<routing::RouteConflict> conflicts) {
  if (conflicts == route_conflicts_) return;
  for (const auto& conflict : conflicts) {
    if (std::find(route_conflicts_.begin(), route_conflicts_.end(), conflict) !=
        route_conflicts_.end()) {
      continue;
    }
    const std::string what = "routes: " + routing::describe(conflict);
    log(Level::kWarning, what);
    record(what);
  }
  for (const auto& gone : route_conflicts_) {
    if (std::find(conflicts.begin(), conflicts.end(), gone) != conflicts.end()) continue;
    const std::string what = "routes: the other route to " + gone.held.key.to.str() + " (proto " +
                             routing::protocolName(gone.held.protocol) +
                             ") is gone: meshbroker's goes back to metric " +
                             std::to_string(gone.held.key.metric);
    log(Level::kNotice, what);
    record(what);
  }
  route_conflicts_ = std::move(conflicts);
}

std::vector<std::string> GatewayMonitor::dryRun() {
  if (!table_ || !config_) return {};
  auto desired = routing::desiredRoutes(*config_, peerStates(), decisions_);
  routing::stepAside(desired.routes, desired.frozen, table_->foreignRoutes());
  const auto current = table_->routes();
  std::string rules_error;
  const auto current_rules = routing::rulesOrLeaveAlone(*table_, desired.rules, &rules_error);
  auto lines = routing::describe(
      routing::planChanges(desired.routes, desired.rules, current, current_rules, desired.frozen),
      current);
  if (!rules_error.empty()) lines.insert(lines.begin(), "! " + rules_error);
  return lines;
}

void GatewayMonitor::record(std::string what) {
  events_.push_back({wallClockMs(), std::move(what)});
  while (events_.size() > kHistory) events_.pop_front();
  if (changed_) changed_();
}

model::HealthSnapshot GatewayMonitor::snapshot() const {
  model::HealthSnapshot out;
  const auto states = peerStates();
  for (const auto& [name, peer] : peers_) {
    auto& gateway = out.peers[name];
    for (const auto& check : peer->checks) {
      const auto& s = check->state.stats();
      auto& entry = gateway.checks[check->name];
      entry.verdict = std::string(health::toString(s.verdict));
      entry.target = check->target.address.str();
      entry.reason = s.reason;
      entry.since_ms = check->since_ms;
      entry.loss_pct = s.loss_pct;
      entry.sent = s.sent;
      entry.replies = s.replies;
      entry.held = s.held;
      entry.fwmark = check->target.fwmark;
      if (s.srtt) entry.rtt_ms = static_cast<double>(s.srtt->count()) / 1000.0;
    }
    const auto& state = states.at(name);
    gateway.verdict = verdictText(state);
    gateway.verdict_since_ms = peer->verdict_since_ms;
    gateway.drained = peer->drained;
    gateway.rtt_ms = state.rtt_ms;
  }
  for (const auto& [name, decision] : decisions_) {
    model::RouteSetHealth set{
        name, decision.chosen, decision.all_down, decision.settled, decision.why, {}};
    for (const auto& route : decision.routes) set.routes.push_back(routing::describe(route));
    out.route_sets.push_back(std::move(set));
  }
  for (const auto& event : events_) out.events.push_back({event.at_ms, event.what});
  out.timer.wakeups = wakeups_;
  out.timer.window = lateness_us_.size();
  if (!lateness_us_.empty()) {
    auto sorted = lateness_us_;
    std::sort(sorted.begin(), sorted.end());
    auto at = [&sorted](double q) {
      const auto i = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1));
      return static_cast<double>(sorted[i]) / 1000.0;
    };
    out.timer.lateness_p50_ms = at(0.5);
    out.timer.lateness_p99_ms = at(0.99);
    out.timer.lateness_max_ms = at(1.0);
  }
  out.route_errors = route_errors_;
  for (const auto& conflict : route_conflicts_) {
    out.route_conflicts.push_back(routing::describe(conflict));
  }
  out.held = held_;
  return out;
}

}  // namespace meshbroker::supervisor
