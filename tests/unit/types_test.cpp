// The value types: what parses, what does not, and what the errors say.
#include "config/types.hpp"

#include <gtest/gtest.h>

namespace meshbroker::config {
namespace {

TEST(Ipv4Address, ParsesDottedQuads) {
  auto address = Ipv4Address::parse("100.64.12.11", nullptr);
  ASSERT_TRUE(address);
  EXPECT_EQ(address->value(), 0x64400C0Bu);
  EXPECT_EQ(address->str(), "100.64.12.11");
}

TEST(Ipv4Address, RejectsShorthandAndGarbage) {
  for (const char* text : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.x", "1..3.4",
                           " 1.2.3.4", "1.2.3.4 ", "-1.2.3.4", "1.2.3.4/32"}) {
    std::string why;
    EXPECT_FALSE(Ipv4Address::parse(text, &why)) << text;
    EXPECT_NE(why.find("IPv4"), std::string::npos) << text;
  }
}

TEST(Cidr, ParsesAlignedPrefixes) {
  auto cidr = Cidr::parse("100.64.12.0/27", nullptr);
  ASSERT_TRUE(cidr);
  EXPECT_EQ(cidr->length(), 27);
  EXPECT_EQ(cidr->netmask(), "255.255.255.224");
  EXPECT_EQ(cidr->broadcast().str(), "100.64.12.31");
  EXPECT_TRUE(cidr->contains(*Ipv4Address::parse("100.64.12.31", nullptr)));
  EXPECT_FALSE(cidr->contains(*Ipv4Address::parse("100.64.12.32", nullptr)));
  EXPECT_TRUE(Cidr::parse("0.0.0.0/0", nullptr));
  EXPECT_TRUE(Cidr::parse("10.1.2.3/32", nullptr));
}

TEST(Cidr, HostBitsNameTheAlignedPrefix) {
  std::string why;
  EXPECT_FALSE(Cidr::parse("10.1.0.0/11", &why));
  EXPECT_EQ(why, "has host bits set (did you mean 10.0.0.0/11?)");
}

TEST(Cidr, SeedNetmaskSyntaxExplainsItself) {
  std::string why;
  EXPECT_FALSE(Cidr::parse("10.1.0.0 netmask 255.224.0.0", &why));
  EXPECT_NE(why.find("write \"10.1.0.0/11\""), std::string::npos) << why;
  EXPECT_NE(why.find("did you mean 10.0.0.0/11?"), std::string::npos) << why;
}

TEST(Cidr, RejectsMalformed) {
  for (const char* text : {"10.0.0.0", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "/8",
                           "10.0.0.0/8/8", "10.0.0.0/08x", "10.0.0.0 netmask 255.0.255.0"}) {
    EXPECT_FALSE(Cidr::parse(text, nullptr)) << text;
  }
}

TEST(Cidr, Overlaps) {
  auto a = *Cidr::parse("172.16.1.64/27", nullptr);
  auto b = *Cidr::parse("172.16.1.96/27", nullptr);
  auto c = *Cidr::parse("172.16.1.0/24", nullptr);
  EXPECT_FALSE(a.overlaps(b));
  EXPECT_TRUE(a.overlaps(c));
  EXPECT_TRUE(c.overlaps(b));
}

TEST(Ipv6Address, ParsesAndPrintsCanonically) {
  auto address = Ipv6Address::parse("FD00:0064:0012:0000:0000:0000:0000:0011", nullptr);
  ASSERT_TRUE(address);
  EXPECT_EQ(address->str(), "fd00:64:12::11");
  EXPECT_EQ(address->bytes()[0], 0xfd);
  EXPECT_EQ(address->bytes()[15], 0x11);
  EXPECT_TRUE(address->isUlaOrGlobal());
  EXPECT_TRUE(Ipv6Address::parse("2001:db8::1", nullptr)->isUlaOrGlobal());
  for (const char* text : {"fe80::1", "::1", "::", "ff02::1", "::ffff:10.0.0.1"}) {
    auto other = Ipv6Address::parse(text, nullptr);
    ASSERT_TRUE(other) << text;
    EXPECT_FALSE(other->isUlaOrGlobal()) << text;
  }
}

TEST(Ipv6Address, RejectsGarbageZonesAndIpv4) {
  for (const char* text :
       {"", "100.64.12.11", "fd00::1%eth0", "[fd00::1]", "fd00:::1", "fd00::1::2", "fd00::g",
        " fd00::1", "fd00::1 ", "fd00::1/64", "1:2:3:4:5:6:7:8:9", "fd00::1\n"}) {
    std::string why;
    EXPECT_FALSE(Ipv6Address::parse(text, &why)) << text;
    EXPECT_NE(why.find("IPv6"), std::string::npos) << text;
  }
}

TEST(Cidr6, ParsesAlignedPrefixes) {
  auto prefix = Cidr6::parse("fd00:64:12::/64", nullptr);
  ASSERT_TRUE(prefix);
  EXPECT_EQ(prefix->length(), 64);
  EXPECT_EQ(prefix->str(), "fd00:64:12::/64");
  EXPECT_TRUE(prefix->contains(*Ipv6Address::parse("fd00:64:12::ffff:1", nullptr)));
  EXPECT_FALSE(prefix->contains(*Ipv6Address::parse("fd00:64:13::1", nullptr)));
  EXPECT_TRUE(Cidr6::parse("::/0", nullptr));
  EXPECT_TRUE(Cidr6::parse("fd00::1/128", nullptr));
  // A length that is not a multiple of 8 masks inside a byte.
  EXPECT_TRUE(Cidr6::parse("fd00:64:12:80::/57", nullptr));
}

TEST(Cidr6, HostBitsNameTheAlignedPrefix) {
  std::string why;
  EXPECT_FALSE(Cidr6::parse("fd00:64:12::1/64", &why));
  EXPECT_EQ(why, "has host bits set (did you mean fd00:64:12::/64?)");
  EXPECT_FALSE(Cidr6::parse("fd00:64:12:c0::/57", &why));
  EXPECT_EQ(why, "has host bits set (did you mean fd00:64:12:80::/57?)");
}

TEST(Cidr6, RejectsMalformed) {
  for (const char* text : {"fd00::", "fd00::/", "fd00::/129", "fd00::/-1", "/64", "fd00::/64/64",
                           "fd00::/064", "fd00::/6x", "10.0.0.0/8", "fd00::%eth0/64"}) {
    EXPECT_FALSE(Cidr6::parse(text, nullptr)) << text;
  }
}

TEST(Cidr6, Overlaps) {
  auto a = *Cidr6::parse("fd00:172:16:1::/64", nullptr);
  auto b = *Cidr6::parse("fd00:172:16:2::/64", nullptr);
  auto c = *Cidr6::parse("fd00:172:16::/48", nullptr);
  EXPECT_FALSE(a.overlaps(b));
  EXPECT_TRUE(a.overlaps(c));
  EXPECT_TRUE(c.overlaps(b));
}

TEST(NodeName, AllowsOnlyTincCharacters) {
  EXPECT_TRUE(NodeName::parse("chip_2", nullptr));
  for (const char* text : {"", "chip-2", "../etc", "a b", "x\nup", "chip.", "ñ"}) {
    EXPECT_FALSE(NodeName::parse(text, nullptr)) << text;
  }
  EXPECT_FALSE(NodeName::parse(std::string(65, 'a'), nullptr));
}

TEST(InterfaceName, FitsIfnamsiz) {
  EXPECT_TRUE(InterfaceName::parse("meshnet0", nullptr));
  EXPECT_TRUE(InterfaceName::parse("vpn-public_1", nullptr));
  EXPECT_FALSE(InterfaceName::parse("a23456789012345x", nullptr));
  EXPECT_FALSE(InterfaceName::parse("a/b", nullptr));
}

TEST(HostAddress, AcceptsAddressesAndNames) {
  for (const char* text : {"192.0.2.11", "2001:db8::1", "comegato.example.net", "chip"}) {
    EXPECT_TRUE(HostAddress::parse(text, nullptr)) << text;
  }
  for (const char* text :
       {"", "bad_name.net", "-a.net", "a..b", "300.1.1.1", "1.2.3", "a b", "host;reboot", "::g"}) {
    EXPECT_FALSE(HostAddress::parse(text, nullptr)) << text;
  }
}

TEST(Port, Range) {
  EXPECT_FALSE(Port::fromInt(0, nullptr));
  EXPECT_TRUE(Port::fromInt(1, nullptr));
  EXPECT_TRUE(Port::fromInt(65535, nullptr));
  EXPECT_FALSE(Port::fromInt(65536, nullptr));
}

TEST(PublicKeyPem, NormalisesAndRejectsForeignLines) {
  std::string good =
      "-----BEGIN RSA PUBLIC KEY-----\nMIIBCgKCAQEA+/=\n-----END RSA PUBLIC KEY-----";
  auto key = PublicKeyPem::parse(good, nullptr);
  ASSERT_TRUE(key);
  EXPECT_EQ(key->str(), good + "\n");
  std::string why;
  EXPECT_FALSE(PublicKeyPem::parse(
      "-----BEGIN RSA PUBLIC KEY-----\nAAAA\nScript = /bin/sh\n-----END RSA PUBLIC KEY-----",
      &why));
  EXPECT_NE(why.find("line 3"), std::string::npos);
  EXPECT_FALSE(PublicKeyPem::parse("x\nup /bin/sh", nullptr));
  EXPECT_FALSE(
      PublicKeyPem::parse("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", nullptr));
}

TEST(Rate, Units) {
  EXPECT_EQ(Rate::parse("2mbit", nullptr)->bitsPerSecond(), 2000000u);
  EXPECT_EQ(Rate::parse("512kbit", nullptr)->bitsPerSecond(), 512000u);
  EXPECT_EQ(Rate::parse("1gbit", nullptr)->bitsPerSecond(), 1000000000u);
  for (const char* text :
       {"2", "2mb", "mbit", "0mbit", "-1mbit", "1.5mbit", "1bit", "99999999999gbit"}) {
    EXPECT_FALSE(Rate::parse(text, nullptr)) << text;
  }
}

TEST(Volume, UnitsBothPowers) {
  EXPECT_EQ(Volume::parse("20GB", nullptr)->bytes(), 20'000'000'000u);
  EXPECT_EQ(Volume::parse("10GiB", nullptr)->bytes(), 10ULL << 30);
  EXPECT_EQ(Volume::parse("1MB", nullptr)->bytes(), 1'000'000u);
  EXPECT_EQ(Volume::parse("1000TB", nullptr)->bytes(), 1'000'000'000'000'000u);
  EXPECT_EQ(Volume::parse("2000000B", nullptr)->bytes(), 2'000'000u);
  EXPECT_EQ(Volume::parse("1024KiB", nullptr)->bytes(), 1u << 20);
  std::string why;
  EXPECT_FALSE(Volume::parse("999kB", &why));
  EXPECT_NE(why.find("out of range"), std::string::npos) << why;
  EXPECT_FALSE(Volume::parse("1001TB", &why));
  EXPECT_NE(why.find("out of range"), std::string::npos) << why;
  EXPECT_FALSE(Volume::parse("9999999999999999TiB", &why));
  EXPECT_NE(why.find("out of range"), std::string::npos) << why;
  for (const char* text : {"20", "20 GB", "20gb", "GB", "1.5GB", "-1GB", "20GB\n", "0x10MB", "+5GB",
                           "", "5XB", "5iB"}) {
    EXPECT_FALSE(Volume::parse(text, &why)) << text;
  }
  EXPECT_NE(why.find("not an amount of data"), std::string::npos) << why;
}

TEST(ControlCharacters, FindsEveryOne) {
  EXPECT_FALSE(findControlCharacter("plain text ~!@#$%^&*()"));
  EXPECT_EQ(findControlCharacter("x\nup"), 1u);
  EXPECT_EQ(findControlCharacter(std::string("ab\0c", 4)), 2u);
  EXPECT_EQ(findControlCharacter("a\x7f"), 1u);
  EXPECT_EQ(findControlCharacter("\t"), 0u);
}

}  // namespace
}  // namespace meshbroker::config
