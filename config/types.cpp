// Parsing and formatting of the config value types.
#include "config/types.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <vector>

namespace meshbroker::config {
namespace {

bool setWhy(std::string* why, std::string message) {
  if (why) *why = std::move(message);
  return false;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isAlnum(char c) { return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Parses a decimal number of at most max_digits digits, the whole of text.
std::optional<std::uint64_t> parseDecimal(std::string_view text, std::size_t max_digits) {
  if (text.empty() || text.size() > max_digits) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (!isDigit(c)) return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    std::size_t pos = text.find(sep, start);
    parts.push_back(text.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return parts;
}

int maskLength(std::uint32_t mask, bool* contiguous) {
  int length = 0;
  while (length < 32 && (mask & (0x80000000u >> length))) ++length;
  std::uint32_t expected = length == 0 ? 0 : ~std::uint32_t{0} << (32 - length);
  *contiguous = expected == mask;
  return length;
}

}  // namespace

int hexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::size_t> findControlCharacter(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) return i;
  }
  return std::nullopt;
}

std::optional<Ipv4Address> Ipv4Address::parse(std::string_view text, std::string* why) {
  auto parts = split(text, '.');
  if (parts.size() != 4) {
    setWhy(why, "is not an IPv4 address (want four numbers like 100.64.12.11)");
    return std::nullopt;
  }
  std::uint32_t value = 0;
  for (auto part : parts) {
    auto octet = parseDecimal(part, 3);
    if (!octet || *octet > 255 || (part.size() > 1 && part[0] == '0')) {
      setWhy(why, "is not an IPv4 address (each part must be 0..255, no leading zeros)");
      return std::nullopt;
    }
    value = (value << 8) | static_cast<std::uint32_t>(*octet);
  }
  return Ipv4Address(value);
}

std::string Ipv4Address::str() const {
  return std::to_string(value_ >> 24) + "." + std::to_string((value_ >> 16) & 255) + "." +
         std::to_string((value_ >> 8) & 255) + "." + std::to_string(value_ & 255);
}

std::optional<Cidr> Cidr::parse(std::string_view text, std::string* why) {
  // The seed writes routes as "10.1.0.0 netmask 255.224.0.0"; recognise that to say what to
  // write instead.
  if (auto pos = text.find(" netmask "); pos != std::string_view::npos) {
    auto address = Ipv4Address::parse(text.substr(0, pos), nullptr);
    auto mask = Ipv4Address::parse(text.substr(pos + 9), nullptr);
    bool contiguous = false;
    if (address && mask) {
      int length = maskLength(mask->value(), &contiguous);
      if (contiguous) {
        std::string as_prefix = address->str() + "/" + std::to_string(length);
        std::string message = "is route(8) syntax, not a prefix: write \"" + as_prefix + "\"";
        std::string inner;
        if (!Cidr::parse(as_prefix, &inner)) message += ", which " + inner;
        setWhy(why, message);
        return std::nullopt;
      }
    }
    setWhy(why, "is not a prefix (want address/length like 10.64.0.0/11)");
    return std::nullopt;
  }
  auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    setWhy(why, "is not a prefix: the /length is missing (want address/length like 10.64.0.0/11)");
    return std::nullopt;
  }
  auto address = Ipv4Address::parse(text.substr(0, slash), nullptr);
  auto length = parseDecimal(text.substr(slash + 1), 2);
  if (!address || !length || *length > 32) {
    setWhy(why, "is not a prefix (want address/length like 10.64.0.0/11, length 0..32)");
    return std::nullopt;
  }
  Cidr cidr(*address, static_cast<int>(*length));
  std::uint32_t aligned = address->value() & cidr.mask();
  if (aligned != address->value()) {
    Cidr fixed(Ipv4Address::fromUint(aligned), cidr.length_);
    setWhy(why, "has host bits set (did you mean " + fixed.str() + "?)");
    return std::nullopt;
  }
  return cidr;
}

std::uint32_t Cidr::mask() const { return length_ == 0 ? 0 : ~std::uint32_t{0} << (32 - length_); }

Ipv4Address Cidr::broadcast() const { return Ipv4Address::fromUint(network_.value() | ~mask()); }

bool Cidr::contains(Ipv4Address address) const {
  return (address.value() & mask()) == network_.value();
}

bool Cidr::overlaps(const Cidr& other) const {
  return contains(other.network_) || other.contains(network_);
}

std::string Cidr::str() const { return network_.str() + "/" + std::to_string(length_); }

std::string Cidr::netmask() const { return Ipv4Address::fromUint(mask()).str(); }

namespace {

// The first `length` bits of address, the rest zero.
Ipv6Address::Bytes maskBytes(const Ipv6Address::Bytes& address, int length) {
  Ipv6Address::Bytes out{};
  for (int i = 0; i < 16; ++i) {
    const int bits = std::clamp(length - 8 * i, 0, 8);
    const auto mask = static_cast<std::uint8_t>(bits == 0 ? 0 : 0xff << (8 - bits));
    out[static_cast<std::size_t>(i)] = address[static_cast<std::size_t>(i)] & mask;
  }
  return out;
}

}  // namespace

std::optional<Ipv6Address> Ipv6Address::parse(std::string_view text, std::string* why) {
  const std::string copy(text);
  in6_addr address{};
  // inet_pton also reads "::ffff:1.2.3.4"; a text without a ':' is never IPv6.
  if (text.size() > INET6_ADDRSTRLEN || text.find(':') == std::string_view::npos ||
      inet_pton(AF_INET6, copy.c_str(), &address) != 1) {
    setWhy(why, "is not an IPv6 address (want a form like fd00:64:12::11)");
    return std::nullopt;
  }
  Bytes bytes{};
  std::copy(std::begin(address.s6_addr), std::end(address.s6_addr), bytes.begin());
  return Ipv6Address(bytes);
}

std::string Ipv6Address::str() const {
  in6_addr address{};
  std::copy(bytes_.begin(), bytes_.end(), std::begin(address.s6_addr));
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, &address, text, sizeof text);
  return text;
}

bool Ipv6Address::isUlaOrGlobal() const {
  return (bytes_[0] & 0xfe) == 0xfc || (bytes_[0] & 0xe0) == 0x20;
}

std::optional<Cidr6> Cidr6::parse(std::string_view text, std::string* why) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    setWhy(why,
           "is not a prefix: the /length is missing (want address/length like fd00:64:12::/64)");
    return std::nullopt;
  }
  auto address = Ipv6Address::parse(text.substr(0, slash), nullptr);
  auto length = parseDecimal(text.substr(slash + 1), 3);
  if (!address || !length || *length > 128 || (text.size() > slash + 2 && text[slash + 1] == '0')) {
    setWhy(why, "is not an IPv6 prefix (want address/length like fd00:64:12::/64, length 0..128)");
    return std::nullopt;
  }
  const int bits = static_cast<int>(*length);
  auto aligned = maskBytes(address->bytes(), bits);
  if (aligned != address->bytes()) {
    setWhy(why, "has host bits set (did you mean " +
                    Cidr6(Ipv6Address::fromBytes(aligned), bits).str() + "?)");
    return std::nullopt;
  }
  return Cidr6(*address, bits);
}

bool Cidr6::contains(const Ipv6Address& address) const {
  return maskBytes(address.bytes(), length_) == network_.bytes();
}

bool Cidr6::overlaps(const Cidr6& other) const {
  return contains(other.network_) || other.contains(network_);
}

std::string Cidr6::str() const { return network_.str() + "/" + std::to_string(length_); }

std::string IpAddress::str() const {
  return std::visit([](const auto& a) { return a.str(); }, value_);
}

std::optional<IpPrefix> IpPrefix::parse(std::string_view text, std::string* why) {
  if (text.find(':') != std::string_view::npos) {
    if (auto v6 = Cidr6::parse(text, why)) return IpPrefix(*v6);
    return std::nullopt;
  }
  if (auto v4 = Cidr::parse(text, why)) return IpPrefix(*v4);
  return std::nullopt;
}

int IpPrefix::length() const {
  return std::visit([](const auto& p) { return p.length(); }, value_);
}

IpAddress IpPrefix::network() const {
  return std::visit([](const auto& p) { return IpAddress(p.network()); }, value_);
}

bool IpPrefix::contains(const IpAddress& address) const {
  if (v4() && address.v4()) return v4()->contains(*address.v4());
  if (v6() && address.v6()) return v6()->contains(*address.v6());
  return false;
}

bool IpPrefix::overlaps(const IpPrefix& other) const {
  if (v4() && other.v4()) return v4()->overlaps(*other.v4());
  if (v6() && other.v6()) return v6()->overlaps(*other.v6());
  return false;
}

std::string IpPrefix::str() const {
  return std::visit([](const auto& p) { return p.str(); }, value_);
}

std::optional<NodeName> NodeName::parse(std::string_view text, std::string* why) {
  if (text.empty() || text.size() > 64) {
    setWhy(why, "is not a valid name (1..64 characters of A-Z, a-z, 0-9, _)");
    return std::nullopt;
  }
  for (char c : text) {
    if (!isAlnum(c) && c != '_') {
      setWhy(why, "is not a valid name (only A-Z, a-z, 0-9 and _ are allowed, as in tinc)");
      return std::nullopt;
    }
  }
  return NodeName(std::string(text));
}

std::optional<InterfaceName> InterfaceName::parse(std::string_view text, std::string* why) {
  if (text.empty() || text.size() > 15) {
    setWhy(why, "is not a valid interface name (1..15 characters)");
    return std::nullopt;
  }
  for (char c : text) {
    if (!isAlnum(c) && c != '_' && c != '-') {
      setWhy(why, "is not a valid interface name (only A-Z, a-z, 0-9, _ and -)");
      return std::nullopt;
    }
  }
  return InterfaceName(std::string(text));
}

std::optional<HostAddress> HostAddress::parse(std::string_view text, std::string* why) {
  std::string copy(text);
  in6_addr v6{};
  if (Ipv4Address::parse(text, nullptr) ||
      (text.find(':') != std::string_view::npos && inet_pton(AF_INET6, copy.c_str(), &v6) == 1)) {
    return HostAddress(copy);
  }
  // RFC 1123 host name: labels of letters, digits and '-', not starting or ending with '-'.
  bool ok = !text.empty() && text.size() <= 253;
  for (auto label : split(text, '.')) {
    if (!ok) break;
    ok = !label.empty() && label.size() <= 63 && label.front() != '-' && label.back() != '-';
    for (char c : label) ok = ok && (isAlnum(c) || c == '-');
  }
  // A name made only of digits and dots is a mistyped address, not a host name.
  if (ok && text.find_first_not_of("0123456789.") == std::string_view::npos) ok = false;
  if (!ok) {
    setWhy(why, "is not an IP address or a DNS host name");
    return std::nullopt;
  }
  return HostAddress(copy);
}

std::optional<Port> Port::fromInt(std::int64_t value, std::string* why) {
  if (value < 1 || value > 65535) {
    setWhy(why, "is not a port (1..65535)");
    return std::nullopt;
  }
  return Port(static_cast<std::uint16_t>(value));
}

std::optional<PublicKeyPem> PublicKeyPem::parse(std::string_view text, std::string* why) {
  static constexpr std::string_view kBegin = "-----BEGIN RSA PUBLIC KEY-----";
  static constexpr std::string_view kEnd = "-----END RSA PUBLIC KEY-----";
  auto lines = split(text, '\n');
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.size() < 3 || lines.front() != kBegin || lines.back() != kEnd) {
    setWhy(why,
           "is not an RSA public key in PEM (want -----BEGIN RSA PUBLIC KEY----- ... "
           "-----END RSA PUBLIC KEY-----, as tincd -K writes)");
    return std::nullopt;
  }
  std::string normalised = std::string(kBegin) + "\n";
  for (std::size_t i = 1; i + 1 < lines.size(); ++i) {
    auto line = lines[i];
    bool ok = !line.empty() && line.size() <= 76;
    for (char c : line) ok = ok && (isAlnum(c) || c == '+' || c == '/' || c == '=');
    if (!ok) {
      setWhy(why, "has a line that is not base64 (line " + std::to_string(i + 1) + ")");
      return std::nullopt;
    }
    normalised.append(line).append("\n");
  }
  normalised.append(kEnd).append("\n");
  return PublicKeyPem(std::move(normalised));
}

std::optional<Rate> Rate::parse(std::string_view text, std::string* why) {
  struct Unit {
    std::string_view suffix;
    std::uint64_t factor;
  };
  static constexpr std::array<Unit, 4> kUnits = {
      {{"gbit", 1000000000}, {"mbit", 1000000}, {"kbit", 1000}, {"bit", 1}}};
  for (const auto& unit : kUnits) {
    if (text.size() > unit.suffix.size() && text.ends_with(unit.suffix)) {
      auto number = parseDecimal(text.substr(0, text.size() - unit.suffix.size()), 10);
      if (number && *number > 0 && *number * unit.factor >= 8000 &&
          *number * unit.factor <= 100000000000ULL) {
        return Rate(*number * unit.factor);
      }
      setWhy(why, "is out of range (8kbit..100gbit)");
      return std::nullopt;
    }
  }
  setWhy(why,
         "is not a rate (want a whole number with a unit: bit, kbit, mbit or gbit, "
         "like 2mbit)");
  return std::nullopt;
}

std::optional<Volume> Volume::parse(std::string_view text, std::string* why) {
  struct Unit {
    std::string_view suffix;
    std::uint64_t factor;
  };
  // Longest suffixes first: "MiB" before "B".
  static constexpr std::array<Unit, 9> kUnits = {{{"KiB", 1ULL << 10},
                                                  {"MiB", 1ULL << 20},
                                                  {"GiB", 1ULL << 30},
                                                  {"TiB", 1ULL << 40},
                                                  {"kB", 1000ULL},
                                                  {"MB", 1000ULL * 1000},
                                                  {"GB", 1000ULL * 1000 * 1000},
                                                  {"TB", 1000ULL * 1000 * 1000 * 1000},
                                                  {"B", 1}}};
  constexpr std::uint64_t kMin = 1000ULL * 1000, kMax = 1000ULL * 1000 * 1000 * 1000 * 1000;
  for (const auto& unit : kUnits) {
    if (text.size() > unit.suffix.size() && text.ends_with(unit.suffix)) {
      auto number = parseDecimal(text.substr(0, text.size() - unit.suffix.size()), 16);
      if (number && *number <= kMax / unit.factor && *number * unit.factor >= kMin) {
        return Volume(*number * unit.factor);
      }
      if (number) {
        setWhy(why, "is out of range (1MB..1000TB)");
        return std::nullopt;
      }
      break;
    }
  }
  setWhy(why,
         "is not an amount of data (want a whole number with a unit: B, kB, MB, GB, TB, KiB, "
         "MiB, GiB or TiB, like 20GB)");
  return std::nullopt;
}

}  // namespace meshbroker::config
