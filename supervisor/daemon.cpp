// The daemon: glue between the pure state machines and the real processes, sockets and files.
#include "supervisor/daemon.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <set>
#include <sstream>

#include "backends/command.hpp"
#include "backends/openvpn_management.hpp"
#include "backends/pki.hpp"
#include "config/loader.hpp"
#include "io/file_writer.hpp"
#include "io/log.hpp"
#include "model/pki_layout.hpp"
#include "supervisor/gateway_monitor.hpp"
#include "supervisor/reload_plan.hpp"
#include "supervisor/systemd_notify.hpp"
#include "supervisor/topology.hpp"
#include "templates/firewall.hpp"

namespace meshbroker::supervisor {

using io::Level;
using io::log;

namespace fs = std::filesystem;

struct Daemon::Backend {
  Backend(asio::io_context& io, std::string backend_id, std::string instance_name)
      : id(std::move(backend_id)),
        instance(std::move(instance_name)),
        timer(io),
        poll(io),
        shape(io) {}
  std::string id;
  std::string instance;  // OpenVPN instance name; empty for tinc
  backends::SpawnSpec spec;
  Machine machine;
  std::unique_ptr<backends::ChildProcess> child;
  std::uint64_t spawn_serial = 0;  // ignores exits of processes we already replaced
  std::uint64_t timer_serial = 0;  // ignores timer callbacks that were re-armed meanwhile
  asio::steady_timer timer;
  asio::steady_timer poll;   // OpenVPN status polling
  asio::steady_timer shape;  // OpenVPN rate limit, applied once its tun device exists
  bool shaped = false;
  std::unique_ptr<backends::OpenVpnManagement> management;
  std::deque<std::string> log;
  std::int64_t since_ms = 0;
  bool remove_when_down = false;
  bool adopted = false;  // the current process was left running by a previous meshbroker
};

namespace {

// meshbroker's nftables table goes in (or out) as one `nft -f -` transaction: on a failure
// nothing changed.
backends::CommandResult runNft(const fs::path& nft, const std::string& script) {
  return backends::runCommand(nft, {"-f", "-"}, script);
}

}  // namespace

Daemon::Daemon(asio::io_context& io, backends::ProcessLauncher& launcher, DaemonOptions options,
               config::NodeConfig config, backends::RateLimiter* rate_limiter)
    : io_(io),
      launcher_(launcher),
      rate_limiter_(rate_limiter),
      options_(std::move(options)),
      config_(std::move(config)),
      signals_(io),
      status_debounce_(io),
      watchdog_(io),
      shutdown_deadline_(io),
      tinc_retry_(io),
      publish_tick_(io),
      stale_tick_(io),
      crl_tick_(io),
      revocation_tick_(io) {}

Daemon::~Daemon() = default;

RestartPolicy Daemon::policy() const {
  const auto& s = config_.supervisor;
  return {Duration(s.restart_base_ms), Duration(s.restart_max_ms), Duration(s.healthy_after_ms),
          s.max_crashes};
}

Timeouts Daemon::timeouts() const {
  return {Duration(config_.supervisor.ready_timeout_ms),
          Duration(config_.supervisor.stop_timeout_ms)};
}

std::vector<std::string> Daemon::backendIds(const config::NodeConfig& config) const {
  std::vector<std::string> ids = {"tinc"};
  for (const auto& instance : config.openvpn) ids.push_back("openvpn-" + instance.name.str());
  return ids;
}

Daemon::Backend* Daemon::find(const std::string& id) {
  auto it = backends_.find(id);
  return it == backends_.end() ? nullptr : it->second.get();
}

backends::SpawnSpec Daemon::specFor(const Backend& backend) const {
  const auto& paths = config_.paths;
  backends::SpawnSpec spec;
  if (backend.id == "tinc") {
    spec = {config_.supervisor.tincd.string(),
            {"-c", (paths.render_dir / "tinc").string(), "-D",
             "--pidfile=" + model::RuntimeLayout{paths.runtime_dir}.tincPidFile().string(),
             "-d" + std::to_string(config_.supervisor.tinc_debug)},
            {}};
    // tincd drops root after tinc-up (which sets addresses and routes as root); its other
    // hooks then run as this user and reach us through the event socket.
    if (tinc_user_) spec.args.push_back("--user=" + tinc_user_->name);
  } else {
    spec = {config_.supervisor.openvpn.string(),
            {"--config", (paths.render_dir / "openvpn" / (backend.instance + ".conf")).string()},
            {}};
  }
  // Backends outlive a killed meshbroker, so the tunnels stay up; the next one adopts them.
  spec.survive_parent = true;
  spec.pid_file = model::RuntimeLayout{paths.runtime_dir}.backendPidFile(backend.id);
  spec.log_file = model::RuntimeLayout{paths.runtime_dir}.backendLogFile(backend.id);
  return spec;
}

Daemon::Backend& Daemon::addBackend(const std::string& id, const std::string& instance) {
  auto backend = std::make_unique<Backend>(io_, id, instance);
  backend->spec = specFor(*backend);
  backend->since_ms = wallClockMs();
  auto& ref = *backend;
  backends_[id] = std::move(backend);
  return ref;
}

void Daemon::start() {
  started_ms_ = wallClockMs();
  std::error_code ec;
  // Created here (not by systemd's RuntimeDirectory=): owner and group only.
  if (fs::create_directories(config_.paths.runtime_dir, ec)) {
    fs::permissions(config_.paths.runtime_dir,
                    fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec, ec);
  }
  if (ec) {
    throw std::runtime_error("cannot create runtime folder " + config_.paths.runtime_dir.string() +
                             ": " + ec.message());
  }
  preparePrivileges();
  files_ = templates::renderNode(config_, {hook_binary_});
  topology_ = topologyJson(config_);
  auto on_disk = renderedOnDisk();  // what backends left running by a killed meshbroker read
  writeFiles(files_, nullptr);
  applyFirewall();

  events_ = std::make_unique<backends::TincEventSocket>(
      io_, runtime().tincEvents().string(),
      [this](const backends::TincEvent& event) { onTincEvent(event); },
      [](const std::string& message) { log(Level::kWarning, message); });
  if (tinc_user_) events_->allowSender(tinc_user_->uid, tinc_user_->gid);
  events_->open();
  // tinc reads its host files (on each connection, on SIGHUP) after it dropped root.
  if (tinc_user_) {
    const auto tinc_dir = config_.paths.render_dir / "tinc";
    for (const auto& [path, want] : {std::pair{tinc_dir / "hosts", backends::Access::kExecute},
                                     std::pair{tinc_dir / "tinc.conf", backends::Access::kRead}}) {
      auto why = backends::whyUnreachable(path, *tinc_user_, want);
      if (!why.empty()) {
        throw std::runtime_error("tincd runs as " + tinc_user_->name + " (supervisor.tinc_user)" +
                                 " and must read its config after it drops root, but " + why);
      }
    }
  }
  control_ = std::make_unique<ControlSocket>(
      io_, runtime().controlSocket().string(),
      [this](const nlohmann::json& request, const ControlSocket::Reply& reply) {
        control(request, "control socket", reply);
      },
      [](const std::string& message) { log(Level::kWarning, message); });
  control_->open();

  waitForSignals();
  startOrAdopt(backendIds(config_), on_disk);
  if (monitor_) {
    Backend* tinc = find("tinc");
    monitor_->setLocalHold(!tinc || tinc->machine.state != State::kRunning);
    monitor_->configure(config_);
    armStalePathTick();
  }

  if (auto watchdog = systemdWatchdogPeriod()) {
    auto period = *watchdog / 2;
    struct Pet {
      Daemon* self;
      std::chrono::microseconds period;
      void operator()(const boost::system::error_code& ec) const {
        if (ec) return;
        supervisor::notifySystemd("WATCHDOG=1");
        self->watchdog_.expires_after(period);
        self->watchdog_.async_wait(*this);
      }
    };
    watchdog_.expires_after(period);
    watchdog_.async_wait(Pet{this, period});
  }
  log(Level::kNotice, "meshbroker " + config_.name.str() + " (" +
                          std::string(config::toString(config_.role)) + ") started from " +
                          options_.config_file.string());
  notifySystemd("READY=1\nSTATUS=started; backends starting");
  if (config_observer_) config_observer_(config_);
  armPublishTick();
  armCrlTick(std::chrono::seconds(0));
  armRevocationTick();
  changed();
}

void Daemon::preparePrivileges() {
  const auto& s = config_.supervisor;
  const auto user = [](const std::string& key, const std::string& name) {
    auto found = backends::findSystemUser(name);
    if (!found) {
      throw std::runtime_error(
          "supervisor." + key + ": there is no system user \"" + name +
          "\". The Debian package creates it; by hand: useradd --system --user-group "
          "--no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin " +
          name + " (or set \"" + key + "\": \"root\" to keep root, which is not recommended)");
    }
    return *found;
  };
  hook_binary_ = options_.meshbroker_binary;
  tinc_user_.reset();
  if (s.tinc_user == "root") {
    log(Level::kWarning, "tincd keeps root (supervisor.tinc_user is \"root\")");
  } else {
    tinc_user_ = user("tinc_user", s.tinc_user);
    // Its hooks must reach the event socket: the runtime folder lets its group in (search
    // only: it cannot list it, and status.json and the logs are not its group's).
    const auto& runtime_dir = config_.paths.runtime_dir;
    if (::chown(runtime_dir.c_str(), static_cast<uid_t>(-1), tinc_user_->gid) != 0 ||
        ::chmod(runtime_dir.c_str(), 0710) != 0) {
      throw std::runtime_error("cannot give " + tinc_user_->name + "'s group a way into " +
                               runtime_dir.string() + ": " + std::strerror(errno));
    }
    auto why = backends::whyUnreachable(runtime_dir, *tinc_user_, backends::Access::kSearch);
    if (!why.empty()) {
      throw std::runtime_error("tinc's hooks run as " + tinc_user_->name +
                               " and must reach the event socket, but " + why);
    }
    // ... and run meshbroker. A binary it cannot reach (a build under /root) is copied into
    // the runtime folder for the hooks.
    if (!options_.meshbroker_binary.empty() &&
        !backends::whyUnreachable(options_.meshbroker_binary, *tinc_user_,
                                  backends::Access::kExecute)
             .empty()) {
      const auto folder = runtime().hookBinaryDir();
      const auto copy = folder / "meshbroker";
      const auto temp = folder / "meshbroker.new";
      std::error_code ec;
      fs::create_directories(folder, ec);
      if (!ec) fs::permissions(folder, fs::perms(0755), ec);
      if (!ec)
        fs::copy_file(options_.meshbroker_binary, temp, fs::copy_options::overwrite_existing, ec);
      if (!ec) fs::permissions(temp, fs::perms(0755), ec);
      if (!ec) fs::rename(temp, copy, ec);
      if (ec) {
        throw std::runtime_error("tinc's hooks run as " + tinc_user_->name + ", which cannot run " +
                                 options_.meshbroker_binary.string() + ", and copying it to " +
                                 copy.string() + " failed: " + ec.message());
      }
      log(Level::kNotice, "tinc's hooks run " + copy.string() + ": " + tinc_user_->name +
                              " cannot run " + options_.meshbroker_binary.string());
      hook_binary_ = copy;
    }
  }
  if (s.openvpn_user == "root") {
    if (!config_.openvpn.empty()) {
      log(Level::kWarning, "openvpn keeps root (supervisor.openvpn_user is \"root\")");
    }
  } else if (!config_.openvpn.empty()) {
    (void)user("openvpn_user", s.openvpn_user);
  }
}

void Daemon::applyFirewall() {
  auto text = templates::renderFirewall(config_);
  if (text == firewall_applied_) return;
  const bool removing = text.empty();
  auto result = runNft(config_.supervisor.nft, removing ? templates::removeFirewall() : text);
  if (!result.ok) {
    // Connected people stay connected: the old table (or none) stays, and status says why.
    log(Level::kError,
        "firewall: nft refused meshbroker's table, the previous one stays: " + result.output);
    recordEvent("firewall", "nft failed: " + result.output.substr(0, 200));
    return;
  }
  firewall_applied_ = text;
  std::string what =
      removing ? "table inet meshbroker removed (no OpenVPN instance)"
               : "table inet meshbroker installed (per-source caps" +
                     std::string(config_.routing.forward_filter ? ", forward filter)"
                                                                : "; forward filter off)");
  log(Level::kNotice, "firewall: " + what);
  recordEvent("firewall", what);
}

void Daemon::recordEvent(std::string source, std::string what) {
  events_log_.push_back({wallClockMs(), std::move(source), std::move(what)});
  while (events_log_.size() > kEventHistory) events_log_.pop_front();
}

// RTT, loss and probe counters move without a state change: publish them every second.
void Daemon::armPublishTick() {
  if (!publisher_ || shutting_down_) return;
  publish_tick_.expires_after(std::chrono::seconds(1));
  publish_tick_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || shutting_down_) return;
    if (monitor_) {
      ++generation_;
      publish();
    }
    armPublishTick();
  });
}

void Daemon::publish() {
  if (publisher_) publisher_(snapshot());
}

void Daemon::writeFiles(const std::vector<templates::RenderedFile>& files,
                        const std::vector<templates::RenderedFile>* previous) {
  auto report = io::writeFiles(config_.paths.render_dir, files);
  for (const auto& path : report.changed) log(Level::kInfo, "rendered " + path.string());
  // Files the new config no longer makes (a removed host) must go, or tincd keeps using them.
  std::set<fs::path> wanted;
  for (const auto& file : files) wanted.insert(file.path);
  if (previous) {
    for (const auto& file : *previous) {
      if (!wanted.contains(file.path)) {
        std::error_code ec;
        fs::remove(config_.paths.render_dir / file.path, ec);
        log(Level::kInfo, "removed " + file.path.string());
      }
    }
  } else {
    std::error_code ec;
    // Scripts earlier versions rendered: tincd would still run them for every subnet event.
    for (const char* obsolete : {"subnet-up", "subnet-down"}) {
      if (fs::remove(config_.paths.render_dir / "tinc" / obsolete, ec)) {
        log(Level::kInfo, std::string("removed obsolete tinc/") + obsolete);
      }
    }
    auto hosts = config_.paths.render_dir / "tinc" / "hosts";
    for (const auto& entry : fs::directory_iterator(hosts, ec)) {
      auto relative = fs::path("tinc") / "hosts" / entry.path().filename();
      if (entry.is_regular_file() && !wanted.contains(relative)) {
        std::error_code rm;
        fs::remove(entry.path(), rm);
        log(Level::kInfo, "removed stale " + relative.string());
      }
    }
  }
}

void Daemon::waitForSignals() {
  if (!signals_added_) {
    signals_.add(SIGHUP);
    signals_.add(SIGTERM);
    signals_.add(SIGINT);
    signals_added_ = true;
  }
  signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    if (signal == SIGHUP) {
      log(Level::kNotice, "SIGHUP: reloading " + options_.config_file.string());
      reload();
    } else {
      log(Level::kNotice, std::string("signal ") + ::strsignal(signal) + ": shutting down");
      shutdown();
    }
    waitForSignals();
  });
}

void Daemon::dispatch(Backend& backend, Event event) {
  auto result = step(backend.machine, event, Clock::now(), policy(), timeouts());
  State before = backend.machine.state;
  backend.machine = result.next;
  if (before != backend.machine.state) {
    backend.since_ms = wallClockMs();
    std::string line = backend.id + ": " + std::string(toString(before)) + " -> " +
                       std::string(toString(backend.machine.state)) + " (" +
                       std::string(toString(event.kind)) +
                       (event.reason.empty() ? "" : ": " + event.reason) + ")";
    Level level = Level::kInfo;
    if (backend.machine.state == State::kFailed) {
      level = Level::kError;
      line += "; FAILED: " + backend.machine.failure +
              " (fix the cause, then reload or restart meshbroker)";
    } else if (event.kind == EventKind::kExited && !shutting_down_) {
      level = Level::kWarning;
    }
    log(level, line);
    recordEvent("backend", line);
  }
  apply(backend, result.actions);
  if (backend.machine.state == State::kDown && backend.remove_when_down) {
    backends_.erase(backend.id);  // `backend` dangles from here on
    changed();
    maybeFinishShutdown();
    return;
  }
  changed();
  maybeFinishShutdown();
}

void Daemon::apply(Backend& backend, const std::vector<Action>& actions) {
  for (const auto& action : actions) {
    switch (action.kind) {
      case ActionKind::kSpawn:
        spawn(backend);
        break;
      case ActionKind::kSendTerm:
        if (backend.child) backend.child->signal(SIGTERM);
        break;
      case ActionKind::kSendKill:
        if (backend.child) backend.child->signal(SIGKILL);
        break;
      case ActionKind::kSendHup:
        if (backend.child) backend.child->signal(SIGHUP);
        break;
      case ActionKind::kArmTimer: {
        auto serial = ++backend.timer_serial;
        backend.timer.expires_after(action.delay);
        backend.timer.async_wait(
            [this, id = backend.id, serial](const boost::system::error_code& ec) {
              Backend* b = find(id);
              if (ec || !b || b->timer_serial != serial) return;
              dispatch(*b, {EventKind::kTimeout, ""});
            });
        break;
      }
      case ActionKind::kCancelTimer:
        ++backend.timer_serial;
        backend.timer.cancel();
        break;
    }
  }
}

const config::OpenVpnInstance* Daemon::instanceConfig(const std::string& name) const {
  for (const auto& instance : config_.openvpn) {
    if (instance.name.str() == name) return &instance;
  }
  return nullptr;
}

// OpenVPN cannot start without its CA, certificate, key, CRL and tls-crypt key. meshbroker does
// not make a CA by itself (one CA serves the whole network: `client init` on the CA holder,
// then copy), so say exactly what is missing instead of letting openvpn fail obscurely.
std::string Daemon::missingPkiFile(const std::string& instance) const {
  model::PkiLayout pki{config_.paths.pki_dir};
  std::string server = model::serverCertName(config_.name.str(), instance);
  // What server.conf names: the instance's trust file (ca) and CRL file (crl-verify), not the
  // network CA and crl.pem alone.
  for (const auto& file :
       {pki.instanceTrust(instance), pki.instanceCrl(instance), pki.serverCert(server),
        pki.serverKey(server), pki.tlsCryptKey(instance)}) {
    std::error_code ec;
    if (!fs::exists(file, ec)) return file.string();
  }
  return "";
}

void Daemon::spawn(Backend& backend) {
  auto serial = ++backend.spawn_serial;
  std::string id = backend.id;
  if (backend.management) backend.management->close();
  backend.shaped = false;
  if (!backend.instance.empty()) {
    if (auto missing = missingPkiFile(backend.instance); !missing.empty()) {
      backend.child.reset();
      asio::post(io_, [this, id, serial, missing] {
        Backend* b = find(id);
        if (!b || b->spawn_serial != serial) return;
        dispatch(*b, {EventKind::kExited, "not started: " + missing +
                                              " is missing (run: meshbroker client init -c " +
                                              options_.config_file.string() + ")"});
      });
      return;
    }
    // A socket file left by a killed openvpn would make the new one fail to listen.
    std::error_code ec;
    fs::remove(templates::managementSocket(config_, *instanceConfig(backend.instance)), ec);
  }
  backend.adopted = false;
  backend.child = launcher_.spawn(
      backend.spec, [this, id](std::string_view line) { onChildLine(id, line); },
      exitHandler(id, serial));
  log(Level::kInfo, id + ": started pid " + std::to_string(backend.child->pid()));
  openManagement(backend, serial);
}

backends::ExitHandler Daemon::exitHandler(const std::string& id, std::uint64_t serial) {
  return [this, id, serial](const backends::ExitStatus& status) {
    Backend* b = find(id);
    if (!b || b->spawn_serial != serial) return;
    if (b->management) b->management->close();
    b->poll.cancel();
    if (!b->instance.empty()) openvpn_[b->instance].management_connected = false;
    dispatch(*b, {EventKind::kExited, status.reason});
  };
}

// OpenVPN is ready when its management interface answers (a new process or an adopted one).
void Daemon::openManagement(Backend& backend, std::uint64_t serial) {
  std::string id = backend.id;
  if (!backend.instance.empty() && instanceConfig(backend.instance)) {
    if (!backend.management) {
      backend.management = std::make_unique<backends::OpenVpnManagement>(
          io_, templates::managementSocket(config_, *instanceConfig(backend.instance)).string(),
          [id](const std::string& message) { log(Level::kWarning, id + ": " + message); });
    }
    backend.management->open(
        [this, id, serial] {
          Backend* b = find(id);
          if (!b || b->spawn_serial != serial) return;
          openvpn_[b->instance].management_connected = true;
          dispatch(*b, {EventKind::kReady, "management interface answered"});
          pollOpenVpn(id);
          shapeOpenVpn(id, 0);
        },
        // The client reconnects by itself (until the exit handler or the next spawn closes
        // it); on_ready above runs again when it is back.
        [this, id] {
          if (Backend* b = find(id)) openvpn_[b->instance].management_connected = false;
          changed();
        });
  }
}

// What the render folder holds before this start rewrites it: the files that backends left
// running by a killed meshbroker were started with (or last reloaded).
std::vector<templates::RenderedFile> Daemon::renderedOnDisk() const {
  std::vector<templates::RenderedFile> files;
  std::set<fs::path> seen;
  auto add = [&](const fs::path& relative) {
    if (!seen.insert(relative).second) return;
    auto path = config_.paths.render_dir / relative;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return;
    std::ifstream in(path, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    files.push_back({relative, content.str(), static_cast<unsigned>(st.st_mode & 07777)});
  };
  for (const auto& file : files_) add(file.path);
  std::error_code ec;
  for (const auto& entry :
       fs::directory_iterator(config_.paths.render_dir / "tinc" / "hosts", ec)) {
    add(fs::path("tinc") / "hosts" / entry.path().filename());
  }
  return files;
}

// A killed meshbroker (kill -9, OOM, crash) leaves its backends running, so the tunnels never
// drop; this one takes them over instead of starting new ones. What changed in the rendered
// files meanwhile is applied as a reload would. An OpenVPN instance the config no longer has
// is adopted only to be stopped.
void Daemon::startOrAdopt(const std::vector<std::string>& ids,
                          const std::vector<templates::RenderedFile>& on_disk) {
  auto plan = planReload(on_disk, files_, ids, ids);
  for (const auto& id : ids) {
    auto& backend = addBackend(id, id == "tinc" ? "" : id.substr(8));
    if (!adopt(backend, plan[id])) dispatch(backend, {EventKind::kStart, ""});
  }
  std::vector<std::string> leftovers;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(runtime().backendsDir(), ec)) {
    std::string id = entry.path().stem().string();
    if (entry.path().extension() == ".pid" && id.starts_with("openvpn-") && !find(id)) {
      leftovers.push_back(id);
    }
  }
  for (const auto& id : leftovers) {
    auto& backend = addBackend(id, id.substr(8));
    backend.remove_when_down = true;
    if (adopt(backend, ReloadAction::kNone)) {
      dispatch(backend, {EventKind::kStop, "removed from config"});
    } else {
      backends_.erase(id);
    }
  }
}

bool Daemon::adopt(Backend& backend, ReloadAction files_changed) {
  std::string id = backend.id;
  auto serial = ++backend.spawn_serial;
  std::string why_not;
  auto on_exit = exitHandler(id, serial);
  if (!backend.instance.empty() && !instanceConfig(backend.instance)) {  // a removed one
    on_exit = [this, on_exit, instance = backend.instance](const backends::ExitStatus& status) {
      on_exit(status);
      openvpn_.erase(instance);
      changed();
    };
  }
  backend.child = launcher_.adopt(
      backend.spec, [this, id](std::string_view line) { onChildLine(id, line); }, on_exit,
      &why_not);
  if (!backend.child) {
    if (!why_not.empty()) log(Level::kWarning, id + ": nothing adopted: " + why_not);
    return false;
  }
  backend.adopted = true;
  auto pid = std::to_string(backend.child->pid());
  log(Level::kNotice, id + ": adopted " + fs::path(backend.spec.executable).filename().string() +
                          " (pid " + pid + ") left running by a previous meshbroker");
  // tincd ran tinc-up long ago (within milliseconds of its start); OpenVPN's readiness is
  // asked again through its management interface.
  bool ready = backend.instance.empty();
  dispatch(backend, {EventKind::kAdopted, "pid " + pid, ready});
  openManagement(backend, serial);
  // Which peers are up? The host-up events went to the previous meshbroker.
  if (backend.instance.empty()) askTincNodeList();
  if (files_changed == ReloadAction::kSignal && ready) {
    log(Level::kInfo, id + ": rendered files changed while meshbroker was down: reload");
    dispatch(backend, {EventKind::kReload, "files changed while meshbroker was down"});
  } else if (files_changed == ReloadAction::kSignal || files_changed == ReloadAction::kRestart) {
    log(Level::kInfo, id + ": rendered files changed while meshbroker was down: restart");
    dispatch(backend, {EventKind::kRestart, "files changed while meshbroker was down"});
  }
  return true;
}

// The per-client limit of a public instance lives on its tun device, which OpenVPN creates a
// moment after its management interface answers, and anew at every restart: try until it holds.
void Daemon::shapeOpenVpn(const std::string& id, int attempt) {
  Backend* backend = find(id);
  if (!backend || !rate_limiter_ || backend->shaped) return;
  const auto* instance = instanceConfig(backend->instance);
  if (!instance || !instance->rate_limit) return;
  try {
    rate_limiter_->apply(backends::planRateLimit(*instance));
    backend->shaped = true;
    log(Level::kInfo, id + ": per-client rate limit applied on " + instance->interface.str());
    return;
  } catch (const std::exception& e) {
    if (attempt >= 50) {
      log(Level::kError, id + ": cannot apply the rate limit: " + e.what());
      return;
    }
  }
  backend->shape.expires_after(std::chrono::milliseconds(100));
  backend->shape.async_wait([this, id, attempt](const boost::system::error_code& ec) {
    if (!ec) shapeOpenVpn(id, attempt + 1);
  });
}

void Daemon::pollOpenVpn(const std::string& id) {
  Backend* backend = find(id);
  if (!backend || !backend->management || !backend->management->connected()) return;
  backend->management->status([this, id](const backends::StatusReport& report) {
    Backend* b = find(id);
    // No reply (the connection dropped): keep the last list and its time, which says how old
    // it is, rather than claim a fresh empty one.
    if (!b || !report.complete) return;
    auto& instance = openvpn_[b->instance];
    instance.clients = report.clients;
    instance.updated_ms = wallClockMs();
    instance.problems.clear();
    for (const auto& problem : report.problems) {
      instance.problems.push_back(problem.str());
      log(Level::kWarning, id + ": management status: " + problem.str());
    }
    changed();
  });
  backend->poll.expires_after(Duration(config_.supervisor.openvpn_status_interval_ms));
  backend->poll.async_wait([this, id](const boost::system::error_code& ec) {
    if (!ec) pollOpenVpn(id);
  });
}

void Daemon::onChildLine(const std::string& id, std::string_view line) {
  if (id == "tinc") {
    // tincd's node list is an answer to our SIGUSR2, not news: into the journal at debug level,
    // not into the page's log tail.
    auto step = tinc_dump_.feed(line);
    if (step != backends::TincDumpReader::Step::kNotMine) {
      log(Level::kDebug, id + ": " + std::string(line));
      if (step == backends::TincDumpReader::Step::kComplete) {
        onTincNodeList(tinc_dump_.take(), tinc_dump_.malformed());
      }
      return;
    }
  }
  log(Level::kInfo, id + ": " + std::string(line));
  Backend* backend = find(id);
  if (!backend) return;
  backend->log.emplace_back(line);
  while (backend->log.size() > static_cast<std::size_t>(config_.supervisor.log_lines)) {
    backend->log.pop_front();
  }
  changed();
}

void Daemon::onTincEvent(const backends::TincEvent& event) {
  Backend* tinc = find("tinc");
  switch (event.kind) {
    case backends::TincEventKind::kTincUp:
      log(Level::kInfo, "tinc: tinc-up ran");
      if (tinc) dispatch(*tinc, {EventKind::kReady, "tinc-up ran"});
      // A fresh tincd dials its ConnectTo peers once; if a peer still held the old connection
      // that dial fails and tinc waits 5 s. Nudge it until every peer is up.
      if (!config_.tinc.connect_to.empty()) retryTincConnections();
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
      recordEvent("mesh", what);
      bool dialled = false;
      for (const auto& target : config_.tinc.connect_to)
        dialled = dialled || target.str() == event.node;
      if (!up && dialled && !replaced) retryTincConnections();
      if (up) {
        bool all_up = true;
        for (const auto& target : config_.tinc.connect_to) {
          auto it = mesh_.find(target.str());
          all_up = all_up && it != mesh_.end() && it->second.up;
        }
        if (all_up) tinc_retries_left_ = 0;
      }
      changed();
      return;
    }
    case backends::TincEventKind::kSubnetUp:
    case backends::TincEventKind::kSubnetDown:
      return;
  }
}

void Daemon::askTincNodeList() {
  Backend* tinc = find("tinc");
  if (!tinc || !tinc->child) return;
  // Only once it handles SIGUSR2 (a tincd still starting would die of it).
  if (backends::catchesSignal(tinc->child->pid(), SIGUSR2)) {
    tinc->child->signal(SIGUSR2);
  } else {
    log(Level::kInfo, "tinc: tincd does not handle SIGUSR2 yet; its node list is not asked");
  }
}

void Daemon::onTincNodeList(const std::vector<backends::TincDumpNode>& nodes,
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
    log(Level::kInfo, "mesh: " + what);
    recordEvent("mesh", what);
  }
  log(learned > 0 ? Level::kInfo : Level::kDebug, "tinc: node list read (" +
                                                      std::to_string(nodes.size()) + " nodes, " +
                                                      std::to_string(learned) + " learned)");
  if (learned > 0) changed();
}

void Daemon::armStalePathTick() {
  if (shutting_down_) return;
  stale_tick_.expires_after(std::chrono::seconds(1));
  stale_tick_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || shutting_down_) return;
    checkStalePaths();
    armStalePathTick();
  });
}

void Daemon::armCrlTick(std::chrono::seconds after) {
  if (shutting_down_) return;
  crl_tick_.expires_after(after);
  crl_tick_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || shutting_down_) return;
    checkCrl();
    armCrlTick(std::chrono::hours(1));
  });
}

void Daemon::checkCrl() {
  model::PkiSnapshot now;
  if (!config_.openvpn.empty()) {
    now.checked = true;
    backends::Pki pki(config_.paths.pki_dir);
    try {
      if (pki.refreshCrlIfDue()) {
        log(Level::kNotice, "pki: CRLs refreshed in " + config_.paths.pki_dir.string() +
                                " (valid 30 days; the other servers need the copies)");
        recordEvent("pki", "CRLs refreshed");
      }
      now.crl_next_update = pki.crlNextUpdate();
      now.advice = backends::crlAdvice(now.crl_next_update, wallClockMs() / 1000, pki.holdsCaKey());
    } catch (const backends::PkiError& e) {
      now.advice = std::string("cannot check the CRLs: ") + e.what();
    }
    // Hourly while something is wrong: an expired CRL locks every user out.
    if (!now.advice.empty()) log(Level::kWarning, "pki: " + now.advice);
    if (now.advice.empty() && !pki_.advice.empty())
      log(Level::kNotice, "pki: the CRLs are current");
  }
  bool differs = now.checked != pki_.checked || now.crl_next_update != pki_.crl_next_update ||
                 now.advice != pki_.advice;
  pki_ = std::move(now);
  if (differs) changed();
}

void Daemon::armRevocationTick() {
  if (shutting_down_) return;
  revocation_tick_.expires_after(std::chrono::seconds(1));
  revocation_tick_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || shutting_down_) return;
    checkRevocations();
    armRevocationTick();
  });
}

void Daemon::checkRevocations() {
  model::PkiLayout pki{config_.paths.pki_dir};
  for (const auto& [id, backend] : backends_) {
    if (backend->instance.empty()) continue;
    auto file = pki.instanceCrl(backend->instance);
    struct ::stat st {};
    std::array<std::int64_t, 3> stamp{};
    if (::stat(file.c_str(), &st) == 0) {
      stamp = {static_cast<std::int64_t>(st.st_ino), static_cast<std::int64_t>(st.st_size),
               static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
    }
    auto& seen = crl_seen_[backend->instance];
    if (stamp == seen) continue;
    // Acted on only with a management connection: until then the next tick tries again (a
    // change seen at start also ends sessions an adopted openvpn kept through a revocation).
    if (!backend->management || !backend->management->connected()) continue;
    seen = stamp;
    std::ifstream in(file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    std::set<std::string> names;
    for (const auto& [serial, name] : backends::revokedNamesIn(text.str())) names.insert(name);
    if (!names.empty()) endRevokedSessions(id, names);
  }
}

void Daemon::endRevokedSessions(const std::string& id, const std::set<std::string>& names) {
  Backend* backend = find(id);
  if (!backend || !backend->management) return;
  backend->management->status([this, id, names](const backends::StatusReport& report) {
    Backend* b = find(id);
    if (!b || !b->management || !report.complete) return;
    for (const auto& client : report.clients) {
      if (!names.count(client.common_name)) continue;
      // client-kill CID ends this one session; kill NAME would end every session of the name.
      std::string command = client.client_id ? "client-kill " + std::to_string(*client.client_id)
                                             : "kill " + client.common_name;
      std::string who = client.common_name + " (" + client.real_address + ")";
      b->management->command(
          command, false, [this, id, who](bool ok, const std::vector<std::string>& reply) {
            if (ok) {
              log(Level::kNotice,
                  id + ": ended the session of " + who + ": revoked in the CRL file");
              recordEvent("operator", id + ": ended a revoked session");
              changed();
            } else {
              log(Level::kWarning, id + ": could not end the session of " + who + ": " +
                                       (reply.empty() ? std::string("no reply") : reply[0]));
            }
          });
    }
  });
}

void Daemon::checkStalePaths() {
  Backend* tinc = find("tinc");
  if (!monitor_ || !tinc || tinc->machine.state != State::kRunning) return;
  std::vector<PathView> paths;
  for (const auto& [peer, last_reply] : monitor_->lastReplies()) {
    PathView view;
    view.peer = peer;
    auto node = mesh_.find(peer);
    auto up_at = mesh_up_at_.find(peer);
    view.mesh_up = node != mesh_.end() && node->second.up && up_at != mesh_up_at_.end();
    if (view.mesh_up) view.mesh_up_since = up_at->second;
    view.last_reply = last_reply;
    paths.push_back(std::move(view));
  }
  auto verdict = stale_watch_.evaluate(Clock::now(), paths);
  if (!verdict) return;
  log(Level::kWarning, "tinc: " + verdict->reason);
  recordEvent("mesh", "restarting tincd: " + verdict->peer + " connected but silent for " +
                          std::to_string(verdict->silent_for.count() / 1000) + " s");
  dispatch(*tinc, {EventKind::kRestart, "stale path to " + verdict->peer});
}

// tinc 1.0 waits 5 s (growing) before re-dialling a lost ConnectTo peer; SIGALRM makes it try
// at once. A peer that just restarted is back within milliseconds, so nudge tincd a few times.
void Daemon::retryTincConnections() {
  static constexpr std::array<int, 5> kDelaysMs = {20, 100, 300, 1000, 3000};
  tinc_retries_left_ = static_cast<int>(kDelaysMs.size());
  struct Nudge {
    Daemon* self;
    std::size_t index;
    void operator()(const boost::system::error_code& ec) const {
      if (ec || self->tinc_retries_left_ <= 0) return;
      Backend* tinc = self->find("tinc");
      if (tinc && tinc->child && tinc->machine.state == State::kRunning) {
        tinc->child->signal(SIGALRM);
      }
      --self->tinc_retries_left_;
      if (index + 1 < kDelaysMs.size()) {
        self->tinc_retry_.expires_after(Duration(kDelaysMs[index + 1] - kDelaysMs[index]));
        self->tinc_retry_.async_wait(Nudge{self, index + 1});
      }
    }
  };
  tinc_retry_.expires_after(Duration(kDelaysMs[0]));
  tinc_retry_.async_wait(Nudge{this, 0});
}

namespace {

std::string stringField(const nlohmann::json& request, const char* key) {
  auto it = request.find(key);
  return it != request.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

void Daemon::control(const nlohmann::json& request, const std::string& caller,
                     const ControlSocket::Reply& reply) {
  std::string command = stringField(request, "command");
  auto error = [&reply](const std::string& message) { reply({{"ok", false}, {"error", message}}); };
  if (command == "status") {
    nlohmann::json answer = {{"ok", true}, {"status", toJson(snapshot())}};
    if (status_document_) answer["api"] = status_document_();
    reply(answer);
  } else if (command == "openvpn") {
    std::string instance = stringField(request, "instance");
    std::string line = stringField(request, "line");
    Backend* backend = find("openvpn-" + instance);
    if (instance.empty() || !backend)
      return error("no OpenVPN instance named \"" + instance + "\"");
    if (!backends::allowedManagementCommand(line)) {
      return error("management command not allowed (status, kill NAME, client-kill ID)");
    }
    if (!backend->management || !backend->management->connected()) {
      return error("openvpn-" + instance + " is not connected (state " +
                   std::string(toString(backend->machine.state)) + ")");
    }
    log(Level::kNotice, "control (" + caller + "): openvpn-" + instance + ": " + line);
    if (!line.starts_with("status")) {
      recordEvent("operator", "openvpn-" + instance + ": " + line + " (" + caller + ")");
    }
    backend->management->command(line, line.starts_with("status"),
                                 [reply](bool ok, const std::vector<std::string>& lines) {
                                   reply({{"ok", ok}, {"lines", lines}});
                                 });
  } else if (command == "restart") {
    std::string id = stringField(request, "backend");
    Backend* backend = find(id);
    if (!backend) return error("no backend named \"" + id + "\"");
    log(Level::kNotice, "control (" + caller + "): restart " + id);
    recordEvent("operator", "restart " + id + " (" + caller + ")");
    bool idle = backend->machine.state == State::kFailed || backend->machine.state == State::kDown;
    dispatch(*backend, {idle ? EventKind::kStart : EventKind::kRestart, "operator request"});
    reply({{"ok", true}});
  } else if (command == "reload") {
    reload();
    reply({{"ok", last_reload_.ok}, {"errors", last_reload_.errors}});
  } else if (command == "handover") {
    log(Level::kNotice, "control (" + caller + "): handover");
    reply({{"ok", true}, {"pid", static_cast<int>(::getpid())}});
    asio::post(io_, [this] { handover(); });  // after the reply is on its way
  } else if (command == "routes") {
    if (!monitor_) return error("health checks and routes are not running");
    reply({{"ok", true}, {"changes", monitor_->dryRun()}, {"health", monitor_->toJson()}});
  } else if (command == "drain" || command == "undrain") {
    std::string peer = stringField(request, "gateway");
    if (!monitor_ || !monitor_->drain(peer, command == "drain")) {
      return error("no probed gateway named \"" + peer + "\"");
    }
    log(Level::kNotice, "control (" + caller + "): " + command + " " + peer);
    recordEvent("operator", command + " " + peer + " (" + caller + ")");
    reply({{"ok", true}});
  } else {
    error("unknown command (status, openvpn, restart, reload, handover, routes, drain, undrain)");
  }
}

void Daemon::reload() {
  if (shutting_down_) return;
  model::ReloadSnapshot report;
  report.at_ms = wallClockMs();
  auto result = config::loadConfigFile(options_.config_file);
  for (const auto& problem : result.diagnostics.all()) {
    std::string line = options_.config_file.string() + ": " + problem.str();
    if (problem.severity == config::Diagnostic::Severity::kError) report.errors.push_back(line);
    log(problem.severity == config::Diagnostic::Severity::kError ? Level::kError : Level::kWarning,
        "reload: " + line);
  }
  std::vector<templates::RenderedFile> files;
  if (result.config) {
    try {
      files = templates::renderNode(*result.config, {hook_binary_});
    } catch (const templates::RenderError& e) {
      report.errors.push_back(std::string("cannot render: ") + e.what());
      result.config.reset();
    }
  }
  if (!result.config) {
    report.ok = false;
    log(Level::kError, "reload: the new config is invalid; still running the old one unchanged");
    recordEvent("reload", "refused: " + (report.errors.empty() ? std::string("invalid config")
                                                               : report.errors.front()));
    last_reload_ = report;
    notifySystemd("STATUS=reload failed: config invalid, old config still running");
    changed();
    return;
  }
  auto plan = planReload(files_, files, backendIds(config_), backendIds(*result.config));
  auto old_config = std::move(config_);
  config_ = std::move(*result.config);
  try {
    writeFiles(files, &files_);
  } catch (const io::WriteError& e) {
    config_ = std::move(old_config);
    report.ok = false;
    report.errors.push_back(e.what());
    log(Level::kError,
        std::string("reload: cannot write files: ") + e.what() + "; still running the old config");
    recordEvent("reload", std::string("failed: cannot write files: ") + e.what());
    last_reload_ = report;
    changed();
    return;
  }
  files_ = std::move(files);
  topology_ = topologyJson(config_);
  applyFirewall();
  reshapeAfterReload(old_config);
  if (monitor_) monitor_->configure(config_);
  for (auto& [id, action] : plan) {
    Backend* backend = find(id);
    if (backend && action != ReloadAction::kStop) {
      auto spec = specFor(*backend);
      if (spec.executable != backend->spec.executable || spec.args != backend->spec.args) {
        action = ReloadAction::kRestart;  // e.g. a new tincd path or debug level
      }
      backend->spec = spec;
    }
    report.actions[id] = std::string(toString(action));
    log(Level::kInfo, "reload: " + id + ": " + std::string(toString(action)));
    switch (action) {
      case ReloadAction::kNone:
        break;
      case ReloadAction::kSignal:
        if (backend) dispatch(*backend, {EventKind::kReload, "config reloaded"});
        break;
      case ReloadAction::kRestart:
        if (backend) dispatch(*backend, {EventKind::kRestart, "config changed"});
        break;
      case ReloadAction::kStart:
        dispatch(addBackend(id, id == "tinc" ? "" : id.substr(8)), {EventKind::kStart, "new"});
        break;
      case ReloadAction::kStop:
        if (backend) {
          backend->remove_when_down = true;
          openvpn_.erase(backend->instance);
          dispatch(*backend, {EventKind::kStop, "removed from config"});
        }
        break;
    }
  }
  last_reload_ = report;
  recordEvent("reload", "config reloaded from " + options_.config_file.string());
  if (config_observer_) config_observer_(config_);
  notifySystemd("STATUS=reloaded");
  armCrlTick(std::chrono::seconds(0));  // instances (or the PKI folder) may have changed
  changed();
}

// A changed rate limit needs no OpenVPN restart: apply the new one (or clear the old one).
void Daemon::reshapeAfterReload(const config::NodeConfig& old_config) {
  if (!rate_limiter_) return;
  for (const auto& before : old_config.openvpn) {
    const auto* after = instanceConfig(before.name.str());
    bool same = after && after->rate_limit == before.rate_limit &&
                after->interface == before.interface && after->subnet == before.subnet;
    if (same) continue;
    if (before.rate_limit) {
      try {
        rate_limiter_->clear(backends::planRateLimit(before));
      } catch (const std::exception& e) {
        log(Level::kWarning, "reload: clearing the old rate limit: " + std::string(e.what()));
      }
    }
    if (Backend* backend = find("openvpn-" + before.name.str())) {
      backend->shaped = false;
      if (backend->machine.state == State::kRunning) shapeOpenVpn(backend->id, 0);
    }
  }
}

void Daemon::cancelTimers() {
  tinc_retries_left_ = 0;
  tinc_retry_.cancel();
  publish_tick_.cancel();
  stale_tick_.cancel();
  crl_tick_.cancel();
  revocation_tick_.cancel();
}

void Daemon::handover() {
  if (shutting_down_) return;
  shutting_down_ = true;
  handing_over_ = true;
  notifySystemd("STOPPING=1");
  cancelTimers();
  if (monitor_) monitor_->stop();  // routes stay in the kernel for the next start to adopt
  std::string kept;
  for (const auto& [id, backend] : backends_) {
    // OpenVPN serves one management client: the next meshbroker is the next one.
    if (backend->management) backend->management->close();
    backend->poll.cancel();
    if (backend->child) {
      kept +=
          (kept.empty() ? "" : ", ") + id + " (pid " + std::to_string(backend->child->pid()) + ")";
    }
  }
  log(Level::kNotice, "handover: exiting for a restart; " +
                          (kept.empty() ? "no backend is running" : kept) +
                          " keep running with their routes, for the next meshbroker to adopt");
  finishShutdown();
}

void Daemon::shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  notifySystemd("STOPPING=1");
  cancelTimers();
  if (monitor_) monitor_->stop();  // routes stay in the kernel for the next start to adopt
  std::vector<std::string> ids;
  for (const auto& [id, backend] : backends_) ids.push_back(id);
  for (const auto& id : ids) {
    if (Backend* backend = find(id)) {
      backend->remove_when_down = true;
      if (backend->management) backend->management->close();
      backend->poll.cancel();
      dispatch(*backend, {EventKind::kStop, "shutdown"});
    }
  }
  // Backstop: the state machines SIGKILL after stop_timeout; give them two of those.
  shutdown_deadline_.expires_after(Duration(2 * config_.supervisor.stop_timeout_ms + 1000));
  shutdown_deadline_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    log(Level::kError, "shutdown: backends did not stop in time; exiting anyway");
    io_.stop();
  });
  maybeFinishShutdown();
}

void Daemon::maybeFinishShutdown() {
  if (!shutting_down_) return;
  for (const auto& [id, backend] : backends_) {
    if (backend->machine.state != State::kDown && backend->machine.state != State::kFailed) return;
  }
  finishShutdown();
}

void Daemon::finishShutdown() {
  // Only now: stop listening. Kernel routes stay for the next start to adopt.
  shutdown_deadline_.cancel();
  status_debounce_.cancel();
  watchdog_.cancel();
  signals_.cancel();
  events_.reset();
  control_.reset();
  std::error_code ec;
  fs::remove(runtime().statusFile(), ec);
  // The backends it guarded are stopped: so is the table (a crash leaves it for the next start,
  // and so does a handover: the backends it guards keep running).
  if (!firewall_applied_.empty() && !handing_over_) {
    auto removed = runNft(config_.supervisor.nft, templates::removeFirewall());
    if (removed.ok) {
      log(Level::kInfo, "firewall: table inet meshbroker removed");
    } else {
      log(Level::kError, "firewall: cannot remove table inet meshbroker: " + removed.output);
    }
  }
  log(Level::kNotice, handing_over_ ? "meshbroker exited for a restart" : "meshbroker stopped");
  asio::post(io_, [this] { io_.stop(); });
}

const model::Snapshot& Daemon::snapshot() {
  snapshot_.generation = generation_;
  snapshot_.updated_ms = wallClockMs();
  snapshot_.started_ms = started_ms_;
  snapshot_.daemon_pid = static_cast<int>(::getpid());
  snapshot_.node = config_.name.str();
  snapshot_.role = std::string(config::toString(config_.role));
  snapshot_.config_file = options_.config_file.string();
  snapshot_.backends.clear();
  for (const auto& [id, backend] : backends_) {
    const auto& m = backend->machine;
    bool has_process =
        m.state == State::kStarting || m.state == State::kRunning || m.state == State::kStopping;
    snapshot_.backends.push_back(
        {id, std::string(toString(m.state)),
         has_process && backend->child ? backend->child->pid() : 0, m.restarts, m.crashes,
         backend->since_ms, m.last_exit, m.failure,
         std::vector<std::string>(backend->log.begin(), backend->log.end())});
    snapshot_.backends.back().adopted = has_process && backend->adopted;
  }
  snapshot_.mesh = mesh_;
  snapshot_.openvpn = openvpn_;
  snapshot_.last_reload = last_reload_;
  snapshot_.pki = pki_;
  snapshot_.health = monitor_ ? monitor_->toJson() : nlohmann::json(nullptr);
  snapshot_.events.assign(events_log_.begin(), events_log_.end());
  snapshot_.topology = topology_;
  return snapshot_;
}

void Daemon::changed() {
  ++generation_;
  if (monitor_ && !shutting_down_) {
    Backend* tinc = find("tinc");
    const bool running = tinc && tinc->machine.state == State::kRunning;
    monitor_->setLocalHold(!running);
    stale_watch_.setTincRunning(running ? std::optional<TimePoint>(Clock::now()) : std::nullopt);
  }
  if (status_pending_ || shutting_down_) return;
  status_pending_ = true;
  status_debounce_.expires_after(std::chrono::milliseconds(50));
  status_debounce_.async_wait([this](const boost::system::error_code& ec) {
    status_pending_ = false;
    if (!ec) {
      writeStatusFile();
      publish();
    }
  });
}

void Daemon::writeStatusFile() {
  try {
    io::writeFileAtomically(runtime().statusFile(), toJson(snapshot()).dump(2) + "\n",
                            0640);  // users' names
  } catch (const std::exception& e) {
    log(Level::kWarning, std::string("cannot write status.json: ") + e.what());
  }
  std::string failed;
  for (const auto& [id, backend] : backends_) {
    if (backend->machine.state == State::kFailed) failed += (failed.empty() ? "" : ", ") + id;
  }
  notifySystemd(failed.empty() ? "STATUS=running" : "STATUS=FAILED backends: " + failed);
}

void Daemon::notifySystemd(const std::string& text) { supervisor::notifySystemd(text); }

}  // namespace meshbroker::supervisor
