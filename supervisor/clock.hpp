// Time as the supervisor sees it: steady, injectable, so tests drive it by hand.
#pragma once

#include <chrono>
#include <cstdint>

namespace meshbroker::supervisor {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = std::chrono::milliseconds;

// Wall-clock milliseconds since the epoch, for the times the status shows.
inline std::int64_t wallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace meshbroker::supervisor
