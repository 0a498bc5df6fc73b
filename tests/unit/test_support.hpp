// Helpers shared by the unit tests: the examples, loaded hermetically with fixed test keys.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/loader.hpp"

namespace meshbroker::testing {

inline const std::filesystem::path kSourceDir = MESHBROKER_SOURCE_DIR;
inline const std::vector<std::string> kExampleNodes = {"chip", "comegato", "cometa", "illimani"};

std::string readText(const std::filesystem::path& file);

// The example config text of a node (examples/seed/NODE.json).
std::string exampleText(const std::string& node);

// A FileReader that serves tests/data/keys/ for every key file the examples name: a host's
// "keys/NAME.pub" and the node's own state_dir/tinc/rsa_key.pub. Nothing else is read.
config::FileReader testKeys(const std::string& node);

// Parses config text as if it were /etc/meshbroker/NODE.json, with the test keys.
config::LoadResult parseAs(const std::string& node, const std::string& text);

// All diagnostics as lines, for assertions and failure messages.
std::string describe(const config::Diagnostics& diagnostics);

}  // namespace meshbroker::testing
