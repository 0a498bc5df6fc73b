// Runs every backend the same way: one state machine (state_machine.hpp) per backend, its
// process (spawned, or adopted from a previous meshbroker), its one timer, and a driver per
// kind (backend_driver.hpp) for what differs. Event loop only.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/process.hpp"
#include "config/model.hpp"
#include "io/asio.hpp"
#include "model/rendered_file.hpp"
#include "model/runtime_layout.hpp"
#include "supervisor/backend_driver.hpp"
#include "supervisor/reload_plan.hpp"
#include "supervisor/state_machine.hpp"

namespace meshbroker::supervisor {

class BackendSupervisor {
 public:
  struct Hooks {
    // Makes the driver of a new backend (tinc's is long-lived, so this may hand out a shared one).
    std::function<std::shared_ptr<BackendDriver>(const BackendId&)> make_driver;
    std::function<void(std::string source, std::string what)> record;  // an event for status
    std::function<void()> changed;                                     // state worth publishing
    std::function<void()> settled;  // after every transition (shutdown waits for all down)
  };

  BackendSupervisor(asio::io_context& io, backends::ProcessLauncher& launcher,
                    const config::NodeConfig& config, Hooks hooks);
  ~BackendSupervisor();
  BackendSupervisor(const BackendSupervisor&) = delete;
  BackendSupervisor& operator=(const BackendSupervisor&) = delete;

  // The backends a config asks for: tinc, then one per OpenVPN instance.
  static std::vector<BackendId> wanted(const config::NodeConfig& config);

  // First start: take over what a killed (or handed-over) meshbroker left running, start the
  // rest. `files_changed` says what changed in the rendered files meanwhile (planReload).
  // An OpenVPN instance the config no longer has is adopted only to be stopped.
  void startOrAdopt(const model::RuntimeLayout& runtime,
                    const std::map<std::string, ReloadAction>& files_changed);
  // Reload: refresh each backend's command line (a changed one turns `action` into a restart),
  // then apply the plan. Returns the actions taken, by id.
  std::map<std::string, ReloadAction> applyReload(std::map<std::string, ReloadAction> plan);
  // Operator: restart a running one, start a failed or stopped one. False: no such backend.
  bool restart(const std::string& id, const std::string& reason);
  // Stop every backend (shutdown); each is forgotten once down.
  void stopAll(const std::string& reason);
  // Let go of every process without stopping it (handover): "tinc (pid 12), ..." or "".
  std::string letGo();

  // An event for backend `id`, from its driver; `serial` (if not 0) must name its current
  // process, else the event is about one already replaced and is ignored.
  void report(const std::string& id, std::uint64_t serial, Event event);
  // The backend's process while it has one, else nullptr.
  backends::ChildProcess* process(const std::string& id);
  State state(const std::string& id) const;
  bool exists(const std::string& id) const { return backends_.contains(id); }
  BackendDriver* driver(const std::string& id);
  void forEachDriver(const std::function<void(BackendDriver&)>& visit);
  bool allDown() const;
  // "tinc, openvpn-x" for failed ones, "" when none.
  std::string failed() const;
  void setStopping(bool stopping) { stopping_ = stopping; }
  void fill(model::Snapshot& snapshot) const;

 private:
  struct Backend;
  Backend& add(const BackendId& id);
  Backend* find(const std::string& id);
  void dispatch(Backend& backend, Event event);
  void apply(Backend& backend, const std::vector<Action>& actions);
  void spawn(Backend& backend);
  bool adopt(Backend& backend, ReloadAction files_changed);
  backends::ExitHandler exitHandler(const std::string& id, std::uint64_t serial);
  void onLine(const std::string& id, std::string_view line);
  RestartPolicy policy() const;
  Timeouts timeouts() const;

  asio::io_context& io_;
  backends::ProcessLauncher& launcher_;
  const config::NodeConfig& config_;
  Hooks hooks_;
  std::map<std::string, std::unique_ptr<Backend>> backends_;
  bool stopping_ = false;
};

}  // namespace meshbroker::supervisor
