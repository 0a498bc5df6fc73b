// Helpers shared by the unit tests: the examples, loaded hermetically with fixed test keys.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/loader.hpp"

namespace meshbroker::testing {

inline const std::filesystem::path kSourceDir = MESHBROKER_SOURCE_DIR;
inline const std::vector<std::string> kExampleNodes = {"chip", "comegato", "cometa", "illimani"};

std::string readText(const std::filesystem::path& file);

// A new empty folder for the running test: TMPDIR/PREFIX-PID-TESTNAME (removed first if a
// killed run left it). The test removes it in TearDown.
std::filesystem::path freshTestDir(const std::string& prefix);
// The example nodes' test public keys (tests/data/keys/NODE.pub) copied into `folder`.
void copyExampleKeys(const std::filesystem::path& folder);

// The example config text of a node (examples/seed/NODE.json).
std::string exampleText(const std::string& node);

// A FileReader that serves tests/data/keys/ for every key file the examples name: a host's
// "keys/NAME.pub" and the node's own state_dir/tinc/rsa_key.pub. Nothing else is read.
config::FileReader testKeys(const std::string& node);

// Parses config text as if it were /etc/meshbroker/NODE.json, with the test keys.
config::LoadResult parseAs(const std::string& node, const std::string& text);

// All diagnostics as lines, for assertions and failure messages.
std::string describe(const config::Diagnostics& diagnostics);

// The example config of a node as JSON, to break one thing in it.
nlohmann::json example(const std::string& node);

// The example without its IPv6 fields (tinc.prefix6/address6, hosts' mesh_address6 and
// client_subnets6, instances' subnet6, route sets' IPv6 destinations): the IPv4-only node the
// seed was before issue 21, for tests about IPv4 behaviour and "without IPv6 nothing changes".
nlohmann::json exampleIpv4Only(const std::string& node);
std::string exampleIpv4OnlyText(const std::string& node);

// Expects config to be rejected with an error at path whose text contains fragment.
void expectError(const std::string& node, const nlohmann::json& config, const std::string& path,
                 const std::string& fragment);

// A TCP port on 127.0.0.1 where connection attempts go unanswered, as over a silent path: a
// listener with no room in its accept queue (one connection made and never accepted fills
// it), so the kernel drops every further SYN, with no reset.
class SilentPort {
 public:
  SilentPort();
  ~SilentPort();
  SilentPort(const SilentPort&) = delete;
  SilentPort& operator=(const SilentPort&) = delete;
  int port() const { return port_; }
  // Closes the listener: attempts are refused from now on (an answer).
  void refuse();

 private:
  int listener_ = -1, filler_ = -1, port_ = 0;
};

}  // namespace meshbroker::testing
