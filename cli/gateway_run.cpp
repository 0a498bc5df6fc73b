// A gateway-only build's `meshbroker run` has no server part (server_run.hpp): tinc, health
// checks and routes only.
#include "cli/server_run.hpp"

namespace meshbroker::cli {

bool ServerRun::built() { return false; }

std::unique_ptr<ServerRun> ServerRun::make(asio::io_context&) { return nullptr; }

}  // namespace meshbroker::cli
