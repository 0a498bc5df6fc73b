// Turns config JSON into a validated NodeConfig, or into a list of problems.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "config/diagnostics.hpp"
#include "config/model.hpp"

namespace meshbroker::config {

// Reads a file named in the config (public keys). Returns nullopt when it cannot be read.
using FileReader = std::function<std::optional<std::string>(const std::filesystem::path&)>;

struct LoadResult {
  std::optional<NodeConfig> config;  // set only when there are no errors
  Diagnostics diagnostics;
};

// Pure: parses and validates config text. Relative paths in it are resolved against base_dir;
// read_file is asked for key files (pass one that returns nullopt to read nothing).
LoadResult parseConfig(std::string_view text, const std::filesystem::path& base_dir,
                       const FileReader& read_file);

// Reads a config file from disk (and the key files it names) and parses it.
LoadResult loadConfigFile(const std::filesystem::path& file);

// Reads a whole file; nullopt if it cannot (missing, unreadable, larger than max_bytes).
std::optional<std::string> readSmallFile(const std::filesystem::path& file,
                                         std::size_t max_bytes = 1 << 20);

}  // namespace meshbroker::config
