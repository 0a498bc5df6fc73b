// startServer() of the gateway-only build (MESHBROKER_GATEWAY_ONLY): a gateway serves nothing
// (the network document and joins are a server's), so the listener (web/server.cpp, Beast's
// server side, ~0.2 MB of a router's binary) is not linked in.
#include <stdexcept>

#include "web/server.hpp"

namespace meshbroker::web {

std::unique_ptr<RunningServer> startServer(const Handler&, const ServerOptions& options) {
  throw std::runtime_error("cannot serve on " + options.listen + ":" +
                           std::to_string(options.port) +
                           ": this meshbroker is built for the gateway role only");
}

}  // namespace meshbroker::web
