// `meshbroker run`: the daemon's entry point.
#pragma once

#include <filesystem>
#include <ostream>

namespace meshbroker::cli {

// Loads the config (exit 1 with the problems if invalid), then runs the daemon until SIGTERM or
// SIGINT. Returns 0 after a clean shutdown, 3 when it cannot start.
int runDaemon(const std::filesystem::path& config_file,
              const std::filesystem::path& meshbroker_binary, std::ostream& err);

}  // namespace meshbroker::cli
