// When to restart a backend that exited: a pure function of its recent history.
#pragma once

#include "supervisor/clock.hpp"

namespace meshbroker::supervisor {

struct RestartPolicy {
  Duration base_delay{1000};      // the second restart in a row waits this long...
  Duration max_delay{60000};      // ...doubling up to this
  Duration healthy_after{60000};  // this much uptime resets the count of crashes
  int max_crashes = 10;           // this many crashes in a row: failed (0: never give up)
};

struct RestartDecision {
  bool give_up = false;  // permanent failure: stop restarting, say so loudly
  Duration delay{0};
};

// crashes_in_a_row counts the exit being decided on (1 for a first crash). The first restart is
// immediate (a one-off crash costs no time); then base_delay doubles to max_delay.
RestartDecision decideRestart(const RestartPolicy& policy, int crashes_in_a_row);

// The crash count after an exit: uptime of at least healthy_after starts a new series.
int crashesAfterExit(const RestartPolicy& policy, int crashes_before, Duration uptime);

}  // namespace meshbroker::supervisor
