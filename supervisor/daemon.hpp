// `meshbroker run`: owns the event loop's work — backends, tinc events, signals, reload,
// shutdown, systemd notification and the state snapshot.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "backends/privileges.hpp"
#include "backends/process.hpp"
#include "backends/rate_limit.hpp"
#include "backends/tinc_dump.hpp"
#include "backends/tinc_events.hpp"
#include "config/model.hpp"
#include "io/asio.hpp"
#include "model/runtime_layout.hpp"
#include "model/snapshot.hpp"
#include "supervisor/control_socket.hpp"
#include "supervisor/reload_plan.hpp"
#include "supervisor/stale_path.hpp"
#include "supervisor/state_machine.hpp"
#include "templates/renderer.hpp"

namespace meshbroker::supervisor {

class GatewayMonitor;

struct DaemonOptions {
  std::filesystem::path config_file;
  std::filesystem::path meshbroker_binary;  // what the rendered tinc hooks call
};

class Daemon {
 public:
  static constexpr std::size_t kEventHistory = 100;
  // Called on the event loop with each new snapshot (after changes, and every second while
  // gateways are probed, so RTT and loss stay fresh). The web server copies it from here.
  using Publisher = std::function<void(const model::Snapshot&)>;
  // Called on the event loop with the config at start and after every successful reload.
  using ConfigObserver = std::function<void(const config::NodeConfig&)>;

  // rate_limiter shapes public OpenVPN instances (nullptr: no shaping, e.g. in unit tests).
  Daemon(asio::io_context& io, backends::ProcessLauncher& launcher, DaemonOptions options,
         config::NodeConfig config, backends::RateLimiter* rate_limiter = nullptr);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Renders the files, opens the tinc event socket, starts every backend and listens for
  // SIGHUP/SIGTERM/SIGINT. Throws std::runtime_error when it cannot start at all.
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

  const model::Snapshot& snapshot();

  // Health checks and routes (optional; set before start()): configured at start and reload,
  // held while our tincd is not running, shown in status, driven by control requests.
  void attachMonitor(GatewayMonitor* monitor) { monitor_ = monitor; }
  // Something in the state changed: bump the generation, write status.json soon.
  void changed();
  // Both optional; set before start().
  void setPublisher(Publisher publisher) { publisher_ = std::move(publisher); }
  void setConfigObserver(ConfigObserver observer) { config_observer_ = std::move(observer); }
  // The API's status document (web/), added to the control socket's status reply as "api" so
  // `meshbroker status` works where HTTP does not reach (another network namespace, API off).
  void setStatusDocument(std::function<nlohmann::json()> document) {
    status_document_ = std::move(document);
  }
  // Runs a control request (the control socket's JSON protocol) as if it came from the
  // socket; `caller` names who asked, for the log and the events. Event loop only.
  void control(const nlohmann::json& request, const std::string& caller,
               const ControlSocket::Reply& reply);

 private:
  struct Backend;

  Backend& addBackend(const std::string& id, const std::string& instance);
  backends::SpawnSpec specFor(const Backend& backend) const;
  void dispatch(Backend& backend, Event event);
  void apply(Backend& backend, const std::vector<Action>& actions);
  void spawn(Backend& backend);
  // First start only: take over what a killed meshbroker left running (see docs/supervisor.md).
  void startOrAdopt(const std::vector<std::string>& ids,
                    const std::vector<templates::RenderedFile>& on_disk);
  bool adopt(Backend& backend, ReloadAction files_changed);
  std::vector<templates::RenderedFile> renderedOnDisk() const;
  // Least privilege: resolves tincd's and openvpn's users, gives tincd's group a way into the
  // runtime folder (to its event socket), picks the binary its hooks run. Throws with the fix.
  void preparePrivileges();
  model::RuntimeLayout runtime() const { return {config_.paths.runtime_dir}; }
  // meshbroker's nftables table (templates/firewall.*): installed or replaced when its text
  // changed, removed when the node needs none; a failure is logged and kept in events.
  void applyFirewall();
  backends::ExitHandler exitHandler(const std::string& id, std::uint64_t serial);
  void openManagement(Backend& backend, std::uint64_t serial);
  void onChildLine(const std::string& id, std::string_view line);
  void onTincEvent(const backends::TincEvent& event);
  // tincd's node list (asked with SIGUSR2 after adopting it): the peers it has up now.
  void onTincNodeList(const std::vector<backends::TincDumpNode>& nodes, std::size_t malformed);
  // SIGUSR2 to our tincd (when it handles it): its node list follows in its output.
  void askTincNodeList();
  void recordEvent(std::string source, std::string what);
  void publish();
  void armPublishTick();
  void pollOpenVpn(const std::string& id);
  void shapeOpenVpn(const std::string& id, int attempt);
  void reshapeAfterReload(const config::NodeConfig& old_config);
  std::string missingPkiFile(const std::string& instance) const;
  const config::OpenVpnInstance* instanceConfig(const std::string& name) const;
  void retryTincConnections();
  // Every second: restart our tincd if a connected peer has gone silent (stale_path.hpp).
  void armStalePathTick();
  void checkStalePaths();
  // Hourly, where OpenVPN runs: the CA holder refreshes CRLs that are due (pki.hpp); every node
  // reports their expiry (status, metrics) and warns a week ahead (crlAdvice).
  void armCrlTick(std::chrono::seconds after);
  void checkCrl();
  // Every second: when an instance's CRL file changes (a revoke here, or a copy from the CA
  // holder), end the sessions of the names it lists as revoked (pki.hpp, revokedNamesIn):
  // OpenVPN itself checks the CRL only at a handshake.
  void armRevocationTick();
  void checkRevocations();
  void endRevokedSessions(const std::string& id, const std::set<std::string>& names);
  void writeFiles(const std::vector<templates::RenderedFile>& files,
                  const std::vector<templates::RenderedFile>* previous);
  void waitForSignals();
  void writeStatusFile();
  void notifySystemd(const std::string& text);
  void maybeFinishShutdown();
  void finishShutdown();  // stop listening, then the loop
  void cancelTimers();    // every daemon-wide timer, for shutdown and handover
  std::vector<std::string> backendIds(const config::NodeConfig& config) const;
  RestartPolicy policy() const;
  Timeouts timeouts() const;
  Backend* find(const std::string& id);

  asio::io_context& io_;
  backends::ProcessLauncher& launcher_;
  backends::RateLimiter* rate_limiter_;
  GatewayMonitor* monitor_ = nullptr;
  DaemonOptions options_;
  config::NodeConfig config_;
  std::vector<templates::RenderedFile> files_;
  std::map<std::string, std::unique_ptr<Backend>> backends_;
  std::unique_ptr<backends::TincEventSocket> events_;
  std::optional<backends::SystemUser> tinc_user_;  // none: tincd keeps root
  std::filesystem::path hook_binary_;              // what tinc's hooks run (`notify`)
  std::string firewall_applied_;                   // the table's text as nft last took it
  std::unique_ptr<ControlSocket> control_;
  asio::signal_set signals_;
  asio::steady_timer status_debounce_;
  asio::steady_timer watchdog_;
  asio::steady_timer shutdown_deadline_;
  asio::steady_timer tinc_retry_;
  asio::steady_timer publish_tick_;
  asio::steady_timer stale_tick_;
  asio::steady_timer crl_tick_;
  asio::steady_timer revocation_tick_;
  // Each instance's CRL file as last acted on: inode, size, mtime (ns); {} before the first.
  std::map<std::string, std::array<std::int64_t, 3>> crl_seen_;
  StalePathWatch stale_watch_;
  std::map<std::string, TimePoint> mesh_up_at_;  // steady time of each peer's last host-up
  Publisher publisher_;
  ConfigObserver config_observer_;
  std::function<nlohmann::json()> status_document_;
  std::deque<model::EventSnapshot> events_log_;
  nlohmann::json topology_;  // topologyJson(config_), made when the config changes
  int tinc_retries_left_ = 0;
  bool status_pending_ = false;
  bool signals_added_ = false;
  bool shutting_down_ = false;
  bool handing_over_ = false;  // shutting down for a restart: backends stay
  model::Snapshot snapshot_;
  std::map<std::string, model::MeshNodeSnapshot> mesh_;
  backends::TincDumpReader tinc_dump_;  // tincd's SIGUSR2 node list, read from its output
  std::map<std::string, model::OpenVpnSnapshot> openvpn_;
  model::ReloadSnapshot last_reload_;
  model::PkiSnapshot pki_;
  std::uint64_t generation_ = 0;
  std::int64_t started_ms_ = 0;
};

}  // namespace meshbroker::supervisor
