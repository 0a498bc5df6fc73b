// The stale-path watch: when to restart our own tincd because a peer's meta connection is up
// but nothing we send it arrives.
//
// tinc 1.0 gives each peer a packet key over the meta protocol (REQ_KEY, answered by ANS_KEY
// with a fresh key each time). While meta connections churn (two servers dialling each other at
// once, a restart), an answer can be lost or overtaken on another path: the sender keeps a key
// the receiver no longer holds, every UDP packet is "unauthenticated" and dropped, yet the meta
// connection stays up. tincd notices only after PMTU discovery gives up on UDP (about 45 s at
// start) and then tunnels over TCP until the key expires (KeyExpire, an hour). A restart of
// either tincd gives both sides new keys.
//
// A peer is stale when tinc says it is up (a host-up since our tincd started, at least
// `silence` ago) and nothing has come back from it for `silence`: neither since its last reply
// nor, when it has not answered since that host-up, since the host-up (the key can be out of
// step from the first packet). A dead or cut-off peer is never stale: its meta connection ends
// within PingInterval + PingTimeout (15 s, set in tinc.conf), well before `silence`.
// The same symptom shows on a server a node pulls the network document from: tinc says it is up
// and the pulls' connection attempts time out (seen in ansible_deploy: comegato could not reach
// chip for over 30 s at start). Such a server counts as a path too (pathViews below).
// Once a restart was made for a peer, that peer makes no other until it has answered again, so
// a peer that never answers (ICMP filtered, a wrong address) costs one restart, not one an hour.
// Restarts back off (doubling to `backoff_max`) so a peer that keeps going stale costs at most
// one restart an hour.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "supervisor/clock.hpp"

namespace meshbroker::supervisor {

struct StalePathParams {
  Duration silence{25000};        // no reply this long from a connected peer: stale
  Duration backoff_min{60000};    // after a restart, the next waits at least this...
  Duration backoff_max{3600000};  // ...doubling up to this; backoff_max without a restart resets it
};

// What the daemon knows of one peer: a probed one, or a server it pulls from.
struct PathView {
  std::string peer;
  bool mesh_up = false;                 // tinc's host-up seen, no host-down since
  TimePoint mesh_up_since{};            // when that host-up came
  std::optional<TimePoint> last_reply;  // the newest probe reply from the peer, any check
  bool pulled = false;  // judged by network-document pulls, not probes (see pathViews)
};

// The paths the watch judges, built on every tick from what the daemon knows:
//  - each probed peer (`probe_replies`: its newest reply, if any);
//  - each server this node pulls the network document from whose pulls go unanswered (the
//    connection attempt times out; `unanswered_since`: from the first such pull since it last
//    answered) and that is not probed. Its last_reply is when that silence began: the pulls
//    come seconds apart while they fail but a whole poll_ms apart while they work, so only
//    a run of unanswered ones says the path is silent. A pull it answers ends the run.
// `mesh_up_since`: the peers tinc has up, each with its last host-up. In name order.
std::vector<PathView> pathViews(
    const std::map<std::string, std::optional<TimePoint>>& probe_replies,
    const std::map<std::string, TimePoint>& unanswered_since,
    const std::map<std::string, TimePoint>& mesh_up_since);

struct StaleVerdict {
  std::string peer;
  Duration silent_for{0};
  std::string reason;  // for the log: what was seen and why a restart helps
};

class StalePathWatch {
 public:
  explicit StalePathWatch(StalePathParams params = {}) : params_(params) {}

  // Our tincd is running since `at` (nullopt: it is not running). Replies and host-ups from
  // before `at` belong to the previous tincd and do not count.
  void setTincRunning(std::optional<TimePoint> at);
  // A restart is due now, or not. After a verdict the caller restarts tincd; the watch has
  // already moved its back-off on.
  std::optional<StaleVerdict> evaluate(TimePoint now, const std::vector<PathView>& paths);

  std::optional<TimePoint> notBefore() const { return not_before_; }

 private:
  StalePathParams params_;
  std::optional<TimePoint> tinc_since_;
  std::optional<TimePoint> not_before_;      // back-off after a verdict
  std::map<std::string, TimePoint> blamed_;  // peer -> when a verdict last named it
  Duration backoff_{0};
};

}  // namespace meshbroker::supervisor
