// `meshbroker status`: what the running daemon says about its backends, gateways, routes, mesh
// and clients, read from its HTTP API (GET /api/v1/status).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>

namespace meshbroker::cli {

// Asks the daemon of config_file for /api/v1/status (at status.listen:status.port) and prints
// a compact table, or the JSON with as_json. Exit 0 when all is well, 3 with a clear message
// when no daemon answers, 4 when a backend has failed or a route set has no gateway.
int runStatus(const std::filesystem::path& config_file, bool as_json, std::ostream& out,
              std::ostream& err);

// The table for an /api/v1/status document; returns the exit code it implies.
int printStatusTable(const nlohmann::json& status, std::ostream& out);

}  // namespace meshbroker::cli
