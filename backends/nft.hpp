// Runs `nft -f -` with a ruleset on its stdin: how meshbroker installs and removes its own
// nftables table (templates/firewall.*). One short synchronous run per change.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

namespace meshbroker::backends {

struct NftResult {
  bool ok = false;
  std::string output;  // nft's stdout and stderr (its error names the line), trimmed
};

// Feeds script to `nft -f -` and waits for it (killed after timeout). nft applies a script in
// one transaction: on failure nothing changed.
NftResult runNft(const std::filesystem::path& nft, const std::string& script,
                 std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace meshbroker::backends
