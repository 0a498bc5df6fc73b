// The tinc backend's driver: tincd's command line, its hook events (tinc-up, host-up/down
// through the event socket), its SIGUSR2 node list, the SIGALRM nudges that make it re-dial,
// and the stale-path watch that restarts it when a connected peer has gone silent.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "backends/privileges.hpp"
#include "backends/tinc_dump.hpp"
#include "backends/tinc_events.hpp"
#include "config/model.hpp"
#include "io/asio.hpp"
#include "supervisor/backend_driver.hpp"
#include "supervisor/clock.hpp"
#include "supervisor/periodic.hpp"
#include "supervisor/stale_path.hpp"

namespace meshbroker::supervisor {

class BackendSupervisor;
class GatewayMonitor;

class TincDriver final : public BackendDriver {
 public:
  using Hooks = PartHooks;

  TincDriver(asio::io_context& io, const config::NodeConfig& config, BackendSupervisor& backends,
             Hooks hooks);
  ~TincDriver() override;

  // tincd drops root for this user after tinc-up (none: it keeps root). Before open().
  void setUser(std::optional<backends::SystemUser> user) { user_ = std::move(user); }
  // Probe replies for the stale-path watch (optional).
  void attachMonitor(const GatewayMonitor* monitor) { monitor_ = monitor; }
  // The servers whose network-document pulls go unanswered, for the same watch (optional;
  // NetworkSync::unansweredServers).
  void setUnansweredServers(std::function<std::map<std::string, TimePoint>()> servers) {
    unanswered_servers_ = std::move(servers);
  }
  // Told the name of each peer tinc newly reports reachable (a host-up, or the node list).
  void setOnPeerUp(std::function<void(const std::string&)> callback) {
    on_peer_up_ = std::move(callback);
  }
  // Opens the event socket tinc's hooks write to. Throws std::system_error.
  void open(const std::filesystem::path& socket);
  // Starts the stale-path watch (every second, while tincd runs).
  void watchStalePaths();
  // Shutdown and handover: no more nudges or watches...
  void stop() override;
  // ... and, once backends are down or let go, no more events.
  void close() { events_.reset(); }
  const std::map<std::string, model::MeshNodeSnapshot>& mesh() const { return mesh_; }

  backends::SpawnSpec spec() const override;
  // Starts tincd dialling one server only (first_dial.hpp); the rest once a peer is up.
  std::string prepareSpawn() override;
  bool readyWhenAdopted() const override { return true; }
  void attached(std::uint64_t serial, bool adopted) override;
  void detached() override {}
  bool consumeLine(std::string_view line) override;
  void stateChanged(State state) override;
  void fill(model::Snapshot& snapshot) const override { snapshot.mesh = mesh_; }

  // tincd's node list (asked with SIGUSR2 after adopting it): the peers it has up now.
  void onNodeList(const std::vector<backends::TincDumpNode>& nodes, std::size_t malformed);
  void onEvent(const backends::TincEvent& event);

 private:
  void askNodeList();
  void retryConnections();
  void checkStalePaths();
  void dialTheRest(const std::string& why);

  asio::io_context& io_;
  const config::NodeConfig& config_;
  BackendSupervisor& backends_;
  Hooks hooks_;
  const GatewayMonitor* monitor_ = nullptr;
  std::function<void(const std::string&)> on_peer_up_;
  std::function<std::map<std::string, TimePoint>()> unanswered_servers_;
  std::optional<backends::SystemUser> user_;
  std::unique_ptr<backends::TincEventSocket> events_;
  backends::TincDumpReader dump_;
  std::map<std::string, model::MeshNodeSnapshot> mesh_;
  std::map<std::string, TimePoint> mesh_up_at_;  // steady time of each peer's last host-up
  StalePathWatch stale_watch_;
  Timer retry_timer_;
  Periodic stale_tick_;
  int retries_left_ = 0;
  // While tincd dials its first ConnectTo only: the full tinc.conf, and the one written.
  bool dialling_first_ = false;
  std::string full_conf_, first_conf_;
  Timer dial_rest_timer_;
};

}  // namespace meshbroker::supervisor
