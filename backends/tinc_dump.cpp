#include "backends/tinc_dump.hpp"

#include <charconv>

namespace meshbroker::backends {

namespace {

constexpr std::size_t kMaxLine = 1024;
constexpr std::size_t kMaxName = 64;
// tinc 1.0's node_status_t: bit 4 is "reachable in the graph".
constexpr unsigned kReachable = 0x10;

bool validName(std::string_view name) {
  if (name.empty() || name.size() > kMaxName) return false;
  for (char c : name) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::optional<TincDumpNode> fail(std::string* why, std::string text) {
  if (why) *why = std::move(text);
  return std::nullopt;
}

}  // namespace

std::optional<TincDumpNode> parseTincDumpNode(std::string_view line, std::string* why) {
  if (line.size() > kMaxLine) return fail(why, "line longer than 1024 bytes");
  if (!line.starts_with(' ')) return fail(why, "not a node line (no leading space)");
  line.remove_prefix(1);
  const auto at = line.find(" at ");
  if (at == std::string_view::npos) return fail(why, "no ' at '");
  TincDumpNode node;
  node.name = std::string(line.substr(0, at));
  if (!validName(node.name)) return fail(why, "not a tinc node name");
  // HOST is "MYSELF", "unknown" or "ADDRESS port PORT"; it ends where the cipher starts.
  const auto host_start = at + 4;
  const auto cipher = line.find(" cipher ", host_start);
  if (cipher == std::string_view::npos) return fail(why, "no ' cipher '");
  std::string_view host = line.substr(host_start, cipher - host_start);
  if (host == "MYSELF") {
    node.myself = true;
  } else if (auto port = host.find(" port "); port != std::string_view::npos) {
    node.address = std::string(host.substr(0, port));
  }
  const auto status = line.find(" status ", cipher);
  if (status == std::string_view::npos) return fail(why, "no ' status '");
  std::string_view hex = line.substr(status + 8);
  hex = hex.substr(0, hex.find(' '));
  unsigned bits = 0;
  auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), bits, 16);
  if (ec != std::errc() || end != hex.data() + hex.size() || hex.empty() || hex.size() > 8) {
    return fail(why, "status is not hexadecimal");
  }
  node.reachable = (bits & kReachable) != 0;
  return node;
}

TincDumpReader::Step TincDumpReader::feed(std::string_view line) {
  if (section_ == Section::kStatistics) {
    if (line.starts_with(" total bytes ")) return Step::kConsumed;
    section_ = Section::kNone;  // and the line is read as any other
  }
  if (section_ == Section::kNone) {
    if (line.starts_with("Statistics for ") && line.ends_with(":")) {
      section_ = Section::kStatistics;
      return Step::kConsumed;
    }
    if (line == "Edges:" || line == "Subnet list:") {
      section_ = line == "Edges:" ? Section::kEdges : Section::kSubnets;
      lines_ = 0;
      return Step::kConsumed;
    }
    if (line != "Nodes:") return Step::kNotMine;
    section_ = Section::kNodes;
    lines_ = 0;
    malformed_ = 0;
    current_.clear();
    return Step::kConsumed;
  }
  const bool nodes = section_ == Section::kNodes;
  const std::string_view end = nodes                         ? "End of nodes."
                               : section_ == Section::kEdges ? "End of edges."
                                                             : "End of subnet list.";
  if (line == end) {
    section_ = Section::kNone;
    if (!nodes) return Step::kConsumed;
    done_ = std::move(current_);
    current_.clear();
    return Step::kComplete;
  }
  if (++lines_ > kMaxNodes) {  // never ends: give up, and read lines as lines again
    section_ = Section::kNone;
    current_.clear();
    return Step::kNotMine;
  }
  if (!nodes) return Step::kConsumed;
  if (auto node = parseTincDumpNode(line, nullptr)) {
    current_.push_back(std::move(*node));
  } else {
    ++malformed_;
  }
  return Step::kConsumed;
}

}  // namespace meshbroker::backends
