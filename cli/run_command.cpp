// Wires the real event loop, process launcher and config into a Daemon and runs it, with the
// server's part (server_run.hpp) when the build has one.
#include "cli/run_command.hpp"

#include <signal.h>

#include "backends/process.hpp"
#include "cli/commands.hpp"
#include "cli/server_run.hpp"
#include "config/loader.hpp"
#include "health/socket_prober.hpp"
#include "io/log.hpp"
#include "routing/netlink_neighbours.hpp"
#include "routing/netlink_route_table.hpp"
#include "supervisor/daemon.hpp"
#include "supervisor/gateway_monitor.hpp"

namespace meshbroker::cli {

int runDaemon(const std::filesystem::path& config_file,
              const std::filesystem::path& meshbroker_binary, std::ostream& err) {
  auto absolute = std::filesystem::absolute(config_file);
  auto result = config::loadConfigFile(absolute);
  for (const auto& problem : result.diagnostics.all()) {
    err << config_file.string() << ": " << problem.str() << "\n";
  }
  if (!result.config) return kExitInvalidConfig;
  auto refused = notForThisBuild(*result.config);  // a server's config, gateway-only build
  for (const auto& problem : refused.all())
    err << config_file.string() << ": " << problem.str() << "\n";
  if (refused.hasErrors()) return kExitInvalidConfig;
  // Writes to a closed socket must fail with EPIPE, not kill the daemon. Children get the
  // default disposition back before exec.
  ::signal(SIGPIPE, SIG_IGN);
  try {
    asio::io_context io;
    backends::RealProcessLauncher launcher(io);
    auto server = ServerRun::make(io);  // nullptr: a gateway-only build
    const auto protocol = static_cast<std::uint8_t>(result.config->routing.protocol);
    routing::NetlinkRouteTable routes(protocol);
    health::SocketProber prober(io);
    supervisor::Daemon daemon(io, launcher, {absolute, meshbroker_binary, MESHBROKER_VERSION},
                              std::move(*result.config),
                              server ? server->serverSide() : supervisor::ServerSideFactory());
    supervisor::GatewayMonitor monitor(io, prober, &routes, [&daemon] { daemon.changed(); });
    daemon.attachMonitor(&monitor);
    daemon.setNeighbourKeeper(
        [](const std::string& device, const std::vector<routing::Neighbour>& desired) {
          routing::NetlinkNeighbours table;
          return routing::applyNeighbours(table, device, desired);
        });
    if (server) server->attach(daemon);
    daemon.start();
    io.run();
    if (server) server->stop();
  } catch (const std::exception& e) {
    io::log(io::Level::kError, std::string("cannot run: ") + e.what());
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace meshbroker::cli
