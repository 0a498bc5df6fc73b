// The CLI verbs as functions: arguments in, exit code out, text to the given streams.
#pragma once

#include <filesystem>
#include <optional>
#include <ostream>
#include <string>

#include "config/diagnostics.hpp"
#include "config/model.hpp"

namespace meshbroker::cli {

// Exit codes shared by every verb.
inline constexpr int kExitOk = 0;
inline constexpr int kExitInvalidConfig = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitFailure = 3;
inline constexpr int kExitDegraded = 4;  // status: the daemon runs, but a backend has failed

// Which of a config's problems a verb prints before it goes on (or stops, on an error).
enum class Shown { kAll, kErrors };
// Loads and validates FILE, printing its problems as "FILE: PATH: VALUE MESSAGE" to err;
// nullopt when it has an error (notForThisBuild's too). Every verb that takes -c loads through
// here.
std::optional<config::NodeConfig> loadConfig(const std::filesystem::path& file, std::ostream& err,
                                             Shown shown = Shown::kAll);

// What this build cannot run: a gateway-only build (no server part, server_run.hpp) gives a
// node whose role is not "gateway", or that has OpenVPN instances, an error naming the field
// ("this meshbroker is built for the gateway role only"). Empty in the full build.
config::Diagnostics notForThisBuild(const config::NodeConfig& config);

// check -c FILE: validates; one line per problem ("FILE: /json/path: value message").
int runCheck(const std::filesystem::path& config_file, std::ostream& out, std::ostream& err);

// render -c FILE -o DIR: writes the node's whole file set under DIR (files only).
int runRender(const std::filesystem::path& config_file, const std::filesystem::path& out_dir,
              const std::filesystem::path& meshbroker_binary, std::ostream& out, std::ostream& err);

// keygen -c FILE: creates the node's tinc key pair if missing; prints its public host file.
int runKeygen(const std::filesystem::path& config_file, std::ostream& out, std::ostream& err);

// notify EVENT: called by the rendered tinc hooks; tells a running daemon, never blocks.
int runNotify(const std::string& event, const std::filesystem::path& runtime_dir,
              std::ostream& err);

}  // namespace meshbroker::cli
