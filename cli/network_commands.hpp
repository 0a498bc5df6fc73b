// `meshbroker network ...` and `meshbroker node ...` (issue 20, docs/network.md): the
// registry's signing key, the network document a node holds, taking a node out.
#pragma once

#include <filesystem>
#include <ostream>
#include <string>

namespace meshbroker::cli {

// Makes the registry's Ed25519 signing key at key_file (0600, its folder 0700) and prints the
// public key to pin as network.key in every node's config, and its fingerprint. Refuses when
// the file exists: a second key would split the network (exit 1, the existing key's public
// half printed instead).
int runNetworkInit(const std::filesystem::path& key_file, std::ostream& out, std::ostream& err);

// Prints the public key and fingerprint of the existing signing key at key_file (what `init`
// printed; for Ansible and for a lost note). Exit 1 when it is missing or not a key.
int runNetworkKey(const std::filesystem::path& key_file, std::ostream& out, std::ostream& err);

// Prints the network document this node holds (verified against network.key), as JSON.
int runNetworkShow(const std::filesystem::path& config_file, std::ostream& out, std::ostream& err);

// Asks the registry's daemon to take a node out of the network (control `node-remove`).
int runNodeRemove(const std::filesystem::path& config_file, const std::string& name,
                  std::ostream& out, std::ostream& err);

}  // namespace meshbroker::cli
