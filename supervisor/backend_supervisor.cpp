// The state machine's actions made real: processes, signals, the one timer per backend.
#include "supervisor/backend_supervisor.hpp"

#include <signal.h>

#include <filesystem>

#include "io/log.hpp"
#include "supervisor/clock.hpp"

namespace meshbroker::supervisor {

using io::Level;
using io::log;

namespace fs = std::filesystem;

struct BackendSupervisor::Backend {
  Backend(asio::io_context& io, BackendId backend_id) : id(std::move(backend_id)), timer(io) {}
  BackendId id;
  std::string name;  // id.str()
  std::shared_ptr<BackendDriver> driver;
  backends::SpawnSpec spec;
  Machine machine;
  std::unique_ptr<backends::ChildProcess> child;
  std::uint64_t spawn_serial = 0;  // ignores exits of processes we already replaced
  std::uint64_t timer_serial = 0;  // ignores timer callbacks that were re-armed meanwhile
  Timer timer;
  std::deque<std::string> log;
  std::int64_t since_ms = 0;
  bool remove_when_down = false;
  bool adopted = false;  // the current process was left running by a previous meshbroker
};

BackendSupervisor::BackendSupervisor(asio::io_context& io, backends::ProcessLauncher& launcher,
                                     const config::NodeConfig& config, Hooks hooks)
    : io_(io), launcher_(launcher), config_(config), hooks_(std::move(hooks)) {}

BackendSupervisor::~BackendSupervisor() = default;

std::vector<BackendId> BackendSupervisor::wanted(const config::NodeConfig& config) {
  std::vector<BackendId> ids = {BackendId::tinc()};
  for (const auto& instance : config.openvpn)
    ids.push_back(BackendId::openvpn(instance.name.str()));
  return ids;
}

RestartPolicy BackendSupervisor::policy() const {
  const auto& s = config_.supervisor;
  return {Duration(s.restart_base_ms), Duration(s.restart_max_ms), Duration(s.healthy_after_ms),
          s.max_crashes};
}

Timeouts BackendSupervisor::timeouts() const {
  return {Duration(config_.supervisor.ready_timeout_ms),
          Duration(config_.supervisor.stop_timeout_ms)};
}

BackendSupervisor::Backend* BackendSupervisor::find(const std::string& id) {
  auto it = backends_.find(id);
  return it == backends_.end() ? nullptr : it->second.get();
}

BackendSupervisor::Backend& BackendSupervisor::add(const BackendId& id) {
  auto backend = std::make_unique<Backend>(io_, id);
  backend->name = id.str();
  backend->driver = hooks_.make_driver(id);
  backend->spec = backend->driver->spec();
  backend->since_ms = wallClockMs();
  auto& ref = *backend;
  backends_[ref.name] = std::move(backend);
  return ref;
}

void BackendSupervisor::startOrAdopt(const model::RuntimeLayout& runtime,
                                     const std::map<std::string, ReloadAction>& files_changed) {
  for (const auto& id : wanted(config_)) {
    auto& backend = add(id);
    auto change = files_changed.find(backend.name);
    if (!adopt(backend, change == files_changed.end() ? ReloadAction::kNone : change->second)) {
      dispatch(backend, {EventKind::kStart, ""});
    }
  }
  std::vector<BackendId> leftovers;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(runtime.backendsDir(), ec)) {
    auto id = BackendId::parse(entry.path().stem().string());
    if (entry.path().extension() == ".pid" && id && id->kind == BackendKind::kOpenVpn &&
        !find(id->str())) {
      leftovers.push_back(*id);
    }
  }
  for (const auto& id : leftovers) {
    auto& backend = add(id);
    backend.remove_when_down = true;
    if (adopt(backend, ReloadAction::kNone)) {
      dispatch(backend, {EventKind::kStop, "removed from config"});
    } else {
      backends_.erase(id.str());
    }
  }
}

bool BackendSupervisor::adopt(Backend& backend, ReloadAction files_changed) {
  std::string id = backend.name;
  auto serial = ++backend.spawn_serial;
  std::string why_not;
  backend.child = launcher_.adopt(
      backend.spec, [this, id](std::string_view line) { onLine(id, line); },
      exitHandler(id, serial), &why_not);
  if (!backend.child) {
    if (!why_not.empty()) log(Level::kWarning, id + ": nothing adopted: " + why_not);
    return false;
  }
  backend.adopted = true;
  auto pid = std::to_string(backend.child->pid());
  log(Level::kNotice, id + ": adopted " + fs::path(backend.spec.executable).filename().string() +
                          " (pid " + pid + ") left running by a previous meshbroker");
  bool ready = backend.driver->readyWhenAdopted();
  dispatch(backend, {EventKind::kAdopted, "pid " + pid, ready});
  backend.driver->attached(serial, true);
  if (files_changed == ReloadAction::kSignal && ready) {
    log(Level::kInfo, id + ": rendered files changed while meshbroker was down: reload");
    dispatch(backend, {EventKind::kReload, "files changed while meshbroker was down"});
  } else if (files_changed == ReloadAction::kSignal || files_changed == ReloadAction::kRestart) {
    log(Level::kInfo, id + ": rendered files changed while meshbroker was down: restart");
    dispatch(backend, {EventKind::kRestart, "files changed while meshbroker was down"});
  }
  return true;
}

std::map<std::string, ReloadAction> BackendSupervisor::applyReload(
    std::map<std::string, ReloadAction> plan) {
  for (auto& [id, action] : plan) {
    Backend* backend = find(id);
    if (backend && action != ReloadAction::kStop) {
      auto spec = backend->driver->spec();
      if (spec.executable != backend->spec.executable || spec.args != backend->spec.args) {
        action = ReloadAction::kRestart;  // e.g. a new tincd path or debug level
      }
      backend->spec = spec;
    }
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
        if (auto parsed = BackendId::parse(id)) dispatch(add(*parsed), {EventKind::kStart, "new"});
        break;
      case ReloadAction::kStop:
        if (backend) {
          backend->remove_when_down = true;
          dispatch(*backend, {EventKind::kStop, "removed from config"});
        }
        break;
    }
  }
  return plan;
}

bool BackendSupervisor::restart(const std::string& id, const std::string& reason) {
  Backend* backend = find(id);
  if (!backend) return false;
  bool idle = backend->machine.state == State::kFailed || backend->machine.state == State::kDown;
  dispatch(*backend, {idle ? EventKind::kStart : EventKind::kRestart, reason});
  return true;
}

void BackendSupervisor::stopAll(const std::string& reason) {
  std::vector<std::string> ids;
  for (const auto& [id, backend] : backends_) ids.push_back(id);
  for (const auto& id : ids) {
    if (Backend* backend = find(id)) {
      backend->remove_when_down = true;
      backend->driver->detached();
      dispatch(*backend, {EventKind::kStop, reason});
    }
  }
}

std::string BackendSupervisor::letGo() {
  std::string kept;
  for (const auto& [id, backend] : backends_) {
    backend->driver->detached();
    ++backend->timer_serial;
    backend->timer.cancel();
    if (backend->child) {
      kept +=
          (kept.empty() ? "" : ", ") + id + " (pid " + std::to_string(backend->child->pid()) + ")";
    }
  }
  return kept;
}

void BackendSupervisor::report(const std::string& id, std::uint64_t serial, Event event) {
  Backend* backend = find(id);
  if (!backend || (serial != 0 && backend->spawn_serial != serial)) return;
  dispatch(*backend, std::move(event));
}

backends::ChildProcess* BackendSupervisor::process(const std::string& id) {
  Backend* backend = find(id);
  return backend ? backend->child.get() : nullptr;
}

State BackendSupervisor::state(const std::string& id) const {
  auto it = backends_.find(id);
  return it == backends_.end() ? State::kDown : it->second->machine.state;
}

BackendDriver* BackendSupervisor::driver(const std::string& id) {
  Backend* backend = find(id);
  return backend ? backend->driver.get() : nullptr;
}

void BackendSupervisor::forEachDriver(const std::function<void(BackendDriver&)>& visit) {
  for (const auto& [id, backend] : backends_) visit(*backend->driver);
}

bool BackendSupervisor::allDown() const {
  for (const auto& [id, backend] : backends_) {
    if (backend->machine.state != State::kDown && backend->machine.state != State::kFailed) {
      return false;
    }
  }
  return true;
}

std::string BackendSupervisor::failed() const {
  std::string failed;
  for (const auto& [id, backend] : backends_) {
    if (backend->machine.state == State::kFailed) failed += (failed.empty() ? "" : ", ") + id;
  }
  return failed;
}

void BackendSupervisor::dispatch(Backend& backend, Event event) {
  auto result = step(backend.machine, event, Clock::now(), policy(), timeouts());
  State before = backend.machine.state;
  backend.machine = result.next;
  if (before != backend.machine.state) {
    backend.since_ms = wallClockMs();
    std::string line = backend.name + ": " + std::string(toString(before)) + " -> " +
                       std::string(toString(backend.machine.state)) + " (" +
                       std::string(toString(event.kind)) +
                       (event.reason.empty() ? "" : ": " + event.reason) + ")";
    Level level = Level::kInfo;
    if (backend.machine.state == State::kFailed) {
      level = Level::kError;
      line += "; FAILED: " + backend.machine.failure +
              " (fix the cause, then reload or restart meshbroker)";
    } else if (event.kind == EventKind::kExited && !stopping_) {
      level = Level::kWarning;
    }
    log(level, line);
    hooks_.record("backend", line);
    backend.driver->stateChanged(backend.machine.state);
  }
  apply(backend, result.actions);
  if (backend.machine.state == State::kDown && backend.remove_when_down) {
    backends_.erase(backend.name);  // `backend` dangles from here on
  }
  hooks_.changed();
  hooks_.settled();
}

void BackendSupervisor::apply(Backend& backend, const std::vector<Action>& actions) {
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
            [this, id = backend.name, serial](const boost::system::error_code& ec) {
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

void BackendSupervisor::spawn(Backend& backend) {
  auto serial = ++backend.spawn_serial;
  std::string id = backend.name;
  backend.driver->detached();
  if (auto why_not = backend.driver->prepareSpawn(); !why_not.empty()) {
    backend.child.reset();
    asio::post(io_, [this, id, serial, why_not] {
      report(id, serial, {EventKind::kExited, "not started: " + why_not});
    });
    return;
  }
  backend.adopted = false;
  backend.child = launcher_.spawn(
      backend.spec, [this, id](std::string_view line) { onLine(id, line); },
      exitHandler(id, serial));
  log(Level::kInfo, id + ": started pid " + std::to_string(backend.child->pid()));
  backend.driver->attached(serial, false);
}

backends::ExitHandler BackendSupervisor::exitHandler(const std::string& id, std::uint64_t serial) {
  return [this, id, serial](const backends::ExitStatus& status) {
    Backend* b = find(id);
    if (!b || b->spawn_serial != serial) return;
    b->driver->detached();
    dispatch(*b, {EventKind::kExited, status.reason});
  };
}

void BackendSupervisor::onLine(const std::string& id, std::string_view line) {
  Backend* backend = find(id);
  if (backend && backend->driver->consumeLine(line)) return;
  log(Level::kInfo, id + ": " + std::string(line));
  if (!backend) return;
  backend->log.emplace_back(line);
  while (backend->log.size() > static_cast<std::size_t>(config_.supervisor.log_lines)) {
    backend->log.pop_front();
  }
  hooks_.changed();
}

void BackendSupervisor::fill(model::Snapshot& snapshot) const {
  snapshot.backends.clear();
  for (const auto& [id, backend] : backends_) {
    const auto& m = backend->machine;
    bool has_process =
        m.state == State::kStarting || m.state == State::kRunning || m.state == State::kStopping;
    snapshot.backends.push_back(
        {id, std::string(toString(m.state)),
         has_process && backend->child ? backend->child->pid() : 0, m.restarts, m.crashes,
         backend->since_ms, m.last_exit, m.failure,
         std::vector<std::string>(backend->log.begin(), backend->log.end())});
    snapshot.backends.back().adopted = has_process && backend->adopted;
    backend->driver->fill(snapshot);
  }
}

}  // namespace meshbroker::supervisor
