#include "supervisor/stale_path.hpp"

#include <algorithm>

namespace meshbroker::supervisor {

namespace {

std::string seconds(Duration d) {
  const auto tenths = d.count() / 100;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " s";
}

}  // namespace

std::vector<PathView> pathViews(
    const std::map<std::string, std::optional<TimePoint>>& probe_replies,
    const std::map<std::string, TimePoint>& unanswered_since,
    const std::map<std::string, TimePoint>& mesh_up_since) {
  std::map<std::string, PathView> views;
  const auto view = [&](const std::string& peer) -> PathView& {
    auto& v = views[peer];
    v.peer = peer;
    if (auto up = mesh_up_since.find(peer); up != mesh_up_since.end()) {
      v.mesh_up = true;
      v.mesh_up_since = up->second;
    }
    return v;
  };
  for (const auto& [peer, since] : unanswered_since) {
    auto& v = view(peer);
    v.last_reply = since;
    v.pulled = true;
  }
  for (const auto& [peer, reply] : probe_replies) {  // probes, where there are, say more
    auto& v = view(peer);
    v.last_reply = reply;
    v.pulled = false;
  }
  std::vector<PathView> out;
  out.reserve(views.size());
  for (auto& [peer, v] : views) out.push_back(std::move(v));
  return out;
}

void StalePathWatch::setTincRunning(std::optional<TimePoint> at) {
  if (!at) {
    tinc_since_.reset();
    return;
  }
  if (!tinc_since_) tinc_since_ = at;
}

std::optional<StaleVerdict> StalePathWatch::evaluate(TimePoint now,
                                                     const std::vector<PathView>& paths) {
  if (!tinc_since_) return std::nullopt;
  if (not_before_ && now < *not_before_) return std::nullopt;
  const PathView* worst = nullptr;
  Duration worst_silence{0};
  bool worst_answered = false;
  for (const auto& path : paths) {
    if (!path.mesh_up || path.mesh_up_since < *tinc_since_) continue;
    // A reply from before this host-up proves nothing about the present connection: then the
    // silence counts from the host-up.
    const bool answered = path.last_reply && *path.last_reply >= path.mesh_up_since;
    const TimePoint silent_since = answered ? *path.last_reply : path.mesh_up_since;
    const auto silent = std::chrono::duration_cast<Duration>(now - silent_since);
    const auto connected = std::chrono::duration_cast<Duration>(now - path.mesh_up_since);
    if (silent < params_.silence || connected < params_.silence) continue;
    // Restarted for this peer already, and not a reply since: another restart will not help.
    if (auto blamed = blamed_.find(path.peer);
        blamed != blamed_.end() && (!path.last_reply || *path.last_reply < blamed->second)) {
      continue;
    }
    if (!worst || silent > worst_silence) {
      worst = &path;
      worst_silence = silent;
      worst_answered = answered;
    }
  }
  if (!worst) return std::nullopt;
  // Quiet for backoff_max after the back-off ran out: start again from backoff_min.
  if (not_before_ && now - *not_before_ >= params_.backoff_max) backoff_ = Duration{0};
  backoff_ = backoff_.count() == 0 ? params_.backoff_min
                                   : std::min<Duration>(backoff_ * 2, params_.backoff_max);
  not_before_ = now + backoff_;
  tinc_since_.reset();  // the caller restarts it; setTincRunning() says when it runs again
  blamed_[worst->peer] = now;
  StaleVerdict verdict;
  verdict.peer = worst->peer;
  verdict.silent_for = worst_silence;
  verdict.reason = "peer " + worst->peer + " has been connected over tinc for " +
                   seconds(std::chrono::duration_cast<Duration>(now - worst->mesh_up_since)) +
                   " but has answered nothing " +
                   (worst->pulled ? std::string("to our network-document pulls ") : "") +
                   (worst_answered ? "for " + seconds(worst_silence) : "since it connected") +
                   " (tinc 1.0's packet key out of step?); restarting tincd gives both sides "
                   "new keys; next such restart not before " +
                   seconds(backoff_) + " from now";
  return verdict;
}

}  // namespace meshbroker::supervisor
