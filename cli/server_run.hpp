// The server's part of `meshbroker run`, which the composition root (run_command.cpp) adds when
// the build has one: OpenVPN's rate limiter and the daemon's server side (supervisor/
// server_parts.hpp), and the status page, API and metrics (web::StatusService, Boost.Beast).
// server_run.cpp in the full build; gateway_run.cpp in a gateway-only build, which has none.
#pragma once

#include <memory>

#include "io/asio.hpp"
#include "supervisor/server_side.hpp"

namespace meshbroker::supervisor {
class Daemon;
}

namespace meshbroker::cli {

class ServerRun {
 public:
  // nullptr in a gateway-only build.
  static std::unique_ptr<ServerRun> make(asio::io_context& io);
  // False in a gateway-only build: a server's config is refused (cli::notForThisBuild).
  static bool built();
  virtual ~ServerRun() = default;

  // What the daemon makes its server side with.
  virtual supervisor::ServerSideFactory serverSide() = 0;
  // Before daemon.start(): the HTTP listener gets the daemon's snapshots and control.
  virtual void attach(supervisor::Daemon& daemon) = 0;
  // After the loop ended.
  virtual void stop() = 0;
};

}  // namespace meshbroker::cli
