// The push nudge (docs/network.md): after it signs a new version, the registry sends every node
// one UDP datagram on its mesh address, "meshbroker-nudge/1 NETWORK VERSION", and a node that
// holds an older version pulls at once instead of at its next poll. A hint, never trusted: it
// carries no document, only makes a node ask its servers sooner (what it takes is still
// verified), so a forged one costs at most a few pulls. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace meshbroker::network {

inline constexpr std::size_t kMaxNudgeBytes = 128;

struct Nudge {
  std::string network;
  std::uint64_t version = 0;
  bool operator==(const Nudge&) const = default;
};

std::string nudgeText(const Nudge& nudge);

// The datagram as sent, and nothing else: an exact prefix, a network name of [A-Za-z0-9_]
// (1..64), a decimal version 1..2^53 without leading zeros, one optional "\n". Otherwise nullopt.
std::optional<Nudge> parseNudge(std::string_view datagram);

// How a node follows nudges: a pull at once, then while its servers have not caught up with the
// nudged version yet, again every kRetry, at most kPulls times; then back to the poll period.
struct NudgeFollow {
  static constexpr int kPulls = 10;
  std::uint64_t wanted = 0;  // the highest version nudged and not held yet (0: none)
  int pulls = 0;             // pulls made for it

  // A nudge for `nudged` arrived while holding `held`: true when it is worth pulling now.
  bool nudge(std::uint64_t nudged, std::uint64_t held);
  // A pull ended holding `held`: true when another pull soon is worth it.
  bool pullAgain(std::uint64_t held);
};

}  // namespace meshbroker::network
