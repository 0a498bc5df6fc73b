// Every HTTP request's answer, independent of the socket library: a plain Request in, a plain
// Response out. A Host the operator did not choose is refused before anything else (DNS
// rebinding). Reads come from the current snapshot view (never the event loop): the public view
// without a token, everything with the right one. Actions need the bearer token and go to the
// daemon through `Perform`. The fuzz target and the unit
// tests drive this directly; web/server.cpp adapts Boost.Beast to it.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "web/auth.hpp"
#include "web/host_check.hpp"
#include "web/store.hpp"

namespace meshbroker::web {

struct Request {
  std::string method;  // GET, HEAD, POST, ...
  std::string path;    // decoded, without the query
  std::string authorization;
  std::string body;
  std::string remote;               // "address:port" of the caller, for the log
  std::optional<std::string> host;  // the Host header; nullopt: none (HTTP/1.0)
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// What the listener asks (web/server.hpp): one request in, one response out, from any of its
// threads. The status Router is one; the network document's mesh listener has its own.
class Handler {
 public:
  virtual ~Handler() = default;
  virtual Response handle(const Request& request) const = 0;
};

class Router : public Handler {
 public:
  // Runs a control request on the daemon (see Daemon::control) and returns its reply;
  // nullopt when the daemon did not answer in time. Called from an HTTP thread.
  using Perform = std::function<std::optional<nlohmann::json>(const nlohmann::json& request,
                                                              const std::string& caller)>;
  using Logger = std::function<void(const std::string& line)>;

  Router(const SnapshotStore& store, const TokenAuth& auth, Perform perform, Logger log);

  Response handle(const Request& request) const override;
  // Which Host names are answered (default: listen 127.0.0.1, no extra names). Any thread.
  void setHosts(HostPolicy policy) { hosts_.set(std::move(policy)); }

 private:
  Response read(const Request& request, const View& view) const;
  Response action(const Request& request, const View* view) const;
  void logAction(const Request& request, int status, const std::string& outcome,
                 bool authorized) const;

  const SnapshotStore& store_;
  const TokenAuth& auth_;
  HostCheck hosts_;
  Perform perform_;
  Logger log_;
  // Unauthorized attempts are logged at most kRefusedPerSecond a second, then counted.
  static constexpr int kRefusedPerSecond = 5;
  mutable std::mutex log_mutex_;
  mutable std::chrono::steady_clock::time_point window_{};
  mutable int refused_in_window_ = 0;
  mutable int refused_unlogged_ = 0;
};

}  // namespace meshbroker::web
