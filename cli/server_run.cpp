// The server's part of `meshbroker run`: see server_run.hpp.
#include "cli/server_run.hpp"

#include "backends/rate_limit.hpp"
#include "supervisor/daemon.hpp"
#include "supervisor/server_parts.hpp"
#include "web/status_service.hpp"

namespace meshbroker::cli {
namespace {

class FullServerRun final : public ServerRun {
 public:
  explicit FullServerRun(asio::io_context& io) : io_(io) {}

  supervisor::ServerSideFactory serverSide() override {
    return supervisor::ServerParts::factory(&rate_limiter_);
  }

  void attach(supervisor::Daemon& daemon) override {
    // The status page, API and metrics: HTTP threads read published snapshots; actions come
    // back to this loop through Daemon::control.
    status_ = std::make_unique<web::StatusService>(
        io_, web::BuildInfo{MESHBROKER_VERSION},
        web::performOnLoop(
            io_,
            [&daemon](const nlohmann::json& request, const std::string& caller,
                      std::function<void(const nlohmann::json&)> reply) {
              daemon.control(request, caller, reply);
            },
            std::chrono::seconds(5)));
    auto* status = status_.get();
    daemon.setPublisher(
        [status](const model::Snapshot& snapshot) { status->store().publish(snapshot); });
    daemon.setConfigObserver(
        [status](const config::NodeConfig& config) { status->configure(config.status); });
  }

  void stop() override {
    if (status_) status_->stop();
  }

 private:
  asio::io_context& io_;
  backends::NetlinkRateLimiter rate_limiter_;
  std::unique_ptr<web::StatusService> status_;
};

}  // namespace

bool ServerRun::built() { return true; }

std::unique_ptr<ServerRun> ServerRun::make(asio::io_context& io) {
  return std::make_unique<FullServerRun>(io);
}

}  // namespace meshbroker::cli
