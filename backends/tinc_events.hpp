// Events from tinc's hook scripts (tinc-up, host-up, ...) sent by `meshbroker notify`.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "io/asio.hpp"

namespace meshbroker::backends {

enum class TincEventKind { kTincUp, kTincDown, kHostUp, kHostDown, kSubnetUp, kSubnetDown };

struct TincEvent {
  TincEventKind kind;
  std::string node;            // host-*/subnet-*: the peer ([A-Za-z0-9_]+)
  std::string remote_address;  // host-*: where the peer connects from
  std::string subnet;          // subnet-*
};

std::string_view toString(TincEventKind kind);

// Parses one datagram. Pure; nullopt with *why on anything malformed (not JSON, unknown
// event, a node name tinc would not accept, oversized fields).
std::optional<TincEvent> parseTincEvent(std::string_view datagram, std::string* why);

// Receives events on a unix datagram socket (mode 0600) in the runtime folder. Only datagrams
// from root, from our own uid or from the one allowed sender (tincd's user, whose hooks run
// after it dropped root) are accepted (SO_PASSCRED); others are logged and dropped.
class TincEventSocket {
 public:
  using Handler = std::function<void(const TincEvent&)>;
  using Logger = std::function<void(const std::string&)>;

  TincEventSocket(asio::io_context& io, std::string path, Handler on_event, Logger log);
  ~TincEventSocket();
  TincEventSocket(const TincEventSocket&) = delete;
  TincEventSocket& operator=(const TincEventSocket&) = delete;

  // Before open(): also accept datagrams from this uid; the socket is then mode 0660 with this
  // group (needs CAP_CHOWN when we are not in it).
  void allowSender(uid_t uid, gid_t gid) { sender_ = {uid, gid}; }
  // Binds (replacing a stale socket file) and starts receiving. Throws std::system_error.
  void open();
  const std::string& path() const { return path_; }

 private:
  void receive();

  asio::posix::stream_descriptor socket_;
  std::string path_;
  Handler on_event_;
  Logger log_;
  std::optional<std::pair<uid_t, gid_t>> sender_;
};

}  // namespace meshbroker::backends
