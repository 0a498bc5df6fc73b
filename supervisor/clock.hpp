// Time as the supervisor sees it: steady, injectable, so tests drive it by hand.
#pragma once

#include <chrono>

namespace meshbroker::supervisor {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = std::chrono::milliseconds;

}  // namespace meshbroker::supervisor
