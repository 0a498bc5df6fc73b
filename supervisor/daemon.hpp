// `meshbroker run`'s composition root: wires the parts (backend supervisor and its drivers,
// status publisher, control commands, gateway monitor, network document and, on a server, the
// server side: OpenVPN, CRL watch, usage, quota, firewall) to the config, the signals and
// systemd, and runs start, reload, shutdown and handover. The parts do the work.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "backends/process.hpp"
#include "config/model.hpp"
#include "io/asio.hpp"
#include "model/rendered_file.hpp"
#include "model/runtime_layout.hpp"
#include "model/snapshot.hpp"
#include "routing/static_routes.hpp"
#include "supervisor/backend_supervisor.hpp"
#include "supervisor/clock.hpp"
#include "supervisor/control_commands.hpp"
#include "supervisor/control_socket.hpp"
#include "supervisor/network_sync.hpp"
#include "supervisor/server_side.hpp"
#include "supervisor/status_publisher.hpp"
#include "supervisor/tinc_driver.hpp"

namespace meshbroker::supervisor {

class GatewayMonitor;

struct DaemonOptions {
  std::filesystem::path config_file;
  std::filesystem::path meshbroker_binary;  // what the rendered tinc hooks call
  std::string version = "";                 // shown in the status document
};

class Daemon {
 public:
  // Called on the event loop with each new snapshot (after changes, and every second while
  // gateways are probed, so RTT and loss stay fresh). The web server copies it from here.
  using Publisher = StatusPublisher::Publisher;
  // Called on the event loop with the config at start and after every successful reload.
  using ConfigObserver = std::function<void(const config::NodeConfig&)>;

  // server makes the server side (OpenVPN instances, CRLs, usage, quotas, the firewall);
  // without one (a gateway-only build, unit tests of a gateway) only a gateway's config runs:
  // start() throws std::runtime_error for a server's, reload() refuses it.
  Daemon(asio::io_context& io, backends::ProcessLauncher& launcher, DaemonOptions options,
         config::NodeConfig config, const ServerSideFactory& server = {});
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Renders the files, opens the tinc event socket, starts (or adopts) every backend and
  // listens for SIGHUP/SIGTERM/SIGINT. Throws std::runtime_error when it cannot start at all.
  void start();
  // SIGHUP: load and validate the config again; keep running the old one if it is invalid;
  // otherwise touch only the backends whose files changed.
  void reload();
  // SIGTERM/SIGINT: stop every backend (SIGTERM, then SIGKILL), then stop the loop.
  void shutdown();
  // A restart or an upgrade (control command "handover", sent by the unit's ExecStop when
  // systemd restarts it): exit and leave tincd, openvpn, their routes and the firewall table
  // running for the next meshbroker to adopt, as after kill -9 but cleanly.
  void handover();

  const model::Snapshot& snapshot() { return status_.snapshot(); }

  // Health checks and routes (optional; set before start()): configured at start and reload,
  // held while our tincd is not running, shown in status, driven by control requests.
  void attachMonitor(GatewayMonitor* monitor) { monitor_ = monitor; }
  // Sets the mesh interface's permanent neighbours (switch mode) to the hosts the config has
  // after a reload or an adoption, what tinc-up does at start: returns what it changed, throws
  // std::runtime_error. Optional (unit tests leave the kernel alone); set before start().
  using NeighbourKeeper = std::function<routing::NeighbourPlan(
      const std::string& device, const std::vector<routing::Neighbour>& desired)>;
  void setNeighbourKeeper(NeighbourKeeper keeper) { neighbour_keeper_ = std::move(keeper); }
  // Something in the state changed: bump the generation, write status.json soon.
  void changed();
  // Both optional; set before start().
  void setPublisher(Publisher publisher) { status_.setPublisher(std::move(publisher)); }
  void setConfigObserver(ConfigObserver observer) { config_observer_ = std::move(observer); }
  // Runs a control request (the control socket's JSON protocol) as if it came from the
  // socket; `caller` names who asked, for the log and the events. Event loop only.
  void control(const nlohmann::json& request, const std::string& caller,
               const ControlSocket::Reply& reply) {
    commands_.run(request, caller, reply);
  }

 private:
  std::shared_ptr<BackendDriver> makeDriver(const BackendId& id);
  // Why `config` cannot run here ("" when it can): a server's config and no server side.
  std::string withoutServerSide(const config::NodeConfig& config) const;
  PartHooks partHooks();  // record() and changed(), for the parts
  void fill(model::Snapshot& snapshot) const;
  void record(std::string source, std::string what) {
    status_.record(std::move(source), std::move(what));
  }
  // The network document's nodes added to a config read from the file (not on the registry).
  void withNetwork(config::NodeConfig& config);
  void waitForSignals();
  void petWatchdog(std::chrono::microseconds period);
  // Runs the neighbour keeper (if any) for the hosts the config has now.
  void keepNeighbours();
  void beginStopping();   // shutdown and handover: timers, watches, the monitor
  void finishShutdown();  // stop listening, then the loop
  model::RuntimeLayout runtime() const { return {config_.paths.runtime_dir}; }

  asio::io_context& io_;
  backends::ProcessLauncher& launcher_;
  GatewayMonitor* monitor_ = nullptr;
  DaemonOptions options_;
  config::NodeConfig config_;  // replaced in place at reload: the parts hold a reference
  std::vector<model::RenderedFile> files_;
  model::Topology topology_;  // topologyOf(config_), made when the config changes
  std::filesystem::path hook_binary_;
  StatusPublisher status_;
  BackendSupervisor backends_;
  std::shared_ptr<TincDriver> tinc_;
  NetworkSync network_;
  std::unique_ptr<ServerSide> server_;  // nullptr: tinc only (a gateway)
  ControlCommands commands_;
  std::unique_ptr<ControlSocket> control_;
  ConfigObserver config_observer_;
  NeighbourKeeper neighbour_keeper_;
  asio::signal_set signals_;
  Timer watchdog_;
  Timer shutdown_deadline_;
  model::ReloadSnapshot last_reload_;
  std::int64_t started_ms_ = 0;
  bool signals_added_ = false;
  bool shutting_down_ = false;
  bool handing_over_ = false;  // shutting down for a restart: backends stay
  bool finished_ = false;
};

}  // namespace meshbroker::supervisor
