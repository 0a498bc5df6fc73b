// One health check of one gateway (e.g. "ICMP to cometa's mesh address", or "ICMP to the
// through target, forced through cometa"): when to probe, and the verdict its results give.
// Pure: time comes in as arguments, probes go out as requests, so tests drive it with a fake
// clock and scripted results.
//
// How it decides (see health/README.md for the reasoning and the figures):
//  - Probes go out every `interval`. The timeout adapts to the measured RTT (srtt + 4 rttvar,
//    with a floor), bounded by the configured timeout.
//  - Fast path: a miss triggers `burst` immediate re-probes a few ms apart; `down_after`
//    misses in a row (re-probes count) take the gateway down. Total loss is confirmed within
//    one adaptive timeout of the first miss instead of after three silent intervals.
//  - Loss: a CUSUM test between "healthy" (loss_down_pct x 0.55) and "bad" (x 1.45) probe
//    loss; while the score is above zero the check probes 16x faster to decide sooner.
//  - RTT: a smoothed RTT above rtt_down takes it down (0: off).
//  - Up again after `up_after` replies in a row, and not before a flap hold-down: a gateway
//    that goes down again within five minutes is held down flap_hold, doubling per flap.
//  - Unknown at start: the first reply makes it up (so a restarted meshbroker confirms the
//    routes it adopted at once); no reply within warm-up, or a failed burst, makes it down.
//  - Held (our own tincd is restarting: not the gateway's fault): results are ignored and the
//    verdict stays; after the hold the check is in warm-up again.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "config/model.hpp"

namespace meshbroker::health {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = std::chrono::milliseconds;
using Micros = std::chrono::microseconds;

enum class Verdict { kUnknown, kUp, kDown };
std::string_view toString(Verdict verdict);

struct CheckParams {
  Duration interval{200};
  Duration timeout{150};
  int down_after = 8;
  int up_after = 10;
  Duration warmup{2000};
  int burst = 7;
  Duration burst_gap{2};
  Duration min_timeout{25};
  int loss_down_pct = 35;
  Duration rtt_down{0};
  Duration flap_hold{5000};
  Duration flap_hold_max{60000};
  Duration flap_window{300000};

  static CheckParams from(const config::HealthConfig& config);
};

struct Transition {
  Verdict from = Verdict::kUnknown;
  Verdict to = Verdict::kUnknown;
  std::string reason;
};

struct CheckStats {
  Verdict verdict = Verdict::kUnknown;
  std::optional<Micros> srtt;  // smoothed RTT of replies
  std::optional<Micros> last_rtt;
  double loss_pct = 0;  // over the last kLossWindow probes
  std::uint64_t sent = 0;
  std::uint64_t replies = 0;
  int misses_in_row = 0;
  int replies_in_row = 0;
  bool held = false;
  std::optional<TimePoint> hold_down_until;  // flap damping
  std::optional<TimePoint> last_change;
  std::string reason;  // why the verdict is what it is
};

class HealthCheck {
 public:
  static constexpr std::size_t kLossWindow = 50;

  struct Probe {
    std::uint64_t id = 0;
    Duration timeout{0};
  };

  HealthCheck(CheckParams params, TimePoint now);

  // Probes to send now. Call when now >= nextWake().
  std::vector<Probe> due(TimePoint now);
  // When due() or tick() has something to do next.
  TimePoint nextWake() const;
  // A probe's outcome. Results for unknown ids (e.g. sent before a hold) are ignored.
  std::optional<Transition> onResult(TimePoint now, std::uint64_t id, bool ok, Micros rtt);
  // Timer-driven decisions: the end of warm-up.
  std::optional<Transition> tick(TimePoint now);
  // Our own side (tincd) is restarting: freeze the verdict until released.
  void hold(TimePoint now, bool held);
  // A reload's new settings (interval, timeouts, down_after/up_after, loss and RTT limits,
  // flap damping) from now on; the verdict, RTT estimate and history stay.
  void setParams(const CheckParams& params);

  Verdict verdict() const { return stats_.verdict; }
  const CheckStats& stats() const { return stats_; }

 private:
  Duration probeTimeout() const;
  std::optional<Transition> become(TimePoint now, Verdict to, std::string reason);
  std::optional<Transition> onMiss(TimePoint now);
  std::optional<Transition> onReply(TimePoint now, Micros rtt);
  void record(bool ok);

  CheckParams params_;
  CheckStats stats_;
  TimePoint warmup_until_;
  TimePoint grace_until_{};  // after a hold: misses do not count until then
  TimePoint next_probe_;
  std::uint64_t next_id_ = 1;
  std::vector<std::uint64_t> outstanding_;
  int burst_left_ = 0;
  TimePoint next_burst_;
  double cusum_ = 0;
  double miss_llr_ = 0;
  double reply_llr_ = 0;
  double rttvar_us_ = 0;
  std::deque<bool> window_;
  std::deque<TimePoint> downs_;  // recent down verdicts, for flap damping
};

}  // namespace meshbroker::health
