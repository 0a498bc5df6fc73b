// Drives an event loop on the supervisor's TestClock: time moves only when a test passes it,
// every timer due in a step fires before the next, and nothing sleeps.
#pragma once

#include <algorithm>
#include <chrono>
#include <memory>

#include "io/asio.hpp"
#include "supervisor/clock.hpp"

namespace meshbroker::testing {

class ClockedLoop {
 public:
  explicit ClockedLoop(asio::io_context& io) : io_(io) {}

  // Moves the clock forward by `by` in steps of `step`; each step runs what became due.
  void pass(supervisor::Clock::duration by,
            supervisor::Clock::duration step = std::chrono::milliseconds(10)) {
    for (supervisor::Clock::duration done{0}; done < by; done += step) {
      clock_.advance(std::min(step, by - done));
      drain();
    }
  }

  // Runs everything due now: a timer armed for now goes through the loop's timer queue with
  // every timer that is due, then what is ready runs.
  void drain() {
    auto fired = std::make_shared<bool>(false);
    supervisor::Timer now(io_);
    now.expires_at(supervisor::Clock::now());
    now.async_wait([fired](const boost::system::error_code&) { *fired = true; });
    while (!*fired && !io_.stopped()) io_.run_one_for(std::chrono::milliseconds(10));
    while (!io_.stopped() && io_.poll() > 0) {
    }
  }

 private:
  supervisor::TestClock clock_;
  asio::io_context& io_;
};

}  // namespace meshbroker::testing
