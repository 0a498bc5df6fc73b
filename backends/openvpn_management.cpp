// Connection, line framing and the command queue of the OpenVPN management client.
#include "backends/openvpn_management.hpp"

namespace meshbroker::backends {

using Socket = asio::local::stream_protocol::socket;

bool allowedManagementCommand(const std::string& line) {
  if (line == "status" || line == "status 2" || line == "status 3") return true;
  auto argument = [&line](std::string_view verb) -> std::optional<std::string> {
    if (!line.starts_with(verb) || line.size() <= verb.size()) return std::nullopt;
    return line.substr(verb.size());
  };
  if (auto name = argument("kill ")) {
    if (name->size() > 64) return false;
    for (char c : *name) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-' || c == '.' || c == '@';
      if (!ok) return false;
    }
    return true;
  }
  if (auto id = argument("client-kill ")) {
    return id->size() <= 20 && id->find_first_not_of("0123456789") == std::string::npos;
  }
  return false;
}

bool echoesStatusPoll(std::string_view log_line) {
  // OpenVPN prefixes its own timestamp (or none with --machine-readable-output off and syslog).
  constexpr std::string_view kEcho = "MANAGEMENT: CMD 'status";
  const auto at = log_line.find(kEcho);
  if (at == std::string_view::npos) return false;
  const std::string_view rest = log_line.substr(at + kEcho.size());
  return rest == "'" || rest == " 2'" || rest == " 3'";
}

std::optional<std::string> takeManagementLine(std::string& buffer) {
  auto end = buffer.find('\n');
  if (end == std::string::npos) return std::nullopt;
  std::string line = buffer.substr(0, end);
  buffer.erase(0, end + 1);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

void ManagementReplies::sent(bool multiline) {
  waiting_ = true;
  multiline_ = multiline;
  reply_.clear();
  reply_bytes_ = 0;
}

ManagementReplies::Outcome ManagementReplies::feed(std::string_view line) {
  using Kind = Outcome::Kind;
  Outcome outcome;
  if (line.starts_with(">")) {  // real-time notification, never part of a reply
    if (line.starts_with(">INFO:") && !ready_) {
      ready_ = true;
      outcome.kind = Kind::kReady;
    }
    return outcome;
  }
  if (!waiting_) {
    outcome.kind = Kind::kUnexpected;
    return outcome;
  }
  bool finished = false;
  bool ok = true;
  if (multiline_) {
    if (line == "END") {
      finished = true;
    } else if (reply_.empty() && line.starts_with("ERROR:")) {
      finished = true;
      ok = false;
      reply_.emplace_back(line);
    } else {
      reply_.emplace_back(line);
      reply_bytes_ += line.size() + 1;
      if (reply_.size() > kMaxReplyLines || reply_bytes_ > kMaxReplyBytes) {
        waiting_ = false;
        reply_.clear();
        reply_.shrink_to_fit();
        outcome.kind = Kind::kOverflow;
        return outcome;
      }
    }
  } else {
    reply_.emplace_back(line);
    finished = true;
    ok = parseCommandReply(line, nullptr).value_or(false);
  }
  if (!finished) {
    outcome.kind = Kind::kPartial;
    return outcome;
  }
  waiting_ = false;
  outcome.kind = Kind::kReply;
  outcome.ok = ok;
  outcome.lines = std::move(reply_);
  reply_.clear();
  return outcome;
}

struct OpenVpnManagement::State {
  explicit State(asio::io_context& io) : socket(io), retry(io), reply_deadline(io) {}
  Socket socket;
  asio::steady_timer retry;
  asio::steady_timer reply_deadline;  // for the command in flight
  std::chrono::milliseconds retry_every{50};
  std::chrono::milliseconds reply_timeout{10000};
  bool closed = false;
  bool lost = false;  // the connection dropped; reconnecting (commands refused meanwhile)
  // Which connection a read or write was started on: the ones a drop cancels, or that were
  // in flight then, must not act on the next connection.
  unsigned connection = 0;
  std::string buffer;
  std::deque<Pending> queue;  // front() is in flight while replies.waiting()
  ManagementReplies replies;
  std::function<void()> on_ready;
  std::function<void()> on_lost;
};

OpenVpnManagement::OpenVpnManagement(asio::io_context& io, std::string socket_path, Logger log)
    : io_(io), path_(std::move(socket_path)), log_(std::move(log)) {}

OpenVpnManagement::~OpenVpnManagement() { close(); }

bool OpenVpnManagement::connected() const { return state_ && state_->replies.ready(); }

void OpenVpnManagement::open(std::function<void()> on_ready, std::function<void()> on_lost,
                             std::chrono::milliseconds retry_every,
                             std::chrono::milliseconds reply_timeout) {
  close();
  state_ = std::make_shared<State>(io_);
  state_->on_ready = std::move(on_ready);
  state_->on_lost = std::move(on_lost);
  state_->retry_every = retry_every;
  state_->reply_timeout = reply_timeout;
  tryConnect();
}

void OpenVpnManagement::close() {
  if (!state_) return;
  auto state = state_;
  state->closed = true;
  boost::system::error_code ignored;
  state->retry.cancel();
  state->reply_deadline.cancel();
  state->socket.close(ignored);
  auto queue = std::move(state->queue);
  state_.reset();
  for (auto& pending : queue) pending.on_reply(false, {"management connection closed"});
}

void OpenVpnManagement::tryConnect() {
  auto state = state_;
  state->socket.async_connect(
      asio::local::stream_protocol::endpoint(path_),
      [this, state](const boost::system::error_code& ec) {
        if (state->closed) return;
        if (ec) {
          boost::system::error_code ignored;
          state->socket.close(ignored);
          state->retry.expires_after(state->retry_every);
          state->retry.async_wait([this, state](const boost::system::error_code& wait_ec) {
            if (!wait_ec && !state->closed) tryConnect();
          });
          return;
        }
        readLoop();
      });
}

void OpenVpnManagement::readLoop() {
  auto state = state_;
  const auto connection = state->connection;
  asio::async_read_until(
      state->socket, asio::dynamic_buffer(state->buffer, 1 << 20), '\n',
      [this, state, connection](const boost::system::error_code& ec, std::size_t) {
        if (state->closed || state->connection != connection) return;
        if (ec) {
          fail(ec == asio::error::not_found ? "a line longer than 1 MiB" : ec.message());
          return;
        }
        // async_read_until stopped at the first '\n', n bytes in: exactly one line is complete.
        if (auto line = takeManagementLine(state->buffer)) onLine(*line);
        if (!state->closed && state->connection == connection) readLoop();
      });
}

void OpenVpnManagement::onLine(const std::string& line) {
  using Kind = ManagementReplies::Outcome::Kind;
  auto state = state_;
  auto outcome = state->replies.feed(line);
  switch (outcome.kind) {
    case Kind::kNotification:
    case Kind::kPartial:
      return;
    case Kind::kReady:
      state->lost = false;
      if (state->on_ready) state->on_ready();
      sendNext();
      return;
    case Kind::kUnexpected:
      log_("openvpn management: unexpected line: " + escapeForMessage(line));
      return;
    case Kind::kOverflow:
      fail("the reply to \"" + escapeForMessage(state->queue.front().text) + "\" ran past " +
           std::to_string(ManagementReplies::kMaxReplyLines) + " lines or " +
           std::to_string(ManagementReplies::kMaxReplyBytes >> 20) + " MiB without END");
      return;
    case Kind::kReply:
      break;
  }
  state->reply_deadline.cancel();
  Pending done = std::move(state->queue.front());
  state->queue.pop_front();
  done.on_reply(outcome.ok, outcome.lines);
  if (state_ == state) sendNext();
}

void OpenVpnManagement::command(std::string text, bool multiline, ReplyHandler on_reply) {
  if (!state_ || state_->closed || state_->lost) {
    on_reply(false, {"not connected"});
    return;
  }
  // A command is one line: a newline would smuggle in a second command.
  if (text.find_first_of("\r\n") != std::string::npos) {
    on_reply(false, {"refused: command contains a line break"});
    return;
  }
  state_->queue.push_back({std::move(text), multiline, std::move(on_reply)});
  sendNext();
}

void OpenVpnManagement::sendNext() {
  auto state = state_;
  if (!state || !state->replies.ready() || state->replies.waiting() || state->queue.empty()) {
    return;
  }
  state->replies.sent(state->queue.front().multiline);
  state->reply_deadline.expires_after(state->reply_timeout);
  state->reply_deadline.async_wait([this, state](const boost::system::error_code& ec) {
    if (ec || state->closed || !state->replies.waiting()) return;
    fail("no complete reply to \"" + escapeForMessage(state->queue.front().text) + "\" within " +
         std::to_string(state->reply_timeout.count()) + " ms");
  });
  auto line = std::make_shared<std::string>(state->queue.front().text + "\n");
  asio::async_write(state->socket, asio::buffer(*line),
                    [this, state, line, connection = state->connection](
                        const boost::system::error_code& ec, std::size_t) {
                      if (ec && !state->closed && state->connection == connection)
                        fail(ec.message());
                    });
}

void OpenVpnManagement::status(std::function<void(const StatusReport&)> on_report) {
  command("status 3", true, [on_report](bool ok, const std::vector<std::string>& lines) {
    if (!ok) {  // no reply (connection lost, refused): nothing to parse, report incomplete
      on_report(StatusReport{});
      return;
    }
    StatusParser parser;
    for (const auto& line : lines) parser.feed(line);
    parser.feed("END");
    on_report(parser.report());
  });
}

void OpenVpnManagement::fail(const std::string& why) {
  auto state = state_;
  if (!state) return;
  log_("openvpn management: connection lost: " + why);
  // Drop the connection and what was queued on it, then connect again: the interface (this
  // OpenVPN, or the next one the supervisor starts and opens anew) will answer again.
  boost::system::error_code ignored;
  state->socket.close(ignored);
  state->reply_deadline.cancel();
  state->buffer.clear();
  state->replies = ManagementReplies{};
  state->lost = true;
  ++state->connection;
  auto queue = std::move(state->queue);
  for (auto& pending : queue) pending.on_reply(false, {"management connection lost: " + why});
  if (state->on_lost) state->on_lost();
  if (state->closed) return;  // on_lost closed or reopened it
  state->retry.expires_after(kReconnectAfter);
  state->retry.async_wait([this, state](const boost::system::error_code& ec) {
    if (ec || state->closed) return;
    log_("openvpn management: reconnecting");
    tryConnect();
  });
}

}  // namespace meshbroker::backends
