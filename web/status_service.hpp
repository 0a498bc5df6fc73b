// The status service as the daemon runs it: the snapshot store, the token, the router and
// the HTTP listener, (re)configured from the config's `status` section at start and on every
// reload. A listener that cannot bind is logged and retried; the tunnels never wait for it.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "config/model.hpp"
#include "io/asio.hpp"
#include "web/router.hpp"
#include "web/server.hpp"
#include "web/store.hpp"

namespace meshbroker::web {

class StatusService {
 public:
  StatusService(asio::io_context& io, BuildInfo build, Router::Perform perform);
  ~StatusService();

  SnapshotStore& store() { return store_; }
  // Event loop only.
  void configure(const config::StatusConfig& config);
  void stop();
  int port() const { return server_ ? server_->port() : 0; }

 private:
  void listen();

  asio::io_context& io_;
  SnapshotStore store_;
  TokenAuth auth_;
  Router router_;
  std::optional<ServerOptions> wanted_;
  std::unique_ptr<HttpServer> server_;
  asio::steady_timer retry_;
};

// A Router::Perform that runs the request on `io` through `control` and waits for its reply
// (at most `timeout`) on the calling HTTP thread.
using ControlFunction = std::function<void(const nlohmann::json& request, const std::string& caller,
                                           std::function<void(const nlohmann::json&)> reply)>;
Router::Perform performOnLoop(asio::io_context& io, ControlFunction control,
                              std::chrono::milliseconds timeout);

bool isLoopback(const std::string& address);

}  // namespace meshbroker::web
