// `meshbroker status`: what the running daemon says about its backends, mesh and clients.
#pragma once

#include <filesystem>
#include <ostream>

namespace meshbroker::cli {

// Asks the daemon of config_file (over <runtime_dir>/control.sock) for its snapshot and prints a
// compact table, or the JSON with as_json. Exit 0 when all is well, 3 with a clear message when
// no daemon runs, 4 when a backend has failed.
int runStatus(const std::filesystem::path& config_file, bool as_json, std::ostream& out,
              std::ostream& err);

}  // namespace meshbroker::cli
