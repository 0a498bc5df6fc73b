// The Host header check: parse "name[:port]" or "[v6][:port]" strictly, then compare.
#include "web/host_check.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>

namespace meshbroker::web {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

// An IP literal in binary: family and 16 bytes (IPv4 in the first 4).
struct Ip {
  int family = 0;
  std::array<unsigned char, 16> bytes{};
  bool operator==(const Ip&) const = default;
};

std::optional<Ip> parseIp(std::string_view text, int family) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  const std::string copy(text);
  Ip ip;
  ip.family = family;
  if (::inet_pton(family, copy.c_str(), ip.bytes.data()) != 1) return std::nullopt;
  return ip;
}

// "name", "name:port", "[v6]", "[v6]:port" -> the host part (brackets removed, lowercase) and
// whether it was bracketed; nullopt when malformed.
struct Authority {
  std::string host;
  bool bracketed = false;
};

std::optional<Authority> parseAuthority(std::string_view value) {
  Authority out;
  std::string_view rest;
  if (value.starts_with('[')) {
    const auto close = value.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.host = lower(value.substr(1, close - 1));
    out.bracketed = true;
    rest = value.substr(close + 1);
  } else {
    const auto colon = value.find(':');
    out.host = lower(value.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view() : value.substr(colon);
  }
  if (out.host.empty()) return std::nullopt;
  if (!rest.empty()) {
    if (rest.front() != ':' || rest.size() < 2 || rest.size() > 6) return std::nullopt;
    unsigned port = 0;
    for (char c : rest.substr(1)) {
      if (c < '0' || c > '9') return std::nullopt;
      port = port * 10 + static_cast<unsigned>(c - '0');
    }
    if (port == 0 || port > 65535) return std::nullopt;
  }
  // Host names: letters, digits, '-' and '.'; IPv6 inside brackets: hex, ':' and '.'.
  for (char c : out.host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                    (out.bracketed && c == ':');
    if (!ok) return std::nullopt;
  }
  return out;
}

std::optional<Ip> ipOf(const Authority& authority) {
  return authority.bracketed ? parseIp(authority.host, AF_INET6) : parseIp(authority.host, AF_INET);
}

// A configured address or name in the same form as a parsed Host.
std::optional<Ip> configuredIp(std::string_view text) {
  if (text.find(':') != std::string_view::npos) return parseIp(text, AF_INET6);
  return parseIp(text, AF_INET);
}

bool isLoopbackIp(const Ip& ip) {
  if (ip.family == AF_INET) return ip.bytes[0] == 127;
  static const std::array<unsigned char, 16> kV6Loopback = {0, 0, 0, 0, 0, 0, 0, 0,
                                                            0, 0, 0, 0, 0, 0, 0, 1};
  return ip.bytes == kV6Loopback;
}

bool isWildcard(const Ip& ip) {
  const std::size_t n = ip.family == AF_INET ? 4 : 16;
  return std::all_of(ip.bytes.begin(), ip.bytes.begin() + static_cast<std::ptrdiff_t>(n),
                     [](unsigned char b) { return b == 0; });
}

}  // namespace

bool hostAllowed(std::string_view host_header, const HostPolicy& policy) {
  const auto authority = parseAuthority(host_header);
  if (!authority) return false;
  const auto ip = ipOf(*authority);
  // Brackets hold an IPv6 address and nothing else.
  if (authority->bracketed && !ip) return false;
  if (ip && isLoopbackIp(*ip)) return true;
  if (!ip && authority->host == "localhost") return true;
  const auto listen = configuredIp(policy.listen);
  if (ip && listen && (*ip == *listen || isWildcard(*listen))) return true;
  for (const auto& name : policy.names) {
    if (ip) {
      const auto configured = configuredIp(name);
      if (configured && *configured == *ip) return true;
    } else if (lower(name) == authority->host) {
      return true;
    }
  }
  return false;
}

HostCheck::HostCheck() : policy_(std::make_shared<const HostPolicy>()) {}

void HostCheck::set(HostPolicy policy) {
  auto next = std::make_shared<const HostPolicy>(std::move(policy));
  std::lock_guard lock(mutex_);
  policy_ = std::move(next);
}

bool HostCheck::allowed(const std::optional<std::string>& host) const {
  if (!host) return true;
  std::shared_ptr<const HostPolicy> policy;
  {
    std::lock_guard lock(mutex_);
    policy = policy_;
  }
  return hostAllowed(*host, *policy);
}

}  // namespace meshbroker::web
