#include "health/check.hpp"

#include <algorithm>
#include <cmath>

namespace meshbroker::health {
namespace {

// CUSUM decision threshold (log-likelihood units). With the default 35 % threshold the test
// compares 19 % against 51 % probe loss: at 19 % the expected run before a false alarm is
// ~10^5 probes; at 51 % it decides in ~50 probes (about a second in fast probing).
constexpr double kCusumThreshold = 12.0;

std::string ms(Micros value) {
  const auto tenths = value.count() / 100;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " ms";
}

}  // namespace

std::string_view toString(Verdict verdict) {
  switch (verdict) {
    case Verdict::kUnknown:
      return "unknown";
    case Verdict::kUp:
      return "up";
    case Verdict::kDown:
      return "down";
  }
  return "unknown";
}

CheckParams CheckParams::from(const config::HealthConfig& config) {
  CheckParams params;
  params.interval = Duration(config.interval_ms);
  params.timeout = Duration(config.timeout_ms);
  params.down_after = config.down_after;
  params.up_after = config.up_after;
  params.warmup = Duration(config.warmup_ms);
  params.burst = config.burst;
  params.min_timeout = std::min(params.timeout, Duration(std::max(10, config.timeout_ms / 6)));
  params.loss_down_pct = config.loss_down_pct;
  params.rtt_down = Duration(config.rtt_down_ms);
  params.flap_hold = Duration(config.flap_hold_ms);
  params.flap_hold_max = Duration(config.flap_hold_max_ms);
  return params;
}

HealthCheck::HealthCheck(CheckParams params, TimePoint now)
    : warmup_until_(now + params.warmup), next_probe_(now) {
  setParams(params);
  stats_.reason = "no reply yet";
}

void HealthCheck::setParams(const CheckParams& params) {
  const bool loss_test_changed = params.loss_down_pct != params_.loss_down_pct;
  params_ = params;
  miss_llr_ = reply_llr_ = 0;
  if (params_.loss_down_pct > 0) {
    const double p0 = params_.loss_down_pct * 0.55 / 100.0;
    const double p1 = std::min(0.95, params_.loss_down_pct * 1.45 / 100.0);
    miss_llr_ = std::log(p1 / p0);
    reply_llr_ = std::log((1 - p1) / (1 - p0));
  }
  if (loss_test_changed) cusum_ = 0;  // a score against another threshold means nothing
}

Duration HealthCheck::probeTimeout() const {
  if (!stats_.srtt) return params_.timeout;
  // RFC 6298's retransmission timeout, with a floor (scheduling noise) and the configured
  // timeout as the ceiling.
  const auto rto = stats_.srtt->count() + static_cast<std::int64_t>(4 * rttvar_us_);
  const Duration adaptive(rto / 1000 + 1);
  return std::clamp(adaptive, params_.min_timeout, params_.timeout);
}

std::vector<HealthCheck::Probe> HealthCheck::due(TimePoint now) {
  std::vector<Probe> probes;
  if (stats_.held) {
    next_probe_ = now + params_.interval;
    return probes;
  }
  auto send = [&] {
    probes.push_back({next_id_, probeTimeout()});
    outstanding_.push_back(next_id_++);
    ++stats_.sent;
  };
  if (now >= next_probe_) {
    send();
    const bool suspicious = cusum_ > 0 || stats_.misses_in_row > 0;
    const bool fast = suspicious && stats_.verdict != Verdict::kDown;
    next_probe_ = now + (fast ? params_.interval / 16 : params_.interval);
  }
  if (burst_left_ > 0 && now >= next_burst_) {
    send();
    --burst_left_;
    next_burst_ = now + params_.burst_gap;
  }
  return probes;
}

TimePoint HealthCheck::nextWake() const {
  TimePoint wake = next_probe_;
  if (burst_left_ > 0) wake = std::min(wake, next_burst_);
  if (stats_.verdict == Verdict::kUnknown && !stats_.held) wake = std::min(wake, warmup_until_);
  return wake;
}

void HealthCheck::record(bool ok) {
  window_.push_back(ok);
  if (window_.size() > kLossWindow) window_.pop_front();
  const auto lost = std::count(window_.begin(), window_.end(), false);
  stats_.loss_pct = 100.0 * static_cast<double>(lost) / static_cast<double>(window_.size());
}

std::optional<Transition> HealthCheck::onResult(TimePoint now, std::uint64_t id, bool ok,
                                                Micros rtt) {
  auto it = std::find(outstanding_.begin(), outstanding_.end(), id);
  if (it == outstanding_.end()) return std::nullopt;
  outstanding_.erase(it);
  if (stats_.held) return std::nullopt;
  record(ok);
  return ok ? onReply(now, rtt) : onMiss(now);
}

std::optional<Transition> HealthCheck::onReply(TimePoint now, Micros rtt) {
  ++stats_.replies;
  stats_.last_rtt = rtt;
  if (!stats_.srtt) {
    stats_.srtt = rtt;
    rttvar_us_ = static_cast<double>(rtt.count()) / 2;
  } else {
    const double delta = std::abs(static_cast<double>(stats_.srtt->count() - rtt.count()));
    rttvar_us_ = 0.75 * rttvar_us_ + 0.25 * delta;
    stats_.srtt = Micros((7 * stats_.srtt->count() + rtt.count()) / 8);
  }
  stats_.misses_in_row = 0;
  ++stats_.replies_in_row;
  grace_until_ = TimePoint{};  // a reply proves our side works again: misses count from now
  burst_left_ = 0;
  if (miss_llr_ > 0) cusum_ = std::max(0.0, cusum_ + reply_llr_);

  const bool slow = params_.rtt_down.count() > 0 && *stats_.srtt > params_.rtt_down;
  switch (stats_.verdict) {
    case Verdict::kUnknown:
      if (slow)
        return become(now, Verdict::kDown,
                      "smoothed RTT " + ms(*stats_.srtt) + " is above rtt_down_ms");
      return become(now, Verdict::kUp, "replied (RTT " + ms(rtt) + ")");
    case Verdict::kUp:
      if (slow) {
        return become(now, Verdict::kDown,
                      "smoothed RTT " + ms(*stats_.srtt) + " is above rtt_down_ms (" +
                          std::to_string(params_.rtt_down.count()) + " ms)");
      }
      return std::nullopt;
    case Verdict::kDown: {
      if (stats_.replies_in_row < params_.up_after) return std::nullopt;
      if (stats_.hold_down_until && now < *stats_.hold_down_until) return std::nullopt;
      const bool recovered =
          params_.rtt_down.count() == 0 || *stats_.srtt * 5 < params_.rtt_down * 4;
      if (!recovered) return std::nullopt;
      stats_.hold_down_until.reset();
      return become(now, Verdict::kUp,
                    std::to_string(stats_.replies_in_row) + " replies in a row (RTT " +
                        ms(*stats_.srtt) + ")");
    }
  }
  return std::nullopt;
}

std::optional<Transition> HealthCheck::onMiss(TimePoint now) {
  ++stats_.misses_in_row;
  stats_.replies_in_row = 0;
  // Misses in the grace after a hold are our side's (our tincd was coming back), not the
  // gateway's: they must not stay in the loss score either (bench/chaos found a single miss
  // declaring "sustained loss" right after a tincd restart).
  if (miss_llr_ > 0 && now >= grace_until_) cusum_ += miss_llr_;
  if (stats_.verdict == Verdict::kDown) return std::nullopt;
  if (stats_.misses_in_row == 1 && params_.burst > 0) {
    burst_left_ = std::min(params_.burst, params_.down_after - 1);
    next_burst_ = now;
  }
  // After a hold (our own tincd restarted) misses do not count against the gateway until the
  // warm-up is over; at start-up (verdict unknown) they do.
  if (now < grace_until_) return std::nullopt;
  if (stats_.misses_in_row >= params_.down_after) {
    return become(now, Verdict::kDown,
                  std::to_string(stats_.misses_in_row) + " probes in a row unanswered");
  }
  if (miss_llr_ > 0 && cusum_ >= kCusumThreshold) {
    char loss[16];
    std::snprintf(loss, sizeof loss, "%.0f", stats_.loss_pct);
    return become(now, Verdict::kDown,
                  std::string("sustained probe loss (") + loss + " % of the last " +
                      std::to_string(window_.size()) + " probes; threshold " +
                      std::to_string(params_.loss_down_pct) + " %)");
  }
  return std::nullopt;
}

std::optional<Transition> HealthCheck::tick(TimePoint now) {
  if (stats_.held || stats_.verdict != Verdict::kUnknown || now < warmup_until_) {
    return std::nullopt;
  }
  return become(now, Verdict::kDown,
                "no reply during the warm-up (" + std::to_string(params_.warmup.count()) + " ms)");
}

void HealthCheck::hold(TimePoint now, bool held) {
  if (held == stats_.held) return;
  stats_.held = held;
  outstanding_.clear();
  burst_left_ = 0;
  stats_.misses_in_row = 0;
  if (!held) {
    grace_until_ = now + params_.warmup;
    if (stats_.verdict == Verdict::kUnknown) warmup_until_ = now + params_.warmup;
    next_probe_ = now;
  }
}

std::optional<Transition> HealthCheck::become(TimePoint now, Verdict to, std::string reason) {
  const Verdict from = stats_.verdict;
  if (from == to) return std::nullopt;
  // A flap is a fall from up: a warm-up without a reply (unknown -> down) is not one, or a
  // gateway still starting when we did is held down 5 s at its first real failure.
  if (to == Verdict::kDown && from != Verdict::kUnknown) {
    while (!downs_.empty() && now - downs_.front() > params_.flap_window) downs_.pop_front();
    downs_.push_back(now);
    if (downs_.size() >= 2 && params_.flap_hold.count() > 0) {
      const auto flaps = std::min<std::size_t>(downs_.size() - 2, 20);
      const auto hold = std::min(params_.flap_hold * (std::int64_t{1} << flaps),
                                 std::max(params_.flap_hold_max, params_.flap_hold));
      stats_.hold_down_until = now + hold;
      reason += "; flapping (" + std::to_string(downs_.size()) +
                " downs in 5 min): held down at least " + std::to_string(hold.count() / 1000) +
                " s";
    }
  }
  if (to == Verdict::kDown) burst_left_ = 0;
  cusum_ = 0;
  stats_.verdict = to;
  stats_.last_change = now;
  stats_.reason = reason;
  return Transition{from, to, std::move(reason)};
}

}  // namespace meshbroker::health
