// tincd 1.0's node list: on SIGUSR2 it writes "Nodes:", one line per node it knows, and "End
// of nodes." (then its edges and subnets) to its log. After adopting a running tincd this is
// how meshbroker learns which peers are up without waiting for the next host-up.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace meshbroker::backends {

struct TincDumpNode {
  std::string name;     // [A-Za-z0-9_]+, as tinc accepts
  std::string address;  // where tinc reaches it ("192.0.2.12"), empty when unknown/ourselves
  bool reachable = false;
  bool myself = false;  // the line tinc writes for its own node ("at MYSELF")
};

// One line of the list: " NAME at HOST cipher ... status XXXX nexthop ...". Pure; nullopt with
// *why on anything else (a name tinc would not accept, no hex status, an oversized line).
std::optional<TincDumpNode> parseTincDumpNode(std::string_view line, std::string* why);

// Collects a node list from tincd's output, one line at a time. The rest of what SIGUSR2 makes
// tincd write (device statistics, edges, subnets) is consumed too, so none of it reaches the
// log tail. Other lines are not its business; inside the node list malformed lines are counted
// and skipped, and a section that runs past kMaxNodes lines is abandoned (tincd would never
// write it).
class TincDumpReader {
 public:
  static constexpr std::size_t kMaxNodes = 10000;
  enum class Step {
    kNotMine,   // not part of a node list: an ordinary log line
    kConsumed,  // a line of a list (or its first line)
    kComplete,  // "End of nodes.": take() has the list
  };
  Step feed(std::string_view line);
  // The list completed by the last kComplete, and how many of its lines were malformed.
  std::vector<TincDumpNode> take() { return std::move(done_); }
  std::size_t malformed() const { return malformed_; }

 private:
  enum class Section { kNone, kStatistics, kNodes, kEdges, kSubnets };
  Section section_ = Section::kNone;
  std::size_t lines_ = 0;
  std::size_t malformed_ = 0;
  std::vector<TincDumpNode> current_;
  std::vector<TincDumpNode> done_;
};

}  // namespace meshbroker::backends
