#include "web/status_service.hpp"

#include <atomic>
#include <future>

#include "io/log.hpp"

namespace meshbroker::web {

using io::Level;
using io::log;

using io::Level;
using io::log;

bool isLoopback(const std::string& address) {
  return address.starts_with("127.") || address == "::1";
}

StatusService::StatusService(asio::io_context& io, BuildInfo build, Router::Perform perform)
    : io_(io),
      store_(std::move(build)),
      router_(store_, auth_, std::move(perform),
              [](const std::string& line) { log(Level::kNotice, line); }),
      retry_(io) {}

StatusService::~StatusService() { stop(); }

void StatusService::stop() {
  retry_.cancel();
  if (server_) server_->stop();
  server_.reset();
}

void StatusService::configure(const config::StatusConfig& config) {
  std::optional<std::string> token;
  if (config.token_file) {
    try {
      token = loadToken(*config.token_file);
    } catch (const std::exception& e) {
      log(Level::kError, std::string("status: ") + e.what() + "; HTTP actions are disabled");
    }
  }
  auth_.set(token);
  router_.setHosts({config.listen, config.hosts});
  if (!config.enabled) {
    if (server_) log(Level::kNotice, "status: HTTP listener disabled by the config");
    wanted_.reset();
    stop();
    return;
  }
  ServerOptions options;
  options.listen = config.listen;
  options.port = config.port.value();
  options.threads = config.threads;
  if (!isLoopback(config.listen)) {
    log(Level::kWarning, "status: listening on " + config.listen +
                             ", not loopback: anyone who can reach port " +
                             std::to_string(options.port) +
                             " reads this network's states and counts (details need the token)" +
                             (token ? "" : "; no token_file is set, so HTTP actions are disabled"));
  }
  const bool same = wanted_ && server_ && wanted_->listen == options.listen &&
                    wanted_->port == options.port && wanted_->threads == options.threads;
  wanted_ = options;
  if (same) return;
  stop();
  listen();
}

void StatusService::listen() {
  if (!wanted_) return;
  auto server = std::make_unique<HttpServer>(router_, *wanted_);
  try {
    server->start();
    log(Level::kInfo,
        "status: http://" +
            (wanted_->listen.find(':') != std::string::npos ? "[" + wanted_->listen + "]"
                                                            : wanted_->listen) +
            ":" + std::to_string(server->port()) + "/ (API /api/v1/status, " + "metrics /metrics)");
    server_ = std::move(server);
  } catch (const std::exception& e) {
    log(Level::kError, std::string("status: ") + e.what() + "; retrying in 5 s");
    retry_.expires_after(std::chrono::seconds(5));
    retry_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec && !server_) listen();
    });
  }
}

Router::Perform performOnLoop(asio::io_context& io, ControlFunction control,
                              std::chrono::milliseconds timeout) {
  return [&io, control = std::move(control), timeout](
             const nlohmann::json& request,
             const std::string& caller) -> std::optional<nlohmann::json> {
    auto promise = std::make_shared<std::promise<nlohmann::json>>();
    auto answered = std::make_shared<std::atomic<bool>>(false);
    auto future = promise->get_future();
    asio::post(io, [control, request, caller, promise, answered] {
      control(request, caller, [promise, answered](const nlohmann::json& reply) {
        if (!answered->exchange(true)) promise->set_value(reply);
      });
    });
    if (future.wait_for(timeout) != std::future_status::ready) return std::nullopt;
    return future.get();
  };
}

}  // namespace meshbroker::web
