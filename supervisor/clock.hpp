// Time as the supervisor sees it: steady, and movable by tests, so the daemon's timers (restart
// back-off, ready and stop timeouts, debounce, periodic checks, probe sweeps) are driven by hand
// in unit tests instead of slept through.
//
// Clock is std::chrono::steady_clock in the daemon; while a TestClock exists it stands still
// and moves only when the test says. Its time_point is steady_clock's (the standard allows a
// clock to share another's epoch), so times from health:: and from here compare directly.
// Timer is an Asio timer on this clock: every part of the supervisor arms a Timer, never an
// asio::steady_timer.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>

#include "io/asio.hpp"

namespace meshbroker::supervisor {

struct Clock {
  using duration = std::chrono::steady_clock::duration;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::steady_clock::time_point;
  static constexpr bool is_steady = true;

  static time_point now() noexcept {
    if (!driven_by_test_.load(std::memory_order_relaxed)) return std::chrono::steady_clock::now();
    return time_point(duration(test_now_.load(std::memory_order_relaxed)));
  }

 private:
  friend class TestClock;
  friend struct ClockWaitTraits;
  inline static std::atomic<bool> driven_by_test_{false};
  inline static std::atomic<rep> test_now_{0};
};

// How long the event loop sleeps for a timer. In the daemon: until its deadline. Under a
// TestClock at most a millisecond, so the loop notices at once that time was moved past it.
struct ClockWaitTraits {
  static Clock::duration to_wait_duration(const Clock::duration& d) {
    if (!Clock::driven_by_test_.load(std::memory_order_relaxed)) return d;
    return std::min<Clock::duration>(d, std::chrono::milliseconds(1));
  }
  static Clock::duration to_wait_duration(const Clock::time_point& t) {
    return to_wait_duration(t - Clock::now());
  }
};

using Timer = asio::basic_waitable_timer<Clock, ClockWaitTraits>;
using TimePoint = Clock::time_point;
using Duration = std::chrono::milliseconds;

// For tests: while one exists, the clock stands still (from the moment it was made) and moves
// only by advance(), so a test decides exactly what is due. The destructor gives the real clock
// back.
class TestClock {
 public:
  TestClock() {
    Clock::test_now_ = std::chrono::steady_clock::now().time_since_epoch().count();
    Clock::driven_by_test_ = true;
  }
  ~TestClock() { Clock::driven_by_test_ = false; }
  TestClock(const TestClock&) = delete;
  TestClock& operator=(const TestClock&) = delete;
  void advance(Clock::duration by) { Clock::test_now_ += by.count(); }
};

// Wall-clock milliseconds since the epoch, for the times the status shows.
inline std::int64_t wallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2027-01-01 00:00 UTC": a time_t as logs and the CLI show a deadline.
inline std::string utcMinute(std::int64_t time_s) {
  const auto t = static_cast<std::time_t>(time_s);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char out[32] = {};
  std::strftime(out, sizeof out, "%Y-%m-%d %H:%M UTC", &utc);
  return out;
}

}  // namespace meshbroker::supervisor
