// Exponential backoff with reset, as keepalived and s6 do it.
#include "supervisor/restart_policy.hpp"

#include <algorithm>

namespace meshbroker::supervisor {

RestartDecision decideRestart(const RestartPolicy& policy, int crashes_in_a_row) {
  if (policy.max_crashes > 0 && crashes_in_a_row >= policy.max_crashes) return {true, Duration{0}};
  if (crashes_in_a_row <= 1) return {false, Duration{0}};
  Duration delay = policy.base_delay;
  for (int i = 2; i < crashes_in_a_row && delay < policy.max_delay; ++i) delay *= 2;
  return {false, std::min(delay, policy.max_delay)};
}

int crashesAfterExit(const RestartPolicy& policy, int crashes_before, Duration uptime) {
  return uptime >= policy.healthy_after ? 1 : crashes_before + 1;
}

}  // namespace meshbroker::supervisor
