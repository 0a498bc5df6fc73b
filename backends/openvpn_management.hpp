// The one client of an OpenVPN management interface (unix socket). OpenVPN serves one client
// at a time, so meshbroker owns it and queues everyone's commands through here.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backends/openvpn_status.hpp"
#include "io/asio.hpp"

namespace meshbroker::backends {

// The management commands other programs may send through the daemon: reading the client
// list ("status", "status 2|3") and disconnecting a client ("kill NAME", "client-kill ID").
// Nothing that reconfigures or stops OpenVPN.
bool allowedManagementCommand(const std::string& line);

class OpenVpnManagement {
 public:
  using Logger = std::function<void(const std::string&)>;
  // Reply lines (without END), and whether the command succeeded.
  using ReplyHandler = std::function<void(bool ok, const std::vector<std::string>& lines)>;

  OpenVpnManagement(asio::io_context& io, std::string socket_path, Logger log);
  ~OpenVpnManagement();

  // Connects, retrying every retry_every until it works or close() is called; on_ready runs
  // once the interface has answered (its >INFO banner). on_lost runs if the connection drops.
  void open(std::function<void()> on_ready, std::function<void()> on_lost,
            std::chrono::milliseconds retry_every = std::chrono::milliseconds(50));
  void close();
  bool connected() const;

  // Queues a command. multiline: the reply ends with "END" (status); otherwise it is one
  // SUCCESS:/ERROR: line. Without a connection the handler gets (false, {"not connected"}).
  void command(std::string text, bool multiline, ReplyHandler on_reply);

  // "status 3", parsed.
  void status(std::function<void(const StatusReport&)> on_report);

 private:
  struct Pending {
    std::string text;
    bool multiline;
    ReplyHandler on_reply;
  };
  struct State;
  void tryConnect();
  void readLoop();
  void onLine(const std::string& line);
  void sendNext();
  void fail(const std::string& why);

  asio::io_context& io_;
  std::string path_;
  Logger log_;
  std::shared_ptr<State> state_;
};

}  // namespace meshbroker::backends
