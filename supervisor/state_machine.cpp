// Transitions of the supervision state machine. Every (state, event) pair is handled here.
#include "supervisor/state_machine.hpp"

namespace meshbroker::supervisor {
namespace {

Step spawn(Machine next, TimePoint now, const Timeouts& timeouts, bool is_restart) {
  next.state = State::kStarting;
  next.started_at = now;
  next.restart_after_stop = false;
  if (is_restart) ++next.restarts;
  return {next, {{ActionKind::kSpawn}, {ActionKind::kArmTimer, timeouts.ready}}};
}

Step stopping(Machine next, bool restart_after, const Timeouts& timeouts) {
  next.state = State::kStopping;
  next.restart_after_stop = restart_after;
  return {next, {{ActionKind::kSendTerm}, {ActionKind::kArmTimer, timeouts.stop}}};
}

// A process ended that we did not ask to end.
Step crashed(Machine next, const Event& event, TimePoint now, const RestartPolicy& policy,
             const Timeouts& timeouts) {
  auto uptime = std::chrono::duration_cast<Duration>(now - next.started_at);
  next.last_exit = event.reason;
  next.crashes = crashesAfterExit(policy, next.crashes, uptime);
  auto decision = decideRestart(policy, next.crashes);
  if (decision.give_up) {
    next.state = State::kFailed;
    next.failure = "gave up after " + std::to_string(next.crashes) +
                   " crashes in a row; last: " + event.reason;
    return {next, {{ActionKind::kCancelTimer}}};
  }
  if (decision.delay == Duration{0}) return spawn(next, now, timeouts, /*is_restart=*/true);
  next.state = State::kBackoff;
  return {next, {{ActionKind::kArmTimer, decision.delay}}};
}

}  // namespace

Step step(const Machine& machine, const Event& event, TimePoint now, const RestartPolicy& policy,
          const Timeouts& timeouts) {
  Machine next = machine;
  switch (machine.state) {
    case State::kDown:
      if (event.kind == EventKind::kStart || event.kind == EventKind::kRestart) {
        return spawn(next, now, timeouts, false);
      }
      if (event.kind == EventKind::kAdopted) {  // the process exists: nothing to spawn
        next.started_at = now;
        next.restart_after_stop = false;
        if (event.ready) {
          next.state = State::kRunning;
          return {next, {}};
        }
        next.state = State::kStarting;  // wait for it to say it is ready, as for a new one
        return {next, {{ActionKind::kArmTimer, timeouts.ready}}};
      }
      return {next, {}};

    case State::kStarting:
      switch (event.kind) {
        case EventKind::kReady:
          next.state = State::kRunning;
          return {next, {{ActionKind::kCancelTimer}}};
        case EventKind::kExited:
          return crashed(next, event, now, policy, timeouts);
        case EventKind::kTimeout:  // never became ready: replace it, counting a crash
          next.crash_on_exit = true;
          return stopping(next, true, timeouts);
        case EventKind::kStop:
          return stopping(next, false, timeouts);
        case EventKind::kRestart:
          return stopping(next, true, timeouts);
        case EventKind::kStart:
        case EventKind::kReload:  // it reads the new files as it starts
        case EventKind::kAdopted:
          return {next, {}};
      }
      break;

    case State::kRunning:
      switch (event.kind) {
        case EventKind::kExited:
          return crashed(next, event, now, policy, timeouts);
        case EventKind::kStop:
          return stopping(next, false, timeouts);
        case EventKind::kRestart:
          return stopping(next, true, timeouts);
        case EventKind::kReload:
          return {next, {{ActionKind::kSendHup}}};
        case EventKind::kStart:
        case EventKind::kReady:
        case EventKind::kTimeout:
        case EventKind::kAdopted:
          return {next, {}};
      }
      break;

    case State::kBackoff:
      switch (event.kind) {
        case EventKind::kTimeout:
        case EventKind::kStart:  // an operator's restart skips the wait
        case EventKind::kRestart:
          return spawn(next, now, timeouts, true);
        case EventKind::kStop:
          next.state = State::kDown;
          return {next, {{ActionKind::kCancelTimer}}};
        case EventKind::kReady:
        case EventKind::kExited:
        case EventKind::kReload:
        case EventKind::kAdopted:
          return {next, {}};
      }
      break;

    case State::kStopping:
      switch (event.kind) {
        case EventKind::kTimeout:  // SIGTERM was ignored
          return {next, {{ActionKind::kSendKill}, {ActionKind::kArmTimer, timeouts.stop}}};
        case EventKind::kExited:
          if (next.crash_on_exit && next.restart_after_stop) {
            next.crash_on_exit = false;
            return crashed(next, {EventKind::kExited, "not ready in time, then " + event.reason},
                           now, policy, timeouts);
          }
          next.crash_on_exit = false;
          next.last_exit = event.reason;
          if (next.restart_after_stop) return spawn(next, now, timeouts, true);
          next.state = State::kDown;
          return {next, {{ActionKind::kCancelTimer}}};
        case EventKind::kStop:
          next.restart_after_stop = false;
          next.crash_on_exit = false;
          return {next, {}};
        case EventKind::kStart:
        case EventKind::kRestart:
          next.restart_after_stop = true;
          return {next, {}};
        case EventKind::kReady:
        case EventKind::kReload:
        case EventKind::kAdopted:
          return {next, {}};
      }
      break;

    case State::kFailed:
      switch (event.kind) {
        case EventKind::kStart:
        case EventKind::kRestart:
          next.crashes = 0;
          next.failure.clear();
          return spawn(next, now, timeouts, true);
        case EventKind::kStop:
          next.state = State::kDown;
          return {next, {}};
        case EventKind::kReady:
        case EventKind::kExited:
        case EventKind::kTimeout:
        case EventKind::kReload:
        case EventKind::kAdopted:
          return {next, {}};
      }
      break;
  }
  return {next, {}};
}

std::string_view toString(State state) {
  switch (state) {
    case State::kDown:
      return "down";
    case State::kStarting:
      return "starting";
    case State::kRunning:
      return "running";
    case State::kBackoff:
      return "backoff";
    case State::kStopping:
      return "stopping";
    case State::kFailed:
      return "failed";
  }
  return "unknown";
}

std::string_view toString(EventKind kind) {
  switch (kind) {
    case EventKind::kStart:
      return "start";
    case EventKind::kReady:
      return "ready";
    case EventKind::kExited:
      return "exited";
    case EventKind::kTimeout:
      return "timeout";
    case EventKind::kStop:
      return "stop";
    case EventKind::kReload:
      return "reload";
    case EventKind::kRestart:
      return "restart";
    case EventKind::kAdopted:
      return "adopted";
  }
  return "unknown";
}

}  // namespace meshbroker::supervisor
