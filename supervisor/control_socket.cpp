// Control socket server (on the event loop) and a small blocking client for the CLI.
#include "supervisor/control_socket.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "supervisor/clock.hpp"

namespace meshbroker::supervisor {

using Protocol = asio::local::stream_protocol;
constexpr std::size_t kMaxRequest = 64 * 1024;

struct ControlSocket::Connection : std::enable_shared_from_this<Connection> {
  explicit Connection(Protocol::socket s) : socket(std::move(s)), deadline(socket.get_executor()) {}
  Protocol::socket socket;
  Timer deadline;
  std::string buffer;
  std::string out;
};

ControlSocket::ControlSocket(asio::io_context& io, std::string path, Handler handler, Logger log)
    : acceptor_(io), path_(std::move(path)), handler_(std::move(handler)), log_(std::move(log)) {}

ControlSocket::~ControlSocket() {
  if (acceptor_.is_open()) ::unlink(path_.c_str());
}

void ControlSocket::open() {
  ::unlink(path_.c_str());
  mode_t old_mask = ::umask(0177);
  boost::system::error_code ec;
  acceptor_.open(Protocol(), ec);
  if (!ec) acceptor_.bind(Protocol::endpoint(path_), ec);
  if (!ec) acceptor_.listen(16, ec);
  ::umask(old_mask);
  if (ec) throw std::system_error(ec.value(), std::generic_category(), "control socket " + path_);
  accept();
}

void ControlSocket::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, Protocol::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      ucred peer{};
      socklen_t length = sizeof peer;
      bool allowed =
          ::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &peer, &length) == 0 &&
          (peer.uid == 0 || peer.uid == ::geteuid());
      if (!allowed) {
        log_("control: refused a connection from uid " + std::to_string(peer.uid));
      } else {
        auto connection = std::make_shared<Connection>(std::move(socket));
        // A client that never finishes its line is dropped: it cannot hold the daemon.
        connection->deadline.expires_after(std::chrono::seconds(5));
        connection->deadline.async_wait([connection](const boost::system::error_code& e) {
          if (!e) {
            boost::system::error_code ignored;
            connection->socket.close(ignored);
          }
        });
        asio::async_read_until(
            connection->socket, asio::dynamic_buffer(connection->buffer, kMaxRequest), '\n',
            [this, connection](const boost::system::error_code& read_ec, std::size_t n) {
              auto reply = [connection](const nlohmann::json& answer) {
                connection->out =
                    answer.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace) + "\n";
                asio::async_write(connection->socket, asio::buffer(connection->out),
                                  [connection](const boost::system::error_code&, std::size_t) {
                                    connection->deadline.cancel();
                                    boost::system::error_code ignored;
                                    connection->socket.close(ignored);
                                  });
              };
              if (read_ec) {
                if (read_ec == asio::error::not_found) {
                  reply({{"ok", false}, {"error", "request larger than 64 KiB"}});
                }
                return;
              }
              auto request =
                  nlohmann::json::parse(connection->buffer.substr(0, n - 1), nullptr, false);
              if (request.is_discarded() || !request.is_object()) {
                reply({{"ok", false}, {"error", "request is not a JSON object"}});
                return;
              }
              handler_(request, reply);
            });
      }
    }
    accept();
  });
}

std::optional<nlohmann::json> controlRequest(const std::string& path, const nlohmann::json& request,
                                             std::chrono::milliseconds timeout, std::string* why) {
  asio::io_context io;
  Protocol::socket socket(io);
  boost::system::error_code ec;
  socket.connect(Protocol::endpoint(path), ec);
  if (ec) {
    if (why) *why = "no daemon listening at " + path + " (" + ec.message() + ")";
    return std::nullopt;
  }
  std::string out = request.dump() + "\n";
  std::string in;
  std::optional<nlohmann::json> result;
  asio::async_write(
      socket, asio::buffer(out), [&](const boost::system::error_code& write_ec, std::size_t) {
        if (write_ec) return;
        asio::async_read_until(socket, asio::dynamic_buffer(in, 16 << 20), '\n',
                               [&](const boost::system::error_code& read_ec, std::size_t n) {
                                 if (read_ec) return;
                                 auto parsed =
                                     nlohmann::json::parse(in.substr(0, n - 1), nullptr, false);
                                 if (!parsed.is_discarded()) result = parsed;
                               });
      });
  io.run_for(timeout);
  if (!result && why) *why = "the daemon did not answer in time";
  return result;
}

}  // namespace meshbroker::supervisor
