// The daemon's part of the network registry (issue 20, docs/network.md), on the event loop:
// holds the last good signed network document (loaded from the state folder at start and
// verified again), and
//  - on the registry: signs a new version whenever its config describes a different network
//    (at start and after each reload) with the key in network.signing_key_file;
//  - on every other node: asks its ConnectTo servers for the document every poll_ms, in turn
//    until one answers (none did: again after 1, 2, 4, ... s up to poll_ms; at once when tinc
//    reports one of them up), on a thread of its own (an HTTP GET never blocks the loop);
//    takes a
//    document only when it verifies against the pinned key and is a newer version of this
//    network, and writes it to the state folder atomically before holding it;
//  - on servers: serves what it holds on its mesh address (web::NetworkHandler);
//  - push nudges (network/nudge): the registry sends every node a UDP datagram on its mesh
//    address (network.port) after signing a new version; a node that holds an older one pulls
//    at once, then every 300 ms until its servers have it (at most 10 pulls), then polls again.
//  - on the registry also: keeps what only it decides (network/registry_state: joined and
//    removed nodes) and signs a new version within a second of a CRL file changing;
//  - on servers that run an instance the document carries a CRL for (and hold no CA key):
//    writes that CRL over the instance's CRL file, which the instance's driver acts on.
// A node that cannot reach any server keeps its last good document. The daemon applies a new
// one (network/overlay: nodes its file does not name become hosts) with a reload.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/model.hpp"
#include "io/asio.hpp"
#include "model/network_document.hpp"
#include "network/nudge.hpp"
#include "network/registry_state.hpp"
#include "supervisor/clock.hpp"
#include "supervisor/part_hooks.hpp"
#include "web/network_handler.hpp"

namespace meshbroker::web {
class RunningServer;
}

namespace meshbroker::supervisor {

class NetworkSync {
 public:
  // `config` is the daemon's, replaced in place at reload (call configure() after).
  NetworkSync(asio::io_context& io, const config::NodeConfig& config, PartHooks hooks);
  ~NetworkSync();
  NetworkSync(const NetworkSync&) = delete;
  NetworkSync& operator=(const NetworkSync&) = delete;

  // At start and after each reload: load the held document (first time), publish (registry),
  // listen (servers), poll (the others). Does nothing without a `network` section.
  void configure();
  // Reads and verifies the held document once (configure() does it too); the daemon calls it
  // before its first render, so a restart starts with the network it had.
  void prepare();
  void stop();
  // Registry: the network its config file describes, with the nodes that joined and without
  // the removed ones. The daemon overlays it on the file (as the others overlay the held
  // document); publish() signs it. `file` is the config as read from the file.
  model::NetworkDocument describe(const config::NodeConfig& file);
  // Registry (control `node-remove`): takes a node out of the network and keeps that on disk.
  // Empty when done (the caller reloads: that applies and signs the next version), else why not.
  std::string removeNode(const std::string& name);
  // Registry (control `invite`): a new single-use invitation; `line` is what to hand over.
  struct InviteReply {
    std::string error;  // empty: done
    std::string line;   // "meshbroker join mb1:..."
    network::Invitation invitation;
  };
  InviteReply invite(const network::InviteAsk& ask, std::int64_t ttl_ms, const std::string& host);
  std::vector<network::Invitation> invitations() const { return registry_state_.invitations; }
  std::string revokeInvitation(const std::string& id_or_token);
  // Registry: a join request that arrived on the join port (`from`: the caller's address). On
  // the loop. Admitted: the node is kept, the next version signed, the reply signed for it.
  web::Response join(const std::string& body, const std::string& from);
  // The document held (verified), if any.
  const std::optional<model::NetworkDocument>& held() const { return held_; }
  // Called on the loop after a newer document was taken (the daemon applies it: a reload).
  void setOnNewDocument(std::function<void()> callback) { on_new_ = std::move(callback); }
  std::optional<model::NetworkSnapshot> state() const;

  // tinc reports `peer` reachable (on the loop). When it is a server this node pulls from, pull
  // now: the first pull at start usually finds the mesh not there yet, and the next try
  // after a failure can be seconds away.
  void peerUp(const std::string& peer);
  // The servers whose last pull got no answer at all (the connection attempt timed out), each
  // with the start of the first such pull since it last answered: for the stale-path watch,
  // which restarts tincd when one of them stays silent while tinc says it is up.
  const std::map<std::string, TimePoint>& unansweredServers() const { return unanswered_; }

  // A signed document from `from` (a server's name), on the loop: verified, compared, kept.
  // Public for the unit tests, which feed it what a server would answer.
  void offer(const std::string& envelope, const std::string& from);

 private:
  struct Pull {
    std::string from;                 // the server that answered, or the last one tried
    std::string envelope;             // its body, when one answered 200
    std::string error;                // why none did
    std::vector<std::string> silent;  // servers tried that gave no answer (connect timeout)
  };
  void loadHeld();
  void loadRegistryState();
  void watchCrls();
  void applyCrls();
  void publish();
  void listenForJoins();
  std::string keepRegistryState(network::RegistryState next);  // "" or why not
  void listen();
  void listenForNudges();
  void receiveNudge();
  void nudged(std::string_view datagram, const std::string& from);  // one datagram, on the loop
  void sendNudges(const model::NetworkDocument& document);
  void closeNudges();
  struct PullTarget {
    std::string name, address;  // a ConnectTo server, and its mesh address
  };
  std::vector<PullTarget> pullTargets() const;  // where a node asks for the document, in turn
  void schedulePoll(Duration after);
  void pollNow();
  void finishPull(Pull pull);
  void refuse(const std::string& from, const std::string& why);
  bool keep(const std::string& envelope, const model::NetworkDocument& document);  // + disk
  void hold(const std::string& envelope, const model::NetworkDocument& document);

  asio::io_context& io_;
  const config::NodeConfig& config_;
  PartHooks hooks_;
  std::function<void()> on_new_;
  std::optional<model::NetworkDocument> held_;
  std::optional<config::NodeConfig> file_;  // registry: the config as its file says
  network::RegistryState registry_state_;
  std::string registry_state_error_;  // non-empty: the state file is unreadable; not publishing
  std::string crl_stamp_;             // registry: the CRL files as last published
  Timer crl_watch_;
  model::NetworkSnapshot state_;
  bool loaded_ = false;
  web::NetworkHandler handler_;
  std::unique_ptr<web::RunningServer> server_;
  std::string held_envelope_;  // what handler_ serves, as signed
  std::unique_ptr<web::JoinHandler> join_handler_;
  std::unique_ptr<web::RunningServer> join_server_;
  int join_port_ = 0;
  std::string server_address_;  // what server_ listens on ("address:port")
  Timer poll_;
  Timer listen_retry_;  // the mesh address appears only once tinc-up ran
  std::unique_ptr<asio::ip::udp::socket> nudge_socket_;
  std::string nudge_address_;  // what nudge_socket_ is bound to
  std::array<char, network::kMaxNudgeBytes + 1> nudge_buffer_{};
  asio::ip::udp::endpoint nudge_from_;
  Timer nudge_retry_;
  network::NudgeFollow follow_;
  Clock::time_point last_nudged_pull_{};
  std::thread worker_;
  std::atomic<bool> stopping_{false};
  bool pulling_ = false;
  int failed_pulls_ = 0;     // in a row: the next try comes sooner than the period
  bool pull_again_ = false;  // a server came up during a pull: should it fail, try again now
  TimePoint pull_started_{};
  std::map<std::string, TimePoint> unanswered_;  // see unansweredServers()
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace meshbroker::supervisor
