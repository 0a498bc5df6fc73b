// The push nudge's text and the rule for following it.
#include "network/nudge.hpp"

#include <cctype>

namespace meshbroker::network {
namespace {

constexpr std::string_view kPrefix = "meshbroker-nudge/1 ";
constexpr std::uint64_t kMaxVersion = 1ull << 53;  // what a JSON number holds exactly

}  // namespace

std::string nudgeText(const Nudge& nudge) {
  return std::string(kPrefix) + nudge.network + " " + std::to_string(nudge.version) + "\n";
}

std::optional<Nudge> parseNudge(std::string_view datagram) {
  if (datagram.size() > kMaxNudgeBytes || !datagram.starts_with(kPrefix)) return std::nullopt;
  datagram.remove_prefix(kPrefix.size());
  if (datagram.ends_with('\n')) datagram.remove_suffix(1);
  const auto space = datagram.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const auto name = datagram.substr(0, space);
  const auto number = datagram.substr(space + 1);
  if (name.empty() || name.size() > 64) return std::nullopt;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return std::nullopt;
  }
  if (number.empty() || number.size() > 16 || number.front() == '0') return std::nullopt;
  std::uint64_t version = 0;
  for (char c : number) {
    if (c < '0' || c > '9') return std::nullopt;
    version = version * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (version > kMaxVersion) return std::nullopt;
  return Nudge{std::string(name), version};
}

bool NudgeFollow::nudge(std::uint64_t nudged, std::uint64_t held) {
  if (nudged <= held) return false;  // nothing new (or a replay of an old nudge)
  if (nudged > wanted) {
    wanted = nudged;
    pulls = 0;
  }
  return pulls < kPulls;
}

bool NudgeFollow::pullAgain(std::uint64_t held) {
  if (wanted == 0) return false;
  if (held >= wanted || ++pulls >= kPulls) {
    wanted = 0;  // caught up, or the servers do not have it: the poll period again
    pulls = 0;
    return false;
  }
  return true;
}

}  // namespace meshbroker::network
