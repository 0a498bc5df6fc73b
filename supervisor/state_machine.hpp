// The supervision state machine of one backend: (state, event) -> (state, actions). Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "supervisor/clock.hpp"
#include "supervisor/restart_policy.hpp"

namespace meshbroker::supervisor {

enum class State { kDown, kStarting, kRunning, kBackoff, kStopping, kFailed };

enum class EventKind {
  kStart,    // the daemon wants the backend up (start-up, operator restart of a failed one)
  kReady,    // the backend said it is ready (tinc-up ran, management interface answered)
  kExited,   // the process is gone (or could not be spawned)
  kTimeout,  // the one timer fired (ready, stop or backoff timeout, by state)
  kStop,     // the daemon wants the backend down
  kReload,   // apply changed files in place (SIGHUP)
  kRestart,  // stop, then start again (changed files that need a new process)
  kAdopted,  // a process a previous meshbroker left running was taken over instead of spawned
};

struct Event {
  EventKind kind;
  std::string reason;  // for kExited: "exited with status 1", "killed by signal 9", ...
  bool ready = false;  // for kAdopted: it said it was ready before (tinc-up ran)
};

enum class ActionKind {
  kSpawn,        // start the process
  kSendTerm,     // SIGTERM to its process group
  kSendKill,     // SIGKILL to its process group
  kSendHup,      // SIGHUP (reload)
  kArmTimer,     // (re)arm the one timer for `delay`
  kCancelTimer,  // disarm it
};

struct Action {
  ActionKind kind;
  Duration delay{0};
  bool operator==(const Action&) const = default;
};

struct Timeouts {
  Duration ready{30000};  // spawned but never ready: restart it
  Duration stop{5000};    // SIGTERM ignored this long: SIGKILL
};

// Everything the machine remembers. Copyable; the adapter keeps one per backend.
struct Machine {
  State state = State::kDown;
  int crashes = 0;   // crashes in a row (reset by healthy uptime)
  int restarts = 0;  // processes started after the first, for status
  bool restart_after_stop = false;
  bool crash_on_exit = false;  // stopping one that never got ready: its exit counts as a crash
  TimePoint started_at{};      // when the current process was spawned
  std::string last_exit;       // why the last process ended
  std::string failure;         // why the backend gave up (state kFailed)
};

struct Step {
  Machine next;
  std::vector<Action> actions;
};

Step step(const Machine& machine, const Event& event, TimePoint now, const RestartPolicy& policy,
          const Timeouts& timeouts);

std::string_view toString(State state);
std::string_view toString(EventKind kind);

}  // namespace meshbroker::supervisor
