// tincd as a backend: see tinc_driver.hpp.
#include "supervisor/tinc_driver.hpp"

#include <signal.h>

#include <array>

#include "config/loader.hpp"
#include "io/file_writer.hpp"
#include "io/log.hpp"
#include "model/runtime_layout.hpp"
#include "supervisor/backend_supervisor.hpp"
#include "supervisor/first_dial.hpp"
#include "supervisor/gateway_monitor.hpp"

namespace meshbroker::supervisor {

using io::Level;
using io::log;

namespace {
const std::string kId = "tinc";
// No peer up this long after the spawn (the first server down): dial the others anyway.
constexpr auto kFirstDialWait = std::chrono::seconds(5);
}  // namespace

TincDriver::TincDriver(asio::io_context& io, const config::NodeConfig& config,
                       BackendSupervisor& backends, Hooks hooks)
    : io_(io),
      config_(config),
      backends_(backends),
      hooks_(std::move(hooks)),
      retry_timer_(io),
      stale_tick_(io),
      dial_rest_timer_(io) {}

TincDriver::~TincDriver() = default;

backends::SpawnSpec TincDriver::spec() const {
  const auto& paths = config_.paths;
  model::RuntimeLayout runtime{paths.runtime_dir};
  backends::SpawnSpec spec = {config_.supervisor.tincd.string(),
                              {"-c", (paths.render_dir / "tinc").string(), "-D",
                               "--pidfile=" + runtime.tincPidFile().string(),
                               "-d" + std::to_string(config_.supervisor.tinc_debug)},
                              {}};
  // tincd drops root after tinc-up (which sets addresses and routes as root); its other
  // hooks then run as this user and reach us through the event socket.
  if (user_) spec.args.push_back("--user=" + user_->name);
  // Backends outlive a killed meshbroker, so the tunnels stay up; the next one adopts them.
  spec.survive_parent = true;
  spec.pid_file = runtime.backendPidFile(kId);
  spec.log_file = runtime.backendLogFile(kId);
  return spec;
}

void TincDriver::open(const std::filesystem::path& socket) {
  events_ = std::make_unique<backends::TincEventSocket>(
      io_, socket.string(), [this](const backends::TincEvent& event) { onEvent(event); },
      [](const std::string& message) { log(Level::kWarning, message); });
  if (user_) events_->allowSender(user_->uid, user_->gid);
  events_->open();
}

void TincDriver::stop() {
  retries_left_ = 0;
  retry_timer_.cancel();
  stale_tick_.stop();
  dial_rest_timer_.cancel();
}

std::string TincDriver::prepareSpawn() {
  dialling_first_ = false;
  dial_rest_timer_.cancel();
  const auto file = config_.paths.render_dir / "tinc" / "tinc.conf";
  auto text = config::readSmallFile(file, 1024 * 1024);
  if (!text) return "";  // tincd says what is wrong with it
  auto first = firstDialOnly(*text);
  if (first == *text) return "";  // one ConnectTo or none: nothing to stagger
  try {
    io::writeFileAtomically(file, first, 0644);
  } catch (const io::WriteError& e) {
    log(Level::kWarning, std::string("tinc: dialling every server at once: ") + e.what());
    return "";
  }
  full_conf_ = std::move(*text);
  first_conf_ = std::move(first);
  dialling_first_ = true;
  log(Level::kInfo, "tinc: dialling " + firstDial(first_conf_) +
                        " first, the other servers once a peer is up (tinc 1.0 can mix up "
                        "packet keys when a node connects to two at once)");
  dial_rest_timer_.expires_after(kFirstDialWait);
  dial_rest_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) dialTheRest("no peer up within 5 s");
  });
  return "";
}

void TincDriver::dialTheRest(const std::string& why) {
  if (!dialling_first_) return;
  auto* tincd = backends_.process(kId);
  // Only once tinc-up ran (a tincd still starting would die of SIGHUP): try again shortly.
  if (tincd && backends_.state(kId) != State::kRunning) {
    dial_rest_timer_.expires_after(std::chrono::milliseconds(200));
    dial_rest_timer_.async_wait([this, why](const boost::system::error_code& ec) {
      if (!ec) dialTheRest(why);
    });
    return;
  }
  dialling_first_ = false;
  dial_rest_timer_.cancel();
  const auto file = config_.paths.render_dir / "tinc" / "tinc.conf";
  // A reload meanwhile wrote the whole (new) file: that one stands.
  if (config::readSmallFile(file, 1024 * 1024) == first_conf_) {
    try {
      io::writeFileAtomically(file, full_conf_, 0644);
    } catch (const io::WriteError& e) {
      log(Level::kWarning, std::string("tinc: cannot restore tinc.conf: ") + e.what());
      return;
    }
  }
  if (!tincd) return;
  log(Level::kInfo, "tinc: dialling the other servers now (" + why + ")");
  tincd->signal(SIGHUP);  // tinc 1.0 re-reads ConnectTo and dials the new ones
}

void TincDriver::attached(std::uint64_t /*serial*/, bool adopted) {
  // Which peers are up? The host-up events went to the previous meshbroker.
  if (adopted) askNodeList();
}

bool TincDriver::consumeLine(std::string_view line) {
  // tincd's node list is an answer to our SIGUSR2, not news: into the journal at debug level,
  // not into the page's log tail.
  auto step = dump_.feed(line);
  if (step == backends::TincDumpReader::Step::kNotMine) return false;
  log(Level::kDebug, kId + ": " + std::string(line));
  if (step == backends::TincDumpReader::Step::kComplete)
    onNodeList(dump_.take(), dump_.malformed());
  return true;
}

void TincDriver::stateChanged(State state) {
  stale_watch_.setTincRunning(state == State::kRunning ? std::optional<TimePoint>(Clock::now())
                                                       : std::nullopt);
}

void TincDriver::onEvent(const backends::TincEvent& event) {
  switch (event.kind) {
    case backends::TincEventKind::kTincUp:
      log(Level::kInfo, "tinc: tinc-up ran");
      backends_.report(kId, 0, {EventKind::kReady, "tinc-up ran"});
      // A fresh tincd dials its ConnectTo peers once; if a peer still held the old connection
      // that dial fails and tinc waits 5 s. Nudge it until every peer is up.
      if (!config_.tinc.connect_to.empty()) retryConnections();
      return;
    case backends::TincEventKind::kTincDown:
      log(Level::kInfo, "tinc: tinc-down ran");
      return;
    case backends::TincEventKind::kHostUp:
    case backends::TincEventKind::kHostDown: {
      bool up = event.kind == backends::TincEventKind::kHostUp;
      auto& node = mesh_[event.node];
      const std::int64_t now_ms = wallClockMs();
      // Down within a second of up: tincd replacing a duplicate meta connection (both sides
      // dialled at once), not a peer that went away. Nudging then makes both sides dial again
      // at once, which makes the next duplicate: on a slow host (an ASan build) that loop never
      // ended (supervisor_adopt). tincd reconnects on its own here.
      const bool replaced = !up && node.up && now_ms - node.since_ms < 1000;
      node.up = up;
      node.remote_address = event.remote_address;
      node.since_ms = now_ms;
      if (up) mesh_up_at_[event.node] = Clock::now();
      const std::string what =
          event.node + (up ? " up" : " down") +
          (event.remote_address.empty() ? "" : " (" + event.remote_address + ")");
      log(Level::kInfo, "mesh: " + what);
      hooks_.record("mesh", what);
      if (up && dialling_first_) dialTheRest(event.node + " is up");
      bool dialled = false;
      for (const auto& target : config_.tinc.connect_to)
        dialled = dialled || target.str() == event.node;
      if (!up && dialled && !replaced) retryConnections();
      if (up) {
        bool all_up = true;
        for (const auto& target : config_.tinc.connect_to) {
          auto it = mesh_.find(target.str());
          all_up = all_up && it != mesh_.end() && it->second.up;
        }
        if (all_up) retries_left_ = 0;
        if (on_peer_up_) on_peer_up_(event.node);
      }
      hooks_.changed();
      return;
    }
    case backends::TincEventKind::kSubnetUp:
    case backends::TincEventKind::kSubnetDown:
      return;
  }
}

void TincDriver::askNodeList() {
  auto* tincd = backends_.process(kId);
  if (!tincd) return;
  // Only once it handles SIGUSR2 (a tincd still starting would die of it).
  if (backends::catchesSignal(tincd->pid(), SIGUSR2)) {
    tincd->signal(SIGUSR2);
  } else {
    log(Level::kInfo, "tinc: tincd does not handle SIGUSR2 yet; its node list is not asked");
  }
}

void TincDriver::onNodeList(const std::vector<backends::TincDumpNode>& nodes,
                            std::size_t malformed) {
  if (malformed > 0) {
    log(Level::kWarning, "tinc: " + std::to_string(malformed) +
                             " line(s) of tincd's node list not understood, skipped");
  }
  const std::int64_t now_ms = wallClockMs();
  int learned = 0;
  for (const auto& node : nodes) {
    if (node.myself || node.name == config_.name.str()) continue;
    auto [it, added] = mesh_.try_emplace(node.name);
    auto& known = it->second;
    if (!added && known.up == node.reachable) continue;  // host events already told us
    // "since" is when meshbroker learned it: tinc's list does not say since when.
    known.up = node.reachable;
    known.since_ms = now_ms;
    if (node.reachable) {
      known.remote_address = node.address;
      mesh_up_at_[node.name] = Clock::now();
    }
    ++learned;
    const std::string what = node.name + (node.reachable ? " up" : " down") +
                             (node.address.empty() ? "" : " (" + node.address + ")") +
                             ", from tincd's node list";
    // A node never reached is state, not news: no "down" event for it (the page shows it down).
    const bool news = node.reachable || !added;
    log(news ? Level::kInfo : Level::kDebug, "mesh: " + what);
    if (news) hooks_.record("mesh", what);
    if (node.reachable && on_peer_up_) on_peer_up_(node.name);
  }
  log(learned > 0 ? Level::kInfo : Level::kDebug, "tinc: node list read (" +
                                                      std::to_string(nodes.size()) + " nodes, " +
                                                      std::to_string(learned) + " learned)");
  if (learned > 0) hooks_.changed();
}

void TincDriver::watchStalePaths() {
  stale_tick_.start(std::chrono::seconds(1), std::chrono::seconds(1),
                    [this] { checkStalePaths(); });
}

void TincDriver::checkStalePaths() {
  if (backends_.state(kId) != State::kRunning) return;
  std::map<std::string, TimePoint> up_since;
  for (const auto& [peer, at] : mesh_up_at_) {
    if (auto node = mesh_.find(peer); node != mesh_.end() && node->second.up) up_since[peer] = at;
  }
  const auto paths = pathViews(
      monitor_ ? monitor_->lastReplies() : std::map<std::string, std::optional<TimePoint>>{},
      unanswered_servers_ ? unanswered_servers_() : std::map<std::string, TimePoint>{}, up_since);
  auto verdict = stale_watch_.evaluate(Clock::now(), paths);
  if (!verdict) return;
  log(Level::kWarning, "tinc: " + verdict->reason);
  hooks_.record("mesh", "restarting tincd: " + verdict->peer + " connected but silent for " +
                            std::to_string(verdict->silent_for.count() / 1000) + " s");
  backends_.report(kId, 0, {EventKind::kRestart, "stale path to " + verdict->peer});
}

// tinc 1.0 waits 5 s (growing) before re-dialling a lost ConnectTo peer; SIGALRM makes it try
// at once. A peer that just restarted is back within milliseconds, so nudge tincd a few times.
void TincDriver::retryConnections() {
  static constexpr std::array<int, 5> kDelaysMs = {20, 100, 300, 1000, 3000};
  retries_left_ = static_cast<int>(kDelaysMs.size());
  struct Nudge {
    TincDriver* self;
    std::size_t index;
    void operator()(const boost::system::error_code& ec) const {
      if (ec || self->retries_left_ <= 0) return;
      auto* tincd = self->backends_.process(kId);
      if (tincd && self->backends_.state(kId) == State::kRunning) tincd->signal(SIGALRM);
      --self->retries_left_;
      if (index + 1 < kDelaysMs.size()) {
        self->retry_timer_.expires_after(Duration(kDelaysMs[index + 1] - kDelaysMs[index]));
        self->retry_timer_.async_wait(Nudge{self, index + 1});
      }
    }
  };
  retry_timer_.expires_after(Duration(kDelaysMs[0]));
  retry_timer_.async_wait(Nudge{this, 0});
}

}  // namespace meshbroker::supervisor
