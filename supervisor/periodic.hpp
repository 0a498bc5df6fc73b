// Work on the event loop after a first delay and then at a fixed period, until stopped: the
// stale-path watch, each instance's CRL-file watch, the hourly CRL check and the status tick.
#pragma once

#include <chrono>
#include <functional>

#include "io/asio.hpp"
#include "supervisor/clock.hpp"

namespace meshbroker::supervisor {

class Periodic {
 public:
  using Duration = Clock::duration;
  explicit Periodic(asio::io_context& io) : timer_(io) {}

  // Runs `work` after `first`, then every `every`. Calling it again starts over (a reload
  // asks for a check now). Nothing after stop().
  void start(Duration first, Duration every, std::function<void()> work) {
    if (stopped_) return;
    every_ = every;
    work_ = std::move(work);
    arm(first);
  }
  // For good (shutdown, handover).
  void stop() {
    stopped_ = true;
    timer_.cancel();
  }

 private:
  void arm(Duration after) {
    timer_.expires_after(after);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopped_) return;  // `this` may be gone when ec says aborted: test it first
      work_();
      if (!stopped_) arm(every_);
    });
  }

  Timer timer_;
  Duration every_{};
  std::function<void()> work_;
  bool stopped_ = false;
};

}  // namespace meshbroker::supervisor
