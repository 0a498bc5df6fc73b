// The daemon's control socket (<runtime_dir>/control.sock, 0600, root or our uid only): one
// JSON request line in, one JSON reply line out. The CLI goes through it while the daemon runs,
// because OpenVPN serves one management client and the daemon is that client.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "io/asio.hpp"

namespace meshbroker::supervisor {

class ControlSocket {
 public:
  // The handler answers one request by calling reply exactly once (possibly later).
  using Reply = std::function<void(const nlohmann::json&)>;
  using Handler = std::function<void(const nlohmann::json& request, Reply reply)>;
  using Logger = std::function<void(const std::string&)>;

  ControlSocket(asio::io_context& io, std::string path, Handler handler, Logger log);
  ~ControlSocket();
  void open();  // throws std::system_error

 private:
  struct Connection;
  void accept();

  asio::local::stream_protocol::acceptor acceptor_;
  std::string path_;
  Handler handler_;
  Logger log_;
};

// Client side, blocking with a timeout: sends request, returns the reply; nullopt when no
// daemon listens (why says so) or it did not answer in time.
std::optional<nlohmann::json> controlRequest(const std::string& path, const nlohmann::json& request,
                                             std::chrono::milliseconds timeout, std::string* why);

}  // namespace meshbroker::supervisor
