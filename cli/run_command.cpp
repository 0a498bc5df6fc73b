// Wires the real event loop, process launcher and config into a Daemon and runs it.
#include "cli/run_command.hpp"

#include <signal.h>

#include "backends/process.hpp"
#include "cli/commands.hpp"
#include "config/loader.hpp"
#include "health/socket_prober.hpp"
#include "io/log.hpp"
#include "routing/netlink_neighbours.hpp"
#include "routing/netlink_route_table.hpp"
#include "supervisor/daemon.hpp"
#include "supervisor/gateway_monitor.hpp"
#include "web/status_service.hpp"

namespace meshbroker::cli {

int runDaemon(const std::filesystem::path& config_file,
              const std::filesystem::path& meshbroker_binary, std::ostream& err) {
  auto absolute = std::filesystem::absolute(config_file);
  auto result = config::loadConfigFile(absolute);
  for (const auto& problem : result.diagnostics.all()) {
    err << config_file.string() << ": " << problem.str() << "\n";
  }
  if (!result.config) return kExitInvalidConfig;
  // Writes to a closed socket must fail with EPIPE, not kill the daemon. Children get the
  // default disposition back before exec.
  ::signal(SIGPIPE, SIG_IGN);
  try {
    asio::io_context io;
    backends::RealProcessLauncher launcher(io);
    backends::NetlinkRateLimiter rate_limiter;
    const auto protocol = static_cast<std::uint8_t>(result.config->routing.protocol);
    routing::NetlinkRouteTable routes(protocol);
    health::SocketProber prober(io);
    supervisor::Daemon daemon(io, launcher, {absolute, meshbroker_binary, MESHBROKER_VERSION},
                              std::move(*result.config), &rate_limiter);
    supervisor::GatewayMonitor monitor(io, prober, &routes, [&daemon] { daemon.changed(); });
    daemon.attachMonitor(&monitor);
    daemon.setNeighbourKeeper(
        [](const std::string& device, const std::vector<routing::Neighbour>& desired) {
          routing::NetlinkNeighbours table;
          return routing::applyNeighbours(table, device, desired);
        });
    // The status page, API and metrics: HTTP threads read published snapshots; actions come
    // back to this loop through Daemon::control.
    web::StatusService status(
        io, {MESHBROKER_VERSION},
        web::performOnLoop(
            io,
            [&daemon](const nlohmann::json& request, const std::string& caller,
                      std::function<void(const nlohmann::json&)> reply) {
              daemon.control(request, caller, reply);
            },
            std::chrono::seconds(5)));
    daemon.setPublisher(
        [&status](const model::Snapshot& snapshot) { status.store().publish(snapshot); });
    daemon.setConfigObserver(
        [&status](const config::NodeConfig& config) { status.configure(config.status); });
    daemon.start();
    io.run();
    status.stop();
  } catch (const std::exception& e) {
    io::log(io::Level::kError, std::string("cannot run: ") + e.what());
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace meshbroker::cli
