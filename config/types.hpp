// Value types that can only hold valid data: addresses, prefixes, names, ports.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace meshbroker::config {

// An IPv4 address. Parsing accepts only dotted quads ("100.64.12.11"), no shorthand.
class Ipv4Address {
 public:
  static std::optional<Ipv4Address> parse(std::string_view text, std::string* why);
  static Ipv4Address fromUint(std::uint32_t value) { return Ipv4Address(value); }

  std::uint32_t value() const { return value_; }
  std::string str() const;
  auto operator<=>(const Ipv4Address&) const = default;

 private:
  explicit Ipv4Address(std::uint32_t value) : value_(value) {}
  std::uint32_t value_ = 0;
};

// An IPv4 prefix whose host bits are zero ("10.64.0.0/11"). "10.1.0.0/11" does not parse:
// the error names the aligned prefix the user probably meant.
class Cidr {
 public:
  static std::optional<Cidr> parse(std::string_view text, std::string* why);

  Ipv4Address network() const { return network_; }
  int length() const { return length_; }
  std::uint32_t mask() const;
  Ipv4Address broadcast() const;
  bool contains(Ipv4Address address) const;
  bool overlaps(const Cidr& other) const;
  std::string str() const;
  // Dotted netmask for tools that want one ("255.255.255.224").
  std::string netmask() const;
  auto operator<=>(const Cidr&) const = default;

 private:
  Cidr(Ipv4Address network, int length) : network_(network), length_(length) {}
  Ipv4Address network_ = Ipv4Address::fromUint(0);
  int length_ = 0;
};

// An IPv6 address ("fd00:64:12::11"): any form inet_pton(3) reads (no zone "%eth0", no
// brackets); str() gives the canonical RFC 5952 text. IPv6 is optional everywhere (issue 21).
class Ipv6Address {
 public:
  using Bytes = std::array<std::uint8_t, 16>;
  static std::optional<Ipv6Address> parse(std::string_view text, std::string* why);
  static Ipv6Address fromBytes(const Bytes& bytes) { return Ipv6Address(bytes); }

  const Bytes& bytes() const { return bytes_; }
  std::string str() const;
  // Unique local (fc00::/7) or global unicast (2000::/3): what a mesh may number itself from.
  bool isUlaOrGlobal() const;
  auto operator<=>(const Ipv6Address&) const = default;

 private:
  explicit Ipv6Address(const Bytes& bytes) : bytes_(bytes) {}
  Bytes bytes_{};
};

// An IPv6 prefix whose host bits are zero ("fd00:64:12::/64"); like Cidr, a misaligned one does
// not parse and the error names the aligned prefix.
class Cidr6 {
 public:
  static std::optional<Cidr6> parse(std::string_view text, std::string* why);

  Ipv6Address network() const { return network_; }
  int length() const { return length_; }
  bool contains(const Ipv6Address& address) const;
  bool overlaps(const Cidr6& other) const;
  std::string str() const;
  auto operator<=>(const Cidr6&) const = default;

 private:
  Cidr6(Ipv6Address network, int length) : network_(network), length_(length) {}
  Ipv6Address network_ = Ipv6Address::fromBytes({});
  int length_ = 0;
};

// An address of either family: what a route's next hop is (issue 21).
class IpAddress {
 public:
  IpAddress(Ipv4Address v4) : value_(v4) {}  // NOLINT(google-explicit-constructor)
  IpAddress(Ipv6Address v6) : value_(v6) {}  // NOLINT(google-explicit-constructor)
  bool isV6() const { return std::holds_alternative<Ipv6Address>(value_); }
  const Ipv4Address* v4() const { return std::get_if<Ipv4Address>(&value_); }
  const Ipv6Address* v6() const { return std::get_if<Ipv6Address>(&value_); }
  std::string str() const;
  auto operator<=>(const IpAddress&) const = default;

 private:
  std::variant<Ipv4Address, Ipv6Address> value_;
};

// A prefix of either family: a route's destination. Parses "10.64.0.0/11" or "fd00:65::/48"
// (a ':' makes it IPv6) with the same strictness as Cidr and Cidr6.
class IpPrefix {
 public:
  static std::optional<IpPrefix> parse(std::string_view text, std::string* why);
  IpPrefix(Cidr v4) : value_(v4) {}   // NOLINT(google-explicit-constructor)
  IpPrefix(Cidr6 v6) : value_(v6) {}  // NOLINT(google-explicit-constructor)
  bool isV6() const { return std::holds_alternative<Cidr6>(value_); }
  const Cidr* v4() const { return std::get_if<Cidr>(&value_); }
  const Cidr6* v6() const { return std::get_if<Cidr6>(&value_); }
  int length() const;
  IpAddress network() const;
  bool contains(const IpAddress& address) const;  // false across families
  bool overlaps(const IpPrefix& other) const;     // false across families
  std::string str() const;
  auto operator<=>(const IpPrefix&) const = default;

 private:
  std::variant<Cidr, Cidr6> value_;
};

// A tinc node name (and any other name that ends up in a file name): [A-Za-z0-9_]{1,64}.
class NodeName {
 public:
  static std::optional<NodeName> parse(std::string_view text, std::string* why);
  const std::string& str() const { return value_; }
  auto operator<=>(const NodeName&) const = default;

 private:
  explicit NodeName(std::string value) : value_(std::move(value)) {}
  std::string value_;
};

// A Linux interface name: [A-Za-z0-9_-]{1,15} (IFNAMSIZ - 1).
class InterfaceName {
 public:
  static std::optional<InterfaceName> parse(std::string_view text, std::string* why);
  const std::string& str() const { return value_; }
  auto operator<=>(const InterfaceName&) const = default;

 private:
  explicit InterfaceName(std::string value) : value_(std::move(value)) {}
  std::string value_;
};

// A public address a peer dials: an IPv4/IPv6 literal or a DNS host name.
class HostAddress {
 public:
  static std::optional<HostAddress> parse(std::string_view text, std::string* why);
  const std::string& str() const { return value_; }
  auto operator<=>(const HostAddress&) const = default;

 private:
  explicit HostAddress(std::string value) : value_(std::move(value)) {}
  std::string value_;
};

// A TCP/UDP port, 1..65535.
class Port {
 public:
  static std::optional<Port> fromInt(std::int64_t value, std::string* why);
  std::uint16_t value() const { return value_; }
  auto operator<=>(const Port&) const = default;

 private:
  explicit Port(std::uint16_t value) : value_(value) {}
  std::uint16_t value_ = 0;
};

// A tinc RSA public key in PEM (PKCS#1, "RSA PUBLIC KEY"): header, base64 lines, footer.
// Nothing else can be in it, so it is safe to copy into a hosts file line by line.
class PublicKeyPem {
 public:
  static std::optional<PublicKeyPem> parse(std::string_view text, std::string* why);
  // Normalised text: header, body lines, footer, each ending in '\n'.
  const std::string& str() const { return value_; }
  auto operator<=>(const PublicKeyPem&) const = default;

 private:
  explicit PublicKeyPem(std::string value) : value_(std::move(value)) {}
  std::string value_;
};

// A bit rate with a unit ("2mbit", "512kbit", "1gbit", "800000bit"), stored in bit/s.
class Rate {
 public:
  static std::optional<Rate> parse(std::string_view text, std::string* why);
  std::uint64_t bitsPerSecond() const { return bits_; }
  auto operator<=>(const Rate&) const = default;

 private:
  explicit Rate(std::uint64_t bits) : bits_(bits) {}
  std::uint64_t bits_ = 0;
};

// An amount of data, like "500MB" or "10GiB": a whole number with a unit, B, kB, MB, GB, TB
// (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024); 1MB..1000TB. A monthly quota.
class Volume {
 public:
  static std::optional<Volume> parse(std::string_view text, std::string* why);
  std::uint64_t bytes() const { return bytes_; }
  auto operator<=>(const Volume&) const = default;

 private:
  explicit Volume(std::uint64_t bytes) : bytes_(bytes) {}
  std::uint64_t bytes_ = 0;
};

// The first control character (< 0x20 or 0x7f) in text, if any. Every string a user writes
// is checked with this: a newline in a value must never become a line in a rendered file.
std::optional<std::size_t> findControlCharacter(std::string_view text);

// The value of a hex digit (0-9, a-f, A-F), or -1 for any other character.
int hexDigitValue(char c);

}  // namespace meshbroker::config
