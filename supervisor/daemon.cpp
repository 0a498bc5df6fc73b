// The composition root of `meshbroker run`: see daemon.hpp.
#include "supervisor/daemon.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstring>

#include "config/loader.hpp"
#include "io/file_writer.hpp"
#include "io/log.hpp"
#include "network/overlay.hpp"
#include "supervisor/clock.hpp"
#include "supervisor/gateway_monitor.hpp"
#include "supervisor/privilege_setup.hpp"
#include "supervisor/reload_plan.hpp"
#include "supervisor/render_folder.hpp"
#include "supervisor/systemd_notify.hpp"
#include "supervisor/topology.hpp"
#include "templates/renderer.hpp"

namespace meshbroker::supervisor {

using io::Level;
using io::log;

namespace fs = std::filesystem;

Daemon::Daemon(asio::io_context& io, backends::ProcessLauncher& launcher, DaemonOptions options,
               config::NodeConfig config, const ServerSideFactory& server)
    : io_(io),
      launcher_(launcher),
      options_(std::move(options)),
      config_(std::move(config)),
      status_(io, runtime().statusFile(), web::BuildInfo{options_.version},
              {[this](model::Snapshot& s) { fill(s); },
               [this] {
                 auto failed = backends_.failed();
                 return failed.empty() ? std::string("running") : "FAILED backends: " + failed;
               }}),
      backends_(io, launcher, config_,
                {[this](const BackendId& id) { return makeDriver(id); }, partHooks().record,
                 partHooks().changed,
                 [this] {
                   if (shutting_down_ && backends_.allDown()) finishShutdown();
                 }}),
      tinc_(std::make_shared<TincDriver>(io, config_, backends_, partHooks())),
      network_(io, config_, partHooks()),
      server_(server ? server({io, config_, backends_, partHooks(), options_.config_file})
                     : nullptr),
      signals_(io),
      watchdog_(io),
      shutdown_deadline_(io) {}

Daemon::~Daemon() = default;

std::shared_ptr<BackendDriver> Daemon::makeDriver(const BackendId& id) {
  if (id.kind == BackendKind::kTinc) return tinc_;
  // start() and reload() refuse OpenVPN instances without a server side.
  if (!server_) throw std::logic_error("no server side for " + id.str());
  return server_->makeDriver(id);
}

std::string Daemon::withoutServerSide(const config::NodeConfig& config) const {
  if (server_) return "";
  if (config.role != config::Role::kGateway || !config.openvpn.empty()) {
    return "this meshbroker is built for the gateway role only (no OpenVPN, PKI or status "
           "server), but the config is a server's";
  }
  return "";
}

PartHooks Daemon::partHooks() {
  return {[this](std::string source, std::string what) { record(source, what); },
          [this] { changed(); }};
}

void Daemon::start() {
  started_ms_ = wallClockMs();
  if (auto why = withoutServerSide(config_); !why.empty()) throw std::runtime_error(why);
  network_.prepare();
  withNetwork(config_);
  if (server_) server_->prepare();
  // A newer document is applied like a SIGHUP (posted: it arrives inside the part's own call).
  tinc_->setOnPeerUp([this](const std::string& peer) { network_.peerUp(peer); });
  tinc_->setUnansweredServers([this] { return network_.unansweredServers(); });
  network_.setOnNewDocument([this] {
    asio::post(io_, [this] {
      log(Level::kNotice, "network: applying the new network document");
      reload();
    });
  });
  auto privileges = preparePrivileges(config_, options_.meshbroker_binary);
  hook_binary_ = privileges.hook_binary;
  tinc_->setUser(privileges.tinc_user);
  files_ = templates::renderNode(config_, {hook_binary_});
  topology_ = topologyOf(config_);
  // What backends left running by a killed meshbroker read, before this start rewrites it.
  auto on_disk = renderedOnDisk(config_.paths.render_dir, files_);
  writeRendered(config_.paths.render_dir, files_, nullptr);
  if (server_) server_->configured(nullptr);
  tinc_->open(runtime().tincEvents());
  if (privileges.tinc_user) checkTincCanRead(config_, *privileges.tinc_user);
  commands_ = daemonCommands({io_, backends_, status_, monitor_,
                              [this] {
                                reload();
                                return last_reload_;
                              },
                              [this] { handover(); },
                              [this](const std::string& name) {
                                auto why = network_.removeNode(name);
                                // The reload applies it here and signs the next version.
                                if (why.empty()) asio::post(io_, [this] { reload(); });
                                return why;
                              },
                              &network_});
  if (server_) server_->addCommands(commands_);
  control_ = std::make_unique<ControlSocket>(
      io_, runtime().controlSocket().string(),
      [this](const nlohmann::json& request, const ControlSocket::Reply& reply) {
        control(request, "control socket", reply);
      },
      [](const std::string& message) { log(Level::kWarning, message); });
  control_->open();

  waitForSignals();
  std::vector<std::string> ids;
  for (const auto& id : BackendSupervisor::wanted(config_)) ids.push_back(id.str());
  backends_.startOrAdopt(runtime(), planReload(on_disk, files_, ids, ids));
  // An adopted tincd ran an older tinc-up: hosts may have joined or left while we were away.
  if (backends_.state("tinc") == State::kRunning) keepNeighbours();
  if (monitor_) {
    monitor_->setLocalHold(backends_.state("tinc") != State::kRunning);
    monitor_->configure(config_);
    tinc_->attachMonitor(monitor_);
  }
  tinc_->watchStalePaths();
  network_.configure();
  if (auto watchdog = systemdWatchdogPeriod()) petWatchdog(*watchdog / 2);
  log(Level::kNotice, "meshbroker " + config_.name.str() + " (" +
                          std::string(config::toString(config_.role)) + ") started from " +
                          options_.config_file.string());
  notifySystemd("READY=1\nSTATUS=started; backends starting");
  if (config_observer_) config_observer_(config_);
  if (monitor_) status_.tickEverySecond();
  if (server_) server_->checkPki();
  changed();
}

void Daemon::petWatchdog(std::chrono::microseconds period) {
  watchdog_.expires_after(period);
  watchdog_.async_wait([this, period](const boost::system::error_code& ec) {
    if (ec) return;
    notifySystemd("WATCHDOG=1");
    petWatchdog(period);
  });
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

void Daemon::reload() {
  if (shutting_down_) return;
  model::ReloadSnapshot report;
  report.at_ms = wallClockMs();
  auto refuse = [&](const std::string& event, const char* status) {
    report.ok = false;
    record("reload", event);
    last_reload_ = report;
    if (status) notifySystemd(status);
    changed();
  };
  auto result = config::loadConfigFile(options_.config_file);
  for (const auto& problem : result.diagnostics.all()) {
    std::string line = options_.config_file.string() + ": " + problem.str();
    if (problem.severity == config::Diagnostic::Severity::kError) report.errors.push_back(line);
    log(problem.severity == config::Diagnostic::Severity::kError ? Level::kError : Level::kWarning,
        "reload: " + line);
  }
  if (result.config) withNetwork(*result.config);
  if (result.config) {
    if (auto why = withoutServerSide(*result.config); !why.empty()) {
      report.errors.push_back(why);
      log(Level::kError, "reload: " + why);
      result.config.reset();
    }
  }
  std::vector<model::RenderedFile> files;
  if (result.config) {
    try {
      files = templates::renderNode(*result.config, {hook_binary_});
    } catch (const templates::RenderError& e) {
      report.errors.push_back(std::string("cannot render: ") + e.what());
      result.config.reset();
    }
  }
  if (!result.config) {
    log(Level::kError, "reload: the new config is invalid; still running the old one unchanged");
    return refuse("refused: " + (report.errors.empty() ? std::string("invalid config")
                                                       : report.errors.front()),
                  "STATUS=reload failed: config invalid, old config still running");
  }
  std::vector<std::string> before, after;
  for (const auto& id : BackendSupervisor::wanted(config_)) before.push_back(id.str());
  for (const auto& id : BackendSupervisor::wanted(*result.config)) after.push_back(id.str());
  auto plan = planReload(files_, files, before, after);
  auto old_config = std::move(config_);
  config_ = std::move(*result.config);
  try {
    writeRendered(config_.paths.render_dir, files, &files_);
  } catch (const io::WriteError& e) {
    config_ = std::move(old_config);
    report.errors.push_back(e.what());
    log(Level::kError,
        std::string("reload: cannot write files: ") + e.what() + "; still running the old config");
    return refuse(std::string("failed: cannot write files: ") + e.what(), nullptr);
  }
  files_ = std::move(files);
  topology_ = topologyOf(config_);
  if (server_) server_->configured(&old_config);  // the firewall, reshaping, usage, quotas
  if (monitor_) monitor_->configure(config_);
  network_.configure();
  bool tinc_restarts = false;
  for (const auto& [id, action] : backends_.applyReload(std::move(plan))) {
    report.actions[id] = std::string(toString(action));
    if (id == "tinc")
      tinc_restarts = action == ReloadAction::kRestart || action == ReloadAction::kStart;
  }
  // A restarted tincd runs the new tinc-up, which sets them; a running one does not.
  if (!tinc_restarts && backends_.state("tinc") == State::kRunning) keepNeighbours();
  last_reload_ = report;
  record("reload", "config reloaded from " + options_.config_file.string());
  if (config_observer_) config_observer_(config_);
  notifySystemd("STATUS=reloaded");
  if (server_) server_->checkPki();  // instances (or the PKI folder) may have changed
  changed();
}

void Daemon::withNetwork(config::NodeConfig& config) {
  if (!config.network) return;
  // The registry runs the network it describes (its file, the nodes that joined, less the
  // removed ones); every other node the document it holds.
  std::optional<model::NetworkDocument> described;
  if (config.isRegistry()) described = network_.describe(config);
  const auto* document = described ? &*described : network_.held() ? &*network_.held() : nullptr;
  if (!document || document->network != config.network->name.str()) return;
  auto result = network::overlay(config, *document);
  const auto version = described ? std::string("the registry's network")
                                 : "version " + std::to_string(document->version);
  if (!result.errors.empty()) {
    const auto line =
        "network: " + version + " not applied: " + result.errors.front() +
        (result.errors.size() > 1 ? " (and " + std::to_string(result.errors.size() - 1) + " more)"
                                  : "");
    log(Level::kWarning, line);
    record("network", line);
    return;
  }
  auto names = [](const std::vector<std::string>& list) {
    std::string out;
    for (const auto& name : list) out += (out.empty() ? "" : ", ") + name;
    return out;
  };
  if (!result.added.empty()) {
    log(Level::kInfo, "network: " + version + " adds the hosts " + names(result.added));
  }
  if (!result.dropped.empty()) {
    log(Level::kNotice, "network: " + version + " removed " + names(result.dropped) +
                            " (named in " + options_.config_file.string() + "; left out)");
  }
  for (const auto& removed : document->removed) {
    if (removed == config.name.str()) {
      log(Level::kWarning, "network: this node was removed from " + document->network +
                               "; the other nodes refuse it");
    }
  }
  config = std::move(result.config);
}

void Daemon::keepNeighbours() {
  if (!neighbour_keeper_) return;
  const std::string device = config_.tinc.interface.str();
  try {
    auto plan = neighbour_keeper_(device, routing::meshNeighbours(config_));
    for (const auto& n : plan.replace)
      log(Level::kInfo, "mesh: permanent neighbour " + n.address.str() + " lladdr " + n.mac);
    for (const auto& n : plan.remove)
      log(Level::kInfo, "mesh: removed neighbour " + n.address.str() + " (no host has it now)");
  } catch (const std::runtime_error& e) {
    // ARP still resolves the hosts it could not pin; the next tincd start pins them.
    log(Level::kWarning,
        std::string("mesh: cannot update the permanent neighbours on ") + device + ": " + e.what());
    record("mesh", std::string("neighbours not updated: ") + e.what());
  }
}

void Daemon::beginStopping() {
  shutting_down_ = true;
  backends_.setStopping(true);
  notifySystemd("STOPPING=1");
  status_.stop();
  if (server_) server_->stop();
  network_.stop();
  backends_.forEachDriver([](BackendDriver& driver) { driver.stop(); });
  if (monitor_) monitor_->stop();  // routes stay in the kernel for the next start to adopt
}

void Daemon::handover() {
  if (shutting_down_) return;
  handing_over_ = true;
  beginStopping();
  // OpenVPN serves one management client: the next meshbroker is the next one.
  std::string kept = backends_.letGo();
  log(Level::kNotice, "handover: exiting for a restart; " +
                          (kept.empty() ? "no backend is running" : kept) +
                          " keep running with their routes, for the next meshbroker to adopt");
  finishShutdown();
}

void Daemon::shutdown() {
  if (shutting_down_) return;
  beginStopping();
  backends_.stopAll("shutdown");
  // Backstop: the state machines SIGKILL after stop_timeout; give them two of those.
  shutdown_deadline_.expires_after(Duration(2 * config_.supervisor.stop_timeout_ms + 1000));
  shutdown_deadline_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    log(Level::kError, "shutdown: backends did not stop in time; exiting anyway");
    io_.stop();
  });
  if (backends_.allDown()) finishShutdown();
}

void Daemon::finishShutdown() {
  if (finished_) return;
  finished_ = true;
  // Only now: stop listening. Kernel routes stay for the next start to adopt.
  shutdown_deadline_.cancel();
  watchdog_.cancel();
  signals_.cancel();
  tinc_->close();
  control_.reset();
  status_.removeFile();
  if (server_) server_->finish(handing_over_);  // last usage figures, the firewall table
  log(Level::kNotice, handing_over_ ? "meshbroker exited for a restart" : "meshbroker stopped");
  asio::post(io_, [this] { io_.stop(); });
}

void Daemon::fill(model::Snapshot& s) const {
  s.started_ms = started_ms_;
  s.daemon_pid = static_cast<int>(::getpid());
  s.node = config_.name.str();
  s.role = std::string(config::toString(config_.role));
  s.config_file = options_.config_file.string();
  s.openvpn.clear();
  s.mesh.clear();
  backends_.fill(s);  // backends, and each driver's part (mesh, OpenVPN clients)
  s.last_reload = last_reload_;
  s.health.reset();
  if (monitor_) s.health = monitor_->snapshot();
  s.topology = topology_;
  s.network = network_.state();
  if (server_) server_->fill(s);
}

void Daemon::changed() {
  if (monitor_ && !shutting_down_)
    monitor_->setLocalHold(backends_.state("tinc") != State::kRunning);
  status_.changed();
}

}  // namespace meshbroker::supervisor
