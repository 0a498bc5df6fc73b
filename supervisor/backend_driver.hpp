// What differs between backend kinds, behind one interface (the way tinc hides its device
// behind an ops table): the supervisor (backend_supervisor.hpp) runs the state machine, the
// process and the timers the same way for every backend and asks the driver only these.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "backends/process.hpp"
#include "model/snapshot.hpp"
#include "supervisor/part_hooks.hpp"
#include "supervisor/state_machine.hpp"

namespace meshbroker::supervisor {

enum class BackendKind { kTinc, kOpenVpn };

// A backend's id says its kind once, here: "tinc", or "openvpn-NAME" for OpenVPN instance NAME.
struct BackendId {
  BackendKind kind = BackendKind::kTinc;
  std::string instance;  // the OpenVPN instance's name; empty for tinc

  static BackendId tinc() { return {}; }
  static BackendId openvpn(std::string name) { return {BackendKind::kOpenVpn, std::move(name)}; }
  // "tinc" or "openvpn-NAME" (NAME not empty); anything else is not a backend id.
  static std::optional<BackendId> parse(std::string_view id) {
    if (id == "tinc") return tinc();
    if (id.starts_with("openvpn-") && id.size() > 8) return openvpn(std::string(id.substr(8)));
    return std::nullopt;
  }
  std::string str() const { return kind == BackendKind::kTinc ? "tinc" : "openvpn-" + instance; }
};

class BackendDriver {
 public:
  virtual ~BackendDriver() = default;

  // The command line for the current config (compared at reload: a change means a restart).
  virtual backends::SpawnSpec spec() const = 0;
  // Just before a spawn: "" to go ahead, or why it cannot start (reported as an exit, so the
  // state machine backs off and retries).
  virtual std::string prepareSpawn() { return ""; }
  // Whether a process taken over from a previous meshbroker is ready at once (tincd ran
  // tinc-up long ago) or must say so again (OpenVPN answers on its management interface).
  virtual bool readyWhenAdopted() const = 0;
  // A process runs now, spawned or adopted; `serial` names it in BackendSupervisor::report.
  virtual void attached(std::uint64_t serial, bool adopted) = 0;
  // Its process has ended, or meshbroker lets go of it (shutdown, handover): close connections
  // to it, stop polling it.
  virtual void detached() = 0;
  // One line of its output; true when the driver consumed it (kept out of the log tail).
  virtual bool consumeLine(std::string_view line) = 0;
  // The backend entered `state` (after every transition).
  virtual void stateChanged(State state) { (void)state; }
  // Shutdown and handover: no more timers of its own (its process is stopped or let go by
  // the supervisor).
  virtual void stop() {}
  // Its part of the snapshot, if any.
  virtual void fill(model::Snapshot& snapshot) const { (void)snapshot; }
};

}  // namespace meshbroker::supervisor
