// Runs a short-lived program to completion and captures what it says (nft, systemctl): one
// place for the timeout and the error text, so callers only read ok and output.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace meshbroker::backends {

struct CommandResult {
  bool ok = false;     // ran and exited 0
  std::string output;  // stdout and stderr, trailing newlines cut; on failure, why
};

// Runs exe with args, writes input to its stdin (then closes it) and waits up to timeout (then
// kills it). The output must be small (it is read after the exit: a pipe's worth).
CommandResult runCommand(const std::filesystem::path& exe, const std::vector<std::string>& args,
                         const std::string& input = "",
                         std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace meshbroker::backends
