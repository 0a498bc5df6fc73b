// The one client of an OpenVPN management interface (unix socket). OpenVPN serves one client
// at a time, so meshbroker owns it and queues everyone's commands through here.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backends/openvpn_status.hpp"
#include "io/asio.hpp"

namespace meshbroker::backends {

// The management commands other programs may send through the daemon: reading the client
// list ("status", "status 2|3") and disconnecting a client ("kill NAME", "client-kill ID").
// Nothing that reconfigures or stops OpenVPN.
bool allowedManagementCommand(const std::string& line);

// Takes the first complete line ('\n'-terminated) off the front of buffer, without its line end
// ("\r\n" or "\n"). nullopt while no line is complete. Pure: the socket reader uses it.
std::optional<std::string> takeManagementLine(std::string& buffer);

// True for the line OpenVPN logs (verb 3) when it receives a "status" command: meshbroker's
// own poll every few seconds, not worth a log line each time (OpenVPN itself keeps quiet about
// "load-stats" for the same reason). Other commands' lines (a kill) stay in the log.
bool echoesStatusPoll(std::string_view log_line);

// What the management client makes of each line it reads, without a socket: real-time
// notifications (">INFO:", ">CLIENT:", ">BYTECOUNT:", ...) are never part of a reply; the
// first ">INFO:" banner means the interface is ready; other lines belong to the reply of the
// command in flight, which ends at "END" (multiline) or is one "SUCCESS:"/"ERROR:" line.
// OpenVpnManagement runs exactly this; the fuzzer and unit tests drive it directly.
class ManagementReplies {
 public:
  struct Outcome {
    enum class Kind {
      kNotification,  // a '>' line other than the first banner: ignored
      kReady,         // the first ">INFO:" banner
      kUnexpected,    // a reply line while no command is in flight
      kPartial,       // one more line of a multiline reply
      kReply,         // the reply of the command in flight is complete
      kOverflow,      // the reply passed kMaxReplyLines or kMaxReplyBytes without its END
    };
    Kind kind = Kind::kNotification;
    bool ok = false;                 // kReply: SUCCESS, or a multiline reply ended by END
    std::vector<std::string> lines;  // kReply: the reply's lines, without END
  };

  // A multiline reply that runs on past these (a broken or hostile peer that never says END)
  // is a protocol error, not something to keep in memory. `status 3` of 10,000 clients is
  // about 20,000 lines and 3 MB.
  static constexpr std::size_t kMaxReplyLines = 200000;
  static constexpr std::size_t kMaxReplyBytes = 32u << 20;

  // A command was written; its reply starts with the next line that is not a notification.
  // Only valid when ready() and not waiting().
  void sent(bool multiline);
  bool ready() const { return ready_; }
  bool waiting() const { return waiting_; }
  Outcome feed(std::string_view line);

 private:
  bool ready_ = false;
  bool waiting_ = false;
  bool multiline_ = false;
  std::vector<std::string> reply_;
  std::size_t reply_bytes_ = 0;
};

class OpenVpnManagement {
 public:
  using Logger = std::function<void(const std::string&)>;
  // Reply lines (without END), and whether the command succeeded.
  using ReplyHandler = std::function<void(bool ok, const std::vector<std::string>& lines)>;

  OpenVpnManagement(asio::io_context& io, std::string socket_path, Logger log);
  ~OpenVpnManagement();

  // Connects, retrying every retry_every until it works or close() is called; on_ready runs
  // once the interface has answered (its >INFO banner). If the connection drops, the queued
  // commands fail, on_lost runs, and it connects again kReconnectAfter later (on_ready runs
  // again when the interface answers); commands are refused until then.
  void open(std::function<void()> on_ready, std::function<void()> on_lost,
            std::chrono::milliseconds retry_every = std::chrono::milliseconds(50),
            std::chrono::milliseconds reply_timeout = std::chrono::seconds(10));
  void close();
  static constexpr std::chrono::milliseconds kReconnectAfter{1000};
  bool connected() const;

  // Queues a command. multiline: the reply ends with "END" (status); otherwise it is one
  // SUCCESS:/ERROR: line. Without a connection the handler gets (false, {"not connected"}).
  // A reply that has not ended within reply_timeout (see open) drops the connection (its
  // commands fail, on_lost runs): a hung management interface must not stall the queue.
  void command(std::string text, bool multiline, ReplyHandler on_reply);

  // "status 3", parsed. Without a reply (connection lost) the report is not complete and
  // holds nothing.
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
