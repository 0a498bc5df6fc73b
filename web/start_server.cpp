// startServer() of a build with servers: an HttpServer (web/server.cpp), started.
#include "web/server.hpp"

namespace meshbroker::web {

std::unique_ptr<RunningServer> startServer(const Handler& handler, const ServerOptions& options) {
  auto server = std::make_unique<HttpServer>(handler, options);
  server->start();
  return server;
}

}  // namespace meshbroker::web
